//! The operator killed with SIGKILL at random moments while WardServices are
//! created, edited and deleted (issue 12's fault suite). After the last kill
//! a fresh operator must converge: every WardService Ready with the last edit
//! applied, exactly one of each child per WardService, no child left of a
//! deleted one, and every retained volume still there.
//!
//! Its own test binary, with its own operator (the chart's identity and RBAC
//! only), so that no shared operator reconciles behind its back. Rounds:
//! `WARDOPS_CRASH_ROUNDS` (10 by default, as in `make test`; 50 for the long
//! variant); the random choices come from `WARDOPS_CRASH_SEED`, printed so
//! that a failure can be replayed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Result, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{DeleteParams, ListParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;
use wardops::api::WardService;
use wardops::controller::labels::{MANAGED_BY, MANAGED_BY_LABEL};
use wardops_tests::operator::{OperatorBuilder, chart_identity_kubeconfig};
use wardops_tests::rng::{Rng, env_or};
use wardops_tests::ward::{
    TIMEOUT, create, patch_spec, wait_gone, wait_ready_reason_within, ward_service,
};
use wardops_tests::{TestNamespace, client, install_crds, wait_for};

fn start_operator(kubeconfig: &std::path::Path, round: u64) -> wardops_tests::operator::Operator {
    OperatorBuilder::new(&format!("crash-{round}"))
        .kubeconfig(kubeconfig.to_path_buf())
        .args([
            "--leader-election=false",
            "--log-format=json",
            "--log-level=info,wardops=debug",
        ])
        .start()
}

/// What the test expects of one WardService after convergence.
#[derive(Debug, Clone)]
struct Want {
    replicas: i32,
    storage: bool,
}

/// Names of the objects of kind `K` in `ns` that wardops manages, each with
/// the name of its owner (or "" without one).
async fn managed<K>(c: &Client, ns: &str) -> Result<Vec<(String, String)>>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
{
    let list = Api::<K>::namespaced(c.clone(), ns)
        .list(&ListParams::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}")))
        .await?;
    Ok(list
        .items
        .iter()
        .map(|o| {
            let owner = o
                .owner_references()
                .iter()
                .find(|r| r.kind == "WardService")
                .map(|r| r.name.clone())
                .unwrap_or_default();
            (o.name_any(), owner)
        })
        .collect())
}

/// Fails unless the children of kind `K` are exactly one per live
/// WardService (named by `name_of`) and owned by it.
async fn exactly_one_each<K>(
    c: &Client,
    ns: &str,
    kind: &str,
    live: &BTreeMap<String, Want>,
    name_of: fn(&str) -> String,
) -> Result<Option<()>>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
{
    let mut got = managed::<K>(c, ns).await?;
    got.sort();
    let mut want: Vec<(String, String)> = live.keys().map(|w| (name_of(w), w.clone())).collect();
    want.sort();
    if got != want {
        bail!("{kind}s: {got:?}, want {want:?}");
    }
    Ok(Some(()))
}

