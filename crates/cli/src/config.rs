//! Configurations: one TOML file (every field optional, documented in
//! `configs/default.toml`) for all subcommands, overridden by flags.
//!
//! Errors name the file, the key and the value: an unknown key, a value of
//! the wrong type, and a value out of range are all reported as
//! `FILE: key `section.name` = VALUE: what is wrong`.

use std::fmt;
use std::path::{Path, PathBuf};

use rewind_checkpoint::{Plan, Strategy};
use serde::{Deserialize, Serialize};

/// Threads per core beyond which `simulation.threads` is refused (a pool of
/// 100 000 threads takes minutes to start and only slows the kernels down).
const MAX_THREADS_PER_CORE: usize = 8;

/// `(cores, most threads accepted)` on this machine.
pub(crate) fn thread_limit() -> (usize, usize) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores, MAX_THREADS_PER_CORE * cores)
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Config {
    /// The simulation (the ns2d periodic flow).
    pub(crate) simulation: Simulation,
    /// Gradients and Hessian-vector products.
    pub(crate) gradient: Gradient,
    /// Observations of the inverse problem.
    pub(crate) observations: Observations,
    /// The optimizer of the inverse problem.
    pub(crate) optimize: Optimize,
    /// Files written.
    pub(crate) output: Output,
}

/// Which initial vorticity of the spec `rewind run` starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Initial {
    /// Field A of `docs/specs/ns2d-periodic.md`.
    A,
    /// Field B.
    B,
}

/// The 2D Navier–Stokes flow of `docs/specs/ns2d-periodic.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Simulation {
    /// Grid points per side of the periodic square `[0, 2π)²`.
    pub(crate) n: usize,
    /// Time steps.
    pub(crate) steps: usize,
    /// Time step.
    pub(crate) dt: f64,
    /// Viscosity ν.
    pub(crate) nu: f64,
    /// Linear drag α.
    pub(crate) alpha: f64,
    /// Amplitude of the forcing `f = A sin 4y`.
    pub(crate) forcing: f64,
    /// Initial vorticity of `rewind run`: "A" or "B".
    pub(crate) initial: Initial,
    /// Threads for the field kernels (0: all cores).
    pub(crate) threads: usize,
}

impl Default for Simulation {
    fn default() -> Self {
        Simulation { n: 32, steps: 100, dt: 0.02, nu: 1e-3, alpha: 0.1, forcing: 0.1, initial: Initial::A, threads: 0 }
    }
}

/// Gradients and HVPs through the checkpoint driver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Gradient {
    /// Checkpoint schedule: store-all, periodic:K, binomial:S, online:S or
    /// multilevel:RAM,DISK[,WRITE_COST,READ_COST].
    pub(crate) schedule: String,
    /// Directory for the disk snapshots of multilevel schedules (default:
    /// the system's temporary directory).
    pub(crate) snapshot_dir: Option<PathBuf>,
    /// A RAM budget for the run, e.g. "2GiB" or "500MB": rewind then picks
    /// the fastest schedule that fits it (store-all, binomial or multilevel
    /// with a disk level) instead of `schedule`.
    pub(crate) memory: Option<String>,
    /// Relative step of the finite-difference checks (`--check`).
    pub(crate) fd_step: f64,
}

impl Default for Gradient {
    fn default() -> Self {
        Gradient { schedule: "binomial:10".into(), snapshot_dir: None, memory: None, fd_step: 1e-5 }
    }
}

/// Sparse noisy observations of the vorticity (the inverse problem).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Observations {
    /// Observe every `stride`-th grid point in each direction.
    pub(crate) stride: usize,
    /// Steps after which the flow is observed (at most `simulation.steps`).
    pub(crate) times: Vec<usize>,
    /// Standard deviation of the Gaussian observation noise.
    pub(crate) sigma: f64,
    /// Seed of the noise.
    pub(crate) seed: u64,
}

