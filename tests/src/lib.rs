//! Shared helpers of the integration tests: find the local control plane that
//! `tests/controlplane/up.sh` started, run kubectl/helm against it, make
//! throwaway namespaces, and wait for conditions with a deadline ([`wait_for`],
//! the one polling loop). Modules: [`operator`] starts `wardops run`, [`audit`]
//! reads the audit log, [`cases`] is the render/API-server parity table,
//! [`yaml`] reads rendered manifests, [`facts`] reads facts from the code.
//!
//! Tests fail (never skip) when the control plane is not running: `make test`
//! starts it.

pub mod audit;
pub mod cases;
pub mod etcd;
pub mod facts;
pub mod operator;
pub mod rng;
pub mod ward;
pub mod yaml;

pub use operator::{Operator, OperatorBuilder, free_port, operator};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

/// Repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// State directory of the local control plane.
pub fn state_dir() -> PathBuf {
    std::env::var_os("WARDOPS_TESTENV_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".testenv"))
}

/// Admin kubeconfig written by `up.sh`.
pub fn kubeconfig() -> PathBuf {
    let path = state_dir().join("kubeconfig");
    assert!(
        path.exists(),
        "no control plane: {} is missing; start it with `bash tests/controlplane/up.sh` (make test does)",
        path.display()
    );
    path
}

/// Directory of the control-plane binaries (kubectl, helm, ...), from `up.sh`'s env file.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WARDOPS_TESTENV_BIN") {
        return PathBuf::from(dir);
    }
    let env = std::fs::read_to_string(state_dir().join("env")).unwrap_or_default();
    env.lines()
        .filter_map(|l| l.trim_start_matches("export ").split_once('='))
        .find(|(k, _)| *k == "WARDOPS_TESTENV_BIN")
        .map(|(_, v)| PathBuf::from(v.trim_matches('"').trim_matches('\'')))
        .expect("WARDOPS_TESTENV_BIN not found in the control plane's env file; run tests/controlplane/up.sh")
}

/// A command for one of the control-plane binaries, with KUBECONFIG set.
pub fn tool(name: &str) -> Command {
    let mut cmd = Command::new(bin_dir().join(name));
    cmd.env("KUBECONFIG", kubeconfig());
    cmd
}

/// The result of running a command: status, stdout and stderr as text.
#[derive(Debug)]
pub struct Run {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            success: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs a command with optional standard input.
pub fn run(mut cmd: Command, stdin: Option<&str>) -> Run {
    use std::io::Write;
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    child.wait_with_output().expect("wait for command").into()
}

/// `kubectl ARGS` with an optional manifest on stdin.
pub fn kubectl(args: &[&str], stdin: Option<&str>) -> Run {
    let mut cmd = tool("kubectl");
    cmd.args(args);
    run(cmd, stdin)
}

/// `kubectl ARGS`, failing the test with its stderr when it fails.
pub fn kubectl_ok(args: &[&str], stdin: Option<&str>) -> String {
    let r = kubectl(args, stdin);
    assert!(r.success, "kubectl {args:?} failed:\n{}", r.stderr);
    r.stdout
}

/// Installs the CRDs of `crds/` (which `crds::generated_crd_files_are_current`
/// holds to the code) and waits until every one is established.
pub fn install_crds() {
    let dir = repo_root().join("crds");
    kubectl_ok(
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            &dir.to_string_lossy(),
        ],
        None,
    );
    for crd in wardops::api::crds() {
        let name = crd.metadata.name.unwrap_or_default();
        kubectl_ok(
            &[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                &format!("crd/{name}"),
            ],
            None,
        );
    }
}

/// A kube client for the local control plane (admin identity).
pub async fn client() -> Result<Client> {
    let kc = Kubeconfig::read_from(kubeconfig())?;
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh namespace name `PREFIX-<pid>-<n>`; not created.
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// A namespace for one test, deleted when dropped (in the background).
pub struct TestNamespace {
    pub name: String,
}

impl TestNamespace {
    /// Creates `PREFIX-<pid>-<n>` with the given labels.
    pub async fn create(client: &Client, prefix: &str, labels: &[(&str, &str)]) -> Result<Self> {
        let name = unique_name(prefix);
        let mut ns = Namespace::default();
        ns.metadata.name = Some(name.clone());
        ns.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        Ok(TestNamespace { name })
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if std::env::var_os("WARDOPS_KEEP_NAMESPACES").is_some() {
            return;
        }
        let _ = kubectl(&["delete", "namespace", &self.name, "--wait=false"], None);
    }
}

/// Polls `check` until it returns `Ok(Some(v))` or the deadline passes; the
/// last error or `None` is reported on timeout.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let start = Instant::now();
    let mut last = String::from("condition not met");
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = format!("{e:#}"),
        }
        if start.elapsed() > timeout {
            bail!("timed out after {timeout:?} waiting for {what}: {last}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Deletes an object and ignores "not found".
pub async fn delete_ignore_missing<K>(api: &Api<K>, name: &str) -> Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Path of the `wardops` binary that `make test` builds before the tests.
pub fn wardops_bin() -> PathBuf {
    let path = repo_root().join("target/debug/wardops");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p wardops` (make test does)",
        path.display()
    );
    path
}

/// Minimal HTTP/1.0 GET on loopback: (status code, body).
pub fn http_get(url: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}")))?;
    let mut s = std::net::TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let code = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((code, body))
}
