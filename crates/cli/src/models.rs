//! The command line's side of the model registry (`rewind_models`): the
//! model and size a command asks for (`--sim`, `--n`, `--steps`, and for
//! ns2d the configuration's `[simulation]` physics and `--size`, which the
//! others refuse), and what its problem will hold before it is built —
//! [`footprint`], measured on the model's own recorded step at two small
//! sizes, so that the memory check and `--memory` work for every model.

use anyhow::{Context, Result, bail};
use rewind_checkpoint::Strategy;
use rewind_field::Par;
use rewind_models::{ModelName, Ns2dPhysics};
use serde_json::Value;

pub(crate) use rewind_models::AnyProblem;

use crate::common::Common;
use crate::config::Config;
use crate::memory::{Footprint, Need};

/// The ns2d physics of a configuration.
pub(crate) fn physics(c: &Config) -> Ns2dPhysics {
    let s = &c.simulation;
    Ns2dPhysics { dt: s.dt, nu: s.nu, alpha: s.alpha, forcing: s.forcing }
}

/// The model a command runs: `--sim`, or ns2d.
pub(crate) fn chosen(common: &Common) -> ModelName {
    common.sim.unwrap_or(ModelName::Ns2d)
}

/// The grid size and steps a command asks of `name`: for ns2d the
/// configuration's (with `--size`, `--n` and `--steps` applied), for the
/// others `--n` and `--steps` or the model's defaults. Refuses what a
/// model does not take.
pub(crate) fn size_and_steps(name: ModelName, c: &Config, common: &Common) -> Result<(usize, usize)> {
    if name == ModelName::Ns2d {
        return Ok((c.simulation.n, c.simulation.steps));
    }
    if common.size.is_some() {
        bail!("--size is the ns2d spec's size preset; the {} model takes --n (grid points) and --steps", name.name());
    }
    if let Some(path) = &common.config {
        let set = crate::config::keys_set(path)?;
        let foreign: Vec<&String> =
            set.iter().filter(|k| k.starts_with("simulation.") && k.as_str() != "simulation.threads").collect();
        if !foreign.is_empty() {
            let keys: Vec<&str> = foreign.iter().map(|k| k.as_str()).collect();
            bail!(
                "{} sets {}, which only ns2d reads; the {} model takes --n and --steps",
                path.display(),
                keys.join(", "),
                name.name()
            );
        }
    }
    let (n, steps) = name.defaults();
    let n = common.n.unwrap_or(n);
    let least = name.least_n();
    if n < least {
        bail!("--n {n}: the {} model needs at least {least} points per side", name.name());
    }
    let steps = common.steps.unwrap_or(steps);
    if steps == 0 {
        bail!("--steps 0: the {} model needs at least one step", name.name());
    }
    Ok((n, steps))
}

/// What the problem of `name` at grid size `n` will hold, before it is
/// built (ns2d: with the configuration's physics).
pub(crate) fn footprint(name: ModelName, c: &Config, n: usize, steps: usize, strategy: Strategy) -> Result<Footprint> {
    Ok(rewind_models::memory::footprint(name, &physics(c), n, steps, strategy)?)
}

/// The default problem of `name` at grid size `n` over `steps` steps
/// under `strategy` (disk snapshots in the configuration's directory).
pub(crate) fn build(
    name: ModelName,
    c: &Config,
    n: usize,
    steps: usize,
    strategy: Strategy,
    par: Par,
) -> Result<Box<dyn AnyProblem + Send>> {
    let dir = c.gradient.snapshot_dir.clone().unwrap_or_else(std::env::temp_dir);
    rewind_models::build(name, &physics(c), n, steps, strategy, par, &dir)
        .with_context(|| format!("cannot set up the {} model", name.name()))
}

/// The problem a command runs: the model of `--sim` at the size and steps
/// asked, checked against the memory available (with `--memory`, the
/// schedule is the fastest that fits it) before it is built; and the
/// configuration, its schedule the one chosen.
pub(crate) fn from_args(common: &Common, need: Need) -> Result<(Box<dyn AnyProblem + Send>, Config)> {
    let (name, c, n, steps) = sized(common, need)?;
    let strategy = crate::common::strategy(&c)?;
    let p = build(name, &c, n, steps, strategy, crate::common::par(&c))?;
    Ok((p, c))
}

/// The model of `--sim`, the configuration, the grid size and the steps a
/// command asks for, checked against the memory available (with
/// `--memory`, the configuration's schedule becomes the fastest that
/// fits) before anything of that size is built.
pub(crate) fn sized(common: &Common, need: Need) -> Result<(ModelName, Config, usize, usize)> {
    let mut c = common.config()?;
    let name = chosen(common);
    let (n, steps) = size_and_steps(name, &c, common)?;
    let f = footprint(name, &c, n, steps, crate::common::strategy(&c)?)?;
    crate::memory::check_fits(&mut c, &f, need)?;
    Ok((name, c, n, steps))
}

