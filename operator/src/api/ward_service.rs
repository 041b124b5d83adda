//! `WardService`: one public-service instance of one ward or commune.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::CIDR_PREFIX_PATTERN;
use super::common::{
    Classification, NO_DECLASSIFICATION_MESSAGE, SecretKeyRef, classified_cel_list,
    classified_prose, name_message, name_rule, no_declassification_rule,
};

/// Longest WardService name: child objects add suffixes such as `-config` and `-data`,
/// and connector gateways `-<connector>`, within Kubernetes' 63-character limits.
pub const MAX_NAME_LENGTH: usize = 40;
/// Most keys in `spec.config`.
pub const MAX_CONFIG_KEYS: usize = 256;
/// Most entries in `spec.resources.requests` and in `.limits`.
pub const MAX_RESOURCE_ENTRIES: usize = 8;
/// Longest quantity written as a string in `spec.resources`.
pub const MAX_QUANTITY_LENGTH: usize = 64;

/// The schema of `spec.resources`: requests and limits whose every value is a
/// quantity. Kubernetes' own schema takes any string there: the API server
/// took `1 Gi` into a WardService and refused only the Deployment built from
/// it, with a 500 the operator retried forever (found by `tests/generated.rs`).
/// A request above its limit is refused too, as the Deployment would be.
/// `claims` is left out: it needs pod-level resource claims, which a
/// WardService cannot declare.
fn resources_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let quantities = |field: &str, what: &str| {
        serde_json::json!({
            "type": "object",
            "description": format!("{what}, by resource name (cpu, memory, ephemeral-storage), as quantities such as 500m or 256Mi."),
            "maxProperties": MAX_RESOURCE_ENTRIES,
            "additionalProperties": {"x-kubernetes-int-or-string": true, "maxLength": MAX_QUANTITY_LENGTH},
            "x-kubernetes-validations": [{
                "rule": "self.all(k, isQuantity(string(self[k])) && !quantity(string(self[k])).isLessThan(quantity('0')))",
                "message": format!("spec.resources.{field}: every value must be a quantity of zero or more, such as 500m or 256Mi"),
            }],
        })
    };
    let schema = serde_json::json!({
        "type": "object",
        "nullable": true,
        "description": "CPU and memory requests and limits of the service container.",
        "properties": {
            "requests": quantities("requests", "Least resources the container needs"),
            "limits": quantities("limits", "Most resources the container may use"),
        },
        "x-kubernetes-validations": [{
            "rule": "!has(self.requests) || !has(self.limits) || self.requests.all(k, !(k in self.limits) || !isQuantity(string(self.requests[k])) || !isQuantity(string(self.limits[k])) || quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) <= 0)",
            "message": "spec.resources.requests: a request cannot exceed its limit",
            "fieldPath": ".requests",
        }],
    });
    schemars::Schema::try_from(schema).unwrap_or_default()
}

/// Longest environment variable name (a `spec.config` key or a `secretEnv` name).
pub const MAX_ENV_NAME_LENGTH: usize = 128;
/// Pattern of an environment variable name.
pub const ENV_NAME_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]*$";
/// Longest value in `spec.config`.
pub const MAX_CONFIG_VALUE_LENGTH: usize = 4096;
/// Words that mark a configuration key as a credential, as a whole key or its
/// last `_` word(s), in any case: such values belong in `secretEnv` or `secretFiles`.
pub const CREDENTIAL_WORDS: [&str; 8] = [
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "API_KEY",
    "APIKEY",
    "PRIVATE_KEY",
    "CREDENTIALS",
];
/// Most entries in `spec.secretFiles`.
pub const MAX_SECRET_FILES: usize = 16;
/// File mode of every mounted secret file: read-only, owner only (0400).
pub const SECRET_FILE_MODE: i32 = 0o400;

/// The CEL regular expression of a credential-looking key, from [`CREDENTIAL_WORDS`].
pub fn credential_key_pattern() -> String {
    format!("(?i)(^|_)({})$", CREDENTIAL_WORDS.join("|"))
}

