//! State-secret separation on the real control plane: each test closes one
//! hole that an editor of one ward namespace could use against 0.1.0.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Result, anyhow};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use wardops::api::WardService;
use wardops::controller::ward_service::build::network_policy::selector_matches;
use wardops::runtime::settings::WorkloadSettings;
use wardops_tests::ward::{
    TIMEOUT, create_ready, owned_replica_sets, put_secret, ready_message, setup, wait_ready_reason,
    ward_service,
};
use wardops_tests::{TestNamespace, client, kubectl, repo_root, run, tool, wait_for};

const SECRET_NS: &[(&str, &str)] = &[("wardops.io/classification", "secret")];

/// `kubectl ARGS` with a manifest on stdin; (success, stderr).
fn kubectl_in(args: &[&str], doc: &Value) -> (bool, String) {
    let r = kubectl(args, Some(&doc.to_string()));
    (r.success, r.stderr)
}

// ---- 1. No declassification by edit ---------------------------------------------------

#[tokio::test]
async fn classification_can_be_raised_but_never_lowered_by_an_edit() -> Result<()> {
    let c = client().await?;
    let ns = TestNamespace::create(&c, "sep-lower", SECRET_NS).await?;
    let n = ns.name.as_str();
    let docs = [
        json!({"apiVersion": "wardops.io/v1alpha1", "kind": "WardService",
               "metadata": {"name": "records", "namespace": n},
               "spec": {"ward": {"code": "11311", "name": "Phường Hồng Bàng"}, "image": "x:1",
                        "classification": "confidential"}}),
        json!({"apiVersion": "wardops.io/v1alpha1", "kind": "DataConnector",
               "metadata": {"name": "dan-cu", "namespace": n},
               "spec": {"wardServiceRef": {"name": "records"},
                        "source": {"kind": "population", "endpoint": "https://dancu.haiphong.gov.vn"},
                        "credentialsSecretRef": {"name": "dan-cu"}, "datasets": ["cong-dan"],
                        "classification": "confidential"}}),
        json!({"apiVersion": "wardops.io/v1alpha1", "kind": "BackupPolicy",
               "metadata": {"name": "nightly", "namespace": n},
               "spec": {"target": {"wardServiceRef": {"name": "records"}}, "schedule": "30 1 * * *",
                        "retention": {"keepDaily": 7}, "destination": {"pvc": {"claimName": "b"}},
                        "encryption": {"keySecretRef": {"name": "k", "key": "password"}},
                        "classification": "confidential"}}),
    ];
    for doc in &docs {
        let kind = doc["kind"].as_str().unwrap_or_default();
        let (ok, err) = kubectl_in(&["apply", "--server-side", "-f", "-"], doc);
        assert!(ok, "{kind}: create: {err}");
        // Lowering is refused, naming the field.
        let mut lower = doc.clone();
        lower["spec"]["classification"] = json!("public");
        let (ok, err) = kubectl_in(&["apply", "--server-side", "-f", "-"], &lower);
        assert!(!ok, "{kind}: lowered to public");
        assert!(
            err.contains("spec.classification") && err.contains("never lowered"),
            "{kind}: {err}"
        );
        // Raising is allowed.
        let mut raise = doc.clone();
        raise["spec"]["classification"] = json!("secret");
        let (ok, err) = kubectl_in(&["apply", "--server-side", "-f", "-"], &raise);
        assert!(ok, "{kind}: raised to secret: {err}");
    }
    // A DataConnector cannot drop its classification to inherit a lower one.
    let r = kubectl(
        &[
            "-n",
            n,
            "patch",
            "dataconnector",
            "dan-cu",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/spec/classification"}]"#,
        ],
        None,
    );
    assert!(
        !r.success && r.stderr.contains("never lowered"),
        "{}",
        r.stderr
    );
    Ok(())
}

