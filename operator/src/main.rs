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
    Crds,
    /// Prints the version.
    Version,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds => {
            let yaml = wardops::api::crds_yaml().context("serialising the CRDs")?;
            std::io::stdout().write_all(yaml.as_bytes())?;
        }
        Command::Version => println!("wardops {}", wardops::VERSION),
    }
    Ok(())
}
