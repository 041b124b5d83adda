//! One folder per controller: dereference → validate → build → apply → status.

pub mod labels;
pub mod ward_service;
