use std::io::Write;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// wardops: runs wards' and communes' public-service instances on the city's cloud.
#[derive(Parser, Debug)]
#[command(name = "wardops", version = wardops::VERSION, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Prints every wardops CRD as multi-document YAML (what `crds/` holds).
    Crds {
        /// Instead of printing, write one file per CRD (`<plural>.yaml`) into this directory.
        #[arg(long, value_name = "DIR")]
        write_dir: Option<std::path::PathBuf>,
    },
    /// Runs the controllers against the cluster from KUBECONFIG or the pod's
    /// service account, until SIGTERM or SIGINT.
    Run(Box<wardops::runtime::settings::RunSettings>),
    /// Prints, with no cluster, the exact child objects the operator would apply
    /// for the WardServices in a manifest (for review in CI).
    Render {
        /// Manifest file with one or more WardServices; `-` for standard input.
        #[arg(short = 'f', long = "filename", value_name = "FILE")]
        file: std::path::PathBuf,
        /// Namespace to render into; the manifest's, else `default`.
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// The same settings `wardops run` takes for the objects it builds.
        #[command(flatten)]
        settings: Box<wardops::runtime::settings::WorkloadSettings>,
    },
    /// Runs a DataConnector's gateway: the reverse proxy (or snapshot server)
    /// between a ward's pods and a city registry; `gateway sync` pulls a snapshot.
    Gateway(wardops::gateway::cli::GatewayArgs),
    /// Backs a directory up with restic (creating the repository the first
    /// time); prints a one-line JSON result, also the termination message.
    Backup(Box<wardops::backup::cli::BackupArgs>),
    /// Restores a snapshot (`latest` or an id) of one target into a directory.
    Restore(Box<wardops::backup::cli::RestoreArgs>),
    /// Applies retention to one target's snapshots (`restic forget` + `prune`);
    /// the newest snapshot is always kept.
    Forget(Box<wardops::backup::cli::ForgetArgs>),
    /// Lists one target's snapshots in the repository (newest first); prints a
    /// one-line JSON result, also the termination message.
    Snapshots(Box<wardops::backup::cli::SnapshotsArgs>),
    /// The kubectl plugin (`kubectl wardops ...`): the same commands as when
    /// this binary is installed as `kubectl-wardops`.
    #[command(
        name = "kubectl",
        disable_help_flag = true,
        disable_version_flag = true
    )]
    Kubectl {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Prints the version.
    Version,
}

/// `pow`, the one function of libm the release binary calls (tokio's
/// scheduler statistics and prometheus-client's histogram buckets, through
/// `f64::powf`), from the `libm` crate (musl's, in Rust). With it defined
/// here the linker (`--as-needed`) leaves libm.so.6 out of the release
/// binary: loading it resolved its 21 IFUNC relocations, spread over its
/// code, which left about 0.5 MiB of it resident in every operator and
/// gateway. (A debug build still loads it, for a `log2` the optimiser
/// removes.)
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[unsafe(no_mangle)]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

fn main() -> std::process::ExitCode {
    // Installed as `kubectl-wardops` (or called by kubectl's completion as
    // `kubectl_complete-wardops`): the plugin.
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(mode) = argv.first().and_then(|a| wardops::cli::invoked_as(a)) {
        return wardops::cli::main(mode, argv.split_off(1));
    }
    let cli = Cli::parse();
    if let Command::Kubectl { args } = cli.command {
        return wardops::cli::main(wardops::cli::Mode::Plugin, args);
    }
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}`: the error and its causes, `outer: inner`.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(settings) => {
            wardops::runtime::init_logging(settings.log_format, &settings.log_level)?;
            wardops::runtime::heap::one_arena();
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            rt.block_on(wardops::runtime::run(*settings))?;
        }
        Command::Crds { write_dir: None } => {
            let yaml = wardops::api::crds_yaml().context("serialising the CRDs")?;
            std::io::stdout().write_all(yaml.as_bytes())?;
        }
        Command::Crds {
            write_dir: Some(dir),
        } => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for (file, yaml) in wardops::api::crd_files().context("serialising the CRDs")? {
                let path = dir.join(file);
                std::fs::write(&path, yaml)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
        Command::Render {
            file,
            namespace,
            settings,
        } => {
            let yaml = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading standard input")?
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?
            };
            let out = wardops::render::render(&yaml, &settings, namespace.as_deref())?;
            std::io::stdout().write_all(out.as_bytes())?;
        }
        Command::Gateway(args) => args.run()?,
        Command::Backup(args) => {
            anyhow::ensure!(wardops::backup::cli::backup(&args), "backup failed");
        }
        Command::Restore(args) => {
            anyhow::ensure!(wardops::backup::cli::restore(&args), "restore failed");
        }
        Command::Forget(args) => {
            anyhow::ensure!(wardops::backup::cli::forget(&args), "forget failed");
        }
        Command::Snapshots(args) => {
            anyhow::ensure!(
                wardops::backup::cli::snapshots(&args),
                "listing snapshots failed"
            );
        }
        // Dispatched in `main`.
        Command::Kubectl { .. } => {}
        Command::Version => println!("wardops {}", wardops::VERSION),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The binary's `pow` (which `f64::powf` calls here too) against values
    /// known exactly, and tokio's and the metrics' uses.
    #[test]
    fn pow_gives_what_libm_gives() {
        assert_eq!(2f64.powf(10.0), 1024.0);
        assert_eq!(0.5f64.powf(-2.0), 4.0);
        assert_eq!(9f64.powf(0.5), 3.0);
        assert_eq!(1f64.powf(f64::NAN), 1.0);
        assert!((-8f64).powf(1.0 / 3.0).is_nan());
        assert_eq!(0f64.powf(-1.0), f64::INFINITY);
        // The metrics' buckets: 0.005 doubling.
        assert_eq!(0.005 * 2f64.powf(13.0), 40.96);
        // tokio's poll-time average: 1 - 0.9^n.
        assert!((1.0 - 0.9f64.powf(3.0) - 0.271).abs() < 1e-15);
        assert!((std::f64::consts::E.powf(2.5) - 12.182_493_960_703_473).abs() < 1e-14);
    }
}
