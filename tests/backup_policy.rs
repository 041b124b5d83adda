//! BackupPolicy behaviour on the real local control plane, one behaviour per
//! test. The test control plane ends backup pods as `wardops backup` would
//! (tests/controlplane/kwok.yaml, stage backup-end): a result line with the
//! pod's name as snapshot id, or a failure for the image
//! `wardops.test/backup-fails:1`.

use std::time::Duration;

use anyhow::{Result, anyhow};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Event, PersistentVolumeClaim, Pod, Secret};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use wardops::api::BackupPolicy;
use wardops::api::backup_policy::BackupTargetStatus;
use wardops::controller::labels;
use wardops_tests::ward::{TIMEOUT, create, put_secret, setup, ward_service};
use wardops_tests::{kubectl, operator, wait_for};

/// A policy `nightly` with `extra` merged into a spec that backs up to a PVC
/// with its own key Secret `backup-key`.
async fn create_policy(c: &Client, ns: &str, extra: Value) -> Result<()> {
    let mut spec = json!({
        "target": {"selector": {"matchLabels": {"wardops.io/backup": "nightly"}}},
        "schedule": "30 1 * * *",
        "retention": {"keepDaily": 7},
        "destination": {"pvc": {"claimName": "backups"}},
        "encryption": {"keySecretRef": {"name": "backup-key", "key": "password"}},
    });
    if let (Some(s), Value::Object(e)) = (spec.as_object_mut(), extra) {
        for (k, v) in e {
            if v.is_null() {
                s.remove(&k);
            } else {
                s.insert(k, v);
            }
        }
    }
    let bp: BackupPolicy = serde_json::from_value(json!({
        "apiVersion": "wardops.io/v1alpha1", "kind": "BackupPolicy",
        "metadata": {"name": "nightly"}, "spec": spec,
    }))?;
    Api::<BackupPolicy>::namespaced(c.clone(), ns)
        .create(&PostParams::default(), &bp)
        .await?;
    Ok(())
}

/// A WardService `name` labelled for the nightly policy, with `spec` merged.
async fn create_target(c: &Client, ns: &str, name: &str, spec: Value) -> Result<()> {
    let mut ws = ward_service(name, spec);
    ws.metadata.labels = Some([("wardops.io/backup".to_string(), "nightly".to_string())].into());
    create(c, ns, &ws).await?;
    Ok(())
}

/// The claim `backups` that the default destination names.
async fn create_backup_claim(c: &Client, ns: &str) -> Result<()> {
    let claim: PersistentVolumeClaim = serde_json::from_value(json!({
        "metadata": {"name": "backups"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}))?;
    Api::<PersistentVolumeClaim>::namespaced(c.clone(), ns)
        .create(&PostParams::default(), &claim)
        .await?;
    Ok(())
}

fn with_storage() -> Value {
    json!({"storage": {"size": "1Gi", "reclaimPolicy": "Delete"}})
}

/// Waits until `check` accepts the policy at its current generation.
async fn wait_policy<T>(
    c: &Client,
    ns: &str,
    what: &str,
    check: impl Fn(&BackupPolicy) -> Option<T>,
) -> Result<T> {
    let api = Api::<BackupPolicy>::namespaced(c.clone(), ns);
    wait_for(what, TIMEOUT, || {
        let api = api.clone();
        let check = &check;
        async move {
            let bp = api.get("nightly").await?;
            let current =
                bp.status.as_ref().and_then(|s| s.observed_generation) == bp.metadata.generation;
            match current.then(|| check(&bp)).flatten() {
                Some(t) => Ok(Some(t)),
                None => Err(anyhow!("now {:?}", bp.status)),
            }
        }
    })
    .await
}

fn condition(bp: &BackupPolicy, type_: &str) -> Option<(String, String, String)> {
    bp.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn target<'a>(bp: &'a BackupPolicy, ward: &str) -> Option<&'a BackupTargetStatus> {
    bp.status
        .as_ref()?
        .targets
        .iter()
        .find(|t| t.ward_service == ward)
}

async fn cron_jobs(c: &Client, ns: &str) -> Result<Vec<String>> {
    let mut names: Vec<String> = Api::<CronJob>::namespaced(c.clone(), ns)
        .list(&ListParams::default().labels(&labels::child_selector(labels::COMPONENT_BACKUP)))
        .await?
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    names.sort();
    Ok(names)
}

