//! `kubectl wardops` on the real local control plane, called the way users
//! call it: kubectl finds `kubectl-wardops` (a link to the built `wardops`)
//! on `PATH`. One behaviour per test. Backup, restore, sync and repository
//! listing pods are ended by kwok stages (tests/controlplane/kwok.yaml).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use anyhow::Result;
use k8s_openapi::api::batch::v1::Job;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use wardops::api::{BackupPolicy, DataConnector, Restore};
use wardops::cli::{COMPLETE_BINARY, PLUGIN_BINARY};
use wardops::controller::labels;
use wardops_tests::ward::{TIMEOUT, create, put_secret, setup, ward_service};
use wardops_tests::{Run, bin_dir, kubeconfig, kubectl_ok, operator, run, wait_for, wardops_bin};

/// [`wait_for`] with [`TIMEOUT`] for a check that has no errors of its own.
async fn until<T, F, Fut>(what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    wait_for(what, TIMEOUT, || {
        let f = check();
        async move { Ok(f.await) }
    })
    .await
}

/// A directory with `kubectl-wardops` and `kubectl_complete-wardops` linked
/// to the built binary, as a release installs them.
fn plugin_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("wardops-plugin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("plugin dir");
        for name in [PLUGIN_BINARY, COMPLETE_BINARY] {
            let link = dir.join(name);
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(wardops_bin(), &link).expect("link the plugin");
        }
        dir
    })
    .clone()
}

