//! `DataConnector`: a managed link from a ward service to a city data source.

use super::common::{CIDR_PREFIX_PATTERN, NO_DECLASSIFICATION_MESSAGE, classification_rank_cel};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    CRON_MESSAGE, CRON_RULE, Classification, HTTP_URL_RULE, LocalObjectRef, SecretKeyRef,
    SecretRef, TIME_ZONE_MESSAGE, TIME_ZONE_RULE, name_message, name_rule,
};

/// Longest DataConnector name: its gateway Deployment and Service are named
/// `<name>-connector`, within the 63-character limit.
pub const MAX_NAME_LENGTH: usize = 40;

/// A managed link from a WardService to one of the city's shared registries.
/// The connector holds the source credentials; the ward service only gets the
/// connector's in-cluster URL.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "wardops.io",
    version = "v1alpha1",
    kind = "DataConnector",
    namespaced,
    status = "DataConnectorStatus",
    shortname = "dc",
    category = "wardops",
    doc = "A managed link from a ward service to a city data source (population, land, household, business registries).",
    printcolumn(name = "Ready", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].status"#),
    printcolumn(name = "Reason", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].reason"#),
    printcolumn(name = "Ward", type_ = "string", json_path = ".spec.wardServiceRef.name"),
    printcolumn(name = "Source", type_ = "string", json_path = ".spec.source.kind"),
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.mode"),
    printcolumn(name = "Last Sync", type_ = "date", json_path = ".status.lastSyncTime", priority = "1"),
    printcolumn(name = "Since", type_ = "date", json_path = r#".status.conditions[?(@.type=="Ready")].lastTransitionTime"#),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new(name_rule(MAX_NAME_LENGTH))
        .message(kube::core::Message::Message(name_message(MAX_NAME_LENGTH, "the gateway is named <name>-connector")))

)]
#[x_kube(validation = Rule::new(format!(
        "!has(oldSelf.classification) || (has(self.classification) && {rank}[self.classification] >= {rank}[oldSelf.classification])",
        rank = classification_rank_cel()))
    .message(NO_DECLASSIFICATION_MESSAGE)
    .field_path(".classification"))]
#[x_kube(validation = Rule::new("self.mode != 'sync' || has(self.schedule)")
    .message("spec.schedule: required when spec.mode is sync (a cron expression with 5 fields, e.g. '0 2 * * *')")
    .field_path(".schedule"))]
#[x_kube(validation = Rule::new("self.mode != 'proxy' || !has(self.storage)")
    .message("spec.storage: only a sync connector keeps snapshots; remove spec.storage or use mode sync")
    .field_path(".storage"))]
#[x_kube(validation = Rule::new("self.mode != 'proxy' || (!has(self.schedule) && !has(self.timeZone))")
    .message("spec.schedule: not allowed when spec.mode is proxy (a proxy runs continuously); remove spec.schedule and spec.timeZone or use mode sync")
    .field_path(".schedule"))]
#[x_kube(validation = Rule::new(format!(
        "self.auth.type != '{mtls}' || (has(self.source.tls) && has(self.source.tls.clientCertSecretRef))",
        mtls = AuthType::MTLS))
    .message(kube::core::Message::Message(format!(
        "spec.source.tls.clientCertSecretRef: required when spec.auth.type is {}; name the kubernetes.io/tls Secret with the client certificate",
        AuthType::MTLS)))
    .field_path(".source.tls.clientCertSecretRef"))]
#[serde(rename_all = "camelCase")]
pub struct DataConnectorSpec {
    /// The WardService (same namespace) that uses this connector.
    pub ward_service_ref: LocalObjectRef,

    /// The city data source.
    pub source: Source,

    /// The Secret holding the source credentials. Only the connector mounts it.
    pub credentials_secret_ref: SecretRef,

    /// How the gateway authenticates to the source; `none` when omitted.
    /// The credentials come from `credentialsSecretRef` (keys per type: see
    /// docs/connectors.md), the client certificate of `mTLS` from
    /// `source.tls.clientCertSecretRef`.
    #[serde(default)]
    pub auth: SourceAuth,

    /// `proxy`: a long-running gateway (Deployment + Service) the ward service
    /// calls; `sync`: a scheduled copy (CronJob) of the datasets.
    #[serde(default)]
    pub mode: ConnectorMode,

    /// When a `sync` connector runs: a cron expression with 5 fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    #[x_kube(validation = Rule::new(CRON_RULE).message(CRON_MESSAGE))]
    pub schedule: Option<String>,

