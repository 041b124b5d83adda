//! Helm chart tests.
//!
//! Without a cluster (the helm binary of the control plane only): `helm lint` is
//! clean, `helm template` of several value sets renders what the values ask for,
//! every value is documented, and `values.schema.json` rejects bad values with a
//! clear message.
//!
//! On the local control plane: `helm install` and `helm upgrade` work in a namespace
//! that enforces the `restricted` Pod Security standard; the documented CRD upgrade
//! command upgrades CRDs that `helm upgrade` leaves alone; the RBAC of the chart is
//! least privilege (namespaced mode included); and `wardops run` with the chart's
//! ServiceAccount token reconciles the samples.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_yaml::Value;
use wardops_tests::facts::{self, exported_metrics, operator_env_vars};
use wardops_tests::yaml::{self, container, env, find, kind_of, kinds, name_of, only, strings};
use wardops_tests::{
    OperatorBuilder, Run, TestNamespace, audit, client, kubeconfig, kubectl, kubectl_ok, repo_root,
    run, tool, unique_name, wait_for,
};

// ---- helpers -------------------------------------------------------------------

/// The chart under test: charts/wardops, or `WARDOPS_CHART_DIR` (e.g. an unpacked
/// release of the chart).
fn chart_dir() -> PathBuf {
    std::env::var_os("WARDOPS_CHART_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("charts/wardops"))
}

fn helm(args: &[&str]) -> Run {
    let mut cmd = tool("helm");
    cmd.args(args);
    run(cmd, None)
}

/// A values file in a temporary directory, removed on drop.
struct ValuesFile(PathBuf);

impl ValuesFile {
    fn new(content: &str) -> Self {
        let dir = std::env::temp_dir().join(unique_name("wardops-values"));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("values.yaml");
        std::fs::write(&path, content).unwrap();
        ValuesFile(path)
    }
}

impl Drop for ValuesFile {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// `helm template RELEASE charts/wardops -n NAMESPACE -f VALUES`.
fn try_render(release: &str, namespace: &str, values: &str) -> Result<Vec<Value>, String> {
    let file = ValuesFile::new(values);
    let chart = chart_dir();
    let r = helm(&[
        "template",
        release,
        chart.to_str().unwrap(),
        "--namespace",
        namespace,
        "--values",
        file.0.to_str().unwrap(),
    ]);
    if r.success {
        Ok(yaml::docs(&r.stdout))
    } else {
        Err(r.stderr)
    }
}

fn render(values: &str) -> Vec<Value> {
    try_render("wardops", "wardops-system", values)
        .unwrap_or_else(|e| panic!("helm template failed for values:\n{values}\n{e}"))
}

/// Every rule of every ClusterRole and Role: (kind/name, rule).
fn rules(docs: &[Value]) -> Vec<(String, Value)> {
    docs.iter()
        .filter(|d| matches!(kind_of(d), "ClusterRole" | "Role"))
        .flat_map(|d| {
            let owner = format!("{}/{}", kind_of(d), name_of(d));
            d["rules"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |r| (owner.clone(), r))
        })
        .collect()
}

/// Verbs granted on `group/resource` by the rules of one role.
fn verbs_on(
    docs: &[Value],
    role_kind: &str,
    role: &str,
    group: &str,
    resource: &str,
) -> BTreeSet<String> {
    rules(docs)
        .into_iter()
        .filter(|(owner, r)| {
            owner == &format!("{role_kind}/{role}")
                && strings(&r["apiGroups"]).iter().any(|g| g == group)
                && strings(&r["resources"]).iter().any(|x| x == resource)
        })
        .flat_map(|(_, r)| strings(&r["verbs"]))
        .collect()
}

/// `wardops_*` metric names (and `up`) used in a PromQL expression.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if expr[i..].starts_with("wardops_")
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'))
        {
            let end = expr[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(expr.len(), |n| i + n);
            out.insert(expr[i..end].to_string());
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

const ALL_FEATURES: &str = r#"
replicaCount: 2
metrics:
  serviceMonitor: {enabled: true, labels: {release: kube-prometheus-stack}}
  prometheusRule: {enabled: true, alertLabels: {team: platform}}
  dashboard: {enabled: true, namespace: monitoring}
networkPolicy:
  enabled: true
  apiServer: {cidrs: [10.0.0.1/32]}
  metrics:
    from:
      - namespaceSelector:
          matchLabels: {kubernetes.io/metadata.name: monitoring}
"#;

// ---- without a cluster -----------------------------------------------------------

#[test]
fn helm_lint_is_clean_for_several_value_sets() {
    let chart = chart_dir();
    for values in [
        "{}",
        ALL_FEATURES,
        "watchNamespaces: [phuong-hong-bang, xa-an-lao]\nleaderElection: {enabled: false}",
    ] {
        let file = ValuesFile::new(values);
        let r = helm(&[
            "lint",
            "--strict",
            chart.to_str().unwrap(),
            "--values",
            file.0.to_str().unwrap(),
        ]);
        assert!(
            r.success,
            "helm lint failed for\n{values}\n{}{}",
            r.stdout, r.stderr
        );
        for level in ["[INFO]", "[WARNING]", "[ERROR]"] {
            assert!(
                !r.stdout.contains(level),
                "helm lint reports {level} for\n{values}\n{}",
                r.stdout
            );
        }
    }
}

#[test]
fn chart_metadata_pins_versions_and_kubernetes() {
    let chart: Value =
        serde_yaml::from_str(&std::fs::read_to_string(chart_dir().join("Chart.yaml")).unwrap())
            .unwrap();
    assert_eq!(chart["apiVersion"], "v2");
    assert_eq!(chart["version"], "0.1.0");
    assert_eq!(
        chart["appVersion"],
        wardops::VERSION,
        "appVersion follows the operator crate's version"
    );
    assert_eq!(chart["kubeVersion"], ">=1.33.0-0");
    assert!(
        chart["annotations"]["artifacthub.io/crds"]
            .as_str()
            .unwrap()
            .contains("WardService")
    );
    // kubeVersion is enforced.
    let r = helm(&[
        "template",
        "x",
        chart_dir().to_str().unwrap(),
        "--kube-version",
        "1.32.0",
    ]);
    assert!(
        !r.success && r.stderr.contains("kubeVersion"),
        "{}",
        r.stderr
    );
}

#[test]
fn default_render_is_one_restricted_operator_with_cluster_rbac() {
    let docs = render("{}");
    assert_eq!(
        kinds(&docs),
        [
            "ClusterRole/wardops-cluster-reader",
            "ClusterRole/wardops-controller",
            "ClusterRole/wardops-edit",
            "ClusterRole/wardops-view",
            "ClusterRoleBinding/wardops-cluster-reader",
            "ClusterRoleBinding/wardops-controller",
            "Deployment/wardops",
            "NetworkPolicy/wardops",
            "Role/wardops-leader-election",
            "RoleBinding/wardops-leader-election",
            "Service/wardops-metrics",
            "ServiceAccount/wardops",
        ]
    );
    let deploy = only(&docs, "Deployment");
    assert_eq!(deploy["spec"]["replicas"], 1);
    let pod = &deploy["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "wardops");
    let c = container(&docs);
    assert_eq!(
        c["image"],
        format!("ghcr.io/wardops/wardops:{}", wardops::VERSION).as_str()
    );
    assert!(
        c["command"].is_null() && c["args"].is_null(),
        "the image's entrypoint `/wardops run` is used"
    );

    // The restricted Pod Security standard.
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"]);
    assert!(sc["privileged"].is_null() || sc["privileged"] == false);

    // Probes on the health port.
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["startupProbe"]["httpGet"]["path"], "/healthz");
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        assert_eq!(c[probe]["httpGet"]["port"], "health");
    }
    let ports: BTreeMap<String, i64> = c["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["containerPort"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ports,
        BTreeMap::from([("health".into(), 8081), ("metrics".into(), 8080)])
    );
    assert_eq!(c["resources"]["requests"]["memory"], "128Mi");
    assert_eq!(c["resources"]["limits"]["memory"], "256Mi");

    // Settings, as `wardops run` reads them.
    let env = env(&docs);
    let expected = [
        (
            "POD_NAMESPACE",
            r#"{"fieldRef":{"fieldPath":"metadata.namespace"}}"#,
        ),
        ("WARDOPS_LEADER_ELECTION", "true"),
        ("WARDOPS_LEASE_NAME", "wardops-leader"),
        ("WARDOPS_LEASE_NAMESPACE", "wardops-system"),
        ("WARDOPS_LEASE_DURATION_SECONDS", "15"),
        ("WARDOPS_METRICS_ADDR", "0.0.0.0:8080"),
        ("WARDOPS_HEALTH_ADDR", "0.0.0.0:8081"),
        ("WARDOPS_LOG_FORMAT", "json"),
        ("WARDOPS_LOG_LEVEL", "info"),
        ("WARDOPS_RESYNC_SECONDS", "3600"),
        (
            "WARDOPS_CONNECTOR_IMAGE",
            wardops::runtime::settings::DEFAULT_CONNECTOR_IMAGE,
        ),
        (
            "WARDOPS_BACKUP_IMAGE",
            wardops::runtime::settings::DEFAULT_BACKUP_IMAGE,
        ),
        ("WARDOPS_INGRESS_NAMESPACE", "ingress-nginx"),
        ("WARDOPS_ISOLATED_NODE_SELECTOR", "wardops.io/pool=isolated"),
        (
            "WARDOPS_ISOLATED_TOLERATIONS",
            "wardops.io/pool=isolated:NoSchedule",
        ),
    ];
    for (k, v) in expected {
        assert_eq!(env.get(k).map(String::as_str), Some(v), "env {k}");
    }
    assert!(
        !env.contains_key("WARDOPS_WATCH_NAMESPACES"),
        "all namespaces by default"
    );

    // The chart's defaults are the operator's defaults.
    let defaults = wardops::runtime::settings::WorkloadSettings::default();
    let sel =
        wardops::runtime::settings::parse_node_selector(&env["WARDOPS_ISOLATED_NODE_SELECTOR"])
            .unwrap();
    let tol = wardops::runtime::settings::parse_tolerations(&env["WARDOPS_ISOLATED_TOLERATIONS"])
        .unwrap();
    assert_eq!(sel, defaults.isolated_node_selector);
    assert_eq!(tol, defaults.isolated_tolerations);

    // No optional objects by default.
    for kind in [
        "PodDisruptionBudget",
        "ServiceMonitor",
        "PrometheusRule",
        "ConfigMap",
    ] {
        assert!(
            docs.iter().all(|d| kind_of(d) != kind),
            "{kind} rendered by default"
        );
    }
}

#[test]
fn every_wardops_env_var_the_chart_sets_is_an_operator_setting() {
    let known = operator_env_vars();
    assert!(
        known.contains("WARDOPS_LEADER_ELECTION"),
        "the settings' clap arguments: {known:?}"
    );
    for values in ["{}", ALL_FEATURES, "watchNamespaces: [a, b]"] {
        for name in env(&render(values))
            .keys()
            .filter(|k| k.starts_with("WARDOPS_"))
        {
            assert!(
                known.contains(name),
                "the chart sets {name}, which `wardops run` does not read"
            );
        }
    }
}

#[test]
fn settings_from_values_reach_the_environment() {
    let docs = render(
        r#"
image: {tag: "0.2.0", digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
logging: {format: text, level: "wardops=debug,kube=info"}
leaderElection: {leaseName: ops-leader, namespace: ops-leases, leaseDurationSeconds: 30}
resyncSeconds: 600
workloadDefaults: {connectorImage: "registry.city/cg:1", backupImage: "registry.city/restic:1", ingressNamespace: traefik}
isolatedNodePool:
  nodeSelector: {wardops.io/pool: isolated, wardops.io/security-zone: state-secret}
  tolerations:
    - {key: wardops.io/pool, value: isolated, effect: NoSchedule}
    - {key: dedicated, effect: NoExecute}
metrics: {port: 9090}
health: {port: 9091}
extraEnv: [{name: RUST_BACKTRACE, value: "1"}]
"#,
    );
    let env = env(&docs);
    assert_eq!(env["WARDOPS_LOG_FORMAT"], "text");
    assert_eq!(env["WARDOPS_LOG_LEVEL"], "wardops=debug,kube=info");
    assert_eq!(env["WARDOPS_LEASE_NAME"], "ops-leader");
    assert_eq!(env["WARDOPS_LEASE_NAMESPACE"], "ops-leases");
    assert_eq!(env["WARDOPS_LEASE_DURATION_SECONDS"], "30");
    assert_eq!(env["WARDOPS_RESYNC_SECONDS"], "600");
    assert_eq!(env["WARDOPS_CONNECTOR_IMAGE"], "registry.city/cg:1");
    assert_eq!(env["WARDOPS_BACKUP_IMAGE"], "registry.city/restic:1");
    assert_eq!(env["WARDOPS_INGRESS_NAMESPACE"], "traefik");
    assert_eq!(env["WARDOPS_METRICS_ADDR"], "0.0.0.0:9090");
    assert_eq!(env["WARDOPS_HEALTH_ADDR"], "0.0.0.0:9091");
    assert_eq!(env["RUST_BACKTRACE"], "1");
    let sel =
        wardops::runtime::settings::parse_node_selector(&env["WARDOPS_ISOLATED_NODE_SELECTOR"])
            .unwrap();
    assert_eq!(sel.0.len(), 2);
    assert_eq!(sel.0["wardops.io/security-zone"], "state-secret");
    let tol = wardops::runtime::settings::parse_tolerations(&env["WARDOPS_ISOLATED_TOLERATIONS"])
        .unwrap();
    assert_eq!(tol.0.len(), 2);
    assert_eq!(tol.0[1].operator.as_deref(), Some("Exists"));
    assert_eq!(tol.0[1].effect.as_deref(), Some("NoExecute"));
    assert_eq!(
        container(&docs)["image"],
        "ghcr.io/wardops/wardops:0.2.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    );
    // The lease Role follows the lease namespace.
    let role = find(&docs, "Role", "wardops-leader-election");
    assert_eq!(role["metadata"]["namespace"], "ops-leases");
    assert_eq!(
        find(&docs, "Service", "wardops-metrics")["spec"]["ports"][0]["port"],
        9090
    );
}

#[test]
fn several_replicas_get_leader_election_a_pdb_and_anti_affinity() {
    let docs = render("replicaCount: 3");
    assert_eq!(only(&docs, "Deployment")["spec"]["replicas"], 3);
    assert_eq!(env(&docs)["WARDOPS_LEADER_ELECTION"], "true");
    let pdb = only(&docs, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        only(&docs, "Deployment")["spec"]["selector"]["matchLabels"]
    );
    let anti =
        &only(&docs, "Deployment")["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"];
    assert!(!anti.is_null(), "replicas should prefer different nodes");

    let err = try_render(
        "wardops",
        "wardops-system",
        "replicaCount: 2\nleaderElection: {enabled: false}",
    )
    .unwrap_err();
    assert!(err.contains("leaderElection.enabled=true"), "{err}");

    // One replica without leader election: no Lease role, env says false.
    let docs = render("leaderElection: {enabled: false}");
    assert_eq!(env(&docs)["WARDOPS_LEADER_ELECTION"], "false");
    assert!(docs.iter().all(|d| name_of(d) != "wardops-leader-election"));
    assert!(docs.iter().all(|d| kind_of(d) != "PodDisruptionBudget"));
}

#[test]
fn namespaced_mode_grants_workload_rules_only_in_watched_namespaces() {
    let docs = render("watchNamespaces: [phuong-hong-bang, xa-an-lao]");
    assert_eq!(
        env(&docs)["WARDOPS_WATCH_NAMESPACES"],
        "phuong-hong-bang,xa-an-lao"
    );
    assert!(
        docs.iter()
            .all(|d| !(kind_of(d) == "ClusterRole" && name_of(d) == "wardops-controller")),
        "no cluster-wide workload rules in namespaced mode"
    );
    let cluster_default = render("{}");
    let cluster_rules: Vec<Value> =
        find(&cluster_default, "ClusterRole", "wardops-controller")["rules"]
            .as_sequence()
            .unwrap()
            .clone();
    for ns in ["phuong-hong-bang", "xa-an-lao"] {
        let role = docs
            .iter()
            .find(|d| {
                kind_of(d) == "Role"
                    && name_of(d) == "wardops-controller"
                    && d["metadata"]["namespace"] == ns
            })
            .unwrap_or_else(|| panic!("no Role wardops-controller in {ns}"));
        assert_eq!(
            role["rules"].as_sequence().unwrap(),
            &cluster_rules,
            "same rules as the ClusterRole"
        );
        let binding = docs
            .iter()
            .find(|d| {
                kind_of(d) == "RoleBinding"
                    && name_of(d) == "wardops-controller"
                    && d["metadata"]["namespace"] == ns
            })
            .unwrap_or_else(|| panic!("no RoleBinding in {ns}"));
        assert_eq!(binding["subjects"][0]["name"], "wardops");
        assert_eq!(binding["subjects"][0]["namespace"], "wardops-system");
    }
    // Namespaces are still read cluster-wide (listed and watched into the
    // cache), and retained volumes (cluster-scoped) kept; no CRD is read
    // (the check at start asks discovery).
    let reader = find(&docs, "ClusterRole", "wardops-cluster-reader");
    assert_eq!(reader["rules"].as_sequence().unwrap().len(), 2);
    assert!(
        verbs_on(
            &docs,
            "ClusterRole",
            "wardops-cluster-reader",
            "apiextensions.k8s.io",
            "customresourcedefinitions"
        )
        .is_empty()
    );
    assert_eq!(
        verbs_on(
            &docs,
            "ClusterRole",
            "wardops-cluster-reader",
            "",
            "persistentvolumes"
        ),
        BTreeSet::from(["patch".into()])
    );
    assert_eq!(
        verbs_on(
            &docs,
            "ClusterRole",
            "wardops-cluster-reader",
            "",
            "namespaces"
        ),
        BTreeSet::from(["list".into(), "watch".into()])
    );
}

#[test]
fn rbac_is_least_privilege_and_every_rule_says_why() {
    let read = BTreeSet::from(["get".to_string(), "list".to_string(), "watch".to_string()]);
    for values in ["{}", "watchNamespaces: [a, b]", ALL_FEATURES] {
        let docs = render(values);
        for (owner, rule) in rules(&docs) {
            for field in ["apiGroups", "resources", "verbs"] {
                assert!(
                    !strings(&rule[field]).iter().any(|s| s.contains('*')),
                    "{owner} has a wildcard in {field}: {rule:?}"
                );
            }
            assert!(
                rule["nonResourceURLs"].is_null(),
                "{owner}: no non-resource URLs"
            );
            let verbs = strings(&rule["verbs"]);
            for v in ["escalate", "bind", "impersonate", "deletecollection"] {
                assert!(
                    !verbs.contains(&v.to_string()) || owner.ends_with("-edit"),
                    "{owner} grants {v}"
                );
            }
            let resources = strings(&rule["resources"]);
            // Secrets: read, plus create for a BackupPolicy's generated key;
            // never update, patch or delete.
            let create_secret = resources == ["secrets"] && verbs == ["create"];
            if resources
                .iter()
                .any(|r| r == "secrets" || r == "pods" || r == "namespaces")
                && !create_secret
            {
                assert!(
                    verbs.iter().all(|v| read.contains(v)),
                    "{owner} may only read {resources:?}: {verbs:?}"
                );
            }
            if resources.iter().any(|r| r == "leases") {
                assert!(
                    owner.starts_with("Role/"),
                    "leases only through a Role in the lease namespace: {owner}"
                );
            }
        }
        let controller_kind = if values.contains("watchNamespaces") {
            "Role"
        } else {
            "ClusterRole"
        };
        let mut secret_verbs = read.clone();
        secret_verbs.insert("create".into());
        assert_eq!(
            verbs_on(&docs, controller_kind, "wardops-controller", "", "secrets"),
            secret_verbs
        );
        assert_eq!(
            verbs_on(
                &docs,
                controller_kind,
                "wardops-controller",
                "wardops.io",
                "wardservices/status"
            ),
            BTreeSet::from(["patch".into()])
        );
        assert!(
            verbs_on(&docs, controller_kind, "wardops-controller", "", "pods").is_subset(&read)
        );
    }

    // Every rule in the templates has a comment right above it that says why.
    for file in ["templates/_helpers.tpl", "templates/rbac.yaml"] {
        let text = std::fs::read_to_string(chart_dir().join(file)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut count = 0;
        for (i, line) in lines.iter().enumerate() {
            if line.trim_start().starts_with("- apiGroups:") {
                count += 1;
                let above = lines[..i]
                    .iter()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or(&"");
                assert!(
                    above.trim_start().starts_with('#'),
                    "{file}:{}: rule without a comment saying why it is needed",
                    i + 1
                );
            }
        }
        assert!(count > 0, "{file} has no rules");
    }
}

#[test]
fn monitoring_objects_scrape_alert_and_chart_the_operators_metrics() {
    let docs = render(ALL_FEATURES);
    let service = find(&docs, "Service", "wardops-metrics");
    let monitor = only(&docs, "ServiceMonitor");
    assert_eq!(
        monitor["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    for (k, v) in monitor["spec"]["selector"]["matchLabels"]
        .as_mapping()
        .unwrap()
    {
        assert_eq!(
            &service["metadata"]["labels"][k], v,
            "the ServiceMonitor selects the metrics Service"
        );
    }
    assert_eq!(
        monitor["spec"]["endpoints"][0]["port"],
        service["spec"]["ports"][0]["name"]
    );

    // Alerts: the three the issue asks for, plus leader and scrape health.
    let rule = only(&docs, "PrometheusRule");
    let alerts: BTreeMap<String, &Value> = rule["spec"]["groups"][0]["rules"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| (r["alert"].as_str().unwrap().to_string(), r))
        .collect();
    for name in [
        "WardopsReconcileErrors",
        "WardopsResourcesNotReady",
        "WardopsBackupOverdue",
        "WardopsNoLeader",
        "WardopsOperatorDown",
    ] {
        let a = alerts
            .get(name)
            .unwrap_or_else(|| panic!("alert {name} missing: {:?}", alerts.keys()));
        assert!(a["labels"]["severity"].is_string(), "{name} has a severity");
        assert_eq!(
            a["labels"]["team"], "platform",
            "{name} carries alertLabels"
        );
        assert!(
            a["annotations"]["description"].as_str().unwrap().len() > 40,
            "{name} says what to do"
        );
        assert!(
            a["annotations"]["runbook_url"].is_string(),
            "{name} has a runbook"
        );
    }
    assert_eq!(alerts["WardopsResourcesNotReady"]["for"], "15m");
    assert!(
        alerts["WardopsResourcesNotReady"]["expr"]
            .as_str()
            .unwrap()
            .contains("ready!=\"true\"")
    );
    assert!(
        alerts["WardopsBackupOverdue"]["expr"]
            .as_str()
            .unwrap()
            .contains("wardops_backup_policies_overdue")
    );
    assert!(
        alerts["WardopsReconcileErrors"]["expr"]
            .as_str()
            .unwrap()
            .contains("wardops_reconcile_errors_total")
    );
    assert!(
        alerts["WardopsOperatorDown"]["expr"]
            .as_str()
            .unwrap()
            .contains("job=\"wardops-metrics\"")
    );
    let known = exported_metrics();
    for (name, a) in &alerts {
        let used = metric_names(a["expr"].as_str().unwrap());
        assert!(
            used.is_subset(&known),
            "{name} uses unknown metrics {:?}",
            used.difference(&known)
        );
    }

    // The dashboard: valid JSON, in the requested namespace, for the Grafana sidecar.
    let cm = find(&docs, "ConfigMap", "wardops-dashboard");
    assert_eq!(cm["metadata"]["namespace"], "monitoring");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    let dashboard: serde_json::Value =
        serde_json::from_str(cm["data"]["wardops.json"].as_str().unwrap()).unwrap();
    assert_eq!(dashboard["uid"], "wardops-operator");
    let mut panels_using = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let used = metric_names(target["expr"].as_str().unwrap());
            assert!(
                !used.is_empty() && used.is_subset(&known),
                "panel {} uses {used:?}",
                panel["title"]
            );
            panels_using.extend(used);
        }
    }
    for m in [
        "wardops_reconciles_total",
        "wardops_reconcile_errors_total",
        "wardops_reconcile_duration_seconds_bucket",
        "wardops_resources",
        "wardops_leader",
        "wardops_backup_policies_overdue",
    ] {
        assert!(panels_using.contains(m), "the dashboard shows no {m}");
    }

    // Without leader election there is no leader to alert on.
    let docs =
        render("leaderElection: {enabled: false}\nmetrics: {prometheusRule: {enabled: true}}");
    let rule = only(&docs, "PrometheusRule");
    assert!(
        !serde_yaml::to_string(rule)
            .unwrap()
            .contains("WardopsNoLeader")
    );
}

#[test]
fn network_policy_lets_in_scrapes_and_probes_and_out_dns_and_the_api_server() {
    let docs = render(ALL_FEATURES);
    let np = only(&docs, "NetworkPolicy");
    assert_eq!(strings(&np["spec"]["policyTypes"]), ["Ingress", "Egress"]);
    assert_eq!(
        np["spec"]["podSelector"]["matchLabels"],
        only(&docs, "Deployment")["spec"]["selector"]["matchLabels"]
    );
    let ingress = np["spec"]["ingress"].as_sequence().unwrap();
    let in_ports: BTreeSet<String> = ingress
        .iter()
        .flat_map(|r| {
            r["ports"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|p| p["port"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        in_ports,
        BTreeSet::from(["health".into(), "metrics".into()])
    );
    let metrics_rule = ingress
        .iter()
        .find(|r| r["ports"][0]["port"] == "metrics")
        .unwrap();
    assert_eq!(
        metrics_rule["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "monitoring"
    );
    let egress = np["spec"]["egress"].as_sequence().unwrap();
    assert_eq!(egress.len(), 2, "DNS and the API server only");
    let api = egress
        .iter()
        .find(|r| r["ports"][0]["port"] == 443)
        .expect("egress to the API server");
    assert_eq!(api["to"][0]["ipBlock"]["cidr"], "10.0.0.1/32");
    let dns = egress
        .iter()
        .find(|r| r["ports"][0]["port"] == 53)
        .expect("egress to DNS");
    assert_eq!(
        dns["to"][0]["podSelector"]["matchLabels"]["k8s-app"],
        "kube-dns"
    );
}

#[test]
fn values_schema_rejects_bad_values_with_a_clear_message() {
    let bad = r#"
replicaCount: "two"
imagee:
  tag: "1.0"
logging:
  format: yaml
leaderElection:
  leaseDurationSeconds: 1
isolatedNodePool:
  tolerations:
    - key: wardops.io/pool
      effect: Sometimes
"#;
    let err =
        try_render("wardops", "wardops-system", bad).expect_err("bad values must be rejected");
    for needle in [
        "values don't meet the specifications of the schema",
        "/replicaCount",
        "got string, want integer",
        "additional properties 'imagee' not allowed",
        "/logging/format",
        "'json', 'text'",
        "/leaderElection/leaseDurationSeconds",
        "/isolatedNodePool/tolerations/0/effect",
    ] {
        assert!(
            err.contains(needle),
            "the error does not mention `{needle}`:\n{err}"
        );
    }
    // A nested typo is caught too, not silently ignored.
    let err = try_render(
        "wardops",
        "wardops-system",
        "metrics:\n  serviceMonitor:\n    enable: true\n",
    )
    .unwrap_err();
    assert!(
        err.contains("/metrics/serviceMonitor") && err.contains("'enable' not allowed"),
        "{err}"
    );
    // Bad values also fail `helm lint`.
    let file = ValuesFile::new(bad);
    let r = helm(&[
        "lint",
        chart_dir().to_str().unwrap(),
        "--values",
        file.0.to_str().unwrap(),
    ]);
    assert!(!r.success);
}

#[test]
fn every_value_is_documented_in_values_yaml_and_the_schema() {
    let text = std::fs::read_to_string(chart_dir().join("values.yaml")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(chart_dir().join("values.schema.json")).unwrap(),
    )
    .unwrap();
    let values: Value = serde_yaml::from_str(&text).unwrap();

    // (path, line index) of every key line, by indentation.
    let lines: Vec<&str> = text.lines().collect();
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut key_lines: BTreeMap<String, usize> = BTreeMap::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') || t.starts_with('-') {
            continue;
        }
        let indent = line.len() - t.len();
        let Some((key, _)) = t.split_once(':') else {
            continue;
        };
        while stack.last().is_some_and(|(ind, _)| *ind >= indent) {
            stack.pop();
        }
        stack.push((indent, key.to_string()));
        key_lines
            .entry(
                stack
                    .iter()
                    .map(|(_, k)| k.as_str())
                    .collect::<Vec<_>>()
                    .join("."),
            )
            .or_insert(i);
    }

    fn walk(
        v: &Value,
        schema: &serde_json::Value,
        path: &str,
        lines: &[&str],
        key_lines: &BTreeMap<String, usize>,
        checked: &mut usize,
    ) {
        let Some(map) = v.as_mapping() else { return };
        for (k, child) in map {
            let k = k.as_str().unwrap();
            let p = if path.is_empty() {
                k.to_string()
            } else {
                format!("{path}.{k}")
            };
            let prop = &schema["properties"][k];
            assert!(
                prop.is_object(),
                "values.yaml has `{p}`, values.schema.json does not declare it"
            );
            assert!(
                prop["description"].is_string(),
                "values.schema.json: `{p}` has no description"
            );
            // A `# --` comment above a key documents it whole (helm-docs' convention);
            // a key without one is a group whose members must each have one.
            let i = key_lines[&p];
            let documented = lines[..i]
                .iter()
                .rev()
                .take_while(|l| l.trim_start().starts_with('#'))
                .any(|l| l.trim_start().starts_with("# --"));
            if documented {
                *checked += 1;
            } else {
                assert!(
                    prop["properties"].is_object(),
                    "values.yaml:{}: `{p}` has no `# --` comment above it",
                    i + 1
                );
                walk(child, prop, &p, lines, key_lines, checked);
            }
        }
    }
    let mut checked = 0;
    walk(&values, &schema, "", &lines, &key_lines, &mut checked);
    assert!(checked > 40, "only {checked} documented leaves found");
    assert_eq!(
        schema["additionalProperties"], false,
        "unknown top-level keys are rejected"
    );
}

#[test]
fn notes_say_how_to_check_the_install_and_upgrade_crds() {
    let chart = chart_dir();
    let r = helm(&[
        "install",
        "w",
        chart.to_str().unwrap(),
        "--dry-run=client",
        "--namespace",
        "ops",
        "--set",
        "replicaCount=2",
    ]);
    assert!(r.success, "{}", r.stderr);
    let notes = r.stdout.split("NOTES:").nth(1).expect("NOTES are printed");
    assert!(
        notes.contains("kubectl -n ops rollout status deployment/w-wardops"),
        "{notes}"
    );
    assert!(notes.contains("get lease wardops-leader"), "{notes}");
    assert!(notes.contains(CRD_UPGRADE), "{notes}");
}

// ---- on the local control plane -----------------------------------------------------

/// The CRD upgrade command of docs/upgrade.md and NOTES.txt, after `helm show crds CHART |`.
const CRD_UPGRADE: &str =
    "kubectl apply --server-side --force-conflicts --field-manager=wardops-crds -f -";

/// Runs the documented CRD upgrade with the chart in this repository.
fn upgrade_crds() {
    let shown = helm(&["show", "crds", chart_dir().to_str().unwrap()]);
    assert!(shown.success, "{}", shown.stderr);
    let args: Vec<&str> = CRD_UPGRADE.split_whitespace().skip(1).collect();
    let r = kubectl(&args, Some(&shown.stdout));
    assert!(
        r.success,
        "the documented CRD upgrade failed:\n{}",
        r.stderr
    );
    for crd in facts::crd_names() {
        kubectl_ok(
            &[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                &format!("crd/{crd}"),
            ],
            None,
        );
    }
}

/// A Helm release in a test namespace, uninstalled on drop (cluster-scoped RBAC too).
struct Release {
    name: String,
    namespace: String,
}

impl Release {
    fn install(namespace: &str, values: &str) -> Release {
        let name = unique_name("w");
        let file = ValuesFile::new(values);
        let chart = chart_dir();
        let r = helm(&[
            "install",
            &name,
            chart.to_str().unwrap(),
            "--namespace",
            namespace,
            "--values",
            file.0.to_str().unwrap(),
            "--wait",
            "--timeout",
            "120s",
        ]);
        assert!(r.success, "helm install failed:\n{}{}", r.stdout, r.stderr);
        Release {
            name,
            namespace: namespace.to_string(),
        }
    }

    fn fullname(&self) -> String {
        format!("{}-wardops", self.name)
    }

    fn service_account(&self) -> String {
        format!(
            "system:serviceaccount:{}:{}",
            self.namespace,
            self.fullname()
        )
    }

    /// `kubectl auth can-i VERB RESOURCE [-n NS]` as the chart's ServiceAccount;
    /// RESOURCE may carry flags, e.g. `pods --subresource=exec` (`pods/x` names pod x).
    fn can_i(&self, verb: &str, resource: &str, namespace: Option<&str>) -> bool {
        let sa = self.service_account();
        let mut args = vec!["auth", "can-i", verb];
        args.extend(resource.split_whitespace());
        args.extend(["--as", &sa]);
        match namespace {
            Some(ns) => args.extend(["-n", ns]),
            None => args.push("--all-namespaces"),
        }
        let r = kubectl(&args, None);
        match r.stdout.trim() {
            "yes" => true,
            "no" => false,
            other => panic!(
                "kubectl auth can-i {verb} {resource}: {other}\n{}",
                r.stderr
            ),
        }
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        if std::env::var_os("WARDOPS_KEEP_NAMESPACES").is_some() {
            return;
        }
        let _ = helm(&[
            "uninstall",
            &self.name,
            "--namespace",
            &self.namespace,
            "--wait",
            "--timeout",
            "60s",
        ]);
    }
}

const RESTRICTED: &[(&str, &str)] = &[
    ("pod-security.kubernetes.io/enforce", "restricted"),
    ("pod-security.kubernetes.io/warn", "restricted"),
];

#[tokio::test]
async fn helm_install_and_upgrade_on_the_control_plane() {
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "chart-install", RESTRICTED)
        .await
        .unwrap();
    let release = Release::install(&ns.name, "{}");
    let full = release.fullname();

    // The pod passed the namespace's `restricted` admission and became available.
    let deploy: serde_json::Value = serde_json::from_str(&kubectl_ok(
        &["-n", &ns.name, "get", "deployment", &full, "-o", "json"],
        None,
    ))
    .unwrap();
    assert_eq!(deploy["status"]["availableReplicas"], 1, "{deploy:#}");
    let events = kubectl_ok(&["-n", &ns.name, "get", "events", "-o", "json"], None);
    assert!(
        !events.contains("violates PodSecurity"),
        "pods were rejected by Pod Security:\n{events}"
    );
    kubectl_ok(&["-n", &ns.name, "get", "serviceaccount", &full], None);
    kubectl_ok(
        &["-n", &ns.name, "get", "service", &format!("{full}-metrics")],
        None,
    );
    kubectl_ok(&["get", "clusterrole", &format!("{full}-controller")], None);

    // Upgrade: two replicas, with a PodDisruptionBudget.
    let chart = chart_dir();
    let r = helm(&[
        "upgrade",
        &release.name,
        chart.to_str().unwrap(),
        "--namespace",
        &ns.name,
        "--reuse-values",
        "--set",
        "replicaCount=2",
        "--wait",
        "--timeout",
        "120s",
    ]);
    assert!(r.success, "helm upgrade failed:\n{}", r.stderr);
    let deploy: serde_json::Value = serde_json::from_str(&kubectl_ok(
        &["-n", &ns.name, "get", "deployment", &full, "-o", "json"],
        None,
    ))
    .unwrap();
    assert_eq!(deploy["spec"]["replicas"], 2);
    assert_eq!(deploy["status"]["availableReplicas"], 2, "{deploy:#}");
    let pdb: serde_json::Value = serde_json::from_str(&kubectl_ok(
        &["-n", &ns.name, "get", "pdb", &full, "-o", "json"],
        None,
    ))
    .unwrap();
    assert_eq!(pdb["spec"]["minAvailable"], 1);

    // A bad upgrade is refused before anything changes.
    let r = helm(&[
        "upgrade",
        &release.name,
        chart.to_str().unwrap(),
        "--namespace",
        &ns.name,
        "--reuse-values",
        "--set",
        "logging.format=yaml",
    ]);
    assert!(
        !r.success && r.stderr.contains("/logging/format"),
        "{}",
        r.stderr
    );
    let history: serde_json::Value = serde_json::from_str(
        &helm(&[
            "history",
            &release.name,
            "--namespace",
            &ns.name,
            "-o",
            "json",
        ])
        .stdout,
    )
    .unwrap();
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[1]["status"], "deployed");

    // Uninstall removes the cluster-scoped RBAC too.
    let name = release.name.clone();
    drop(release);
    assert!(
        !kubectl(
            &["get", "clusterrole", &format!("{name}-wardops-controller")],
            None
        )
        .success
    );
}

#[tokio::test]
async fn chart_rbac_is_enough_and_no_more_in_cluster_mode() {
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "chart-rbac", RESTRICTED)
        .await
        .unwrap();
    let other = TestNamespace::create(&client, "chart-rbac-other", &[])
        .await
        .unwrap();
    let release = Release::install(&ns.name, "{}");
    let o = Some(other.name.as_str());
    for (verb, resource) in [
        ("watch", "wardservices.wardops.io"),
        ("patch", "wardservices.wardops.io --subresource=status"),
        ("update", "wardservices.wardops.io --subresource=finalizers"),
        ("create", "deployments.apps"),
        ("delete", "horizontalpodautoscalers.autoscaling"),
        ("patch", "networkpolicies.networking.k8s.io"),
        ("create", "events.events.k8s.io"),
        ("list", "secrets"),
        // A sync DataConnector's CronJob, its sync-now Jobs, and the pull
        // pods' results.
        ("create", "cronjobs.batch"),
        ("create", "jobs.batch"),
        ("list", "pods"),
        // A BackupPolicy's generated encryption key.
        ("create", "secrets"),
    ] {
        assert!(
            release.can_i(verb, resource, o),
            "the operator needs to {verb} {resource}"
        );
    }
    assert!(release.can_i("list", "namespaces", None));
    assert!(release.can_i("create", "leases.coordination.k8s.io", Some(&ns.name)));
    for verb in ["get", "watch", "patch"] {
        assert!(release.can_i(
            verb,
            "leases.coordination.k8s.io/wardops-leader",
            Some(&ns.name)
        ));
    }
    for (verb, resource, namespace) in [
        ("update", "secrets", o),
        ("delete", "secrets", o),
        ("create", "pods", o),
        ("delete", "namespaces", None),
        ("create", "clusterroles.rbac.authorization.k8s.io", None),
        ("create", "rolebindings.rbac.authorization.k8s.io", o),
        (
            "update",
            "customresourcedefinitions.apiextensions.k8s.io",
            None,
        ),
        ("create", "leases.coordination.k8s.io", o),
        (
            "update",
            "leases.coordination.k8s.io/other-lease",
            Some(ns.name.as_str()),
        ),
        ("list", "leases.coordination.k8s.io", Some(ns.name.as_str())),
        ("impersonate", "serviceaccounts", o),
        ("create", "serviceaccounts --subresource=token", o),
        ("create", "events", o),
        ("delete", "deployments.apps", o),
        ("update", "configmaps", o),
        (
            "list",
            "customresourcedefinitions.apiextensions.k8s.io",
            None,
        ),
        // The CRD check at start reads discovery, not the CRDs.
        (
            "get",
            "customresourcedefinitions.apiextensions.k8s.io",
            None,
        ),
        ("create", "pods --subresource=exec", o),
        ("patch", "wardservices.wardops.io --subresource=scale", o),
    ] {
        assert!(
            !release.can_i(verb, resource, namespace),
            "the operator must not {verb} {resource} ({namespace:?})"
        );
    }
}

#[tokio::test]
async fn namespaced_mode_limits_the_operator_to_watched_namespaces() {
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "chart-nsmode", RESTRICTED)
        .await
        .unwrap();
    let watched = TestNamespace::create(&client, "chart-watched", &[])
        .await
        .unwrap();
    let unwatched = TestNamespace::create(&client, "chart-unwatched", &[])
        .await
        .unwrap();
    let release = Release::install(&ns.name, &format!("watchNamespaces: [{}]", watched.name));
    let w = Some(watched.name.as_str());
    let u = Some(unwatched.name.as_str());
    for resource in ["deployments.apps", "wardservices.wardops.io", "secrets"] {
        assert!(
            release.can_i("list", resource, w),
            "list {resource} in the watched namespace"
        );
        assert!(
            !release.can_i("list", resource, u),
            "no {resource} in an unwatched namespace"
        );
        assert!(
            !release.can_i("list", resource, None),
            "no {resource} across all namespaces"
        );
    }
    assert!(release.can_i("create", "deployments.apps", w));
    assert!(!release.can_i("create", "deployments.apps", u));
    // Classification labels are read cluster-wide even so.
    assert!(release.can_i("watch", "namespaces", None));
    assert!(
        !kubectl(
            &[
                "get",
                "clusterrole",
                &format!("{}-controller", release.fullname())
            ],
            None
        )
        .success
    );
}

#[tokio::test]
async fn ward_namespace_selector_grants_rules_only_in_labelled_namespaces() {
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "chart-bylabel", RESTRICTED)
        .await
        .unwrap();
    let label = unique_name("ward");
    let ward = TestNamespace::create(
        &client,
        "chart-ward",
        &[("wardops.io/ward-namespace", &label)],
    )
    .await
    .unwrap();
    let other = TestNamespace::create(&client, "chart-notward", &[])
        .await
        .unwrap();
    let release = Release::install(
        &ns.name,
        &format!("wardNamespaceSelector: {{wardops.io/ward-namespace: {label}}}"),
    );
    let (w, o) = (Some(ward.name.as_str()), Some(other.name.as_str()));
    for resource in ["secrets", "deployments.apps", "wardservices.wardops.io"] {
        assert!(
            release.can_i("list", resource, w),
            "list {resource} in the ward namespace"
        );
        assert!(
            !release.can_i("list", resource, o),
            "{resource} outside the ward namespaces"
        );
        assert!(
            !release.can_i("list", resource, None),
            "{resource} cluster-wide"
        );
    }
    let deployment = kubectl_ok(
        &[
            "-n",
            &ns.name,
            "get",
            "deployment",
            &release.fullname(),
            "-o",
            "json",
        ],
        None,
    );
    assert!(
        deployment.contains(&format!("\"value\": \"{}\"", ward.name)),
        "the operator watches the labelled namespace: {deployment}"
    );
}

#[tokio::test]
async fn crds_are_upgraded_by_the_documented_command_not_by_helm_upgrade() {
    // The procedure is what docs/upgrade.md tells people to run.
    let docs =
        std::fs::read_to_string(repo_root().join("docs/upgrade.md")).expect("docs/upgrade.md");
    assert!(
        docs.contains(&format!("| {CRD_UPGRADE}")),
        "docs/upgrade.md must show `helm show crds ... | {CRD_UPGRADE}`"
    );

    upgrade_crds();
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "chart-crds", RESTRICTED)
        .await
        .unwrap();
    let release = Release::install(&ns.name, "{}");

    // What a previous chart version installed: a printer column that is gone now,
    // and one that did not exist yet. `kubectl replace` is an update, as Helm's create.
    let current: serde_json::Value = serde_json::from_str(&kubectl_ok(
        &["get", "crd", "wardservices.wardops.io", "-o", "json"],
        None,
    ))
    .unwrap();
    let columns = |crd: &serde_json::Value| -> Vec<String> {
        crd["spec"]["versions"][0]["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    let wanted = columns(&current);
    assert!(wanted.contains(&"Since".to_string()));
    let mut old = current.clone();
    let old_columns = old["spec"]["versions"][0]["additionalPrinterColumns"]
        .as_array_mut()
        .unwrap();
    old_columns.retain(|c| c["name"] != "Since");
    old_columns
        .push(serde_json::json!({"name": "Legacy", "type": "string", "jsonPath": ".spec.image"}));
    for f in [
        "managedFields",
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "generation",
    ] {
        old["metadata"].as_object_mut().unwrap().remove(f);
    }
    old.as_object_mut().unwrap().remove("status");
    kubectl_ok(&["replace", "-f", "-"], Some(&old.to_string()));

    // `helm upgrade` leaves CRDs alone: the old columns survive it.
    let chart = chart_dir();
    let r = helm(&[
        "upgrade",
        &release.name,
        chart.to_str().unwrap(),
        "--namespace",
        &ns.name,
        "--reuse-values",
        "--wait",
    ]);
    assert!(r.success, "{}", r.stderr);
    let after_helm: serde_json::Value = serde_json::from_str(&kubectl_ok(
        &["get", "crd", "wardservices.wardops.io", "-o", "json"],
        None,
    ))
    .unwrap();
    assert!(
        columns(&after_helm).contains(&"Legacy".to_string()),
        "helm upgrade is not expected to touch CRDs"
    );

    // The documented command brings them to the chart's version, removals included.
    upgrade_crds();
    let upgraded: serde_json::Value = serde_json::from_str(&kubectl_ok(
        &["get", "crd", "wardservices.wardops.io", "-o", "json"],
        None,
    ))
    .unwrap();
    assert_eq!(columns(&upgraded), wanted);
    let chart_crd: Value =
        yaml::docs(&std::fs::read_to_string(chart_dir().join("crds/wardservices.yaml")).unwrap())
            .remove(0);
    let chart_crd: serde_json::Value = serde_json::to_value(&chart_crd).unwrap();
    let differences = json_differences(
        &upgraded["spec"]["versions"][0]["schema"],
        &chart_crd["spec"]["versions"][0]["schema"],
        "schema",
    );
    assert!(
        differences.is_empty(),
        "the stored schema is not the chart's: {differences:#?}"
    );
}

/// Paths where two JSON values differ (numbers compared by value), at most 10.
fn json_differences(a: &serde_json::Value, b: &serde_json::Value, path: &str) -> Vec<String> {
    use serde_json::Value as J;
    let mut out = Vec::new();
    match (a, b) {
        (J::Object(x), J::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let null = J::Null;
                out.extend(json_differences(
                    x.get(k).unwrap_or(&null),
                    y.get(k).unwrap_or(&null),
                    &format!("{path}.{k}"),
                ));
            }
        }
        (J::Array(x), J::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                out.extend(json_differences(p, q, &format!("{path}[{i}]")));
            }
        }
        (J::Number(x), J::Number(y)) if x.as_f64() == y.as_f64() => {}
        _ if a == b => {}
        _ => out.push(format!("{path}: {a} != {b}")),
    }
    out.truncate(10);
    out
}

/// A kubeconfig for the admin kubeconfig's cluster with a bearer token.
fn token_kubeconfig(token: &str, namespace: &str, path: &std::path::Path) {
    let admin: Value =
        serde_yaml::from_str(&std::fs::read_to_string(kubeconfig()).unwrap()).unwrap();
    let cluster = &admin["clusters"][0]["cluster"];
    let kc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {
            "server": cluster["server"].as_str().unwrap(),
            "certificate-authority-data": cluster["certificate-authority-data"].as_str().unwrap(),
        }}],
        "users": [{"name": "wardops", "user": {"token": token}}],
        "contexts": [{"name": "wardops", "context": {"cluster": "local", "user": "wardops", "namespace": namespace}}],
        "current-context": "wardops",
    });
    std::fs::write(path, serde_yaml::to_string(&kc).unwrap()).unwrap();
}

