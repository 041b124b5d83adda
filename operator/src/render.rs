//! `wardops render`: the exact child objects a manifest produces, with no
//! cluster, from the same build functions the operator uses (for review in CI).
//!
//! What only the cluster knows is left out or stood in for: the owner uid is a
//! placeholder, the `wardops.io/secret-versions` pod annotation (Secret
//! resourceVersions) and the connector URL variables are added by the operator
//! at run time.
//!
//! The manifest is checked the way the API server would check it against the
//! CRD schema, so a manifest that renders is one that applies: every error
//! names the field.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use serde_yaml::Value;

use crate::api::WardService;
use crate::api::common::{GROUP, VERSION};
use crate::api::ward_service::{MAX_NAME_LENGTH, ProbeSpec};
use crate::controller::ward_service::build::{self, BuildError, BuildInput};
use crate::runtime::settings::{WorkloadSettings, is_dns_label};

/// Owner uid put on rendered children: a manifest has no uid until the API server creates it.
pub const PLACEHOLDER_UID: &str = "00000000-0000-0000-0000-000000000000";
/// Namespace of a WardService that names none (as `kubectl apply` would use).
pub const DEFAULT_NAMESPACE: &str = "default";

const HEADER: &str = "\
# rendered by wardops render; owner uid is a placeholder
# the operator adds the wardops.io/secret-versions pod annotation (Secret resourceVersions)
# and the WARDOPS_CONNECTOR_<NAME>_URL variables of wired DataConnectors at run time
";

