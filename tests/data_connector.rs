//! DataConnector behaviour on the real local control plane, one behaviour per
//! test. Each test has its own namespace; one operator serves them all.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Result, anyhow};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use wardops::api::{DataConnector, WardService};
use wardops::controller::labels;
use wardops::controller::ward_service::build::network_policy::selector_matches;
use wardops_tests::ward::{create, put_secret, setup, ward_service};
use wardops_tests::{TestNamespace, audit, operator, wait_for};

use wardops_tests::ward::TIMEOUT;

/// A proxy connector `dan-cu` of WardService `one-stop`, API key auth, with `extra` merged into spec.
async fn create_connector(c: &Client, ns: &str, extra: Value) -> Result<()> {
    let mut spec = json!({
        "wardServiceRef": {"name": "one-stop"},
        "source": {"kind": "population", "endpoint": "https://dancu.haiphong.gov.vn/api",
                   "egressCIDRs": ["10.40.12.0/24"]},
        "credentialsSecretRef": {"name": "dan-cu"},
        "auth": {"type": "apiKey"},
        "datasets": ["cong-dan"],
    });
    if let (Some(s), Value::Object(e)) = (spec.as_object_mut(), extra) {
        s.extend(e);
    }
    let dc: DataConnector = serde_json::from_value(json!({
        "apiVersion": "wardops.io/v1alpha1", "kind": "DataConnector",
        "metadata": {"name": "dan-cu"}, "spec": spec,
    }))?;
    Api::<DataConnector>::namespaced(c.clone(), ns)
        .create(&PostParams::default(), &dc)
        .await?;
    Ok(())
}

fn ready_of(dc: &DataConnector) -> Option<(String, String, String)> {
    let st = dc.status.as_ref()?;
    if st.observed_generation != dc.metadata.generation {
        return None;
    }
    st.conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Waits until the connector's Ready has `status`/`reason` at its generation.
async fn wait_reason(
    c: &Client,
    ns: &str,
    status: &str,
    reason: &str,
) -> Result<(DataConnector, String)> {
    let api = Api::<DataConnector>::namespaced(c.clone(), ns);
    wait_for(
        &format!("DataConnector {ns}/dan-cu Ready={status} {reason}"),
        TIMEOUT,
        || {
            let api = api.clone();
            async move {
                let dc = api.get("dan-cu").await?;
                match ready_of(&dc) {
                    Some((s, r, m)) if s == status && r == reason => Ok(Some((dc, m))),
                    other => Err(anyhow!("now {other:?}")),
                }
            }
        },
    )
    .await
}

async fn gateway_replica_sets(c: &Client, ns: &str) -> Result<usize> {
    Ok(Api::<ReplicaSet>::namespaced(c.clone(), ns)
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|rs| {
            rs.owner_references()
                .iter()
                .any(|o| o.kind == "Deployment" && o.name == "dan-cu-connector")
        })
        .count())
}

