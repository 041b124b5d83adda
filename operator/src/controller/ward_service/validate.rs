//! Pure checks that only the operator can make (the API server checks the rest).

use std::collections::BTreeMap;

use crate::api::common::{CLASSIFICATION_LABEL, Classification};
use crate::api::{WardService, WardServiceSpec};
use crate::secrets::SecretUse;

/// Why a WardService may not run in its namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassificationMismatch {
    /// The WardService's classification.
    pub wanted: Classification,
    /// The namespace's label value, if any.
    pub namespace_label: Option<String>,
    /// The namespace.
    pub namespace: String,
}

impl std::fmt::Display for ClassificationMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let have = match &self.namespace_label {
            Some(v) => format!("is labelled {CLASSIFICATION_LABEL}={v}"),
            None => format!("has no {CLASSIFICATION_LABEL} label"),
        };
        write!(
            f,
            "spec.classification is {wanted}, but namespace `{ns}` {have}; label the namespace \
             {CLASSIFICATION_LABEL}={wanted} (or secret) to run it here. Nothing was created and nothing was deleted",
            wanted = self.wanted,
            ns = self.namespace,
        )
    }
}

/// The highest classification a namespace may hold, from its label. Unlabelled
/// (or an unknown value): `internal`, the level of ordinary government data.
pub fn namespace_level(labels: &BTreeMap<String, String>) -> Classification {
    labels
        .get(CLASSIFICATION_LABEL)
        .and_then(|v| Classification::parse(v))
        .unwrap_or(Classification::Internal)
}

/// A classified WardService runs only in a namespace labelled at its level or higher.
pub fn classification(
    spec: &WardServiceSpec,
    namespace: &str,
    namespace_labels: &BTreeMap<String, String>,
) -> Result<(), ClassificationMismatch> {
    let wanted = spec.classification;
    let label = namespace_labels.get(CLASSIFICATION_LABEL).cloned();
    let allowed = match label.as_deref().and_then(Classification::parse) {
        Some(level) => level >= wanted,
        None => !wanted.is_classified(),
    };
    if allowed {
        Ok(())
    } else {
        Err(ClassificationMismatch {
            wanted,
            namespace_label: label,
            namespace: namespace.to_string(),
        })
    }
}

/// A data volume labelled more sensitive than the WardService that would mount it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeAboveLevel {
    /// The PersistentVolumeClaim.
    pub claim: String,
    /// Its classification label.
    pub labelled: Classification,
    /// The WardService's classification.
    pub wanted: Classification,
}

impl std::fmt::Display for VolumeAboveLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PersistentVolumeClaim `{claim}` is labelled {CLASSIFICATION_LABEL}={labelled}, above \
             spec.classification {wanted}: its data is never mounted by a less classified service. \
             Raise spec.classification to {labelled}, or, to declassify the data on purpose, an \
             administrator relabels or removes the claim (docs/classification.md). Nothing was changed",
            claim = self.claim,
            labelled = self.labelled,
            wanted = self.wanted,
        )
    }
}

/// A claim (retained or owned) is adopted and mounted only at or below the
/// WardService's level: deleting and re-creating a WardService at a lower
/// level never declassifies its data.
pub fn volume_classification(
    spec: &WardServiceSpec,
    claim: &str,
    claim_labels: &BTreeMap<String, String>,
) -> Result<(), VolumeAboveLevel> {
    let labelled = claim_labels
        .get(CLASSIFICATION_LABEL)
        .and_then(|v| Classification::parse(v));
    match labelled {
        Some(labelled) if labelled > spec.classification => Err(VolumeAboveLevel {
            claim: claim.to_string(),
            labelled,
            wanted: spec.classification,
        }),
        _ => Ok(()),
    }
}