/// One invalid field of a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the field, e.g. `spec.replicas` or `spec.secretEnv[1].name`.
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl FieldError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Why a manifest cannot be rendered. `document` counts YAML documents from 1.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Not YAML, or a field of the wrong type or shape (the message names the field).
    #[error("document {document}: {source}")]
    Parse {
        /// Position of the document in the input.
        document: usize,
        /// The parser's error, with the field path and line.
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
    /// A wardops kind that render cannot build yet.
    #[error("document {document}: kind {kind}: render supports WardService only for now")]
    UnsupportedKind {
        /// Position of the document in the input.
        document: usize,
        /// The kind, e.g. `DataConnector`.
        kind: String,
    },
    /// Not a wardops resource at all.
    #[error(
        "document {document}: apiVersion {api_version}, kind {kind}: not a wardops resource; render reads WardService manifests (apiVersion {GROUP}/{VERSION})"
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
    #[error("document {document} (WardService {name}): {}", join(.errors))]
    Invalid {
        /// Position of the document in the input.
        document: usize,
        /// `metadata.name`, or `<unnamed>`.
        name: String,
        /// Every invalid field.
        errors: Vec<FieldError>,
    },
    /// The children could not be built.
    #[error("document {document}: {source}")]
    Build {
        /// Position of the document in the input.
        document: usize,
        /// The build error.
        source: BuildError,
    },
    /// A child could not be written as YAML.
    #[error("writing {kind} {name} as YAML: {source}")]
    Serialize {
        /// Kind of the child.
        kind: &'static str,
        /// Name of the child.
        name: String,
        /// The serialiser's error.
        source: serde_yaml::Error,
    },
    /// The input holds no document.
    #[error("no WardService in the input: give one or more WardService manifests")]
    Empty,
}

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(FieldError::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Renders every child of every WardService in `manifest_yaml` (one or more
/// YAML documents) as multi-document YAML, in apply order. The namespace is
/// `namespace_override`, else `metadata.namespace`, else `default`.
pub fn render(
    manifest_yaml: &str,
    settings: &WorkloadSettings,
    namespace_override: Option<&str>,
) -> Result<String, RenderError> {
    // Two passes over the same documents: an untyped one to read the kind and
    // find unknown fields, and a typed one whose errors carry the field path.
    let untyped = serde_yaml::Deserializer::from_str(manifest_yaml);
    let typed = serde_yaml::Deserializer::from_str(manifest_yaml);
    let mut out = String::from(HEADER);
    let mut rendered = 0;
    for (index, (untyped, typed)) in untyped.zip(typed).enumerate() {
        let document = index + 1;
        let value = Value::deserialize(untyped)
            .map_err(|source| RenderError::Parse { document, source })?;
        if value.is_null() {
            continue; // an empty document, e.g. after a trailing `---`
        }
        check_type(document, &value)?;
        let mut ward = WardService::deserialize(typed)
            .map_err(|source| RenderError::Parse { document, source })?;
        let name = ward
            .metadata
            .name
            .clone()
            .unwrap_or_else(|| "<unnamed>".to_string());
        let mut errors = unknown_fields(&value, &ward);
        errors.extend(check(&ward));
        if !errors.is_empty() {
            return Err(RenderError::Invalid {
                document,
                name,
                errors,
            });
        }
        let namespace = namespace_override
            .or(ward.metadata.namespace.as_deref())
            .unwrap_or(DEFAULT_NAMESPACE)
            .to_string();
        ward.metadata.namespace = Some(namespace);
        ward.metadata.uid = Some(PLACEHOLDER_UID.to_string());
        write_children(&mut out, document, &ward, settings)?;
        rendered += 1;
    }
    if rendered == 0 {
        return Err(RenderError::Empty);
    }
    Ok(out)
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
    // The order `kubectl apply` needs: identities and volumes before the pods
    // that use them, the Service before the Ingress that points at it.
    write(out, &mut heading, Some(&children.service_account))?;
    write(out, &mut heading, Some(&children.config_map))?;
    write(out, &mut heading, children.pvc.as_ref())?;
    write(out, &mut heading, Some(&children.service))?;
    write(out, &mut heading, Some(&children.deployment))?;
    write(out, &mut heading, Some(&children.network_policy))?;
    write(out, &mut heading, children.pdb.as_ref())?;
    write(out, &mut heading, children.hpa.as_ref())?;
    write(out, &mut heading, children.ingress.as_ref())?;
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

/// Only WardService documents of this API version are rendered.
fn check_type(document: usize, value: &Value) -> Result<(), RenderError> {
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
    let ours = api_version == format!("{GROUP}/{VERSION}");
    match kind {
        "WardService" if ours => Ok(()),
        "DataConnector" | "BackupPolicy" if ours => Err(RenderError::UnsupportedKind {
            document,
            kind: kind.to_string(),
        }),
        _ => Err(RenderError::NotWardops {
            document,
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        }),
    }
}

/// Fields of the manifest that the types do not know: the API server rejects
/// them (kubectl asks for strict field validation by default), and a typo such
/// as `replica: 3` would otherwise vanish without a word.
fn unknown_fields(input: &Value, ward: &WardService) -> Vec<FieldError> {
    let Ok(known) = serde_yaml::to_value(ward) else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    if let (Value::Mapping(input), Value::Mapping(known)) = (input, &known) {
        for (key, value) in input {
            // `status` is written by the operator, never read from a manifest.
            if key.as_str() != Some("status") {
                compare(key_name(key), value, known.get(key), &mut errors);
            }
        }
    }
    errors
}

fn compare(path: String, input: &Value, known: Option<&Value>, errors: &mut Vec<FieldError>) {
    match (input, known) {
        (Value::Mapping(input), Some(Value::Mapping(known))) => {
            for (key, value) in input {
                compare(
                    format!("{path}.{}", key_name(key)),
                    value,
                    known.get(key),
                    errors,
                );
            }
        }
        (Value::Sequence(input), Some(Value::Sequence(known))) => {
            for (i, value) in input.iter().enumerate() {
                compare(format!("{path}[{i}]"), value, known.get(i), errors);
            }
        }
        // Empty values and defaults are not written back; they are not unknown.
        (_, None) if !is_empty(input) => {
            errors.push(FieldError::new(path, "unknown field"));
        }
        _ => {}
    }
}

fn key_name(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .map(|s| s.trim_end().to_string())
            .unwrap_or_default(),
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Sequence(s) => s.is_empty(),
        Value::Mapping(m) => m.is_empty(),
        _ => false,
    }
}

/// The checks the CRD schema makes and serde does not: ranges, patterns,
/// lengths and the rules between fields.
fn check(ward: &WardService) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut fail = |field: &str, message: String| errors.push(FieldError::new(field, message));
    let meta = &ward.metadata;
    match meta.name.as_deref() {
        None | Some("") => fail("metadata.name", "required".to_string()),
        Some(name) if name.len() > MAX_NAME_LENGTH || !is_name(name) => fail(
            "metadata.name",
            format!(
                "`{name}` must be at most {MAX_NAME_LENGTH} characters, start with a lowercase letter and contain only lowercase letters, digits and '-' (child objects add suffixes within the 63-character limit)"
            ),
        ),
        Some(_) => {}
    }
    if let Some(ns) = meta.namespace.as_deref().filter(|ns| !is_dns_label(ns)) {
        fail(
            "metadata.namespace",
            format!(
                "`{ns}` is not a namespace name (at most 63 lowercase letters, digits and '-')"
            ),
        );
    }

    let spec = &ward.spec;
    let code = &spec.ward.code;
    if !(2..=10).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
        fail(
            "spec.ward.code",
            format!(
                "`{code}` must be the administrative unit code: 2 to 10 digits, quoted in YAML (e.g. \"11311\")"
            ),
        );
    }
    let display = spec.ward.name.chars().count();
    if !(1..=200).contains(&display) {
        fail("spec.ward.name", "must be 1 to 200 characters".to_string());
    }
    if spec.image.is_empty() || spec.image.chars().count() > 512 {
        fail("spec.image", "must be 1 to 512 characters".to_string());
    } else if spec.image.contains(' ') {
        fail("spec.image", "must not contain spaces".to_string());
    }
    range(&mut fail, "spec.replicas", spec.replicas, 0, 100);
    range(&mut fail, "spec.port", spec.port, 1, 65535);

    if spec.config.len() > 256 {
        fail("spec.config", "at most 256 keys".to_string());
    }
    for key in spec.config.keys() {
        if !is_env_name(key) || key.len() > 128 {
            fail(
                &format!("spec.config.{key}"),
                "every key must be an environment variable name (letters, digits and '_', not starting with a digit, at most 128 characters)".to_string(),
            );
        }
    }

    if spec.secret_env.len() > 64 {
        fail("spec.secretEnv", "at most 64 entries".to_string());
    }
    let mut seen = BTreeSet::new();
    for (i, var) in spec.secret_env.iter().enumerate() {
        let at = format!("spec.secretEnv[{i}]");
        if !is_env_name(&var.name) || var.name.len() > 128 {
            fail(
                &format!("{at}.name"),
                format!(
                    "`{}` is not an environment variable name (letters, digits and '_', not starting with a digit, at most 128 characters)",
                    var.name
                ),
            );
        }
        if !seen.insert(var.name.as_str()) {
            fail(
                &format!("{at}.name"),
                format!("`{}` appears twice; names must be unique", var.name),
            );
        }
        if spec.config.contains_key(&var.name) {
            fail(
                &format!("{at}.name"),
                format!(
                    "`{}` is also a key of spec.config; each environment variable must come from one place",
                    var.name
                ),
            );
        }
        let secret = &var.secret_key_ref;
        if !is_subdomain(&secret.name) {
            fail(
                &format!("{at}.secretKeyRef.name"),
                format!(
                    "`{}` is not a Secret name (lowercase letters, digits, '-' and '.')",
                    secret.name
                ),
            );
        }
        if secret.key.is_empty()
            || secret.key.len() > 253
            || !secret
                .key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        {
            fail(
                &format!("{at}.secretKeyRef.key"),
                "must be a Secret key: 1 to 253 letters, digits, '-', '.' and '_'".to_string(),
            );
        }
    }

    if let Some(storage) = &spec.storage {
        if !is_positive_quantity(&storage.size) {
            fail(
                "spec.storage.size",
                format!(
                    "`{}` must be a positive quantity such as 10Gi",
                    storage.size
                ),
            );
        }
        if !storage.mount_path.starts_with('/')
            || storage.mount_path.contains(':')
            || storage.mount_path.len() > 256
        {
            fail(
                "spec.storage.mountPath",
                "must be an absolute path without ':', at most 256 characters".to_string(),
            );
        }
    }

    if let Some(a) = &spec.autoscaling {
        range(
            &mut fail,
            "spec.autoscaling.minReplicas",
            a.min_replicas,
            1,
            100,
        );
        range(
            &mut fail,
            "spec.autoscaling.maxReplicas",
            a.max_replicas,
            1,
            100,
        );
        range(
            &mut fail,
            "spec.autoscaling.targetCpuUtilizationPercentage",
            a.target_cpu_utilization_percentage,
            1,
            100,
        );
        if a.max_replicas < a.min_replicas {
            fail(
                "spec.autoscaling.maxReplicas",
                "must be greater than or equal to spec.autoscaling.minReplicas".to_string(),
            );
        }
    }

    let class = spec.classification;
    if let Some(ingress) = &spec.ingress {
        if class.is_classified() {
            fail(
                "spec.ingress",
                format!(
                    "not allowed when spec.classification is {class}; classified services are reachable only inside the cluster"
                ),
            );
        }
        if !is_host(&ingress.host) {
            fail(
                "spec.ingress.host",
                format!(
                    "`{}` must be a fully qualified lowercase host name such as motcua.hongbang.haiphong.gov.vn",
                    ingress.host
                ),
            );
        }
        if let Some(tls) = ingress
            .tls_secret_name
            .as_deref()
            .filter(|s| !is_subdomain(s))
        {
            fail(
                "spec.ingress.tlsSecretName",
                format!("`{tls}` is not a Secret name (lowercase letters, digits, '-' and '.')"),
            );
        }
        if !ingress.path.starts_with('/') || ingress.path.len() > 256 {
            fail(
                "spec.ingress.path",
                "must start with '/', at most 256 characters".to_string(),
            );
        }
    }

    if !spec.egress_cidrs.is_empty() && class.is_classified() {
        fail(
            "spec.egressCIDRs",
            format!(
                "not allowed when spec.classification is {class}; classified services reach the outside only through their DataConnectors"
            ),
        );
    }
    if spec.egress_cidrs.len() > 32 {
        fail("spec.egressCIDRs", "at most 32 entries".to_string());
    }
    for (i, cidr) in spec.egress_cidrs.iter().enumerate() {
        if !is_cidr(cidr) {
            fail(
                &format!("spec.egressCIDRs[{i}]"),
                format!("`{cidr}` must be a CIDR such as 10.20.0.0/16"),
            );
        }
    }

    if let Some(probes) = &spec.probes {
        for (which, probe) in [
            ("liveness", &probes.liveness),
            ("readiness", &probes.readiness),
        ] {
            if let Some(probe) = probe {
                check_probe(&mut fail, &format!("spec.probes.{which}"), probe);
            }
        }
    }
    errors
}

