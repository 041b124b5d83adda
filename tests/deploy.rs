//! `deploy/` tests: the kustomize base agrees with the Helm chart's defaults (RBAC
//! rules, the operator's settings and security context), each overlay renders the
//! settings of its environment, and each overlay applies to the real API server
//! with a server-side dry run. The example pipeline is checked for coherence.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_yaml::Value;
use wardops::api::Classification;
use wardops::runtime::settings::{parse_node_selector, parse_tolerations};
use wardops_tests::facts;
use wardops_tests::yaml::{self, container, env, kind_of, name_of, only, pod_spec, strings};
use wardops_tests::{
    TestNamespace, client, kubectl, kubectl_ok, repo_root, run, tool, unique_name,
};

const OVERLAYS: [&str; 3] = ["dev", "staging", "prod"];

/// `kubectl kustomize deploy/DIR`.
fn kustomize(dir: &str) -> Vec<Value> {
    let path = repo_root().join("deploy").join(dir);
    yaml::docs(&kubectl_ok(&["kustomize", path.to_str().unwrap()], None))
}

/// The chart's default render, as release `wardops` in `wardops-system`.
fn chart_defaults() -> Vec<Value> {
    let chart = repo_root().join("charts/wardops");
    let mut cmd = tool("helm");
    cmd.args([
        "template",
        "wardops",
        chart.to_str().unwrap(),
        "--namespace",
        "wardops-system",
    ]);
    let r = run(cmd, None);
    assert!(r.success, "helm template failed:\n{}", r.stderr);
    yaml::docs(&r.stdout)
}

fn set(v: &Value) -> BTreeSet<String> {
    strings(v).into_iter().collect()
}

/// A rule with its lists as sets, so that order does not matter.
type Rule = (
    BTreeSet<String>,
    BTreeSet<String>,
    BTreeSet<String>,
    BTreeSet<String>,
);

/// `kind/namespace/name` of every Role and ClusterRole -> its rules.
fn rbac_rules(docs: &[Value]) -> BTreeMap<String, BTreeSet<Rule>> {
    docs.iter()
        .filter(|d| matches!(kind_of(d), "ClusterRole" | "Role"))
        .map(|d| {
            let key = format!(
                "{}/{}/{}",
                kind_of(d),
                d["metadata"]["namespace"].as_str().unwrap_or(""),
                name_of(d)
            );
            let rules = d["rules"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        set(&r["apiGroups"]),
                        set(&r["resources"]),
                        set(&r["resourceNames"]),
                        set(&r["verbs"]),
                    )
                })
                .collect();
            (key, rules)
        })
        .collect()
}

/// `kind/namespace/name` of every binding -> (roleRef, subjects).
fn rbac_bindings(docs: &[Value]) -> BTreeMap<String, String> {
    docs.iter()
        .filter(|d| matches!(kind_of(d), "ClusterRoleBinding" | "RoleBinding"))
        .map(|d| {
            let key = format!(
                "{}/{}/{}",
                kind_of(d),
                d["metadata"]["namespace"].as_str().unwrap_or(""),
                name_of(d)
            );
            let value = format!(
                "{} {}",
                serde_json::to_string(&d["roleRef"]).unwrap(),
                serde_json::to_string(&d["subjects"]).unwrap()
            );
            (key, value)
        })
        .collect()
}

// ---- without a cluster ------------------------------------------------------------

#[test]
fn base_crds_are_current() {
    let dir = repo_root().join("deploy/base/crds");
    for (file, want) in wardops::api::crd_files().unwrap() {
        let path = dir.join(&file);
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "{} is not what `wardops crds` generates; run `cargo run -q -p wardops -- crds --write-dir deploy/base/crds` (make crds)",
            path.display()
        );
    }
}