    /// IANA time zone of `schedule`, e.g. `Asia/Ho_Chi_Minh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new(TIME_ZONE_RULE).message(TIME_ZONE_MESSAGE))]
    pub time_zone: Option<String>,

    /// `sync` mode: the volume that holds the snapshots the gateway serves
    /// (a claim `<name>-connector-data`, owned by the connector: it is a copy
    /// of the source, pulled again after a loss).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<SnapshotStorage>,

    /// Connector image; the operator's default connector gateway image when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,

    /// The datasets the ward may read (data minimisation), passed to the
    /// connector as configuration.
    #[schemars(length(min = 1, max = 64), inner(length(min = 1, max = 63)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[x_kube(validation = Rule::new("self.all(d, d.matches('^[a-z0-9]([-_.a-z0-9]*[a-z0-9])?$'))")
        .message("spec.datasets: every entry must be a dataset name of lowercase letters, digits, '-', '_' and '.'"))]
    pub datasets: Vec<String>,

    /// Classification of the data that flows through this connector; the
    /// WardService's when omitted. It may not be lower than the WardService's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
}

/// Default size of a sync connector's snapshot volume.
pub const DEFAULT_SNAPSHOT_SIZE: &str = "1Gi";

/// The volume of a sync connector's snapshots.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotStorage {
    /// Requested size; room for two snapshots of every dataset. Can grow but
    /// never shrink.
    #[serde(default = "default_snapshot_size")]
    #[schemars(length(min = 1, max = 32))]
    #[x_kube(validation = Rule::new("isQuantity(self) && quantity(self).isGreaterThan(quantity('0'))")
        .message("spec.storage.size: must be a positive quantity such as 1Gi"))]
    pub size: String,

    /// StorageClass of the claim; the cluster default when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub storage_class_name: Option<String>,
}

fn default_snapshot_size() -> String {
    DEFAULT_SNAPSHOT_SIZE.to_string()
}

/// Pattern of `auth.header`: an HTTP header name (an RFC 9110 token).
pub const HEADER_NAME_PATTERN: &str = "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$";
/// Longest `auth.header`.
pub const MAX_HEADER_LENGTH: usize = 128;
/// Most `auth.scopes`.
pub const MAX_SCOPES: usize = 32;
/// Longest OAuth2 scope.
pub const MAX_SCOPE_LENGTH: usize = 256;

/// How the gateway authenticates to the source.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = Rule::new(format!("self.type != '{}' || has(self.tokenURL)", AuthType::OAUTH2))
    .message(kube::core::Message::Message(format!("spec.auth.tokenURL: required when spec.auth.type is {}", AuthType::OAUTH2)))
    .field_path(".tokenURL"))]
#[x_kube(validation = Rule::new(format!("self.type == '{}' || (!has(self.tokenURL) && !has(self.scopes) && !has(self.clientAuth))", AuthType::OAUTH2))
    .message(kube::core::Message::Message(format!("spec.auth.tokenURL: tokenURL, scopes and clientAuth are allowed only when spec.auth.type is {}", AuthType::OAUTH2)))
    .field_path(".tokenURL"))]
#[x_kube(validation = Rule::new(format!("self.type == '{}' || !has(self.header)", AuthType::API_KEY))
    .message(kube::core::Message::Message(format!("spec.auth.header: allowed only when spec.auth.type is {}", AuthType::API_KEY)))
    .field_path(".header"))]
#[serde(rename_all = "camelCase")]
pub struct SourceAuth {
    /// `none`, `apiKey` (Secret key `apiKey`), `basic` (`username`,
    /// `password`), `oauth2ClientCredentials` (`clientID`, `clientSecret`)
    /// or `mTLS` (the client certificate of `source.tls.clientCertSecretRef`).
    #[serde(default, rename = "type")]
    pub type_: AuthType,

    /// `apiKey`: the header the key is sent in; `X-API-Key` when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_HEADER_LENGTH))]
    #[x_kube(validation = Rule::new(format!("self.matches(\"{HEADER_NAME_PATTERN}\")"))
        .message("spec.auth.header: must be an HTTP header name (letters, digits and !#$%&'*+.^_`|~-), e.g. X-API-Key"))]
    pub header: Option<String>,

    /// `oauth2ClientCredentials`: the token endpoint of the source's
    /// authorisation server.
    #[serde(default, rename = "tokenURL", skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new(HTTP_URL_RULE)
        .message("spec.auth.tokenURL: must be an http:// or https:// URL"))]
    pub token_url: Option<String>,

    /// `oauth2ClientCredentials`: the scopes requested; none when omitted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_SCOPES), inner(length(min = 1, max = MAX_SCOPE_LENGTH)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[x_kube(validation = Rule::new("self.all(s, !s.contains(' '))")
        .message("spec.auth.scopes: a scope may not contain spaces; list each scope as its own entry"))]
    pub scopes: Vec<String>,

    /// `oauth2ClientCredentials`: how the client authenticates to the token
    /// endpoint, `basic` (client_secret_basic) when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_auth: Option<OAuth2ClientAuth>,
}

