//! `wardops render`: the exact child objects a manifest produces, with no
//! cluster, from the same build functions the operator uses (for review in CI).
//!
//! What only the cluster knows is left out or stood in for: the owner uid is a
//! placeholder, the `wardops.io/secret-versions` pod annotation (Secret
//! resourceVersions) and the connector URL variables are added by the operator
//! at run time.
//!
//! Every document is first checked against the generated CRD itself (its
//! OpenAPI schema and its CEL rules, see [`crate::api::validation`]), so a
//! manifest that renders is one the API server accepts, and every error names
//! the field as the API server does.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::common::{GROUP, VERSION};
use crate::api::validation::{self, FieldError, SchemaError};
use crate::api::{BackupPolicy, DataConnector, WardService};
use crate::controller::ward_service::build::{self, BuildError, BuildInput, Child};
use crate::runtime::settings::WorkloadSettings;

/// Owner uid put on rendered children: a manifest has no uid until the API server creates it.
pub const PLACEHOLDER_UID: &str = "00000000-0000-0000-0000-000000000000";
/// Namespace of a resource that names none (as `kubectl apply` would use).
pub const DEFAULT_NAMESPACE: &str = "default";

const HEADER: &str = "\
# rendered by wardops render; owner uid is a placeholder
# the operator adds the wardops.io/secret-versions pod annotation (Secret resourceVersions)
# and the WARDOPS_CONNECTOR_<NAME>_URL variables of wired DataConnectors at run time;
# a DataConnector or BackupPolicy renders with its WardServices from the same input
";

