//! `rewind`: the command-line front end.
//!
//! Every subcommand runs with no arguments on a built-in default problem
//! (the ns2d periodic flow of `docs/specs/ns2d-periodic.md`, size S),
//! takes a TOML configuration (`--config`, keys documented in
//! `configs/default.toml`) and flags that override it, prints its figures
//! as text or as one JSON object (`--json`), and shows progress bars on a
//! terminal. Errors are printed as one line and exit with status 1.

#![forbid(unsafe_code)]

mod assimilate;
mod common;
mod config;
mod demo;
mod grad;
mod hessian;
mod memory;
mod models;
mod optimize;
mod ranks;
mod run;
mod schedule;
mod spec;
mod tradeoff;

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
    /// The main job: a checked gradient and HVP through a checkpointed
    /// simulation, then the inverse problem solved with L-BFGS and Newton-CG.
    Demo(demo::Args),
    /// A forward simulation; writes the vorticity over time (HDF5 + XDMF) and a plot.
    Run(run::Args),
    /// The gradient of the ns2d objective under a checkpoint schedule, with its cost.
    Grad(grad::Args),
    /// A Hessian-vector product (forward-over-reverse) under a checkpoint schedule.
    Hvp(grad::Args),
    /// Recover an initial vorticity from sparse noisy observations; resumable.
    Optimize(optimize::Args),
    /// The flagship twin experiment at 64²: L-BFGS, Newton-CG on
    /// Gauss–Newton products and incremental 4D-Var with a background
    /// covariance, the posterior, pictures.
    Assimilate(assimilate::Args),
    /// Generate a checkpoint schedule, print what it costs and draw it.
    Schedule(schedule::Args),
    /// Gradient time and peak memory under a range of schedules: table and plot.
    Tradeoff(tradeoff::Args),
    /// Run a benchmark problem of `docs/specs` and print its figures as JSON.
    Spec(spec::Args),
    /// The dominant eigenvalues of the prior-preconditioned Gauss–Newton
    /// Hessian and the posterior's pointwise standard deviation.
    Hessian(hessian::Args),
    /// List the models (`--sim NAME` of run, grad, hvp, optimize, tradeoff).
    Sims {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let ensemble = match ranks::init() {
        Ok(e) => e,
        Err(e) => {
            say_error(&e);
            std::process::exit(1);
        }
    };
    let result = run(cli.command, &ensemble);
    let root = ensemble.is_root();
    // finalises MPI: `exit` below would skip it
    drop(ensemble);
    if let Err(e) = result {
        // an ensemble's failure is reported alike on every rank: rank 0 says
        // it; an error of this rank alone is said by this rank
        let shared = e.chain().any(|c| {
            c.downcast_ref::<rewind_sim::SimError>().is_some_and(is_ensemble)
                || c.is::<rewind_ensemble::EnsembleError>()
        });
        if root || !shared {
            say_error(&e);
        }
        std::process::exit(1);
    }
}

/// The one error line, written by a single `write` call: under mpirun,
/// stderr is forwarded in the chunks it was written in, and `eprintln!`
/// writes a formatted message piece by piece, so mpirun's own notice of the
/// failed rank could land inside the line.
fn say_error(e: &anyhow::Error) {
    use std::io::Write;
    let line = format!("rewind: error: {e:#}\n");
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(line.as_bytes());
    let _ = err.flush();
}

fn is_ensemble(e: &rewind_sim::SimError) -> bool {
    matches!(e, rewind_sim::SimError::Ensemble(_))
}

fn run(command: Command, ensemble: &rewind_sim::Ensemble) -> anyhow::Result<()> {
    let spread = match &command {
        Command::Hessian(_) | Command::Tradeoff(_) | Command::Spec(_) => true,
        Command::Optimize(a) => a.members > 1,
        _ => false,
    };
    if ensemble.size() > 1 && !spread {
        // nothing independent to spread: rank 0 runs it, the others wait
        if !ensemble.is_root() {
            return Ok(());
        }
        eprintln!(
            "rewind: this subcommand has no independent work to spread over {} ranks; rank 0 runs it alone (hessian, tradeoff, optimize --members and spec --hvp-ensemble spread theirs)",
            ensemble.size()
        );
    }
    match command {
        Command::Demo(a) => demo::main(&a),
        Command::Run(a) => run::main(&a),
        Command::Grad(a) => grad::main(&a, false),
        Command::Hvp(a) => grad::main(&a, true),
        Command::Optimize(a) => optimize::main(&a, ensemble),
        Command::Assimilate(a) => assimilate::main(&a),
        Command::Hessian(a) => crate::models::hessian(&a.common, &a.settings, ensemble),
        Command::Schedule(a) => schedule::main(&a),
        Command::Tradeoff(a) => tradeoff::main(&a, ensemble),
        Command::Spec(a) => spec::main(&a, ensemble),
        Command::Sims { json } => models::list(json),
    }
}
