//! Reconcile benchmarks on the local control plane (`make bench` starts it):
//! time from `create` to `Ready=True` for a WardService, against a baseline
//! measured in the same run: a bare Deployment of the same image becoming
//! available (what Kubernetes alone costs). Also: a burst of WardServices
//! created at once, and the operator's write requests per WardService.

use std::time::{Duration, Instant};

use anyhow::Result;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::PostParams;
use kube::{Api, Client};
use serde_json::json;
use wardops::api::WardService;
use wardops_tests::{TestNamespace, client, operator, wait_for};

const IMAGE: &str = "registry.haiphong.gov.vn/one-stop/backend:2.4.1";
const TIMEOUT: Duration = Duration::from_secs(120);

fn ward_service(name: &str) -> WardService {
    serde_json::from_value(json!({
        "apiVersion": "wardops.io/v1alpha1", "kind": "WardService",
        "metadata": {"name": name},
        "spec": {"ward": {"code": "11311", "name": "Phường Hồng Bàng"}, "image": IMAGE, "config": {"A": "1"}}
    }))
    .unwrap()
}

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": IMAGE}]}}
        }
    }))
    .unwrap()
}

async fn ws_ready(c: &Client, ns: &str, name: &str) -> Result<()> {
    let api = Api::<WardService>::namespaced(c.clone(), ns);
    wait_for("WardService Ready", TIMEOUT, || async {
        let ws = api.get(name).await?;
        Ok(ws
            .status
            .and_then(|s| s.conditions.into_iter().find(|c| c.type_ == "Ready"))
            .filter(|c| c.status == "True")
            .map(|_| ()))
    })
    .await
}

async fn deployment_available(c: &Client, ns: &str, name: &str) -> Result<()> {
    let api = Api::<Deployment>::namespaced(c.clone(), ns);
    wait_for("Deployment available", TIMEOUT, || async {
        let d = api.get(name).await?;
        let st = d.status.unwrap_or_default();
        Ok(
            (st.observed_generation == d.metadata.generation && st.available_replicas == Some(1))
                .then_some(()),
        )
    })
    .await
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Write requests by the operator (user agent `wardops/…`) in `ns`, in the whole audit log.
fn operator_writes(ns: &str) -> Result<usize> {
    Ok(wardops_tests::audit::events(0, None)?
        .iter()
        .filter(|v| {
            v["userAgent"]
                .as_str()
                .unwrap_or_default()
                .starts_with("wardops/")
                && v["objectRef"]["namespace"] == ns
                && v["stage"] == "ResponseComplete"
                && ["create", "update", "patch", "delete"]
                    .contains(&v["verb"].as_str().unwrap_or_default())
        })
        .count())
}

#[tokio::main]
async fn main() -> Result<()> {
    operator().await;
    let c = client().await?;
    let rounds = 7;

    let ns = TestNamespace::create(&c, "bench-base", &[]).await?;
    let mut base = Vec::new();
    for i in 0..rounds {
        let name = format!("raw-{i}");
        let start = Instant::now();
        Api::<Deployment>::namespaced(c.clone(), &ns.name)
            .create(&PostParams::default(), &deployment(&name))
            .await?;
        deployment_available(&c, &ns.name, &name).await?;
        base.push(start.elapsed());
    }

    let ns = TestNamespace::create(&c, "bench-ws", &[]).await?;
    let mut ws = Vec::new();
    for i in 0..rounds {
        let name = format!("ws-{i}");
        let start = Instant::now();
        Api::<WardService>::namespaced(c.clone(), &ns.name)
            .create(&PostParams::default(), &ward_service(&name))
            .await?;
        ws_ready(&c, &ns.name, &name).await?;
        ws.push(start.elapsed());
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let writes_per_ws = operator_writes(&ns.name)? as f64 / f64::from(rounds);

    let burst = 30;
    let ns_burst = TestNamespace::create(&c, "bench-burst", &[]).await?;
    let start = Instant::now();
    let api = Api::<WardService>::namespaced(c.clone(), &ns_burst.name);
    for i in 0..burst {
        api.create(&PostParams::default(), &ward_service(&format!("burst-{i}")))
            .await?;
    }
    for i in 0..burst {
        ws_ready(&c, &ns_burst.name, &format!("burst-{i}")).await?;
    }
    let burst_time = start.elapsed();

    let (b, w) = (median(base), median(ws));
    println!("benchmark (local control plane, kwok nodes)              value      ratio");
    println!("baseline: bare Deployment create -> available (median)   {b:>9.2?}  1.00");
    println!(
        "WardService create -> Ready=True, 7 children (median)    {w:>9.2?}  {:.2}",
        w.as_secs_f64() / b.as_secs_f64()
    );
    println!(
        "{burst} WardServices created at once -> all Ready           {burst_time:>9.2?}  {:.2} per WardService vs baseline",
        burst_time.as_secs_f64() / f64::from(burst) / b.as_secs_f64()
    );
    println!("operator write requests per WardService until Ready      {writes_per_ws:>9.1}");
    Ok(())
}