fn path_env() -> String {
    format!(
        "{}:{}:{}",
        plugin_dir().display(),
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// `kubectl wardops ARGS` through kubectl's plugin lookup.
fn plugin(args: &[&str]) -> Run {
    let mut cmd = Command::new(bin_dir().join("kubectl"));
    cmd.arg("wardops").args(args);
    cmd.env("KUBECONFIG", kubeconfig())
        .env("PATH", path_env())
        .env_remove("LANG")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES");
    run(cmd, None)
}

fn plugin_ok(args: &[&str]) -> String {
    let r = plugin(args);
    assert!(
        r.success,
        "kubectl wardops {args:?} failed:\n{}\n{}",
        r.stdout, r.stderr
    );
    r.stdout
}

const WARD_A: &str = "Phường Hồng Bàng";
const WARD_B: &str = "Xã Đảo Bạch Long Vĩ";

fn ward(name: &str, ward_name: &str, extra: Value) -> wardops::api::WardService {
    let mut spec = json!({"ward": {"code": "31135", "name": ward_name}, "storage": {"size": "1Gi", "reclaimPolicy": "Delete"}});
    if let (Some(s), Value::Object(e)) = (spec.as_object_mut(), extra) {
        s.extend(e);
    }
    let mut ws = ward_service(name, spec);
    ws.metadata.labels = Some([("wardops.io/backup".to_string(), "nightly".to_string())].into());
    ws
}

/// A namespace with two wards (`records`, ready; `one-stop`, missing its
/// Secret), a policy `nightly` backing both up to the claim `backups`.
async fn city(prefix: &str) -> Result<(Client, wardops_tests::TestNamespace)> {
    operator().await;
    let (c, ns) = setup(prefix, &[]).await?;
    let n = ns.name.as_str();
    create(&c, n, &ward("records", WARD_A, json!({}))).await?;
    create(
        &c,
        n,
        &ward(
            "one-stop",
            WARD_B,
            json!({"secretEnv": [{"name": "DB_URL", "secretKeyRef": {"name": "absent", "key": "url"}}]}),
        ),
    )
    .await?;
    put_secret(&c, n, "backup-key", &[("password", "not-a-real-key")]).await?;
    kubectl_ok(
        &["apply", "-n", n, "-f", "-"],
        Some(
            &json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "backups"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
            .to_string(),
        ),
    );
    kubectl_ok(
        &["apply", "-n", n, "-f", "-"],
        Some(
            &json!({"apiVersion": "wardops.io/v1alpha1", "kind": "BackupPolicy", "metadata": {"name": "nightly"},
                "spec": {"target": {"selector": {"matchLabels": {"wardops.io/backup": "nightly"}}},
                    "schedule": "30 1 * * *", "retention": {"keepDaily": 7},
                    "destination": {"pvc": {"claimName": "backups"}},
                    "encryption": {"keySecretRef": {"name": "backup-key", "key": "password"}}}})
            .to_string(),
        ),
    );
    until("the policy to list both targets", || async {
        let bp = Api::<BackupPolicy>::namespaced(c.clone(), n)
            .get("nightly")
            .await
            .ok()?;
        (bp.status?.targets.len() == 2).then_some(())
    })
    .await?;
    Ok((c, ns))
}

async fn backup_jobs(c: &Client, ns: &str, ward: &str) -> Result<Vec<Job>> {
    let sel = format!(
        "{}=nightly,{}={ward}",
        labels::INSTANCE_LABEL,
        labels::WARD_SERVICE_LABEL
    );
    Ok(Api::<Job>::namespaced(c.clone(), ns)
        .list(&ListParams::default().labels(&sel))
        .await?
        .items
        .into_iter()
        .filter(|j| j.annotations().contains_key(labels::BACKUP_NOW_ANNOTATION))
        .collect())
}

/// Backs `records` up once and waits until the policy reports its snapshot.
async fn backed_up(c: &Client, ns: &str) -> Result<String> {
    plugin_ok(&["-n", ns, "backup", "now", "nightly", "--target", "records"]);
    until("a snapshot of records", || async {
        let bp = Api::<BackupPolicy>::namespaced(c.clone(), ns)
            .get("nightly")
            .await
            .ok()?;
        bp.status?
            .targets
            .into_iter()
            .find(|t| t.ward_service == "records")?
            .last_snapshot_id
    })
    .await
}

#[tokio::test]
async fn status_shows_each_ward_with_its_backups_what_needs_attention_first() -> Result<()> {
    let (_c, ns) = city("cli-status").await?;
    let n = ns.name.as_str();
    let view: Value = until("both wards to have a Ready condition", || async {
        let out = plugin(&["status", "-n", n, "-o", "json"]);
        let v: Value = serde_json::from_str(&out.stdout).ok()?;
        let rows = v["wardServices"].as_array()?;
        (rows.len() == 2
            && rows.iter().all(|r| r["reason"] != "NotReconciled")
            && rows[1]["ready"] == "True")
            .then_some(v)
    })
    .await?;
    let rows = view["wardServices"].as_array().unwrap();
    assert_eq!(
        rows[0]["name"], "one-stop",
        "the broken ward first: {view:#}"
    );
    assert_eq!(rows[0]["reason"], "SecretMissing");
    assert_eq!(rows[0]["wardName"], WARD_B);
    assert_eq!(rows[1]["wardName"], WARD_A);
    assert_eq!(rows[1]["backups"][0]["policy"], "nightly");
    assert_eq!(rows[1]["attention"], json!([]));

    let table = plugin_ok(&["status", "-n", n]);
    assert!(table.contains(&format!("{WARD_B} (31135)")), "{table}");
    assert!(table.find("one-stop") < table.find("records"), "{table}");
    assert!(
        !table.contains('\x1b'),
        "no colour when not on a terminal:\n{table}"
    );
    let yaml: Value = serde_yaml::from_str(&plugin_ok(&["status", "-n", n, "-o", "yaml"]))?;
    assert_eq!(yaml["wardServices"][1]["wardName"], WARD_A);
    let all = plugin_ok(&["status", "-A", "-o", "json"]);
    assert!(all.contains(&format!("\"namespace\": \"{n}\"")));
    Ok(())
}

#[tokio::test]
async fn backup_now_with_a_target_backs_up_that_ward_only() -> Result<()> {
    let (c, ns) = city("cli-backup").await?;
    let n = ns.name.as_str();
    let out = plugin_ok(&["-n", n, "backup", "now", "nightly", "--target", "records"]);
    assert!(out.contains("started"), "{out}");
    assert_eq!(backup_jobs(&c, n, "records").await?.len(), 1);
    assert!(backup_jobs(&c, n, "one-stop").await?.is_empty());

    let r = plugin(&["-n", n, "backup", "now", "nightly", "--target", "record"]);
    assert!(!r.success);
    assert!(
        r.stderr.contains("did you mean \"records\""),
        "{}",
        r.stderr
    );
    Ok(())
}

#[tokio::test]
async fn snapshots_come_from_the_status_the_jobs_and_the_repository() -> Result<()> {
    let (c, ns) = city("cli-snapshots").await?;
    let n = ns.name.as_str();
    let id = backed_up(&c, n).await?;
    let known: Value =
        serde_json::from_str(&plugin_ok(&["-n", n, "snapshots", "nightly", "-o", "json"]))?;
    assert_eq!(known[0]["snapshotID"], id.as_str(), "{known:#}");
    assert_eq!(known[0]["target"], "records");

    let listed: Value = serde_json::from_str(&plugin_ok(&[
        "-n",
        n,
        "snapshots",
        "nightly",
        "--target",
        "records",
        "--from-repository",
        "-o",
        "json",
    ]))?;
    assert_eq!(listed[0]["source"], "repository", "{listed:#}");
    // The id the test control plane's listing pod reports (kwok stage snapshots-end).
    assert!(
        listed[0]["snapshotID"]
            .as_str()
            .is_some_and(|s| s.len() == 64 && s.starts_with("a1b2c3d4")),
        "{listed:#}"
    );
    let left = until("the listing Job to be deleted", || async {
        let jobs = Api::<Job>::namespaced(c.clone(), n)
            .list(&ListParams::default().labels("app.kubernetes.io/name=snapshots"))
            .await
            .ok()?;
        jobs.items.is_empty().then_some(())
    })
    .await;
    assert!(left.is_ok(), "the listing Job is removed after use");
    Ok(())
}

#[tokio::test]
async fn restore_creates_a_restore_and_follows_it_to_its_end() -> Result<()> {
    let (c, ns) = city("cli-restore").await?;
    let n = ns.name.as_str();
    backed_up(&c, n).await?;
    let out = plugin_ok(&[
        "-n",
        n,
        "restore",
        "nightly",
        "--ward",
        "records",
        "--into-claim",
        "records-inspect",
    ]);
    assert!(out.contains("Succeeded"), "{out}");
    assert!(out.contains("restored snapshot a1b2c3d4"), "{out}");
    let restores = Api::<Restore>::namespaced(c.clone(), n)
        .list(&ListParams::default())
        .await?;
    assert_eq!(restores.items.len(), 1);
    assert_eq!(
        restores.items[0].spec.target_claim.as_deref(),
        Some("records-inspect")
    );

    let r = plugin(&["-n", n, "restore", "nightly", "--ward", "one-stop-x"]);
    assert!(
        !r.success && r.stderr.contains("did you mean \"one-stop\""),
        "{}",
        r.stderr
    );
    Ok(())
}

#[tokio::test]
async fn sync_now_starts_a_pull_and_refuses_a_proxy_connector() -> Result<()> {
    let (c, ns) = city("cli-sync").await?;
    let n = ns.name.as_str();
    put_secret(&c, n, "registry", &[("apiKey", "sentinel-not-used")]).await?;
    for (name, mode) in [
        ("dat-dai", json!({"mode": "sync", "schedule": "0 2 * * *"})),
        ("dan-cu", json!({})),
    ] {
        let mut spec = json!({"wardServiceRef": {"name": "records"},
            "source": {"kind": "land", "endpoint": "https://datdai.haiphong.gov.vn/api"},
            "credentialsSecretRef": {"name": "registry"}, "auth": {"type": "apiKey"},
            "datasets": ["thua-dat"]});
        spec.as_object_mut()
            .unwrap()
            .extend(mode.as_object().unwrap().clone());
        kubectl_ok(
            &["apply", "-n", n, "-f", "-"],
            Some(
                &json!({"apiVersion": "wardops.io/v1alpha1", "kind": "DataConnector",
                "metadata": {"name": name}, "spec": spec})
                .to_string(),
            ),
        );
    }
    let out = plugin_ok(&["-n", n, "sync", "now", "dat-dai"]);
    assert!(out.contains("started"), "{out}");
    let dc = Api::<DataConnector>::namespaced(c.clone(), n)
        .get("dat-dai")
        .await?;
    let value = dc.annotations()[labels::SYNC_NOW_ANNOTATION].clone();
    assert_eq!(
        dc.status.unwrap().last_sync_now.as_deref(),
        Some(value.as_str())
    );

    let r = plugin(&["-n", n, "sync", "now", "dan-cu"]);
    assert!(
        !r.success && r.stderr.contains("proxy mode"),
        "{}",
        r.stderr
    );
    Ok(())
}

/// A kubeconfig for ServiceAccount `sa` of `ns`, with a fresh token.
fn service_account_kubeconfig(ns: &str, sa: &str) -> Result<PathBuf> {
    let token = kubectl_ok(&["create", "token", sa, "-n", ns, "--duration=10m"], None);
    let admin: Value = serde_yaml::from_str(&std::fs::read_to_string(kubeconfig())?)?;
    let cluster = admin["clusters"][0]["cluster"].clone();
    let config = json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "viewer",
        "clusters": [{"name": "local", "cluster": cluster}],
        "users": [{"name": sa, "user": {"token": token.trim()}}],
        "contexts": [{"name": "viewer", "context": {"cluster": "local", "user": sa, "namespace": ns}}],
    });
    let path = std::env::temp_dir().join(format!("wardops-{ns}-{sa}.kubeconfig"));
    std::fs::write(&path, serde_yaml::to_string(&config)?)?;
    Ok(path)
}