#[test]
fn base_rbac_has_the_same_rules_as_the_chart_defaults() {
    let base = kustomize("base");
    let chart = chart_defaults();
    let (b, c) = (rbac_rules(&base), rbac_rules(&chart));
    assert_eq!(
        b.keys().collect::<Vec<_>>(),
        c.keys().collect::<Vec<_>>(),
        "the base and the chart define different roles"
    );
    for (role, rules) in &c {
        assert_eq!(
            &b[role], rules,
            "{role}: the base's rules differ from the chart's"
        );
    }
    assert_eq!(
        rbac_bindings(&base),
        rbac_bindings(&chart),
        "bindings differ"
    );
    // And the rules are commented in the base too.
    let text = std::fs::read_to_string(repo_root().join("deploy/base/rbac.yaml")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("- apiGroups:") {
            assert!(
                lines[i - 1].trim_start().starts_with('#'),
                "deploy/base/rbac.yaml:{}: rule without a comment saying why",
                i + 1
            );
        }
    }
}

#[test]
fn base_operator_matches_the_chart_defaults() {
    let base = kustomize("base");
    let chart = chart_defaults();
    // The same settings; the lease namespace is the pod's own in both.
    let (mut be, mut ce) = (env(&base), env(&chart));
    assert_eq!(
        be.remove("WARDOPS_LEASE_NAMESPACE").as_deref(),
        Some(r#"{"fieldRef":{"fieldPath":"metadata.namespace"}}"#)
    );
    assert_eq!(
        ce.remove("WARDOPS_LEASE_NAMESPACE").as_deref(),
        Some("wardops-system")
    );
    assert_eq!(
        be, ce,
        "the base's settings differ from the chart's defaults"
    );
    for field in [
        "securityContext",
        "livenessProbe",
        "readinessProbe",
        "startupProbe",
        "ports",
        "resources",
    ] {
        assert_eq!(
            container(&base)[field],
            container(&chart)[field],
            "container {field} differs"
        );
    }
    for field in [
        "securityContext",
        "serviceAccountName",
        "automountServiceAccountToken",
        "terminationGracePeriodSeconds",
    ] {
        assert_eq!(
            pod_spec(&base)[field],
            pod_spec(&chart)[field],
            "pod {field} differs"
        );
    }
    assert_eq!(
        container(&base)["image"].as_str().unwrap(),
        format!("ghcr.io/wardops/wardops:{}", wardops::VERSION)
    );
    let ns = base
        .iter()
        .find(|d| kind_of(d) == "Namespace" && name_of(d) == "wardops-system")
        .unwrap();
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    let crds: BTreeSet<String> = base
        .iter()
        .filter(|d| kind_of(d) == "CustomResourceDefinition")
        .map(|d| name_of(d).to_string())
        .collect();
    assert_eq!(crds, facts::crd_names().into_iter().collect());
}

/// What each overlay must say.
struct Expected {
    replicas: i64,
    tag: &'static str,
    log_level: &'static str,
    memory_limit: &'static str,
    min_available: Option<i64>,
    isolated_selector: &'static [(&'static str, &'static str)],
    ward_namespaces: &'static [(&'static str, Classification)],
}

fn expected(overlay: &str) -> Expected {
    use Classification::*;
    match overlay {
        "dev" => Expected {
            replicas: 1,
            tag: "main",
            log_level: "wardops=debug,kube=info",
            memory_limit: "128Mi",
            min_available: None,
            isolated_selector: &[("wardops.io/pool", "isolated")],
            ward_namespaces: &[("phuong-hong-bang", Internal), ("xa-an-lao", Confidential)],
        },
        "staging" => Expected {
            replicas: 2,
            tag: wardops::VERSION,
            log_level: "info",
            memory_limit: "256Mi",
            min_available: Some(1),
            isolated_selector: &[("wardops.io/pool", "isolated-staging")],
            ward_namespaces: &[
                ("phuong-hong-bang", Internal),
                ("phuong-le-chan", Internal),
                ("xa-an-lao", Confidential),
            ],
        },
        "prod" => Expected {
            replicas: 3,
            tag: wardops::VERSION,
            log_level: "info",
            memory_limit: "512Mi",
            min_available: Some(2),
            isolated_selector: &[
                ("wardops.io/pool", "isolated"),
                ("wardops.io/security-zone", "state-secret"),
            ],
            ward_namespaces: &[
                ("phuong-hong-bang", Internal),
                ("phuong-le-chan", Internal),
                ("phuong-ngo-quyen", Internal),
                ("xa-an-lao", Confidential),
                ("dac-khu-bach-long-vi", Secret),
            ],
        },
        other => panic!("unknown overlay {other}"),
    }
}