/// `--decompose`: the problem of `--sim` split over the ranks of
/// `ensemble` (`rewind_models::split`), checked first — the model can be
/// split, and one rank's share (its slab, a recorded step on the slab and
/// its ghost planes, its snapshots) fits the memory budget per rank and
/// this machine's memory shared by its ranks — and the configuration,
/// its schedule the one chosen. Also what it splits: the ranks and the
/// planes a step reads below and above a point.
pub(crate) fn split_from_args(
    common: &Common,
    need: Need,
    ensemble: &rewind_sim::Ensemble,
) -> Result<(Box<dyn AnyProblem>, Config, Value)> {
    let ranks = ensemble.size();
    // the checks, on every rank (each reads its own files and its own
    // machine's memory): one rank's refusal is every rank's
    let (c, name, n, steps, reach) = on_every_rank(ensemble, || {
        let mut c = common.config()?;
        let name = chosen(common);
        let (n, steps) = size_and_steps(name, &c, common)?;
        let reach = rewind_models::reach(name, &physics(&c))?;
        // every model's grid has n planes along x (its slabs' axis)
        let whole = footprint(name, &c, n, steps, crate::common::strategy(&c)?)?;
        let f = rewind_models::memory::per_rank(&whole, n, ranks, reach);
        crate::memory::check_fits_shared(&mut c, &f, need, ensemble.local_size(), ensemble.is_root())
            .with_context(|| format!("split over {ranks} rank(s), per rank"))?;
        Ok((c, name, n, steps, reach))
    })?;
    // each rank's kernels on its share of the cores, before any of them runs
    crate::common::global_pool(crate::common::threads(&c))?;
    let strategy = crate::common::strategy(&c)?;
    let dir = c.gradient.snapshot_dir.clone().unwrap_or_else(std::env::temp_dir);
    let p = rewind_models::split(name, &physics(&c), n, steps, strategy, crate::common::par(&c), &dir, ensemble.comm())
        .with_context(|| format!("cannot split the {} model over {ranks} rank(s)", name.name()))?;
    let halo = if ranks > 1 { reach[0] + reach[1] } else { 0 };
    let about = serde_json::json!({
        "ranks": ranks,
        "slab_planes": [n / ranks, n.div_ceil(ranks)],
        "reach": reach,
        "ghost_planes_recorded": halo,
    });
    Ok((p, c, about))
}

/// `f` on every rank of `ensemble`, a failure on any rank every rank's
/// error (agreed: no rank goes on into a collective the failed one never
/// reaches); on one rank, `f` itself.
pub(crate) fn on_every_rank<T>(ensemble: &rewind_sim::Ensemble, f: impl FnOnce() -> Result<T>) -> Result<T> {
    if ensemble.size() == 1 {
        return f();
    }
    Ok(ensemble.everywhere(|| f().map_err(|e| crate::one_line(&e)))?)
}

/// The footprint of the ns2d run of a configuration.
pub(crate) fn ns2d_footprint(c: &Config) -> Result<Footprint> {
    footprint(ModelName::Ns2d, c, c.simulation.n, c.simulation.steps, crate::common::strategy(c)?)
}

/// `rewind sims`: every model, its state, parameters and default steps.
pub(crate) fn list(json: bool) -> Result<()> {
    let mut rows = Vec::new();
    for s in ModelName::ALL {
        let (n, steps) = s.defaults();
        let p = build(s, &Config::default(), n, steps, Strategy::StoreAll, Par::Seq)?;
        let l = p.layout();
        let params: Vec<String> = p
            .param_set()
            .entries()
            .iter()
            .map(|(n, v)| if v.is_field() { format!("{n} (field)") } else { n.clone() })
            .collect();
        rows.push(serde_json::json!({
            "name": s.name(), "about": s.about(),
            "state": l.fields().iter().chain(l.scalars()).collect::<Vec<_>>(),
            "grid": crate::common::grid_json(l.grid()), "params": params, "default_steps": p.steps(),
        }));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "models": rows }))?);
        return Ok(());
    }
    for r in &rows {
        println!("{:<14} {}", r["name"].as_str().unwrap_or(""), r["about"].as_str().unwrap_or(""));
        let join =
            |k: &str| r[k].as_array().map(|a| a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", "));
        let grid = r["grid"].as_array().map(|a| a.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("x"));
        println!(
            "{:<14} state [{}] on {}, parameters [{}], {} steps by default",
            "",
            join("state").unwrap_or_default(),
            grid.unwrap_or_default(),
            join("params").unwrap_or_default(),
            r["default_steps"]
        );
    }
    Ok(())
}
