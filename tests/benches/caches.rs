//! What an operator costs the API server and the node, measured on the local
//! control plane (`make bench` starts it), for the operator under test and,
//! when `WARDOPS_BENCH_BASELINE` names another `wardops` binary (e.g. a build
//! of 0.1.0), for that baseline in the same run:
//!
//! - convergence: N WardServices of realistic variety, spread over namespaces,
//!   with a DataConnector for one ward in ten and a BackupPolicy per namespace
//!   for its wards with storage, created at once, until every one is Ready=True;
//! - requests sent while converging, at idle (forced reconciles included) and in
//!   the first seconds after a restart over the converged city, by verb and resource, from
//!   the API server's audit log;
//! - memory: RSS with no WardService, peak while converging, and after the
//!   restart, with thousands of unrelated 2 KiB Secrets and ConfigMaps in the
//!   cluster that must not be cached;
//! - failover: two leader-elected replicas, the leader stopped by SIGTERM
//!   (`WARDOPS_BENCH_HANDOVERS` times, default 5, a new standby each time) and
//!   then by SIGKILL, to the new leader's first change.
//!
//! Requests are counted by the `wardops/` user agent in the audit log: run it
//! on a control plane where no other wardops (e.g. a test run) is working.
//!
//! Sizes: `WARDOPS_BENCH_WARDS` (default 150; the test control plane's /24
//! service range holds about 250 Services), `WARDOPS_BENCH_NOISE` (Secrets and
//! as many ConfigMaps, default 2500 each). `WARDOPS_BENCH_RAW=0` skips the raw
//! baseline (its ratio is a goal at 1,000 wards; a country's run reports the
//! absolute time). Each phase (raw baseline, baseline, operator under test)
//! runs on a fresh control plane (`WARDOPS_BENCH_FRESH=0`: one for all,
//! the city deleted between phases; see [`fresh_planes`]).
//! `WARDOPS_BENCH_PAIRS=N` measures the convergence ratio N times (the raw
//! baseline, then the operator under test) and reports the median ([`pairs`]).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use wardops::api::{BackupPolicy, DataConnector, WardService};
use wardops_tests::audit;
use wardops_tests::ward::ready_state;
use wardops_tests::{client, free_port, http_get, kubeconfig, repo_root, state_dir};

