//! WardService behaviour on the real local control plane, one behaviour per
//! test. Each test has its own namespace; one operator serves them all.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, Namespace, PersistentVolumeClaim, Pod, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::{Value, json};
use wardops::api::WardService;
use wardops_tests::ward::*;
use wardops_tests::{audit, operator, wait_for};

#[tokio::test]
async fn create_makes_children_and_becomes_ready() -> Result<()> {
    let (c, ns) = setup("ws-create", &[]).await?;
    let ws = ward_service(
        "one-stop",
        json!({"replicas": 2, "config": {"LOG_LEVEL": "info"}, "ingress": {"host": "motcua.hongbang.haiphong.gov.vn"}}),
    );
    create(&c, &ns.name, &ws).await?;
    let ready = wait_ready(&c, &ns.name, "one-stop").await?;
    let st = ready.status.unwrap();
    assert_eq!(st.ready_replicas, Some(2));
    assert_eq!(
        st.endpoint.as_deref(),
        Some(format!("http://one-stop.{}.svc:8080", ns.name).as_str())
    );
    let names = ["Ready", "Progressing", "Degraded"];
    for n in names {
        let cond = st
            .conditions
            .iter()
            .find(|c| c.type_ == n)
            .unwrap_or_else(|| panic!("no {n}"));
        assert_eq!(cond.observed_generation, ready.metadata.generation);
    }

    assert!(exists::<ServiceAccount>(&c, &ns.name, "one-stop").await?);
    assert!(exists::<ConfigMap>(&c, &ns.name, "one-stop-config").await?);
    assert!(exists::<Service>(&c, &ns.name, "one-stop").await?);
    assert!(exists::<NetworkPolicy>(&c, &ns.name, "one-stop").await?);
    assert!(exists::<PodDisruptionBudget>(&c, &ns.name, "one-stop").await?);
    assert!(exists::<Ingress>(&c, &ns.name, "one-stop").await?);
    assert!(!exists::<HorizontalPodAutoscaler>(&c, &ns.name, "one-stop").await?);
    let d = Api::<Deployment>::namespaced(c.clone(), &ns.name)
        .get("one-stop")
        .await?;
    let owner = &d.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("WardService", Some(true))
    );
    assert_eq!(d.labels()["wardops.io/ward"], "11311");
    assert_eq!(d.annotations()["wardops.io/ward-name"], "Phường Hồng Bàng");

    // Events on transitions, reported by wardops.
    let events = Api::<Event>::namespaced(c.clone(), &ns.name)
        .list(&ListParams::default())
        .await?;
    assert!(
        events
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("Available")
                && e.involved_object.kind.as_deref() == Some("WardService")
                && e.reporting_component.as_deref() == Some("wardops")),
        "no Available event from wardops: {:?}",
        events
            .items
            .iter()
            .map(|e| (&e.reason, &e.reporting_component))
            .collect::<Vec<_>>()
    );
    // A new WardService's first rollout is in its status, not an Event.
    assert!(
        !events
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("RollingOut")
                && e.reporting_component.as_deref() == Some("wardops")),
        "a RollingOut Event for a new WardService"
    );
    Ok(())
}

