//! wardops: a Kubernetes operator for a city's ward and commune public-service
//! instances, their links to city registries and their backups.

pub mod api;
pub mod controller;
pub mod render;
pub mod runtime;

/// Version of this build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub mod secrets;
