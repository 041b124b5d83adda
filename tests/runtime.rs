//! `wardops run` as a process: settings errors, health endpoints, leader
//! election on a Lease, graceful shutdown. Against the local control plane.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Result;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use wardops_tests::{
    Operator, OperatorBuilder, TestNamespace, client, kubeconfig, wait_for, wardops_bin,
};

const READY: Duration = Duration::from_secs(60);

/// `wardops run` with leader election on Lease `wardops-test` in `ns`,
/// watching `ns` only, as pod `name`.
fn start(name: &str, ns: &str, lease_seconds: u32) -> Operator {
    OperatorBuilder::new(&format!("runtime-{name}"))
        .args([
            "--leader-election=true".to_string(),
            format!("--lease-namespace={ns}"),
            "--lease-name=wardops-test".to_string(),
            format!("--lease-duration-seconds={lease_seconds}"),
            format!("--watch-namespaces={ns}"),
            "--log-format=json".to_string(),
        ])
        .env("POD_NAME", name)
        .start()
}

async fn holder(c: &kube::Client, ns: &str) -> Result<Option<String>> {
    Ok(Api::<Lease>::namespaced(c.clone(), ns)
        .get_opt("wardops-test")
        .await?
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty()))
}

async fn wait_leader(op: &Operator, what: &str, timeout: Duration) -> Result<()> {
    wait_for(what, timeout, || async {
        op.alive()?;
        Ok((op.metric("wardops_leader")? == Some(1.0)).then_some(()))
    })
    .await
}

#[test]
fn invalid_settings_fail_at_start_with_a_clear_error() {
    for (args, expected) in [
        (vec!["--log-format=xml"], "--log-format"),
        (
            vec!["--lease-duration-seconds=1"],
            "--lease-duration-seconds",
        ),
        (
            vec!["--isolated-node-selector=bad key=x"],
            "not a valid label key",
        ),
        (
            vec!["--isolated-tolerations=a=b:Sometimes"],
            "not an effect",
        ),
        (vec!["--metrics-addr=localhost"], "--metrics-addr"),
        (vec!["--watch-namespaces=Bad_NS"], "not a valid name"),
        (vec!["--log-level=[[["], "--log-level"),
    ] {
        let out = Command::new(wardops_bin())
            .arg("run")
            .args(&args)
            .env("KUBECONFIG", kubeconfig())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(
            stderr.contains(expected),
            "{args:?}: error does not mention {expected}:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
    }
}

#[tokio::test]
async fn standby_takes_over_when_the_leader_dies() -> Result<()> {
    let c = client().await?;
    let ns = TestNamespace::create(&c, "rt-failover", &[]).await?;
    let a = start("op-a", &ns.name, 6);
    a.wait_ready(READY).await?;
    wait_leader(&a, "op-a leading", Duration::from_secs(30)).await?;
    assert_eq!(
        wardops_tests::http_get(&a.healthz_url).map(|(c, _)| c),
        Some(200)
    );

    let b = start("op-b", &ns.name, 6);
    b.wait_ready(READY).await?; // ready while standing by, once its caches synced
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(b.metric("wardops_leader")?, Some(0.0), "only one leader");
    assert!(
        holder(&c, &ns.name)
            .await?
            .unwrap_or_default()
            .starts_with("op-a")
    );

    // Kill the leader without letting it release the Lease: the standby waits
    // for the Lease to expire, then leads.
    a.signal("-KILL");
    let start = Instant::now();
    wait_leader(&b, "op-b takes over", Duration::from_secs(30)).await?;
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        holder(&c, &ns.name)
            .await?
            .unwrap_or_default()
            .starts_with("op-b")
    );
    Ok(())
}