/// Every Secret reference of a WardService, with the spec field that holds it.
pub fn secret_uses(ws: &WardService) -> Vec<SecretUse> {
    let env = ws
        .spec
        .secret_env
        .iter()
        .enumerate()
        .map(|(i, e)| SecretUse {
            field: format!("spec.secretEnv[{i}].secretKeyRef"),
            secret: e.secret_key_ref.name.clone(),
            key: Some(e.secret_key_ref.key.clone()),
        });
    let files = ws.spec.secret_files.iter().enumerate().flat_map(|(i, f)| {
        let whole = f.keys.is_empty().then(|| SecretUse {
            field: format!("spec.secretFiles[{i}].secretName"),
            secret: f.secret_name.clone(),
            key: None,
        });
        let keys = f.keys.iter().enumerate().map(move |(k, key)| SecretUse {
            field: format!("spec.secretFiles[{i}].keys[{k}]"),
            secret: f.secret_name.clone(),
            key: Some(key.clone()),
        });
        whole.into_iter().chain(keys)
    });
    env.chain(files).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(class: &str) -> WardServiceSpec {
        serde_json::from_value(json!({
            "ward": {"code": "11311", "name": "Phường Hồng Bàng"},
            "image": "x", "classification": class,
            "secretEnv": [{"name": "DB_PASSWORD", "secretKeyRef": {"name": "db", "key": "password"}}]
        }))
        .unwrap()
    }

    #[test]
    fn a_volume_above_the_level_is_never_mounted() {
        let labelled =
            |c: &str| BTreeMap::from([(CLASSIFICATION_LABEL.to_string(), c.to_string())]);
        let err = volume_classification(&spec("public"), "records-data", &labelled("secret"))
            .unwrap_err();
        assert!(
            err.to_string().starts_with(
                "PersistentVolumeClaim `records-data` is labelled wardops.io/classification=secret"
            ),
            "{err}"
        );
        assert!(volume_classification(&spec("secret"), "d", &labelled("secret")).is_ok());
        assert!(
            volume_classification(&spec("secret"), "d", &labelled("internal")).is_ok(),
            "raising is fine"
        );
        assert!(volume_classification(&spec("internal"), "d", &BTreeMap::new()).is_ok());
    }

    fn labels(v: Option<&str>) -> BTreeMap<String, String> {
        v.map(|v| BTreeMap::from([(CLASSIFICATION_LABEL.to_string(), v.to_string())]))
            .unwrap_or_default()
    }

    #[test]
    fn unclassified_runs_anywhere() {
        assert!(classification(&spec("internal"), "ns", &labels(None)).is_ok());
        assert!(classification(&spec("public"), "ns", &labels(Some("secret"))).is_ok());
    }

    #[test]
    fn classified_needs_a_namespace_at_that_level_or_higher() {
        assert!(classification(&spec("confidential"), "ns", &labels(Some("confidential"))).is_ok());
        assert!(classification(&spec("confidential"), "ns", &labels(Some("secret"))).is_ok());
        let err = classification(&spec("secret"), "xa-an-lao", &labels(Some("confidential")))
            .unwrap_err();
        assert_eq!(err.wanted, Classification::Secret);
        let msg = err.to_string();
        assert!(
            msg.contains(
                "namespace `xa-an-lao` is labelled wardops.io/classification=confidential"
            ),
            "{msg}"
        );
        assert!(classification(&spec("confidential"), "ns", &labels(None)).is_err());
        assert!(classification(&spec("confidential"), "ns", &labels(Some("bogus"))).is_err());
    }

    #[test]
    fn namespace_level_defaults_to_internal() {
        assert_eq!(namespace_level(&labels(None)), Classification::Internal);
        assert_eq!(
            namespace_level(&labels(Some("secret"))),
            Classification::Secret
        );
    }

    #[test]
    fn secret_uses_name_the_field() {
        let ws = WardService::new("one-stop", spec("internal"));
        let uses = secret_uses(&ws);
        assert_eq!(uses[0].field, "spec.secretEnv[0].secretKeyRef");
        assert_eq!(uses[0].secret, "db");
        assert_eq!(uses[0].key.as_deref(), Some("password"));
    }
}
