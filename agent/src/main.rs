//! `srv6-agent`: arguments only; the work is in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use agent::config::Config;

/// Steer an application's traffic along SRv6 paths chosen by intent.
///
/// A client agent inserts a Segment Routing Header into the packets of
/// configured applications (destination address + port), with SID lists
/// from a controller (controller mode) or from its configuration
/// (standalone mode); a server agent sends replies back along the reversed
/// path. Both attach eBPF programs to one interface and keep their maps
/// current; `status` shows what a running agent does.
#[derive(Debug, Parser)]
#[command(version, propagate_version = true)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a client configuration file and say what it configures.
    ///
    /// Every problem is printed as FILE:LINE:COLUMN: FIELD: MESSAGE; the exit
    /// code is 1 when there is any.
    CheckConfig {
        /// The configuration file (YAML, the original hawkwing format).
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.command {
        Command::CheckConfig { file } => check_config(&file),
    }
}

fn check_config(file: &std::path::Path) -> ExitCode {
    match Config::load(file) {
        Ok(config) => {
            for warning in &config.warnings {
                eprintln!("warning: {warning}");
            }
            println!("{}: ok: {}", file.display(), config.summary());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}