#[tokio::test]
async fn under_wardops_view_reads_work_and_writes_name_the_missing_permission() -> Result<()> {
    let (_c, ns) = city("cli-view").await?;
    let n = ns.name.as_str();
    // The wardops-view ClusterRole exactly as deploy/ ships it.
    let rbac = std::fs::read_to_string(wardops_tests::repo_root().join("deploy/base/rbac.yaml"))?;
    let view = rbac
        .split("\n---")
        .find(|d| d.contains("name: wardops-view"))
        .expect("deploy/base/rbac.yaml has the wardops-view role");
    kubectl_ok(&["apply", "-f", "-"], Some(view));
    kubectl_ok(&["create", "serviceaccount", "viewer", "-n", n], None);
    kubectl_ok(
        &[
            "create",
            "rolebinding",
            "viewer",
            "-n",
            n,
            "--clusterrole=wardops-view",
            &format!("--serviceaccount={n}:viewer"),
        ],
        None,
    );
    let config = service_account_kubeconfig(n, "viewer")?;
    let as_viewer = |args: &[&str]| {
        let mut all = vec!["--kubeconfig", config.to_str().unwrap()];
        all.extend_from_slice(args);
        plugin(&all)
    };
    let status = until("the viewer's binding to take effect", || async {
        let r = as_viewer(&["status", "-o", "json"]);
        r.success.then_some(r)
    })
    .await?;
    assert!(status.stdout.contains("\"records\""), "{}", status.stdout);

    let r = as_viewer(&["backup", "now", "nightly"]);
    assert!(!r.success);
    assert!(
        r.stderr.contains(&format!(
            "forbidden: you cannot patch backuppolicies.wardops.io in namespace \"{n}\""
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("wardops-edit"), "{}", r.stderr);
    let r = as_viewer(&["restore", "nightly", "--ward", "records"]);
    assert!(
        !r.success && r.stderr.contains("cannot create restores.wardops.io"),
        "{}",
        r.stderr
    );
    let r = as_viewer(&["snapshots", "nightly", "--from-repository"]);
    // It needs the target CronJob and to create a Job: the first refusal is named.
    assert!(
        !r.success
            && r.stderr
                .contains("forbidden: you cannot get cronjobs.batch"),
        "{}",
        r.stderr
    );
    let r = as_viewer(&["sync", "now", "no-such-connector"]);
    assert!(!r.success && r.stderr.contains("not found"), "{}", r.stderr);
    let r = as_viewer(&["status", "-A"]);
    assert!(
        !r.success
            && r.stderr
                .contains("cannot list wardservices.wardops.io in any namespace"),
        "{}",
        r.stderr
    );
    Ok(())
}

#[tokio::test]
async fn no_cluster_and_unknown_names_get_clear_errors() -> Result<()> {
    let (_c, ns) = city("cli-errors").await?;
    let n = ns.name.as_str();
    let r = plugin(&["-n", n, "backup", "now", "nightli"]);
    assert!(!r.success);
    assert!(
        r.stderr.contains("BackupPolicy \"nightli\" not found"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("did you mean \"nightly\"?"),
        "{}",
        r.stderr
    );

    let dead = std::env::temp_dir().join(format!("wardops-dead-{}.kubeconfig", std::process::id()));
    std::fs::write(
        &dead,
        "apiVersion: v1\nkind: Config\ncurrent-context: dead\nclusters: [{name: dead, cluster: {server: 'https://127.0.0.1:1'}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: dead, context: {cluster: dead, user: u}}]\n",
    )?;
    let r = plugin(&["--kubeconfig", dead.to_str().unwrap(), "status"]);
    assert!(!r.success);
    assert!(
        r.stderr
            .contains("cannot reach the cluster at https://127.0.0.1:1"),
        "{}",
        r.stderr
    );
    let r = plugin(&["--context", "no-such-context", "status"]);
    assert!(
        !r.success && r.stderr.contains("no cluster configured"),
        "{}",
        r.stderr
    );
    Ok(())
}

#[tokio::test]
async fn completion_offers_names_from_the_cluster_in_bash_and_through_kubectl() -> Result<()> {
    let (_c, ns) = city("cli-complete").await?;
    let n = ns.name.as_str();
    let script = plugin_ok(&["completion", "bash"]);
    let mut bash = Command::new("bash");
    bash.arg("-c")
        .arg(format!(
            "{script}\nCOMP_WORDS=(kubectl-wardops -n {n} restore nightly --ward re); COMP_CWORD=6; _kubectl_wardops; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        ))
        .env("KUBECONFIG", kubeconfig())
        .env("PATH", path_env());
    let r = run(bash, None);
    assert_eq!(r.stdout.trim(), "records", "{}", r.stderr);

    // kubectl's own completion calls kubectl_complete-wardops.
    let mut k = Command::new(bin_dir().join("kubectl"));
    k.args(["__complete", "wardops", "-n", n, "backup", "now", ""])
        .env("KUBECONFIG", kubeconfig())
        .env("PATH", path_env());
    let r = run(k, None);
    assert!(
        r.stdout.lines().any(|l| l == "nightly"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );

    for shell in ["zsh", "fish"] {
        let s = plugin_ok(&["completion", shell]);
        assert!(s.contains(&format!("{PLUGIN_BINARY} __complete --")), "{s}");
    }
    Ok(())
}

#[test]
fn explain_reason_prints_the_runbook_in_english_or_vietnamese() {
    let en = plugin_ok(&["explain-reason", "SecretMissing"]);
    assert!(en.contains("[docs/troubleshooting.md]"), "{en}");
    let vi = plugin_ok(&["explain-reason", "SecretMissing", "--lang", "vi"]);
    assert!(vi.contains("[docs/vi/troubleshooting.md]"), "{vi}");
    let mut cmd = Command::new(bin_dir().join("kubectl"));
    cmd.args(["wardops", "explain-reason", "ClassificationMismatch"])
        .env("PATH", path_env())
        .env("KUBECONFIG", kubeconfig())
        .env("LANG", "vi_VN.UTF-8");
    let r = run(cmd, None);
    assert!(r.stdout.contains("[docs/vi/"), "{}", r.stdout);
    let r = plugin(&["explain-reason", "SecretMising"]);
    assert!(
        !r.success && r.stderr.contains("did you mean \"SecretMissing\""),
        "{}",
        r.stderr
    );
}

#[tokio::test]
async fn ctrl_c_while_following_a_restore_leaves_it_running_and_says_how_to_watch_it() -> Result<()>
{
    let (c, ns) = city("cli-interrupt").await?;
    let n = ns.name.as_str();
    // Another Restore holds the ward: this one waits (WardBusy) until interrupted.
    kubectl_ok(
        &[
            "annotate",
            "-n",
            n,
            "wardservice",
            "records",
            &format!("{}=earlier", labels::RESTORE_ANNOTATION),
        ],
        None,
    );
    let mut cmd = std::process::Command::new(plugin_dir().join(PLUGIN_BINARY));
    cmd.args(["-n", n, "restore", "nightly", "--ward", "records"])
        .env("KUBECONFIG", kubeconfig())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn()?;
    let restores = Api::<Restore>::namespaced(c.clone(), n);
    let name = until("the Restore to be created", || async {
        restores
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .first()
            .map(|r| r.name_any())
    })
    .await?;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()?;
    assert!(sent.success());
    let out = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("the restore goes on"), "{stdout}");
    assert!(
        stdout.contains(&format!("kubectl -n {n} get restore {name} -w")),
        "{stdout}"
    );
    assert!(
        restores.get_opt(&name).await?.is_some(),
        "the Restore is left running"
    );
    Ok(())
}

#[test]
fn krew_installs_the_plugin_from_its_release_archive() {
    let dist = std::env::temp_dir().join(format!("wardops-dist-{}", std::process::id()));
    let mut cmd = Command::new("bash");
    cmd.arg(wardops_tests::repo_root().join("scripts/dist.sh"))
        .arg(wardops_bin())
        .env("WARDOPS_DIST_DIR", &dist);
    let r = run(cmd, None);
    assert!(r.success, "scripts/dist.sh failed:\n{}", r.stderr);
    assert!(
        r.stderr.contains("wardops.yaml (valid)"),
        "krew's validator passed:\n{}",
        r.stderr
    );
    let archive = std::fs::read_dir(&dist)
        .expect("dist dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .expect("a release archive");
    let mut build = Command::new("bash");
    build.arg(wardops_tests::repo_root().join("tests/krew/build.sh"));
    let krew_bin = PathBuf::from(
        run(build, None)
            .stdout
            .lines()
            .last()
            .expect("krew bin dir"),
    );
    let root = dist.join("krew-root");
    let mut install = Command::new(krew_bin.join("kubectl-krew"));
    install
        .args(["install", "--no-update-index"])
        .arg(format!(
            "--manifest={}",
            dist.join("wardops.yaml").display()
        ))
        .arg(format!("--archive={}", archive.display()))
        .env("KREW_ROOT", &root);
    let r = run(install, None);
    assert!(
        r.success,
        "kubectl krew install failed:\n{}\n{}",
        r.stdout, r.stderr
    );
    // kubectl finds the plugin krew installed.
    let mut k = Command::new(bin_dir().join("kubectl"));
    k.args(["wardops", "--version"]).env(
        "PATH",
        format!("{}:{}", root.join("bin").display(), bin_dir().display()),
    );
    let r = run(k, None);
    assert_eq!(
        r.stdout.trim(),
        format!("kubectl wardops {}", wardops::VERSION),
        "{}",
        r.stderr
    );
    let _ = std::fs::remove_dir_all(&dist);
}

#[test]
fn the_krew_manifest_is_of_this_version() {
    let manifest =
        std::fs::read_to_string(wardops_tests::repo_root().join("plugins/krew/wardops.yaml"))
            .unwrap();
    let doc: Value = serde_yaml::from_str(&manifest).unwrap();
    assert_eq!(doc["spec"]["version"], format!("v{}", wardops::VERSION));
    assert_eq!(doc["metadata"]["name"], "wardops");
}

#[tokio::test]
async fn status_colours_on_a_terminal_unless_no_color_is_set() -> Result<()> {
    let (_c, ns) = city("cli-colour").await?;
    let n = ns.name.as_str();
    // `script` runs the command on a pseudo-terminal, as a user's shell would.
    let on_a_terminal = |no_color: Option<&str>| {
        let mut cmd = Command::new("script");
        cmd.args([
            "-qec",
            &format!("kubectl wardops status -n {n}"),
            "/dev/null",
        ])
        .env("KUBECONFIG", kubeconfig())
        .env("PATH", path_env())
        .env_remove("NO_COLOR");
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        run(cmd, None)
    };
    let coloured = until("a row with a Ready state", || async {
        let r = on_a_terminal(None);
        (r.success && r.stdout.contains("\x1b[3")).then_some(r)
    })
    .await?;
    assert!(coloured.stdout.contains(WARD_A), "{}", coloured.stdout);
    let plain = on_a_terminal(Some("1"));
    assert!(plain.success, "{}", plain.stderr);
    assert!(
        plain.stdout.contains(WARD_A) && !plain.stdout.contains('\x1b'),
        "{:?}",
        plain.stdout
    );
    Ok(())
}
