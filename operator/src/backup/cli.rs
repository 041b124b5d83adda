//! `wardops backup`, `wardops forget`, `wardops restore`, `wardops
//! snapshots`: each a short pipeline of restic runs, ending in one JSON
//! result line.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::args::{self, Retention, Scope};
use super::error::{Failure, Reason, advice, bounded, classify, redact};
use super::output::{self, BackupSummary, RestoreSummary};
use super::process::{self, Finished, Stop};
use super::report::{
    BackupResult, FailedResult, ForgetResult, Outcome, RestoreResult, SnapshotEntry,
    SnapshotsResult, emit,
};
use super::settings::{self, Env, Repository};

/// Backend retries tolerated while opening the repository (restic waits
/// about 0.5 s, then doubling, between them).
const PROBE_RETRIES: usize = 3;

/// The repository and the target's scope, shared by the subcommands.
#[derive(clap::Args, Debug, Clone)]
pub struct RepositoryArgs {
    /// The restic repository: a local path, or a URL such as
    /// `s3:https://s3.example/bucket/prefix`.
    #[arg(long, env = "RESTIC_REPOSITORY", value_name = "URL")]
    pub repository: String,
    /// File holding the repository password (the encryption key Secret, mounted).
    #[arg(long, env = "RESTIC_PASSWORD_FILE", value_name = "FILE")]
    pub password_file: PathBuf,
    /// Directory with the files `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`
    /// (the S3 credentials Secret, mounted).
    #[arg(long, value_name = "DIR")]
    pub s3_credentials_dir: Option<PathBuf>,
    /// The target's host name in the repository (one per WardService).
    #[arg(long)]
    pub host: String,
    /// The tag of every snapshot of this target.
    #[arg(long)]
    pub tag: String,
    /// The restic binary.
    #[arg(
        long,
        env = "WARDOPS_RESTIC",
        value_name = "FILE",
        default_value = "restic"
    )]
    pub restic: PathBuf,
    /// Where the result line is also written, when writable (Kubernetes
    /// shows it as the container's termination message).
    #[arg(long, value_name = "FILE", default_value = "/dev/termination-log")]
    pub termination_log: PathBuf,
}

/// Arguments of `wardops backup`.
#[derive(clap::Args, Debug, Clone)]
pub struct BackupArgs {
    #[command(flatten)]
    pub repo: RepositoryArgs,
    /// The directory to back up (the ward's volume, mounted read-only); the
    /// snapshot holds its contents at its root.
    #[arg(long, value_name = "DIR")]
    pub source: PathBuf,
    /// The snapshot's time instead of now (`YYYY-MM-DD hh:mm:ss`): for imports and tests.
    #[arg(long, value_name = "TIME")]
    pub time: Option<String>,
}

/// Arguments of `wardops forget`.
#[derive(clap::Args, Debug, Clone)]
pub struct ForgetArgs {
    #[command(flatten)]
    pub repo: RepositoryArgs,
    /// Snapshots kept, newest first; at least 1 whatever is given.
    #[arg(long, default_value_t = 1)]
    pub keep_last: u32,
    /// One snapshot kept per day, for this many days with snapshots.
    #[arg(long, default_value_t = 0)]
    pub keep_daily: u32,
    /// One per week, for this many weeks.
    #[arg(long, default_value_t = 0)]
    pub keep_weekly: u32,
    /// One per month, for this many months.
    #[arg(long, default_value_t = 0)]
    pub keep_monthly: u32,
}

/// Arguments of `wardops restore`.
#[derive(clap::Args, Debug, Clone)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub repo: RepositoryArgs,
    /// `latest` (of this host and tag) or a snapshot id.
    #[arg(long, default_value = "latest")]
    pub snapshot: String,
    /// The directory the snapshot's contents are written into.
    #[arg(long, value_name = "DIR")]
    pub target: PathBuf,
}

/// Arguments of `wardops snapshots`.
#[derive(clap::Args, Debug, Clone)]
pub struct SnapshotsArgs {
    #[command(flatten)]
    pub repo: RepositoryArgs,
}

/// Runs `wardops backup`; prints the result line; true when it succeeded.
pub fn backup(args: &BackupArgs) -> bool {
    finish(block_on(backup_steps(args)), &args.repo.termination_log)
}

/// Runs `wardops forget`; prints the result line; true when it succeeded.
pub fn forget(args: &ForgetArgs) -> bool {
    finish(block_on(forget_steps(args)), &args.repo.termination_log)
}