#[test]
fn overlays_render_the_settings_of_their_environment() {
    for overlay in OVERLAYS {
        let want = expected(overlay);
        let docs = kustomize(&format!("overlays/{overlay}"));
        let deploy = only(&docs, "Deployment");
        assert_eq!(
            deploy["spec"]["replicas"], want.replicas,
            "{overlay}: replicas"
        );
        assert_eq!(
            container(&docs)["image"].as_str().unwrap(),
            format!("ghcr.io/wardops/wardops:{}", want.tag),
            "{overlay}: image"
        );
        let env = env(&docs);
        assert_eq!(
            env["WARDOPS_LOG_LEVEL"], want.log_level,
            "{overlay}: log level"
        );
        assert_eq!(
            env["WARDOPS_LEADER_ELECTION"], "true",
            "{overlay}: leader election"
        );
        assert_eq!(
            container(&docs)["resources"]["limits"]["memory"],
            want.memory_limit,
            "{overlay}: memory"
        );

        // The isolated pool settings parse as the operator parses them, and agree.
        let selector = parse_node_selector(&env["WARDOPS_ISOLATED_NODE_SELECTOR"])
            .unwrap_or_else(|e| panic!("{overlay}: WARDOPS_ISOLATED_NODE_SELECTOR: {e}"));
        let want_selector: BTreeMap<String, String> = want
            .isolated_selector
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            selector.0, want_selector,
            "{overlay}: isolated node selector"
        );
        let tolerations = parse_tolerations(&env["WARDOPS_ISOLATED_TOLERATIONS"])
            .unwrap_or_else(|e| panic!("{overlay}: WARDOPS_ISOLATED_TOLERATIONS: {e}"));
        for (key, value) in &selector.0 {
            if key == "wardops.io/pool" {
                assert!(
                    tolerations.0.iter().any(|t| t.key.as_deref() == Some(key) && t.value.as_deref() == Some(value)),
                    "{overlay}: no toleration for the pool's taint {key}={value}"
                );
            }
        }

        // A PodDisruptionBudget exactly when there is a standby, leaving room for a drain.
        let pdbs: Vec<&Value> = docs
            .iter()
            .filter(|d| kind_of(d) == "PodDisruptionBudget")
            .collect();
        match want.min_available {
            None => assert!(
                pdbs.is_empty(),
                "{overlay}: a PDB with one replica blocks drains"
            ),
            Some(min) => {
                assert_eq!(pdbs.len(), 1, "{overlay}: PDB");
                assert_eq!(pdbs[0]["spec"]["minAvailable"], min);
                assert!(
                    min < want.replicas,
                    "{overlay}: minAvailable must leave a pod to evict"
                );
                assert_eq!(
                    pdbs[0]["spec"]["selector"]["matchLabels"],
                    deploy["spec"]["selector"]["matchLabels"]
                );
            }
        }

        // Ward namespaces, classified by label, under the restricted standard.
        let namespaces: BTreeMap<&str, &Value> = docs
            .iter()
            .filter(|d| kind_of(d) == "Namespace" && name_of(d) != "wardops-system")
            .map(|d| (name_of(d), d))
            .collect();
        let names: Vec<&str> = want.ward_namespaces.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            namespaces.keys().copied().collect::<BTreeSet<_>>(),
            names.iter().copied().collect(),
            "{overlay}: ward namespaces"
        );
        for (name, class) in want.ward_namespaces {
            let labels = &namespaces[name]["metadata"]["labels"];
            let label = labels["wardops.io/classification"].as_str().unwrap_or("");
            assert_eq!(
                Classification::parse(label),
                Some(*class),
                "{overlay}: {name} classification `{label}`"
            );
            assert_eq!(
                labels["pod-security.kubernetes.io/enforce"], "restricted",
                "{overlay}: {name}"
            );
            assert!(
                namespaces[name]["metadata"]["annotations"]["wardops.io/ward-name"].is_string()
            );
        }
        // The base's RBAC is not changed by any overlay.
        assert_eq!(
            rbac_rules(&docs),
            rbac_rules(&kustomize("base")),
            "{overlay} changes RBAC"
        );
    }
}

