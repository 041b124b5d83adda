//! Pure checks that only the operator can make (the API server checks the rest).

use std::collections::BTreeMap;

use crate::api::DataConnector;
use crate::api::common::{CLASSIFICATION_LABEL, Classification};
use crate::api::data_connector::AuthType;
use crate::gateway::config::secret_keys;
use crate::secrets::SecretUse;

use super::build::deployment::credential_keys;
use super::build::effective_classification;

/// Why a connector may not be wired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClassificationMismatch {
    /// The connector is less classified than its WardService: classified data
    /// would flow through something less classified.
    BelowWard {
        /// The connector's level.
        connector: Classification,
        /// The WardService.
        ward_service: String,
        /// Its level.
        ward: Classification,
    },
    /// The namespace is not labelled for the connector's level.
    Namespace {
        /// The connector's level.
        connector: Classification,
        /// The namespace.
        namespace: String,
        /// Its label value, if any.
        label: Option<String>,
    },
}

impl std::fmt::Display for ClassificationMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClassificationMismatch::BelowWard {
                connector,
                ward_service,
                ward,
            } => write!(
                f,
                "the connector's classification is {connector}, below WardService `{ward_service}` ({ward}); \
                 set spec.classification to {ward} or higher. Nothing was wired and nothing was deleted"
            ),
            ClassificationMismatch::Namespace {
                connector,
                namespace,
                label,
            } => {
                let have = match label {
                    Some(v) => format!("is labelled {CLASSIFICATION_LABEL}={v}"),
                    None => format!("has no {CLASSIFICATION_LABEL} label"),
                };
                write!(
                    f,
                    "the connector's classification is {connector}, but namespace `{namespace}` {have}; label the \
                     namespace {CLASSIFICATION_LABEL}={connector} (or secret) to run it here. Nothing was wired and \
                     nothing was deleted"
                )
            }
        }
    }
}

/// The connector's level, if it may run: at least its WardService's, and
/// classified only in a namespace labelled at that level or higher.
pub fn classification(
    dc: &DataConnector,
    ward: Classification,
    namespace: &str,
    namespace_labels: &BTreeMap<String, String>,
) -> Result<Classification, ClassificationMismatch> {
    let level = effective_classification(&dc.spec, ward);
    if level < ward {
        return Err(ClassificationMismatch::BelowWard {
            connector: level,
            ward_service: dc.spec.ward_service_ref.name.clone(),
            ward,
        });
    }
    let label = namespace_labels.get(CLASSIFICATION_LABEL).cloned();
    let allowed = match label.as_deref().and_then(Classification::parse) {
        Some(ns_level) => ns_level >= level,
        None => !level.is_classified(),
    };
    if allowed {
        Ok(level)
    } else {
        Err(ClassificationMismatch::Namespace {
            connector: level,
            namespace: namespace.to_string(),
            label,
        })
    }
}

/// Why a sync connector's schedule cannot run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvalidSchedule {
    /// `spec.timeZone` is not in the IANA time zone database.
    TimeZone(String),
    /// `spec.schedule` is not a cron expression.
    Cron {
        /// The expression.
        schedule: String,
        /// What the parser says.
        reason: String,
    },
}

impl std::fmt::Display for InvalidSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvalidSchedule::TimeZone(tz) => write!(
                f,
                "spec.timeZone `{tz}` is not an IANA time zone name; use one such as \
                 Asia/Ho_Chi_Minh or UTC. Nothing was created"
            ),
            InvalidSchedule::Cron { schedule, reason } => write!(
                f,
                "spec.schedule `{schedule}` is not a cron expression ({reason}); use 5 fields such \
                 as '15 2 * * *'. Nothing was created"
            ),
        }
    }
}

/// A sync connector's `timeZone` (IANA, from the bundled database) and
/// `schedule` (cron); `Ok` when neither is set.
pub fn schedule(dc: &DataConnector) -> Result<(), InvalidSchedule> {
    if let Some(tz) = &dc.spec.time_zone
        && !crate::controller::schedule::is_zone(tz)
    {
        return Err(InvalidSchedule::TimeZone(tz.clone()));
    }
    if let Some(schedule) = &dc.spec.schedule
        && let Err(e) = schedule.parse::<croner::Cron>()
    {
        return Err(InvalidSchedule::Cron {
            schedule: schedule.clone(),
            reason: e.to_string(),
        });
    }
    Ok(())
}

