//! CRD tests. The first needs no cluster; the rest run against the local
//! control plane (`make test` starts it).

use serde_json::{Value, json};
use wardops_tests::{kubectl, kubectl_ok, repo_root};

#[test]
fn generated_crd_files_are_current() {
    let root = repo_root();
    for dir in ["crds", "charts/wardops/crds"] {
        for (file, want) in wardops::api::crd_files().unwrap() {
            let path = root.join(dir).join(&file);
            let have = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                have == want,
                "{} is not what `wardops crds` generates; run `make crds`",
                path.display()
            );
        }
    }
}

#[test]
fn crds_install_and_become_established() {
    let crds = repo_root().join("crds");
    kubectl_ok(
        &["apply", "--server-side", "-f", crds.to_str().unwrap()],
        None,
    );
    for crd in wardops::api::crds() {
        let name = crd.metadata.name.unwrap();
        kubectl_ok(
            &[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                &format!("crd/{name}"),
            ],
            None,
        );
    }
    let listed = kubectl_ok(
        &["api-resources", "--api-group=wardops.io", "-o", "name"],
        None,
    );
    for plural in ["wardservices", "dataconnectors", "backuppolicies"] {
        assert!(
            listed.contains(plural),
            "{plural} missing from api-resources:\n{listed}"
        );
    }
    // The category lists every kind; short names resolve.
    for short in ["ws", "dc", "bp", "wardops"] {
        let r = kubectl(&["get", short, "-A"], None);
        assert!(r.success, "kubectl get {short}: {}", r.stderr);
    }
}

fn sample_docs() -> Vec<(String, Value)> {
    let dir = repo_root().join("deploy/samples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(doc).unwrap();
            if !v.is_null() {
                docs.push((f.file_name().unwrap().to_string_lossy().into_owned(), v));
            }
        }
    }
    docs
}

/// True when every field of `want` is in `have` with the same value.
fn contained(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => w
            .iter()
            .all(|(k, v)| h.get(k).is_some_and(|hv| contained(v, hv))),
        (Value::Array(w), Value::Array(h)) => {
            w.len() == h.len() && w.iter().zip(h).all(|(a, b)| contained(a, b))
        }
        _ => want == have,
    }
}

#[test]
fn samples_pass_server_side_dry_run_and_round_trip() {
    let docs = sample_docs();
    let kinds: Vec<&str> = docs
        .iter()
        .filter_map(|(_, d)| d["kind"].as_str())
        .collect();
    for kind in ["WardService", "DataConnector", "BackupPolicy"] {
        assert!(kinds.contains(&kind), "no {kind} sample");
    }
    // Namespaces first, so that namespaced samples can be dry-run in them.
    let samples = repo_root().join("deploy/samples");
    kubectl_ok(
        &[
            "apply",
            "--server-side",
            "-f",
            samples.join("00-namespaces.yaml").to_str().unwrap(),
        ],
        None,
    );
    for (file, doc) in docs.iter().filter(|(_, d)| {
        d["apiVersion"]
            .as_str()
            .is_some_and(|a| a.starts_with("wardops.io/"))
    }) {
        let input = serde_json::to_string(doc).unwrap();
        let out = kubectl_ok(
            &[
                "apply",
                "--server-side",
                "--dry-run=server",
                "--field-manager=sample-test",
                "-o",
                "json",
                "-f",
                "-",
            ],
            Some(&input),
        );
        let back: Value = serde_json::from_str(&out).unwrap();
        assert!(
            contained(&doc["spec"], &back["spec"]),
            "{file}: the API server changed the sample's spec:\nsent {}\ngot  {}",
            doc["spec"],
            back["spec"]
        );
        assert_eq!(doc["metadata"]["name"], back["metadata"]["name"], "{file}");
    }
    // Vietnamese diacritics survive the round trip.
    let ws = docs
        .iter()
        .find(|(_, d)| {
            d["kind"] == "WardService" && d["metadata"]["namespace"] == "phuong-hong-bang"
        })
        .map(|(_, d)| d.clone())
        .unwrap();
    let out = kubectl_ok(
        &[
            "apply",
            "--server-side",
            "--dry-run=server",
            "-o",
            "json",
            "-f",
            "-",
        ],
        Some(&ws.to_string()),
    );
    let back: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(back["spec"]["ward"]["name"], "Phường Hồng Bàng");
    assert_eq!(
        back["spec"]["config"]["TIEU_DE"],
        "Bộ phận một cửa — Phường Hồng Bàng"
    );
}