fn check_probe(fail: &mut impl FnMut(&str, String), at: &str, probe: &ProbeSpec) {
    if let Some(path) = &probe.path
        && (!path.starts_with('/') || path.len() > 256)
    {
        fail(
            &format!("{at}.path"),
            "must start with '/', at most 256 characters".to_string(),
        );
    }
    let fields = [
        ("initialDelaySeconds", probe.initial_delay_seconds, 0, 3600),
        ("periodSeconds", probe.period_seconds, 1, 3600),
        ("timeoutSeconds", probe.timeout_seconds, 1, 600),
        ("failureThreshold", probe.failure_threshold, 1, 100),
    ];
    for (field, value, min, max) in fields {
        if let Some(value) = value {
            range(fail, &format!("{at}.{field}"), value, min, max);
        }
    }
}

fn range(fail: &mut impl FnMut(&str, String), field: &str, value: i32, min: i32, max: i32) {
    if !(min..=max).contains(&value) {
        fail(
            field,
            format!("{value} is out of range: must be {min} to {max}"),
        );
    }
}

/// `^[a-z]([-a-z0-9]*[a-z0-9])?$`
fn is_name(s: &str) -> bool {
    s.as_bytes().first().is_some_and(u8::is_ascii_lowercase) && is_dns_label(s)
}