/// Runs `wardops restore`; prints the result line; true when it succeeded.
pub fn restore(args: &RestoreArgs) -> bool {
    finish(block_on(restore_steps(args)), &args.repo.termination_log)
}

/// Runs `wardops snapshots`; prints the result line; true when it succeeded.
pub fn snapshots(args: &SnapshotsArgs) -> bool {
    finish(block_on(snapshots_steps(args)), &args.repo.termination_log)
}

fn finish<T: serde::Serialize>(result: Result<T, Failure>, log: &Path) -> bool {
    match result {
        Ok(r) => {
            emit(&r, log);
            true
        }
        Err(f) => {
            emit(&FailedResult::from(f), log);
            false
        }
    }
}

fn block_on<T>(steps: impl std::future::Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(Reason::ResticFailed, format!("starting the runtime: {e}")))?
        .block_on(steps)
}

/// restic, its environment, the secrets to keep out of messages, and the
/// stop signal.
struct Session {
    restic: PathBuf,
    env: Env,
    secrets: Vec<String>,
    stop: Stop,
    scope: Scope,
}

impl Session {
    fn open(repo: &RepositoryArgs) -> Result<Self, Failure> {
        let stop = Stop::listen().map_err(|e| {
            Failure::new(Reason::ResticFailed, format!("listening for SIGTERM: {e}"))
        })?;
        let password = settings::read_secret_file(&repo.password_file, "repository password")?;
        let s3 = repo
            .s3_credentials_dir
            .as_deref()
            .map(settings::read_s3_credentials)
            .transpose()?;
        let mut secrets = vec![password];
        if let Some(c) = &s3 {
            secrets.extend([c.secret_access_key.clone(), c.access_key_id.clone()]);
        }
        let repository = Repository {
            url: repo.repository.clone(),
            password_file: repo.password_file.clone(),
        };
        Ok(Session {
            restic: repo.restic.clone(),
            env: settings::restic_env(&repository, s3.as_ref()),
            secrets,
            stop,
            scope: Scope {
                host: repo.host.clone(),
                tag: repo.tag.clone(),
            },
        })
    }

    async fn run(&mut self, args: &[String], cwd: Option<&Path>) -> Result<Finished, Failure> {
        process::run(&self.restic, args, &self.env, cwd, &mut self.stop, None).await
    }

    /// Runs restic, giving up after a few retries while it opens the
    /// repository: an unreachable server or a missing bucket answers now, not
    /// after restic's 15 minutes.
    async fn run_opening(
        &mut self,
        args: &[String],
        cwd: Option<&Path>,
    ) -> Result<Finished, Failure> {
        process::run(
            &self.restic,
            args,
            &self.env,
            cwd,
            &mut self.stop,
            Some(PROBE_RETRIES),
        )
        .await
    }

    /// Runs a step; a failure becomes its category and a clean message.
    async fn step(
        &mut self,
        what: &str,
        args: &[String],
        cwd: Option<&Path>,
    ) -> Result<Finished, Failure> {
        let done = self.run(args, cwd).await?;
        if done.success() {
            Ok(done)
        } else {
            Err(self.failure(what, &done))
        }
    }

    fn failure(&self, what: &str, done: &Finished) -> Failure {
        let text = output::error_text(&done.stderr);
        let reason = if done.interrupted {
            Reason::Interrupted
        } else if done.gave_up {
            classify(Some(1), &text)
        } else {
            classify(done.code, &text)
        };
        let detail = if text.is_empty() {
            match done.code {
                Some(c) => format!("restic exited with code {c}"),
                None => "restic was stopped by a signal".to_owned(),
            }
        } else {
            text
        };
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        let message = redact(&format!("{what}: {}: {detail}", advice(reason)), &secrets);
        Failure::new(reason, bounded(message))
    }
}