/// Why a manifest cannot be rendered. `document` counts YAML documents from 1.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Not YAML.
    #[error("document {document}")]
    Parse {
        /// Position of the document in the input.
        document: usize,
        /// The parser's error, with the line.
        source: serde_yaml::Error,
    },
    /// `apiVersion` or `kind` is missing or not a string.
    #[error("document {document}: {field}: required, a string (e.g. {example})")]
    MissingType {
        /// Position of the document in the input.
        document: usize,
        /// `apiVersion` or `kind`.
        field: &'static str,
        /// What the field usually holds.
        example: &'static str,
    },
    /// Not a wardops resource at all.
    #[error(
        "document {document}: apiVersion {api_version}, kind {kind}: not a wardops resource; render reads {} manifests (apiVersion {GROUP}/{VERSION})",
        validation::kinds().join(", ")
    )]
    NotWardops {
        /// Position of the document in the input.
        document: usize,
        /// The document's apiVersion.
        api_version: String,
        /// The document's kind.
        kind: String,
    },
    /// Values the API server would refuse.
    #[error("document {document} ({kind} {name}): {}", join(.errors))]
    Invalid {
        /// Position of the document in the input.
        document: usize,
        /// The document's kind.
        kind: String,
        /// `metadata.name`, or `<unnamed>`.
        name: String,
        /// Every invalid field.
        errors: Vec<FieldError>,
    },
    /// A valid document that the types still cannot read (a bug: the CRD and
    /// the types are generated from each other).
    #[error("document {document}")]
    Decode {
        /// Position of the document in the input.
        document: usize,
        /// The decoder's error, with the field.
        source: serde_json::Error,
    },
    /// The CRD schemas could not be compiled (a bug).
    #[error(transparent)]
    Schema(#[from] &'static SchemaError),
    /// The children could not be built.
    #[error("document {document}")]
    Build {
        /// Position of the document in the input.
        document: usize,
        /// The build error.
        source: BuildError,
    },
    /// The children of a DataConnector could not be built.
    #[error("document {document}")]
    BuildConnector {
        /// Position of the document in the input.
        document: usize,
        /// The build error.
        source: crate::controller::data_connector::build::BuildError,
    },
    /// The CronJobs of a BackupPolicy could not be built.
    #[error("document {document}")]
    BuildPolicy {
        /// Position of the document in the input.
        document: usize,
        /// The build error.
        source: crate::controller::backup_policy::build::BuildError,
    },
    /// A child could not be written as YAML.
    #[error("writing {kind} {name} as YAML")]
    Serialize {
        /// Kind of the child.
        kind: &'static str,
        /// Name of the child.
        name: String,
        /// The serialiser's error.
        source: serde_yaml::Error,
    },
    /// The input holds no document.
    #[error("no wardops resource in the input: give one or more manifests")]
    Empty,
}

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(FieldError::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Checks one document against its CRD as the API server would. `Ok(None)`
/// for an empty document; otherwise the kind and the defaulted object.
pub fn validate_document(
    document: usize,
    value: &Value,
) -> Result<Option<(String, Value)>, RenderError> {
    if value.is_null() {
        return Ok(None); // an empty document, e.g. after a trailing `---`
    }
    let kind = check_type(document, value)?;
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>")
        .to_string();
    match validation::validate(&kind, value)? {
        Ok(defaulted) => Ok(Some((kind, defaulted))),
        Err(errors) => Err(RenderError::Invalid {
            document,
            kind,
            name,
            errors,
        }),
    }
}

/// Renders every child of every resource in `manifest_yaml` (one or more YAML
/// documents) as multi-document YAML, in apply order. The namespace is
/// `namespace_override`, else `metadata.namespace`, else `default`.
pub fn render(
    manifest_yaml: &str,
    settings: &WorkloadSettings,
    namespace_override: Option<&str>,
) -> Result<String, RenderError> {
    let mut out = String::from(HEADER);
    let mut rendered = 0;
    let mut wards: Vec<WardService> = Vec::new();
    let mut connectors: Vec<(usize, DataConnector)> = Vec::new();
    let mut policies: Vec<(usize, BackupPolicy)> = Vec::new();
    for (index, doc) in serde_yaml::Deserializer::from_str(manifest_yaml).enumerate() {
        let document = index + 1;
        // YAML typing as the API server sees it: `code: 11311` is a number.
        let value =
            Value::deserialize(doc).map_err(|source| RenderError::Parse { document, source })?;
        let Some((kind, mut object)) = validate_document(document, &value)? else {
            continue;
        };
        let namespace = namespace_override
            .or(object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str))
            .unwrap_or(DEFAULT_NAMESPACE)
            .to_string();
        object["metadata"]["namespace"] = Value::String(namespace);
        object["metadata"]["uid"] = Value::String(PLACEHOLDER_UID.to_string());
        let decode = |source| RenderError::Decode { document, source };
        match kind.as_str() {
            "WardService" => {
                let ward: WardService = serde_json::from_value(object).map_err(decode)?;
                write_children(&mut out, document, &ward, settings)?;
                wards.push(ward);
            }
            // Rendered after the loop: its children need its WardService,
            // which may come later in the input.
            "DataConnector" => {
                let dc: DataConnector = serde_json::from_value(object).map_err(decode)?;
                connectors.push((document, dc));
            }
            // After the loop too: its targets may come later.
            "BackupPolicy" => {
                let bp: BackupPolicy = serde_json::from_value(object).map_err(decode)?;
                policies.push((document, bp));
            }
            // A Restore's Job depends on the cluster's state (the ward stopped,
            // its pods gone): validated only.
            _ => {
                let meta: ObjectMeta =
                    serde_json::from_value(object["metadata"].take()).map_err(decode)?;
                out.push_str(&format!(
                    "---\n# {kind} {}/{}: valid; its Job is made when it is applied, from the cluster's state\n",
                    meta.namespace.as_deref().unwrap_or_default(),
                    meta.name.as_deref().unwrap_or_default()
                ));
            }
        }
        rendered += 1;
    }
    if rendered == 0 {
        return Err(RenderError::Empty);
    }
    for (document, dc) in &connectors {
        write_connector(&mut out, *document, dc, &wards, settings)?;
    }
    for (document, bp) in &policies {
        write_policy(&mut out, *document, bp, &wards, settings)?;
    }
    Ok(out)
}

