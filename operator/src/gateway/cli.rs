//! `wardops gateway [--config FILE] [--data-dir DIR]` and
//! `wardops gateway sync --config FILE --data-dir DIR`.

use std::path::PathBuf;

use super::config::{ConfigError, GatewayConfig};
use super::log::Log;
use super::sync::{SyncResult, write_termination_log};
use super::{ServeError, ServeOptions};

/// Worker threads: the gateway is I/O bound; a fixed small number keeps its
/// memory the same on any node.
const WORKER_THREADS: usize = 2;

/// Runs a DataConnector's gateway.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct GatewayArgs {
    /// Pull the datasets into a new snapshot (sync mode) instead of serving.
    #[command(subcommand)]
    pub command: Option<GatewayCommand>,

    /// The gateway configuration (JSON or YAML), as the DataConnector
    /// controller writes it into the connector's ConfigMap.
    #[arg(long, value_name = "FILE", required = true)]
    pub config: Option<PathBuf>,

    /// Sync mode: the volume `wardops gateway sync` writes to; the gateway
    /// serves `<DIR>/current/<dataset>`.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Subcommands of `wardops gateway`.
#[derive(clap::Subcommand, Debug)]
pub enum GatewayCommand {
    /// Pulls every allowed dataset into `<DIR>/snapshots/<time>/` and, when
    /// all succeeded, points `<DIR>/current` at it. Prints a one-line JSON
    /// result (also the termination message); exits non-zero on failure.
    Sync(SyncArgs),
}

/// Arguments of `wardops gateway sync`.
#[derive(clap::Args, Debug)]
pub struct SyncArgs {
    /// The gateway configuration (JSON or YAML).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,

    /// The volume shared with the gateway.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,

    /// Where the result line is also written, when writable (Kubernetes
    /// shows it as the container's termination message).
    #[arg(long, value_name = "FILE", default_value = "/dev/termination-log")]
    pub termination_log: PathBuf,
}

/// Why `wardops gateway` failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The configuration cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The async runtime cannot start.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// The gateway cannot serve.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// The pull failed (the result line says why).
    #[error("sync failed: {0}")]
    SyncFailed(String),
    /// `--config` is missing (clap requires it; kept for library callers).
    #[error("--config is required")]
    NoConfig,
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .max_blocking_threads(16)
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
}

impl GatewayArgs {
    /// Runs the gateway (until SIGTERM) or the sync.
    pub fn run(self) -> Result<(), CliError> {
        match self.command {
            Some(GatewayCommand::Sync(args)) => args.run(),
            None => {
                let path = self.config.ok_or(CliError::NoConfig)?;
                let config = GatewayConfig::from_file(&path)?;
                let options = ServeOptions {
                    data_dir: self.data_dir,
                    log: Log::stdout(),
                };
                let log = options.log.clone();
                runtime()?.block_on(async move {
                    let gateway = super::Gateway::bind(config, options).await?;
                    log.event(
                        "info",
                        &format!(
                            "gateway listening on {} (admin {})",
                            gateway.addr(),
                            gateway.admin_addr()
                        ),
                        None,
                    );
                    gateway.run(super::termination()).await?;
                    log.event("info", "gateway stopped", None);
                    Ok(())
                })
            }
        }
    }
}

impl SyncArgs {
    /// Pulls, prints the result line, writes the termination log.
    pub fn run(self) -> Result<(), CliError> {
        let result = match GatewayConfig::from_file(&self.config) {
            Ok(config) => {
                let dir = self.data_dir.clone();
                runtime()?.block_on(super::sync::pull(config, &dir, Log::stderr()))
            }
            Err(e) => {
                let line = SyncResult::Failed {
                    time: super::log::now_rfc3339(),
                    error: crate::error_chain(&e),
                }
                .to_line();
                println!("{line}");
                write_termination_log(&self.termination_log, &line);
                return Err(e.into());
            }
        };
        let line = SyncResult::of(&result).to_line();
        println!("{line}");
        write_termination_log(&self.termination_log, &line);
        match result {
            Ok(_) => Ok(()),
            Err(e) => Err(CliError::SyncFailed(crate::error_chain(&e))),
        }
    }
}