#[tokio::test]
async fn a_lower_service_never_adopts_a_classified_volume() -> Result<()> {
    let (c, ns) = setup("sep-volume", SECRET_NS).await?;
    let n = ns.name.as_str();
    let storage = json!({"size": "1Gi", "reclaimPolicy": "Retain"});
    create_ready(
        &c,
        n,
        "records",
        json!({"classification": "secret", "storage": storage}),
    )
    .await?;
    let pvcs = Api::<PersistentVolumeClaim>::namespaced(c.clone(), n);
    let claim = pvcs.get("records-data").await?;
    assert_eq!(
        claim
            .labels()
            .get("wardops.io/classification")
            .map(String::as_str),
        Some("secret")
    );
    // Delete the service; the retained claim stays, and its pods go.
    Api::<WardService>::namespaced(c.clone(), n)
        .delete("records", &Default::default())
        .await?;
    let deployments = Api::<Deployment>::namespaced(c.clone(), n);
    wait_for("the old Deployment to be collected", TIMEOUT, || async {
        Ok(deployments
            .get_opt("records")
            .await?
            .is_none()
            .then_some(()))
    })
    .await?;
    // Re-created one level lower: refused, naming the claim; nothing mounts it.
    Api::<WardService>::namespaced(c.clone(), n)
        .create(
            &PostParams::default(),
            &ward_service(
                "records",
                json!({"classification": "internal", "storage": storage}),
            ),
        )
        .await?;
    let msg = ready_message(
        &wait_ready_reason(&c, n, "records", "False", "ClassificationMismatch").await?,
    );
    assert!(
        msg.contains("PersistentVolumeClaim `records-data`"),
        "{msg}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        deployments.get_opt("records").await?.is_none(),
        "no pod mounts it"
    );
    let claim = pvcs.get("records-data").await?;
    assert_eq!(
        claim
            .labels()
            .get("wardops.io/classification")
            .map(String::as_str),
        Some("secret"),
        "the claim is left as it was"
    );
    Ok(())
}

// ---- 2 and 3. DNS only to the cluster DNS, peers by labels only wardops sets together ---

/// The live NetworkPolicy of WardService `name`.
async fn policy(c: &Client, ns: &str, name: &str) -> Result<NetworkPolicy> {
    let api = Api::<NetworkPolicy>::namespaced(c.clone(), ns);
    wait_for("the NetworkPolicy", TIMEOUT, || async {
        Ok(api.get_opt(name).await?)
    })
    .await
}