fn ward_service() -> Value {
    json!({
        "apiVersion": "wardops.io/v1alpha1", "kind": "WardService",
        "metadata": {"name": "invalid-test", "namespace": "default"},
        "spec": {
            "ward": {"code": "11311", "name": "Phường Hồng Bàng", "tier": "ward"},
            "image": "registry.haiphong.gov.vn/one-stop/backend:2.4.1",
        }
    })
}

fn data_connector() -> Value {
    json!({
        "apiVersion": "wardops.io/v1alpha1", "kind": "DataConnector",
        "metadata": {"name": "invalid-test", "namespace": "default"},
        "spec": {
            "wardServiceRef": {"name": "one-stop"},
            "source": {"kind": "population", "endpoint": "https://dancu.haiphong.gov.vn/api"},
            "credentialsSecretRef": {"name": "dan-cu"},
            "datasets": ["cong-dan"],
        }
    })
}

fn backup_policy() -> Value {
    json!({
        "apiVersion": "wardops.io/v1alpha1", "kind": "BackupPolicy",
        "metadata": {"name": "invalid-test", "namespace": "default"},
        "spec": {
            "target": {"wardServiceRef": {"name": "one-stop"}},
            "schedule": "30 1 * * *",
            "retention": {"keepDaily": 7},
            "destination": {"pvc": {"claimName": "backups"}},
        }
    })
}

/// Sets `value` at a `/`-separated path (creating objects on the way); `null` removes.
fn with(mut doc: Value, path: &str, value: Value) -> Value {
    let parts: Vec<&str> = path.split('/').collect();
    let mut cur = &mut doc;
    for p in &parts[..parts.len() - 1] {
        cur = cur
            .as_object_mut()
            .unwrap()
            .entry(p.to_string())
            .or_insert(json!({}));
    }
    let last = parts[parts.len() - 1];
    if value.is_null() {
        cur.as_object_mut().unwrap().remove(last);
    } else {
        cur[last] = value;
    }
    doc
}

