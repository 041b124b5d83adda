//! `wardops run` as a process: settings errors, health endpoints, leader
//! election on a Lease, graceful shutdown. Against the local control plane.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use wardops_tests::{
    TestNamespace, client, free_port, http_get, kubeconfig, state_dir, wait_for, wardops_bin,
};

/// A `wardops run` process owned by the test, killed when dropped.
struct Op {
    child: Child,
    metrics: String,
    readyz: String,
    healthz: String,
    log: PathBuf,
}

impl Op {
    fn start(name: &str, ns: &str, lease_seconds: u32) -> Op {
        let (mp, hp) = (free_port(), free_port());
        let log = state_dir()
            .join("logs")
            .join(format!("runtime-{name}-{}.log", std::process::id()));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(wardops_bin())
            .args([
                "run",
                "--leader-election=true",
                &format!("--lease-namespace={ns}"),
                "--lease-name=wardops-test",
                &format!("--lease-duration-seconds={lease_seconds}"),
                &format!("--watch-namespaces={ns}"),
                &format!("--metrics-addr=127.0.0.1:{mp}"),
                &format!("--health-addr=127.0.0.1:{hp}"),
                "--log-format=json",
            ])
            .env("KUBECONFIG", kubeconfig())
            .env("POD_NAME", name)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Op {
            child,
            metrics: format!("http://127.0.0.1:{mp}/metrics"),
            readyz: format!("http://127.0.0.1:{hp}/readyz"),
            healthz: format!("http://127.0.0.1:{hp}/healthz"),
            log,
        }
    }

    fn leader_gauge(&self) -> Option<i64> {
        let (_, body) = http_get(&self.metrics)?;
        body.lines()
            .find(|l| l.starts_with("wardops_leader "))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    }

    fn wait_ready(&self) {
        wardops_tests::wait_http_ok(&self.readyz, Duration::from_secs(60), &self.log);
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits for the process to exit; its exit code and how long it took.
    fn wait_exit(&mut self, timeout: Duration) -> (Option<i32>, Duration) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "process did not exit within {timeout:?}; log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn holder(c: &kube::Client, ns: &str) -> Result<Option<String>> {
    Ok(Api::<Lease>::namespaced(c.clone(), ns)
        .get_opt("wardops-test")
        .await?
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty()))
}

async fn wait_leader(op: &Op, what: &str, timeout: Duration) -> Result<()> {
    wait_for(what, timeout, || async {
        Ok((op.leader_gauge() == Some(1)).then_some(()))
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
    let a = Op::start("op-a", &ns.name, 6);
    a.wait_ready();
    wait_leader(&a, "op-a leading", Duration::from_secs(30)).await?;
    assert_eq!(http_get(&a.healthz).map(|(c, _)| c), Some(200));

    let b = Op::start("op-b", &ns.name, 6);
    b.wait_ready(); // ready while standing by
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(b.leader_gauge(), Some(0), "only one leader");
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
    let mut a = Op::start("op-c", &ns.name, 60);
    a.wait_ready();
    wait_leader(&a, "op-c leading", Duration::from_secs(30)).await?;
    let b = Op::start("op-d", &ns.name, 60);
    b.wait_ready();

    a.signal("-TERM");
    let (code, took) = a.wait_exit(Duration::from_secs(10));
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
    let a = Op::start("op-e", &ns.name, 30);
    a.wait_ready();
    wait_leader(&a, "op-e leading", Duration::from_secs(30)).await?;
    let b = Op::start("op-f", &ns.name, 30);
    b.wait_ready();
    let ws: wardops::api::WardService = serde_json::from_value(serde_json::json!({
        "apiVersion": "wardops.io/v1alpha1", "kind": "WardService",
        "metadata": {"name": "standby-probe"},
        "spec": {"ward": {"code": "11311", "name": "Phường Hồng Bàng"}, "image": "nginx:1.27"}
    }))?;
    Api::<wardops::api::WardService>::namespaced(c.clone(), &ns.name)
        .create(&Default::default(), &ws)
        .await?;
    wait_for("leader reconciles", Duration::from_secs(30), || async {
        let (_, body) = http_get(&a.metrics).unwrap_or_default();
        Ok(body
            .contains(r#"wardops_reconciles_total{kind="WardService"}"#)
            .then_some(()))
    })
    .await?;
    let (_, body) = http_get(&b.metrics).unwrap_or_default();
    assert!(
        !body.contains(r#"wardops_reconciles_total{kind="WardService"}"#),
        "the standby reconciled:\n{body}"
    );
    Ok(())
}