/// A public-service instance of one ward or commune (one-stop system, portal back
/// end, records service), with its configuration, credentials by reference,
/// storage, scaling and network isolation.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "wardops.io",
    version = "v1alpha1",
    kind = "WardService",
    namespaced,
    status = "WardServiceStatus",
    shortname = "ws",
    category = "wardops",
    doc = "A public-service instance of one ward or commune, run and isolated by wardops.",
    printcolumn(name = "Ready", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].status"#),
    printcolumn(name = "Reason", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].reason"#),
    printcolumn(name = "Ward", type_ = "string", json_path = ".spec.ward.name"),
    printcolumn(name = "Class", type_ = "string", json_path = ".spec.classification"),
    printcolumn(name = "Replicas", type_ = "integer", json_path = ".spec.replicas"),
    printcolumn(name = "Available", type_ = "integer", json_path = ".status.readyReplicas", priority = "1"),
    printcolumn(name = "Since", type_ = "date", json_path = r#".status.conditions[?(@.type=="Ready")].lastTransitionTime"#),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new(name_rule(MAX_NAME_LENGTH))
        .message(kube::core::Message::Message(name_message(MAX_NAME_LENGTH, "child objects add suffixes within the 63-character limit")))

)]
#[x_kube(validation = Rule::new(format!("!(self.classification in {}) || !has(self.ingress)", classified_cel_list()))
    .message(kube::core::Message::Message(format!("spec.ingress: not allowed when spec.classification is {}; classified services are reachable only inside the cluster", classified_prose())))
    .field_path(".ingress"))]
#[x_kube(validation = Rule::new(format!("!(self.classification in {}) || !has(self.egressCIDRs) || size(self.egressCIDRs) == 0", classified_cel_list()))
    .message(kube::core::Message::Message(format!("spec.egressCIDRs: not allowed when spec.classification is {}; classified services reach the outside only through their DataConnectors", classified_prose())))
    .field_path(".egressCIDRs"))]
#[x_kube(validation = Rule::new(no_declassification_rule())
    .message(NO_DECLASSIFICATION_MESSAGE)
    .field_path(".classification"))]
#[x_kube(validation = Rule::new("!has(self.secretEnv) || !has(self.config) || self.secretEnv.all(e, !(e.name in self.config))")
    .message("spec.secretEnv: an entry's name is also a key of spec.config; each environment variable must come from one place")
    .field_path(".secretEnv"))]
#[serde(rename_all = "camelCase")]
pub struct WardServiceSpec {
    /// The ward or commune this instance serves.
    pub ward: Ward,

    /// Sensitivity of the data this instance handles. `confidential` and `secret`
    /// need a namespace labelled `wardops.io/classification` at that level or
    /// higher, run on the isolated node pool, and cannot have an Ingress.
    #[serde(default)]
    pub classification: Classification,

    /// Container image of the service, e.g. `registry.city.gov.vn/one-stop/backend:2.4.1`.
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = Rule::new("!self.contains(' ')").message("spec.image: must not contain spaces"))]
    pub image: String,

    /// Number of pods, 0 to 100. Ignored when `autoscaling` is set (the
    /// HorizontalPodAutoscaler then owns the replica count).
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0, max = 100))]
    pub replicas: i32,

    /// TCP port the service listens on, in the container and on its Service.
    #[serde(default = "default_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,

    /// CPU and memory requests and limits of the service container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "resources_schema")]
    pub resources: Option<ResourceRequirements>,

    /// Plain configuration, given to the service as environment variables through
    /// a ConfigMap. Never put credentials here: use `secretEnv` or `secretFiles`
    /// (keys that name a credential, such as `DB_PASSWORD`, are refused).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = MAX_CONFIG_KEYS, "additionalProperties" = {"type": "string", "maxLength": MAX_CONFIG_VALUE_LENGTH}))]
    #[x_kube(validation = Rule::new(format!("self.all(k, k.matches('{ENV_NAME_PATTERN}') && size(k) <= {MAX_ENV_NAME_LENGTH})"))
        .message(kube::core::Message::Message(format!("spec.config: every key must be an environment variable name (letters, digits and '_', not starting with a digit, at most {MAX_ENV_NAME_LENGTH} characters)"))))]
    #[x_kube(validation = Rule::new(format!("self.all(k, !k.matches('{}'))", credential_key_pattern()))
        .message(kube::core::Message::Message(format!("spec.config: a key that names a credential ({}) may not hold a plain value; reference a Secret with spec.secretEnv or spec.secretFiles instead", CREDENTIAL_WORDS.join(", ")))))]
    pub config: BTreeMap<String, String>,

    /// Environment variables that come from Secret keys, by reference only.
    /// wardops checks that each Secret and key exists and rolls the pods when a
    /// referenced Secret changes. To check a key, wardops reads the Secret once
    /// per resourceVersion and keeps only its key names; it never copies,
    /// logs or reports a value.
    /// A list keyed by `name`: each variable appears once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub secret_env: Vec<SecretEnvVar>,

    /// Secret keys mounted as read-only files (mode 0400), one directory per
    /// entry. Prefer files to `secretEnv` for classified services: environment
    /// variables leak into crash dumps and child processes. A list keyed by
    /// `mountPath`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_SECRET_FILES))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["mountPath"]))]
    pub secret_files: Vec<SecretFiles>,

    /// A persistent volume for the service's data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Storage>,

    /// Horizontal autoscaling on CPU. When set, the replica count is left to a
    /// HorizontalPodAutoscaler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,

    /// Exposure outside the cluster through an Ingress. Only for `public` and
    /// `internal` services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,

    /// Address ranges outside the cluster (CIDR notation) that the service may
    /// reach directly. Only for `public` and `internal` services; city registries
    /// are reached through DataConnectors instead.
    #[serde(default, rename = "egressCIDRs", skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(max = 43), regex(pattern = CIDR_PREFIX_PATTERN)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[x_kube(validation = Rule::new("self.all(c, isCIDR(c))")
        .message("spec.egressCIDRs: every entry must be a CIDR such as 10.20.0.0/16"))]
    pub egress_cidrs: Vec<String>,

    /// Liveness and readiness probes. By default both open a TCP connection to
    /// `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probes: Option<Probes>,

    /// When true, wardops leaves every child object as it is (for maintenance).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
}

