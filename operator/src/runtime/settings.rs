//! Operator settings, by flag or environment variable (`wardops run --help`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};
use k8s_openapi::api::core::v1::Toleration;

/// Default image of the connector gateway (DataConnector `proxy` and `sync`):
/// the wardops image itself, whose binary runs `wardops gateway`.
pub const DEFAULT_CONNECTOR_IMAGE: &str = "ghcr.io/wardops/wardops:0.1.0";
/// Default image of the backup tool (restic).
pub const DEFAULT_BACKUP_IMAGE: &str = "ghcr.io/wardops/wardops-backup:0.1.0";
/// Default namespace of the cluster DNS pods.
pub const DEFAULT_DNS_NAMESPACE: &str = "kube-system";
/// Default labels of the cluster DNS pods.
pub const DEFAULT_DNS_POD_SELECTOR: &str = "k8s-app=kube-dns";
/// Default CPU request of a container that sets none.
pub const DEFAULT_CPU_REQUEST: &str = "100m";
/// Default memory request of a container that sets none.
pub const DEFAULT_MEMORY_REQUEST: &str = "128Mi";
/// Default memory limit of a container that sets none.
pub const DEFAULT_MEMORY_LIMIT: &str = "512Mi";
/// Default size limit of the scratch `/tmp` volume.
pub const DEFAULT_TMP_SIZE_LIMIT: &str = "64Mi";
/// Default of `--backup-overdue-grace-seconds` (also what `kubectl wardops status` assumes).
pub const DEFAULT_BACKUP_OVERDUE_GRACE_SECONDS: u64 = 3600;

/// Default of `--lease-duration-seconds` (the chart sets the same).
pub const DEFAULT_LEASE_DURATION_SECONDS: u64 = 15;

/// Settings that shape the objects wardops builds. `wardops run` and
/// `wardops render` share them, so a render shows exactly what the operator applies.
#[derive(Args, Clone, Debug, PartialEq)]
pub struct WorkloadSettings {
    /// Image of the connector gateway, used when a DataConnector sets no `image`.
    #[arg(long, env = "WARDOPS_CONNECTOR_IMAGE", default_value = DEFAULT_CONNECTOR_IMAGE)]
    pub connector_image: String,

    /// Image of the backup tool, used when a BackupPolicy sets no `image`.
    #[arg(long, env = "WARDOPS_BACKUP_IMAGE", default_value = DEFAULT_BACKUP_IMAGE)]
    pub backup_image: String,

    /// Node selector of the isolated node pool for classified workloads, as
    /// comma-separated `key=value` pairs.
    #[arg(
        long,
        env = "WARDOPS_ISOLATED_NODE_SELECTOR",
        default_value = "wardops.io/pool=isolated",
        value_parser = parse_node_selector
    )]
    pub isolated_node_selector: NodeSelector,

    /// Tolerations of the isolated node pool, as comma-separated
    /// `key=value:Effect` or `key:Effect` (Effect: NoSchedule, PreferNoSchedule, NoExecute).
    #[arg(
        long,
        env = "WARDOPS_ISOLATED_TOLERATIONS",
        default_value = "wardops.io/pool=isolated:NoSchedule",
        value_parser = parse_tolerations
    )]
    pub isolated_tolerations: Tolerations,

    /// Namespace of the ingress controller, allowed into WardServices that have an Ingress.
    #[arg(
        long,
        env = "WARDOPS_INGRESS_NAMESPACE",
        default_value = "ingress-nginx"
    )]
    pub ingress_namespace: String,

    /// Namespace of the cluster DNS pods: the only DNS servers wardops'
    /// workloads may reach (port 53).
    #[arg(long, env = "WARDOPS_DNS_NAMESPACE", default_value = DEFAULT_DNS_NAMESPACE, value_parser = parse_namespace)]
    pub dns_namespace: String,

    /// Labels of the cluster DNS pods, as comma-separated `key=value` pairs.
    #[arg(
        long,
        env = "WARDOPS_DNS_POD_SELECTOR",
        default_value = DEFAULT_DNS_POD_SELECTOR,
        value_parser = parse_node_selector
    )]
    pub dns_pod_selector: NodeSelector,

    /// Address of a node-local DNS cache (e.g. 169.254.20.10) that workloads
    /// may also reach on port 53; none when empty.
    #[arg(long, env = "WARDOPS_NODE_LOCAL_DNS", default_value = "", value_parser = parse_optional_ip)]
    pub node_local_dns: OptionalIp,

    /// CPU request of a container whose spec sets no `resources`.
    #[arg(long, env = "WARDOPS_DEFAULT_CPU_REQUEST", default_value = DEFAULT_CPU_REQUEST, value_parser = parse_quantity)]
    pub default_cpu_request: String,

    /// Memory request of a container whose spec sets no `resources`.
    #[arg(long, env = "WARDOPS_DEFAULT_MEMORY_REQUEST", default_value = DEFAULT_MEMORY_REQUEST, value_parser = parse_quantity)]
    pub default_memory_request: String,

    /// Memory limit of a container whose spec sets no `resources`.
    #[arg(long, env = "WARDOPS_DEFAULT_MEMORY_LIMIT", default_value = DEFAULT_MEMORY_LIMIT, value_parser = parse_quantity)]
    pub default_memory_limit: String,

    /// CPU limit of a container whose spec sets no `resources`; none when
    /// empty (the default: CPU limits throttle a pod even on an idle node).
    #[arg(long, env = "WARDOPS_DEFAULT_CPU_LIMIT", default_value = "", value_parser = parse_optional_quantity)]
    pub default_cpu_limit: String,

    /// Size limit of the scratch `/tmp` volume of every pod.
    #[arg(long, env = "WARDOPS_TMP_SIZE_LIMIT", default_value = DEFAULT_TMP_SIZE_LIMIT, value_parser = parse_quantity)]
    pub tmp_size_limit: String,
}