async fn backup_jobs(c: &Client, ns: &str) -> Result<Vec<Job>> {
    Ok(Api::<Job>::namespaced(c.clone(), ns)
        .list(&ListParams::default().labels(&labels::child_selector(labels::COMPONENT_BACKUP)))
        .await?
        .items)
}

async fn backup_now(c: &Client, ns: &str, value: &str) -> Result<()> {
    Api::<BackupPolicy>::namespaced(c.clone(), ns)
        .patch(
            "nightly",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {labels::BACKUP_NOW_ANNOTATION: value}}}),
            ),
        )
        .await?;
    Ok(())
}

async fn events(c: &Client, ns: &str, reason: &str) -> Result<Vec<Event>> {
    Ok(Api::<Event>::namespaced(c.clone(), ns)
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .collect())
}

#[tokio::test]
async fn a_cron_job_per_selected_target_follows_the_wards() -> Result<()> {
    let (c, ns) = setup("bp-targets", &[]).await?;
    let n = ns.name.as_str();
    put_secret(&c, n, "backup-key", &[("password", "k")]).await?;
    create_target(&c, n, "one-stop", with_storage()).await?;
    create_target(&c, n, "portal", with_storage()).await?;
    create_target(&c, n, "kiosk", json!({})).await?;
    create_backup_claim(&c, n).await?;
    create_policy(&c, n, json!({})).await?;
    let bp = wait_policy(&c, n, "two targets scheduled, one without storage", |bp| {
        let ready = condition(bp, "Ready")?;
        (ready.1 == "Scheduled" && target(bp, "kiosk")?.reason.as_deref() == Some("NoStorage"))
            .then(|| bp.clone())
    })
    .await?;
    let (_, degraded_reason, degraded) = condition(&bp, "Degraded").unwrap();
    assert_eq!(degraded_reason, "TargetsDegraded");
    assert!(degraded.contains("kiosk (NoStorage)"), "{degraded}");
    assert_eq!(
        cron_jobs(&c, n).await?,
        ["nightly-one-stop", "nightly-portal"]
    );
    let cj = Api::<CronJob>::namespaced(c.clone(), n)
        .get("nightly-one-stop")
        .await?;
    let spec = cj.spec.unwrap();
    assert_eq!(
        (
            spec.schedule.as_str(),
            spec.time_zone.as_deref(),
            spec.concurrency_policy.as_deref()
        ),
        ("30 1 * * *", Some("Asia/Ho_Chi_Minh"), Some("Forbid"))
    );
    assert!(bp.status.unwrap().next_schedule_time.is_some());

    // A ward that gains storage joins; one that loses the label leaves.
    wardops_tests::ward::patch_spec(&c, n, "kiosk", with_storage()).await?;
    Api::<wardops::api::WardService>::namespaced(c.clone(), n)
        .patch(
            "portal",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"wardops.io/backup": null}}})),
        )
        .await?;
    wait_for("the CronJobs to follow the wards", TIMEOUT, || async {
        let now = cron_jobs(&c, n).await?;
        Ok((now == ["nightly-kiosk", "nightly-one-stop"]).then_some(()))
    })
    .await?;

    // Suspend reaches every CronJob.
    Api::<BackupPolicy>::namespaced(c.clone(), n)
        .patch(
            "nightly",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspend": true}})),
        )
        .await?;
    wait_for("suspended CronJobs", TIMEOUT, || async {
        let all = Api::<CronJob>::namespaced(c.clone(), n)
            .list(&ListParams::default())
            .await?;
        Ok(all
            .items
            .iter()
            .all(|cj| cj.spec.as_ref().and_then(|s| s.suspend) == Some(true))
            .then_some(()))
    })
    .await?;
    wait_policy(&c, n, "Ready Suspended", |bp| {
        (condition(bp, "Ready")?.1 == "Suspended"
            && bp.status.as_ref()?.next_schedule_time.is_none())
        .then_some(())
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn backup_now_runs_one_job_per_target_on_the_wards_node_and_fills_the_status() -> Result<()> {
    let (c, ns) = setup("bp-now", &[]).await?;
    let n = ns.name.as_str();
    let sentinel = format!("sentinel-{n}-5ec2e7");
    put_secret(&c, n, "backup-key", &[("password", &sentinel)]).await?;
    put_secret(
        &c,
        n,
        "backup-s3",
        &[
            ("AWS_ACCESS_KEY_ID", &sentinel),
            ("AWS_SECRET_ACCESS_KEY", &sentinel),
        ],
    )
    .await?;
    create_target(&c, n, "one-stop", with_storage()).await?;
    create_target(&c, n, "portal", with_storage()).await?;
    create_policy(
        &c,
        n,
        json!({"destination": {"s3": {"endpoint": "https://s3.tttt.haiphong.gov.vn",
            "bucket": "ward-backups", "credentialsSecretRef": {"name": "backup-s3"}}}}),
    )
    .await?;
    wait_policy(&c, n, "Ready", |bp| {
        (condition(bp, "Ready")?.0 == "True").then_some(())
    })
    .await?;
    backup_now(&c, n, "2026-11-27T10:00").await?;
    let bp = wait_policy(&c, n, "both targets backed up", |bp| {
        let done = ["one-stop", "portal"]
            .iter()
            .all(|w| target(bp, w).is_some_and(|t| t.last_snapshot_id.is_some()));
        done.then(|| bp.clone())
    })
    .await?;
    let st = bp.status.clone().unwrap();
    assert_eq!(st.last_backup_now.as_deref(), Some("2026-11-27T10:00"));
    // The backup gauges: a success is recent, so none of these targets is overdue.
    let op = operator().await;
    let oldest = op
        .metric("wardops_backup_last_success_timestamp_seconds")?
        .unwrap_or(0.0);
    assert!(oldest > 0.0, "the oldest last success is set");
    assert!(op.metric("wardops_backup_policies_overdue")?.is_some());
    assert!(st.last_successful_time.is_some());
    let t = target(&bp, "one-stop").unwrap();
    assert_eq!(t.last_snapshot_bytes, Some(4096));
    assert_eq!(t.last_bytes_added, Some(1024));
    assert_eq!(t.reason, None);
    let jobs = backup_jobs(&c, n).await?;
    assert_eq!(jobs.len(), 2, "one Job per target");
    // The snapshot id the kwok stage reports is the backup pod's name: the
    // pod of one-stop's Job, which ran on one-stop's node.
    let pods = Api::<Pod>::namespaced(c.clone(), n);
    let backup_pod = pods.get(t.last_snapshot_id.as_deref().unwrap()).await?;
    let ward_pods = pods
        .list(
            &ListParams::default()
                .labels("app.kubernetes.io/instance=one-stop,app.kubernetes.io/name=ward-service"),
        )
        .await?;
    let node = |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.clone());
    assert!(node(&backup_pod).is_some());
    assert!(
        ward_pods.items.iter().all(|w| node(w) == node(&backup_pod)),
        "co-located"
    );

    // The same value again starts nothing; a new one starts one per target.
    backup_now(&c, n, "2026-11-27T10:00").await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(backup_jobs(&c, n).await?.len(), 2);
    backup_now(&c, n, "2026-11-27T11:00").await?;
    wait_for("two more backup Jobs", TIMEOUT, || async {
        Ok((backup_jobs(&c, n).await?.len() == 4).then_some(()))
    })
    .await?;
    assert!(!events(&c, n, "BackupStarted").await?.is_empty());

    // The key and the S3 keys are only in their Secrets.
    let mut haystacks = vec![
        ("BackupPolicy", serde_json::to_string(&bp)?),
        (
            "Events",
            serde_json::to_string(
                &Api::<Event>::namespaced(c.clone(), n)
                    .list(&ListParams::default())
                    .await?
                    .items,
            )?,
        ),
        (
            "CronJobs",
            serde_json::to_string(
                &Api::<CronJob>::namespaced(c.clone(), n)
                    .list(&ListParams::default())
                    .await?
                    .items,
            )?,
        ),
        ("Jobs", serde_json::to_string(&backup_jobs(&c, n).await?)?),
        (
            "operator log",
            std::fs::read_to_string(&operator().await.log)?,
        ),
        ("metrics", operator().await.metrics()?),
    ];
    haystacks.push((
        "ConfigMaps",
        kubectl(&["-n", n, "get", "configmaps", "-o", "json"], None).stdout,
    ));
    for (what, text) in &haystacks {
        assert!(
            !text.contains(&sentinel),
            "a secret value appears in {what}"
        );
    }
    // Everything the API server stores, read from etcd.
    wardops_tests::etcd::assert_only_in_secret(&sentinel, n, "backup-key")?;
    Ok(())
}

#[tokio::test]
async fn a_failed_backup_is_reported_with_an_event() -> Result<()> {
    let (c, ns) = setup("bp-fail", &[]).await?;
    let n = ns.name.as_str();
    put_secret(&c, n, "backup-key", &[("password", "k")]).await?;
    create_target(&c, n, "one-stop", with_storage()).await?;
    create_policy(&c, n, json!({"image": "wardops.test/backup-fails:1"})).await?;
    // Its destination claim does not exist yet: said so, then it recovers.
    wait_policy(&c, n, "DestinationMissing", |bp| {
        (condition(bp, "Ready")?.1 == "DestinationMissing").then_some(())
    })
    .await?;
    create_backup_claim(&c, n).await?;
    wait_policy(&c, n, "Ready", |bp| {
        (condition(bp, "Ready")?.0 == "True").then_some(())
    })
    .await?;
    backup_now(&c, n, "first").await?;
    let bp = wait_policy(&c, n, "the failure in status", |bp| {
        (target(bp, "one-stop")?.reason.as_deref() == Some("BackupFailed")).then(|| bp.clone())
    })
    .await?;
    let t = target(&bp, "one-stop").unwrap();
    assert!(
        t.message.as_deref().unwrap().starts_with("WrongPassword: "),
        "{t:?}"
    );
    assert!(t.last_failed_time.is_some() && t.last_successful_time.is_none());
    assert_eq!(condition(&bp, "Degraded").unwrap().1, "TargetsDegraded");
    assert_eq!(
        condition(&bp, "Ready").unwrap().0,
        "True",
        "the schedule still runs"
    );
    wait_for("a BackupFailed Event", TIMEOUT, || async {
        Ok((!events(&c, n, "BackupFailed").await?.is_empty()).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_generated_key_outlives_its_policy() -> Result<()> {
    let (c, ns) = setup("bp-key", &[]).await?;
    let n = ns.name.as_str();
    create_target(&c, n, "one-stop", with_storage()).await?;
    create_backup_claim(&c, n).await?;
    create_policy(&c, n, json!({"encryption": null})).await?;
    wait_policy(&c, n, "Ready", |bp| {
        (condition(bp, "Ready")?.0 == "True").then_some(())
    })
    .await?;
    let bp = wait_policy(&c, n, "Ready", |bp| condition(bp, "Ready")).await?;
    assert!(
        bp.2.contains("generated key Secret nightly-backup-key"),
        "status says so: {}",
        bp.2
    );
    let secrets = Api::<Secret>::namespaced(c.clone(), n);
    let key = secrets.get("nightly-backup-key").await?;
    assert!(key.metadata.owner_references.is_none(), "owned by nothing");
    let cj = Api::<CronJob>::namespaced(c.clone(), n)
        .get("nightly-one-stop")
        .await?;
    let pod = cj
        .spec
        .unwrap()
        .job_template
        .spec
        .unwrap()
        .template
        .spec
        .unwrap();
    assert!(
        pod.volumes.unwrap().iter().any(|v| v
            .secret
            .as_ref()
            .and_then(|s| s.secret_name.as_deref())
            == Some("nightly-backup-key"))
    );
    assert!(!events(&c, n, "KeyGenerated").await?.is_empty());
    Api::<BackupPolicy>::namespaced(c.clone(), n)
        .delete("nightly", &DeleteParams::default())
        .await?;
    wait_for("the CronJob gone with the policy", TIMEOUT, || async {
        Ok(cron_jobs(&c, n).await?.is_empty().then_some(()))
    })
    .await?;
    let kept = secrets.get("nightly-backup-key").await?;
    assert_eq!(kept.metadata.uid, key.metadata.uid, "the same key, kept");
    Ok(())
}

#[tokio::test]
async fn a_target_above_the_policy_is_refused_and_classified_s3_needs_https() -> Result<()> {
    let (c, ns) = setup("bp-class", &[("wardops.io/classification", "confidential")]).await?;
    let n = ns.name.as_str();
    put_secret(&c, n, "backup-key", &[("password", "k")]).await?;
    create_target(
        &c,
        n,
        "records",
        json!({"classification": "confidential", "storage": {"size": "1Gi"}}),
    )
    .await?;
    create_backup_claim(&c, n).await?;
    create_policy(&c, n, json!({})).await?;
    let bp = wait_policy(&c, n, "Ready=False ClassificationMismatch", |bp| {
        let ready = condition(bp, "Ready")?;
        (ready.0 == "False" && ready.1 == "ClassificationMismatch").then(|| bp.clone())
    })
    .await?;
    assert!(
        condition(&bp, "Ready")
            .unwrap()
            .2
            .contains("records is confidential")
    );
    assert!(cron_jobs(&c, n).await?.is_empty(), "nothing scheduled");

    // The API server refuses a classified policy that would send data over http.
    let r = kubectl(
        &["-n", n, "apply", "--dry-run=server", "-f", "-"],
        Some(
            &json!({"apiVersion": "wardops.io/v1alpha1", "kind": "BackupPolicy",
                "metadata": {"name": "plain"},
                "spec": {"target": {"wardServiceRef": {"name": "records"}}, "schedule": "0 1 * * *",
                    "retention": {"keepLast": 3}, "classification": "confidential",
                    "encryption": {"keySecretRef": {"name": "backup-key", "key": "password"}},
                    "destination": {"s3": {"endpoint": "http://s3.local", "bucket": "b",
                        "credentialsSecretRef": {"name": "s3"}}}}})
            .to_string(),
        ),
    );
    assert!(!r.success);
    assert!(
        r.stderr
            .contains("spec.destination.s3.endpoint: must be an https:// URL"),
        "{}",
        r.stderr
    );
    Ok(())
}

/// A Restore `name` of WardService `ward` from policy `nightly`, `extra` merged into spec.
async fn create_restore(c: &Client, ns: &str, name: &str, ward: &str, extra: Value) -> Result<()> {
    let mut spec =
        json!({"backupPolicyRef": {"name": "nightly"}, "wardServiceRef": {"name": ward}});
    if let (Some(s), Value::Object(e)) = (spec.as_object_mut(), extra) {
        s.extend(e);
    }
    let r: wardops::api::Restore = serde_json::from_value(json!({
        "apiVersion": "wardops.io/v1alpha1", "kind": "Restore",
        "metadata": {"name": name}, "spec": spec,
    }))?;
    Api::<wardops::api::Restore>::namespaced(c.clone(), ns)
        .create(&PostParams::default(), &r)
        .await?;
    Ok(())
}

/// Waits until Restore `name` reaches `phase`; returns it.
async fn wait_restore(
    c: &Client,
    ns: &str,
    name: &str,
    phase: &str,
) -> Result<wardops::api::Restore> {
    let api = Api::<wardops::api::Restore>::namespaced(c.clone(), ns);
    wait_for(&format!("Restore {name} {phase}"), TIMEOUT, || {
        let api = api.clone();
        async move {
            let r = api.get(name).await?;
            let now = serde_json::to_value(r.status.as_ref().map(|s| s.phase))?;
            if now == phase {
                Ok(Some(r))
            } else {
                Err(anyhow!("now {:?}", r.status))
            }
        }
    })
    .await
}

#[tokio::test]
async fn a_restore_in_place_stops_the_ward_restores_and_starts_it_again() -> Result<()> {
    let (c, ns) = setup("rst-in-place", &[]).await?;
    let n = ns.name.as_str();
    put_secret(&c, n, "backup-key", &[("password", "k")]).await?;
    create_backup_claim(&c, n).await?;
    create_target(&c, n, "one-stop", with_storage()).await?;
    create_policy(&c, n, json!({})).await?;
    wait_policy(&c, n, "Ready", |bp| {
        (condition(bp, "Ready")?.0 == "True").then_some(())
    })
    .await?;
    let pods = Api::<Pod>::namespaced(c.clone(), n);
    let ward_pods = || {
        let pods = pods.clone();
        async move {
            Ok::<usize, anyhow::Error>(
                pods.list(&ListParams::default().labels(
                    "app.kubernetes.io/instance=one-stop,app.kubernetes.io/name=ward-service",
                ))
                .await?
                .items
                .len(),
            )
        }
    };
    wait_for("the ward running", TIMEOUT, || async {
        Ok((ward_pods().await? > 0).then_some(()))
    })
    .await?;
    let deployments = Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(c.clone(), n);
    let before: Vec<String> = pods
        .list(
            &ListParams::default()
                .labels("app.kubernetes.io/instance=one-stop,app.kubernetes.io/name=ward-service"),
        )
        .await?
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    let audit_mark = wardops_tests::audit::mark()?;
    create_restore(&c, n, "after-incident", "one-stop", json!({})).await?;
    let wards = Api::<wardops::api::WardService>::namespaced(c.clone(), n);
    let r = wait_restore(&c, n, "after-incident", "Succeeded").await?;
    let st = r.status.unwrap();
    assert_eq!(st.snapshot_id.as_deref(), Some("a1b2c3d4"));
    assert_eq!(st.bytes_restored, Some(4096));
    assert!(st.start_time.is_some() && st.completion_time.is_some());
    // The Job wrote into the ward's own claim.
    let job = Api::<Job>::namespaced(c.clone(), n)
        .get("after-incident-restore")
        .await?;
    let pod = job.spec.unwrap().template.spec.unwrap();
    assert!(pod.volumes.unwrap().iter().any(|v| {
        v.persistent_volume_claim
            .as_ref()
            .is_some_and(|p| p.claim_name == "one-stop-data" && p.read_only.is_none())
    }));
    // Back up: the annotation gone, the Deployment at its replicas, Ready again.
    wait_for("the ward started again", TIMEOUT, || async {
        let ws = wards.get("one-stop").await?;
        let d = deployments.get("one-stop").await?;
        let back = labels::restoring_by(&ws).is_none()
            && d.spec.and_then(|s| s.replicas) == Some(1)
            && ws.status.is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            });
        Ok(back.then_some(()))
    })
    .await?;
    // Stopped through its WardService (the annotation set, then removed: two
    // patches of the WardService by the operator), and its pods replaced:
    // none of those before the restore runs after it.
    let patches = wardops_tests::audit::operator_requests(n, audit_mark, None)?
        .iter()
        .filter(|r| r.starts_with("patch ") && r.contains("/wardservices/one-stop"))
        .count();
    assert!(
        patches >= 2,
        "the WardService was not stopped and started through its annotation"
    );
    wait_for("new ward pods", TIMEOUT, || async {
        let now = pods
            .list(
                &ListParams::default().labels(
                    "app.kubernetes.io/instance=one-stop,app.kubernetes.io/name=ward-service",
                ),
            )
            .await?;
        let fresh =
            !now.items.is_empty() && now.items.iter().all(|p| !before.contains(&p.name_any()));
        Ok(fresh.then_some(()))
    })
    .await?;
    // A finished Restore cannot be changed.
    let r = kubectl(
        &[
            "-n",
            n,
            "patch",
            "restore",
            "after-incident",
            "--type=merge",
            "-p",
            r#"{"spec":{"snapshot":"0123abcd"}}"#,
        ],
        None,
    );
    assert!(
        !r.success && r.stderr.contains("a Restore cannot be changed"),
        "{}",
        r.stderr
    );
    Ok(())
}

#[tokio::test]
async fn a_restore_into_a_new_claim_leaves_the_ward_running_and_keeps_the_claim() -> Result<()> {
    let (c, ns) = setup("rst-claim", &[]).await?;
    let n = ns.name.as_str();
    put_secret(&c, n, "backup-key", &[("password", "k")]).await?;
    create_backup_claim(&c, n).await?;
    create_target(&c, n, "one-stop", with_storage()).await?;
    create_policy(&c, n, json!({})).await?;
    create_restore(
        &c,
        n,
        "inspect",
        "one-stop",
        json!({"targetClaim": "one-stop-inspect"}),
    )
    .await?;
    wait_restore(&c, n, "inspect", "Succeeded").await?;
    let claims = Api::<PersistentVolumeClaim>::namespaced(c.clone(), n);
    let claim = claims.get("one-stop-inspect").await?;
    assert!(
        claim.metadata.owner_references.is_none(),
        "owned by nothing"
    );
    let ws = Api::<wardops::api::WardService>::namespaced(c.clone(), n)
        .get("one-stop")
        .await?;
    assert!(labels::restoring_by(&ws).is_none(), "never stopped");
    Api::<wardops::api::Restore>::namespaced(c.clone(), n)
        .delete("inspect", &DeleteParams::default())
        .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        claims.get_opt("one-stop-inspect").await?.is_some(),
        "deleting a Restore deletes no data"
    );
    Ok(())
}

#[tokio::test]
async fn a_restore_across_classifications_is_refused() -> Result<()> {
    let (c, ns) = setup(
        "rst-class",
        &[("wardops.io/classification", "confidential")],
    )
    .await?;
    let n = ns.name.as_str();
    put_secret(&c, n, "backup-key", &[("password", "k")]).await?;
    create_backup_claim(&c, n).await?;
    create_target(
        &c,
        n,
        "records",
        json!({"classification": "confidential", "storage": {"size": "1Gi"}}),
    )
    .await?;
    create_policy(&c, n, json!({})).await?;
    create_restore(&c, n, "wrong-level", "records", json!({})).await?;
    let r = wait_restore(&c, n, "wrong-level", "Failed").await?;
    let ready = r
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.reason, "ClassificationMismatch");
    assert!(
        Api::<Job>::namespaced(c.clone(), n)
            .get_opt("wrong-level-restore")
            .await?
            .is_none()
    );
    let ws = Api::<wardops::api::WardService>::namespaced(c.clone(), n)
        .get("records")
        .await?;
    assert!(
        labels::restoring_by(&ws).is_none(),
        "the ward was not touched"
    );
    Ok(())
}

#[tokio::test]
async fn an_unknown_time_zone_is_refused() -> Result<()> {
    let (c, ns) = setup("bp-tz", &[]).await?;
    let n = ns.name.as_str();
    put_secret(&c, n, "backup-key", &[("password", "k")]).await?;
    create_backup_claim(&c, n).await?;
    create_target(&c, n, "one-stop", with_storage()).await?;
    // The shape passes the schema; only the IANA database knows the name.
    create_policy(&c, n, json!({"timeZone": "Asia/Hai_Phong"})).await?;
    let bp = wait_policy(&c, n, "Ready=False InvalidTimeZone", |bp| {
        (condition(bp, "Ready")?.1 == "InvalidTimeZone").then(|| bp.clone())
    })
    .await?;
    assert!(
        condition(&bp, "Ready")
            .unwrap()
            .2
            .contains("Asia/Hai_Phong")
    );
    assert!(cron_jobs(&c, n).await?.is_empty(), "nothing scheduled");
    Api::<BackupPolicy>::namespaced(c.clone(), n)
        .patch(
            "nightly",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"timeZone": "Asia/Ho_Chi_Minh"}})),
        )
        .await?;
    wait_policy(&c, n, "Scheduled", |bp| {
        (condition(bp, "Ready")?.1 == "Scheduled").then_some(())
    })
    .await?;
    assert_eq!(cron_jobs(&c, n).await?, ["nightly-one-stop"]);
    Ok(())
}

