//! `kubectl wardops`: the day-2 commands of city and ward IT, in the same
//! binary. Installed as `kubectl-wardops` (a link to, or a copy of,
//! `wardops`) kubectl finds it on `PATH`; `wardops kubectl ...` is the same.
//!
//! - `status`: one view of a city, what needs attention first;
//! - `backup now`, `snapshots`, `restore`: a BackupPolicy's day-2 actions;
//! - `sync now`: a sync DataConnector's pull, at once;
//! - `explain-reason`: the runbook entry of a condition reason (EN/VI);
//! - `completion`: shell completion, with resource names from the cluster.
//!
//! Every command talks to the cluster as the user (`--kubeconfig`,
//! `--context`, `-n` as kubectl), and says which permission is missing when
//! the API server refuses.

pub mod actions;
pub mod complete;
pub mod explain;
pub mod kube;
pub mod status;

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

pub use self::kube::CliError;

/// The plugin's name on `PATH`.
pub const PLUGIN_BINARY: &str = "kubectl-wardops";
/// The name kubectl runs for the plugin's shell completion.
pub const COMPLETE_BINARY: &str = "kubectl_complete-wardops";

/// How the binary was called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `kubectl wardops ...`.
    Plugin,
    /// `kubectl_complete-wardops ARGS... PARTIAL` (kubectl's completion).
    KubectlComplete,
}

/// The plugin mode the binary was called in, from `argv[0]`'s file name.
pub fn invoked_as(argv0: &OsStr) -> Option<Mode> {
    let name = std::path::Path::new(argv0).file_name()?.to_str()?;
    let name = name.strip_suffix(".exe").unwrap_or(name);
    match name {
        PLUGIN_BINARY => Some(Mode::Plugin),
        COMPLETE_BINARY => Some(Mode::KubectlComplete),
        _ => None,
    }
}

/// `kubectl wardops`: day-2 commands for WardServices, DataConnectors,
/// BackupPolicies and Restores.
#[derive(Parser, Debug)]
#[command(name = "kubectl wardops", bin_name = "kubectl wardops", version = crate::VERSION)]
pub struct Plugin {
    #[command(flatten)]
    pub kube: KubeArgs,
    #[command(subcommand)]
    pub command: PluginCommand,
}

/// The cluster to talk to, as kubectl takes it.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct KubeArgs {
    /// Path to the kubeconfig file (default: `KUBECONFIG`, then `~/.kube/config`).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The namespace (default: the context's, else `default`).
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
}

/// Output formats.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Table,
    Json,
    Yaml,
}

/// Languages of `explain-reason`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Vi,
}

/// Shells of `completion`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Subcommand, Debug)]
pub enum PluginCommand {
    /// One view of the city: each WardService with its connectors and
    /// backups, what needs attention first.
    Status {
        /// Every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Format,
    },
    /// A BackupPolicy's backups.
    Backup {
        #[command(subcommand)]
        command: BackupCommand,
    },
    /// A BackupPolicy's snapshots: the last of each target and those the
    /// kept backup Jobs reported; `--from-repository` lists the repository.
    Snapshots {
        /// The BackupPolicy.
        policy: String,
        /// Only this target WardService.
        #[arg(long, value_name = "WARD")]
        target: Option<String>,
        /// List the repository itself, through a short-lived Job.
        #[arg(long)]
        from_repository: bool,
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Format,
    },
    /// Restores a ward's data from a BackupPolicy's snapshot (a Restore),
    /// and follows it until it ends.
    Restore {
        /// The BackupPolicy.
        policy: String,
        /// The WardService whose data is restored.
        #[arg(long, value_name = "WARD")]
        ward: String,
        /// `latest` or a snapshot id.
        #[arg(long, value_name = "ID", default_value = "latest")]
        snapshot: String,
        /// Restore into this new PersistentVolumeClaim (for inspection)
        /// instead of in place.
        #[arg(long, value_name = "CLAIM")]
        into_claim: Option<String>,
        /// Create the Restore and return without following it.
        #[arg(long)]
        no_wait: bool,
    },
    /// A sync DataConnector's pulls.
    Sync {
        #[command(subcommand)]
        command: SyncCommand,
    },
    /// The runbook entry of a condition reason (e.g. `SecretMissing`).
    ExplainReason {
        /// The reason, as `kubectl get` shows it.
        reason: String,
        /// Language (default: from `LANG`: `vi*` is Vietnamese).
        #[arg(long, value_enum)]
        lang: Option<Lang>,
    },
    /// Prints a shell completion script (with resource names from the cluster).
    Completion {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Completion candidates for the words after `kubectl wardops` (the last
    /// one partial), one per line: what the completion scripts call.
    #[command(name = "__complete", hide = true)]
    Complete {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        words: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum BackupCommand {
    /// Starts a backup of the policy's targets at once (or of one target).
    Now {
        /// The BackupPolicy.
        policy: String,
        /// Only this target WardService.
        #[arg(long, value_name = "WARD")]
        target: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum SyncCommand {
    /// Starts a pull of a sync DataConnector at once.
    Now {
        /// The DataConnector.
        connector: String,
    },
}

/// Runs the plugin with `args` (without the program name); prints errors.
pub fn main(mode: Mode, args: Vec<OsString>) -> ExitCode {
    if mode == Mode::KubectlComplete {
        let words = args
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>();
        return run_async(complete::kubectl(words));
    }
    let mut argv = vec![OsString::from("kubectl wardops")];
    argv.extend(args);
    let plugin = match Plugin::try_parse_from(argv) {
        Ok(p) => p,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    run_async(run(plugin))
}

fn run_async(f: impl std::future::Future<Output = Result<(), CliError>>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(f) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(plugin: Plugin) -> Result<(), CliError> {
    let k = &plugin.kube;
    match plugin.command {
        PluginCommand::Status {
            all_namespaces,
            output,
        } => status::run(k, all_namespaces, output).await,
        PluginCommand::Backup {
            command: BackupCommand::Now { policy, target },
        } => actions::backup_now(k, &policy, target.as_deref()).await,
        PluginCommand::Snapshots {
            policy,
            target,
            from_repository,
            output,
        } => actions::snapshots(k, &policy, target.as_deref(), from_repository, output).await,
        PluginCommand::Restore {
            policy,
            ward,
            snapshot,
            into_claim,
            no_wait,
        } => {
            let request = actions::RestoreRequest {
                policy,
                ward,
                snapshot,
                into_claim,
                wait: !no_wait,
            };
            actions::restore(k, request).await
        }
        PluginCommand::Sync {
            command: SyncCommand::Now { connector },
        } => actions::sync_now(k, &connector).await,
        PluginCommand::ExplainReason { reason, lang } => {
            let lang = lang.unwrap_or_else(explain::lang_from_env);
            let text = explain::explain(&reason, lang)?;
            print!("{text}");
            Ok(())
        }
        PluginCommand::Completion { shell } => {
            print!("{}", complete::script(shell));
            Ok(())
        }
        PluginCommand::Complete { words } => {
            for c in complete::candidates(k, &words).await {
                println!("{c}");
            }
            Ok(())
        }
    }
}