#[tokio::test]
async fn spec_update_propagates_to_children() -> Result<()> {
    let (c, ns) = setup("ws-update", &[]).await?;
    create_ready(&c, &ns.name, "portal", json!({"config": {"A": "1"}})).await?;
    patch_spec(
        &c,
        &ns.name,
        "portal",
        json!({"replicas": 3, "config": {"A": "2", "B": "3"}, "port": 9090}),
    )
    .await?;
    let ws = wait_ready(&c, &ns.name, "portal").await?;
    assert_eq!(ws.status.unwrap().ready_replicas, Some(3));
    let cm = Api::<ConfigMap>::namespaced(c.clone(), &ns.name)
        .get("portal-config")
        .await?;
    assert_eq!(
        cm.data.unwrap(),
        BTreeMap::from([("A".into(), "2".into()), ("B".into(), "3".into())])
    );
    let svc = Api::<Service>::namespaced(c.clone(), &ns.name)
        .get("portal")
        .await?;
    assert_eq!(svc.spec.unwrap().ports.unwrap()[0].port, 9090);

    // Removing a config key removes it from the ConfigMap (fields wardops no longer sets are released).
    Api::<WardService>::namespaced(c.clone(), &ns.name)
        .patch(
            "portal",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"config": {"B": null}}})),
        )
        .await?;
    wait_for("config key B removed", TIMEOUT, || async {
        let cm = Api::<ConfigMap>::namespaced(c.clone(), &ns.name)
            .get("portal-config")
            .await?;
        Ok((cm.data.unwrap_or_default().len() == 1).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn hand_edit_is_reverted_and_hand_delete_recreated() -> Result<()> {
    let (c, ns) = setup("ws-drift", &[]).await?;
    create_ready(
        &c,
        &ns.name,
        "records",
        json!({"config": {"MODE": "strict"}}),
    )
    .await?;
    let cms = Api::<ConfigMap>::namespaced(c.clone(), &ns.name);
    cms.patch(
        "records-config",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"MODE": "lax"}})),
    )
    .await?;
    wait_for("ConfigMap edit reverted", TIMEOUT, || async {
        let cm = cms.get("records-config").await?;
        Ok(
            (cm.data.unwrap_or_default().get("MODE").map(String::as_str) == Some("strict"))
                .then_some(()),
        )
    })
    .await?;

    // The Deployment and the NetworkPolicy too: their cached copies keep only
    // a fingerprint of what wardops applied, which a hand edit changes.
    let deployments = Api::<Deployment>::namespaced(c.clone(), &ns.name);
    let pod_spec = |d: Deployment| d.spec.and_then(|s| s.template.spec).unwrap_or_default();
    let applied = pod_spec(deployments.get("records").await?).containers[0].clone();
    let mut edited = applied.clone();
    edited.image = Some("registry.example.org/not-the-spec:1".into());
    deployments
        .patch(
            "records",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [edited]}}}})),
        )
        .await?;
    let policies = Api::<NetworkPolicy>::namespaced(c.clone(), &ns.name);
    let applied_ingress = policies
        .get("records")
        .await?
        .spec
        .unwrap_or_default()
        .ingress;
    policies
        .patch(
            "records",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"ingress": [{}]}})),
        )
        .await?;
    wait_for(
        "Deployment and NetworkPolicy edits reverted",
        TIMEOUT,
        || async {
            let image = pod_spec(deployments.get("records").await?).containers[0]
                .image
                .clone();
            let ingress = policies
                .get("records")
                .await?
                .spec
                .unwrap_or_default()
                .ingress;
            Ok((image == applied.image && ingress == applied_ingress).then_some(()))
        },
    )
    .await?;

    let svcs = Api::<Service>::namespaced(c.clone(), &ns.name);
    let old_uid = svcs.get("records").await?.uid();
    svcs.delete("records", &DeleteParams::default()).await?;
    wait_for("Service re-created", TIMEOUT, || async {
        Ok(svcs
            .get_opt("records")
            .await?
            .filter(|s| s.uid() != old_uid)
            .map(|_| ()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn removing_optional_fields_removes_their_children() -> Result<()> {
    let (c, ns) = setup("ws-remove", &[]).await?;
    create_ready(
        &c,
        &ns.name,
        "portal",
        json!({
            "ingress": {"host": "dichvucong.hongbang.haiphong.gov.vn"},
            "autoscaling": {"minReplicas": 2, "maxReplicas": 4},
        }),
    )
    .await?;
    assert!(exists::<Ingress>(&c, &ns.name, "portal").await?);
    assert!(exists::<HorizontalPodAutoscaler>(&c, &ns.name, "portal").await?);
    assert!(exists::<PodDisruptionBudget>(&c, &ns.name, "portal").await?);
    Api::<WardService>::namespaced(c.clone(), &ns.name)
        .patch(
            "portal",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"ingress": null, "autoscaling": null, "replicas": 1}})),
        )
        .await?;
    wait_gone::<Ingress>(&c, &ns.name, "portal").await?;
    wait_gone::<HorizontalPodAutoscaler>(&c, &ns.name, "portal").await?;
    wait_gone::<PodDisruptionBudget>(&c, &ns.name, "portal").await?;
    let ws = wait_ready(&c, &ns.name, "portal").await?;
    assert_eq!(ws.status.unwrap().ready_replicas, Some(1));
    Ok(())
}

async fn pvc(c: &Client, ns: &str, name: &str) -> Result<Option<PersistentVolumeClaim>> {
    Ok(Api::<PersistentVolumeClaim>::namespaced(c.clone(), ns)
        .get_opt(name)
        .await?)
}

