//! One table of invalid and one of valid manifests of every wardops kind:
//! what the API server and `wardops render` must agree on. `tests/crds.rs`
//! sends each to both.

use serde_json::{Value, json};

/// A manifest the API server refuses, and `wardops render` with it.
pub struct Invalid {
    /// What is wrong, for failure messages.
    pub name: &'static str,
    /// The whole manifest (apiVersion, kind, metadata, spec).
    pub doc: Value,
    /// The field the API server names on create, e.g. `spec.secretEnv[1]`;
    /// render's `FieldError::field`. A rule on the whole object (the
    /// `metadata.name` rules) has no field: the message starts with it.
    pub field: &'static str,
    /// A part of the API server's message.
    pub message: &'static str,
}

/// A manifest the API server accepts, and `wardops render` with it.
pub struct Valid {
    /// What it shows, for failure messages.
    pub name: &'static str,
    /// The whole manifest.
    pub doc: Value,
}

/// A valid WardService that the cases change.
pub fn ward_service() -> Value {
    json!({
        "apiVersion": "wardops.io/v1alpha1", "kind": "WardService",
        "metadata": {"name": "parity-test", "namespace": "default"},
        "spec": {
            "ward": {"code": "11311", "name": "Phường Hồng Bàng", "tier": "ward"},
            "image": "registry.haiphong.gov.vn/one-stop/backend:2.4.1",
        }
    })
}

/// A valid DataConnector that the cases change.
pub fn data_connector() -> Value {
    json!({
        "apiVersion": "wardops.io/v1alpha1", "kind": "DataConnector",
        "metadata": {"name": "parity-test", "namespace": "default"},
        "spec": {
            "wardServiceRef": {"name": "one-stop"},
            "source": {"kind": "population", "endpoint": "https://dancu.haiphong.gov.vn/api"},
            "credentialsSecretRef": {"name": "dan-cu"},
            "datasets": ["cong-dan"],
        }
    })
}

/// A valid BackupPolicy that the cases change.
pub fn backup_policy() -> Value {
    json!({
        "apiVersion": "wardops.io/v1alpha1", "kind": "BackupPolicy",
        "metadata": {"name": "parity-test", "namespace": "default"},
        "spec": {
            "target": {"wardServiceRef": {"name": "one-stop"}},
            "schedule": "30 1 * * *",
            "retention": {"keepDaily": 7},
            "destination": {"pvc": {"claimName": "backups"}},
        }
    })
}

/// `doc` with `value` at a `/`-separated path (objects created on the way);
/// `null` removes the field.
pub fn with(mut doc: Value, path: &str, value: Value) -> Value {
    let (parents, last) = path.rsplit_once('/').unwrap_or(("", path));
    let mut cur = &mut doc;
    for p in parents.split('/').filter(|p| !p.is_empty()) {
        cur = &mut cur[p];
        if cur.is_null() {
            *cur = json!({});
        }
    }
    match (value, cur.as_object_mut()) {
        (Value::Null, Some(map)) => {
            map.remove(last);
        }
        (value, _) => cur[last] = value,
    }
    doc
}

fn ws(path: &str, value: Value) -> Value {
    with(ward_service(), path, value)
}

fn dc(path: &str, value: Value) -> Value {
    with(data_connector(), path, value)
}

fn bp(path: &str, value: Value) -> Value {
    with(backup_policy(), path, value)
}

fn invalid_case(
    name: &'static str,
    doc: Value,
    field: &'static str,
    message: &'static str,
) -> Invalid {
    Invalid {
        name,
        doc,
        field,
        message,
    }
}

/// A probe path of 150 characters and 270 bytes: `maxLength: 256` counts characters.
pub fn long_vietnamese_path() -> String {
    std::iter::once('/')
        .chain("đường".chars().cycle())
        .take(150)
        .collect()
}