#[test]
fn example_pipeline_tests_renders_and_applies_an_overlay() {
    let path = repo_root().join(".github/workflows/deploy.yml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let wf: Value = serde_yaml::from_str(&text).unwrap();
    let jobs = wf["jobs"].as_mapping().expect("jobs");
    let scripts: BTreeMap<String, String> = jobs
        .iter()
        .map(|(name, job)| {
            let steps = job["steps"].as_sequence().expect("steps");
            let script = steps
                .iter()
                .filter_map(|s| s["run"].as_str())
                .collect::<Vec<_>>()
                .join("\n");
            (name.as_str().unwrap().to_string(), script)
        })
        .collect();
    let all = scripts.values().cloned().collect::<Vec<_>>().join("\n");
    assert!(all.contains("cargo test"), "the pipeline runs the tests");
    assert!(
        all.contains("wardops render"),
        "the pipeline renders manifests with `wardops render`"
    );
    assert!(
        all.contains("kubectl kustomize \"deploy/overlays/$ENVIRONMENT\""),
        "the pipeline renders the chosen overlay"
    );
    assert!(
        all.contains("kubectl apply --server-side") && all.contains("--dry-run=server"),
        "the pipeline checks with a server-side dry run, then applies server-side"
    );
    // Every overlay the pipeline can choose exists.
    for overlay in OVERLAYS {
        assert!(
            text.contains(overlay),
            "the pipeline does not offer overlay {overlay}"
        );
        assert!(
            repo_root()
                .join("deploy/overlays")
                .join(overlay)
                .join("kustomization.yaml")
                .exists()
        );
    }
    // The deploy job waits for the tests, and each script is valid bash.
    let deploy_needs = format!(
        "{:?}",
        jobs.iter()
            .find(|(n, _)| n.as_str() == Some("deploy"))
            .expect("a deploy job")
            .1["needs"]
    );
    assert!(
        deploy_needs.contains("test"),
        "deploy must need the test job: {deploy_needs}"
    );
    for (job, script) in &scripts {
        let r = run(
            {
                let mut c = Command::new("bash");
                c.arg("-n")
                    .arg("-c")
                    .arg(script.replace("${{", "${_").replace("}}", "}"));
                c
            },
            None,
        );
        assert!(
            r.success,
            "job {job}: a run script is not valid bash:\n{}",
            r.stderr
        );
    }
}

// ---- on the local control plane -----------------------------------------------------

/// Renames every namespace the documents define or use to `NAME-SUFFIX`, so that
/// tests never touch the real ones; returns the new Namespace documents.
fn isolate_namespaces(docs: &mut [Value], suffix: &str) -> Vec<Value> {
    let names: BTreeSet<String> = docs
        .iter()
        .filter(|d| kind_of(d) == "Namespace")
        .map(|d| name_of(d).to_string())
        .collect();
    let rename = |n: &str| -> String {
        assert!(
            names.contains(n),
            "namespace {n} is used but not defined by the overlay"
        );
        format!("{n}-{suffix}")
    };
    for d in docs.iter_mut() {
        if kind_of(d) == "Namespace" {
            let new = rename(name_of(d));
            d["metadata"]["name"] = Value::from(new);
        } else if let Some(ns) = d["metadata"]["namespace"].as_str().map(str::to_string) {
            d["metadata"]["namespace"] = Value::from(rename(&ns));
        }
        if let Some(subjects) = d.get_mut("subjects").and_then(Value::as_sequence_mut) {
            for s in subjects {
                if let Some(ns) = s["namespace"].as_str().map(str::to_string) {
                    s["namespace"] = Value::from(rename(&ns));
                }
            }
        }
    }
    docs.iter()
        .filter(|d| kind_of(d) == "Namespace")
        .cloned()
        .collect()
}

fn to_stream(docs: &[Value]) -> String {
    docs.iter()
        .map(|d| format!("---\n{}", serde_yaml::to_string(d).unwrap()))
        .collect()
}

/// Namespaces created for a test, deleted on drop.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        if std::env::var_os("WARDOPS_KEEP_NAMESPACES").is_some() {
            return;
        }
        for n in &self.0 {
            let _ = kubectl(&["delete", "namespace", n, "--wait=false"], None);
        }
    }
}