#[test]
fn invalid_manifests_are_rejected_with_field_and_reason() {
    let ws = ward_service;
    let dc = data_connector;
    let bp = backup_policy;
    let cases: Vec<(&str, Value, &[&str])> = vec![
        (
            "replicas too high",
            with(ws(), "spec/replicas", json!(101)),
            &["spec.replicas", "less than or equal to 100"],
        ),
        (
            "replicas negative",
            with(ws(), "spec/replicas", json!(-1)),
            &["spec.replicas", "greater than or equal to 0"],
        ),
        (
            "unknown classification",
            with(ws(), "spec/classification", json!("topsecret")),
            &["spec.classification", "Unsupported value"],
        ),
        (
            "ingress on confidential",
            with(
                with(ws(), "spec/classification", json!("confidential")),
                "spec/ingress",
                json!({"host": "a.haiphong.gov.vn"}),
            ),
            &[
                "spec.ingress",
                "not allowed when spec.classification is confidential or secret",
            ],
        ),
        (
            "egressCIDRs on secret",
            with(
                with(ws(), "spec/classification", json!("secret")),
                "spec/egressCIDRs",
                json!(["10.0.0.0/8"]),
            ),
            &[
                "spec.egressCIDRs",
                "not allowed when spec.classification is confidential or secret",
            ],
        ),
        (
            "ward code with letters",
            with(ws(), "spec/ward/code", json!("11a11")),
            &["spec.ward.code", "should match"],
        ),
        (
            "ward missing",
            with(ws(), "spec/ward", Value::Null),
            &["spec.ward", "Required value"],
        ),
        (
            "image missing",
            with(ws(), "spec/image", Value::Null),
            &["spec.image", "Required value"],
        ),
        (
            "image with a space",
            with(ws(), "spec/image", json!("nginx latest")),
            &["spec.image", "must not contain spaces"],
        ),
        (
            "unknown tier",
            with(ws(), "spec/ward/tier", json!("province")),
            &["spec.ward.tier", "Unsupported value"],
        ),
        (
            "port zero",
            with(ws(), "spec/port", json!(0)),
            &["spec.port", "greater than or equal to 1"],
        ),
        (
            "name too long",
            with(ws(), "metadata/name", json!("a".repeat(41))),
            &["metadata.name: must be at most 40 characters"],
        ),
        (
            "config key not an env name",
            with(ws(), "spec/config", json!({"1BAD": "x"})),
            &["spec.config", "environment variable name"],
        ),
        (
            "duplicate secretEnv",
            with(
                ws(),
                "spec/secretEnv",
                json!([{"name": "A", "secretKeyRef": {"name": "s", "key": "k"}}, {"name": "A", "secretKeyRef": {"name": "s", "key": "j"}}]),
            ),
            &["spec.secretEnv", "names must be unique"],
        ),
        (
            "secretEnv shadows config",
            with(
                with(ws(), "spec/config", json!({"A": "1"})),
                "spec/secretEnv",
                json!([{"name": "A", "secretKeyRef": {"name": "s", "key": "k"}}]),
            ),
            &["spec.secretEnv", "also a key of spec.config"],
        ),
        (
            "secretEnv without key",
            with(
                ws(),
                "spec/secretEnv",
                json!([{"name": "A", "secretKeyRef": {"name": "s"}}]),
            ),
            &["spec.secretEnv[0].secretKeyRef.key", "Required value"],
        ),
        (
            "storage size not a quantity",
            with(ws(), "spec/storage", json!({"size": "lots"})),
            &["spec.storage.size", "positive quantity"],
        ),
        (
            "storage size zero",
            with(ws(), "spec/storage", json!({"size": "0"})),
            &["spec.storage.size", "positive quantity"],
        ),
        (
            "unknown reclaim policy",
            with(
                ws(),
                "spec/storage",
                json!({"size": "1Gi", "reclaimPolicy": "Keep"}),
            ),
            &["spec.storage.reclaimPolicy", "Unsupported value"],
        ),
        (
            "autoscaling max below min",
            with(
                ws(),
                "spec/autoscaling",
                json!({"minReplicas": 5, "maxReplicas": 2}),
            ),
            &[
                "spec.autoscaling.maxReplicas",
                "greater than or equal to spec.autoscaling.minReplicas",
            ],
        ),
        (
            "bad CIDR",
            with(ws(), "spec/egressCIDRs", json!(["10.0.0.0/33"])),
            &["spec.egressCIDRs", "CIDR"],
        ),
        (
            "bad ingress host",
            with(ws(), "spec/ingress", json!({"host": "Bad_Host"})),
            &["spec.ingress.host", "should match"],
        ),
        (
            "sync without schedule",
            with(dc(), "spec/mode", json!("sync")),
            &["spec.schedule", "required when spec.mode is sync"],
        ),
        (
            "proxy with schedule",
            with(dc(), "spec/schedule", json!("0 2 * * *")),
            &["spec.schedule", "not allowed when spec.mode is proxy"],
        ),
        (
            "schedule with four fields",
            with(
                with(dc(), "spec/mode", json!("sync")),
                "spec/schedule",
                json!("0 2 * *"),
            ),
            &["spec.schedule", "exactly 5 fields"],
        ),
        (
            "endpoint not http",
            with(dc(), "spec/source/endpoint", json!("ftp://dancu")),
            &["spec.source.endpoint", "http:// or https:// URL"],
        ),
        (
            "unknown source kind",
            with(dc(), "spec/source/kind", json!("weather")),
            &["spec.source.kind", "Unsupported value"],
        ),
        (
            "no datasets",
            with(dc(), "spec/datasets", json!([])),
            &["spec.datasets", "at least 1 items"],
        ),
        (
            "dataset with spaces",
            with(dc(), "spec/datasets", json!(["Công Dân"])),
            &["spec.datasets", "dataset name"],
        ),
        (
            "connector without credentials",
            with(dc(), "spec/credentialsSecretRef", Value::Null),
            &["spec.credentialsSecretRef", "Required value"],
        ),
        (
            "two targets",
            with(
                bp(),
                "spec/target/selector",
                json!({"matchLabels": {"a": "b"}}),
            ),
            &[
                "spec.target",
                "exactly one of spec.target.wardServiceRef or spec.target.selector",
            ],
        ),
        (
            "no target",
            with(bp(), "spec/target", json!({})),
            &["spec.target", "exactly one of"],
        ),
        (
            "two destinations",
            with(
                bp(),
                "spec/destination/s3",
                json!({"endpoint": "https://s3.haiphong.gov.vn", "bucket": "ward-backups", "credentialsSecretRef": {"name": "s3"}}),
            ),
            &[
                "spec.destination",
                "exactly one of spec.destination.s3 or spec.destination.pvc",
            ],
        ),
        (
            "classified without encryption",
            with(bp(), "spec/classification", json!("confidential")),
            &[
                "spec.encryption",
                "required when spec.classification is confidential or secret",
            ],
        ),
        (
            "retention all zero",
            with(bp(), "spec/retention", json!({"keepLast": 0})),
            &["spec.retention", "at least one of keepLast"],
        ),
        (
            "negative retention",
            with(
                bp(),
                "spec/retention",
                json!({"keepLast": -1, "keepDaily": 3}),
            ),
            &["spec.retention.keepLast", "greater than or equal to 0"],
        ),
        (
            "macro schedule",
            with(bp(), "spec/schedule", json!("@daily")),
            &["spec.schedule", "exactly 5 fields"],
        ),
        (
            "time zone with a space",
            with(bp(), "spec/timeZone", json!("Asia Saigon")),
            &["spec.timeZone", "IANA time zone"],
        ),
        (
            "bucket name invalid",
            with(
                with(bp(), "spec/destination", json!({})),
                "spec/destination/s3",
                json!({"endpoint": "https://s3.haiphong.gov.vn", "bucket": "A", "credentialsSecretRef": {"name": "s3"}}),
            ),
            &["spec.destination.s3.bucket"],
        ),
        (
            "policy name too long",
            with(bp(), "metadata/name", json!("b".repeat(31))),
            &["metadata.name: must be at most 30 characters"],
        ),
    ];
    assert!(cases.len() >= 25);
    let mut failures = Vec::new();
    for (what, doc, expected) in &cases {
        let r = kubectl(
            &["apply", "--server-side", "--dry-run=server", "-f", "-"],
            Some(&doc.to_string()),
        );
        if r.success {
            failures.push(format!("{what}: accepted, expected a rejection"));
            continue;
        }
        for e in *expected {
            if !r.stderr.contains(e) {
                failures.push(format!(
                    "{what}: error does not mention `{e}`:\n  {}",
                    r.stderr.trim()
                ));
            }
        }
    }
    // The valid bases are accepted, so each rejection is the mutation's doing.
    for base in [ws(), dc(), bp()] {
        let r = kubectl(
            &["apply", "--server-side", "--dry-run=server", "-f", "-"],
            Some(&base.to_string()),
        );
        assert!(r.success, "valid base rejected: {}", r.stderr);
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Every property in `schema` (recursively) has a description.
fn undocumented(path: &str, schema: &Value, out: &mut Vec<String>) {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            let p = format!("{path}.{k}");
            if v.get("description")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                out.push(p.clone());
            }
            undocumented(&p, v, out);
        }
    }
    if let Some(items) = schema.get("items") {
        undocumented(&format!("{path}[]"), items, out);
    }
}

