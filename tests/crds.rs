//! CRD tests. The first needs no cluster; the rest run against the local
//! control plane (`make test` starts it). The parity test holds `wardops
//! render` and the API server to the same verdict on every case of
//! `wardops_tests::cases`.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;
use wardops::render::RenderError;
use wardops::runtime::settings::WorkloadSettings;
use wardops_tests::cases::{self, Invalid, Valid};
use wardops_tests::{install_crds, kubectl, kubectl_ok, repo_root, yaml};

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
    install_crds();
    let listed = kubectl_ok(
        &["api-resources", "--api-group=wardops.io", "-o", "name"],
        None,
    );
    let crds = wardops::api::crds();
    for crd in &crds {
        let resource = format!("{}.{}", crd.spec.names.plural, crd.spec.group);
        assert!(
            listed.lines().any(|l| l == resource),
            "{resource} missing from api-resources:\n{listed}"
        );
    }
    // Every kind has short names, and a category lists every kind; they resolve.
    let mut shared: Option<BTreeSet<String>> = None;
    for crd in &crds {
        let names = &crd.spec.names;
        let categories: BTreeSet<String> = names.categories.iter().flatten().cloned().collect();
        shared = Some(match shared {
            None => categories,
            Some(s) => s.intersection(&categories).cloned().collect(),
        });
        let short = names.short_names.clone().unwrap_or_default();
        assert!(!short.is_empty(), "{} has no short name", names.kind);
        for name in &short {
            let r = kubectl(&["get", name, "-A"], None);
            assert!(r.success, "kubectl get {name}: {}", r.stderr);
        }
    }
    let shared = shared.unwrap_or_default();
    assert!(!shared.is_empty(), "no category lists every kind");
    for category in &shared {
        let r = kubectl(&["get", category, "-A"], None);
        assert!(r.success, "kubectl get {category}: {}", r.stderr);
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
        let file = f.file_name().unwrap().to_string_lossy().into_owned();
        docs.extend(
            yaml::docs::<Value>(&text)
                .into_iter()
                .map(|d| (file.clone(), d)),
        );
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
    for kind in wardops::api::validation::kinds() {
        assert!(kinds.contains(&kind.as_str()), "no {kind} sample");
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

/// The API server's answer to a server-side dry run of `doc`: `Ok` or its stderr.
fn server_dry_run(verb: &[&str], doc: &Value) -> Result<(), String> {
    let mut args = verb.to_vec();
    args.extend(["--dry-run=server", "-f", "-"]);
    let r = kubectl(&args, Some(&doc.to_string()));
    if r.success {
        Ok(())
    } else {
        Err(r.stderr.trim().to_string())
    }
}

/// `wardops render` of `doc` as YAML (the typing the API server sees in a file).
fn render(doc: &Value) -> Result<String, RenderError> {
    let yaml = serde_yaml::to_string(doc).expect("a JSON value is YAML");
    wardops::render::render(&yaml, &WorkloadSettings::default(), None)
}

/// Create is where the API server names every field (`spec.secretEnv[1]`);
/// server-side apply refuses the same manifests, naming a duplicate list-map
/// key at the list (`.spec.secretEnv`), an unknown field as "field not
/// declared in schema" and a wrong type as "expected string".
const CREATE: &[&str] = &["create"];
const APPLY: &[&str] = &["apply", "--server-side"];

/// True when an error message names `field` itself (`spec.replicas: ...`,
/// `unknown field "spec.foo"`), not only a field under it or a list it is in.
fn names(error: &str, field: &str) -> bool {
    error.contains(&format!("{field}: ")) || error.contains(&format!("\"{field}\""))
}

/// Why `case` is not refused as expected by the API server and by render.
fn invalid_case_failures(case: &Invalid) -> Vec<String> {
    let Invalid {
        name,
        doc,
        field,
        message,
    } = case;
    let mut failures = Vec::new();
    match server_dry_run(CREATE, doc) {
        Ok(()) => failures.push(format!("{name}: the API server accepts it on create")),
        Err(e) if !(names(&e, field) && e.contains(message)) => failures.push(format!(
            "{name}: the API server's error on create does not name `{field}` with `{message}`:\n  {e}"
        )),
        Err(_) => {}
    }
    // A duplicate's index is lost on apply: `.spec.secretEnv: duplicate entries`.
    let list = field
        .strip_suffix(']')
        .and_then(|f| f.rsplit_once('['))
        .map_or(*field, |(list, _)| list);
    match server_dry_run(APPLY, doc) {
        Ok(()) => failures.push(format!(
            "{name}: the API server accepts it on server-side apply"
        )),
        Err(e) if !(names(&e, field) || names(&e, list)) => failures.push(format!(
            "{name}: the API server's error on server-side apply does not name `{field}`:\n  {e}"
        )),
        Err(_) => {}
    }
    match render(doc) {
        Ok(_) => failures.push(format!("{name}: render accepts it")),
        Err(RenderError::Invalid { errors, .. }) => {
            let named = errors
                .iter()
                .any(|e| e.field == *field || (e.field.is_empty() && names(&e.message, field)));
            if !named {
                failures.push(format!(
                    "{name}: render does not name `{field}`: {errors:?}"
                ));
            }
        }
        Err(other) => failures.push(format!("{name}: render fails otherwise: {other}")),
    }
    failures
}

/// Why `case` is not accepted by the API server and by render.
fn valid_case_failures(case: &Valid) -> Vec<String> {
    let Valid { name, doc } = case;
    let mut failures = Vec::new();
    for verb in [CREATE, APPLY] {
        if let Err(e) = server_dry_run(verb, doc) {
            failures.push(format!(
                "{name}: the API server refuses it ({}):\n  {e}",
                verb[0]
            ));
        }
    }
    if let Err(e) = render(doc) {
        failures.push(format!("{name}: render refuses it: {e}"));
    }
    failures
}

#[test]
fn render_and_the_api_server_agree_on_every_case() {
    install_crds();
    let invalid = cases::invalid();
    let valid = cases::valid();
    let checks: Vec<Box<dyn Fn() -> Vec<String> + Sync + '_>> = invalid
        .iter()
        .map(|c| Box::new(move || invalid_case_failures(c)) as Box<dyn Fn() -> _ + Sync>)
        .chain(
            valid
                .iter()
                .map(|c| Box::new(move || valid_case_failures(c)) as _),
        )
        .collect();
    // A few kubectl processes at a time: the cases are independent.
    let next = AtomicUsize::new(0);
    let failures: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut failures = Vec::new();
                    while let Some(check) = checks.get(next.fetch_add(1, Ordering::Relaxed)) {
                        failures.extend(check());
                    }
                    failures
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a worker panicked"))
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} disagreements over {} invalid and {} valid cases:\n{}",
        failures.len(),
        invalid.len(),
        valid.len(),
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