#[tokio::test]
async fn each_overlay_applies_with_a_server_side_dry_run() {
    // The control plane is up (the helper fails clearly when it is not).
    let _ = client().await.unwrap();
    for overlay in OVERLAYS {
        let mut docs = kustomize(&format!("overlays/{overlay}"));
        let suffix = unique_name("t").replace('-', "");
        let namespaces = isolate_namespaces(&mut docs, &suffix);
        // Namespaced objects can be dry-run only into namespaces that exist.
        let created = Namespaces(namespaces.iter().map(|d| name_of(d).to_string()).collect());
        kubectl_ok(
            &[
                "apply",
                "--server-side",
                "--field-manager=wardops-deploy-test",
                "-f",
                "-",
            ],
            Some(&to_stream(&namespaces)),
        );

        let r = kubectl(
            &[
                "apply",
                "--server-side",
                "--dry-run=server",
                "--force-conflicts",
                "--field-manager=wardops-deploy-test",
                "-f",
                "-",
            ],
            Some(&to_stream(&docs)),
        );
        assert!(r.success, "overlay {overlay} does not apply:\n{}", r.stderr);
        assert!(
            !r.stderr.contains("would violate PodSecurity"),
            "overlay {overlay}: {}",
            r.stderr
        );
        let applied = r
            .stdout
            .lines()
            .filter(|l| l.ends_with("serverside-applied (server dry run)"))
            .count();
        assert_eq!(
            applied,
            docs.len(),
            "overlay {overlay}: not every object was dry-run applied:\n{}",
            r.stdout
        );
        drop(created);
    }
}

#[tokio::test]
async fn operator_deployment_of_each_overlay_is_admitted_by_restricted_pod_security() {
    // A real Deployment in a namespace that enforces `restricted`: kwok runs its pods,
    // so a pod the admission refuses shows up as a ReplicaSet failure.
    let client = client().await.unwrap();
    for overlay in OVERLAYS {
        let ns = TestNamespace::create(
            &client,
            "deploy-psa",
            &[("pod-security.kubernetes.io/enforce", "restricted")],
        )
        .await
        .unwrap();
        let docs = kustomize(&format!("overlays/{overlay}"));
        let mut deploy = only(&docs, "Deployment").clone();
        deploy["metadata"]["namespace"] = Value::from(ns.name.clone());
        deploy["spec"]["template"]["spec"]["serviceAccountName"] = Value::from("default");
        // Only admission matters here: no affinity to nodes a test cluster lacks.
        if let Some(spec) = deploy["spec"]["template"]["spec"].as_mapping_mut() {
            spec.remove("topologySpreadConstraints");
        }
        kubectl_ok(
            &["apply", "--server-side", "-f", "-"],
            Some(&serde_yaml::to_string(&deploy).unwrap()),
        );
        let r = kubectl(
            &[
                "-n",
                &ns.name,
                "rollout",
                "status",
                "deployment/wardops",
                "--timeout=90s",
            ],
            None,
        );
        let events = kubectl(
            &[
                "-n",
                &ns.name,
                "get",
                "events",
                "-o",
                "custom-columns=REASON:.reason,MESSAGE:.message",
            ],
            None,
        );
        assert!(
            !events.stdout.contains("violates PodSecurity"),
            "{overlay}: {}",
            events.stdout
        );
        assert!(
            r.success,
            "{overlay}: the operator Deployment did not become available:\n{}\n{}",
            r.stderr, events.stdout
        );
    }
}