#[tokio::test]
async fn retained_volume_survives_deletion_and_is_adopted_again() -> Result<()> {
    let (c, ns) = setup("ws-retain", &[]).await?;
    let ws = ward_service(
        "records",
        json!({"storage": {"size": "1Gi", "mountPath": "/data"}}),
    );
    create(&c, &ns.name, &ws).await?;
    let claim = wait_for("PVC created", TIMEOUT, || pvc(&c, &ns.name, "records-data")).await?;
    assert!(
        claim.owner_references().is_empty(),
        "a retained PVC has no owner"
    );
    let uid = claim.uid();

    let api = Api::<WardService>::namespaced(c.clone(), &ns.name);
    api.delete("records", &DeleteParams::foreground()).await?;
    wait_gone::<Deployment>(&c, &ns.name, "records").await?;
    wait_gone::<WardService>(&c, &ns.name, "records").await?;
    let kept = pvc(&c, &ns.name, "records-data")
        .await?
        .expect("the PVC survives");
    assert_eq!(kept.uid(), uid);
    assert!(kept.metadata.deletion_timestamp.is_none());

    // A WardService of the same name mounts the same claim again.
    create(&c, &ns.name, &ws).await?;
    let d = wait_for("Deployment re-created", TIMEOUT, || async {
        Ok(Api::<Deployment>::namespaced(c.clone(), &ns.name)
            .get_opt("records")
            .await?)
    })
    .await?;
    let volumes = d
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .volumes
        .unwrap_or_default();
    assert!(volumes.iter().any(|v| {
        v.persistent_volume_claim
            .as_ref()
            .is_some_and(|p| p.claim_name == "records-data")
    }));
    assert_eq!(
        pvc(&c, &ns.name, "records-data").await?.unwrap().uid(),
        uid,
        "same claim, not a new one"
    );
    Ok(())
}

/// Deleting a namespace deletes every claim in it; the volume of a retained
/// one, and its data, must stay (the test StorageClass deletes volumes).
#[tokio::test]
async fn a_deleted_namespace_keeps_the_retained_volume() -> Result<()> {
    use k8s_openapi::api::core::v1::PersistentVolume;
    use wardops::controller::labels::RETAINED_VOLUME_ANNOTATION;
    let (c, ns) = setup("ws-ns-delete", &[]).await?;
    let ws = ward_service(
        "records",
        json!({"storage": {"size": "1Gi", "mountPath": "/data"}}),
    );
    create(&c, &ns.name, &ws).await?;
    let volume = wait_for(
        "the claim bound and its volume retained",
        TIMEOUT,
        || async {
            let Some(claim) = pvc(&c, &ns.name, "records-data").await? else {
                return Ok(None);
            };
            let noted = claim.annotations().get(RETAINED_VOLUME_ANNOTATION).cloned();
            let bound = claim.spec.and_then(|s| s.volume_name);
            Ok(bound.filter(|v| Some(v) == noted.as_ref()))
        },
    )
    .await?;
    let pvs = Api::<PersistentVolume>::all(c.clone());
    let policy = |pv: &PersistentVolume| {
        pv.spec
            .as_ref()
            .and_then(|s| s.persistent_volume_reclaim_policy.clone())
    };
    assert_eq!(policy(&pvs.get(&volume).await?).as_deref(), Some("Retain"));

    Api::<Namespace>::all(c.clone())
        .delete(&ns.name, &DeleteParams::default())
        .await?;
    wait_for("the namespace gone", TIMEOUT, || async {
        Ok(Api::<Namespace>::all(c.clone())
            .get_opt(&ns.name)
            .await?
            .is_none()
            .then_some(()))
    })
    .await?;
    let released = wait_for("the volume released", TIMEOUT, || async {
        let pv = pvs.get(&volume).await?;
        let phase = pv.status.as_ref().and_then(|s| s.phase.clone());
        Ok((phase.as_deref() == Some("Released")).then_some(pv))
    })
    .await?;
    assert!(released.metadata.deletion_timestamp.is_none());
    assert_eq!(policy(&released).as_deref(), Some("Retain"));
    // The test's own cleanup: the kept volume is deleted by hand, as a person would.
    pvs.delete(&volume, &DeleteParams::default()).await?;
    Ok(())
}

