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

/// CEL list literal of the classified levels, e.g. `['confidential', 'secret']`,
/// derived from [`Classification::ALL`] so that CRD rules and code agree.
pub fn classified_cel_list() -> String {
    let levels: Vec<String> = Classification::ALL
        .into_iter()
        .filter(|c| c.is_classified())
        .map(|c| format!("'{c}'"))
        .collect();
    format!("[{}]", levels.join(", "))
}

/// CEL map literal from level to rank, e.g. `{'public': 0, 'internal': 1, ...}`,
/// derived from [`Classification::ALL`], for rules that compare levels.
pub fn classification_rank_cel() -> String {
    let entries: Vec<String> = Classification::ALL
        .into_iter()
        .enumerate()
        .map(|(rank, c)| format!("'{c}': {rank}"))
        .collect();
    format!("{{{}}}", entries.join(", "))
}

/// Transition rule (on a spec with a defaulted `classification`): the level
/// may be raised, never lowered.
pub fn no_declassification_rule() -> String {
    let rank = classification_rank_cel();
    format!("{rank}[self.classification] >= {rank}[oldSelf.classification]")
}

/// Message of [`no_declassification_rule`].
pub const NO_DECLASSIFICATION_MESSAGE: &str = "spec.classification: may be raised but never lowered; \
    declassifying data is a deliberate administrator action (see docs/classification.md)";

/// The classified levels in prose, e.g. `confidential or secret`, for messages.
pub fn classified_prose() -> String {
    let levels: Vec<&str> = Classification::ALL
        .into_iter()
        .filter(|c| c.is_classified())
        .map(Classification::as_str)
        .collect();
    levels.join(" or ")
}

/// Pattern of a wardops resource name: a DNS label that starts with a letter.
pub const NAME_PATTERN: &str = "^[a-z]([-a-z0-9]*[a-z0-9])?$";

/// Root CEL rule that bounds `metadata.name` to `max` characters of [`NAME_PATTERN`].
pub fn name_rule(max: usize) -> String {
    format!("self.metadata.name.size() <= {max} && self.metadata.name.matches('{NAME_PATTERN}')")
}

/// Message of [`name_rule`]; `why` says what the limit leaves room for.
pub fn name_message(max: usize, why: &str) -> String {
    format!(
        "metadata.name: must be at most {max} characters, start with a lowercase letter and contain only lowercase letters, digits and '-' ({why})"
    )
}

/// A CIDR's prefix length has no leading zero (`/08` is refused, as Go's parser
/// does); the `isCIDR` rule checks the rest.
pub const CIDR_PREFIX_PATTERN: &str = "^[^/]+/(0|[1-9][0-9]{0,2})$";

/// CEL rule of a cron schedule: exactly 5 fields (no macros such as `@daily`).
pub const CRON_RULE: &str = "self.matches('^[0-9A-Za-z*,/?-]+( +[0-9A-Za-z*,/?-]+){4}$')";
/// Message of [`CRON_RULE`].
pub const CRON_MESSAGE: &str = "spec.schedule: must be a cron expression with exactly 5 fields (minute hour day-of-month month day-of-week), e.g. '30 1 * * *'";
/// CEL rule of the shape of an IANA time zone name (the operator checks the name itself).
pub const TIME_ZONE_RULE: &str = "self.matches('^[A-Za-z]+(/[A-Za-z0-9_+-]+)*$')";
/// Message of [`TIME_ZONE_RULE`].
pub const TIME_ZONE_MESSAGE: &str =
    "spec.timeZone: must be an IANA time zone name such as Asia/Ho_Chi_Minh or UTC";
/// CEL rule of an http(s) URL.
pub const HTTP_URL_RULE: &str =
    "isURL(self) && (self.startsWith('https://') || self.startsWith('http://'))";

/// A reference to an object of another kind in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct LocalObjectRef {
    /// Name of the object, in the same namespace as this resource.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A reference to one key of a Secret in the same namespace. Only the reference
/// is stored. The pod that uses it reads the value; wardops reads the Secret
/// only to check that the key exists, and keeps nothing but its key names.
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
    /// A sync DataConnector: whether its last pull succeeded.
    pub const SYNCED: &str = "Synced";
}

/// Finds a condition by type.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}