/// Every Secret reference of a DataConnector, with the spec field that holds
/// it and the keys its auth mode reads.
pub fn secret_uses(dc: &DataConnector) -> Vec<SecretUse> {
    let spec = &dc.spec;
    let use_of = |field: &str, secret: &str, key: Option<&str>| SecretUse {
        field: field.to_string(),
        secret: secret.to_string(),
        key: key.map(str::to_string),
    };
    let creds = &spec.credentials_secret_ref.name;
    let keys = credential_keys(spec.auth.type_);
    let mut uses: Vec<SecretUse> = if keys.is_empty() {
        vec![use_of("spec.credentialsSecretRef", creds, None)]
    } else {
        keys.iter()
            .map(|k| use_of("spec.credentialsSecretRef", creds, Some(k)))
            .collect()
    };
    let tls = spec.source.tls.as_ref();
    if spec.auth.type_ == AuthType::MTls
        && let Some(cert) = tls.and_then(|t| t.client_cert_secret_ref.as_ref())
    {
        for k in [secret_keys::TLS_CRT, secret_keys::TLS_KEY] {
            uses.push(use_of(
                "spec.source.tls.clientCertSecretRef",
                &cert.name,
                Some(k),
            ));
        }
    }
    if let Some(ca) = tls.and_then(|t| t.ca_secret_ref.as_ref()) {
        uses.push(use_of(
            "spec.source.tls.caSecretRef",
            &ca.name,
            Some(&ca.key),
        ));
    }
    uses
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::build::test_support::{connector, connector_with};
    use super::*;

    #[test]
    fn below_the_ward_is_refused_naming_both() {
        let dc = connector_with(json!({"classification": "public"}));
        let err =
            classification(&dc, Classification::Internal, "ns", &BTreeMap::new()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("public") && msg.contains("one-stop") && msg.contains("internal"),
            "{msg}"
        );
        assert!(msg.contains("Nothing was wired"), "{msg}");
    }

    #[test]
    fn classified_needs_a_labelled_namespace() {
        let dc = connector_with(json!({"classification": "secret"}));
        assert!(classification(&dc, Classification::Internal, "ns", &BTreeMap::new()).is_err());
        let labels = BTreeMap::from([(CLASSIFICATION_LABEL.to_string(), "secret".to_string())]);
        assert_eq!(
            classification(&dc, Classification::Internal, "ns", &labels),
            Ok(Classification::Secret)
        );
        assert_eq!(
            classification(
                &connector(),
                Classification::Internal,
                "ns",
                &BTreeMap::new()
            ),
            Ok(Classification::Internal)
        );
    }

    #[test]
    fn time_zones_come_from_the_iana_database_and_schedules_from_a_cron_parser() {
        let sync = |tz: &str, cron: &str| {
            connector_with(json!({"mode": "sync", "timeZone": tz, "schedule": cron}))
        };
        assert_eq!(schedule(&sync("Asia/Ho_Chi_Minh", "15 2 * * *")), Ok(()));
        assert_eq!(schedule(&sync("UTC", "*/5 * * * 1-5")), Ok(()));
        let err = schedule(&sync("Asia/Hai_Phong", "15 2 * * *")).unwrap_err();
        assert_eq!(err, InvalidSchedule::TimeZone("Asia/Hai_Phong".into()));
        assert!(err.to_string().contains("spec.timeZone `Asia/Hai_Phong`"));
        let err = schedule(&sync("UTC", "61 2 * * *")).unwrap_err();
        assert!(matches!(err, InvalidSchedule::Cron { .. }), "{err:?}");
        assert_eq!(schedule(&connector()), Ok(()));
    }

    #[test]
    fn secret_uses_name_the_keys_of_the_auth_mode() {
        let uses = secret_uses(&connector());
        assert_eq!(uses.len(), 1);
        assert_eq!(uses[0].key.as_deref(), Some("apiKey"));
        assert_eq!(uses[0].field, "spec.credentialsSecretRef");
        let none = secret_uses(&connector_with(json!({"auth": {"type": "none"}})));
        assert_eq!(none[0].key, None);
        let mtls = secret_uses(&connector_with(json!({"auth": {"type": "mTLS"},
            "source": {"kind": "land", "endpoint": "https://dd.city",
                "tls": {"clientCertSecretRef": {"name": "client"}, "caSecretRef": {"name": "ca", "key": "b.pem"}}}})));
        let refs: Vec<(&str, Option<&str>)> = mtls
            .iter()
            .map(|u| (u.secret.as_str(), u.key.as_deref()))
            .collect();
        assert_eq!(
            refs,
            [
                ("dan-cu", None),
                ("client", Some("tls.crt")),
                ("client", Some("tls.key")),
                ("ca", Some("b.pem")),
            ]
        );
    }
}