#[tokio::test]
async fn delete_policy_removes_the_volume() -> Result<()> {
    let (c, ns) = setup("ws-delete", &[]).await?;
    create(
        &c,
        &ns.name,
        &ward_service(
            "scratch",
            json!({"storage": {"size": "1Gi", "reclaimPolicy": "Delete"}}),
        ),
    )
    .await?;
    let claim = wait_for("PVC created", TIMEOUT, || pvc(&c, &ns.name, "scratch-data")).await?;
    assert_eq!(claim.owner_references()[0].kind, "WardService");
    Api::<WardService>::namespaced(c.clone(), &ns.name)
        .delete("scratch", &DeleteParams::default())
        .await?;
    wait_for("PVC deleted or terminating", TIMEOUT, || async {
        Ok(match pvc(&c, &ns.name, "scratch-data").await? {
            None => Some(()),
            Some(p) if p.metadata.deletion_timestamp.is_some() => Some(()),
            Some(_) => None,
        })
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn missing_secret_is_reported_and_recovers() -> Result<()> {
    let (c, ns) = setup("ws-secret", &[]).await?;
    let ws = ward_service(
        "one-stop",
        json!({"secretEnv": [{"name": "DB_PASSWORD", "secretKeyRef": {"name": "one-stop-db", "key": "password"}}]}),
    );
    create(&c, &ns.name, &ws).await?;
    let blocked = wait_ready_reason(&c, &ns.name, "one-stop", "False", "SecretMissing").await?;
    let msg = &blocked.status.unwrap().conditions[0].message;
    assert!(
        msg.contains("one-stop-db") && msg.contains("spec.secretEnv[0]"),
        "{msg}"
    );
    assert!(!exists::<Deployment>(&c, &ns.name, "one-stop").await?);

    // The Secret exists but lacks the key.
    put_secret(&c, &ns.name, "one-stop-db", &[("user", "hongbang")]).await?;
    let blocked = wait_for("message about the key", TIMEOUT, || async {
        let ws = Api::<WardService>::namespaced(c.clone(), &ns.name)
            .get("one-stop")
            .await?;
        let m = ws
            .status
            .and_then(|s| s.conditions.into_iter().next())
            .map(|c| c.message)
            .unwrap_or_default();
        Ok(m.contains("has no key `password`").then_some(m))
    })
    .await?;
    assert!(blocked.contains("Secret `one-stop-db`"), "{blocked}");

    // Warning event on the transition.
    let events = Api::<Event>::namespaced(c.clone(), &ns.name)
        .list(&ListParams::default())
        .await?;
    assert!(
        events
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("SecretMissing")
                && e.type_.as_deref() == Some("Warning"))
    );

    put_secret(
        &c,
        &ns.name,
        "one-stop-db",
        &[("user", "hongbang"), ("password", "s3cr3t")],
    )
    .await?;
    wait_ready(&c, &ns.name, "one-stop").await?;
    Ok(())
}

#[tokio::test]
async fn secret_rotation_rolls_pods_exactly_once() -> Result<()> {
    let (c, ns) = setup("ws-rotate", &[]).await?;
    put_secret(&c, &ns.name, "db", &[("password", "first")]).await?;
    create_ready(&c, &ns.name, "one-stop", json!({"secretEnv": [{"name": "DB_PASSWORD", "secretKeyRef": {"name": "db", "key": "password"}}]})).await?;
    assert_eq!(owned_replica_sets(&c, &ns.name, "one-stop").await?.len(), 1);

    let rotated = put_secret(&c, &ns.name, "db", &[("password", "second")]).await?;
    wait_for("a second ReplicaSet", TIMEOUT, || async {
        Ok((owned_replica_sets(&c, &ns.name, "one-stop").await?.len() == 2).then_some(()))
    })
    .await?;
    wait_ready(&c, &ns.name, "one-stop").await?;
    // No rollout loop: still two ReplicaSets a while later.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(owned_replica_sets(&c, &ns.name, "one-stop").await?.len(), 2);
    let d = Api::<Deployment>::namespaced(c.clone(), &ns.name)
        .get("one-stop")
        .await?;
    let ann = d
        .spec
        .unwrap()
        .template
        .metadata
        .unwrap()
        .annotations
        .unwrap();
    assert_eq!(
        ann["wardops.io/secret-versions"],
        format!("db={}", rotated.resource_version().unwrap())
    );
    Ok(())
}

#[tokio::test]
async fn classified_service_in_unlabelled_namespace_is_refused() -> Result<()> {
    let (c, ns) = setup("ws-class-bad", &[]).await?;
    create(
        &c,
        &ns.name,
        &ward_service("records", json!({"classification": "confidential"})),
    )
    .await?;
    let ws = wait_ready_reason(&c, &ns.name, "records", "False", "ClassificationMismatch").await?;
    let msg = &ws.status.unwrap().conditions[0].message;
    assert!(msg.contains("wardops.io/classification"), "{msg}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (exists, what) in [
        (
            exists::<Deployment>(&c, &ns.name, "records").await?,
            "Deployment",
        ),
        (
            exists::<ConfigMap>(&c, &ns.name, "records-config").await?,
            "ConfigMap",
        ),
        (exists::<Service>(&c, &ns.name, "records").await?, "Service"),
        (
            exists::<ServiceAccount>(&c, &ns.name, "records").await?,
            "ServiceAccount",
        ),
    ] {
        assert!(!exists, "{what} was created");
    }
    // Labelling the namespace lets it run.
    kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(c.clone())
        .patch(
            &ns.name,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"labels": {"wardops.io/classification": "confidential"}}}),
            ),
        )
        .await?;
    wait_ready(&c, &ns.name, "records").await?;
    Ok(())
}