impl Default for Observations {
    fn default() -> Self {
        Observations { stride: 4, times: vec![25, 50, 75, 100], sigma: 0.01, seed: 42 }
    }
}

/// Optimisation methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Optimizer {
    /// Adam (first order).
    Adam,
    /// Gradient descent with an Armijo line search.
    Gd,
    /// L-BFGS with a strong-Wolfe line search.
    Lbfgs,
    /// Newton-CG with a line search (Hessian-vector products).
    NewtonCg,
    /// Trust-region Newton-CG (Steihaug–Toint).
    TrustRegion,
    /// Newton-CG whose Hessian products are Gauss–Newton products
    /// (tangent-linear run + adjoint sweep on the kept trajectory).
    GaussNewton,
}

impl fmt::Display for Optimizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Optimizer::Adam => "adam",
            Optimizer::Gd => "gd",
            Optimizer::Lbfgs => "lbfgs",
            Optimizer::NewtonCg => "newton-cg",
            Optimizer::TrustRegion => "trust-region",
            Optimizer::GaussNewton => "gauss-newton",
        })
    }
}

/// The optimizer of the inverse problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Optimize {
    /// Methods to run, one after the other: adam, gd, lbfgs, newton-cg,
    /// trust-region, gauss-newton.
    pub(crate) methods: Vec<Optimizer>,
    /// Most iterations per method.
    pub(crate) max_iter: usize,
    /// Stop when ‖∇J‖ ≤ this × ‖∇J(ω₀ = 0)‖.
    pub(crate) rel_grad_tol: f64,
    /// Weight β of the smoothness regulariser ½ β h² Σ|∇ω₀|².
    pub(crate) beta: f64,
    /// Adam's learning rate.
    pub(crate) learning_rate: f64,
    /// L-BFGS memory (pairs).
    pub(crate) memory: usize,
    /// Most CG iterations per Newton step.
    pub(crate) max_cg: usize,
}

impl Default for Optimize {
    fn default() -> Self {
        Optimize {
            methods: vec![Optimizer::Lbfgs],
            max_iter: 100,
            rel_grad_tol: 1e-6,
            beta: 1.0,
            learning_rate: 0.05,
            memory: 10,
            max_cg: 40,
        }
    }
}

/// Files written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Output {
    /// Directory for HDF5 files, plots and resumable state.
    pub(crate) dir: PathBuf,
    /// `rewind run` writes a frame every this many steps.
    pub(crate) every: usize,
    /// Draw PNG plots.
    pub(crate) plots: bool,
}

impl Default for Output {
    fn default() -> Self {
        Output { dir: PathBuf::from("rewind-out"), every: 10, plots: true }
    }
}