#[tokio::test]
async fn dns_egress_goes_only_to_the_cluster_dns_pods() -> Result<()> {
    let (c, ns) = setup("sep-dns", SECRET_NS).await?;
    for (name, class) in [("portal", "public"), ("records", "secret")] {
        create_ready(&c, &ns.name, name, json!({"classification": class})).await?;
        let spec = policy(&c, &ns.name, name).await?.spec.unwrap_or_default();
        let defaults = WorkloadSettings::default();
        let dns_rules: Vec<_> = spec
            .egress
            .iter()
            .flatten()
            .filter(|r| {
                r.ports.iter().flatten().any(|p| {
                    p.port
                        == Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(53))
                })
            })
            .collect();
        assert_eq!(dns_rules.len(), 1, "{name}: one DNS rule");
        let peers = dns_rules[0].to.clone().unwrap_or_default();
        assert!(!peers.is_empty(), "{name}: DNS to anywhere");
        for peer in &peers {
            let ns_sel = peer.namespace_selector.clone().unwrap_or_default();
            assert_eq!(
                ns_sel
                    .match_labels
                    .unwrap_or_default()
                    .get("kubernetes.io/metadata.name"),
                Some(&defaults.dns_namespace),
                "{name}: DNS peer outside the DNS namespace"
            );
            assert_eq!(
                peer.pod_selector.clone().unwrap_or_default().match_labels,
                Some(defaults.dns_pod_selector.0.clone()),
                "{name}: DNS peer is not the DNS pods"
            );
            assert!(peer.ip_block.is_none(), "{name}: DNS to an address block");
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_pod_with_copied_labels_is_not_a_trusted_peer() -> Result<()> {
    let (c, ns) = setup("sep-peers", SECRET_NS).await?;
    let n = ns.name.as_str();
    create_ready(&c, n, "records", json!({"classification": "secret"})).await?;
    create_ready(&c, n, "portal", json!({"classification": "public"})).await?;
    // A hand-made pod that copies the ward label and even the classification.
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "intruder", "labels": {
            "wardops.io/ward": "11311", "wardops.io/classification": "secret",
            "wardops.io/connector-for": "records",
            "app.kubernetes.io/component": "connector-gateway"}},
        "spec": {"containers": [{"name": "c", "image": "busybox:1",
            "securityContext": {"allowPrivilegeEscalation": false, "runAsNonRoot": true,
                "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}}]}
    }))?;
    let pods = Api::<Pod>::namespaced(c.clone(), n);
    let intruder = pods.create(&PostParams::default(), &pod).await?;
    let ingress = policy(&c, n, "records")
        .await?
        .spec
        .unwrap_or_default()
        .ingress
        .unwrap_or_default();
    let allowed = |labels: &BTreeMap<String, String>| {
        ingress
            .iter()
            .flat_map(|r| r.from.iter().flatten())
            .any(|peer| {
                peer.namespace_selector.is_none()
                    && peer
                        .pod_selector
                        .as_ref()
                        .is_some_and(|s| selector_matches(s, labels))
            })
    };
    assert!(
        !allowed(intruder.labels()),
        "the hand-made pod reaches a secret service"
    );
    // Pods of the same ward's public service: real labels, read from the cluster.
    let portal_pods = wait_for("the portal's pods", TIMEOUT, || async {
        let list = pods
            .list(&ListParams::default().labels("app.kubernetes.io/instance=portal"))
            .await?;
        Ok((!list.items.is_empty()).then_some(list.items))
    })
    .await?;
    for p in &portal_pods {
        assert!(
            !allowed(p.labels()),
            "a public service reaches a secret one"
        );
    }
    // Its own pods (same ward, managed, same level) are allowed: the rule is not empty.
    let own = pods
        .list(&ListParams::default().labels("app.kubernetes.io/instance=records"))
        .await?;
    assert!(!own.items.is_empty() && own.items.iter().all(|p| allowed(p.labels())));
    Ok(())
}

// ---- 5. Credentials in plain configuration ---------------------------------------------

#[tokio::test]
async fn credential_keys_in_config_are_refused_and_values_are_capped() -> Result<()> {
    let c = client().await?;
    let ns = TestNamespace::create(&c, "sep-config", &[]).await?;
    let doc = |config: Value| {
        json!({"apiVersion": "wardops.io/v1alpha1", "kind": "WardService",
               "metadata": {"name": "one-stop", "namespace": ns.name},
               "spec": {"ward": {"code": "11311", "name": "Phường Hồng Bàng"}, "image": "x:1",
                        "config": config}})
    };
    let dry = ["apply", "--server-side", "--dry-run=server", "-f", "-"];
    for key in [
        "DB_PASSWORD",
        "password",
        "Github_Token",
        "API_KEY",
        "SESSION_SECRET",
        "TLS_PRIVATE_KEY",
    ] {
        let (ok, err) = kubectl_in(&dry, &doc(json!({ key: "hunter2" })));
        assert!(!ok, "{key} accepted");
        assert!(
            err.contains("spec.config") && err.contains("spec.secretEnv"),
            "{key}: {err}"
        );
        assert!(!err.contains("hunter2"), "the value is echoed: {err}");
    }
    for key in ["TOKEN_URL", "PASSWORD_POLICY_URL", "MAX_UPLOAD_MB"] {
        let (ok, err) = kubectl_in(&dry, &doc(json!({ key: "20" })));
        assert!(ok, "{key} refused: {err}");
    }
    let (ok, err) = kubectl_in(&dry, &doc(json!({"BANNER": "x".repeat(4097)})));
    assert!(!ok && err.contains("spec.config.BANNER"), "{err}");
    Ok(())
}

// ---- 6. Secrets as files -----------------------------------------------------------------

#[tokio::test]
async fn secret_files_are_read_only_and_a_rotation_rolls_once() -> Result<()> {
    let (c, ns) = setup("sep-files", SECRET_NS).await?;
    let n = ns.name.as_str();
    let spec = json!({"classification": "secret", "secretFiles": [
        {"secretName": "db", "mountPath": "/var/run/secrets/db", "keys": ["password"]}]});
    Api::<WardService>::namespaced(c.clone(), n)
        .create(&PostParams::default(), &ward_service("records", spec))
        .await?;
    // Missing: named by its field, never by a value.
    let msg = ready_message(&wait_ready_reason(&c, n, "records", "False", "SecretMissing").await?);
    assert!(
        msg.contains("Secret `db`") && msg.contains("spec.secretFiles[0]"),
        "{msg}"
    );
    put_secret(&c, n, "db", &[("user", "app")]).await?;
    let api = Api::<WardService>::namespaced(c.clone(), n);
    let msg = wait_for("the message to name the missing key", TIMEOUT, || async {
        let ws = api.get("records").await?;
        let msg = ws
            .status
            .unwrap_or_default()
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready" && c.reason == "SecretMissing")
            .map(|c| c.message)
            .unwrap_or_default();
        Ok(msg.contains("no key").then_some(msg))
    })
    .await?;
    assert!(
        msg.contains("no key `password`") && msg.contains("spec.secretFiles[0].keys[0]"),
        "{msg}"
    );
    put_secret(
        &c,
        n,
        "db",
        &[("user", "app"), ("password", "sentinel-f1les")],
    )
    .await?;
    wait_ready_reason(&c, n, "records", "True", "Available").await?;

    let d = Api::<Deployment>::namespaced(c.clone(), n)
        .get("records")
        .await?;
    let pod = d
        .spec
        .and_then(|s| s.template.spec)
        .ok_or_else(|| anyhow!("no pod spec"))?;
    let vol = pod
        .volumes
        .unwrap_or_default()
        .into_iter()
        .find(|v| v.secret.is_some())
        .ok_or_else(|| anyhow!("no secret volume"))?;
    let src = vol.secret.unwrap_or_default();
    assert_eq!(src.default_mode, Some(0o400));
    assert_eq!(src.secret_name.as_deref(), Some("db"));
    let mount = pod.containers[0]
        .volume_mounts
        .clone()
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.name == vol.name)
        .ok_or_else(|| anyhow!("not mounted"))?;
    assert_eq!(
        (mount.mount_path.as_str(), mount.read_only),
        ("/var/run/secrets/db", Some(true))
    );
    assert!(!serde_json::to_string(&pod.containers)?.contains("sentinel-f1les"));

    // A rotation rolls the pods exactly once.
    let before = owned_replica_sets(&c, n, "records").await?.len();
    put_secret(
        &c,
        n,
        "db",
        &[("user", "app"), ("password", "sentinel-r0tated")],
    )
    .await?;
    wait_for("one new ReplicaSet", TIMEOUT, || async {
        Ok((owned_replica_sets(&c, n, "records").await?.len() == before + 1).then_some(()))
    })
    .await?;
    wait_ready_reason(&c, n, "records", "True", "Available").await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        owned_replica_sets(&c, n, "records").await?.len(),
        before + 1,
        "rolled more than once"
    );
    // The rollout's trigger (a digest of the Secret) carries no value: etcd
    // holds the rotated value in the Secret only.
    wardops_tests::etcd::assert_only_in_secret("sentinel-r0tated", n, "db")?;
    Ok(())
}

