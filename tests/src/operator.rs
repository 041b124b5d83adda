//! `wardops run` as a child of a test: the one way tests start the operator.
//!
//! Each operator runs under a watchdog shell that stops it (SIGTERM) when the
//! test process is gone, so an operator shared by a test binary, or one of a
//! test that panicked, never outlives the tests. Metrics and health listen on
//! free loopback ports; output goes to a log file under the state directory.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use serde::Deserialize;

use crate::{
    http_get, kubeconfig, kubectl_ok, repo_root, run, state_dir, tool, wait_for, wardops_bin,
};

/// How to start `wardops run`: a name (for the log file and `POD_NAME`-style
/// identities), arguments, environment, kubeconfig.
pub struct OperatorBuilder {
    name: String,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    removed_envs: Vec<String>,
    kubeconfig: PathBuf,
    binary: Option<PathBuf>,
}

impl OperatorBuilder {
    /// `wardops run` with the admin kubeconfig and no other argument than
    /// `--metrics-addr` and `--health-addr`.
    pub fn new(name: &str) -> Self {
        OperatorBuilder {
            name: name.to_string(),
            args: Vec::new(),
            envs: Vec::new(),
            removed_envs: Vec::new(),
            kubeconfig: kubeconfig(),
            binary: None,
        }
    }

    /// Adds arguments after `run`.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_string(), value.to_string()));
        self
    }

    /// Removes an environment variable the test process has.
    pub fn env_remove(mut self, key: &str) -> Self {
        self.removed_envs.push(key.to_string());
        self
    }

    /// Uses another kubeconfig than the admin's (e.g. a ServiceAccount token).
    pub fn kubeconfig(mut self, path: PathBuf) -> Self {
        self.kubeconfig = path;
        self
    }

    /// Runs another `wardops` binary than this tree's (e.g. a release, as a
    /// benchmark's baseline).
    pub fn binary(mut self, path: PathBuf) -> Self {
        self.binary = Some(path);
        self
    }

    /// Starts the operator; it may not be ready yet (see [`Operator::wait_ready`]).
    pub fn start(self) -> Operator {
        let (metrics_port, health_port) = (free_port(), free_port());
        let log = state_dir().join("logs").join(format!(
            "operator-{}-{}.log",
            self.name,
            std::process::id()
        ));
        std::fs::write(&log, "").unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let mut args = self.args;
        args.push(format!("--metrics-addr=127.0.0.1:{metrics_port}"));
        args.push(format!("--health-addr=127.0.0.1:{health_port}"));
        // Prints the operator's pid, then waits for the operator or the test
        // process to end; exits with the operator's status.
        let watchdog = format!(
            r#""$0" run "$@" >>'{log}' 2>&1 </dev/null & op=$!
echo "$op"
trap 'kill -TERM "$op" 2>/dev/null; wait "$op"; exit $?' TERM INT
while kill -0 {parent} 2>/dev/null && kill -0 "$op" 2>/dev/null; do sleep 0.2; done
kill -TERM "$op" 2>/dev/null
wait "$op""#,
            log = log.display(),
            parent = std::process::id(),
        );
        let mut cmd = Command::new("bash");
        let binary = self.binary.unwrap_or_else(wardops_bin);
        cmd.arg("-c").arg(watchdog).arg(&binary).args(&args);
        cmd.env("KUBECONFIG", &self.kubeconfig);
        for key in &self.removed_envs {
            cmd.env_remove(key);
        }
        for (key, value) in &self.envs {
            cmd.env(key, value);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut watchdog = cmd.spawn().expect("start the operator's watchdog shell");
        let mut first_line = String::new();
        BufReader::new(watchdog.stdout.take().expect("piped stdout"))
            .read_line(&mut first_line)
            .expect("read the operator's pid");
        let pid = first_line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the watchdog printed no pid: {first_line:?}"));
        Operator {
            watchdog: Mutex::new(watchdog),
            pid,
            metrics_url: format!("http://127.0.0.1:{metrics_port}/metrics"),
            readyz_url: format!("http://127.0.0.1:{health_port}/readyz"),
            healthz_url: format!("http://127.0.0.1:{health_port}/healthz"),
            log,
        }
    }
}

/// A running `wardops run`, stopped with SIGTERM when dropped.
pub struct Operator {
    watchdog: Mutex<Child>,
    pid: u32,
    /// `http://127.0.0.1:PORT/metrics`.
    pub metrics_url: String,
    /// `http://127.0.0.1:PORT/readyz`.
    pub readyz_url: String,
    /// `http://127.0.0.1:PORT/healthz`.
    pub healthz_url: String,
    /// Its log file.
    pub log: PathBuf,
}

impl Operator {
    /// Process id of `wardops run` itself (e.g. to read its memory in /proc).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The operator's exit status, once it has exited.
    pub fn exited(&self) -> Option<ExitStatus> {
        let mut watchdog = self.watchdog.lock().unwrap_or_else(|e| e.into_inner());
        watchdog.try_wait().expect("wait for the watchdog")
    }

    /// Fails when the operator has exited, with the tail of its log.
    pub fn alive(&self) -> Result<()> {
        match self.exited() {
            None => Ok(()),
            Some(status) => Err(anyhow!(
                "wardops run exited ({status}); log {}:\n{}",
                self.log.display(),
                self.log_tail()
            )),
        }
    }

