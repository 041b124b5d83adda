//! The plugin's write commands: `backup now`, `sync now`, `restore`, and
//! `snapshots` (which reads, and with `--from-repository` starts a Job).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde_json::json;

use super::kube::{CliError, Cluster, Req, connect, suggestion};
use super::{Format, KubeArgs};
use crate::api::backup_policy::BackupPolicy;
use crate::api::data_connector::ConnectorMode;
use crate::api::restore::{Restore, RestorePhase, RestoreSpec};
use crate::api::{DataConnector, LocalObjectRef, WardService};
use crate::backup::report::SnapshotsResult;
use crate::controller::backup_policy::build::{
    BACKUP_CONTAINER, SNAPSHOTS_CONTAINER, cron_job_name, snapshots_job,
};
use crate::controller::labels;
use crate::controller::results;

/// How long a request waits for the operator to acknowledge it.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a followed object is read.
const POLL: Duration = Duration::from_secs(1);
/// The longest wait for a `--from-repository` Job.
const SNAPSHOTS_TIMEOUT: Duration = Duration::from_secs(300);

fn out(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| CliError::Output(e.to_string()))
}

/// A value for a `*-now` annotation: the time, unique enough per request.
fn now_value() -> String {
    Timestamp::now().strftime("%Y%m%dT%H%M%S%.3fZ").to_string()
}

async fn annotate<K>(
    cluster: &Cluster,
    name: &str,
    annotations: serde_json::Value,
) -> Result<K, CliError>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let patch = json!({"metadata": {"annotations": annotations}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| cluster.error(Req::of::<K>("patch", Some(&cluster.namespace)), e))
}

/// Polls `check` on `K` `name` until it gives a value or `timeout` passes.
async fn wait_until<K, T>(
    cluster: &Cluster,
    name: &str,
    timeout: Duration,
    check: impl Fn(&K) -> Option<T>,
) -> Result<Option<T>, CliError>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let k: K = cluster.get(name).await?;
        if let Some(t) = check(&k) {
            return Ok(Some(t));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The targets a policy's status lists.
fn targets(bp: &BackupPolicy) -> Vec<String> {
    bp.status
        .as_ref()
        .map(|s| s.targets.iter().map(|t| t.ward_service.clone()).collect())
        .unwrap_or_default()
}

/// The policy `name`, checking that `target`, when given, is one of its targets.
async fn policy_with_target(
    cluster: &Cluster,
    name: &str,
    target: Option<&str>,
) -> Result<BackupPolicy, CliError> {
    let bp: BackupPolicy = cluster.get(name).await?;
    if let Some(w) = target {
        check_target(&bp, &cluster.namespace, w)?;
    }
    Ok(bp)
}

fn check_target(bp: &BackupPolicy, ns: &str, ward: &str) -> Result<(), CliError> {
    let names = targets(bp);
    if names.iter().any(|n| n == ward) {
        return Ok(());
    }
    Err(CliError::Invalid(format!(
        "WardService {ward:?} is not a target of BackupPolicy {:?} in namespace {ns:?}{}",
        bp.name_any(),
        suggestion(ward, &names)
    )))
}

/// `backup now POLICY [--target WARD]`: a new `wardops.io/backup-now` value.
pub async fn backup_now(
    args: &KubeArgs,
    policy: &str,
    target: Option<&str>,
) -> Result<(), CliError> {
    let cluster = connect(args).await?;
    policy_with_target(&cluster, policy, target).await?;
    let what = match target {
        Some(t) => format!("backup of {t}"),
        None => "backup".to_string(),
    };
    let request = NowRequest {
        what: &what,
        name: policy,
        annotation: labels::BACKUP_NOW_ANNOTATION,
        extra: json!({ labels::BACKUP_NOW_TARGET_ANNOTATION: target }),
        status_field: "lastBackupNow",
    };
    request_now::<BackupPolicy>(&cluster, request, |bp| {
        bp.status.as_ref()?.last_backup_now.clone()
    })
    .await
}

/// A `*-now` annotation request: which object, which annotation, and the
/// status field where the operator acknowledges the value.
struct NowRequest<'a> {
    what: &'a str,
    name: &'a str,
    annotation: &'static str,
    /// Other annotations set (or removed, when null) with it.
    extra: serde_json::Value,
    status_field: &'static str,
}