#[tokio::test]
async fn proxy_connector_comes_up_and_wires_into_its_ward() -> Result<()> {
    let (c, ns) = setup_ns("dc-proxy").await?;
    let n = ns.name.as_str();
    put_secret(&c, n, "dan-cu", &[("apiKey", "k-1")]).await?;
    create_ward(&c, n, "one-stop").await?;
    create_connector(&c, n, json!({})).await?;
    let (dc, _) = wait_reason(&c, n, "True", "Available").await?;
    let url = format!("http://dan-cu-connector.{n}.svc:8080");
    assert_eq!(dc.status.unwrap().url.as_deref(), Some(url.as_str()));

    // The ward: status, env var, and egress to the gateway's pods.
    let wards = Api::<WardService>::namespaced(c.clone(), n);
    wait_for("the ward lists the connector", TIMEOUT, || async {
        let ws = wards.get("one-stop").await?;
        let listed = ws.status.map(|s| s.connectors).unwrap_or_default();
        Ok(listed
            .iter()
            .any(|r| r.name == "dan-cu" && r.ready && r.url.as_deref() == Some(url.as_str()))
            .then_some(()))
    })
    .await?;
    let deployments = Api::<Deployment>::namespaced(c.clone(), n);
    let ward_env = wait_for("the ward's env var", TIMEOUT, || async {
        let d = deployments.get("one-stop").await?;
        let env = d.spec.unwrap().template.spec.unwrap().containers[0]
            .env
            .clone()
            .unwrap_or_default();
        Ok(env
            .into_iter()
            .find(|e| e.name == "WARDOPS_CONNECTOR_DAN_CU_URL"))
    })
    .await?;
    assert_eq!(ward_env.value.as_deref(), Some(url.as_str()));

    let pods = Api::<Pod>::namespaced(c.clone(), n);
    let gateway_pod = wait_for("the gateway's pod", TIMEOUT, || async {
        let list = pods
            .list(&ListParams::default().labels("app.kubernetes.io/instance=dan-cu"))
            .await?;
        Ok(list.items.into_iter().next())
    })
    .await?;
    let ward_pod = wait_for("the ward's pod", TIMEOUT, || async {
        let list = pods
            .list(&ListParams::default().labels("app.kubernetes.io/instance=one-stop"))
            .await?;
        Ok(list.items.into_iter().next())
    })
    .await?;
    let policies = Api::<NetworkPolicy>::namespaced(c.clone(), n);
    let ward_np = policies.get("one-stop").await?.spec.unwrap_or_default();
    assert!(
        ward_np
            .egress
            .iter()
            .flatten()
            .flat_map(|r| r.to.iter().flatten())
            .filter_map(|p| p.pod_selector.as_ref())
            .any(|s| selector_matches(s, gateway_pod.labels())),
        "the ward's NetworkPolicy does not reach the gateway's pod"
    );
    let gw_np = policies
        .get("dan-cu-connector")
        .await?
        .spec
        .unwrap_or_default();
    let from: Vec<_> = gw_np
        .ingress
        .iter()
        .flatten()
        .flat_map(|r| r.from.iter().flatten())
        .collect();
    assert!(
        from.iter()
            .filter_map(|p| p.pod_selector.as_ref())
            .any(|s| selector_matches(s, ward_pod.labels())),
        "the gateway's NetworkPolicy does not admit the ward's pod"
    );
    assert!(
        from.iter()
            .all(|p| p.namespace_selector.is_none() && p.ip_block.is_none()),
        "the gateway admits something outside its ward"
    );
    let egress = gw_np.egress.unwrap_or_default();
    assert_eq!(egress.len(), 2, "DNS and the source only: {egress:?}");
    assert_eq!(
        egress[1].to.as_ref().unwrap()[0]
            .ip_block
            .as_ref()
            .unwrap()
            .cidr,
        "10.40.12.0/24"
    );

    // The ward's pods never reference the credentials Secret.
    let ward_pod_text = serde_json::to_string(&ward_pod.spec)?;
    assert!(
        !ward_pod_text.contains("\"dan-cu\""),
        "the ward's pod references the credentials Secret: {ward_pod_text}"
    );
    let gw_text = serde_json::to_string(&gateway_pod.spec)?;
    assert!(gw_text.contains("\"secretName\":\"dan-cu\""), "{gw_text}");
    Ok(())
}