    /// The last 40 lines of its log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Waits until `/readyz` answers 200; fails at once if the operator exits.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<()> {
        wait_for(&format!("{} ready", self.readyz_url), timeout, || async {
            if let Some(status) = self.exited() {
                panic!("wardops run exited ({status}):\n{}", self.log_tail());
            }
            Ok(http_get(&self.readyz_url)
                .is_some_and(|(code, _)| code == 200)
                .then_some(()))
        })
        .await
        .map_err(|e| anyhow!("{e:#}\noperator log:\n{}", self.log_tail()))
    }

    /// The `/metrics` text; `Err` unless it answers 200.
    pub fn metrics(&self) -> Result<String> {
        match http_get(&self.metrics_url) {
            Some((200, body)) => Ok(body),
            Some((code, _)) => bail!("{} answered {code}", self.metrics_url),
            None => bail!("{} did not answer", self.metrics_url),
        }
    }

    /// The value of one series, e.g. `wardops_leader` or
    /// `wardops_reconciles_total{kind="WardService"}`: `Ok(None)` when it
    /// has no sample, `Err` when the metrics are not served.
    pub fn metric(&self, series: &str) -> Result<Option<f64>> {
        Ok(self
            .metrics()?
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok()))
    }

    /// Sends a signal to the operator (not its watchdog), e.g. `-KILL`.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([signal, &self.pid.to_string()])
            .status()
            .expect("run kill");
        assert!(ok.success(), "kill {signal} {} failed", self.pid);
    }

    /// Waits for the operator to exit: its exit code and how long it took.
    pub async fn wait_exit(&self, timeout: Duration) -> Result<(Option<i32>, Duration)> {
        let start = Instant::now();
        let status = wait_for("the operator to exit", timeout, || async {
            Ok(self.exited())
        })
        .await
        .map_err(|e| anyhow!("{e:#}\noperator log:\n{}", self.log_tail()))?;
        Ok((status.code(), start.elapsed()))
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        // SIGTERM to the watchdog: it stops the operator and waits for it.
        let mut watchdog = self.watchdog.lock().unwrap_or_else(|e| e.into_inner());
        let _ = Command::new("kill")
            .args(["-TERM", &watchdog.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = watchdog.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill")
            .args(["-KILL", &self.pid.to_string()])
            .status();
        let _ = watchdog.kill();
        let _ = watchdog.wait();
    }
}

/// A free loopback port (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Where [`chart_identity_kubeconfig`] installs the chart's ServiceAccount.
pub const IDENTITY_NAMESPACE: &str = "wardops-tests-identity";

/// A kubeconfig that acts as the Helm chart's ServiceAccount, with exactly
/// the RBAC the chart grants with its default values (all namespaces): the
/// chart's `rbac.yaml` and `serviceaccount.yaml`, rendered by `helm template`
/// and applied in [`IDENTITY_NAMESPACE`], and the admin's credentials
/// impersonating that ServiceAccount (the API server then authorizes each
/// request as the ServiceAccount alone).
pub fn chart_identity_kubeconfig() -> PathBuf {
    let chart = repo_root().join("charts/wardops");
    let mut helm = tool("helm");
    helm.args(["template", "wardops"])
        .arg(&chart)
        .args(["--namespace", IDENTITY_NAMESPACE])
        .args(["--show-only", "templates/serviceaccount.yaml"])
        .args(["--show-only", "templates/rbac.yaml"]);
    let rendered = run(helm, None);
    assert!(
        rendered.success,
        "helm template failed:\n{}",
        rendered.stderr
    );
    let ns = format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{{\"name\":\"{IDENTITY_NAMESPACE}\"}}}}"
    );
    kubectl_ok(&["apply", "--server-side", "-f", "-"], Some(&ns));
    kubectl_ok(
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        Some(&rendered.stdout),
    );
    let account = serde_yaml::Deserializer::from_str(&rendered.stdout)
        .filter_map(|d| serde_yaml::Value::deserialize(d).ok())
        .find(|d| d["kind"] == "ServiceAccount")
        .and_then(|d| d["metadata"]["name"].as_str().map(str::to_string))
        .expect("the chart renders a ServiceAccount");
    let mut kc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(kubeconfig()).expect("the admin kubeconfig"))
            .expect("the admin kubeconfig is YAML");
    let user = &mut kc["users"][0]["user"];
    user["as"] = format!("system:serviceaccount:{IDENTITY_NAMESPACE}:{account}").into();
    let path = state_dir().join("kubeconfig-chart-identity");
    std::fs::write(&path, serde_yaml::to_string(&kc).expect("YAML")).expect("write the kubeconfig");
    path
}

/// The operator shared by the tests of one test binary: the Helm chart's
/// identity and RBAC only ([`chart_identity_kubeconfig`]), all namespaces,
/// JSON logs; started on first use and ready when returned.
pub async fn operator() -> &'static Operator {
    static OPERATOR: tokio::sync::OnceCell<Operator> = tokio::sync::OnceCell::const_new();
    OPERATOR
        .get_or_init(|| async {
            let binary = std::env::current_exe().ok();
            let test_name = binary
                .as_ref()
                .and_then(|p| p.file_stem())
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "tests".into());
            // The CRDs of this tree, whichever test binary runs first.
            crate::install_crds();
            let op = OperatorBuilder::new(&test_name)
                .kubeconfig(chart_identity_kubeconfig())
                .args([
                    "--leader-election=false",
                    "--log-format=json",
                    "--log-level=info,wardops=debug",
                ])
                .start();
            if let Err(e) = op.wait_ready(Duration::from_secs(60)).await {
                panic!("the shared operator did not become ready: {e:#}");
            }
            op
        })
        .await
}