/// Audit events since mark `offset`.
fn audit_events(offset: u64) -> Vec<serde_json::Value> {
    audit::events(offset, None).unwrap_or_else(|e| panic!("reading the audit log: {e:#}"))
}

/// Verbs granted on purpose without being requested: checked by an admission
/// plugin (blockOwnerDeletion needs update on the owner's finalizers), not sent.
const GRANTED_NOT_REQUESTED: &[(&str, &str)] = &[("update", "wardops.io/wardservices/finalizers")];

/// Children applied by server-side apply: a patch that creates the object the
/// first time, which the API server authorizes as `create`. They are read
/// (`get`) only when a new child's name is already taken (by someone else's
/// object, which the ward-service suite makes, or one of wardops' own that the
/// cache has not seen yet), so a run may not need every one.
fn is_applied_child(resource: &str) -> bool {
    [
        "apps/deployments",
        "services",
        "configmaps",
        "serviceaccounts",
        "persistentvolumeclaims",
        "networking.k8s.io/networkpolicies",
        "networking.k8s.io/ingresses",
        "policy/poddisruptionbudgets",
        "autoscaling/horizontalpodautoscalers",
        "batch/cronjobs",
    ]
    .contains(&resource)
}

/// `group/resource[/subresource]`, the group omitted for the core API.
fn resource_key(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{group}/{resource}")
    }
}