fn default_replicas() -> i32 {
    1
}

fn default_port() -> i32 {
    8080
}

/// The administrative unit an instance serves.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ward {
    /// Administrative unit code, digits only (e.g. `11311`). Used as the value of
    /// the `wardops.io/ward` label on every child object.
    #[schemars(regex(pattern = r"^[0-9]{2,10}$"))]
    pub code: String,

    /// Display name, UTF-8, e.g. `Phường Hồng Bàng`. Kept in annotations, never
    /// in label values.
    #[schemars(length(min = 1, max = 200))]
    pub name: String,

    /// Level of the unit.
    #[serde(default)]
    pub tier: Tier,
}

/// Level of an administrative unit under the city.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    /// An urban ward (phường).
    #[default]
    Ward,
    /// A rural commune (xã).
    Commune,
    /// A special administrative zone (đặc khu).
    SpecialZone,
}

impl Tier {
    /// The value as written in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Ward => "ward",
            Tier::Commune => "commune",
            Tier::SpecialZone => "special-zone",
        }
    }
}

/// An environment variable whose value comes from a Secret key.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretEnvVar {
    /// Name of the environment variable.
    #[schemars(length(min = 1, max = MAX_ENV_NAME_LENGTH), regex(pattern = ENV_NAME_PATTERN))]
    pub name: String,
    /// The Secret and key that hold the value.
    pub secret_key_ref: SecretKeyRef,
}

/// Keys of a Secret mounted as files.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretFiles {
    /// Name of the Secret, in the same namespace.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    )]
    pub secret_name: String,
    /// Directory the keys appear in, one file per key, e.g. `/var/run/secrets/db`.
    #[schemars(length(min = 2, max = 256), regex(pattern = r"^/[^:]*[^/:]$"))]
    pub mount_path: String,
    /// The keys to mount (each must exist); every key of the Secret when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 64),
        inner(length(min = 1, max = 253), regex(pattern = r"^[-._a-zA-Z0-9]+$"))
    )]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub keys: Vec<String>,
}

/// What happens to the data volume when its WardService is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ReclaimPolicy {
    /// Keep the PersistentVolumeClaim; a WardService of the same name adopts it again.
    #[default]
    Retain,
    /// Delete the PersistentVolumeClaim with the WardService.
    Delete,
}

