//! `rewind`: the command-line front end.
//!
//! Subcommands so far: `schedule` (print a checkpoint schedule's counts, or
//! the comparison table of all strategies) and `spec` (run a benchmark
//! problem and print its figures as JSON). Errors are printed as one line
//! and exit with status 1.

mod schedule;
mod spec;

use clap::{Parser, Subcommand};

/// Exact gradients and Hessian-vector products through long simulations.
#[derive(Debug, Parser)]
#[command(name = "rewind", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a checkpoint schedule and print what it costs.
    Schedule(schedule::Args),
    /// Run a benchmark problem of `../shared/specs` and print its figures as JSON.
    Spec(spec::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Schedule(args) => schedule::main(&args),
        Command::Spec(args) => spec::main(&args),
    };
    if let Err(e) = result {
        eprintln!("rewind: error: {e:#}");
        std::process::exit(1);
    }
}