// ---- operations docs ------------------------------------------------------------------

/// GitHub's anchor of a heading: lowercase, spaces to `-`, punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn markdown_pages(dir: &std::path::Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .collect()
}

#[test]
fn docs_exist_in_english_and_vietnamese_with_working_links() {
    let root = repo_root();
    let en = root.join("docs");
    let vi = root.join("docs/vi");
    let pages = markdown_pages(&en);
    let wanted: BTreeSet<String> = [
        "index",
        "install",
        "upgrade",
        "settings",
        "rbac",
        "monitoring",
        "leader-election",
        "troubleshooting",
        "classification",
        "ci",
        "connectors",
        "gateway",
        "backups",
        "cli",
    ]
    .iter()
    .map(|p| format!("{p}.md"))
    .collect();
    let missing: Vec<_> = wanted.difference(&pages).collect();
    assert!(missing.is_empty(), "docs/ lacks {missing:?}");
    assert_eq!(
        markdown_pages(&vi),
        pages,
        "docs/vi/ has the same pages as docs/"
    );

    // Every page, not only the wanted ones.
    for dir in [&en, &vi] {
        for page in &pages {
            let path = dir.join(page);
            let text = std::fs::read_to_string(&path).unwrap();
            // Relative links lead to a file, and an anchor to a heading of it.
            let mut rest = text.as_str();
            while let Some(i) = rest.find("](") {
                rest = &rest[i + 2..];
                let end = rest.find(')').unwrap();
                let target = &rest[..end];
                rest = &rest[end..];
                if target.starts_with("http") || target.contains(' ') {
                    continue;
                }
                let (file, frag) = target.split_once('#').unwrap_or((target, ""));
                let linked = if file.is_empty() {
                    path.clone()
                } else {
                    path.parent().unwrap().join(file)
                };
                let linked_text = std::fs::read_to_string(&linked)
                    .unwrap_or_else(|_| panic!("{}: link to missing {target}", path.display()));
                if !frag.is_empty() {
                    let anchors: BTreeSet<String> = linked_text
                        .lines()
                        .filter(|l| l.starts_with('#'))
                        .map(|l| anchor(l.trim_start_matches('#')))
                        .collect();
                    assert!(
                        anchors.contains(frag),
                        "{}: no heading for #{frag} in {}",
                        path.display(),
                        linked.display()
                    );
                }
            }
        }
    }

    for page in &pages {
        let e = std::fs::read_to_string(en.join(page)).unwrap();
        let v = std::fs::read_to_string(vi.join(page)).unwrap();
        // The translation keeps every example (code blocks).
        assert_eq!(
            e.matches("```").count(),
            v.matches("```").count(),
            "docs/vi/{page}: code blocks differ from docs/{page}"
        );
        // It is Vietnamese, with its diacritics.
        let marks = v
            .chars()
            .filter(|c| {
                "ăâđêôơưàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ".contains(*c)
            })
            .count();
        assert!(
            marks > 100,
            "docs/vi/{page} has only {marks} Vietnamese letters with diacritics"
        );
    }

    // The settings reference covers every environment variable of `wardops run`.
    let settings = std::fs::read_to_string(en.join("settings.md")).unwrap();
    let settings_vi = std::fs::read_to_string(vi.join("settings.md")).unwrap();
    for name in facts::operator_env_vars() {
        assert!(
            settings.contains(&format!("`{name}`")),
            "docs/settings.md does not document {name}"
        );
        assert!(
            settings_vi.contains(&format!("`{name}`")),
            "docs/vi/settings.md does not document {name}"
        );
    }
}
