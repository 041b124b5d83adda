//! wardops: a Kubernetes operator for a city's ward and commune public-service
//! instances, their links to city registries and their backups.

pub mod api;

/// Version of this build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub mod runtime;
