//! Faults on the real local control plane, short variants: the API server and
//! etcd restarted under a running operator. The operator must ride them out
//! without restarting, and converge with nothing duplicated and nothing lost.
//! The tests of this binary stop shared components, so they run one at a time
//! and leave the control plane up (`tests/controlplane/up.sh` restarts what
//! is down, keeping etcd's data).
//!
//! What they found: kube-runtime's default watch backoff (client-go's, 0.8 s
//! doubling to 30 s and jittered up to a minute) climbed during the restart,
//! since every refused connection counted, and on top of it each controller
//! paused all its watches' events with the same backoff whenever any one
//! failed: the caches stayed stale for a minute or more after the API server
//! was back, and WardServices stayed `RollingOut` over available Deployments.
//! The watches now use `cache::WatchBackoff` (250 ms doubling to 4 s) and the
//! controllers `cache::NoTriggerBackoff`. Other faults: `tests/crash.rs`
//! (SIGKILL), `tests/generated.rs` (generated manifests), `tests/runtime.rs`
//! (leader failover with work in flight).

use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::Deployment;
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use wardops_tests::ward::{
    TIMEOUT, create, deployment_names, patch_spec, setup, wait_ready, wait_ready_reason_within,
    ward_service,
};
use wardops_tests::{operator, repo_root, run, state_dir, wait_for};

/// One fault at a time: the control plane is shared by the whole binary.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn pid_of(component: &str) -> Result<u32> {
    let path = state_dir().join("pids").join(format!("{component}.pid"));
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.trim().parse()?)
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// Stops a control-plane component with `signal` and waits until it is gone.
async fn stop(component: &str, signal: &str) -> Result<()> {
    let pid = pid_of(component)?;
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()?;
    if !status.success() {
        bail!("kill {signal} {component} ({pid}) failed");
    }
    for _ in 0..200 {
        if !alive(pid) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{component} ({pid}) still runs 20 s after {signal}")
}

/// Starts whatever is down again, as `make up` does (data kept).
fn up() {
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(repo_root().join("tests/controlplane/up.sh"));
    let r = run(cmd, None);
    assert!(r.success, "up.sh failed:\n{}", r.stderr);
}

/// How long kube-controller-manager may take to act again after the API
/// server restarts: its requests are refused (403) until the new server's
/// RBAC cache is loaded, and client-go's backoff then waits up to a minute.
/// That is the control plane's recovery, not the operator's.
const CONTROL_PLANE_RECOVERY: Duration = Duration::from_secs(240);

/// How long the operator may take to report a change its caches should
/// have seen. Before `cache::WatchBackoff` and `NoTriggerBackoff` it was a
/// minute or more after a restart.
const OPERATOR_LAG: Duration = Duration::from_secs(20);

/// Waits until every Deployment in `names` has its replicas available.
async fn deployments_available(c: &Client, ns: &str, names: &[String]) -> Result<()> {
    let api = Api::<Deployment>::namespaced(c.clone(), ns);
    wait_for(
        "the Deployments to be available",
        CONTROL_PLANE_RECOVERY,
        || async {
            for n in names {
                let d = api.get(n).await?;
                let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                let have = d
                    .status
                    .as_ref()
                    .and_then(|s| s.available_replicas)
                    .unwrap_or(0);
                if have < want {
                    return Ok(None);
                }
            }
            Ok(Some(()))
        },
    )
    .await
}

/// Waits until each WardService in `names` is Ready, [`OPERATOR_LAG`] at most
/// after its Deployment is available.
async fn all_ready(c: &Client, ns: &str, names: &[String]) -> Result<()> {
    deployments_available(c, ns, names).await?;
    for n in names {
        wait_ready_reason_within(c, ns, n, "True", "Available", OPERATOR_LAG).await?;
    }
    Ok(())
}

#[tokio::test]
async fn an_api_server_restart_mid_convergence_loses_and_duplicates_nothing() -> Result<()> {
    let _one = SERIAL.lock().await;
    let op = operator().await;
    let (c, ns) = setup("fault-apiserver", &[]).await?;
    let names: Vec<String> = (0..8).map(|i| format!("ward-{i}")).collect();
    for n in &names {
        create(&c, &ns.name, &ward_service(n, json!({}))).await?;
    }
    // Mid-convergence: the operator has just seen the creations.
    stop("kube-apiserver", "-TERM").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    up();
    all_ready(&c, &ns.name, &names).await?;
    op.alive()?;
    assert_eq!(
        deployment_names(&c, &ns.name).await?,
        names,
        "one Deployment per WardService"
    );
    Ok(())
}

#[tokio::test]
async fn the_operator_reconnects_after_an_etcd_restart_without_restarting() -> Result<()> {
    let _one = SERIAL.lock().await;
    let op = operator().await;
    let pid = op.pid();
    let (c, ns) = setup("fault-etcd", &[]).await?;
    create(&c, &ns.name, &ward_service("before", json!({}))).await?;
    wait_ready(&c, &ns.name, "before").await?;

    stop("etcd", "-TERM").await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    up();

    // Work after the restart: a new WardService and an edit of the old one.
    let after = wait_for("the API server to take writes again", TIMEOUT, || async {
        Ok(create(&c, &ns.name, &ward_service("after", json!({})))
            .await
            .ok())
    })
    .await?;
    assert_eq!(after.name_any(), "after");
    patch_spec(&c, &ns.name, "before", json!({"replicas": 2})).await?;
    all_ready(&c, &ns.name, &["after".to_string(), "before".to_string()]).await?;
    let d = Api::<Deployment>::namespaced(c.clone(), &ns.name);
    wait_for("the edit to reach the Deployment", TIMEOUT, || async {
        let dep = d.get("before").await?;
        Ok((dep.spec.and_then(|s| s.replicas) == Some(2)).then_some(()))
    })
    .await?;
    op.alive()?;
    assert_eq!(op.pid(), pid, "the same operator process");
    assert_eq!(deployment_names(&c, &ns.name).await?, ["after", "before"]);
    Ok(())
}
