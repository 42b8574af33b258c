//! The command line's memory check: a run's footprint (measured by
//! `rewind_models::memory`) against the memory this machine has available,
//! and the schedule a memory budget (`--memory`, `gradient.memory`) calls
//! for, written into the configuration.

use anyhow::Result;
pub(crate) use rewind_models::memory::{Footprint, Need};
use rewind_models::memory::{available_memory_bytes, check_fits_in, schedule_for_budget};
use rewind_models::units::{bytes, parse_bytes};

use crate::config::Config;

/// With a memory budget (`gradient.memory`, `--memory`), replaces the
/// schedule by the fastest that fits it; then refuses, before anything is
/// allocated, a run of footprint `f` (its schedule aside: the
/// configuration's, after the budget) that cannot fit in the memory this
/// machine has available, with the numbers and a schedule that fits.
pub(crate) fn check_fits(c: &mut Config, f: &Footprint, need: Need) -> Result<()> {
    check_fits_shared(c, f, need, 1, true)
}

/// [`check_fits`] for one of `sharing` processes on this machine that
/// each hold `f` (the ranks of a split run: `f` per rank, the budget per
/// rank, the machine's available memory shared); the schedule chosen is
/// said if `say` (by one rank of them).
pub(crate) fn check_fits_shared(c: &mut Config, f: &Footprint, need: Need, sharing: usize, say: bool) -> Result<()> {
    if need != Need::Primal
        && let Some(m) = c.gradient.memory.clone()
    {
        let budget = parse_bytes(&m).map_err(anyhow::Error::msg)?;
        let (chosen, cost) = schedule_for_budget(f, need, budget)?;
        if say {
            eprintln!(
                "rewind: memory budget {}: schedule {chosen} (about {cost:.0} step evaluations; the fastest that fits)",
                bytes(budget)
            );
        }
        c.gradient.schedule = chosen.to_string();
    }
    let f = Footprint { strategy: crate::common::strategy(c)?, ..*f };
    let Some(available) = available_memory_bytes() else { return Ok(()) };
    Ok(check_fits_in(&f, need, available / sharing.max(1) as u64)?)
}

/// Refuses, before anything is allocated, a run that cannot fit in the
/// memory this machine has available (see [`check_fits`]).
pub(crate) fn check_footprint(f: &Footprint, need: Need) -> Result<()> {
    let Some(available) = available_memory_bytes() else { return Ok(()) };
    Ok(check_fits_in(f, need, available)?)
}