#[tokio::test]
async fn classified_service_is_isolated() -> Result<()> {
    let (c, ns) = setup("ws-class-ok", &[("wardops.io/classification", "secret")]).await?;
    create_ready(
        &c,
        &ns.name,
        "records",
        json!({"classification": "secret", "replicas": 2}),
    )
    .await?;
    let d = Api::<Deployment>::namespaced(c.clone(), &ns.name)
        .get("records")
        .await?;
    let pod_spec = d.spec.unwrap().template.spec.unwrap();
    assert_eq!(
        pod_spec.node_selector.unwrap()["wardops.io/pool"],
        "isolated"
    );
    assert!(
        pod_spec
            .tolerations
            .unwrap()
            .iter()
            .any(|t| t.key.as_deref() == Some("wardops.io/pool"))
    );
    // The pods really run on the isolated node.
    let pods = Api::<Pod>::namespaced(c.clone(), &ns.name)
        .list(&ListParams::default())
        .await?;
    assert!(!pods.items.is_empty());
    for p in &pods.items {
        assert_eq!(
            p.spec.as_ref().unwrap().node_name.as_deref(),
            Some("kwok-isolated-0"),
            "{}",
            p.name_any()
        );
    }
    assert!(!exists::<Ingress>(&c, &ns.name, "records").await?);
    let np = Api::<NetworkPolicy>::namespaced(c.clone(), &ns.name)
        .get("records")
        .await?;
    let egress = np.spec.unwrap().egress.unwrap_or_default();
    let text = serde_json::to_string(&egress)?;
    assert!(
        !text.contains("ipBlock"),
        "classified egress must not reach CIDRs: {text}"
    );
    // No connector is wired: the only way out is DNS, to the cluster DNS pods.
    assert_eq!(egress.len(), 1, "egress beyond DNS: {text}");
    assert!(
        text.contains("\"port\":53") && text.contains("kube-dns"),
        "egress only to the cluster DNS: {text}"
    );
    Ok(())
}

#[tokio::test]
async fn restricted_pod_security_admits_every_pod() -> Result<()> {
    let (c, ns) = setup(
        "ws-psa",
        &[("pod-security.kubernetes.io/enforce", "restricted")],
    )
    .await?;
    create(
        &c,
        &ns.name,
        &ward_service(
            "portal",
            json!({"replicas": 2, "storage": {"size": "1Gi", "reclaimPolicy": "Delete"}}),
        ),
    )
    .await?;
    // Pods are created (admission would refuse them) and the ReplicaSet reports no FailedCreate.
    wait_for("2 pods admitted", TIMEOUT, || async {
        let pods = Api::<Pod>::namespaced(c.clone(), &ns.name)
            .list(&ListParams::default())
            .await?;
        Ok((pods.items.len() == 2).then_some(()))
    })
    .await?;
    let events = Api::<Event>::namespaced(c.clone(), &ns.name)
        .list(&ListParams::default())
        .await?;
    let refused: Vec<_> = events
        .items
        .iter()
        .filter(|e| e.reason.as_deref() == Some("FailedCreate"))
        .map(|e| e.message.clone().unwrap_or_default())
        .collect();
    assert!(refused.is_empty(), "pods refused: {refused:?}");
    Ok(())
}