/// A persistent volume for the service's data.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Storage {
    /// Requested size, e.g. `10Gi`. Can grow but never shrink.
    #[schemars(length(min = 1, max = 32))]
    #[x_kube(validation = Rule::new("isQuantity(self) && quantity(self).isGreaterThan(quantity('0'))")
        .message("spec.storage.size: must be a positive quantity such as 10Gi"))]
    pub size: String,

    /// StorageClass of the claim; the cluster default when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,

    /// Where the volume is mounted in the container.
    #[serde(default = "default_mount_path")]
    #[schemars(regex(pattern = r"^/[^:]*$"), length(max = 256))]
    pub mount_path: String,

    /// `Retain` (default) keeps the data when the WardService is deleted;
    /// `Delete` removes it.
    #[serde(default)]
    pub reclaim_policy: ReclaimPolicy,
}

fn default_mount_path() -> String {
    "/var/lib/wardops/data".to_string()
}

/// Horizontal autoscaling on CPU utilisation.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.maxReplicas >= self.minReplicas")
    .message("spec.autoscaling.maxReplicas: must be greater than or equal to spec.autoscaling.minReplicas")
    .field_path(".maxReplicas"))]
pub struct Autoscaling {
    /// Fewest pods, 1 to 100.
    #[serde(default = "default_min_replicas")]
    #[schemars(range(min = 1, max = 100))]
    pub min_replicas: i32,
    /// Most pods, 1 to 100.
    #[schemars(range(min = 1, max = 100))]
    pub max_replicas: i32,
    /// Average CPU utilisation to aim for, in percent of the CPU request (as in
    /// a HorizontalPodAutoscaler's `targetCPUUtilizationPercentage`).
    #[serde(
        default = "default_target_cpu",
        rename = "targetCPUUtilizationPercentage"
    )]
    #[schemars(range(min = 1, max = 100))]
    pub target_cpu_utilization_percentage: i32,
}

fn default_min_replicas() -> i32 {
    1
}

fn default_target_cpu() -> i32 {
    80
}

/// Exposure outside the cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    /// Host name, e.g. `motcua.hongbang.haiphong.gov.vn`.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$")
    )]
    pub host: String,
    /// Name of a `kubernetes.io/tls` Secret with the certificate for `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    )]
    pub tls_secret_name: Option<String>,
    /// IngressClass to use; the cluster default when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_class_name: Option<String>,
    /// Path prefix routed to the service.
    #[serde(default = "default_path")]
    #[schemars(regex(pattern = r"^/.*$"), length(max = 256))]
    // Kubernetes' own rule for an Ingress prefix path; without it the Ingress
    // was refused after the WardService was taken (found by tests/generated.rs).
    #[x_kube(validation = Rule::new("!self.contains('//') && !self.contains('/./') && !self.contains('/../') && !self.endsWith('/.') && !self.endsWith('/..')")
        .message("spec.ingress.path: must not contain '//', '/./' or '/../', nor end with '/.' or '/..'"))]
    pub path: String,
}

fn default_path() -> String {
    "/".to_string()
}

/// Overrides of the default probes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Probes {
    /// Restarts the container when it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness: Option<ProbeSpec>,
    /// Takes the pod out of its Service while it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<ProbeSpec>,
}

/// One probe. With `path` it is an HTTP GET on `port`, otherwise a TCP connection.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbeSpec {
    /// HTTP path to GET, e.g. `/healthz`; a TCP check when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^/.*$"), length(max = 256))]
    pub path: Option<String>,
    /// Seconds after start before the first probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 3600))]
    pub initial_delay_seconds: Option<i32>,
    /// Seconds between probes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3600))]
    pub period_seconds: Option<i32>,
    /// Seconds before a probe times out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 600))]
    pub timeout_seconds: Option<i32>,
    /// Consecutive failures before the probe counts as failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub failure_threshold: Option<i32>,
}

/// Observed state of a WardService.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WardServiceStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Progressing` and `Degraded`, with stable CamelCase reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Pods of the current Deployment that are ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// In-cluster URL of the service, e.g. `http://one-stop.phuong-hong-bang.svc:8080`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// DataConnectors wired into this service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub connectors: Vec<ConnectorRef>,
}

/// A DataConnector wired into a WardService.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorRef {
    /// Name of the DataConnector.
    pub name: String,
    /// Environment variable that carries its URL to the service.
    pub env: String,
    /// In-cluster URL of the connector gateway, once the DataConnector is
    /// wired (valid, and its gateway created); the service's pods get it as
    /// `env` and its NetworkPolicy reaches the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Whether the DataConnector is Ready (its gateway is available).
    #[serde(default)]
    pub ready: bool,
}