// ---- 7. Defaults that protect the shared pool --------------------------------------------

#[tokio::test]
async fn pods_without_resources_get_the_defaults_and_a_bounded_tmp() -> Result<()> {
    let (c, ns) = setup("sep-defaults", &[]).await?;
    create_ready(&c, &ns.name, "one-stop", json!({})).await?;
    let d = Api::<Deployment>::namespaced(c.clone(), &ns.name)
        .get("one-stop")
        .await?;
    let pod = d
        .spec
        .and_then(|s| s.template.spec)
        .ok_or_else(|| anyhow!("no pod spec"))?;
    let defaults = WorkloadSettings::default();
    let r = pod.containers[0].resources.clone().unwrap_or_default();
    let requests = r.requests.unwrap_or_default();
    let limits = r.limits.unwrap_or_default();
    assert_eq!(
        requests.get("cpu").map(|q| q.0.as_str()),
        Some(defaults.default_cpu_request.as_str())
    );
    assert_eq!(
        requests.get("memory").map(|q| q.0.as_str()),
        Some(defaults.default_memory_request.as_str())
    );
    assert_eq!(
        limits.get("memory").map(|q| q.0.as_str()),
        Some(defaults.default_memory_limit.as_str())
    );
    assert!(!limits.contains_key("cpu"), "no CPU limit by default");
    let tmp = pod
        .volumes
        .unwrap_or_default()
        .into_iter()
        .find(|v| v.name == "tmp")
        .and_then(|v| v.empty_dir)
        .and_then(|e| e.size_limit);
    assert_eq!(tmp.map(|q| q.0), Some(defaults.tmp_size_limit));
    Ok(())
}