/// An IP address, or none.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptionalIp(pub Option<std::net::IpAddr>);

fn parse_optional_ip(s: &str) -> Result<OptionalIp, String> {
    if s.trim().is_empty() {
        return Ok(OptionalIp(None));
    }
    s.trim()
        .parse()
        .map(|ip| OptionalIp(Some(ip)))
        .map_err(|_| format!("`{s}` is not an IP address (e.g. 169.254.20.10)"))
}

/// A Kubernetes quantity greater than zero: a decimal number with a binary
/// (Ki..Ei) or decimal (m, k, M..E) suffix, e.g. `100m` or `512Mi`.
pub fn parse_quantity(s: &str) -> Result<String, String> {
    const SUFFIXES: [&str; 13] = [
        "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "m", "k", "M", "G", "T", "P", "E",
    ];
    let number = SUFFIXES
        .iter()
        .find_map(|suffix| s.strip_suffix(suffix))
        .unwrap_or(s);
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits = !(whole.is_empty() && frac.is_empty())
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit());
    if digits && number.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{s}` is not a positive quantity (e.g. 100m, 128Mi, 1Gi)"
        ))
    }
}

fn parse_optional_quantity(s: &str) -> Result<String, String> {
    if s.is_empty() {
        Ok(String::new())
    } else {
        parse_quantity(s)
    }
}

impl Default for WorkloadSettings {
    fn default() -> Self {
        WorkloadSettings {
            connector_image: DEFAULT_CONNECTOR_IMAGE.to_string(),
            backup_image: DEFAULT_BACKUP_IMAGE.to_string(),
            isolated_node_selector: NodeSelector(BTreeMap::from([(
                "wardops.io/pool".to_string(),
                "isolated".to_string(),
            )])),
            isolated_tolerations: Tolerations(vec![Toleration {
                key: Some("wardops.io/pool".to_string()),
                operator: Some("Equal".to_string()),
                value: Some("isolated".to_string()),
                effect: Some("NoSchedule".to_string()),
                ..Toleration::default()
            }]),
            ingress_namespace: "ingress-nginx".to_string(),
            dns_namespace: DEFAULT_DNS_NAMESPACE.to_string(),
            dns_pod_selector: NodeSelector(BTreeMap::from([(
                "k8s-app".to_string(),
                "kube-dns".to_string(),
            )])),
            node_local_dns: OptionalIp(None),
            default_cpu_request: DEFAULT_CPU_REQUEST.to_string(),
            default_memory_request: DEFAULT_MEMORY_REQUEST.to_string(),
            default_memory_limit: DEFAULT_MEMORY_LIMIT.to_string(),
            default_cpu_limit: String::new(),
            tmp_size_limit: DEFAULT_TMP_SIZE_LIMIT.to_string(),
        }
    }
}

/// Node labels that pin classified pods to the isolated pool.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeSelector(pub BTreeMap<String, String>);

/// Tolerations that let classified pods onto the isolated pool.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tolerations(pub Vec<Toleration>);

/// Log output format.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object a line (for log collectors).
    Json,
    /// Human-readable lines.
    Text,
}

/// Settings of `wardops run`.
#[derive(Args, Clone, Debug)]
pub struct RunSettings {
    /// Namespaces to watch, comma-separated; all namespaces when empty.
    #[arg(long, env = "WARDOPS_WATCH_NAMESPACES", value_delimiter = ',', value_parser = parse_namespace)]
    pub watch_namespaces: Vec<String>,

    /// Elect a leader on a Lease so that only one replica reconciles.
    #[arg(long, env = "WARDOPS_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,

    /// Name of the leader election Lease.
    #[arg(long, env = "WARDOPS_LEASE_NAME", default_value = "wardops-leader", value_parser = parse_namespace)]
    pub lease_name: String,

    /// Namespace of the leader election Lease; the pod's namespace (POD_NAMESPACE) when unset.
    #[arg(long, env = "WARDOPS_LEASE_NAMESPACE", value_parser = parse_namespace)]
    pub lease_namespace: Option<String>,

    /// How long a Lease stays valid without renewal; a standby takes over after it, in seconds (5..=300).
    #[arg(long, env = "WARDOPS_LEASE_DURATION_SECONDS", default_value_t = DEFAULT_LEASE_DURATION_SECONDS, value_parser = clap::value_parser!(u64).range(5..=300))]
    pub lease_duration_seconds: u64,

    /// Address of the `/metrics` endpoint.
    #[arg(long, env = "WARDOPS_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,

    /// Address of the `/healthz` and `/readyz` endpoints.
    #[arg(long, env = "WARDOPS_HEALTH_ADDR", default_value = "0.0.0.0:8081")]
    pub health_addr: SocketAddr,

    /// Log format.
    #[arg(long, env = "WARDOPS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,

    /// Log level or filter, e.g. `info` or `wardops=debug,kube=info`.
    #[arg(long, env = "WARDOPS_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Seconds between full resyncs of an unchanged resource (a safety net; watches drive the work).
    #[arg(long, env = "WARDOPS_RESYNC_SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(60..=86400))]
    pub resync_seconds: u64,

    /// Seconds after a missed scheduled backup before a BackupPolicy counts as
    /// overdue (`wardops_backup_policies_overdue`).
    #[arg(long, env = "WARDOPS_BACKUP_OVERDUE_GRACE_SECONDS", default_value_t = DEFAULT_BACKUP_OVERDUE_GRACE_SECONDS, value_parser = clap::value_parser!(u64).range(0..=604800))]
    pub backup_overdue_grace_seconds: u64,

    /// Settings of the objects wardops builds.
    #[command(flatten)]
    pub workload: WorkloadSettings,
}

impl RunSettings {
    /// Interval of the safety-net resync.
    pub fn resync(&self) -> Duration {
        Duration::from_secs(self.resync_seconds)
    }

    /// Lease namespace: the flag, else the pod's namespace, else `wardops-system`.
    pub fn lease_namespace(&self) -> String {
        self.lease_namespace
            .clone()
            .or_else(|| {
                std::env::var("POD_NAMESPACE")
                    .ok()
                    .filter(|s| !s.is_empty())
            })
            .unwrap_or_else(|| "wardops-system".to_string())
    }
}

/// A DNS-1123 label: at most 63 lowercase letters, digits and '-', alphanumeric at both ends.
pub(crate) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn parse_namespace(s: &str) -> Result<String, String> {
    if is_dns_label(s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{s}` is not a valid name: use at most 63 lowercase letters, digits and '-', not starting or ending with '-'"
        ))
    }
}