/// A configuration error: file, key, value, reason.
#[derive(Debug)]
pub(crate) struct ConfigError {
    file: String,
    key: String,
    value: Option<String>,
    why: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            // the file as a whole (it cannot be read, or its syntax names no key)
            _ if self.key.is_empty() => write!(f, "{}: {}", self.file, self.why),
            Some(v) => write!(f, "{}: key `{}` = {v}: {}", self.file, self.key, self.why),
            None => write!(f, "{}: key `{}`: {}", self.file, self.key, self.why),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads and checks `path`.
    pub(crate) fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            key: String::new(),
            value: None,
            why: format!("cannot read the configuration: {e}"),
        })?;
        let c = Config::parse(&text, &file)?;
        c.validate(&file)?;
        Ok(c)
    }

    /// Parses TOML text (`file` names it in errors); does not validate.
    pub(crate) fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let syntax = |e: toml::de::Error| ConfigError {
            file: file.into(),
            key: key_at(text, e.span()),
            value: None,
            why: format!("TOML syntax: {}", e.message()),
        };
        let de = toml::Deserializer::parse(text).map_err(syntax)?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let span = inner.span();
            let value = span.clone().and_then(|s| text.get(s)).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
            let key = if path == "?" || path == "." { key_at(text, span) } else { path };
            ConfigError { file: file.into(), key, value, why: inner.message().to_string() }
        })
    }

    /// Ranges and consistency; errors name the key and the value.
    pub(crate) fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, value: String, why: &str| {
            Err(ConfigError { file: file.into(), key: key.into(), value: Some(value), why: why.into() })
        };
        let s = &self.simulation;
        if s.n < 8 {
            return bad("simulation.n", s.n.to_string(), "at least 8 grid points per side");
        }
        if s.steps == 0 {
            return bad("simulation.steps", "0".into(), "at least one step");
        }
        for (key, v) in [("simulation.dt", s.dt), ("simulation.nu", s.nu)] {
            if !(v.is_finite() && v > 0.0) {
                return bad(key, v.to_string(), "must be a positive number");
            }
        }
        let (cores, most) = thread_limit();
        if s.threads > most {
            return bad(
                "simulation.threads",
                s.threads.to_string(),
                &format!(
                    "this machine has {cores} core(s); more than {most} threads only slow the kernels down (0 = one per core)"
                ),
            );
        }
        for (key, v) in [("simulation.alpha", s.alpha), ("simulation.forcing", s.forcing)] {
            if !v.is_finite() {
                return bad(key, v.to_string(), "must be finite");
            }
        }
        let g = &self.gradient;
        match g.schedule.parse::<Strategy>() {
            Err(e) => return bad("gradient.schedule", format!("{:?}", g.schedule), &e.to_string()),
            Ok(st) => {
                if let Err(e) = (Plan { steps: s.steps, strategy: st }).validate() {
                    return bad("gradient.schedule", format!("{:?}", g.schedule), &e.to_string());
                }
            }
        }
        if let Some(m) = &g.memory
            && let Err(why) = rewind_models::units::parse_bytes(m)
        {
            return bad("gradient.memory", format!("{m:?}"), &why);
        }
        if !(g.fd_step.is_finite() && g.fd_step > 0.0 && g.fd_step < 1.0) {
            return bad("gradient.fd_step", g.fd_step.to_string(), "must be in (0, 1)");
        }
        let o = &self.observations;
        if o.stride == 0 || o.stride > s.n {
            return bad("observations.stride", o.stride.to_string(), "must be between 1 and simulation.n");
        }
        if o.times.is_empty() {
            return bad("observations.times", "[]".into(), "at least one observation time");
        }
        if let Some(w) = o.times.windows(2).find(|w| w[1] <= w[0]) {
            return bad(
                "observations.times",
                format!("{:?}", o.times),
                &format!("must increase ({} then {})", w[0], w[1]),
            );
        }
        if let Some(&t) = o.times.iter().find(|&&t| t == 0 || t > s.steps) {
            return bad(
                "observations.times",
                format!("{:?}", o.times),
                &format!("time {t} is outside 1..={} (simulation.steps)", s.steps),
            );
        }
        if !(o.sigma.is_finite() && o.sigma > 0.0) {
            return bad("observations.sigma", o.sigma.to_string(), "must be a positive number");
        }
        let p = &self.optimize;
        if p.methods.is_empty() {
            return bad("optimize.methods", "[]".into(), "at least one method");
        }
        if p.max_iter == 0 {
            return bad("optimize.max_iter", "0".into(), "at least one iteration");
        }
        for (key, v) in [("optimize.rel_grad_tol", p.rel_grad_tol), ("optimize.beta", p.beta)] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(key, v.to_string(), "must be a number >= 0");
            }
        }
        if !(p.learning_rate.is_finite() && p.learning_rate > 0.0) {
            return bad("optimize.learning_rate", p.learning_rate.to_string(), "must be a positive number");
        }
        if p.memory == 0 || p.max_cg == 0 {
            let (k, v) = if p.memory == 0 { ("optimize.memory", 0) } else { ("optimize.max_cg", 0) };
            return bad(k, v.to_string(), "must be at least 1");
        }
        if self.output.every == 0 {
            return bad("output.every", "0".into(), "must be at least 1");
        }
        Ok(())
    }

    /// The configuration as TOML (stored in the metadata of output files).
    pub(crate) fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# not representable as TOML: {e}"))
    }
}