const NAMESPACES: usize = 10;
/// How long an operator may take to sync its caches.
const READY_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a convergence may take: 10 minutes, or 0.45 s per ward for a
/// country (2 hours for 16,000 wards; on 2 cores, with a DataConnector for
/// one ward in ten and the BackupPolicies, 15,606 of 16,000 were Ready after
/// 80 minutes, the limit before, at about 100 a minute).
fn converge_timeout(wards: usize) -> Duration {
    Duration::from_secs_f64((wards as f64 * 0.45).max(600.0))
}
/// The idle window: `WARDOPS_BENCH_IDLE_SECONDS`, default 300 (5 minutes,
/// shorter than the operator's safety-net resync of an hour, so an idle
/// operator should send nothing at all).
fn idle_window() -> Duration {
    Duration::from_secs(env_usize("WARDOPS_BENCH_IDLE_SECONDS", 300) as u64)
}
const RESTART_WINDOW: Duration = Duration::from_secs(20);
/// The operator's default leader Lease duration, which the failover figures run with.
const LEASE_SECONDS: u64 = wardops::runtime::settings::DEFAULT_LEASE_DURATION_SECONDS;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Whether each phase (the raw baseline, the baseline, the operator under
/// test) starts on a control plane of its own, stopped, purged and started
/// again (`WARDOPS_BENCH_FRESH`, default 1), or on the one before it once the
/// city is deleted (0). On one control plane, a phase ran slower the later
/// it came: in one run at 1,000 wards, the raw baseline first (81.5 s, its
/// control plane 158.7 CPU s), the same wardops build then took 143.1 s with
/// its control plane at 268.0 CPU s, where it took 103.9 s (193.7) when it
/// ran first in another run.
fn fresh_planes() -> bool {
    env_usize("WARDOPS_BENCH_FRESH", 1) != 0
}

/// Stops and purges the control plane this bench runs on
/// (`tests/controlplane`, as configured by the `WARDOPS_TESTENV_*` variables
/// `scripts/bench.sh` sets), starts it again, installs the CRDs and returns a
/// client of the new one (its CA is new), once the operators' logs of the
/// phase before are kept.
async fn fresh_plane() -> Result<Client> {
    keep_logs()?;
    let scripts = repo_root().join("tests/controlplane");
    for args in [&["down.sh", "--purge"][..], &["up.sh"][..]] {
        let out = Command::new("bash")
            .arg(scripts.join(args[0]))
            .args(&args[1..])
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running tests/controlplane/{}", args[0]))?;
        if !out.status.success() {
            bail!(
                "tests/controlplane/{} failed:\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    wardops_tests::install_crds();
    client().await
}

/// Copies the operators' logs of this run (`bench-*.log`) from the control
/// plane's state, which a fresh control plane purges, to `target/bench/logs/`.
fn keep_logs() -> Result<()> {
    let kept = repo_root().join("target/bench/logs");
    std::fs::create_dir_all(&kept)?;
    for log in std::fs::read_dir(state_dir().join("logs"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = log.file_name();
        if name.to_string_lossy().starts_with("bench-") {
            std::fs::copy(log.path(), kept.join(&name))?;
        }
    }
    Ok(())
}

/// The i-th WardService: half with storage, every fifth autoscaled, every tenth classified.
fn ward_service(i: usize) -> WardService {
    let mut spec = json!({
        "ward": {"code": format!("{}", 11300 + i % 114), "name": format!("Phường Hồng Bàng {i} — Đồ Sơn")},
        "image": "registry.haiphong.gov.vn/one-stop/backend:2.4.1",
        "config": {"TIEU_DE": "Bộ phận một cửa", "MAX_UPLOAD_MB": "20"},
    });
    if i.is_multiple_of(2) {
        spec["storage"] = json!({"size": "1Gi"});
    }
    if i.is_multiple_of(5) {
        spec["autoscaling"] = json!({"minReplicas": 1, "maxReplicas": 3});
    }
    if i.is_multiple_of(10) {
        spec["classification"] = json!("confidential");
    }
    let mut ws = WardService::new(
        &format!("ws-{i}"),
        serde_json::from_value(spec).expect("valid spec"),
    );
    if has_storage(i) {
        ws.metadata.labels = Some([(BACKUP_LABEL.0.into(), BACKUP_LABEL.1.into())].into());
    }
    ws
}

fn has_storage(i: usize) -> bool {
    i.is_multiple_of(2)
}

/// The label by which each namespace's BackupPolicy selects its wards with storage.
const BACKUP_LABEL: (&str, &str) = ("wardops.io/backup", "nightly");
/// The Secrets every bench namespace holds for its connectors and backups.
const REGISTRY_SECRET: &str = "dan-cu-credentials";
const BACKUP_S3_SECRET: &str = "backup-s3";
const BACKUP_KEY_SECRET: &str = "backup-key";

/// Whether the i-th WardService reads the population registry through a
/// DataConnector of its own: one ward in ten, in every namespace.
fn has_connector(i: usize) -> bool {
    (i / NAMESPACES) % 10 == 3
}

/// The i-th WardService's DataConnector: a proxy gateway to the population
/// registry, with an API key, at its ward's classification.
fn data_connector(i: usize) -> Value {
    let mut dc = json!({
        "apiVersion": "wardops.io/v1alpha1", "kind": "DataConnector",
        "metadata": {"name": format!("dan-cu-{i}")},
        "spec": {
            "wardServiceRef": {"name": format!("ws-{i}")},
            "source": {"kind": "population", "endpoint": "https://dancu.haiphong.gov.vn/api/v2",
                "egressCIDRs": ["10.40.12.0/24"], "port": 443},
            "credentialsSecretRef": {"name": REGISTRY_SECRET},
            "auth": {"type": "apiKey"},
            "mode": "proxy",
            "datasets": ["cong-dan", "ho-khau"],
        }
    });
    dc["spec"]["classification"] =
        serde_json::to_value(ward_service(i).spec.classification).expect("a classification");
    dc
}

/// Whether namespace n holds wards with storage (a BackupPolicy's targets).
fn has_backups(n: usize) -> bool {
    (0..NAMESPACES * 2).any(|i| i % NAMESPACES == n && has_storage(i))
}

/// A namespace's BackupPolicy: encrypted backups of its wards with storage to
/// the city's object store, one CronJob per ward. Its schedule (once a year,
/// on 1 January) starts no Job while a bench runs.
fn backup_policy() -> Value {
    json!({
        "apiVersion": "wardops.io/v1alpha1", "kind": "BackupPolicy",
        "metadata": {"name": "nightly"},
        "spec": {
            "target": {"selector": {"matchLabels": {BACKUP_LABEL.0: BACKUP_LABEL.1}}},
            "schedule": "30 1 1 1 *",
            "timeZone": "Asia/Ho_Chi_Minh",
            "retention": {"keepDaily": 7, "keepWeekly": 4, "keepMonthly": 12},
            "destination": {"s3": {"endpoint": "https://s3.tttt.haiphong.gov.vn",
                "bucket": "ward-backups", "credentialsSecretRef": {"name": BACKUP_S3_SECRET}}},
            "encryption": {"keySecretRef": {"name": BACKUP_KEY_SECRET, "key": "password"}},
            "classification": "confidential",
        }
    })
}

/// The objects of namespace n's part of the city besides its WardServices:
/// its wards' DataConnectors and its BackupPolicy.
fn connectors_and_policy(n: usize, wards: usize) -> Vec<Value> {
    let mut objects: Vec<Value> = (0..wards)
        .filter(|i| i % NAMESPACES == n && has_connector(*i))
        .map(data_connector)
        .collect();
    if has_backups(n) {
        objects.push(backup_policy());
    }
    objects
}

/// How many DataConnectors and BackupPolicies a city of `wards` holds.
fn connectors_and_policies(wards: usize) -> (usize, usize) {
    let connectors = (0..wards).filter(|i| has_connector(*i)).count();
    let policies = (0..NAMESPACES.min(wards))
        .filter(|n| has_backups(*n))
        .count();
    (connectors, policies)
}

/// The Secrets a namespace's connectors and backups read.
async fn city_secrets(c: &Client, ns: &str) -> Result<()> {
    let api = Api::<Secret>::namespaced(c.clone(), ns);
    for (name, data) in [
        (REGISTRY_SECRET, json!({"apiKey": "bench-api-key"})),
        (
            BACKUP_S3_SECRET,
            json!({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-s3"}),
        ),
        (BACKUP_KEY_SECRET, json!({"password": "bench-restic"})),
    ] {
        let s: Secret =
            serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data}))?;
        api.patch(
            name,
            &PatchParams::apply("wardops-bench").force(),
            &Patch::Apply(&s),
        )
        .await?;
    }
    Ok(())
}

/// The namespaces of the bench's city: `bench-city-0` and so on.
const NAMESPACE_PREFIX: &str = "bench-city-";

/// The namespace of the i-th WardService.
fn namespace_of(i: usize) -> String {
    format!("{NAMESPACE_PREFIX}{}", i % NAMESPACES)
}

async fn ensure_namespace(c: &Client, name: &str, labels: Value) -> Result<()> {
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}}))?;
    Api::<Namespace>::all(c.clone())
        .patch(
            name,
            &PatchParams::apply("wardops-bench").force(),
            &Patch::Apply(&ns),
        )
        .await?;
    Ok(())
}