/// (verb, resource) of every request `user` sent since `offset`.
fn requests_by(user: &str, offset: u64) -> std::collections::BTreeSet<(String, String)> {
    audit_events(offset)
        .into_iter()
        .filter(|e| e["user"]["username"] == user && e["objectRef"].is_object())
        .map(|e| {
            let o = &e["objectRef"];
            let mut resource = resource_key(
                o["apiGroup"].as_str().unwrap_or_default(),
                o["resource"].as_str().unwrap_or_default(),
            );
            if let Some(sub) = o["subresource"].as_str() {
                resource = format!("{resource}/{sub}");
            }
            (e["verb"].as_str().unwrap_or_default().to_string(), resource)
        })
        .collect()
}

/// (verb, resource) of every rule of the operator's own roles in `docs`.
fn granted_pairs(docs: &[Value]) -> std::collections::BTreeSet<(String, String)> {
    rules(docs)
        .into_iter()
        .filter(|(owner, _)| !owner.ends_with("-edit") && !owner.ends_with("-view"))
        .flat_map(|(_, rule)| {
            let strs = |k: &str| -> Vec<String> {
                rule[k]
                    .as_sequence()
                    .map(|s| {
                        s.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let (groups, resources, verbs) = (strs("apiGroups"), strs("resources"), strs("verbs"));
            let mut out = Vec::new();
            for g in &groups {
                for r in &resources {
                    for v in &verbs {
                        out.push((v.clone(), resource_key(g, r)));
                    }
                }
            }
            out
        })
        .collect()
}

/// Audit events of `user` with a 403 answer, since byte `offset` of the audit log.
fn forbidden_requests(user: &str, offset: u64) -> Vec<String> {
    audit_events(offset)
        .into_iter()
        .filter(|e| e["user"]["username"] == user && e["responseStatus"]["code"] == 403)
        .map(|e| {
            format!(
                "{} {} {}",
                e["verb"], e["objectRef"], e["responseStatus"]["message"]
            )
        })
        .collect()
}

/// Audit events of `user` that wrote the status of WardService `name` in `namespace`.
fn status_writes(user: &str, namespace: &str, name: &str, offset: u64) -> usize {
    audit_events(offset)
        .iter()
        .filter(|e| {
            e["user"]["username"] == user
                && matches!(e["verb"].as_str(), Some("patch" | "update"))
                && e["objectRef"]["resource"] == "wardservices"
                && e["objectRef"]["subresource"] == "status"
                && e["objectRef"]["namespace"] == namespace
                && e["objectRef"]["name"] == name
                && e["responseStatus"]["code"]
                    .as_i64()
                    .is_some_and(|c| c < 300)
        })
        .count()
}

/// The operator, with nothing but the chart's ServiceAccount token, reconciles the
/// samples: the chart's RBAC is enough. And that token cannot do what the operator
/// must never do.
#[tokio::test]
async fn operator_with_the_charts_identity_reconciles_the_samples() {
    let root = repo_root();
    // The binary under test, built from this tree.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let r = run(
        {
            let mut c = Command::new(cargo);
            c.args(["build", "-p", "wardops", "--bin", "wardops"])
                .current_dir(&root);
            c
        },
        None,
    );
    assert!(r.success, "cargo build -p wardops failed:\n{}", r.stderr);

    upgrade_crds();
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "chart-identity", RESTRICTED)
        .await
        .unwrap();
    let release = Release::install(&ns.name, "{}");
    let sa = release.fullname();
    let user = release.service_account();

    // A token of the chart's ServiceAccount, and a kubeconfig with only that.
    let token = kubectl_ok(
        &["-n", &ns.name, "create", "token", &sa, "--duration=1h"],
        None,
    );
    let dir = std::env::temp_dir().join(unique_name("wardops-identity"));
    std::fs::create_dir_all(&dir).unwrap();
    let kc = dir.join("kubeconfig");
    token_kubeconfig(token.trim(), &ns.name, &kc);
    let as_sa = |args: &[&str]| -> Run {
        let mut c = tool("kubectl");
        c.env("KUBECONFIG", &kc).args(args);
        run(c, None)
    };
    let who = as_sa(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    assert_eq!(who.stdout.trim(), user, "{}", who.stderr);

    // What the operator must never be able to do, asked as the operator.
    for (verb, resource, namespace) in [
        ("patch", "secrets", "phuong-hong-bang"),
        ("update", "secrets", "phuong-hong-bang"),
        ("delete", "secrets", "phuong-hong-bang"),
        ("delete", "namespaces", ""),
        ("create", "pods", "phuong-hong-bang"),
        (
            "create",
            "clusterrolebindings.rbac.authorization.k8s.io",
            "",
        ),
        ("create", "leases.coordination.k8s.io", "kube-system"),
    ] {
        let mut args = vec!["auth", "can-i", verb, resource];
        if namespace.is_empty() {
            args.push("--all-namespaces")
        } else {
            args.extend(["-n", namespace])
        }
        let r = as_sa(&args);
        assert_eq!(
            r.stdout.trim(),
            "no",
            "the operator's token can {verb} {resource} in {namespace:?}"
        );
    }

    // Start from a clean slate, so that Ready=True is this run's work.
    let audit_offset = audit::mark().expect("the audit log");
    let operator = OperatorBuilder::new("chart-identity")
        .kubeconfig(kc.clone())
        .env_remove("POD_NAMESPACE")
        .args([
            "--leader-election=true",
            "--lease-namespace",
            &ns.name,
            "--log-format",
            "text",
        ])
        .start();

    for kind in facts::crd_plurals() {
        let _ = kubectl(
            &[
                "delete",
                &kind,
                "--all",
                "-n",
                "phuong-hong-bang",
                "--wait=true",
                "--timeout=60s",
            ],
            None,
        );
        let _ = kubectl(
            &[
                "delete",
                &kind,
                "--all",
                "-n",
                "xa-an-lao",
                "--wait=true",
                "--timeout=60s",
            ],
            None,
        );
    }
    let samples = root.join("deploy/samples");
    kubectl_ok(
        &["apply", "--server-side", "-f", samples.to_str().unwrap()],
        None,
    );

    // The operator takes the Lease in its namespace.
    wait_for("a Lease holder", Duration::from_secs(30), || async {
        operator.alive().unwrap_or_else(|e| panic!("{e:#}"));
        let holder = kubectl(
            &[
                "-n",
                &ns.name,
                "get",
                "lease",
                "wardops-leader",
                "-o",
                "jsonpath={.spec.holderIdentity}",
            ],
            None,
        );
        Ok((holder.success && !holder.stdout.trim().is_empty()).then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", operator.log_tail()));

    // A second replica with the same identity stands by: it watches the Lease
    // (what the list/watch rule on the Lease is for) and reconciles nothing.
    let standby = OperatorBuilder::new("chart-identity-standby")
        .kubeconfig(kc.clone())
        .env_remove("POD_NAMESPACE")
        .args(["--leader-election=true", "--lease-namespace", &ns.name])
        .start();
    wait_for(
        "the standby to watch the Lease",
        Duration::from_secs(30),
        || async {
            standby.alive()?;
            let watched = audit::events(audit_offset, None)?.iter().any(|e| {
                e["user"]["username"] == user.as_str()
                    && e["verb"] == "watch"
                    && e["objectRef"]["resource"] == "leases"
            });
            Ok(watched.then_some(()))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", standby.log_tail()));
    drop(standby);

    // One-stop of Phường Hồng Bàng becomes Ready.
    wait_for(
        "WardService phuong-hong-bang/one-stop Ready=True",
        Duration::from_secs(120),
        || async {
            operator.alive().unwrap_or_else(|e| panic!("{e:#}"));
            let r = kubectl(
                &[
                    "-n",
                    "phuong-hong-bang",
                    "get",
                    "wardservice",
                    "one-stop",
                    "-o",
                    "json",
                ],
                None,
            );
            if !r.success {
                anyhow::bail!("{}", r.stderr.trim());
            }
            let ws: serde_json::Value = serde_json::from_str(&r.stdout)?;
            let ready = ws["status"]["conditions"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["type"] == "Ready").cloned());
            match ready {
                Some(ready) if ready["status"] == "True" => Ok(Some(())),
                Some(ready) => anyhow::bail!("last Ready condition: {ready}"),
                None => Ok(None),
            }
        },
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e:#}\nforbidden requests: {:#?}\noperator log:\n{}",
            forbidden_requests(&user, audit_offset),
            operator.log_tail()
        )
    });

    // It was this identity that reconciled it, and it was never refused anything.
    assert!(
        status_writes(&user, "phuong-hong-bang", "one-stop", audit_offset) > 0,
        "the Ready status was not written by {user}"
    );
    let forbidden = forbidden_requests(&user, audit_offset);
    assert!(
        forbidden.is_empty(),
        "the chart's RBAC refused the operator:\n{forbidden:#?}"
    );

    // Exercise the rest of what the operator does: a data volume that is deleted
    // with its spec, and optional children removed from a spec.
    let extra = serde_json::json!({
        "apiVersion": "wardops.io/v1alpha1", "kind": "WardService",
        "metadata": {"name": "rbac-extra", "namespace": "phuong-hong-bang"},
        "spec": {"ward": {"code": "11311", "name": "Phường Hồng Bàng"}, "image": "x:1", "replicas": 2,
                 "storage": {"size": "1Gi", "reclaimPolicy": "Delete"},
                 "autoscaling": {"minReplicas": 2, "maxReplicas": 3}, "ingress": {"host": "rbac.haiphong.gov.vn"}}
    });
    kubectl_ok(
        &["apply", "--server-side", "-f", "-"],
        Some(&extra.to_string()),
    );
    let children = [
        "pvc/rbac-extra-data",
        "hpa/rbac-extra",
        "pdb/rbac-extra",
        "ingress/rbac-extra",
    ];
    wait_for("the extra children", Duration::from_secs(90), || async {
        let r = kubectl(
            &["-n", "phuong-hong-bang", "get"]
                .iter()
                .copied()
                .chain(children)
                .collect::<Vec<_>>(),
            None,
        );
        Ok(r.success.then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", operator.log_tail()));
    let merge = r#"{"spec":{"replicas":1,"storage":null,"autoscaling":null,"ingress":null}}"#;
    kubectl_ok(
        &[
            "-n",
            "phuong-hong-bang",
            "patch",
            "wardservice",
            "rbac-extra",
            "--type=merge",
            "-p",
            merge,
        ],
        None,
    );
    wait_for(
        "the optional children to be deleted",
        Duration::from_secs(90),
        || async {
            let gone = children.iter().all(|c| {
                kubectl(
                    &[
                        "-n",
                        "phuong-hong-bang",
                        "get",
                        c,
                        "--ignore-not-found",
                        "-o",
                        "name",
                    ],
                    None,
                )
                .stdout
                .trim()
                .is_empty()
            });
            Ok(gone.then_some(()))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", operator.log_tail()));
    kubectl_ok(
        &[
            "-n",
            "phuong-hong-bang",
            "delete",
            "wardservice",
            "rbac-extra",
        ],
        None,
    );

    // A retained data volume: its PersistentVolume is set to reclaim policy
    // Retain once the claim is bound (noted on the claim).
    let kept = serde_json::json!({
        "apiVersion": "wardops.io/v1alpha1", "kind": "WardService",
        "metadata": {"name": "rbac-kept", "namespace": "phuong-hong-bang"},
        "spec": {"ward": {"code": "11311", "name": "Phường Hồng Bàng"}, "image": "x:1",
                 "storage": {"size": "1Gi", "reclaimPolicy": "Retain"}}
    });
    kubectl_ok(
        &["apply", "--server-side", "-f", "-"],
        Some(&kept.to_string()),
    );
    let volume = wait_for(
        "the retained claim's volume kept",
        Duration::from_secs(90),
        || async {
            let jsonpath = r#"jsonpath={.spec.volumeName} {.metadata.annotations.wardops\.io/retained-volume}"#;
            let r = kubectl(
                &["-n", "phuong-hong-bang", "get", "pvc", "rbac-kept-data", "-o", jsonpath],
                None,
            );
            let out = r.stdout.trim().to_string();
            Ok(match out.split_once(' ') {
                Some((bound, noted)) if !bound.is_empty() && bound == noted => {
                    Some(bound.to_string())
                }
                _ => None,
            })
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", operator.log_tail()));
    for object in ["wardservice/rbac-kept", "pvc/rbac-kept-data"] {
        kubectl_ok(&["-n", "phuong-hong-bang", "delete", object], None);
    }
    kubectl_ok(&["delete", "pv", &volume, "--wait=false"], None);

    // A sync connector: a pull now (a Job), then back to mode proxy (its
    // CronJob, pull policy and snapshot volume deleted).
    let dc = ["-n", "phuong-hong-bang"];
    let sync_children = [
        "cronjob/dat-dai-sync",
        "networkpolicy/dat-dai-sync",
        "pvc/dat-dai-connector-data",
    ];
    wait_for(
        "the sync connector's children",
        Duration::from_secs(90),
        || async {
            let args: Vec<&str> = dc
                .iter()
                .copied()
                .chain(["get"])
                .chain(sync_children)
                .collect();
            Ok(kubectl(&args, None).success.then_some(()))
        },
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e:#}
{}",
            operator.log_tail()
        )
    });
    kubectl_ok(
        &[
            dc[0],
            dc[1],
            "annotate",
            "dataconnector",
            "dat-dai",
            "wardops.io/sync-now=rbac",
        ],
        None,
    );
    wait_for("the sync-now Job", Duration::from_secs(90), || async {
        let r = kubectl(
            &[
                dc[0],
                dc[1],
                "get",
                "jobs",
                "-l",
                "app.kubernetes.io/instance=dat-dai",
                "-o",
                "name",
            ],
            None,
        );
        Ok((!r.stdout.trim().is_empty()).then_some(()))
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e:#}
{}",
            operator.log_tail()
        )
    });
    kubectl_ok(
        &[
            dc[0],
            dc[1],
            "patch",
            "dataconnector",
            "dat-dai",
            "--type=merge",
            "-p",
            r#"{"spec":{"mode":"proxy","schedule":null,"timeZone":null}}"#,
        ],
        None,
    );
    wait_for(
        "the sync children to be deleted",
        Duration::from_secs(90),
        || async {
            let args: Vec<&str> = dc
                .iter()
                .copied()
                .chain(["get", "--ignore-not-found", "-o", "name"])
                .chain(sync_children)
                .collect();
            Ok(kubectl(&args, None).stdout.trim().is_empty().then_some(()))
        },
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e:#}
{}",
            operator.log_tail()
        )
    });

    // A BackupPolicy without spec.encryption: wardops generates its key.
    let policy = serde_json::json!({
        "apiVersion": "wardops.io/v1alpha1", "kind": "BackupPolicy",
        "metadata": {"name": "rbac-key", "namespace": "phuong-hong-bang"},
        "spec": {"target": {"wardServiceRef": {"name": "one-stop"}}, "schedule": "0 3 * * *",
                 "retention": {"keepLast": 3}, "destination": {"pvc": {"claimName": "backups"}}}
    });
    kubectl_ok(
        &["apply", "--server-side", "-f", "-"],
        Some(&policy.to_string()),
    );
    wait_for(
        "the generated backup key",
        Duration::from_secs(90),
        || async {
            Ok(kubectl(
                &[
                    dc[0],
                    dc[1],
                    "get",
                    "secret",
                    "rbac-key-backup-key",
                    "-o",
                    "name",
                ],
                None,
            )
            .success
            .then_some(()))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", operator.log_tail()));
    // A Restore in place: the operator stops the ward through its WardService
    // and starts it again.
    let restore_objects = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
         "metadata": {"name": "backups", "namespace": "phuong-hong-bang"},
         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}},
        {"apiVersion": "wardops.io/v1alpha1", "kind": "WardService",
         "metadata": {"name": "rbac-restore", "namespace": "phuong-hong-bang"},
         "spec": {"ward": {"code": "11311", "name": "Phường Hồng Bàng"}, "image": "x:1",
                  "storage": {"size": "1Gi", "reclaimPolicy": "Delete"}}},
        {"apiVersion": "wardops.io/v1alpha1", "kind": "Restore",
         "metadata": {"name": "rbac-restore", "namespace": "phuong-hong-bang"},
         "spec": {"backupPolicyRef": {"name": "rbac-key"}, "wardServiceRef": {"name": "rbac-restore"}}}
    ]});
    kubectl_ok(
        &["apply", "--server-side", "-f", "-"],
        Some(&restore_objects.to_string()),
    );
    wait_for(
        "the Restore to succeed",
        Duration::from_secs(120),
        || async {
            let r = kubectl(
                &[
                    dc[0],
                    dc[1],
                    "get",
                    "restore",
                    "rbac-restore",
                    "-o",
                    "jsonpath={.status.phase}",
                ],
                None,
            );
            Ok((r.stdout.trim() == "Succeeded").then_some(()))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", operator.log_tail()));
    for object in [
        "restore/rbac-restore",
        "wardservice/rbac-restore",
        "pvc/backups",
    ] {
        kubectl_ok(&[dc[0], dc[1], "delete", object, "--wait=false"], None);
    }
    kubectl_ok(&[dc[0], dc[1], "delete", "backuppolicy", "rbac-key"], None);
    kubectl_ok(
        &[dc[0], dc[1], "delete", "secret", "rbac-key-backup-key"],
        None,
    );

    // The sample was changed by hand: gone, so a later apply of the samples
    // meets no other field manager.
    kubectl_ok(&[dc[0], dc[1], "delete", "dataconnector", "dat-dai"], None);

    // The rules are exactly the requests, both ways.
    let used = requests_by(&user, audit_offset);
    let granted = granted_pairs(&render("{}"));
    let allowed =
        |verb: &str, resource: &str| granted.iter().any(|(v, r)| v == verb && r == resource);
    let unexpected: Vec<_> = used.iter().filter(|(v, r)| !allowed(v, r)).collect();
    assert!(
        unexpected.is_empty(),
        "requests no rule grants: {unexpected:?}"
    );
    let unused: Vec<_> = granted
        .iter()
        .filter(|pair| {
            !(used.contains(pair)
                || GRANTED_NOT_REQUESTED.contains(&(pair.0.as_str(), pair.1.as_str()))
                || (matches!(pair.0.as_str(), "create" | "get") && is_applied_child(&pair.1))
                // The caches list by streaming (a watch); `list` is for an API
                // server without streaming lists (Kubernetes 1.33 by default).
                || (pair.0 == "list" && used.contains(&("watch".to_string(), pair.1.clone()))))
        })
        .collect();
    assert!(
        unused.is_empty(),
        "rules the operator never used: {unused:?}"
    );

    drop(operator);
    let _ = std::fs::remove_dir_all(&dir);
}