/// The key on the line of `span` (for errors the deserializer cannot
/// place on a path).
fn key_at(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(start) = span.map(|s| s.start) else { return "?".into() };
    let line_start = text[..start.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let mut section = String::new();
    for l in text[..line_start].lines() {
        let l = l.trim();
        if l.starts_with('[') && l.ends_with(']') {
            section = l.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        }
    }
    let key = line.split('=').next().unwrap_or("").trim();
    match (section.is_empty(), key.is_empty()) {
        (_, true) => format!("line {}", text[..line_start].lines().count() + 1),
        (true, false) => key.to_string(),
        (false, false) => format!("{section}.{key}"),
    }
}

/// The keys a configuration file sets, as `table.key` (read after
/// [`Config::load`] has accepted the file).
pub(crate) fn keys_set(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let table: toml::Table = text.parse().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut keys = Vec::new();
    for (name, value) in &table {
        if let toml::Value::Table(t) = value {
            keys.extend(t.keys().map(|k| format!("{name}.{k}")));
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match Config::parse(text, "c.toml") {
            Err(e) => e.to_string(),
            Ok(c) => match c.validate("c.toml") {
                Err(e) => e.to_string(),
                Ok(()) => panic!("accepted:\n{text}"),
            },
        }
    }

    #[test]
    fn the_shipped_default_file_is_the_default() {
        let text = include_str!("../../../configs/default.toml");
        let c = Config::parse(text, "configs/default.toml").unwrap();
        c.validate("default.toml").unwrap();
        assert_eq!(c, Config::default());
        // and the defaults survive a round trip through TOML
        assert_eq!(Config::parse(&c.to_toml(), "x").unwrap(), c);
    }

    #[test]
    fn errors_name_file_key_and_value() {
        let e = err("[simulation]\nnu = \"abc\"\n");
        assert!(e.starts_with("c.toml: key `simulation.nu` = \"abc\": invalid type"), "{e}");
        let e = err("[simulation]\nviscosity = 1.0\n");
        assert!(e.contains("c.toml") && e.contains("simulation.viscosity") && e.contains("unknown field"), "{e}");
        let e = err("[simulatoin]\nn = 3\n");
        assert!(e.contains("c.toml") && e.contains("simulatoin") && e.contains("unknown field"), "{e}");
        let e = err("[simulation]\nn = 4\n");
        assert_eq!(e, "c.toml: key `simulation.n` = 4: at least 8 grid points per side");
        let e = err("[simulation]\ndt = -0.5\n");
        assert_eq!(e, "c.toml: key `simulation.dt` = -0.5: must be a positive number");
        let e = err("[gradient]\nschedule = \"binomial:x\"\n");
        assert!(e.starts_with("c.toml: key `gradient.schedule` = \"binomial:x\": "), "{e}");
        let e = err("[optimize]\nmethods = [\"lbfgs\", \"bfgs\"]\n");
        assert!(e.contains("optimize.methods") && e.contains("bfgs") && e.contains("unknown variant"), "{e}");
        let e = err("[observations]\ntimes = [50, 25]\n");
        assert!(e.starts_with("c.toml: key `observations.times` = [50, 25]: must increase"), "{e}");
        let e = err("[simulation]\nsteps = 10\n");
        assert!(e.contains("observations.times") && e.contains("outside 1..=10"), "{e}");
        let e = err("[simulation\nn = 3\n");
        assert!(e.contains("c.toml") && e.contains("TOML syntax"), "{e}");
    }
}