async fn backup_steps(args: &BackupArgs) -> Result<BackupResult, Failure> {
    let started = Instant::now();
    if !args.source.is_dir() {
        return Err(Failure::new(
            Reason::SourceMissing,
            format!(
                "the source directory {} does not exist; is the ward's volume mounted there?",
                args.source.display()
            ),
        ));
    }
    let mut s = Session::open(&args.repo)?;
    // Straight to the backup (opening the repository once: its key
    // derivation is most of a small backup's time). A repository that does
    // not exist yet is created on the first backup, which then runs again;
    // any other failure to open it (password, network) stops with its own
    // category.
    let backup = args::backup(&s.scope, args.time.as_deref());
    let mut run = s.run_opening(&backup, Some(&args.source)).await?;
    if !run.success() {
        let failure = s.failure("backing up", &run);
        if failure.reason != Reason::RepositoryMissing {
            return Err(failure);
        }
        s.step("creating the repository", &args::init(), None)
            .await?;
        run = s.run_opening(&backup, Some(&args.source)).await?;
        if !run.success() {
            return Err(s.failure("backing up", &run));
        }
    }
    let summary: BackupSummary = output::summary(&run.stdout).ok_or_else(|| {
        Failure::new(
            Reason::ResticFailed,
            "restic backup printed no summary line",
        )
    })?;
    Ok(BackupResult {
        result: Outcome::Succeeded,
        snapshot_id: summary.snapshot_id.unwrap_or_default(),
        files_new: summary.files_new,
        files_changed: summary.files_changed,
        files_unmodified: summary.files_unmodified,
        bytes_added: summary.data_added,
        bytes_processed: summary.total_bytes_processed,
        duration_seconds: seconds(started),
    })
}

async fn forget_steps(args: &ForgetArgs) -> Result<ForgetResult, Failure> {
    let started = Instant::now();
    let mut s = Session::open(&args.repo)?;
    let keep = Retention {
        keep_last: args.keep_last,
        keep_daily: args.keep_daily,
        keep_weekly: args.keep_weekly,
        keep_monthly: args.keep_monthly,
    };
    let done = s
        .step("forgetting snapshots", &args::forget(&s.scope, keep), None)
        .await?;
    let (kept, removed) = output::forget(&done.stdout).map_err(|e| {
        Failure::new(
            Reason::ResticFailed,
            format!("reading restic forget's output: {e}"),
        )
    })?;
    if !removed.is_empty() {
        s.step("pruning unreferenced data", &args::prune(), None)
            .await?;
    }
    Ok(ForgetResult {
        result: Outcome::Succeeded,
        kept,
        removed,
        duration_seconds: seconds(started),
    })
}

async fn restore_steps(args: &RestoreArgs) -> Result<RestoreResult, Failure> {
    let started = Instant::now();
    std::fs::create_dir_all(&args.target).map_err(|e| {
        Failure::new(
            Reason::TargetInvalid,
            format!(
                "cannot create the restore target {}: {e}",
                args.target.display()
            ),
        )
    })?;
    let mut s = Session::open(&args.repo)?;
    let listed = s
        .step(
            "finding the snapshot",
            &args::snapshots(&s.scope, &args.snapshot),
            None,
        )
        .await?;
    let snapshots = output::snapshots(&listed.stdout).map_err(|e| {
        Failure::new(
            Reason::ResticFailed,
            format!("reading restic snapshots' output: {e}"),
        )
    })?;
    let Some(snapshot) = snapshots.last() else {
        return Err(Failure::new(
            Reason::SnapshotNotFound,
            format!(
                "no snapshot `{}` for host {} and tag {}",
                args.snapshot, s.scope.host, s.scope.tag
            ),
        ));
    };
    let id = snapshot.id.clone();
    let done = s
        .step("restoring", &args::restore(&id, &args.target), None)
        .await?;
    let summary: Option<RestoreSummary> = output::summary(&done.stdout);
    Ok(RestoreResult {
        result: Outcome::Succeeded,
        snapshot_id: id,
        files_restored: summary.as_ref().map_or(0, |s| s.files_restored),
        bytes_restored: summary.as_ref().map_or(0, |s| s.bytes_restored),
        duration_seconds: seconds(started),
    })
}

async fn snapshots_steps(args: &SnapshotsArgs) -> Result<SnapshotsResult, Failure> {
    let mut s = Session::open(&args.repo)?;
    // The first contact with the repository: an unreachable server answers now.
    let listed = s.run_opening(&args::snapshots_all(&s.scope), None).await?;
    if !listed.success() {
        return Err(s.failure("listing snapshots", &listed));
    }
    let snapshots = output::snapshots(&listed.stdout).map_err(|e| {
        Failure::new(
            Reason::ResticFailed,
            format!("reading restic snapshots' output: {e}"),
        )
    })?;
    let entries = output::newest_first(snapshots)
        .into_iter()
        .map(|sn| SnapshotEntry {
            id: sn.id,
            time: sn.time,
            host: sn.hostname,
            tags: sn.tags,
        })
        .collect();
    Ok(SnapshotsResult::newest_that_fit(entries))
}

/// Seconds since `t`, to the millisecond.
fn seconds(t: Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 1000.0).round() / 1000.0
}