impl SourceAuth {
    /// The header of `apiKey` mode, with its default.
    pub fn header_or_default(&self) -> &str {
        self.header
            .as_deref()
            .unwrap_or(crate::gateway::config::DEFAULT_API_KEY_HEADER)
    }
}

/// Source authentication modes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AuthType {
    /// No authentication (a source reachable only through the network policy).
    #[default]
    #[serde(rename = "none")]
    None,
    /// An API key sent in a header.
    #[serde(rename = "apiKey")]
    ApiKey,
    /// HTTP basic authentication.
    #[serde(rename = "basic")]
    Basic,
    /// OAuth 2.0 client credentials grant.
    #[serde(rename = "oauth2ClientCredentials")]
    OAuth2ClientCredentials,
    /// A TLS client certificate (mutual TLS).
    #[serde(rename = "mTLS")]
    MTls,
}

impl AuthType {
    /// `apiKey`, as written in manifests.
    pub const API_KEY: &str = "apiKey";
    /// `oauth2ClientCredentials`, as written in manifests.
    pub const OAUTH2: &str = "oauth2ClientCredentials";
    /// `mTLS`, as written in manifests.
    pub const MTLS: &str = "mTLS";
}

/// How an OAuth2 client authenticates to the token endpoint.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum OAuth2ClientAuth {
    /// `client_secret_basic`: HTTP basic authentication.
    #[default]
    Basic,
    /// `client_secret_post`: the client id and secret in the form body.
    Post,
}

/// How a connector moves data.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorMode {
    /// A long-running gateway the ward service calls.
    #[default]
    Proxy,
    /// A scheduled copy of the datasets.
    Sync,
}

/// Kinds of city data source.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum SourceKind {
    /// National/city population registry.
    Population,
    /// Land registry.
    Land,
    /// Household registration.
    Household,
    /// Business registry.
    Business,
    /// The public-service portal.
    PublicServicePortal,
    /// Any other source.
    Custom,
}

/// Where a connector reads from.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// Kind of source.
    pub kind: SourceKind,

    /// URL of the source API, e.g. `https://dancu.haiphong.gov.vn/api`.
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new(HTTP_URL_RULE)
        .message("spec.source.endpoint: must be an http:// or https:// URL"))]
    pub endpoint: String,

    /// Address ranges of the source (CIDR notation) that the connector's
    /// network policy lets it reach.
    #[serde(default, rename = "egressCIDRs", skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(max = 43), regex(pattern = CIDR_PREFIX_PATTERN)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[x_kube(validation = Rule::new("self.all(c, isCIDR(c))")
        .message("spec.source.egressCIDRs: every entry must be a CIDR such as 10.20.0.0/16"))]
    pub egress_cidrs: Vec<String>,

    /// TCP port of the source for the network policy; from the URL when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,

    /// TLS material for the source, by Secret reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<SourceTls>,
}

/// TLS material for a source, by Secret reference only.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceTls {
    /// CA bundle that signs the source's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretKeyRef>,
    /// A `kubernetes.io/tls` Secret with the client certificate, for mutual TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_secret_ref: Option<SecretRef>,
}

/// Observed state of a DataConnector.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataConnectorStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Progressing` and `Degraded`, with stable CamelCase reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// In-cluster URL of the gateway (`proxy` mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When the last sync finished (`sync` mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
    /// Outcome of the last sync: `Succeeded` or `Failed` (`sync` mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_result: Option<String>,
    /// When the snapshot the gateway serves was pulled (`sync` mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_sync_time: Option<Time>,
    /// The datasets of the snapshot served (`sync` mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub datasets: Vec<SyncedDataset>,
    /// The last value of the `wardops.io/sync-now` annotation acted on: a
    /// new value starts one sync Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_now: Option<String>,
}

/// One dataset of the snapshot a sync connector serves.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncedDataset {
    /// Dataset name (one of `spec.datasets`).
    pub name: String,
    /// Elements of a JSON array, else lines.
    pub records: u64,
    /// Size in bytes.
    pub bytes: u64,
}
