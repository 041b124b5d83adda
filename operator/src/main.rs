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
    /// Prints the version.
    Version,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(settings) => {
            wardops::runtime::init_logging(settings.log_format, &settings.log_level)?;
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
                std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
            }
        }
        Command::Version => println!("wardops {}", wardops::VERSION),
    }
    Ok(())
}