/// A BackupPolicy's CronJobs, one per target WardService of the same input;
/// a comment for a target the operator would skip, or when none is there.
fn write_policy(
    out: &mut String,
    document: usize,
    bp: &BackupPolicy,
    wards: &[WardService],
    settings: &WorkloadSettings,
) -> Result<(), RenderError> {
    use crate::controller::backup_policy::build as bp_build;
    use crate::controller::ward_service::build::network_policy::selector_matches;
    let name = bp.metadata.name.as_deref().unwrap_or_default();
    let namespace = bp.metadata.namespace.as_deref().unwrap_or_default();
    let spec = &bp.spec;
    let targets: Vec<&WardService> = wards
        .iter()
        .filter(|w| w.metadata.namespace.as_deref() == Some(namespace))
        .filter(
            |w| match (&spec.target.ward_service_ref, &spec.target.selector) {
                (Some(r), _) => w.metadata.name.as_deref() == Some(r.name.as_str()),
                (None, Some(sel)) => {
                    selector_matches(sel, w.metadata.labels.as_ref().unwrap_or(&BTreeMap::new()))
                }
                (None, None) => false,
            },
        )
        .collect();
    let mut heading = Some(format!("# BackupPolicy {namespace}/{name}\n"));
    if targets.is_empty() {
        out.push_str(&format!(
            "---\n# BackupPolicy {namespace}/{name}: valid; none of its target WardServices is in the input: render it together with them\n"
        ));
        return Ok(());
    }
    let generated = bp_build::generated_key_name(name);
    let key = match &spec.encryption {
        Some(e) => (
            e.key_secret_ref.name.as_str(),
            e.key_secret_ref.key.as_str(),
        ),
        None => (generated.as_str(), bp_build::KEY_FILE),
    };
    for ward in targets {
        let ward_name = ward.metadata.name.as_deref().unwrap_or_default();
        if ward.spec.classification > spec.classification {
            out.push_str(&format!(
                "---\n# BackupPolicy {namespace}/{name}, target {ward_name}: ClassificationMismatch: the WardService is {}, above the policy's {}\n",
                ward.spec.classification, spec.classification
            ));
            continue;
        }
        if ward.spec.storage.is_none() {
            out.push_str(&format!(
                "---\n# BackupPolicy {namespace}/{name}, target {ward_name}: NoStorage: the WardService has no spec.storage\n"
            ));
            continue;
        }
        let input = bp_build::TargetInput {
            policy: bp,
            ward,
            settings,
            key,
        };
        let cron_job = bp_build::cron_job(&input)
            .map_err(|source| RenderError::BuildPolicy { document, source })?;
        write(out, &mut heading, Some(&cron_job))?;
    }
    Ok(())
}

/// A DataConnector's gateway, built for its WardService from the same input;
/// a comment when that WardService is not in the input, or when the operator
/// would refuse the connector (its reason and message).
fn write_connector(
    out: &mut String,
    document: usize,
    dc: &DataConnector,
    wards: &[WardService],
    settings: &WorkloadSettings,
) -> Result<(), RenderError> {
    use crate::controller::data_connector::{build as dc_build, validate as dc_validate};
    let name = dc.metadata.name.as_deref().unwrap_or_default();
    let namespace = dc.metadata.namespace.as_deref().unwrap_or_default();
    let ward_name = &dc.spec.ward_service_ref.name;
    let comment = |text: String| format!("---\n# DataConnector {namespace}/{name}: {text}\n");
    let Some(ward) = wards.iter().find(|w| {
        w.metadata.name.as_deref() == Some(ward_name.as_str())
            && w.metadata.namespace.as_deref() == Some(namespace)
    }) else {
        out.push_str(&comment(format!(
            "valid; its children carry the ward code and level of WardService `{ward_name}`: \
             render it together with that WardService"
        )));
        return Ok(());
    };
    // The namespace's label is unknown without a cluster: only the level against the ward is checked.
    let level = ward.spec.classification;
    if let Err(e @ dc_validate::ClassificationMismatch::BelowWard { .. }) =
        dc_validate::classification(dc, level, namespace, &BTreeMap::new())
    {
        out.push_str(&comment(format!("ClassificationMismatch: {e}")));
        return Ok(());
    }
    if let Err(e) = dc_validate::schedule(dc) {
        out.push_str(&comment(format!("InvalidTimeZone: {e}")));
        return Ok(());
    }
    let no_versions = BTreeMap::new();
    let children = dc_build::children(&dc_build::BuildInput {
        connector: dc,
        ward_code: &ward.spec.ward.code,
        ward_classification: level,
        settings,
        secret_versions: &no_versions,
    })
    .map_err(|source| RenderError::BuildConnector { document, source })?;
    let mut heading = Some(format!("# DataConnector {namespace}/{name}\n"));
    for child in children.in_apply_order() {
        match child {
            dc_build::Child::ServiceAccount(o) => write(out, &mut heading, Some(&o))?,
            dc_build::Child::ConfigMap(o) => write(out, &mut heading, Some(&o))?,
            dc_build::Child::Service(o) => write(out, &mut heading, Some(o.as_ref()))?,
            dc_build::Child::NetworkPolicy(o) => write(out, &mut heading, Some(&o))?,
            dc_build::Child::Deployment(o) => write(out, &mut heading, Some(o.as_ref()))?,
            dc_build::Child::Pvc(o) => write(out, &mut heading, Some(o.as_ref()))?,
            dc_build::Child::CronJob(o) => write(out, &mut heading, Some(o.as_ref()))?,
        }
    }
    Ok(())
}