#[tokio::test]
async fn a_connector_below_its_ward_is_refused_and_nothing_is_wired() -> Result<()> {
    let (c, ns) = setup_ns("dc-class").await?;
    let n = ns.name.as_str();
    put_secret(&c, n, "dan-cu", &[("apiKey", "k")]).await?;
    create_ward(&c, n, "one-stop").await?;
    create_connector(&c, n, json!({"classification": "public"})).await?;
    let (_, msg) = wait_reason(&c, n, "False", "ClassificationMismatch").await?;
    assert!(msg.contains("public") && msg.contains("one-stop"), "{msg}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let d = Api::<Deployment>::namespaced(c.clone(), n)
        .get_opt("dan-cu-connector")
        .await?;
    assert!(d.is_none(), "a gateway was created for a refused connector");
    // Nothing wired: the ward lists it without a URL, gives its pods no
    // variable and its NetworkPolicy no way to a gateway.
    let ws = wait_for("the ward lists the refused connector", TIMEOUT, || async {
        let ws = Api::<WardService>::namespaced(c.clone(), n)
            .get("one-stop")
            .await?;
        let listed = ws.status.clone().map(|s| s.connectors).unwrap_or_default();
        Ok(listed.iter().any(|r| r.name == "dan-cu").then_some(ws))
    })
    .await?;
    let listed = ws.status.unwrap().connectors;
    assert!(
        listed.iter().all(|r| r.url.is_none() && !r.ready),
        "{listed:?}"
    );
    let d = Api::<Deployment>::namespaced(c.clone(), n)
        .get("one-stop")
        .await?;
    let env = d.spec.unwrap().template.spec.unwrap().containers[0]
        .env
        .clone()
        .unwrap_or_default();
    assert!(
        env.iter()
            .all(|e| !e.name.starts_with("WARDOPS_CONNECTOR_")),
        "{env:?}"
    );
    let np = Api::<NetworkPolicy>::namespaced(c.clone(), n)
        .get("one-stop")
        .await?;
    let gateway = labels::connector_peer_labels("dan-cu", "one-stop");
    assert!(
        !np.spec
            .unwrap_or_default()
            .egress
            .iter()
            .flatten()
            .flat_map(|r| r.to.iter().flatten())
            .filter_map(|p| p.pod_selector.as_ref())
            .any(|s| selector_matches(s, &gateway)),
        "the ward reaches a refused connector"
    );
    Ok(())
}

#[tokio::test]
async fn missing_ward_and_missing_secret_recover() -> Result<()> {
    let (c, ns) = setup_ns("dc-recover").await?;
    let n = ns.name.as_str();
    create_connector(&c, n, json!({})).await?;
    let (_, msg) = wait_reason(&c, n, "False", "WardServiceNotFound").await?;
    assert!(msg.contains("one-stop"), "{msg}");
    create_ward(&c, n, "one-stop").await?;
    let (_, msg) = wait_reason(&c, n, "False", "SecretMissing").await?;
    assert!(msg.contains("`dan-cu`"), "{msg}");
    put_secret(&c, n, "dan-cu", &[("other", "x")]).await?;
    let (_, msg) = wait_for("the missing key named", TIMEOUT, || async {
        let (dc, msg) = wait_reason(&c, n, "False", "SecretMissing").await?;
        Ok(msg.contains("`apiKey`").then_some((dc, msg)))
    })
    .await?;
    assert!(msg.contains("spec.credentialsSecretRef"), "{msg}");
    put_secret(&c, n, "dan-cu", &[("apiKey", "k")]).await?;
    wait_reason(&c, n, "True", "Available").await?;
    Ok(())
}

#[tokio::test]
async fn credential_rotation_rolls_the_gateway_once() -> Result<()> {
    let (c, ns) = setup_ns("dc-rotate").await?;
    let n = ns.name.as_str();
    put_secret(&c, n, "dan-cu", &[("apiKey", "first")]).await?;
    create_ward(&c, n, "one-stop").await?;
    create_connector(&c, n, json!({})).await?;
    wait_reason(&c, n, "True", "Available").await?;
    assert_eq!(gateway_replica_sets(&c, n).await?, 1);
    let rotated = put_secret(&c, n, "dan-cu", &[("apiKey", "second")]).await?;
    wait_for("a second ReplicaSet", TIMEOUT, || async {
        Ok((gateway_replica_sets(&c, n).await? == 2).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(gateway_replica_sets(&c, n).await?, 2, "a rollout loop");
    let d = Api::<Deployment>::namespaced(c.clone(), n)
        .get("dan-cu-connector")
        .await?;
    let ann: BTreeMap<String, String> = d
        .spec
        .and_then(|s| s.template.metadata)
        .and_then(|m| m.annotations)
        .unwrap_or_default();
    assert_eq!(
        ann.get(labels::SECRET_VERSIONS_ANNOTATION),
        Some(&format!(
            "dan-cu={}",
            rotated.resource_version().unwrap_or_default()
        ))
    );
    Ok(())
}

#[tokio::test]
async fn a_sentinel_credential_never_leaves_its_secret() -> Result<()> {
    let (c, ns) = setup_ns("dc-sentinel").await?;
    let n = ns.name.as_str();
    let sentinel = format!("SENTINEL-DC-{}-c0ffee", std::process::id());
    put_secret(&c, n, "dan-cu", &[("clientID", &sentinel)]).await?;
    create_ward(&c, n, "one-stop").await?;
    create_connector(
        &c,
        n,
        json!({"auth": {"type": "oauth2ClientCredentials", "tokenURL": "https://sso.haiphong.gov.vn/token"}}),
    )
    .await?;
    wait_reason(&c, n, "False", "SecretMissing").await?;
    put_secret(
        &c,
        n,
        "dan-cu",
        &[("clientID", &sentinel), ("clientSecret", &sentinel)],
    )
    .await?;
    wait_reason(&c, n, "True", "Available").await?;

    let mut haystacks = Vec::new();
    for cm in Api::<ConfigMap>::namespaced(c.clone(), n)
        .list(&ListParams::default())
        .await?
        .items
    {
        haystacks.push(("ConfigMap", serde_json::to_string(&cm)?));
    }
    for e in Api::<Event>::namespaced(c.clone(), n)
        .list(&ListParams::default())
        .await?
        .items
    {
        haystacks.push(("Event", serde_json::to_string(&e)?));
    }
    let dc = Api::<DataConnector>::namespaced(c.clone(), n)
        .get("dan-cu")
        .await?;
    haystacks.push(("DataConnector", serde_json::to_string(&dc)?));
    let d = Api::<Deployment>::namespaced(c.clone(), n)
        .get("dan-cu-connector")
        .await?;
    haystacks.push(("Deployment", serde_json::to_string(&d)?));
    haystacks.push((
        "operator log",
        std::fs::read_to_string(&operator().await.log)?,
    ));
    haystacks.push(("metrics", operator().await.metrics()?));
    for (what, text) in &haystacks {
        assert!(
            !text.contains(&sentinel),
            "the credential appears in a {what}"
        );
    }
    // Everything the API server stores, read from etcd: Events, statuses,
    // ConfigMaps, children, and kinds no list above covers.
    wardops_tests::etcd::assert_only_in_secret(&sentinel, n, "dan-cu")?;
    Ok(())
}

#[tokio::test]
async fn an_unknown_time_zone_is_refused() -> Result<()> {
    let (c, ns) = setup_ns("dc-tz").await?;
    let n = ns.name.as_str();
    put_secret(&c, n, "dan-cu", &[("apiKey", "k")]).await?;
    create_ward(&c, n, "one-stop").await?;
    // The shape passes the schema; only the IANA database knows the name.
    create_connector(
        &c,
        n,
        json!({"mode": "sync", "schedule": "15 2 * * *", "timeZone": "Asia/Hai_Phong"}),
    )
    .await?;
    let (_, msg) = wait_reason(&c, n, "False", "InvalidTimeZone").await?;
    assert!(msg.contains("spec.timeZone `Asia/Hai_Phong`"), "{msg}");
    Api::<DataConnector>::namespaced(c.clone(), n)
        .patch(
            "dan-cu",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"timeZone": "Asia/Ho_Chi_Minh"}})),
        )
        .await?;
    wait_reason(&c, n, "True", "Available").await?;
    Ok(())
}