/// Sets a new value of the request's annotation, then waits (up to
/// [`ACK_TIMEOUT`]) until `acknowledged` returns it, and says what to watch.
async fn request_now<K>(
    cluster: &Cluster,
    r: NowRequest<'_>,
    acknowledged: impl Fn(&K) -> Option<String>,
) -> Result<(), CliError>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let ns = cluster.namespace.as_str();
    let kind = K::kind(&()).into_owned();
    let value = now_value();
    let mut annotations = r.extra;
    if let Some(map) = annotations.as_object_mut() {
        map.insert(r.annotation.to_string(), json!(value));
    }
    annotate::<K>(cluster, r.name, annotations).await?;
    out(&format!(
        "{} requested: {kind} {ns}/{} ({}={value})\n",
        r.what, r.name, r.annotation
    ))?;
    let acked = wait_until::<K, ()>(cluster, r.name, ACK_TIMEOUT, |k| {
        (acknowledged(k).as_deref() == Some(value.as_str())).then_some(())
    })
    .await?;
    match acked {
        Some(()) => out(&format!(
            "started; follow it with: kubectl -n {ns} get jobs -l {}={} -w\n",
            labels::INSTANCE_LABEL,
            r.name
        )),
        None => out(&format!(
            "the operator has not acted on it yet (is it running?); it will when it does: kubectl -n {ns} get {} {} -o jsonpath='{{.status.{}}}'\n",
            kind.to_lowercase(),
            r.name,
            r.status_field
        )),
    }
}

/// `sync now CONNECTOR`: a new `wardops.io/sync-now` value.
pub async fn sync_now(args: &KubeArgs, connector: &str) -> Result<(), CliError> {
    let cluster = connect(args).await?;
    let ns = cluster.namespace.clone();
    let dc: DataConnector = cluster.get(connector).await?;
    if dc.spec.mode != ConnectorMode::Sync {
        return Err(CliError::Invalid(format!(
            "DataConnector {ns}/{connector} is in proxy mode: it passes requests through live and has nothing to sync"
        )));
    }
    let request = NowRequest {
        what: "sync",
        name: connector,
        annotation: labels::SYNC_NOW_ANNOTATION,
        extra: json!({}),
        status_field: "lastSyncNow",
    };
    request_now::<DataConnector>(&cluster, request, |dc| {
        dc.status.as_ref()?.last_sync_now.clone()
    })
    .await
}

/// What `restore` is asked.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    pub policy: String,
    pub ward: String,
    pub snapshot: String,
    pub into_claim: Option<String>,
    pub wait: bool,
}

/// `restore POLICY --ward W`: creates a Restore and follows it.
pub async fn restore(args: &KubeArgs, r: RestoreRequest) -> Result<(), CliError> {
    let cluster = connect(args).await?;
    let ns = cluster.namespace.clone();
    let _: WardService = cluster.get(&r.ward).await?;
    policy_with_target(&cluster, &r.policy, Some(&r.ward)).await?;
    let mut restore = Restore::new(
        "",
        RestoreSpec {
            backup_policy_ref: LocalObjectRef {
                name: r.policy.clone(),
            },
            ward_service_ref: LocalObjectRef {
                name: r.ward.clone(),
            },
            snapshot: r.snapshot.clone(),
            target_claim: r.into_claim.clone(),
        },
    );
    restore.metadata.name = None;
    restore.metadata.generate_name = Some(format!("{}-", truncate_name(&r.ward, 40)));
    let api: Api<Restore> = Api::namespaced(cluster.client.clone(), &ns);
    let created = api
        .create(&PostParams::default(), &restore)
        .await
        .map_err(|e| match e {
            kube::Error::Api(s) if s.code == 422 => CliError::Invalid(s.message),
            e => cluster.error(Req::of::<Restore>("create", Some(&ns)), e),
        })?;
    let name = created.name_any();
    let place = match &r.into_claim {
        Some(c) => format!("into the new claim {c}"),
        None => "in place (the ward stops while its data is replaced)".to_string(),
    };
    out(&format!(
        "restore {ns}/{name} created: snapshot {} of {} from {}, {place}\n",
        r.snapshot, r.ward, r.policy
    ))?;
    if !r.wait {
        return out(&format!(
            "follow it with: kubectl -n {ns} get restore {name} -w\n"
        ));
    }
    tokio::select! {
        res = follow(&cluster, &name) => res,
        _ = tokio::signal::ctrl_c() => out(&format!(
            "\nstopped following; the restore goes on. Watch it with: kubectl -n {ns} get restore {name} -w\n"
        )),
    }
}

fn truncate_name(name: &str, max: usize) -> &str {
    match name.char_indices().nth(max) {
        Some((i, _)) => name[..i].trim_end_matches('-'),
        None => name,
    }
}

