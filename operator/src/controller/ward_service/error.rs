//! Errors of the WardService reconcile, one variant per step. `category()` is
//! bounded: it is the Event reason and the metric label.

use crate::controller::apply::ApplyError;

use super::build::BuildError;

/// A failed reconcile step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object lacks metadata the API server always sets.
    #[error("WardService has no {0}")]
    MissingMetadata(&'static str),

    /// Reading the WardService's Namespace failed.
    #[error("reading Namespace `{namespace}`: {source}")]
    NamespaceLookup {
        namespace: String,
        #[source]
        source: kube::Error,
    },

    /// Reading referenced Secrets failed (not: a Secret is missing).
    #[error("reading Secrets in `{namespace}`: {source}")]
    SecretLookup {
        namespace: String,
        #[source]
        source: kube::Error,
    },

    /// Building the children failed.
    #[error(transparent)]
    Build(#[from] BuildError),

    /// Applying or deleting a child failed.
    #[error("applying children: {0}")]
    Apply(#[source] ApplyError),

    /// Writing the status failed.
    #[error("updating status: {0}")]
    Status(#[source] kube::Error),
}

impl Error {
    /// Bounded category: Event reason and metric label.
    pub fn category(&self) -> &'static str {
        match self {
            Error::MissingMetadata(_) => "InvalidObject",
            Error::NamespaceLookup { .. } => "NamespaceLookupFailed",
            Error::SecretLookup { .. } => "SecretLookupFailed",
            Error::Build(_) => "BuildFailed",
            Error::Apply(_) => "ApplyFailed",
            Error::Status(_) => "StatusUpdateFailed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_are_camel_case_and_distinct() {
        let errs = [
            Error::MissingMetadata("metadata.uid"),
            Error::Build(BuildError::MissingField {
                field: "metadata.uid",
            }),
        ];
        let cats: Vec<_> = errs.iter().map(Error::category).collect();
        assert_eq!(cats, ["InvalidObject", "BuildFailed"]);
        assert!(
            cats.iter()
                .all(|c| c.chars().next().is_some_and(char::is_uppercase) && !c.contains(' '))
        );
    }
}