#[tokio::test]
async fn a_policy_without_a_success_after_its_schedule_counts_as_overdue() -> Result<()> {
    let (c, ns) = setup("bp-overdue", &[]).await?;
    let n = ns.name.as_str();
    // An operator of this namespace only, with no grace after a missed schedule.
    let op = wardops_tests::operator::OperatorBuilder::new("bp-overdue")
        .args([
            "--leader-election=false".to_string(),
            format!("--watch-namespaces={n}"),
            "--backup-overdue-grace-seconds=0".to_string(),
            "--log-format=json".to_string(),
        ])
        .start();
    op.wait_ready(Duration::from_secs(60)).await?;
    put_secret(&c, n, "backup-key", &[("password", "k")]).await?;
    create_backup_claim(&c, n).await?;
    create_target(&c, n, "one-stop", with_storage()).await?;
    // Every minute, and every backup fails: no success after the first schedule.
    create_policy(
        &c,
        n,
        json!({"schedule": "* * * * *", "image": "wardops.test/backup-fails:1"}),
    )
    .await?;
    let overdue = || -> Result<f64> {
        Ok(op
            .metric("wardops_backup_policies_overdue")?
            .unwrap_or(-1.0))
    };
    assert_eq!(overdue()?, 0.0, "not overdue before its first schedule");
    wait_for("the policy overdue", Duration::from_secs(150), || async {
        Ok((overdue()? == 1.0).then_some(()))
    })
    .await?;
    // Suspended, it is not expected to back up: not overdue.
    Api::<BackupPolicy>::namespaced(c.clone(), n)
        .patch(
            "nightly",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspend": true}})),
        )
        .await?;
    wait_for("no longer overdue", TIMEOUT, || async {
        Ok((overdue()? == 0.0).then_some(()))
    })
    .await?;
    Ok(())
}