#[test]
fn kubectl_explain_describes_every_field() {
    for (resource, fields) in [
        (
            "wardservice.spec",
            &["ward", "classification", "secretEnv", "storage", "paused"][..],
        ),
        (
            "dataconnector.spec",
            &["wardServiceRef", "source", "mode", "datasets"][..],
        ),
        (
            "backuppolicy.spec",
            &["target", "retention", "destination", "encryption"][..],
        ),
    ] {
        let out = kubectl_ok(&["explain", resource], None);
        for f in fields {
            assert!(
                out.contains(f),
                "`kubectl explain {resource}` lacks {f}:\n{out}"
            );
        }
        assert!(
            !out.contains("<empty>"),
            "`kubectl explain {resource}` has an undocumented field:\n{out}"
        );
        let rec = kubectl_ok(&["explain", resource, "--recursive"], None);
        assert!(rec.lines().count() > 10, "{rec}");
    }
    // Every field of every CRD schema has a description (what `kubectl explain` shows).
    let mut missing = Vec::new();
    for crd in wardops::api::crds() {
        let v = serde_json::to_value(&crd).unwrap();
        let schema = &v["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        undocumented(
            crd.spec.names.kind.as_str(),
            &schema["properties"]["spec"],
            &mut missing,
        );
        undocumented(
            crd.spec.names.kind.as_str(),
            &schema["properties"]["status"],
            &mut missing,
        );
    }
    // `resources` embeds Kubernetes' own ResourceRequirements, documented upstream.
    missing.retain(|p| !p.contains(".resources.claims[]"));
    assert!(
        missing.is_empty(),
        "fields without a description:\n{}",
        missing.join("\n")
    );
}