/// Thousands of unrelated 2 KiB Secrets and ConfigMaps, made once.
async fn noise(c: &Client, count: usize) -> Result<()> {
    ensure_namespace(c, "bench-noise", json!({})).await?;
    let secrets = Api::<Secret>::namespaced(c.clone(), "bench-noise");
    let have = secrets
        .list_metadata(&ListParams::default())
        .await?
        .items
        .len();
    if have >= count {
        return Ok(());
    }
    let payload = "x".repeat(2048);
    let cms = Api::<ConfigMap>::namespaced(c.clone(), "bench-noise");
    stream::iter(have..count)
        .map(|i| {
            let (secrets, cms, payload) = (secrets.clone(), cms.clone(), payload.clone());
            async move {
                let s: Secret = serde_json::from_value(
                    json!({"metadata": {"name": format!("noise-{i}")}, "stringData": {"blob": payload}}),
                )?;
                let m: ConfigMap = serde_json::from_value(
                    json!({"metadata": {"name": format!("noise-{i}")}, "data": {"blob": payload}}),
                )?;
                let pp = PostParams::default();
                let _ = secrets.create(&pp, &s).await;
                let _ = cms.create(&pp, &m).await;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

/// A running operator process.
struct Operator {
    child: Child,
    readyz: String,
    metrics: String,
}

impl Operator {
    fn start(binary: &Path, log: &Path) -> Result<Self> {
        Self::start_as(binary, log, None)
    }

    /// With `replica`, a replica of a leader-elected pair (the chart's
    /// default lease), as pod `replica`; without, alone.
    fn start_as(binary: &Path, log: &Path, replica: Option<&str>) -> Result<Self> {
        let (mp, hp) = (free_port(), free_port());
        let log_file = std::fs::File::create(log)?;
        let election = match replica {
            Some(_) => vec![
                "--leader-election=true".to_string(),
                "--lease-namespace=default".to_string(),
                "--lease-name=wardops-bench".to_string(),
            ],
            None => vec!["--leader-election=false".to_string()],
        };
        let child = Command::new(binary)
            .arg("run")
            .args(election)
            .args([
                "--log-format=json",
                "--log-level=warn",
                &format!("--metrics-addr=127.0.0.1:{mp}"),
                &format!("--health-addr=127.0.0.1:{hp}"),
            ])
            .env("POD_NAME", replica.unwrap_or("wardops-bench"))
            .env("KUBECONFIG", kubeconfig())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Operator {
            child,
            readyz: format!("http://127.0.0.1:{hp}/readyz"),
            metrics: format!("http://127.0.0.1:{mp}/metrics"),
        })
    }

    /// Waits until its caches are synced (10 minutes at most: a country's
    /// first listing after a restart is 16,000 WardServices and their children).
    async fn wait_ready(&mut self) -> Result<Duration> {
        let start = Instant::now();
        while start.elapsed() < READY_TIMEOUT {
            if http_get(&self.readyz).is_some_and(|(code, _)| code == 200) {
                return Ok(start.elapsed());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("operator exited: {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("operator not ready after {READY_TIMEOUT:?}")
    }

    /// Waits until this replica holds the Lease (its `wardops_leader` gauge).
    async fn wait_leader(&mut self) -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(120) {
            let leading = http_get(&self.metrics)
                .is_some_and(|(_, body)| body.lines().any(|l| l == "wardops_leader 1"));
            if leading {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("operator exited: {status}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bail!("operator not leading after 120 s")
    }

    /// Sends `signal` (`-TERM`, `-KILL`) and waits for the process to end.
    fn signal_and_wait(mut self, signal: &str) -> Result<()> {
        Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()?;
        let start = Instant::now();
        while self.child.try_wait()?.is_none() {
            if start.elapsed() > Duration::from_secs(30) {
                bail!("operator still running 30 s after kill {signal}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    fn cpu(&self) -> f64 {
        cpu_seconds(self.child.id())
    }

    /// (current RSS, peak RSS, anonymous RSS: heap and stacks, without the
    /// binary's file-backed pages) in MiB.
    fn rss(&self) -> (f64, f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"), field("RssAnon:"))
    }

    fn cache_sizes(&self) -> String {
        http_get(&self.metrics)
            .map(|(_, body)| {
                body.lines()
                    .filter(|l| l.starts_with("wardops_cache_objects{"))
                    .map(|l| {
                        l.replace("wardops_cache_objects{cache=\"", "")
                            .replace("\"}", "=")
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    }

    fn stop(mut self) -> Result<()> {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.child.kill()?;
        Ok(())
    }
}

/// CPU seconds (user + system) process `pid` has used; 0 when it is gone.
fn cpu_seconds(pid: u32) -> f64 {
    // Fields 14 and 15 of /proc/PID/stat, after the command in parentheses,
    // in clock ticks (USER_HZ, 100 on Linux).
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let ticks: f64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

/// CPU seconds the control plane's processes (etcd, API server,
/// controller-manager, scheduler, kwok) have used.
fn control_plane_cpu() -> f64 {
    std::fs::read_dir(state_dir().join("pids"))
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .filter_map(|pid| pid.trim().parse::<u32>().ok())
                .map(cpu_seconds)
                .sum()
        })
        .unwrap_or(0.0)
}

/// The operator's requests since `offset`, by verb and resource, such as
/// `patch wardservices/status` (watch connections excluded: they are
/// long-lived streams, counted when opened).
fn requests_since(offset: u64) -> Result<BTreeMap<String, usize>> {
    let mut by_verb = BTreeMap::new();
    for v in completed_since(offset)? {
        let ua = v["userAgent"].as_str().unwrap_or_default();
        if ua.starts_with("wardops/") {
            let object = &v["objectRef"];
            // A request of no resource (discovery) by its path.
            let mut resource = match object["resource"].as_str() {
                Some(r) => r.to_string(),
                None => v["requestURI"].as_str().unwrap_or_default().to_string(),
            };
            if let Some(sub) = object["subresource"].as_str() {
                resource = format!("{resource}/{sub}");
            }
            let verb = v["verb"].as_str().unwrap_or_default();
            *by_verb.entry(format!("{verb} {resource}")).or_insert(0) += 1;
        }
    }
    Ok(by_verb)
}

/// The audit events from audit-log mark `from` on, at stage ResponseComplete.
fn completed_since(from: u64) -> Result<Vec<Value>> {
    Ok(audit::events(from, None)?
        .into_iter()
        .filter(|v| v["stage"] == "ResponseComplete")
        .collect())
}

/// Seconds since the epoch of an audit timestamp (`2026-11-28T05:14:51.123456Z`).
fn audit_seconds(ts: &str) -> Option<f64> {
    let (date, time) = ts.trim_end_matches('Z').split_once('T')?;
    let d: Vec<i64> = date.split('-').filter_map(|x| x.parse().ok()).collect();
    let t: Vec<f64> = time.split(':').filter_map(|x| x.parse().ok()).collect();
    if d.len() != 3 || t.len() != 3 {
        return None;
    }
    // Days since the epoch (civil calendar, Howard Hinnant's algorithm).
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86_400.0 + t[0] * 3600.0 + t[1] * 60.0 + t[2])
}

/// Reaction: `edits` spec edits (a config value) of converged WardServices,
/// one after another; for each, from the API server receiving the edit to it
/// completing the operator's patch of the ConfigMap, from the audit log.
/// Returns the latencies in seconds, sorted.
async fn reaction(c: &Client, wards: usize, edits: usize) -> Result<Vec<f64>> {
    let offset = audit::mark()?;
    let mut edited = Vec::new();
    for k in 0..edits.min(wards) {
        let i = k * wards.max(1) / edits.max(1);
        let name = format!("ws-{i}");
        let api = Api::<WardService>::namespaced(c.clone(), &namespace_of(i));
        let patch = json!({"spec": {"config": {"TIEU_DE": format!("Bộ phận một cửa {k}")}}});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        edited.push((namespace_of(i), name));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let events = completed_since(offset)?;
    let mut latencies = Vec::new();
    for (ns, name) in &edited {
        match (
            edit_received(&events, ns, name),
            config_patched(&events, ns, name),
        ) {
            (Some(e), Some(a)) => latencies.push(a - e),
            _ => bail!("no audit record of the edit of {ns}/{name} reaching its ConfigMap"),
        }
    }
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

/// When the API server received the first edit of WardService `ns/name`
/// among audit `events` (seconds since the epoch).
fn edit_received(events: &[Value], ns: &str, name: &str) -> Option<f64> {
    audit_time(events, "requestReceivedTimestamp", |v| {
        v["verb"] == "patch"
            && v["objectRef"]["resource"] == "wardservices"
            && v["objectRef"]["namespace"] == ns
            && v["objectRef"]["name"] == name
            && v["objectRef"]["subresource"].is_null()
    })
}

/// When the operator's first patch of WardService `ns/name`'s ConfigMap
/// among audit `events` completed.
fn config_patched(events: &[Value], ns: &str, name: &str) -> Option<f64> {
    let cm = format!("{name}-config");
    audit_time(events, "stageTimestamp", |v| {
        v["userAgent"]
            .as_str()
            .unwrap_or_default()
            .starts_with("wardops/")
            && v["verb"] == "patch"
            && v["objectRef"]["resource"] == "configmaps"
            && v["objectRef"]["namespace"] == ns
            && v["objectRef"]["name"] == cm.as_str()
    })
}

fn audit_time(events: &[Value], field: &str, pred: impl Fn(&Value) -> bool) -> Option<f64> {
    events
        .iter()
        .find(|v| pred(v))
        .and_then(|v| audit_seconds(v[field].as_str().unwrap_or_default()))
}

/// Failover over the converged city, with leader election on and the chart's
/// default lease: two replicas; the leader stopped by SIGTERM (it releases
/// the Lease), then the new leader by SIGKILL (the standby waits the Lease
/// out). Each time, once the leader has exited, a WardService is edited; the
/// figure is from the signal to the new leader's patch of that service's
/// ConfigMap (audit log): the longest a change waits through a failover.
/// Returns (SIGTERM, SIGKILL) in seconds.
async fn failover(c: &Client, binary: &Path, wards: usize, tag: &str) -> Result<(Vec<f64>, f64)> {
    let logs = state_dir().join("logs");
    let start = |replica: usize| {
        let replica = format!("replica-{replica}");
        let log = logs.join(format!("bench-{tag}-{replica}.log"));
        Operator::start_as(binary, &log, Some(&replica))
    };
    let mut leader = start(0)?;
    leader.wait_ready().await?;
    leader.wait_leader().await?;
    let handovers = env_usize("WARDOPS_BENCH_HANDOVERS", 5).max(1);
    let mut sigterm = Vec::new();
    for n in 1..=handovers {
        let mut standby = start(n)?;
        standby.wait_ready().await?;
        let ward = (wards / 2 + n * 97) % wards;
        sigterm.push(failover_once(c, ward, leader, "-TERM", &mut standby).await?);
        leader = standby;
    }
    sigterm.sort_by(f64::total_cmp);
    let mut last = start(handovers + 1)?;
    last.wait_ready().await?;
    // A ward of the city at any size (89 + 1 is past the last of a small one).
    let ward = (wards % 89 + 1) % wards;
    let sigkill = failover_once(c, ward, leader, "-KILL", &mut last).await?;
    last.stop()?;
    Ok((sigterm, sigkill))
}

/// Stops `leader` by `signal`, edits WardService `i` once it has exited,
/// and returns the seconds from the signal to `standby` (then leading)
/// patching the edited service's ConfigMap.
async fn failover_once(
    c: &Client,
    i: usize,
    leader: Operator,
    signal: &str,
    standby: &mut Operator,
) -> Result<f64> {
    // Let the standby's caches settle after its start.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (ns, name) = (namespace_of(i), format!("ws-{i}"));
    let offset = audit::mark()?;
    let signalled = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs_f64();
    leader.signal_and_wait(signal)?;
    let patch = json!({"spec": {"config": {"TIEU_DE": format!("failover {signal}")}}});
    Api::<WardService>::namespaced(c.clone(), &ns)
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    standby.wait_leader().await?;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(120) {
        if let Some(patched) = config_patched(&completed_since(offset)?, &ns, &name) {
            return Ok(patched - signalled);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("after kill {signal}: {ns}/{name}'s ConfigMap not patched in 120 s")
}

/// The `q` quantile of sorted `xs`.
fn quantile(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs[((xs.len() - 1) as f64 * q).round() as usize]
}

/// The raw baseline: exactly the children `wardops render` produces for the
/// same WardServices (owner references removed), created by a plain parallel
/// client (16 requests in flight, as the WardServices are created), until
/// every Deployment is available. No operator runs. Returns the time from the
/// first create to the last Deployment available, and the control plane's
/// CPU seconds in that time.
async fn raw_baseline(c: &Client, wards: usize) -> Result<(Duration, f64)> {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    let mut objects: Vec<(String, Value)> = Vec::new();
    for n in 0..NAMESPACES {
        ensure_namespace(
            c,
            &namespace_of(n),
            json!({"wardops.io/classification": "confidential"}),
        )
        .await?;
        let manifest: String = (0..wards)
            .filter(|i| i % NAMESPACES == n)
            .map(|i| serde_json::to_value(ward_service(i)).unwrap_or_default())
            .chain(connectors_and_policy(n, wards))
            .map(|v| format!("---\n{}", serde_yaml::to_string(&v).unwrap_or_default()))
            .collect();
        let ns = namespace_of(n);
        let mut render = Command::new(repo_root().join("target/release/wardops"));
        render
            .args(["render", "-f", "-", "-n", &ns])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = render.spawn().context("starting wardops render")?;
        use std::io::Write;
        child
            .stdin
            .take()
            .context("render's stdin")?
            .write_all(manifest.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "wardops render failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        for doc in serde_yaml::Deserializer::from_slice(&out.stdout) {
            use serde::Deserialize;
            let mut v = Value::deserialize(doc)?;
            if v.is_null() {
                continue;
            }
            if let Some(m) = v["metadata"].as_object_mut() {
                m.remove("ownerReferences");
            }
            objects.push((ns.clone(), v));
        }
    }
    let deployments = objects
        .iter()
        .filter(|(_, v)| v["kind"] == "Deployment")
        .count();
    let mut resources: BTreeMap<String, ApiResource> = BTreeMap::new();
    for (_, v) in &objects {
        let (api_version, kind) = (
            v["apiVersion"].as_str().unwrap_or_default(),
            v["kind"].as_str().unwrap_or_default(),
        );
        let key = format!("{api_version}/{kind}");
        if let std::collections::btree_map::Entry::Vacant(e) = resources.entry(key) {
            let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
            let gvk = GroupVersionKind::gvk(group, version, kind);
            e.insert(kube::discovery::pinned_kind(c, &gvk).await?.0);
        }
    }
    let cpu_before = control_plane_cpu();
    let start = Instant::now();
    stream::iter(objects)
        .map(|(ns, v)| {
            let key = format!(
                "{}/{}",
                v["apiVersion"].as_str().unwrap_or_default(),
                v["kind"].as_str().unwrap_or_default()
            );
            let ar = resources[&key].clone();
            let c = c.clone();
            async move {
                let obj: DynamicObject = serde_json::from_value(v)?;
                Api::<DynamicObject>::namespaced_with(c, &ns, &ar)
                    .create(&PostParams::default(), &obj)
                    .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await?;
    wait_all(
        c,
        deployments,
        |d: &k8s_openapi::api::apps::v1::Deployment| {
            let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            d.status
                .as_ref()
                .and_then(|s| s.available_replicas)
                .unwrap_or(0)
                >= want
        },
        "raw baseline: Deployments available",
        || {},
    )
    .await?;
    let took = start.elapsed();
    let cpu = control_plane_cpu() - cpu_before;
    eprintln!("raw baseline: {took:.1?}, control plane {cpu:.1} CPU s");
    delete_city(c, wards).await?;
    Ok((took, cpu))
}

fn fmt_requests(r: &BTreeMap<String, usize>, per: usize) -> String {
    let per = per.max(1) as f64;
    let total: usize = r.values().sum();
    let parts: Vec<String> = r
        .iter()
        .map(|(verb, n)| format!("{verb} {:.1}", *n as f64 / per))
        .collect();
    format!("{:.1} ({})", total as f64 / per, parts.join(", "))
}

fn is_ready(ws: &WardService) -> bool {
    ready_state(ws).is_some_and(|(status, _)| status == "True")
}

fn connector_ready(dc: &DataConnector) -> bool {
    dc.status.as_ref().is_some_and(|st| {
        ready_at(
            dc.metadata.generation,
            st.observed_generation,
            &st.conditions,
        )
    })
}

fn policy_ready(bp: &BackupPolicy) -> bool {
    bp.status.as_ref().is_some_and(|st| {
        ready_at(
            bp.metadata.generation,
            st.observed_generation,
            &st.conditions,
        )
    })
}

/// Ready=True, in a status that describes the current generation.
fn ready_at(
    generation: Option<i64>,
    observed: Option<i64>,
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) -> bool {
    observed == generation
        && conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Creates a DataConnector or BackupPolicy given as JSON in `ns`.
async fn create(c: &Client, ns: String, v: Value) -> Result<()> {
    let pp = PostParams::default();
    match v["kind"].as_str() {
        Some("DataConnector") => {
            let dc: DataConnector = serde_json::from_value(v)?;
            Api::<DataConnector>::namespaced(c.clone(), &ns)
                .create(&pp, &dc)
                .await?;
        }
        Some("BackupPolicy") => {
            let bp: BackupPolicy = serde_json::from_value(v)?;
            Api::<BackupPolicy>::namespaced(c.clone(), &ns)
                .create(&pp, &bp)
                .await?;
        }
        kind => bail!("the bench makes no {kind:?}"),
    }
    Ok(())
}

/// Waits until `count` objects of kind `K` in the bench namespaces are
/// `done`, calling `sample` every second meanwhile. It watches them, where
/// listing them all every few seconds would be a load of its own at a
/// country's size (16,000 objects a list); both runs wait the same way.
async fn wait_all<K>(
    c: &Client,
    count: usize,
    done: impl Fn(&K) -> bool,
    what: &str,
    mut sample: impl FnMut(),
) -> Result<()>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + 'static,
{
    let timeout = converge_timeout(count);
    let mut finished = HashSet::new();
    let changes = watcher(Api::<K>::all(c.clone()), watcher::Config::default())
        .default_backoff()
        .touched_objects();
    let mut changes = std::pin::pin!(changes);
    let deadline = tokio::time::sleep(timeout);
    let mut deadline = std::pin::pin!(deadline);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while finished.len() < count {
        tokio::select! {
            change = changes.next() => match change {
                Some(Ok(obj)) => {
                    let key = (obj.namespace().unwrap_or_default(), obj.name_any());
                    if !key.0.starts_with(NAMESPACE_PREFIX) {
                        continue;
                    }
                    if done(&obj) {
                        finished.insert(key);
                    } else {
                        finished.remove(&key);
                    }
                }
                Some(Err(e)) => eprintln!("{what}: watch: {e}"),
                None => bail!("{what}: the watch ended"),
            },
            _ = tick.tick() => sample(),
            _ = &mut deadline => bail!("{what}: {} of {count} after {timeout:?}", finished.len()),
        }
    }
    Ok(())
}

/// Deletes the bench namespaces and waits until they are gone (5 minutes, or
/// 0.1 s per ward: a namespace goes once every object in it is deleted).
async fn delete_city(c: &Client, wards: usize) -> Result<()> {
    let timeout = Duration::from_secs_f64((wards as f64 * 0.1).max(300.0));
    let nss = Api::<Namespace>::all(c.clone());
    for n in 0..NAMESPACES {
        let _ = nss.delete(&namespace_of(n), &DeleteParams::default()).await;
    }
    let start = Instant::now();
    while start.elapsed() < timeout {
        let mut left = 0;
        for n in 0..NAMESPACES {
            if nss.get_opt(&namespace_of(n)).await?.is_some() {
                left += 1;
            }
        }
        if left == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    bail!("the bench namespaces were not deleted in {timeout:?}")
}

struct Figures {
    ready_after_start: Duration,
    rss_empty: f64,
    anon_empty: f64,
    anon_peak: f64,
    anon_after_restart: f64,
    converge: Duration,
    rss_peak: f64,
    converge_requests: BTreeMap<String, usize>,
    /// CPU seconds while converging: the operator's, the control plane's.
    converge_cpu: (f64, f64),
    idle_requests: BTreeMap<String, usize>,
    restart_requests: BTreeMap<String, usize>,
    rss_after_restart: f64,
    caches: String,
    /// Spec edit → ConfigMap patched, seconds, sorted.
    reaction: Vec<f64>,
    /// Leader stopped → the new leader's first change, seconds: (each
    /// SIGTERM's, sorted; the SIGKILL's).
    failover: (Vec<f64>, f64),
}

/// One convergence of the city with `op` running: what it took.
struct Convergence {
    time: Duration,
    /// CPU seconds of the operator and of the control plane.
    cpu: (f64, f64),
    rss_peak: f64,
    anon_peak: f64,
    /// The audit log's mark at the first create.
    audit_offset: u64,
}

/// The city's namespaces and Secrets, then its WardServices, DataConnectors
/// and BackupPolicies created at once, until every one is Ready, `op`
/// running.
async fn converge(c: &Client, op: &Operator, wards: usize, tag: &str) -> Result<Convergence> {
    for n in 0..NAMESPACES {
        ensure_namespace(
            c,
            &namespace_of(n),
            json!({"wardops.io/classification": "confidential"}),
        )
        .await?;
        city_secrets(c, &namespace_of(n)).await?;
    }
    let offset = audit::mark()?;
    let cpu_before = (op.cpu(), control_plane_cpu());
    let start = Instant::now();
    stream::iter(0..wards)
        .map(|i| {
            let api = Api::<WardService>::namespaced(c.clone(), &namespace_of(i));
            async move { api.create(&PostParams::default(), &ward_service(i)).await }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await?;
    let others = (0..NAMESPACES).flat_map(|n| {
        connectors_and_policy(n, wards)
            .into_iter()
            .map(move |v| (namespace_of(n), v))
    });
    stream::iter(others)
        .map(|(ns, v)| create(c, ns, v))
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await?;
    let mut rss_peak: f64 = 0.0;
    let mut anon_peak: f64 = 0.0;
    let mut sample = || {
        let (rss, _, anon) = op.rss();
        rss_peak = rss_peak.max(rss);
        anon_peak = anon_peak.max(anon);
    };
    let what = format!("{tag}: WardServices Ready");
    wait_all(c, wards, is_ready, &what, &mut sample).await?;
    let (connectors, policies) = connectors_and_policies(wards);
    let what = format!("{tag}: DataConnectors Ready");
    wait_all(c, connectors, connector_ready, &what, &mut sample).await?;
    let what = format!("{tag}: BackupPolicies Ready");
    wait_all(c, policies, policy_ready, &what, &mut sample).await?;
    let time = start.elapsed();
    let cpu = (op.cpu() - cpu_before.0, control_plane_cpu() - cpu_before.1);
    eprintln!(
        "{tag}: converged in {time:.1?}, CPU operator {:.1} s, control plane {:.1} s, anonymous RSS peak {anon_peak:.1} MiB",
        cpu.0, cpu.1
    );
    // VmHWM: the peak resident set since the process started.
    rss_peak = rss_peak.max(op.rss().1);
    Ok(Convergence {
        time,
        cpu,
        rss_peak,
        anon_peak,
        audit_offset: offset,
    })
}

/// The operator under test started on a prepared control plane, the city
/// converged, the operator stopped: one more convergence for the ratio's
/// spread ([`pairs`]).
async fn converge_only(c: &Client, binary: &Path, wards: usize, tag: &str) -> Result<Duration> {
    let logs = state_dir().join("logs");
    let mut op = Operator::start(binary, &logs.join(format!("bench-{tag}.log")))?;
    op.wait_ready().await?;
    let time = converge(c, &op, wards, tag).await?.time;
    op.stop()?;
    Ok(time)
}

/// How many (raw baseline, operator) convergence pairs the ratio is the
/// median of: `WARDOPS_BENCH_PAIRS`, default 1. On 2 cores the same
/// convergence varies by a tenth or more from one control plane to the next,
/// so one pair can land a ratio on either side of a goal; each extra pair
/// runs the raw baseline and then the operator under test (convergence only),
/// each on its own fresh control plane, before the full phases.
fn pairs() -> usize {
    env_usize("WARDOPS_BENCH_PAIRS", 1).max(1)
}

/// The median of `xs` (NaN when empty).
fn median(xs: &[f64]) -> f64 {
    let mut xs = xs.to_vec();
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

async fn measure(c: &Client, binary: &Path, wards: usize, tag: &str) -> Result<Figures> {
    let logs = state_dir().join("logs");
    let mut op = Operator::start(binary, &logs.join(format!("bench-{tag}-1.log")))?;
    let ready_after_start = op.wait_ready().await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss_empty, _, anon_empty) = op.rss();

    let Convergence {
        time: converge,
        cpu: converge_cpu,
        rss_peak,
        anon_peak,
        audit_offset: offset,
    } = converge(c, &op, wards, tag).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let converge_requests = requests_since(offset)?;

    // Idle, with reconciles forced by unrelated label changes on watched children.
    let offset = audit::mark()?;
    let cms = Api::<ConfigMap>::namespaced(c.clone(), &namespace_of(0));
    for round in 0..3 {
        for i in (0..wards).filter(|i| i % NAMESPACES == 0).take(10) {
            let patch =
                json!({"metadata": {"labels": {"bench.wardops.io/touch": round.to_string()}}});
            cms.patch(
                &format!("ws-{i}-config"),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
        }
        tokio::time::sleep(idle_window() / 3).await;
    }
    let idle_requests = requests_since(offset)?;
    let caches = op.cache_sizes();
    let reaction = reaction(c, wards, env_usize("WARDOPS_BENCH_EDITS", 50)).await?;
    op.stop()?;

    // Restart over the converged city.
    let offset = audit::mark()?;
    let mut op = Operator::start(binary, &logs.join(format!("bench-{tag}-2.log")))?;
    op.wait_ready().await?;
    tokio::time::sleep(RESTART_WINDOW).await;
    let restart_requests = requests_since(offset)?;
    let (rss_after_restart, _, anon_after_restart) = op.rss();
    op.stop()?;
    let failover = failover(c, binary, wards, tag).await?;
    eprintln!(
        "{tag}: converged in {converge:.1?}; failover SIGTERM {:.2?} s, SIGKILL {:.2} s",
        failover.0, failover.1
    );
    Ok(Figures {
        ready_after_start,
        rss_empty,
        anon_empty,
        anon_peak,
        anon_after_restart,
        converge,
        rss_peak,
        converge_requests,
        converge_cpu,
        idle_requests,
        restart_requests,
        rss_after_restart,
        caches,
        reaction,
        failover,
    })
}

/// Writes the run's figures with the machine and versions to
/// `target/bench/caches-<wards>.json`.
fn write_json(
    wards: usize,
    noise: usize,
    raw: Option<(Duration, f64)>,
    convergence_pairs: &[(f64, f64)],
    runs: &[(&str, Figures)],
) -> Result<()> {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let (connectors, policies) = connectors_and_policies(wards);
    let mem_kib = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let control_plane = std::env::var("WARDOPS_TESTENV_BIN")
        .ok()
        .and_then(|b| {
            PathBuf::from(b)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let figures: Vec<Value> = runs
        .iter()
        .map(|(name, r)| {
            json!({
                "binary": name,
                "start_to_ready_s": r.ready_after_start.as_secs_f64(),
                "convergence_s": r.converge.as_secs_f64(),
                "convergence_over_raw": raw.map(|(raw, _)| r.converge.as_secs_f64() / raw.as_secs_f64()),
                "converging_cpu_s": {"operator": r.converge_cpu.0, "control_plane": r.converge_cpu.1},
                "rss_mib": {"empty": r.rss_empty, "peak": r.rss_peak, "after_restart": r.rss_after_restart},
                "anon_rss_mib": {"empty": r.anon_empty, "peak": r.anon_peak, "after_restart": r.anon_after_restart},
                "requests": {"converging": r.converge_requests, "idle": r.idle_requests, "idle_window_s": idle_window().as_secs(), "restart": r.restart_requests},
                "reaction_s": {"p50": quantile(&r.reaction, 0.5), "p99": quantile(&r.reaction, 0.99), "edits": r.reaction.len()},
                "failover_s": {
                    "sigterm": r.failover.0,
                    "sigterm_median": quantile(&r.failover.0, 0.5),
                    "sigkill": r.failover.1,
                    "lease_s": LEASE_SECONDS
                },
                "cached_objects": r.caches,
            })
        })
        .collect();
    let doc = json!({
        "benchmark": "caches",
        "machine": {
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "memory_gib": mem_kib as f64 / 1024.0 / 1024.0,
            "cpu": cpu,
            "kernel": read("/proc/sys/kernel/osrelease").trim(),
        },
        "versions": {"wardops": env!("CARGO_PKG_VERSION"), "control_plane": control_plane},
        "wards": wards,
        "data_connectors": connectors,
        "backup_policies": policies,
        "namespaces": NAMESPACES,
        "noise_secrets_and_configmaps": noise,
        "fresh_control_plane_per_phase": fresh_planes(),
        "raw_baseline_s": raw.map(|(raw, _)| raw.as_secs_f64()),
        "raw_baseline_control_plane_cpu_s": raw.map(|(_, cpu)| cpu),
        "convergence_pairs_s": convergence_pairs.iter().map(|(r, w)| json!({"raw": r, "wardops": w})).collect::<Vec<_>>(),
        "convergence_over_raw_median": (!convergence_pairs.is_empty())
            .then(|| median(&convergence_pairs.iter().map(|(r, w)| w / r).collect::<Vec<_>>())),
        "runs": figures,
    });
    let dir = repo_root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("caches-{wards}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&doc)?)?;
    println!("figures written to {}", path.display());
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let wards = env_usize("WARDOPS_BENCH_WARDS", 150);
    let noise_count = env_usize("WARDOPS_BENCH_NOISE", 2500);
    let fresh = fresh_planes();
    let under_test = std::env::var_os("WARDOPS_BENCH_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/release/wardops"));
    let baseline = std::env::var_os("WARDOPS_BENCH_BASELINE").map(PathBuf::from);
    let mut c = client().await?;
    let prepare = async |c: &mut Client| -> Result<()> {
        if fresh {
            *c = fresh_plane().await?;
        } else {
            delete_city(c, wards).await?;
        }
        noise(c, noise_count).await
    };

    // Extra (raw baseline, operator) pairs, each phase on its own plane.
    let with_raw = env_usize("WARDOPS_BENCH_RAW", 1) != 0;
    let mut extra_pairs = Vec::new();
    for k in 1..if with_raw { pairs() } else { 1 } {
        prepare(&mut c).await?;
        let (raw, _) = raw_baseline(&c, wards).await?;
        prepare(&mut c).await?;
        let ours = converge_only(&c, &under_test, wards, &format!("pair-{k}")).await?;
        eprintln!(
            "pair {k}: raw {raw:.1?}, wardops {ours:.1?}, ratio {:.2}",
            ours.as_secs_f64() / raw.as_secs_f64()
        );
        extra_pairs.push((raw.as_secs_f64(), ours.as_secs_f64()));
    }

    // The raw baseline first, in the same run.
    let raw = if !with_raw {
        None
    } else {
        prepare(&mut c).await?;
        Some(raw_baseline(&c, wards).await?)
    };
    let mut runs = Vec::new();
    if let Some(b) = &baseline {
        prepare(&mut c).await?;
        runs.push(("baseline", measure(&c, b, wards, "baseline").await?));
    }
    prepare(&mut c).await?;
    runs.push(("wardops", measure(&c, &under_test, wards, "wardops").await?));

    let (connectors, policies) = connectors_and_policies(wards);
    println!(
        "\ncaches benchmark: {wards} WardServices, {connectors} DataConnectors and {policies} BackupPolicies in {NAMESPACES} namespaces, {noise_count} unrelated 2 KiB Secrets and as many ConfigMaps"
    );
    println!(
        "{:<44} {}",
        "",
        runs.iter()
            .map(|(n, _)| format!("{n:>28}"))
            .collect::<String>()
    );
    let row = |label: &str, f: &dyn Fn(&Figures) -> String| {
        println!(
            "{label:<44} {}",
            runs.iter()
                .map(|(_, r)| format!("{:>28}", f(r)))
                .collect::<String>()
        );
    };
    row("start -> ready (caches synced)", &|r| {
        format!("{:.2?}", r.ready_after_start)
    });
    row("RSS, no WardService (MiB)", &|r| {
        format!("{:.1}", r.rss_empty)
    });
    row("convergence, all Ready", &|r| format!("{:.1?}", r.converge));
    row("CPU while converging: operator / control plane (s)", &|r| {
        format!("{:.1} / {:.1}", r.converge_cpu.0, r.converge_cpu.1)
    });
    row("RSS peak while converging (MiB)", &|r| {
        format!("{:.1}", r.rss_peak)
    });
    row("RSS after restart (MiB)", &|r| {
        format!("{:.1}", r.rss_after_restart)
    });
    row("anonymous RSS (heap), no WardService (MiB)", &|r| {
        format!("{:.1}", r.anon_empty)
    });
    row("anonymous RSS peak while converging (MiB)", &|r| {
        format!("{:.1}", r.anon_peak)
    });
    row("anonymous RSS after restart (MiB)", &|r| {
        format!("{:.1}", r.anon_after_restart)
    });
    row("requests per ward while converging", &|r| {
        let n: usize = r.converge_requests.values().sum();
        format!("{:.1}", n as f64 / wards as f64)
    });
    row(
        &format!(
            "requests at idle, {} s, 30 forced reconciles",
            idle_window().as_secs()
        ),
        &|r| r.idle_requests.values().sum::<usize>().to_string(),
    );
    row("requests in the first 20 s after restart", &|r| {
        r.restart_requests.values().sum::<usize>().to_string()
    });
    for (name, r) in &runs {
        println!(
            "{name}: converging, per ward: {}",
            fmt_requests(&r.converge_requests, wards)
        );
        println!("{name}: idle: {}", fmt_requests(&r.idle_requests, 1));
        println!("{name}: restart: {}", fmt_requests(&r.restart_requests, 1));
        if !r.caches.is_empty() {
            println!("{name}: cached objects: {}", r.caches);
        }
    }
    row("reaction: spec edit -> ConfigMap, p50 / p99 (ms)", &|r| {
        format!(
            "{:.0} / {:.0}",
            quantile(&r.reaction, 0.5) * 1000.0,
            quantile(&r.reaction, 0.99) * 1000.0
        )
    });
    row(
        &format!(
            "failover: leader stopped -> first change, SIGTERM median (worst) / SIGKILL (s, lease {LEASE_SECONDS} s)"
        ),
        &|r| {
            format!(
                "{:.2} ({:.2}) / {:.2}",
                quantile(&r.failover.0, 0.5),
                r.failover.0.last().copied().unwrap_or(f64::NAN),
                r.failover.1
            )
        },
    );
    let ours = &runs.last().context("no run")?.1;
    match raw {
        Some((raw, raw_cpu)) => println!(
            "raw baseline (the rendered children, parallel client, no operator): {:.1?}, control plane CPU {raw_cpu:.1} s; wardops / raw = {:.2}",
            raw,
            ours.converge.as_secs_f64() / raw.as_secs_f64()
        ),
        None => println!("raw baseline: not run (WARDOPS_BENCH_RAW=0)"),
    }
    let mut convergence_pairs = extra_pairs;
    if let Some((raw, _)) = raw {
        convergence_pairs.push((raw.as_secs_f64(), ours.converge.as_secs_f64()));
    }
    if convergence_pairs.len() > 1 {
        let ratios: Vec<f64> = convergence_pairs.iter().map(|(r, w)| w / r).collect();
        println!(
            "wardops / raw over {} pairs, each on fresh control planes: median {:.2} (each: {})",
            ratios.len(),
            median(&ratios),
            convergence_pairs
                .iter()
                .map(|(r, w)| format!("{w:.1} s / {r:.1} s = {:.2}", w / r))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    write_json(wards, noise_count, raw, &convergence_pairs, &runs)?;
    keep_logs()?;
    if let [(_, b), (_, w)] = &runs[..] {
        println!(
            "ratios wardops/baseline: convergence {:.2}, RSS peak {:.2}, requests while converging {:.2}",
            w.converge.as_secs_f64() / b.converge.as_secs_f64(),
            w.rss_peak / b.rss_peak.max(0.1),
            w.converge_requests.values().sum::<usize>() as f64
                / (b.converge_requests.values().sum::<usize>().max(1)) as f64
        );
    }
    Ok(())
}