#[tokio::test]
async fn paused_leaves_children_alone() -> Result<()> {
    let (c, ns) = setup("ws-paused", &[]).await?;
    create_ready(&c, &ns.name, "portal", json!({"config": {"A": "1"}})).await?;
    patch_spec(
        &c,
        &ns.name,
        "portal",
        json!({"paused": true, "config": {"A": "2"}}),
    )
    .await?;
    wait_ready_reason(&c, &ns.name, "portal", "False", "Paused").await?;
    let cms = Api::<ConfigMap>::namespaced(c.clone(), &ns.name);
    cms.patch(
        "portal-config",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"HAND": "edit"}})),
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let data = cms.get("portal-config").await?.data.unwrap();
    assert_eq!(
        data["A"], "1",
        "a paused WardService's spec change must not reach children"
    );
    assert_eq!(data["HAND"], "edit", "hand edits stay while paused");
    patch_spec(&c, &ns.name, "portal", json!({"paused": false})).await?;
    wait_ready(&c, &ns.name, "portal").await?;
    wait_for("config resumes", TIMEOUT, || async {
        Ok((cms
            .get("portal-config")
            .await?
            .data
            .unwrap_or_default()
            .get("A")
            .map(String::as_str)
            == Some("2"))
        .then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn secret_values_never_leak() -> Result<()> {
    let (c, ns) = setup("ws-sentinel", &[]).await?;
    let sentinel = format!("SENTINEL-{}-c0ffee", std::process::id());
    put_secret(
        &c,
        &ns.name,
        "db",
        &[("password", &sentinel), ("other", &sentinel)],
    )
    .await?;
    create(
        &c,
        &ns.name,
        &ward_service(
            "one-stop",
            json!({"secretEnv": [
                {"name": "DB_PASSWORD", "secretKeyRef": {"name": "db", "key": "password"}},
                {"name": "API_TOKEN", "secretKeyRef": {"name": "db", "key": "missing-key"}},
            ]}),
        ),
    )
    .await?;
    wait_ready_reason(&c, &ns.name, "one-stop", "False", "SecretMissing").await?;
    put_secret(
        &c,
        &ns.name,
        "db",
        &[("password", &sentinel), ("missing-key", &sentinel)],
    )
    .await?;
    wait_ready(&c, &ns.name, "one-stop").await?;

    let mut haystacks = Vec::new();
    for cm in Api::<ConfigMap>::namespaced(c.clone(), &ns.name)
        .list(&ListParams::default())
        .await?
        .items
    {
        haystacks.push(("ConfigMap", serde_json::to_string(&cm)?));
    }
    for e in Api::<Event>::namespaced(c.clone(), &ns.name)
        .list(&ListParams::default())
        .await?
        .items
    {
        haystacks.push(("Event", serde_json::to_string(&e)?));
    }
    let ws = Api::<WardService>::namespaced(c.clone(), &ns.name)
        .get("one-stop")
        .await?;
    haystacks.push(("WardService", serde_json::to_string(&ws)?));
    let d = Api::<Deployment>::namespaced(c.clone(), &ns.name)
        .get("one-stop")
        .await?;
    haystacks.push(("Deployment", serde_json::to_string(&d)?));
    haystacks.push((
        "operator log",
        std::fs::read_to_string(&operator().await.log)?,
    ));
    let metrics = operator().await.metrics()?;
    assert!(
        metrics.contains("wardops_reconciles_total"),
        "metrics not served"
    );
    haystacks.push(("metrics", metrics));
    for (what, text) in &haystacks {
        assert!(
            !text.contains(&sentinel),
            "the secret value appears in a {what}"
        );
    }
    // The Deployment refers to the key; it never carries the value.
    let text = &haystacks
        .iter()
        .find(|(w, _)| *w == "Deployment")
        .unwrap()
        .1;
    assert!(text.contains("secretKeyRef"));
    Ok(())
}

#[tokio::test]
async fn metrics_count_reconciles_without_object_names() -> Result<()> {
    let (c, ns) = setup("ws-metrics", &[]).await?;
    create_ready(&c, &ns.name, "metrics-probe", json!({})).await?;
    let body = operator().await.metrics()?;
    assert!(
        body.contains(r#"wardops_reconciles_total{kind="WardService"}"#),
        "{body}"
    );
    assert!(
        body.contains(r#"wardops_resources{kind="WardService",ready="true"}"#),
        "{body}"
    );
    assert!(
        body.contains("wardops_reconcile_duration_seconds_bucket"),
        "{body}"
    );
    assert!(
        !body.contains(&ns.name) && !body.contains("metrics-probe"),
        "object names in metric labels"
    );
    Ok(())
}

#[tokio::test]
async fn idle_cluster_gets_no_requests() -> Result<()> {
    let (c, ns) = setup("ws-idle", &[]).await?;
    let op = operator().await;
    let converging = audit::mark()?;
    put_secret(&c, &ns.name, "db", &[("password", "x")]).await?;
    create_ready(&c, &ns.name, "one-stop", json!({"replicas": 2, "config": {"A": "1"}, "ingress": {"host": "motcua.idle.haiphong.gov.vn"},
                   "secretEnv": [{"name": "P", "secretKeyRef": {"name": "db", "key": "password"}}]})).await?;
    // Settled: two seconds without a request from the operator for the namespace.
    let quiet_from = Cell::new(audit::mark()?);
    wait_for("the operator to settle", TIMEOUT, || async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = audit::mark()?;
        let quiet = audit::operator_requests(&ns.name, quiet_from.get(), Some(now))?.is_empty();
        quiet_from.set(now);
        Ok(quiet.then_some(()))
    })
    .await?;
    let mark = quiet_from.get();
    assert!(
        !audit::operator_requests(&ns.name, converging, Some(mark))?.is_empty(),
        "the audit filter sees the operator's requests while converging"
    );

    // Changes that reconcile the WardService and ask for nothing: labels on
    // watched children, an annotation on its Namespace. Each is seen.
    let reconciles = r#"wardops_reconciles_total{kind="WardService"}"#;
    let count = || -> Result<f64> { Ok(op.metric(reconciles)?.unwrap_or(0.0)) };
    let merge = |metadata: Value| Patch::Merge(json!({ "metadata": metadata }));
    let params = PatchParams::default();
    let cms = Api::<ConfigMap>::namespaced(c.clone(), &ns.name);
    let svcs = Api::<Service>::namespaced(c.clone(), &ns.name);
    let namespaces = Api::<Namespace>::all(c.clone());
    for (edit, step) in ["label added", "label changed"].iter().zip(1..) {
        let before = count()?;
        let patch = merge(json!({"labels": {"example.org/idle-probe": format!("v{step}")}}));
        cms.patch("one-stop-config", &params, &patch).await?;
        svcs.patch("one-stop", &params, &patch).await?;
        wait_for(
            &format!("a reconcile after the {edit}"),
            TIMEOUT,
            || async { Ok((count()? > before).then_some(())) },
        )
        .await?;
    }
    let before = count()?;
    namespaces
        .patch(
            &ns.name,
            &params,
            &merge(json!({"annotations": {"example.org/idle-probe": "touched"}})),
        )
        .await?;
    wait_for("a reconcile after the Namespace edit", TIMEOUT, || async {
        Ok((count()? > before).then_some(()))
    })
    .await?;
    // Time for any request those reconciles would send to reach the audit log.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let during = audit::operator_requests(&ns.name, mark, None)?;
    assert!(during.is_empty(), "requests at idle: {during:#?}");
    Ok(())
}

#[tokio::test]
async fn objects_made_by_someone_else_are_never_taken_over() -> Result<()> {
    let (c, ns) = setup("ws-taken", &[]).await?;
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "portal-config"},
        "data": {"OWNER": "someone else"}
    }))?;
    Api::<ConfigMap>::namespaced(c.clone(), &ns.name)
        .create(&PostParams::default(), &cm)
        .await?;
    create(
        &c,
        &ns.name,
        &ward_service("portal", json!({"config": {"A": "1"}})),
    )
    .await?;
    let ws = wait_ready_reason(&c, &ns.name, "portal", "False", "ApplyFailed").await?;
    let msg = &ws.status.unwrap().conditions[0].message;
    assert!(
        msg.contains("ConfigMap `portal-config` already exists"),
        "{msg}"
    );
    let data = Api::<ConfigMap>::namespaced(c.clone(), &ns.name)
        .get("portal-config")
        .await?
        .data
        .unwrap();
    assert_eq!(
        data,
        BTreeMap::from([("OWNER".to_string(), "someone else".to_string())])
    );
    // Removing the foreign object lets the WardService proceed.
    Api::<ConfigMap>::namespaced(c.clone(), &ns.name)
        .delete("portal-config", &DeleteParams::default())
        .await?;
    wait_ready(&c, &ns.name, "portal").await?;
    Ok(())
}

