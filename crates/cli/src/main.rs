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
mod fwi;
mod grad;
mod hessian;
mod inverse;
mod memory;
mod models;
mod optimize;
mod ranks;
mod run;
mod schedule;
mod spec;
mod tradeoff;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

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
    /// Full-waveform inversion of a 3D velocity anomaly from several shots
    /// recorded on a plane of receivers: L-BFGS and Gauss–Newton through
    /// checkpointed adjoints, pictures.
    Fwi(fwi::Args),
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

/// The command line's grammar: every value that is not a path may start
/// with `-`, so that `--memory -5GiB` or `--n -3` are refused for their
/// value, not taken for an unknown flag `-5`.
fn grammar() -> clap::Command {
    let values = |a: clap::Arg| {
        let path = a.get_value_parser().type_id() == std::any::TypeId::of::<std::path::PathBuf>();
        if a.get_action().takes_values() && !path { a.allow_hyphen_values(true) } else { a }
    };
    Cli::command().mut_subcommands(move |sc| sc.mut_args(values))
}

/// The command line, or its error as the one line every error is: exit 1;
/// `--help` and `--version` print as usual.
fn parse() -> Cli {
    use clap::error::ErrorKind;
    let parsed = grammar().try_get_matches().and_then(|m| Cli::from_arg_matches(&m));
    match parsed {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => e.exit(),
        Err(e) => {
            say_error(&anyhow::anyhow!(parse_error_line(&e)));
            std::process::exit(1);
        }
    }
}

/// clap's message in one line, with where to look for the right form.
fn parse_error_line(e: &clap::Error) -> String {
    use clap::error::ErrorKind;
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand || e.kind() == ErrorKind::MissingSubcommand {
        return "no subcommand given: the main job is `rewind demo`; `rewind --help` lists them all".into();
    }
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("bad command line");
    let mut line = first.strip_prefix("error: ").unwrap_or(first).to_string();
    // the choices, where clap lists them
    if let Some(choices) = text.lines().map(str::trim).find(|l| l.starts_with("[possible values:")) {
        line = format!("{line} {choices}");
    }
    // the subcommand to ask for help: the first word of the command line
    // that names one
    let names: Vec<String> = Cli::command().get_subcommands().map(|c| c.get_name().to_string()).collect();
    let help = match std::env::args().skip(1).find(|a| names.contains(a)) {
        Some(sub) => format!("rewind {sub} --help"),
        None => "rewind --help".into(),
    };
    format!("{line} (see `{help}`)")
}

/// On SIGINT, SIGTERM or SIGHUP: this process's disk snapshots and
/// half-written files are removed (its destructors will not run), one line
/// says so, and it exits with 130.
///
/// Under `mpirun` only rank 0 says it, and no rank says it after an error
/// of its own: when one rank fails, mpirun terminates the others with
/// SIGTERM, and the job's failure is already said in one line.
fn on_interrupt(places: Vec<(std::path::PathBuf, &'static str)>, root: bool) {
    let _ = ctrlc::set_handler(move || {
        // first: the work may now fail on the files removed under it, and
        // its error is not the news (`say_error` waits for this exit)
        INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
        let removed: usize = places.iter().map(|(d, prefix)| rewind_checkpoint::leftovers::remove_own(d, prefix)).sum();
        if root && !ERROR_SAID.load(std::sync::atomic::Ordering::SeqCst) {
            write_line(&format!(
                "interrupted by a signal; removed what this run left unfinished on disk ({removed} entries)"
            ));
        }
        std::process::exit(130);
    });
}

/// Whether a signal is ending this process.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process has said its error line.
static ERROR_SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Where this run may leave temporaries: the snapshot and output
/// directories of its configuration, and the working directory.
fn temporaries_of(command: &Command) -> Vec<(std::path::PathBuf, &'static str)> {
    let snapshots = "rewind-snapshots-";
    let mut places = vec![(std::env::temp_dir(), snapshots), (std::path::PathBuf::from("."), snapshots)];
    let common = match command {
        Command::Demo(a) => Some(&a.common),
        Command::Run(a) => Some(&a.common),
        Command::Grad(a) | Command::Hvp(a) => Some(&a.common),
        Command::Optimize(a) => Some(&a.common),
        Command::Hessian(a) => Some(&a.common),
        Command::Tradeoff(a) => Some(&a.common),
        Command::Assimilate(a) => {
            places.push((std::path::PathBuf::from("rewind-out/assimilate"), snapshots));
            Some(&a.common)
        }
        _ => None,
    };
    if let Some(c) = common.and_then(|c| c.config().ok()) {
        if let Some(d) = c.gradient.snapshot_dir.clone() {
            places.push((d, snapshots));
        }
        places.push((c.output.dir.clone(), snapshots));
    }
    places
}

fn main() {
    let cli = parse();
    let ensemble = match ranks::init() {
        Ok(e) => e,
        Err(e) => {
            say_error(&e);
            std::process::exit(1);
        }
    };
    on_interrupt(temporaries_of(&cli.command), ensemble.is_root());
    // a split simulation's ranks meet the same errors: every failure is
    // agreed (naming the rank and the step), every check before the work
    // is made alike on each rank
    let split = match &cli.command {
        Command::Run(a) => a.decompose,
        Command::Grad(a) | Command::Hvp(a) => a.decompose,
        _ => false,
    };
    let result = run(cli.command, &ensemble);
    let root = ensemble.is_root();
    if let Err(e) = &result {
        // an ensemble's failure is reported alike on every rank: rank 0 says
        // it; an error of this rank alone is said by this rank. Said before
        // MPI is finalised: no rank can end (and have mpirun terminate the
        // others) before rank 0 has said it
        let shared = split
            || e.chain().any(|c| {
                c.downcast_ref::<rewind_sim::SimError>().is_some_and(is_ensemble)
                    || c.is::<rewind_ensemble::EnsembleError>()
            });
        if root || !shared {
            say_error(e);
        }
    }
    // finalises MPI: `exit` below would skip it
    drop(ensemble);
    if result.is_err() {
        std::process::exit(1);
    }
}

/// The one error line, written by a single `write` call: under mpirun,
/// stderr is forwarded in the chunks it was written in, and `eprintln!`
/// writes a formatted message piece by piece, so mpirun's own notice of the
/// failed rank could land inside the line.
fn say_error(e: &anyhow::Error) {
    if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        // the signal handler says it and ends the process
        loop {
            std::thread::park();
        }
    }
    ERROR_SAID.store(true, std::sync::atomic::Ordering::SeqCst);
    write_line(&one_line(e));
}

