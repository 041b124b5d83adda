//! WardService controller.

pub mod build;
