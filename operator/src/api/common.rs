//! Types shared by the three kinds: classification, references, conditions.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of every wardops kind.
pub const GROUP: &str = "wardops.io";
/// API version of every wardops kind.
pub const VERSION: &str = "v1alpha1";
/// Namespace label that states the highest classification a namespace may hold.
pub const CLASSIFICATION_LABEL: &str = "wardops.io/classification";

/// How sensitive the data handled by a resource is, from least to most.
///
/// `confidential` and `secret` are classified (state-secret) levels: they run only
/// in namespaces labelled `wardops.io/classification` at that level or higher, on
/// the isolated node pool, with no Ingress and restricted egress.
#[derive(
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Classification {
    /// Data published to citizens.
    Public,
    /// Ordinary internal government data (the default).
    #[default]
    Internal,
    /// Classified: confidential.
    Confidential,
    /// Classified: secret (state secret).
    Secret,
}

impl Classification {
    /// All levels, from least to most sensitive.
    pub const ALL: [Classification; 4] = [
        Classification::Public,
        Classification::Internal,
        Classification::Confidential,
        Classification::Secret,
    ];

    /// The value as written in manifests and labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Classification::Public => "public",
            Classification::Internal => "internal",
            Classification::Confidential => "confidential",
            Classification::Secret => "secret",
        }
    }

    /// Parses a manifest or label value; `None` for anything else.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == value)
    }

    /// `confidential` and `secret`: the levels that need an isolated, labelled namespace.
    pub fn is_classified(self) -> bool {
        self >= Classification::Confidential
    }
}

impl std::fmt::Display for Classification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reference to an object of another kind in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct LocalObjectRef {
    /// Name of the object, in the same namespace as this resource.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A reference to one key of a Secret in the same namespace. Only the reference
/// is stored: the value is read by the pod that uses it, never by wardops.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretKeyRef {
    /// Name of the Secret, in the same namespace as this resource.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    )]
    pub name: String,
    /// Key inside the Secret's `data`.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub key: String,
}

/// A reference to a whole Secret in the same namespace (for example credentials
/// with several keys, or a `kubernetes.io/tls` Secret).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretRef {
    /// Name of the Secret, in the same namespace as this resource.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    )]
    pub name: String,
}

/// Condition types used by every kind.
pub mod condition {
    /// The resource does what its spec asks. Always present.
    pub const READY: &str = "Ready";
    /// A change is being rolled out.
    pub const PROGRESSING: &str = "Progressing";
    /// The resource works, but below what its spec asks.
    pub const DEGRADED: &str = "Degraded";
}

/// Finds a condition by type.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}