/// `rewind: error: <text>` in a single `write` call.
fn write_line(text: &str) {
    use std::io::Write;
    let line = format!("rewind: error: {text}\n");
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(line.as_bytes());
    let _ = err.flush();
}

/// The error and its causes joined by `: `, each cause said once: a cause
/// that an error's own message already ends with (an error that shows its
/// source and also returns it as its `source()`) is not repeated, and a
/// message's lines are joined.
pub(crate) fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() || line.ends_with(&text) || line.contains(&format!("{text}: ")) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn is_ensemble(e: &rewind_sim::SimError) -> bool {
    matches!(e, rewind_sim::SimError::Ensemble(_))
}

fn run(command: Command, ensemble: &rewind_sim::Ensemble) -> anyhow::Result<()> {
    let spread = match &command {
        Command::Hessian(_) | Command::Tradeoff(_) | Command::Spec(_) => true,
        Command::Optimize(a) => a.members > 1,
        Command::Run(a) => a.decompose,
        Command::Grad(a) | Command::Hvp(a) => a.decompose,
        _ => false,
    };
    if ensemble.size() > 1 && !spread {
        // nothing independent to spread: rank 0 runs it, the others wait
        if !ensemble.is_root() {
            return Ok(());
        }
        eprintln!(
            "rewind: this subcommand has no independent work to spread over {} ranks; rank 0 runs it alone (hessian, tradeoff, optimize --members and spec --hvp-ensemble spread theirs; run, grad and hvp --decompose split one simulation)",
            ensemble.size()
        );
    }
    match command {
        Command::Demo(a) => demo::main(&a),
        Command::Run(a) => run::main(&a, ensemble),
        Command::Grad(a) => grad::main(&a, false, ensemble),
        Command::Hvp(a) => grad::main(&a, true, ensemble),
        Command::Optimize(a) => optimize::main(&a, ensemble),
        Command::Assimilate(a) => assimilate::main(&a),
        Command::Hessian(a) => hessian::main(&a.common, &a.settings, ensemble),
        Command::Schedule(a) => schedule::main(&a),
        Command::Tradeoff(a) => tradeoff::main(&a, ensemble),
        Command::Spec(a) => spec::main(&a, ensemble),
        Command::Fwi(a) => fwi::main(&a),
        Command::Sims { json } => models::list(json),
    }
}

#[cfg(test)]
mod tests {
    use super::one_line;

    /// An error that shows its source in its message and also returns it.
    #[derive(Debug)]
    struct Shows(std::io::Error);

    impl std::fmt::Display for Shows {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "snapshot file /tmp/x: {}", self.0)
        }
    }

    impl std::error::Error for Shows {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn each_cause_is_said_once_on_one_line() {
        let io = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let said = io.to_string();
        let e = anyhow::Error::new(Shows(io)).context("the gradient under binomial:3 failed");
        assert_eq!(one_line(&e), format!("the gradient under binomial:3 failed: snapshot file /tmp/x: {said}"));
        // a message of several lines becomes one
        let e = anyhow::anyhow!("HDF5 said:\n  #000: H5F.c line 1\n  unable to open");
        assert_eq!(one_line(&e), "HDF5 said: #000: H5F.c line 1 unable to open");
    }
}