/// Unrelated ConfigMaps never enter the operator's caches (children are watched
/// by label), and Secrets are cached as metadata only: read from the
/// `wardops_cache_objects` gauge while hundreds of unrelated objects appear.
#[tokio::test]
async fn unrelated_objects_are_not_cached() -> Result<()> {
    let (c, ns) = setup("ws-nocache", &[]).await?;
    let op = operator().await;
    let cached = |kind: &str| -> Result<f64> {
        Ok(op
            .metric(&format!("wardops_cache_objects{{cache=\"{kind}\"}}"))?
            .unwrap_or(0.0))
    };
    let before = cached("ConfigMap")?;
    let unrelated = 300;
    let cms = Api::<ConfigMap>::namespaced(c.clone(), &ns.name);
    let payload = "x".repeat(2048);
    for i in 0..unrelated {
        let cm: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": format!("unrelated-{i}")}, "data": {"blob": payload}}),
        )?;
        cms.create(&PostParams::default(), &cm).await?;
    }
    // A WardService in the same namespace: its own ConfigMap is cached, so the
    // gauge is live and the watch has seen this namespace's ConfigMaps.
    create_ready(&c, &ns.name, "one-stop", json!({})).await?;
    let after = cached("ConfigMap")?;
    // Other tests add their own WardServices meanwhile; never hundreds.
    assert!(
        after - before < f64::from(unrelated) / 3.0,
        "unrelated ConfigMaps were cached: {before} -> {after}"
    );
    assert!(after > 0.0, "the gauge reports the ConfigMap cache");
    Ok(())
}