#[tokio::test]
async fn no_start_without_an_isolated_pool_while_classified_services_exist() -> Result<()> {
    let (c, ns) = setup("sep-nopool", SECRET_NS).await?;
    Api::<WardService>::namespaced(c.clone(), &ns.name)
        .create(
            &PostParams::default(),
            &ward_service("records", json!({"classification": "secret"})),
        )
        .await?;
    let mut cmd = std::process::Command::new(wardops_tests::wardops_bin());
    cmd.env("KUBECONFIG", wardops_tests::kubeconfig()).args([
        "run",
        "--leader-election=false",
        "--isolated-node-selector=",
        "--watch-namespaces",
        &ns.name,
        "--metrics-addr=127.0.0.1:0",
        "--health-addr=127.0.0.1:0",
    ]);
    let r = run(cmd, None);
    assert!(!r.success, "started with no isolated pool");
    assert!(
        r.stderr.contains("--isolated-node-selector is empty")
            && r.stderr.contains(&format!("{}/records", ns.name)),
        "{}",
        r.stderr
    );
    Ok(())
}

// ---- 8. The operator's own surface ---------------------------------------------------------

#[test]
fn the_operator_ships_a_network_policy_by_default() {
    let chart = {
        let mut c = tool("helm");
        c.args([
            "template",
            "wardops",
            repo_root()
                .join("charts/wardops")
                .to_str()
                .unwrap_or_default(),
        ]);
        run(c, None)
    };
    assert!(chart.success, "{}", chart.stderr);
    let base = kubectl(
        &[
            "kustomize",
            repo_root().join("deploy/base").to_str().unwrap_or_default(),
        ],
        None,
    );
    assert!(base.success, "{}", base.stderr);
    for (what, text) in [("chart", chart.stdout), ("kustomize base", base.stdout)] {
        let policies: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
            .filter_map(|d| serde::Deserialize::deserialize(d).ok())
            .filter(|d: &Value| d["kind"] == "NetworkPolicy")
            .collect();
        assert_eq!(policies.len(), 1, "{what}: one NetworkPolicy");
        let spec = &policies[0]["spec"];
        let metrics = spec["ingress"]
            .as_array()
            .and_then(|rules| rules.iter().find(|r| r["ports"][0]["port"] == "metrics"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            metrics["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
            "monitoring",
            "{what}: metrics open to all"
        );
        let egress_ports: Vec<i64> = spec["egress"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["ports"].as_array().cloned().unwrap_or_default())
            .filter_map(|p| p["port"].as_i64())
            .collect();
        assert!(
            egress_ports.iter().all(|p| [53, 443, 6443].contains(p)),
            "{what}: egress beyond DNS and the API server: {egress_ports:?}"
        );
    }
}

#[test]
fn the_example_pipeline_pins_actions_and_keeps_repository_secrets_out_of_staging_and_prod() {
    let text = std::fs::read_to_string(repo_root().join(".github/workflows/deploy.yml"))
        .unwrap_or_default();
    let uses: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().trim_start_matches("- ").strip_prefix("uses: "))
        .collect();
    assert!(!uses.is_empty());
    for u in uses {
        let sha = u
            .split_once('@')
            .map(|(_, r)| r.split_whitespace().next().unwrap_or_default());
        assert!(
            sha.is_some_and(|s| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())),
            "action not pinned by commit: {u}"
        );
    }
    let wf: Value = serde_yaml::from_str(&text).unwrap_or_default();
    let apply = wf["jobs"]["deploy"]["steps"]
        .as_array()
        .and_then(|steps| {
            steps
                .iter()
                .find(|s| s["name"] == "Apply the ward manifests")
        })
        .and_then(|s| s["run"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(
        apply.contains(r#"select(.kind != "Secret")"#)
            && apply.contains(r#"[ "$ENVIRONMENT" = dev ]"#),
        "Secrets from the repository reach staging or prod:\n{apply}"
    );
}
