//! The operator's runtime: settings, leader election, metrics, health, shutdown.

pub mod settings;