#[tokio::test]
async fn sigterm_releases_the_lease_and_exits_zero() -> Result<()> {
    let c = client().await?;
    let ns = TestNamespace::create(&c, "rt-handover", &[]).await?;
    // A long lease: a quick takeover can only come from the release.
    let a = start("op-c", &ns.name, 60);
    a.wait_ready(READY).await?;
    wait_leader(&a, "op-c leading", Duration::from_secs(30)).await?;
    let b = start("op-d", &ns.name, 60);
    b.wait_ready(READY).await?;

    a.signal("-TERM");
    let (code, took) = a.wait_exit(Duration::from_secs(10)).await?;
    assert_eq!(code, Some(0), "graceful shutdown exits 0");
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");
    let start = Instant::now();
    wait_leader(&b, "op-d takes over at once", Duration::from_secs(20)).await?;
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "takeover took {:?} (lease is 60 s)",
        start.elapsed()
    );
    let log = std::fs::read_to_string(&a.log)?;
    assert!(log.contains("released the leader Lease"), "{log}");
    Ok(())
}

#[tokio::test]
async fn standby_does_not_reconcile() -> Result<()> {
    let c = client().await?;
    let ns = TestNamespace::create(&c, "rt-standby", &[]).await?;
    let a = start("op-e", &ns.name, 30);
    a.wait_ready(READY).await?;
    wait_leader(&a, "op-e leading", Duration::from_secs(30)).await?;
    let b = start("op-f", &ns.name, 30);
    b.wait_ready(READY).await?;
    let ws: wardops::api::WardService = serde_json::from_value(serde_json::json!({
        "apiVersion": "wardops.io/v1alpha1", "kind": "WardService",
        "metadata": {"name": "standby-probe"},
        "spec": {"ward": {"code": "11311", "name": "Phường Hồng Bàng"}, "image": "nginx:1.27"}
    }))?;
    Api::<wardops::api::WardService>::namespaced(c.clone(), &ns.name)
        .create(&Default::default(), &ws)
        .await?;
    let reconciles = r#"wardops_reconciles_total{kind="WardService"}"#;
    wait_for("leader reconciles", Duration::from_secs(30), || async {
        Ok(a.metric(reconciles)?.filter(|n| *n > 0.0))
    })
    .await?;
    // The standby's caches follow the cluster (so that it can take over from
    // them at once), but it is standing by and has reconciled nothing.
    wait_for(
        "the standby to cache the new WardService",
        Duration::from_secs(30),
        || async {
            b.alive()?;
            Ok(
                (b.metric(r#"wardops_cache_objects{cache="WardService"}"#)? == Some(1.0))
                    .then_some(()),
            )
        },
    )
    .await?;
    b.alive()?;
    assert_eq!(b.metric("wardops_leader")?, Some(0.0), "the standby leads");
    assert_eq!(b.metric(reconciles)?, None, "the standby reconciled");
    Ok(())
}

#[tokio::test]
async fn work_in_flight_survives_a_leader_failover() -> Result<()> {
    use k8s_openapi::api::core::v1::PersistentVolumeClaim;
    use kube::api::ListParams;
    use wardops_tests::ward::{create, deployment_names, wait_ready, ward_service};

    let c = client().await?;
    let ns = TestNamespace::create(&c, "rt-inflight", &[]).await?;
    let a = start("op-g", &ns.name, 6);
    a.wait_ready(READY).await?;
    wait_leader(&a, "op-g leading", Duration::from_secs(30)).await?;
    let b = start("op-h", &ns.name, 6);
    b.wait_ready(READY).await?;

    // Work the leader has started on, and some it has not seen yet.
    let names: Vec<String> = (0..12).map(|i| format!("ward-{i}")).collect();
    for (i, n) in names.iter().enumerate() {
        let spec = if i % 2 == 0 {
            serde_json::json!({"storage": {"size": "1Gi"}})
        } else {
            serde_json::json!({})
        };
        create(&c, &ns.name, &ward_service(n, spec)).await?;
        if i == 5 {
            a.signal("-KILL");
        }
    }
    wait_leader(&b, "op-h takes over", Duration::from_secs(30)).await?;
    for n in &names {
        wait_ready(&c, &ns.name, n).await?;
    }
    let mut want = names.clone();
    want.sort();
    assert_eq!(
        deployment_names(&c, &ns.name).await?,
        want,
        "one Deployment per WardService"
    );
    let claims = Api::<PersistentVolumeClaim>::namespaced(c.clone(), &ns.name)
        .list(&ListParams::default())
        .await?
        .items
        .len();
    assert_eq!(
        claims,
        names.len() / 2,
        "one volume per WardService with storage"
    );
    b.alive()?;
    Ok(())
}