/// `^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`, at most 253 characters.
fn is_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
        && s.as_bytes().last().is_some_and(u8::is_ascii_alphanumeric)
}

/// Two or more DNS labels joined by dots, at most 253 characters.
fn is_host(s: &str) -> bool {
    s.len() <= 253 && s.split('.').count() >= 2 && s.split('.').all(is_dns_label)
}

/// `^[A-Za-z_][A-Za-z0-9_]*$`
fn is_env_name(s: &str) -> bool {
    s.as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_cidr(s: &str) -> bool {
    let Some((addr, prefix)) = s.split_once('/') else {
        return false;
    };
    let Ok(addr) = addr.parse::<IpAddr>() else {
        return false;
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    prefix.bytes().all(|b| b.is_ascii_digit()) && prefix.parse::<u8>().is_ok_and(|p| p <= max)
}

/// A Kubernetes quantity greater than zero: a decimal number with an optional
/// binary (Ki..Ei), decimal (n, u, m, k, M..E) or exponent (e3) suffix.
fn is_positive_quantity(s: &str) -> bool {
    const SUFFIXES: [&str; 16] = [
        "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E", "",
    ];
    let number = SUFFIXES
        .iter()
        .find_map(|suffix| s.strip_suffix(suffix).filter(|n| is_decimal(n)))
        .or_else(|| {
            s.rsplit_once(['e', 'E']).and_then(|(n, exp)| {
                let exp = exp.strip_prefix(['+', '-']).unwrap_or(exp);
                (is_decimal(n) && !exp.is_empty() && exp.bytes().all(|b| b.is_ascii_digit()))
                    .then_some(n)
            })
        });
    number.is_some_and(|n| n.bytes().any(|b| (b'1'..=b'9').contains(&b)))
}

/// `[+]?[0-9]+(\.[0-9]*)?` or `[+]?\.[0-9]+`
fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix('+').unwrap_or(s);
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    !(whole.is_empty() && frac.is_empty())
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
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
        render(yaml, &WorkloadSettings::default(), None)
            .unwrap_err()
            .to_string()
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
    fn other_wardops_kinds_are_refused_by_name() {
        let yaml = format!(
            "{}---\napiVersion: wardops.io/v1alpha1\nkind: DataConnector\nmetadata: {{ name: dan-cu }}\nspec: {{}}\n",
            with_spec("")
        );
        assert_eq!(
            render_err(&yaml),
            "document 2: kind DataConnector: render supports WardService only for now"
        );
        let err = render_err("apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n");
        assert!(err.contains("not a wardops resource"), "{err}");
        let err = render_err("kind: WardService\nmetadata: { name: x }\n");
        assert!(err.contains("apiVersion: required"), "{err}");
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
        let cases = [
            (
                with_spec("  replicas: 101\n"),
                "spec.replicas: 101 is out of range: must be 0 to 100",
            ),
            (with_spec("  port: 0\n"), "spec.port"),
            (
                with_spec("").replace("code: \"11311\"", "code: \"11a\""),
                "spec.ward.code",
            ),
            (
                with_spec("").replace("name: one-stop", "name: One-Stop"),
                "metadata.name",
            ),
            (
                with_spec("").replace("name: one-stop", &format!("name: {}", "a".repeat(41))),
                "metadata.name",
            ),
            (
                with_spec("").replace("metadata:\n  name: one-stop\n", "metadata: {}\n"),
                "metadata.name: required",
            ),
            (
                with_spec("  classification: secret\n  ingress: { host: a.gov.vn }\n"),
                "spec.ingress: not allowed when spec.classification is secret",
            ),
            (
                with_spec("  classification: confidential\n  egressCIDRs: [10.0.0.0/8]\n"),
                "spec.egressCIDRs: not allowed when spec.classification is confidential",
            ),
            (
                with_spec("  egressCIDRs: [10.0.0.0/33]\n"),
                "spec.egressCIDRs[0]",
            ),
            (with_spec("  storage: { size: 0Gi }\n"), "spec.storage.size"),
            (
                with_spec("  autoscaling: { minReplicas: 3, maxReplicas: 2 }\n"),
                "spec.autoscaling.maxReplicas",
            ),
            (with_spec("  config: { 1BAD: x }\n"), "spec.config.1BAD"),
            (
                with_spec(
                    "  config: { A: x }\n  secretEnv: [{ name: A, secretKeyRef: { name: s, key: k } }]\n",
                ),
                "spec.secretEnv[0].name",
            ),
            (
                with_spec("  probes: { readiness: { path: healthz } }\n"),
                "spec.probes.readiness.path",
            ),
            (
                with_spec("  ingress: { host: localhost }\n"),
                "spec.ingress.host",
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
    fn every_ward_service_sample_renders() {
        let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/samples");
        let Ok(entries) = std::fs::read_dir(&samples) else {
            return; // no samples in this checkout
        };
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().to_string();
            if file.starts_with("wardservice-") && file.ends_with(".yaml") {
                let yaml = std::fs::read_to_string(entry.path()).unwrap();
                let out = render(&yaml, &WorkloadSettings::default(), None)
                    .unwrap_or_else(|e| panic!("{file}: {e}"));
                assert!(out.contains("kind: Deployment"), "{file}");
            }
        }
    }

    #[test]
    fn quantities() {
        for ok in ["10Gi", "1", "500M", "0.5Gi", "1e3", ".5Ti", "+2Ki"] {
            assert!(is_positive_quantity(ok), "{ok}");
        }
        for bad in ["0", "0Gi", "", "Gi", "ten", "-1Gi", "1GB", "1e"] {
            assert!(!is_positive_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn cidrs() {
        for ok in ["10.20.0.0/16", "0.0.0.0/0", "2001:db8::/32", "192.0.2.1/32"] {
            assert!(is_cidr(ok), "{ok}");
        }
        for bad in ["10.0.0.0", "10.0.0.0/33", "10.0.0/8", "x/8", "10.0.0.0/+8"] {
            assert!(!is_cidr(bad), "{bad}");
        }
    }
}
