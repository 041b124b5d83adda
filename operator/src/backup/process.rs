//! Runs restic and collects what it prints; on SIGTERM or SIGINT (the Job
//! is deleted, the node drains) asks restic to stop, so it releases its lock,
//! and reports `Interrupted`.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::Notify;

use super::error::{Failure, Reason};
use super::settings::Env;

/// How long restic gets to remove its lock after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(20);
/// Most of restic's error output kept (the end matters: the fatal line).
const MAX_STDERR: usize = 64 * 1024;

/// What one restic run printed and how it ended.
#[derive(Debug, Default)]
pub struct Finished {
    /// `None` when restic was ended by a signal.
    pub code: Option<i32>,
    /// stdout without progress (`status`) lines.
    pub stdout: String,
    pub stderr: String,
    /// wardops was asked to stop during this run.
    pub interrupted: bool,
    /// wardops stopped restic after it retried too often (see [`run`]).
    pub gave_up: bool,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.interrupted && !self.gave_up
    }
}

/// SIGTERM and SIGINT, listened to for the whole command so that a signal
/// between two restic runs is not lost.
pub struct Stop {
    term: Signal,
    int: Signal,
    pub requested: bool,
}

impl Stop {
    pub fn listen() -> std::io::Result<Self> {
        Ok(Stop {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            requested: false,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

/// What restic prints to stderr before it retries a failed backend call.
const RETRY_LINE: &str = "returned error, retrying after";

/// Runs `restic <args>` with `env`, in `cwd` when given. With `max_retries`,
/// restic is stopped once it has retried that many backend calls while
/// opening the repository: restic retries for up to 15 minutes, where opening
/// a repository should answer at once (an unreachable server, a bucket that
/// does not exist yet). The repository counts as open at restic's first
/// progress line (`backup --json`); a run that prints none is watched to its end.
pub async fn run(
    restic: &Path,
    args: &[String],
    env: &Env,
    cwd: Option<&Path>,
    stop: &mut Stop,
    max_retries: Option<usize>,
) -> Result<Finished, Failure> {
    if stop.requested {
        return Ok(Finished {
            interrupted: true,
            ..Finished::default()
        });
    }
    let mut cmd = tokio::process::Command::new(restic);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for name in &env.remove {
        cmd.env_remove(name);
    }
    for (name, value) in &env.set {
        cmd.env(name, value);
    }
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().map_err(|e| {
        Failure::new(
            Reason::ResticMissing,
            format!(
                "cannot start restic ({}): {e}; the backup image must contain restic (or pass --restic)",
                restic.display()
            ),
        )
    })?;
    let retried = Arc::new(Notify::new());
    let opened = Arc::new(AtomicBool::new(false));
    let watch = max_retries.map(|n| Watch {
        max_retries: n,
        notify: retried.clone(),
        opened: opened.clone(),
    });
    let out = tokio::spawn(collect(
        child.stdout.take(),
        usize::MAX,
        true,
        Some(opened),
        None,
    ));
    let err = tokio::spawn(collect(child.stderr.take(), MAX_STDERR, false, None, watch));

    let mut interrupted = false;
    let mut gave_up = false;
    let status = tokio::select! {
        status = child.wait() => status,
        () = retried.notified() => {
            gave_up = true;
            terminate(&child);
            wait_or_kill(&mut child).await
        }
        () = stop.recv() => {
            interrupted = true;
            stop.requested = true;
            terminate(&child);
            wait_or_kill(&mut child).await
        }
    };
    let status = status
        .map_err(|e| Failure::new(Reason::ResticFailed, format!("waiting for restic: {e}")))?;
    Ok(Finished {
        code: status.code(),
        stdout: out.await.unwrap_or_default(),
        stderr: err.await.unwrap_or_default(),
        interrupted,
        gave_up,
    })
}

async fn wait_or_kill(
    child: &mut tokio::process::Child,
) -> std::io::Result<std::process::ExitStatus> {
    match tokio::time::timeout(GRACE, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            let _ = child.start_kill();
            child.wait().await
        }
    }
}

/// SIGTERM to restic: it removes its lock and exits.
fn terminate(child: &tokio::process::Child) {
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: kill(2) on the pid of our own child, which has not been
        // reaped yet (we still hold it), so the pid cannot have been reused.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
}

/// Retry lines counted while the repository is being opened.
struct Watch {
    max_retries: usize,
    notify: Arc<Notify>,
    opened: Arc<AtomicBool>,
}

/// Reads a pipe to its end; keeps at most `max` bytes (the last ones), and
/// drops restic's progress lines when `drop_status`; sets `opened` at the
/// first progress line; with `watch`, notifies after that many retry lines
/// seen before the repository was open.
async fn collect<R: AsyncRead + Unpin>(
    pipe: Option<R>,
    max: usize,
    drop_status: bool,
    opened: Option<Arc<AtomicBool>>,
    watch: Option<Watch>,
) -> String {
    let Some(pipe) = pipe else {
        return String::new();
    };
    let mut lines = BufReader::new(pipe).lines();
    let mut text = String::new();
    let mut retries = 0;
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(w) = &watch
            && line.contains(RETRY_LINE)
            && !w.opened.load(Ordering::Relaxed)
        {
            retries += 1;
            if retries == w.max_retries {
                w.notify.notify_one();
            }
        }
        let status = line.starts_with("{\"message_type\":\"status\"");
        if status && let Some(o) = &opened {
            o.store(true, Ordering::Relaxed);
        }
        if drop_status && status {
            continue;
        }
        text.push_str(&line);
        text.push('\n');
        if text.len() > max {
            let mut cut = text.len() - max;
            while !text.is_char_boundary(cut) {
                cut += 1;
            }
            text.drain(..cut);
        }
    }
    text
}