fn write_children(
    out: &mut String,
    document: usize,
    ward: &WardService,
    settings: &WorkloadSettings,
) -> Result<(), RenderError> {
    let no_versions = BTreeMap::new();
    let children = build::children(&BuildInput {
        ward,
        settings,
        secret_versions: &no_versions,
        connectors: &[],
    })
    .map_err(|source| RenderError::Build { document, source })?;
    let name = ward.metadata.name.as_deref().unwrap_or_default();
    let namespace = ward.metadata.namespace.as_deref().unwrap_or_default();
    let mut heading = Some(format!("# WardService {namespace}/{name}\n"));
    for child in children.in_apply_order() {
        match child {
            Child::ServiceAccount(o) => write(out, &mut heading, Some(&o))?,
            Child::ConfigMap(o) => write(out, &mut heading, Some(&o))?,
            Child::Pvc(o) => write(out, &mut heading, o.as_ref())?,
            Child::Service(o) => write(out, &mut heading, Some(&o))?,
            Child::Deployment(o) => write(out, &mut heading, Some(o.as_ref()))?,
            Child::NetworkPolicy(o) => write(out, &mut heading, Some(&o))?,
            Child::Pdb(o) => write(out, &mut heading, o.as_ref())?,
            Child::Hpa(o) => write(out, &mut heading, o.as_ref())?,
            Child::Ingress(o) => write(out, &mut heading, o.as_ref())?,
        }
    }
    Ok(())
}

/// Appends one document; the first document of a WardService carries `heading`.
fn write<K>(
    out: &mut String,
    heading: &mut Option<String>,
    object: Option<&K>,
) -> Result<(), RenderError>
where
    K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta> + Serialize,
{
    let Some(object) = object else {
        return Ok(());
    };
    let yaml = serde_yaml::to_string(object).map_err(|source| RenderError::Serialize {
        kind: K::KIND,
        name: object.metadata().name.clone().unwrap_or_default(),
        source,
    })?;
    out.push_str("---\n");
    if let Some(heading) = heading.take() {
        out.push_str(&heading);
    }
    out.push_str(&yaml);
    Ok(())
}