fn is_label_key(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    let prefix_ok =
        prefix.is_none_or(|p| !p.is_empty() && p.len() <= 253 && p.split('.').all(is_dns_label));
    name_ok && prefix_ok
}

fn is_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric())
}

/// Parses `key=value,key2=value2`.
pub fn parse_node_selector(s: &str) -> Result<NodeSelector, String> {
    let mut map = BTreeMap::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("`{pair}` is not key=value"))?;
        if !is_label_key(k) {
            return Err(format!("`{k}` is not a valid label key"));
        }
        if !is_label_value(v) {
            return Err(format!("`{v}` is not a valid label value (for key `{k}`)"));
        }
        map.insert(k.to_string(), v.to_string());
    }
    Ok(NodeSelector(map))
}

/// Parses `key=value:Effect,key:Effect`.
pub fn parse_tolerations(s: &str) -> Result<Tolerations, String> {
    let mut out = Vec::new();
    for item in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (kv, effect) = item.rsplit_once(':').ok_or_else(|| {
            format!("`{item}` has no :Effect (NoSchedule, PreferNoSchedule or NoExecute)")
        })?;
        if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect) {
            return Err(format!(
                "`{effect}` in `{item}` is not an effect: use NoSchedule, PreferNoSchedule or NoExecute"
            ));
        }
        let (key, value) = match kv.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (kv, None),
        };
        if !is_label_key(key) {
            return Err(format!("`{key}` in `{item}` is not a valid taint key"));
        }
        if let Some(v) = value.filter(|v| !is_label_value(v)) {
            return Err(format!("`{v}` in `{item}` is not a valid taint value"));
        }
        out.push(Toleration {
            key: Some(key.to_string()),
            operator: Some(if value.is_some() { "Equal" } else { "Exists" }.to_string()),
            value: value.map(str::to_string),
            effect: Some(effect.to_string()),
            ..Toleration::default()
        });
    }
    Ok(Tolerations(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_selector_parses_pairs() {
        let sel = parse_node_selector("wardops.io/pool=isolated, zone=a").unwrap();
        assert_eq!(
            sel.0.get("wardops.io/pool").map(String::as_str),
            Some("isolated")
        );
        assert_eq!(sel.0.get("zone").map(String::as_str), Some("a"));
    }

    #[test]
    fn node_selector_rejects_bad_input() {
        assert!(
            parse_node_selector("novalue")
                .unwrap_err()
                .contains("key=value")
        );
        assert!(
            parse_node_selector("bad key=x")
                .unwrap_err()
                .contains("label key")
        );
        assert!(
            parse_node_selector("k=-x")
                .unwrap_err()
                .contains("label value")
        );
    }

    #[test]
    fn tolerations_parse_equal_and_exists() {
        let t =
            parse_tolerations("wardops.io/pool=isolated:NoSchedule,dedicated:NoExecute").unwrap();
        assert_eq!(t.0.len(), 2);
        assert_eq!(t.0[0].operator.as_deref(), Some("Equal"));
        assert_eq!(t.0[0].value.as_deref(), Some("isolated"));
        assert_eq!(t.0[1].operator.as_deref(), Some("Exists"));
        assert_eq!(t.0[1].effect.as_deref(), Some("NoExecute"));
    }

    #[test]
    fn tolerations_reject_unknown_effect() {
        let err = parse_tolerations("a=b:Sometimes").unwrap_err();
        assert!(err.contains("Sometimes"), "{err}");
        assert!(parse_tolerations("a=b").is_err());
    }

    #[test]
    fn default_workload_settings_match_flag_defaults() {
        #[derive(clap::Parser)]
        struct T {
            #[command(flatten)]
            w: WorkloadSettings,
        }
        let parsed = <T as clap::Parser>::try_parse_from(["t"]).unwrap();
        assert_eq!(parsed.w, WorkloadSettings::default());
    }

    #[test]
    fn quantities_and_addresses_are_checked() {
        for ok in ["100m", "1", "0.5", "512Mi", "2Gi", "1.5k"] {
            assert!(parse_quantity(ok).is_ok(), "{ok}");
        }
        for bad in ["0", "", "Mi", "-1", "1GB", "ten"] {
            assert!(parse_quantity(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_optional_quantity("").unwrap(), "");
        assert!(parse_optional_ip("169.254.20.10").unwrap().0.is_some());
        assert!(parse_optional_ip("").unwrap().0.is_none());
        assert!(parse_optional_ip("dns.local").is_err());
    }

    #[test]
    fn namespace_names_are_checked() {
        assert!(parse_namespace("phuong-hong-bang").is_ok());
        assert!(parse_namespace("Bad_NS").is_err());
    }
}