/// Every invalid case, all three kinds.
pub fn invalid() -> Vec<Invalid> {
    let c = invalid_case;
    let s3 = json!({"endpoint": "https://s3.haiphong.gov.vn", "bucket": "ward-backups", "credentialsSecretRef": {"name": "s3"}});
    let secret_env =
        |name: &str, key: &str| json!({"name": name, "secretKeyRef": {"name": "s", "key": key}});
    vec![
        // WardService: ranges, enums, patterns, required fields.
        c(
            "replicas too high",
            ws("spec/replicas", json!(101)),
            "spec.replicas",
            "less than or equal to 100",
        ),
        c(
            "replicas negative",
            ws("spec/replicas", json!(-1)),
            "spec.replicas",
            "greater than or equal to 0",
        ),
        c(
            "unknown classification",
            ws("spec/classification", json!("topsecret")),
            "spec.classification",
            "Unsupported value",
        ),
        c(
            "ward code with letters",
            ws("spec/ward/code", json!("11a11")),
            "spec.ward.code",
            "should match",
        ),
        c(
            "ward missing",
            ws("spec/ward", Value::Null),
            "spec.ward",
            "Required value",
        ),
        c(
            "image missing",
            ws("spec/image", Value::Null),
            "spec.image",
            "Required value",
        ),
        c(
            "image with a space",
            ws("spec/image", json!("nginx latest")),
            "spec.image",
            "must not contain spaces",
        ),
        c(
            "unknown tier",
            ws("spec/ward/tier", json!("province")),
            "spec.ward.tier",
            "Unsupported value",
        ),
        c(
            "port zero",
            ws("spec/port", json!(0)),
            "spec.port",
            "greater than or equal to 1",
        ),
        c(
            "name too long",
            ws("metadata/name", json!("a".repeat(41))),
            "metadata.name",
            "must be at most 40 characters",
        ),
        c(
            "config key not an env name",
            ws("spec/config", json!({"1BAD": "x"})),
            "spec.config",
            "environment variable name",
        ),
        c(
            "storage size not a quantity",
            ws("spec/storage", json!({"size": "lots"})),
            "spec.storage.size",
            "positive quantity",
        ),
        c(
            "ingress path with a double slash (found by tests/generated.rs)",
            ws(
                "spec/ingress",
                json!({"host": "mot-cua.haiphong.gov.vn", "path": "/a//b"}),
            ),
            "spec.ingress.path",
            "must not contain '//'",
        ),
        c(
            "resource request not a quantity (found by tests/generated.rs)",
            ws("spec/resources", json!({"requests": {"cpu": "1 Gi"}})),
            "spec.resources.requests",
            "must be a quantity",
        ),
        c(
            "negative resource limit",
            ws("spec/resources", json!({"limits": {"memory": "-1Gi"}})),
            "spec.resources.limits",
            "quantity of zero or more",
        ),
        c(
            "resource request above its limit",
            ws(
                "spec/resources",
                json!({"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}),
            ),
            "spec.resources.requests",
            "cannot exceed its limit",
        ),
        c(
            "storage size zero",
            ws("spec/storage", json!({"size": "0"})),
            "spec.storage.size",
            "positive quantity",
        ),
        c(
            "unknown reclaim policy",
            ws(
                "spec/storage",
                json!({"size": "1Gi", "reclaimPolicy": "Keep"}),
            ),
            "spec.storage.reclaimPolicy",
            "Unsupported value",
        ),
        c(
            "autoscaling max below min",
            ws(
                "spec/autoscaling",
                json!({"minReplicas": 5, "maxReplicas": 2}),
            ),
            "spec.autoscaling.maxReplicas",
            "spec.autoscaling.maxReplicas: must be greater than or equal to spec.autoscaling.minReplicas",
        ),
        c(
            "bad ingress host",
            ws("spec/ingress", json!({"host": "Bad_Host"})),
            "spec.ingress.host",
            "should match",
        ),
        // WardService: config (no credentials, bounded size).
        c(
            "config key naming a credential",
            ws("spec/config", json!({"DB_PASSWORD": "x"})),
            "spec.config",
            "a key that names a credential",
        ),
        c(
            "lowercase config key naming a credential",
            ws("spec/config", json!({"db_password": "x"})),
            "spec.config",
            "a key that names a credential",
        ),
        c(
            "config value of 4097 characters",
            ws("spec/config", json!({"A": "a".repeat(4097)})),
            "spec.config.A",
            "Too long",
        ),
        c(
            "257 config keys",
            ws(
                "spec/config",
                Value::Object((0..257).map(|i| (format!("K{i}"), json!("v"))).collect()),
            ),
            "spec.config",
            "Too many",
        ),
        // WardService: rules across fields.
        c(
            "ingress on confidential",
            with(
                ws("spec/classification", json!("confidential")),
                "spec/ingress",
                json!({"host": "a.haiphong.gov.vn"}),
            ),
            "spec.ingress",
            "not allowed when spec.classification is confidential or secret",
        ),
        c(
            "egressCIDRs on secret",
            with(
                ws("spec/classification", json!("secret")),
                "spec/egressCIDRs",
                json!(["10.0.0.0/8"]),
            ),
            "spec.egressCIDRs",
            "not allowed when spec.classification is confidential or secret",
        ),
        c(
            "secretEnv shadows config",
            with(
                ws("spec/config", json!({"A": "1"})),
                "spec/secretEnv",
                json!([secret_env("A", "k")]),
            ),
            "spec.secretEnv",
            "also a key of spec.config",
        ),
        // WardService: list types (a map keyed by name, sets).
        c(
            "duplicate secretEnv",
            ws(
                "spec/secretEnv",
                json!([secret_env("A", "k"), secret_env("A", "j")]),
            ),
            "spec.secretEnv[1]",
            "Duplicate value",
        ),
        c(
            "secretEnv without key",
            ws(
                "spec/secretEnv",
                json!([{"name": "A", "secretKeyRef": {"name": "s"}}]),
            ),
            "spec.secretEnv[0].secretKeyRef.key",
            "Required value",
        ),
        c(
            "duplicate egressCIDRs",
            ws("spec/egressCIDRs", json!(["10.0.0.0/8", "10.0.0.0/8"])),
            "spec.egressCIDRs[1]",
            "Duplicate value",
        ),
        // WardService: CIDR forms the API server's isCIDR refuses.
        c(
            "CIDR prefix over 32",
            ws("spec/egressCIDRs", json!(["10.0.0.0/33"])),
            "spec.egressCIDRs",
            "must be a CIDR",
        ),
        c(
            "CIDR prefix with a leading zero",
            ws("spec/egressCIDRs", json!(["10.0.0.0/08"])),
            "spec.egressCIDRs[0]",
            "should match",
        ),
        c(
            "CIDR with a leading space",
            ws("spec/egressCIDRs", json!([" 10.0.0.0/8"])),
            "spec.egressCIDRs",
            "must be a CIDR",
        ),
        c(
            "CIDR with a trailing space",
            ws("spec/egressCIDRs", json!(["10.0.0.0/8 "])),
            "spec.egressCIDRs[0]",
            "should match",
        ),
        c(
            "address without a prefix",
            ws("spec/egressCIDRs", json!(["10.0.0.0"])),
            "spec.egressCIDRs[0]",
            "should match",
        ),
        c(
            "IPv4-mapped IPv6 CIDR",
            ws("spec/egressCIDRs", json!(["::ffff:10.0.0.0/104"])),
            "spec.egressCIDRs",
            "must be a CIDR",
        ),
        // WardService: unknown fields, whatever their value.
        c(
            "unknown field set to false",
            ws("spec/replica", json!(false)),
            "spec.replica",
            "unknown field",
        ),
        c(
            "unknown field set to \"\"",
            ws("spec/storage", json!({"size": "1Gi", "mountpath": ""})),
            "spec.storage.mountpath",
            "unknown field",
        ),
        c(
            "unknown field set to {}",
            ws("spec/foo", json!({})),
            "spec.foo",
            "unknown field",
        ),
        c(
            "autoscaling field under its old name",
            ws(
                "spec/autoscaling",
                json!({"minReplicas": 1, "maxReplicas": 3, "targetCpuUtilizationPercentage": 70}),
            ),
            "spec.autoscaling.targetCpuUtilizationPercentage",
            "unknown field",
        ),
        // WardService: YAML typing (`code: 11311` is a number).
        c(
            "ward code as a number",
            ws("spec/ward/code", json!(11311)),
            "spec.ward.code",
            "must be of type string",
        ),
        c(
            "config value as a number",
            ws("spec/config", json!({"MAX_UPLOAD_MB": 20})),
            "spec.config.MAX_UPLOAD_MB",
            "must be of type string",
        ),
        // DataConnector.
        c(
            "sync without schedule",
            dc("spec/mode", json!("sync")),
            "spec.schedule",
            "required when spec.mode is sync",
        ),
        c(
            "proxy with schedule",
            dc("spec/schedule", json!("0 2 * * *")),
            "spec.schedule",
            "not allowed when spec.mode is proxy",
        ),
        c(
            "schedule with four fields",
            with(
                dc("spec/mode", json!("sync")),
                "spec/schedule",
                json!("0 2 * *"),
            ),
            "spec.schedule",
            "exactly 5 fields",
        ),
        c(
            "endpoint not http",
            dc("spec/source/endpoint", json!("ftp://dancu")),
            "spec.source.endpoint",
            "http:// or https:// URL",
        ),
        c(
            "unknown source kind",
            dc("spec/source/kind", json!("weather")),
            "spec.source.kind",
            "Unsupported value",
        ),
        c(
            "no datasets",
            dc("spec/datasets", json!([])),
            "spec.datasets",
            "at least 1 items",
        ),
        c(
            "dataset with spaces",
            dc("spec/datasets", json!(["Công Dân"])),
            "spec.datasets",
            "dataset name",
        ),
        c(
            "duplicate datasets",
            dc("spec/datasets", json!(["cong-dan", "cong-dan"])),
            "spec.datasets[1]",
            "Duplicate value",
        ),
        c(
            "duplicate source egressCIDRs",
            dc(
                "spec/source/egressCIDRs",
                json!(["10.1.0.0/16", "10.1.0.0/16"]),
            ),
            "spec.source.egressCIDRs[1]",
            "Duplicate value",
        ),
        c(
            "connector without credentials",
            dc("spec/credentialsSecretRef", Value::Null),
            "spec.credentialsSecretRef",
            "Required value",
        ),
        c(
            "connector name starting with a digit",
            dc("metadata/name", json!("1-dan-cu")),
            "metadata.name",
            "start with a lowercase letter",
        ),
        c(
            "mTLS without a client certificate",
            dc("spec/auth", json!({"type": "mTLS"})),
            "spec.source.tls.clientCertSecretRef",
            "required when spec.auth.type is mTLS",
        ),
        c(
            "OAuth2 without a token URL",
            dc("spec/auth", json!({"type": "oauth2ClientCredentials"})),
            "spec.auth.tokenURL",
            "required when spec.auth.type is oauth2ClientCredentials",
        ),
        c(
            "token URL without OAuth2",
            dc(
                "spec/auth",
                json!({"type": "basic", "tokenURL": "https://sso.haiphong.gov.vn/token"}),
            ),
            "spec.auth.tokenURL",
            "allowed only when spec.auth.type is oauth2ClientCredentials",
        ),
        c(
            "API key header with a space",
            dc(
                "spec/auth",
                json!({"type": "apiKey", "header": "X API Key"}),
            ),
            "spec.auth.header",
            "must be an HTTP header name",
        ),
        c(
            "header without apiKey",
            dc("spec/auth", json!({"header": "X-API-Key"})),
            "spec.auth.header",
            "allowed only when spec.auth.type is apiKey",
        ),
        c(
            "unknown auth type",
            dc("spec/auth", json!({"type": "kerberos"})),
            "spec.auth.type",
            "Unsupported value",
        ),
        // BackupPolicy.
        c(
            "two targets",
            bp("spec/target/selector", json!({"matchLabels": {"a": "b"}})),
            "spec.target",
            "exactly one of spec.target.wardServiceRef or spec.target.selector",
        ),
        c(
            "no target",
            bp("spec/target", json!({})),
            "spec.target",
            "exactly one of",
        ),
        c(
            "two destinations",
            bp("spec/destination/s3", s3.clone()),
            "spec.destination",
            "exactly one of spec.destination.s3 or spec.destination.pvc",
        ),
        c(
            "classified without encryption",
            bp("spec/classification", json!("confidential")),
            "spec.encryption",
            "required when spec.classification is confidential or secret",
        ),
        c(
            "retention all zero",
            bp("spec/retention", json!({"keepLast": 0})),
            "spec.retention",
            "spec.retention: at least one of keepLast, keepDaily, keepWeekly, keepMonthly must be greater than 0",
        ),
        c(
            "negative retention",
            bp("spec/retention", json!({"keepLast": -1, "keepDaily": 3})),
            "spec.retention.keepLast",
            "greater than or equal to 0",
        ),
        c(
            "macro schedule",
            bp("spec/schedule", json!("@daily")),
            "spec.schedule",
            "exactly 5 fields",
        ),
        c(
            "time zone with a space",
            bp("spec/timeZone", json!("Asia Saigon")),
            "spec.timeZone",
            "IANA time zone",
        ),
        c(
            "bucket name invalid",
            bp(
                "spec/destination",
                json!({"s3": with(s3, "bucket", json!("A"))}),
            ),
            "spec.destination.s3.bucket",
            "at least 3 chars long",
        ),
        c(
            "policy name too long",
            bp("metadata/name", json!("b".repeat(31))),
            "metadata.name",
            "must be at most 30 characters",
        ),
        c(
            "policy name starting with a digit",
            bp("metadata/name", json!("7-ngay")),
            "metadata.name",
            "start with a lowercase letter",
        ),
    ]
}

/// Every valid case, all three kinds: the bases, and values near the rules.
pub fn valid() -> Vec<Valid> {
    let v = |name, doc| Valid { name, doc };
    vec![
        v("WardService base", ward_service()),
        v("DataConnector base", data_connector()),
        v("BackupPolicy base", backup_policy()),
        v(
            "Vietnamese probe path of 150 characters (270 bytes)",
            ws(
                "spec/probes",
                json!({"readiness": {"path": long_vietnamese_path()}}),
            ),
        ),
        v(
            "resources as quantities and integers, a request at its limit",
            ws(
                "spec/resources",
                json!({"requests": {"cpu": "500m", "memory": 268435456},
                       "limits": {"cpu": "500m", "memory": "1Gi"}}),
            ),
        ),
        v(
            "config key that only mentions a credential",
            ws("spec/config", json!({"PASSWORD_HINT": "see the runbook"})),
        ),
        v(
            "config value of 4096 Vietnamese characters (8192 bytes)",
            ws("spec/config", json!({"A": "đ".repeat(4096)})),
        ),
        v(
            "CIDR with host bits set",
            ws("spec/egressCIDRs", json!(["10.0.0.1/8"])),
        ),
        v(
            "IPv6 CIDR",
            ws("spec/egressCIDRs", json!(["2001:db8::/32"])),
        ),
        v(
            "ingress host with a 70-character label",
            ws(
                "spec/ingress",
                json!({"host": format!("{}.haiphong.gov.vn", "a".repeat(70))}),
            ),
        ),
        v(
            "autoscaling with targetCPUUtilizationPercentage",
            ws(
                "spec/autoscaling",
                json!({"minReplicas": 2, "maxReplicas": 4, "targetCPUUtilizationPercentage": 70}),
            ),
        ),
        v(
            "secretEnv with distinct names",
            ws(
                "spec/secretEnv",
                json!([
                    {"name": "DB_PASSWORD", "secretKeyRef": {"name": "db", "key": "password"}},
                    {"name": "API_TOKEN", "secretKeyRef": {"name": "db", "key": "token"}},
                ]),
            ),
        ),
        v(
            "name of 40 characters",
            ws("metadata/name", json!(format!("a{}", "b".repeat(39)))),
        ),
        v(
            "sync connector with a schedule and a time zone",
            with(
                with(
                    dc("spec/mode", json!("sync")),
                    "spec/schedule",
                    json!("0 2 * * *"),
                ),
                "spec/timeZone",
                json!("Asia/Ho_Chi_Minh"),
            ),
        ),
        v(
            "connector egress to an IPv6 CIDR",
            dc("spec/source/egressCIDRs", json!(["2001:db8:1::/48"])),
        ),
        v(
            "connector with mTLS and its client certificate",
            with(
                dc("spec/auth", json!({"type": "mTLS"})),
                "spec/source/tls",
                json!({"clientCertSecretRef": {"name": "dan-cu-client"}}),
            ),
        ),
        v(
            "connector with OAuth2 client credentials and scopes",
            dc(
                "spec/auth",
                json!({"type": "oauth2ClientCredentials", "tokenURL": "https://sso.haiphong.gov.vn/token", "scopes": ["dancu.read", "hokhau:read"], "clientAuth": "post"}),
            ),
        ),
        v(
            "connector with an API key in a custom header",
            dc(
                "spec/auth",
                json!({"type": "apiKey", "header": "X-Api-Key_v2"}),
            ),
        ),
        v(
            "policy with a selector and an S3 destination",
            with(
                bp(
                    "spec/target",
                    json!({"selector": {"matchLabels": {"wardops.io/ward": "11311"}}}),
                ),
                "spec/destination",
                json!({"s3": {"endpoint": "https://s3.haiphong.gov.vn", "bucket": "ward-backups", "credentialsSecretRef": {"name": "s3"}}}),
            ),
        ),
        v(
            "policy name of 30 characters",
            bp("metadata/name", json!(format!("b{}", "7".repeat(29)))),
        ),
    ]
}