/// Prints each phase change until the Restore ends; fails when it fails.
async fn follow(cluster: &Cluster, name: &str) -> Result<(), CliError> {
    let started = tokio::time::Instant::now();
    let mut last: Option<(RestorePhase, String)> = None;
    loop {
        let r: Restore = cluster.get(name).await?;
        let st = r.status.clone().unwrap_or_default();
        let (_, _, message) = super::status::ready_of(&st.conditions);
        let now = (st.phase, message.clone());
        if last.as_ref() != Some(&now) {
            let detail = if message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            };
            out(&format!(
                "[{:>4}s] {:?}{detail}\n",
                started.elapsed().as_secs(),
                st.phase
            ))?;
            last = Some(now);
        }
        match st.phase {
            RestorePhase::Succeeded => {
                let bytes = st
                    .bytes_restored
                    .map(|b| format!(", {b} bytes"))
                    .unwrap_or_default();
                return out(&format!(
                    "restored snapshot {}{bytes}\n",
                    st.snapshot_id.unwrap_or_default()
                ));
            }
            RestorePhase::Failed => {
                return Err(CliError::Invalid(format!(
                    "restore {name} failed: {message}"
                )));
            }
            _ => tokio::time::sleep(POLL).await,
        }
    }
}

/// One snapshot, as `snapshots` shows it.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotRow {
    pub target: String,
    #[serde(rename = "snapshotID")]
    pub snapshot_id: String,
    pub time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// `status`, `job` or `repository`.
    pub source: String,
}

/// `snapshots POLICY [--target WARD] [--from-repository]`.
pub async fn snapshots(
    args: &KubeArgs,
    policy: &str,
    target: Option<&str>,
    from_repository: bool,
    format: Format,
) -> Result<(), CliError> {
    let cluster = connect(args).await?;
    let bp = policy_with_target(&cluster, policy, target).await?;
    let chosen: Vec<String> = targets(&bp)
        .into_iter()
        .filter(|t| target.is_none_or(|w| w == t))
        .collect();
    let mut rows = if from_repository {
        let mut rows = Vec::new();
        for t in &chosen {
            rows.extend(from_repo(&cluster, policy, t).await?);
        }
        rows
    } else {
        known(&cluster, &bp, &chosen).await?
    };
    rows.sort_by(|a, b| (&a.target, &b.time).cmp(&(&b.target, &a.time)));
    let text = match format {
        Format::Table => snapshots_table(&rows),
        Format::Json => serde_json::to_string_pretty(&rows)
            .map(|s| s + "\n")
            .map_err(|e| CliError::Output(e.to_string()))?,
        Format::Yaml => {
            serde_yaml::to_string(&rows).map_err(|e| CliError::Output(e.to_string()))?
        }
    };
    out(&text)
}

/// restic's short form of a snapshot id (its first 8 hex digits).
fn short_id(id: &str) -> &str {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        &id[..8]
    } else {
        id
    }
}

fn snapshots_table(rows: &[SnapshotRow]) -> String {
    if rows.is_empty() {
        return "No snapshots known (none yet, or try --from-repository).\n".to_string();
    }
    use unicode_width::UnicodeWidthStr;
    let id_width = rows
        .iter()
        .map(|r| short_id(&r.snapshot_id).width())
        .max()
        .unwrap_or(8)
        .max(8);
    let target_width = rows
        .iter()
        .map(|r| r.target.width())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut s = format!(
        "{:<target_width$}  {:<id_width$}  {:<20}  {:>12}  FROM\n",
        "TARGET", "SNAPSHOT", "TIME", "BYTES"
    );
    for r in rows {
        s.push_str(&format!(
            "{:<target_width$}  {:<id_width$}  {:<20}  {:>12}  {}\n",
            r.target,
            short_id(&r.snapshot_id),
            r.time,
            r.bytes.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
            r.source
        ));
    }
    s
}