/// A nightly land-registry copy: `mode: sync` with `extra` merged into spec.
async fn create_sync_connector(c: &Client, ns: &str, extra: Value) -> Result<()> {
    let mut spec = json!({"mode": "sync", "schedule": "15 2 * * *", "timeZone": "Asia/Ho_Chi_Minh",
        "datasets": ["thua-dat"]});
    if let (Some(s), Value::Object(e)) = (spec.as_object_mut(), extra) {
        s.extend(e);
    }
    create_connector(c, ns, spec).await
}

/// The `Synced` condition of `dan-cu` at its generation.
fn synced_of(dc: &DataConnector) -> Option<(String, String, String)> {
    let st = dc.status.as_ref()?;
    if st.observed_generation != dc.metadata.generation {
        return None;
    }
    st.conditions
        .iter()
        .find(|c| c.type_ == "Synced")
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

async fn wait_synced(c: &Client, ns: &str, status: &str, reason: &str) -> Result<DataConnector> {
    let api = Api::<DataConnector>::namespaced(c.clone(), ns);
    wait_for(
        &format!("{ns}/dan-cu Synced={status} {reason}"),
        TIMEOUT,
        || {
            let api = api.clone();
            async move {
                let dc = api.get("dan-cu").await?;
                match synced_of(&dc) {
                    Some((s, r, _)) if s == status && r == reason => Ok(Some(dc)),
                    other => Err(anyhow!("now {other:?}")),
                }
            }
        },
    )
    .await
}

async fn sync_now(c: &Client, ns: &str, value: &str) -> Result<()> {
    Api::<DataConnector>::namespaced(c.clone(), ns)
        .patch(
            "dan-cu",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {labels::SYNC_NOW_ANNOTATION: value}}}),
            ),
        )
        .await?;
    Ok(())
}