/// wardops' Event recorder on the real API server: a repeat of a reason
/// about the same object counts on the Event sent (its `series`), another
/// reason is another Event, and a repeat whose Event was deleted creates
/// it anew.
#[tokio::test]
async fn a_repeated_event_counts_on_the_event_sent() -> Result<()> {
    use k8s_openapi::api::events::v1::Event as EventV1;
    use wardops::controller::events::{EventType, Recorder, Report};
    let c = wardops_tests::client().await?;
    let ns = wardops_tests::TestNamespace::create(&c, "ws-events", &[]).await?;
    let cm = Api::<ConfigMap>::namespaced(c.clone(), &ns.name)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "one-stop-config"}}))?,
        )
        .await?;
    let regarding = cm.object_ref(&());
    let recorder = Recorder::new(
        c.clone(),
        wardops::controller::REPORTING_CONTROLLER,
        Some("wardops-test".into()),
    );
    let missing = Report {
        type_: EventType::Warning,
        reason: "SecretMissing",
        action: "Reconcile",
        note: "Secret `one-stop-db` has no key `password`",
    };
    let events = Api::<EventV1>::namespaced(c.clone(), &ns.name);
    let by_reason = |reason: &'static str| {
        let events = events.clone();
        async move {
            let list = events.list(&ListParams::default()).await?;
            anyhow::Ok(
                list.items
                    .into_iter()
                    .filter(|e| e.reason.as_deref() == Some(reason))
                    .collect::<Vec<_>>(),
            )
        }
    };

    for _ in 0..3 {
        recorder.publish(&missing, &regarding).await?;
    }
    let sent = by_reason("SecretMissing").await?;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let series = sent[0].series.as_ref().expect("a series");
    assert_eq!(series.count, 3);
    assert_eq!(sent[0].note.as_deref(), Some(missing.note));
    assert_eq!(sent[0].reporting_instance.as_deref(), Some("wardops-test"));
    assert_eq!(
        sent[0].regarding.as_ref().and_then(|r| r.uid.as_deref()),
        cm.metadata.uid.as_deref()
    );

    let available = Report {
        type_: EventType::Normal,
        reason: "Available",
        ..missing
    };
    recorder.publish(&available, &regarding).await?;
    let other = by_reason("Available").await?;
    assert_eq!((other.len(), other[0].series.is_none()), (1, true));
    assert_eq!(recorder.remembered(), 2);

    events
        .delete(&sent[0].name_any(), &DeleteParams::default())
        .await?;
    recorder.publish(&missing, &regarding).await?;
    let again = by_reason("SecretMissing").await?;
    assert_eq!(again.len(), 1, "{again:?}");
    assert_ne!(again[0].name_any(), sent[0].name_any());
    assert_eq!(again[0].series, None);
    Ok(())
}