/// The snapshots the policy's status and its kept backup pods report.
async fn known(
    cluster: &Cluster,
    bp: &BackupPolicy,
    chosen: &[String],
) -> Result<Vec<SnapshotRow>, CliError> {
    let ns = cluster.namespace.as_str();
    let mut rows: BTreeMap<(String, String), SnapshotRow> = BTreeMap::new();
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    let selector = labels::selector_labels(labels::COMPONENT_BACKUP, &bp.name_any())
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let listed = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| cluster.error(Req::of::<Pod>("list", Some(ns)), e))?;
    for pod in &listed.items {
        let ward = pod
            .labels()
            .get(labels::WARD_SERVICE_LABEL)
            .cloned()
            .unwrap_or_default();
        if !chosen.contains(&ward) {
            continue;
        }
        let Some(t) = results::ended(pod, BACKUP_CONTAINER, true) else {
            continue;
        };
        let Some(line) = results::line(t).filter(|l| l["result"] == "Succeeded") else {
            continue;
        };
        let Some(id) = line["snapshotID"].as_str() else {
            continue;
        };
        rows.insert(
            (ward.clone(), id.to_string()),
            SnapshotRow {
                target: ward,
                snapshot_id: id.to_string(),
                time: t
                    .finished_at
                    .as_ref()
                    .map(|f| f.0.to_string())
                    .unwrap_or_default(),
                bytes: line["bytesProcessed"].as_u64(),
                source: "job".to_string(),
            },
        );
    }
    if let Some(st) = &bp.status {
        for t in st
            .targets
            .iter()
            .filter(|t| chosen.contains(&t.ward_service))
        {
            let Some(id) = &t.last_snapshot_id else {
                continue;
            };
            rows.entry((t.ward_service.clone(), id.clone()))
                .or_insert_with(|| SnapshotRow {
                    target: t.ward_service.clone(),
                    snapshot_id: id.clone(),
                    time: t
                        .last_successful_time
                        .as_ref()
                        .map(|f| f.0.to_string())
                        .unwrap_or_default(),
                    bytes: t.last_snapshot_bytes,
                    source: "status".to_string(),
                });
        }
    }
    Ok(rows.into_values().collect())
}

/// Lists one target's repository through a short-lived Job built from its
/// CronJob; deletes the Job when done.
async fn from_repo(
    cluster: &Cluster,
    policy: &str,
    ward: &str,
) -> Result<Vec<SnapshotRow>, CliError> {
    let ns = cluster.namespace.as_str();
    let cron_name = cron_job_name(policy, ward);
    let crons: Api<CronJob> = Api::namespaced(cluster.client.clone(), ns);
    let cron = crons
        .get_opt(&cron_name)
        .await
        .map_err(|e| cluster.error(Req::of::<CronJob>("get", Some(ns)), e))?
        .ok_or_else(|| {
            CliError::Invalid(format!(
                "target {ward} of {policy} has no CronJob {cron_name} yet (is the policy Ready?)"
            ))
        })?;
    let job_name = format!(
        "{}-snap-{}",
        truncate_name(&cron_name, 40),
        Timestamp::now().as_second() % 100_000
    );
    let job = snapshots_job(&cron, &job_name).ok_or_else(|| {
        CliError::Invalid(format!("CronJob {cron_name} is not one wardops built"))
    })?;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), ns);
    jobs.create(&PostParams::default(), &job)
        .await
        .map_err(|e| cluster.error(Req::of::<Job>("create", Some(ns)), e))?;
    eprintln!("listing the repository of {ward} through Job {ns}/{job_name} ...");
    let result = wait_for_listing(cluster, &job_name).await;
    let _ = jobs.delete(&job_name, &DeleteParams::background()).await;
    let listed = result?;
    if listed.total > listed.snapshots.len() {
        eprintln!(
            "the repository of {ward} holds {} snapshots: the newest {} fit in the listing Job's result",
            listed.total,
            listed.snapshots.len()
        );
    }
    Ok(listed
        .snapshots
        .into_iter()
        .map(|s| SnapshotRow {
            target: ward.to_string(),
            snapshot_id: s.id,
            time: s.time,
            bytes: None,
            source: "repository".to_string(),
        })
        .collect())
}

async fn wait_for_listing(cluster: &Cluster, job: &str) -> Result<SnapshotsResult, CliError> {
    let ns = cluster.namespace.as_str();
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    let deadline = tokio::time::Instant::now() + SNAPSHOTS_TIMEOUT;
    loop {
        let listed = pods
            .list(&ListParams::default().labels(&format!("job-name={job}")))
            .await
            .map_err(|e| cluster.error(Req::of::<Pod>("list", Some(ns)), e))?;
        for pod in &listed.items {
            if let Some(t) = results::ended(pod, SNAPSHOTS_CONTAINER, false) {
                let line = t.message.clone().unwrap_or_default();
                return match serde_json::from_str::<SnapshotsResult>(line.trim()) {
                    Ok(r) => Ok(r),
                    Err(_) => Err(CliError::Invalid(format!(
                        "the listing Job {job} failed: {}",
                        results::line(t)
                            .map(|v| results::failure(&v))
                            .unwrap_or_else(|| results::no_result("snapshots", t))
                    ))),
                };
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(CliError::Invalid(format!(
                "the listing Job {job} did not end within {} s: kubectl -n {ns} describe job {job}",
                SNAPSHOTS_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}
