//! Errors of the WardService reconcile, one variant per step. `category()` is
//! bounded: it is the Event reason and the metric label.

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

    /// Building the children failed.
    #[error(transparent)]
    Build(#[from] BuildError),

    /// Applying or deleting a child failed.
    #[error("applying children")]
    Apply(#[source] ApplyError),

    /// Writing the status failed.
    #[error("updating status")]
    Status(#[source] kube::Error),

    /// Setting the reclaim policy of a retained claim's volume to Retain failed.
    #[error("setting PersistentVolume `{volume}` to reclaim policy Retain")]
    RetainVolume {
        volume: String,
        #[source]
        source: kube::Error,
    },
}

impl Error {
    /// Bounded category: Event reason and metric label.
    pub fn category(&self) -> &'static str {
        match self {
            Error::MissingMetadata(_) => "InvalidObject",
            Error::SecretLookup { .. } => "SecretLookupFailed",
            Error::Build(_) => "BuildFailed",
            Error::Apply(_) => "ApplyFailed",
            Error::Status(_) => "StatusUpdateFailed",
            Error::RetainVolume { .. } => "VolumeRetainFailed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error() -> kube::Error {
        kube::Error::Api(kube::core::Status::failure("boom", "InternalError").boxed())
    }

    /// One value of every variant: a new variant must be added here (the
    /// match below does not compile otherwise) and gets a distinct category.
    fn every_variant() -> Vec<Error> {
        let all = vec![
            Error::MissingMetadata(crate::controller::MissingMetadata("metadata.uid")),
            Error::SecretLookup {
                namespace: "ns".into(),
                source: api_error(),
            },
            Error::Build(BuildError::Metadata(crate::controller::MissingMetadata(
                "metadata.uid",
            ))),
            Error::Apply(ApplyError::NotOwned {
                kind: "Service".into(),
                name: "x".into(),
            }),
            Error::Status(api_error()),
            Error::RetainVolume {
                volume: "pv".into(),
                source: api_error(),
            },
        ];
        for e in &all {
            match e {
                Error::MissingMetadata(_)
                | Error::SecretLookup { .. }
                | Error::Build(_)
                | Error::Apply(_)
                | Error::RetainVolume { .. }
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

    #[test]
    fn messages_do_not_repeat_their_source() {
        for e in every_variant() {
            if let Some(source) = std::error::Error::source(&e) {
                let (own, inner) = (e.to_string(), source.to_string());
                assert!(
                    !own.contains(&inner),
                    "`{own}` repeats its source `{inner}`"
                );
            }
        }
    }
}