#[tokio::test]
async fn sigkill_at_random_moments_loses_duplicates_and_orphans_nothing() -> Result<()> {
    let rounds = env_or("WARDOPS_CRASH_ROUNDS", 10);
    let mut rng = Rng::from_env("WARDOPS_CRASH_SEED");

    install_crds();
    let kubeconfig = chart_identity_kubeconfig();
    let c = client().await?;
    let ns = TestNamespace::create(&c, "crash", &[]).await?;
    let wards = Api::<WardService>::namespaced(c.clone(), &ns.name);

    let mut live: BTreeMap<String, Want> = BTreeMap::new();
    // Deleted WardServices with storage, and those of them whose volume
    // existed once they were gone: it must be kept.
    let mut deleted_with_storage: BTreeSet<String> = BTreeSet::new();
    let mut retained: BTreeSet<String> = BTreeSet::new();
    let claims_api = Api::<PersistentVolumeClaim>::namespaced(c.clone(), &ns.name);
    let mut next_id = 0;
    let mut op = start_operator(&kubeconfig, 0);
    for round in 1..=rounds {
        // A burst of work: creations, edits and deletions in random order.
        for _ in 0..(1 + rng.below(4)) {
            match rng.below(4) {
                0 | 1 => {
                    let name = format!("ward-{next_id}");
                    next_id += 1;
                    let storage = rng.below(2) == 0;
                    let spec = if storage {
                        json!({"storage": {"size": "1Gi", "mountPath": "/data"}})
                    } else {
                        json!({})
                    };
                    create(&c, &ns.name, &ward_service(&name, spec)).await?;
                    live.insert(
                        name,
                        Want {
                            replicas: 1,
                            storage,
                        },
                    );
                }
                2 if !live.is_empty() => {
                    let i = rng.below(live.len() as u64) as usize;
                    let name = live.keys().nth(i).cloned().unwrap_or_default();
                    let replicas = 1 + rng.below(3) as i32;
                    patch_spec(&c, &ns.name, &name, json!({"replicas": replicas})).await?;
                    if let Some(w) = live.get_mut(&name) {
                        w.replicas = replicas;
                    }
                }
                _ if !live.is_empty() => {
                    let i = rng.below(live.len() as u64) as usize;
                    let name = live.keys().nth(i).cloned().unwrap_or_default();
                    wards.delete(&name, &DeleteParams::background()).await?;
                    if live.remove(&name).is_some_and(|w| w.storage) {
                        wait_gone::<WardService>(&c, &ns.name, &name).await?;
                        if claims_api.get_opt(&format!("{name}-data")).await?.is_some() {
                            retained.insert(name.clone());
                        }
                        deleted_with_storage.insert(name);
                    }
                }
                _ => {}
            }
        }
        // Kill at a random moment of the operator's work on that burst.
        tokio::time::sleep(Duration::from_millis(rng.below(1500))).await;
        op.signal("-KILL");
        let (code, _) = op.wait_exit(Duration::from_secs(10)).await?;
        assert_ne!(code, Some(0), "round {round}: SIGKILL is not a clean exit");
        op = start_operator(&kubeconfig, round);
    }

    // Convergence by the operator started after the last kill.
    op.wait_ready(Duration::from_secs(60)).await?;
    for (name, want) in &live {
        wait_ready_reason_within(&c, &ns.name, name, "True", "Available", TIMEOUT * 2).await?;
        let d = Api::<Deployment>::namespaced(c.clone(), &ns.name)
            .get(name)
            .await?;
        assert_eq!(
            d.spec.and_then(|s| s.replicas),
            Some(want.replicas),
            "{name}: the last edit reached the Deployment"
        );
    }
    // Deleted WardServices' children go by garbage collection (owner
    // references): wait for it, then hold every kind to one per WardService.
    let n = ns.name.clone();
    wait_for(
        "exactly one of each child per WardService",
        TIMEOUT * 2,
        || async {
            exactly_one_each::<Deployment>(&c, &n, "Deployment", &live, |w| w.to_string()).await?;
            exactly_one_each::<Service>(&c, &n, "Service", &live, |w| w.to_string()).await?;
            exactly_one_each::<ServiceAccount>(&c, &n, "ServiceAccount", &live, |w| w.to_string())
                .await?;
            exactly_one_each::<ConfigMap>(&c, &n, "ConfigMap", &live, |w| format!("{w}-config"))
                .await?;
            exactly_one_each::<NetworkPolicy>(&c, &n, "NetworkPolicy", &live, |w| w.to_string())
                .await
        },
    )
    .await?;
    // Volumes: one per live WardService with storage, and every one that a
    // deleted WardService had is kept; no other.
    let claims: BTreeSet<String> = claims_api
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| p.name_any())
        .collect();
    let data = |names: &mut dyn Iterator<Item = &String>| -> BTreeSet<String> {
        names.map(|n| format!("{n}-data")).collect()
    };
    let live_storage = data(&mut live.iter().filter(|(_, w)| w.storage).map(|(n, _)| n));
    let must = &live_storage | &data(&mut retained.iter());
    let may = &live_storage | &data(&mut deleted_with_storage.iter());
    assert!(
        claims.is_superset(&must),
        "volumes lost: {:?}",
        must.difference(&claims).collect::<Vec<_>>()
    );
    assert!(
        claims.is_subset(&may),
        "volumes of no WardService with storage: {:?}",
        claims.difference(&may).collect::<Vec<_>>()
    );
    op.alive()?;
    println!(
        "{rounds} kills; {} WardServices live, {} retained volumes of deleted ones",
        live.len(),
        retained.len()
    );
    Ok(())
}
