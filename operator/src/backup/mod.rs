//! `wardops backup | restore | forget | snapshots`: the programs a
//! BackupPolicy's and a Restore's Jobs run (`snapshots`: the Job `kubectl
//! wardops snapshots --from-repository` starts). They drive restic with flags built here, read every
//! credential from mounted files, and report one JSON line (stdout and the
//! container's termination message) that the controllers read into status.
//!
//! One file per step: [`settings`] (restic's environment from mounted files),
//! [`args`] (restic's argument lists), [`output`] (restic's `--json` lines),
//! [`error`] (bounded failure categories), [`process`] (running restic,
//! stopping it on SIGTERM), [`report`] (the result line), [`cli`] (the
//! subcommands, step by step).

pub mod args;
pub mod cli;
pub mod error;
pub mod output;
pub mod process;
pub mod report;
pub mod settings;
