//! wardops: a Kubernetes operator for a city's ward and commune public-service
//! instances, their links to city registries and their backups.

pub mod api;
pub mod backup;
pub mod cli;
pub mod controller;
pub mod gateway;
pub mod link;
pub mod render;
pub mod runtime;

/// Version of this build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub mod secrets;
#[cfg(test)]
mod test_server;

/// An error and its causes on one line, `outer: inner: ...`. wardops' error
/// types never repeat their source in their own message; a cause that only
/// repeats the link before it (kube's API error quotes its Status) is skipped.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut previous = out.clone();
    let mut cause = error.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !previous.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        previous = text;
        cause = c.source();
    }
    out
}
