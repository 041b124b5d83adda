//! Errors of the BackupPolicy reconcile, one variant per step. `category()`
//! is bounded: it is the Event reason and the metric label.

use crate::controller::apply::ApplyError;

use super::build::BuildError;

/// A failed reconcile step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object lacks metadata the API server always sets.
    #[error(transparent)]
    MissingMetadata(#[from] crate::controller::MissingMetadata),

    /// Reading referenced Secrets failed (not: a Secret is missing).
    #[error("reading Secrets in `{namespace}`")]
    SecretLookup {
        namespace: String,
        #[source]
        source: kube::Error,
    },

    /// Generating the encryption key failed (the key is never in the message).
    #[error("generating the encryption key Secret `{name}`")]
    KeyGeneration {
        name: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// Building the children failed.
    #[error(transparent)]
    Build(#[from] BuildError),

    /// Applying a child failed.
    #[error("applying children")]
    Apply(#[source] ApplyError),

    /// Writing the status failed.
    #[error("updating status")]
    Status(#[source] kube::Error),
}

impl Error {
    /// Bounded category: Event reason and metric label.
    pub fn category(&self) -> &'static str {
        match self {
            Error::MissingMetadata(_) => "InvalidObject",
            Error::SecretLookup { .. } => "SecretLookupFailed",
            Error::KeyGeneration { .. } => "KeyGenerationFailed",
            Error::Build(_) => "BuildFailed",
            Error::Apply(_) => "ApplyFailed",
            Error::Status(_) => "StatusUpdateFailed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error() -> kube::Error {
        kube::Error::Api(kube::core::Status::failure("boom", "InternalError").boxed())
    }

    /// One value of every variant: a new variant must be added here.
    fn every_variant() -> Vec<Error> {
        let all = vec![
            Error::MissingMetadata(crate::controller::MissingMetadata("metadata.uid")),
            Error::SecretLookup {
                namespace: "ns".into(),
                source: api_error(),
            },
            Error::KeyGeneration {
                name: "k".into(),
                source: Box::new(api_error()),
            },
            Error::Build(BuildError::Metadata(crate::controller::MissingMetadata(
                "metadata.uid",
            ))),
            Error::Apply(ApplyError::NotOwned {
                kind: "CronJob".into(),
                name: "x".into(),
            }),
            Error::Status(api_error()),
        ];
        for e in &all {
            match e {
                Error::MissingMetadata(_)
                | Error::SecretLookup { .. }
                | Error::KeyGeneration { .. }
                | Error::Build(_)
                | Error::Apply(_)
                | Error::Status(_) => {}
            }
        }
        all
    }

    #[test]
    fn categories_are_camel_case_and_distinct() {
        let cats: Vec<&str> = every_variant().iter().map(Error::category).collect();
        let distinct: std::collections::BTreeSet<_> = cats.iter().collect();
        assert_eq!(distinct.len(), cats.len(), "{cats:?}");
        for c in &cats {
            assert!(
                c.chars().next().is_some_and(char::is_uppercase)
                    && c.chars().all(char::is_alphanumeric),
                "{c}"
            );
        }
    }
}