/// The sync Jobs of `dan-cu`, by name.
async fn sync_jobs(c: &Client, ns: &str) -> Result<Vec<String>> {
    let selector = format!(
        "{},{}=dan-cu",
        labels::child_selector(labels::COMPONENT_CONNECTOR_SYNC),
        labels::INSTANCE_LABEL
    );
    Ok(Api::<Job>::namespaced(c.clone(), ns)
        .list(&ListParams::default().labels(&selector))
        .await?
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect())
}

#[tokio::test]
async fn sync_connector_pulls_on_demand_once_per_value_and_serves_without_credentials() -> Result<()>
{
    let (c, ns) = setup_ns("dc-sync").await?;
    let n = ns.name.as_str();
    put_secret(&c, n, "dan-cu", &[("apiKey", "k-1")]).await?;
    create_ward(&c, n, "one-stop").await?;
    create_sync_connector(&c, n, json!({})).await?;
    let (dc, _) = wait_reason(&c, n, "True", "Available").await?;
    let url = format!("http://dan-cu-connector.{n}.svc:8080");
    assert_eq!(
        dc.status.as_ref().unwrap().url.as_deref(),
        Some(url.as_str())
    );
    assert_eq!(synced_of(&dc).map(|s| s.1).as_deref(), Some("NotSyncedYet"));

    // The schedule, as written, one pull at a time.
    let cj = Api::<CronJob>::namespaced(c.clone(), n)
        .get("dan-cu-sync")
        .await?;
    let spec = cj.spec.unwrap();
    assert_eq!(
        (
            spec.schedule.as_str(),
            spec.time_zone.as_deref(),
            spec.concurrency_policy.as_deref()
        ),
        ("15 2 * * *", Some("Asia/Ho_Chi_Minh"), Some("Forbid"))
    );
    // The serving gateway has no credential; only the pull pods do.
    let d = Api::<Deployment>::namespaced(c.clone(), n)
        .get("dan-cu-connector")
        .await?;
    let secrets_of = |p: &k8s_openapi::api::core::v1::PodSpec| -> Vec<String> {
        p.volumes
            .iter()
            .flatten()
            .filter_map(|v| v.secret.as_ref()?.secret_name.clone())
            .collect()
    };
    assert!(secrets_of(d.spec.unwrap().template.spec.as_ref().unwrap()).is_empty());
    let pull = spec.job_template.spec.unwrap().template.spec.unwrap();
    assert_eq!(secrets_of(&pull), ["dan-cu"]);
    // The pull pods reach the source; the gateway reaches nothing.
    let nps = Api::<NetworkPolicy>::namespaced(c.clone(), n);
    // (An empty rule list comes back as none: with the policy type, nothing is allowed.)
    let gateway_np = nps.get("dan-cu-connector").await?.spec.unwrap();
    assert!(
        gateway_np
            .policy_types
            .unwrap()
            .contains(&"Egress".to_string())
    );
    assert!(gateway_np.egress.unwrap_or_default().is_empty());
    let pull_np = nps.get("dan-cu-sync").await?.spec.unwrap();
    assert!(
        pull_np
            .policy_types
            .as_ref()
            .unwrap()
            .contains(&"Ingress".to_string())
    );
    assert!(pull_np.ingress.clone().unwrap_or_default().is_empty());
    assert_eq!(pull_np.egress.unwrap().len(), 2, "DNS and the source");

    // The ward is wired as for a proxy.
    let wards = Api::<WardService>::namespaced(c.clone(), n);
    wait_for("the ward lists the sync connector", TIMEOUT, || async {
        let ws = wards.get("one-stop").await?;
        let listed = ws.status.map(|s| s.connectors).unwrap_or_default();
        Ok(listed
            .iter()
            .any(|r| r.name == "dan-cu" && r.ready)
            .then_some(()))
    })
    .await?;

    // sync-now: one Job per value.
    sync_now(&c, n, "2026-11-27T10:00").await?;
    let dc = wait_synced(&c, n, "True", "SyncSucceeded").await?;
    let st = dc.status.unwrap();
    assert_eq!(st.last_sync_result.as_deref(), Some("Succeeded"));
    assert!(st.last_sync_time.is_some() && st.last_successful_sync_time.is_some());
    assert_eq!(st.last_sync_now.as_deref(), Some("2026-11-27T10:00"));
    assert_eq!(sync_jobs(&c, n).await?.len(), 1);
    // The same value again (any other edit): nothing new.
    Api::<DataConnector>::namespaced(c.clone(), n)
        .patch(
            "dan-cu",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"touched": "yes"}}})),
        )
        .await?;
    sync_now(&c, n, "2026-11-27T10:00").await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sync_jobs(&c, n).await?.len(), 1);
    sync_now(&c, n, "2026-11-27T11:00").await?;
    wait_for("a second sync Job", TIMEOUT, || async {
        Ok((sync_jobs(&c, n).await?.len() == 2).then_some(()))
    })
    .await?;
    let events = Api::<Event>::namespaced(c.clone(), n)
        .list(&ListParams::default())
        .await?;
    let started = events
        .items
        .iter()
        .filter(|e| e.reason.as_deref() == Some("SyncStarted"))
        .count();
    assert!(started >= 1, "a SyncStarted Event");

    // Settled, a reconcile (a label on its CronJob) sends nothing.
    let op = operator().await;
    let quiet_from = std::cell::Cell::new(audit::mark()?);
    wait_for("the operator to settle", TIMEOUT, || async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = audit::mark()?;
        let quiet = audit::operator_requests(n, quiet_from.get(), Some(now))?.is_empty();
        quiet_from.set(now);
        Ok(quiet.then_some(()))
    })
    .await?;
    let reconciles = r#"wardops_reconciles_total{kind="DataConnector"}"#;
    let before = op.metric(reconciles)?.unwrap_or(0.0);
    Api::<CronJob>::namespaced(c.clone(), n)
        .patch(
            "dan-cu-sync",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"example.org/idle-probe": "1"}}})),
        )
        .await?;
    wait_for("a reconcile after the CronJob edit", TIMEOUT, || async {
        Ok((op.metric(reconciles)?.unwrap_or(0.0) > before).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let during = audit::operator_requests(n, quiet_from.get(), None)?;
    assert!(during.is_empty(), "requests at idle: {during:#?}");
    Ok(())
}

#[tokio::test]
async fn a_failed_pull_is_reported_and_the_gateway_stays_ready() -> Result<()> {
    let (c, ns) = setup_ns("dc-sync-fail").await?;
    let n = ns.name.as_str();
    put_secret(&c, n, "dan-cu", &[("apiKey", "k-1")]).await?;
    create_ward(&c, n, "one-stop").await?;
    // The test control plane fails the pulls of this image (tests/controlplane/kwok.yaml).
    create_sync_connector(&c, n, json!({"image": "wardops.test/sync-fails:1"})).await?;
    wait_reason(&c, n, "True", "Available").await?;
    sync_now(&c, n, "first").await?;
    let dc = wait_synced(&c, n, "False", "SyncFailed").await?;
    let (_, _, message) = synced_of(&dc).unwrap();
    assert!(message.contains("HTTP 503"), "{message}");
    assert!(message.contains("no snapshot is served yet"), "{message}");
    assert_eq!(ready_of(&dc).map(|r| r.1).as_deref(), Some("Available"));
    let st = dc.status.unwrap();
    assert_eq!(st.last_sync_result.as_deref(), Some("Failed"));
    assert!(st.last_successful_sync_time.is_none());
    Ok(())
}

/// The shared operator, a client and a fresh unlabelled namespace.
async fn setup_ns(prefix: &str) -> Result<(Client, TestNamespace)> {
    setup(prefix, &[]).await
}

/// Creates WardService `name` of Phường Hồng Bàng.
async fn create_ward(c: &Client, ns: &str, name: &str) -> Result<()> {
    create(c, ns, &ward_service(name, json!({}))).await?;
    Ok(())
}