/// Only wardops kinds of this API version are rendered; returns the kind.
fn check_type(document: usize, value: &Value) -> Result<String, RenderError> {
    let api_version =
        value
            .get("apiVersion")
            .and_then(Value::as_str)
            .ok_or(RenderError::MissingType {
                document,
                field: "apiVersion",
                example: "wardops.io/v1alpha1",
            })?;
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .ok_or(RenderError::MissingType {
            document,
            field: "kind",
            example: "WardService",
        })?;
    if api_version == format!("{GROUP}/{VERSION}") && validation::kinds().iter().any(|k| k == kind)
    {
        Ok(kind.to_string())
    } else {
        Err(RenderError::NotWardops {
            document,
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
# A comment before the first document.
apiVersion: wardops.io/v1alpha1
kind: WardService
metadata:
  name: one-stop
  namespace: phuong-hong-bang
spec:
  ward:
    code: "11311"
    name: "Phường Hồng Bàng"
  classification: internal
  image: registry.haiphong.gov.vn/one-stop/backend:2.4.1
  replicas: 2
  config:
    TIEU_DE: "Bộ phận một cửa"
  secretEnv:
    - name: DB_PASSWORD
      secretKeyRef: { name: one-stop-db, key: password }
  storage:
    size: 10Gi
  autoscaling:
    minReplicas: 2
    maxReplicas: 4
  ingress:
    host: motcua.hongbang.haiphong.gov.vn
    tlsSecretName: motcua-tls
---
apiVersion: wardops.io/v1alpha1
kind: WardService
metadata:
  name: records
spec:
  ward: { code: "11686", name: "Xã An Lão", tier: commune }
  classification: confidential
  image: registry.haiphong.gov.vn/records/api:1.9.0
---
"#;

    fn kinds(yaml: &str) -> Vec<(String, String, String)> {
        serde_yaml::Deserializer::from_str(yaml)
            .map(|doc| Value::deserialize(doc).unwrap())
            .filter(|v| !v.is_null())
            .map(|v| {
                (
                    v["kind"].as_str().unwrap().to_string(),
                    v["metadata"]["name"].as_str().unwrap().to_string(),
                    v["metadata"]["namespace"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    fn render_err(yaml: &str) -> String {
        crate::error_chain(&render(yaml, &WorkloadSettings::default(), None).unwrap_err())
    }

    fn with_spec(extra: &str) -> String {
        format!(
            "apiVersion: wardops.io/v1alpha1\nkind: WardService\nmetadata:\n  name: one-stop\nspec:\n  ward: {{ code: \"11311\", name: \"Phường Hồng Bàng\" }}\n  image: registry/x:1\n{extra}"
        )
    }

    #[test]
    fn sample_renders_every_kind_in_apply_order() {
        let out = render(SAMPLE, &WorkloadSettings::default(), None).unwrap();
        assert!(out.starts_with("# rendered by wardops render; owner uid is a placeholder\n"));
        let got = kinds(&out);
        let one_stop: Vec<&str> = got
            .iter()
            .filter(|(_, _, ns)| ns == "phuong-hong-bang")
            .map(|(k, _, _)| k.as_str())
            .collect();
        assert_eq!(
            one_stop,
            [
                "ServiceAccount",
                "ConfigMap",
                "PersistentVolumeClaim",
                "Service",
                "Deployment",
                "NetworkPolicy",
                "PodDisruptionBudget",
                "HorizontalPodAutoscaler",
                "Ingress",
            ]
        );
        let records: Vec<(&str, &str)> = got
            .iter()
            .filter(|(_, _, ns)| ns == "default")
            .map(|(k, n, _)| (k.as_str(), n.as_str()))
            .collect();
        assert_eq!(
            records,
            [
                ("ServiceAccount", "records"),
                ("ConfigMap", "records-config"),
                ("Service", "records"),
                ("Deployment", "records"),
                ("NetworkPolicy", "records"),
            ]
        );
        assert!(out.contains(PLACEHOLDER_UID));
        assert!(out.contains("Phường Hồng Bàng"), "UTF-8 survives");
        assert!(out.contains("apiVersion: apps/v1"));
        // No secret versions without a cluster, and never a value.
        assert!(!out.contains("wardops.io/secret-versions:"));
        assert!(out.contains("secretKeyRef"));
    }

    #[test]
    fn namespace_override_wins() {
        let out = render(SAMPLE, &WorkloadSettings::default(), Some("staging")).unwrap();
        assert!(kinds(&out).iter().all(|(_, _, ns)| ns == "staging"));
    }

    #[test]
    fn output_is_stable() {
        let a = render(SAMPLE, &WorkloadSettings::default(), None).unwrap();
        let b = render(SAMPLE, &WorkloadSettings::default(), None).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn other_kinds_are_validated_or_refused_by_name() {
        let yaml = format!(
            "{}---\napiVersion: wardops.io/v1alpha1\nkind: DataConnector\nmetadata: {{ name: dan-cu }}\nspec: {{}}\n",
            with_spec("")
        );
        let err = render_err(&yaml);
        assert!(
            err.starts_with("document 2 (DataConnector dan-cu): ")
                && err.contains("spec.wardServiceRef: Required value"),
            "{err}"
        );
        let err = render_err("apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n");
        assert!(err.contains("not a wardops resource"), "{err}");
        let err = render_err("kind: WardService\nmetadata: { name: x }\n");
        assert!(err.contains("apiVersion: required"), "{err}");
    }

    #[test]
    fn a_connector_renders_its_gateway_with_its_ward_service() {
        let connector = "apiVersion: wardops.io/v1alpha1\nkind: DataConnector\nmetadata: { name: dan-cu }\nspec:\n  wardServiceRef: { name: one-stop }\n  source: { kind: population, endpoint: \"https://dancu.haiphong.gov.vn/api\" }\n  credentialsSecretRef: { name: dan-cu }\n  auth: { type: apiKey }\n  datasets: [cong-dan]\n";
        // The connector first: its WardService may come later in the input.
        let yaml = format!("{connector}---\n{}", with_spec(""));
        let out = render(&yaml, &WorkloadSettings::default(), None).unwrap();
        let gateway: Vec<(String, String)> = kinds(&out)
            .into_iter()
            .filter(|(_, n, _)| n.starts_with("dan-cu"))
            .map(|(k, n, _)| (k, n))
            .collect();
        let named = |k: &str, n: &str| (k.to_string(), n.to_string());
        assert_eq!(
            gateway,
            [
                named("ServiceAccount", "dan-cu-connector"),
                named("ConfigMap", "dan-cu-connector-config"),
                named("Service", "dan-cu-connector"),
                named("NetworkPolicy", "dan-cu-connector"),
                named("Deployment", "dan-cu-connector"),
            ]
        );
        assert!(out.contains("# DataConnector default/dan-cu\n"));
        assert!(out.contains("/var/run/secrets/wardops/source/apiKey"));
        // Alone, or below its ward: a comment, no children.
        let alone = render(connector, &WorkloadSettings::default(), None).unwrap();
        assert!(
            alone.contains("render it together with that WardService"),
            "{alone}"
        );
        assert!(kinds(&alone).is_empty());
        let below = format!(
            "{}  classification: public\n---\n{}",
            connector,
            with_spec("")
        );
        let out = render(&below, &WorkloadSettings::default(), None).unwrap();
        assert!(out.contains("ClassificationMismatch"), "{out}");
        assert!(!out.contains("dan-cu-connector"));
    }

    #[test]
    fn empty_input_is_an_error() {
        assert_eq!(
            render_err("# nothing\n---\n"),
            RenderError::Empty.to_string()
        );
    }

    #[test]
    fn type_errors_name_the_field() {
        let err = render_err(&with_spec("  replicas: two\n"));
        assert!(err.contains("spec.replicas"), "{err}");
        let err = render_err(
            "apiVersion: wardops.io/v1alpha1\nkind: WardService\nmetadata: { name: x }\nspec:\n  image: a\n",
        );
        assert!(err.contains("spec") && err.contains("ward"), "{err}");
        let err = render_err(&with_spec("  classification: top-secret\n"));
        assert!(err.contains("spec.classification"), "{err}");
        let err = render_err("apiVersion: wardops.io/v1alpha1\nkind: WardService\nspec: [\n");
        assert!(err.starts_with("document 1:"), "{err}");
    }

    #[test]
    fn schema_checks_name_the_field() {
        // The full table, shared with the API server, is in tests/src/cases.rs.
        let cases = [
            (
                with_spec("  replicas: 101\n"),
                "spec.replicas: Invalid value: 101: spec.replicas in body should be less than or equal to 100",
            ),
            (
                with_spec("").replace("metadata:\n  name: one-stop\n", "metadata: {}\n"),
                "metadata.name: Required value",
            ),
            (
                with_spec("  classification: secret\n  ingress: { host: a.gov.vn }\n"),
                "spec.ingress: Invalid value: spec.ingress: not allowed when spec.classification is confidential or secret",
            ),
        ];
        for (yaml, expected) in cases {
            let err = render_err(&yaml);
            assert!(err.contains(expected), "expected `{expected}` in `{err}`");
            assert!(err.starts_with("document 1 (WardService "), "{err}");
        }
    }

    #[test]
    fn all_errors_of_a_document_are_reported() {
        let err = render_err(&with_spec("  replicas: -1\n  port: 70000\n"));
        assert!(
            err.contains("spec.replicas") && err.contains("spec.port"),
            "{err}"
        );
    }

    #[test]
    fn unknown_fields_are_reported() {
        let err = render_err(&with_spec(
            "  replica: 3\n  storage: { size: 1Gi, mountpath: /data }\n",
        ));
        assert!(err.contains("spec.replica: unknown field"), "{err}");
        assert!(
            err.contains("spec.storage.mountpath: unknown field"),
            "{err}"
        );
        // Defaults, empty values and status are not unknown.
        let ok = with_spec(
            "  paused: false\n  config: {}\n  replicas: 1\n  port: 8080\nstatus:\n  readyReplicas: 1\n",
        );
        render(&ok, &WorkloadSettings::default(), None).unwrap();
    }

    #[test]
    fn every_sample_renders() {
        let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/samples");
        let mut ward_services = 0;
        for entry in std::fs::read_dir(&samples).unwrap() {
            let path = entry.unwrap().path();
            let yaml = std::fs::read_to_string(&path).unwrap();
            if !yaml.contains("apiVersion: wardops.io/") {
                continue; // namespaces and Secrets
            }
            let out = render(&yaml, &WorkloadSettings::default(), None)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            ward_services += out.matches("\nkind: Deployment\n").count();
        }
        assert!(
            ward_services >= 2,
            "{ward_services} WardService samples rendered"
        );
    }
}
