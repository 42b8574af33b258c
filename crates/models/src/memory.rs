//! Memory planning: what a run will hold (a taped step's arena, the
//! schedule's RAM snapshots and action list), the refusal of a run that
//! cannot fit in the memory this machine has available, and the schedule a
//! memory budget calls for — measured on the model's own recorded step
//! ([`footprint`]), so that it works for every model.

use rewind_checkpoint::Strategy;

use crate::units::bytes;
use crate::{ModelName, ModelsError, Ns2dPhysics, Twin, WithModel};

/// What a run computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Forward steps only.
    Primal,
    /// Gradients: a taped step and the schedule's snapshots.
    Gradient,
    /// Hessian-vector products: the same over dual numbers (twice the bytes).
    Hvp,
}

/// What a run holds, for the memory check: `fields` fields of `points`
/// values each as its state, over `steps` steps under `strategy`, and a
/// recorded step's arena of `arena_per_value` bytes per state value.
#[derive(Debug, Clone, Copy)]
pub struct Footprint {
    /// Grid points (or values) of one field.
    pub points: u64,
    /// The grid's dimensions (1, 2 or 3), for saying its size.
    pub dims: u32,
    /// Fields in the state.
    pub fields: u64,
    /// Steps of the run.
    pub steps: usize,
    /// The checkpoint schedule.
    pub strategy: Strategy,
    /// Bytes a recorded and swept step holds in its arena per state value
    /// (over `f64`; dual numbers take twice as many) ...
    pub arena_per_value: u64,
    /// ... and whatever the state's size.
    pub arena_fixed: u64,
}

impl Footprint {
    /// Bytes a run of `need` holds at most: a taped step, the schedule's
    /// RAM snapshots and its actions.
    pub fn bytes(&self, need: Need) -> u64 {
        let (state, step) = state_and_step_bytes(self, need);
        let plan = rewind_checkpoint::Plan { steps: self.steps, strategy: self.strategy };
        step.saturating_add(plan.ram_bytes(state as usize))
    }
}

/// Bytes of one state and of a taped step's arena, for `need`.
fn state_and_step_bytes(f: &Footprint, need: Need) -> (u64, u64) {
    let k: u64 = if need == Need::Hvp { 2 } else { 1 };
    let values = f.points.saturating_mul(f.fields);
    let arena = values.saturating_mul(f.arena_per_value).saturating_add(f.arena_fixed);
    (values.saturating_mul(8 * k), arena.saturating_mul(k))
}

/// What one rank holds of a run of footprint `f` on a grid of `nx`
/// x-planes split over `ranks` ranks whose step reads `reach` planes below
/// and above a point ([`crate::split`]): the thickest slab's state and
/// snapshots (`⌈nx / ranks⌉` planes), and a recorded step on that slab and
/// `below + above` ghost planes each side (none on one rank) — the
/// arena's bytes per slab value grow by the box's planes over the slab's —
/// and, whatever the ranks, what every rank holds whole or box-sized: about
/// [`WHOLE_STATES_PER_RANK`] whole states (the initial state, the truth,
/// the start, the direction, the gathered gradient, final state and `H v`)
/// and four box states (the stepper's buffers).
pub fn per_rank(f: &Footprint, nx: usize, ranks: usize, reach: [usize; 2]) -> Footprint {
    let (nx, ranks) = (nx.max(1) as u64, ranks.clamp(1, nx.max(1)) as u64);
    let slab = nx.div_ceil(ranks);
    let halo = if ranks > 1 { (reach[0] + reach[1]) as u64 } else { 0 };
    let boxed = slab + 2 * halo;
    let (plane, state) = (f.points / nx, 8 * f.fields);
    let held = WHOLE_STATES_PER_RANK * state * f.points + 4 * state * plane * boxed;
    Footprint {
        points: plane * slab,
        arena_per_value: f.arena_per_value.saturating_mul(boxed).div_ceil(slab),
        arena_fixed: f.arena_fixed.saturating_add(held),
        ..*f
    }
}

/// Whole states every rank of a split run holds besides its share
/// ([`per_rank`]).
pub const WHOLE_STATES_PER_RANK: u64 = 8;

/// Runs longer than this are planned without generating the candidate
/// schedules (binomial only).
const MAX_STEPS_TO_COMPARE: usize = 200_000;

/// The fastest schedule whose RAM fits in `budget` bytes, by the schedule
/// cost model (a step evaluation costs 1, a disk write or read 10 — the
/// multilevel default), and its cost: store-all if it fits; otherwise the
/// best of binomial with every snapshot the budget allows and multilevel
/// schedules keeping as many in RAM and 1, 4, 16, 64 or 256 times as many
/// on disk (the disk is not limited here; its files go to
/// `gradient.snapshot_dir`).
pub fn schedule_for_budget(f: &Footprint, need: Need, budget: u64) -> Result<(Strategy, f64), ModelsError> {
    let n = f.steps;
    let (state, step) = state_and_step_bytes(f, need);
    let actions = rewind_checkpoint::Plan { steps: n, strategy: Strategy::StoreAll }.ram_bytes(0);
    let room = budget.saturating_sub(step).saturating_sub(actions);
    let s = (room / state.max(1)).min(n as u64) as usize;
    if s == 0 {
        return Err(ModelsError::Memory(format!(
            "memory budget {} is too small: a step works in about {} and one snapshot is {}",
            bytes(budget),
            bytes(step),
            bytes(state)
        )));
    }
    let cost = |st: Strategy| -> Result<f64, ModelsError> {
        let memory = |e: &dyn std::fmt::Display| ModelsError::Memory(format!("schedule {st}: {e}"));
        let sched = st.schedule(n).map_err(|e| memory(&e))?;
        let k = rewind_checkpoint::check(&sched, st.budget(n)).map_err(|e| memory(&e))?;
        Ok(k.forward_steps as f64 + 10.0 * (k.writes[1] + k.reads[1]) as f64)
    };
    if s >= Strategy::StoreAll.budget(n)[0] {
        return Ok((Strategy::StoreAll, (2 * n - 1) as f64));
    }
    let binomial = Strategy::Binomial { snapshots: s };
    if n > MAX_STEPS_TO_COMPARE {
        return Ok((binomial, rewind_checkpoint::optimal_forward_steps(n, s) as f64));
    }
    let mut best = (binomial, cost(binomial)?);
    for d in [s, 4 * s, 16 * s, 64 * s, 256 * s] {
        if s + d >= n {
            break;
        }
        let ml = Strategy::MultiLevel { ram: s, disk: d, write_cost: 10.0, read_cost: 10.0 };
        let k = cost(ml)?;
        if k < best.1 {
            best = (ml, k);
        }
    }
    Ok(best)
}

/// Refuses a run of footprint `f` that cannot fit in `available` bytes,
/// with the numbers and a schedule that fits.
pub fn check_fits_in(f: &Footprint, need: Need, available: u64) -> Result<(), ModelsError> {
    let (state, step) = state_and_step_bytes(f, need);
    if step > available {
        let side = (f.points as f64).powf(1.0 / f.dims.max(1) as f64).round() as u64;
        let grid = match f.dims {
            2 if side * side == f.points => format!("{side}²"),
            3 if side * side * side == f.points => format!("{side}³"),
            _ => format!("{}-point", f.points),
        };
        return Err(ModelsError::Memory(format!(
            "a {grid} grid does not fit: one state is {} and a step works in about {}, but {} of memory are available",
            bytes(state),
            bytes(step),
            bytes(available),
        )));
    }
    if need == Need::Primal {
        return Ok(());
    }
    let strategy = f.strategy;
    let plan = rewind_checkpoint::Plan { steps: f.steps, strategy };
    let needed = f.bytes(need);
    if needed <= available {
        return Ok(());
    }
    // the most RAM snapshots that fit beside the step and the action list
    let room = available.saturating_sub(step).saturating_sub(plan.ram_bytes(0)) / 10 * 9;
    let most = (room / state.max(1)).min(f.steps as u64);
    let advice = if most >= 1 {
        format!(
            "a schedule that fits: binomial:{most} (or fewer snapshots; multilevel:RAM,DISK keeps the rest on disk)"
        )
    } else {
        "no schedule fits: take fewer steps or a smaller grid".into()
    };
    Err(ModelsError::Memory(format!(
        "schedule {strategy} over {} steps does not fit: it needs about {} ({} RAM snapshots of {} each, a step's \
         {} and the schedule's actions), but {} of memory are available; {advice}",
        f.steps,
        bytes(needed),
        strategy.budget(f.steps)[0],
        bytes(state),
        bytes(step),
        bytes(available),
    )))
}

/// `MemAvailable` of `/proc/meminfo` (None where it cannot be read).
pub fn available_memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.saturating_mul(1024))
}

/// What the problem of `name` at grid size `n` will hold, before it is
/// built: its state's size, and a recorded step's arena — per state value
/// and fixed — measured on one step of the model at its default size and
/// at more values (small runs: a few milliseconds).
pub fn footprint(
    name: ModelName,
    ns2d: &Ns2dPhysics,
    n: usize,
    steps: usize,
    strategy: Strategy,
) -> Result<Footprint, ModelsError> {
    let (fields, points) = name.state_size(n);
    let (small, _) = name.defaults();
    let larger = if matches!(name, ModelName::Burgers | ModelName::Lorenz96) { 4 * small } else { 2 * small };
    let measure = |m: usize| crate::with_model(name, ns2d, m, ArenaBytes);
    let f = footprint_from(points, fields, steps, strategy, measure(small)?, measure(larger)?);
    Ok(Footprint { dims: name.dims(), ..f })
}

/// The footprint of a run of `fields × points` state values from a
/// recorded step's arena bytes and state values at two sizes (`(arena,
/// values)`): the part that grows with the state, and the rest (the
/// arena's chunks double as it grows: it may hold twice what is used).
/// Its grid is a plane's (`dims` 2) unless the caller says otherwise.
pub fn footprint_from(
    points: u64,
    fields: u64,
    steps: usize,
    strategy: Strategy,
    (a1, v1): (u64, u64),
    (a2, v2): (u64, u64),
) -> Footprint {
    let slope = a2.saturating_sub(a1).div_ceil(v2.saturating_sub(v1).max(1));
    let fixed = a1.saturating_sub(slope * v1);
    let (slope, fixed) = (2 * slope, 2 * fixed);
    Footprint { points, dims: 2, fields, steps, strategy, arena_per_value: slope, arena_fixed: fixed }
}

/// The arena bytes of one recorded and swept step, and the state's values.
struct ArenaBytes;

impl WithModel for ArenaBytes {
    type Out = (u64, u64);
    type Error = ModelsError;
    fn run<M: rewind_sim::Model + Clone + Send + 'static>(
        self,
        model: M,
        twin: Twin,
    ) -> Result<(u64, u64), ModelsError> {
        Ok(crate::step_arena_bytes(model, twin.x0())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::parse_bytes;

    /// What the tests vary: ns2d's grid, steps and schedule.
    struct Config {
        n: usize,
        steps: usize,
        schedule: String,
    }

    impl Default for Config {
        fn default() -> Self {
            Config { n: 32, steps: 100, schedule: "binomial:10".into() }
        }
    }

    /// ns2d's footprint at the configuration's size, with a 272-byte
    /// arena per point.
    fn ns2d(c: &Config) -> Footprint {
        let n = c.n as u64;
        let strategy = c.schedule.parse().unwrap();
        Footprint { points: n * n, dims: 2, fields: 1, steps: c.steps, strategy, arena_per_value: 272, arena_fixed: 0 }
    }

    #[test]
    fn a_run_that_cannot_fit_is_refused_with_a_schedule_that_does() {
        let gib = 1u64 << 30;
        // 32², 8 KiB per state
        let mut c = Config { steps: 1_000_000, schedule: "store-all".into(), ..Default::default() };
        let fits = |c: &Config, need| check_fits_in(&ns2d(c), need, gib);
        let e = fits(&c, Need::Gradient).unwrap_err().to_string();
        assert!(e.contains("store-all over 1000000 steps does not fit") && e.contains("1.0 GiB of memory"), "{e}");
        // the advice fits: 1 GiB less the step and the actions, 90 %, over 8 KiB
        let advice: usize = e.rsplit("binomial:").next().unwrap().split(' ').next().unwrap().parse().unwrap();
        c.schedule = format!("binomial:{advice}");
        fits(&c, Need::Gradient).unwrap();
        assert!(fits(&c, Need::Hvp).is_err(), "dual states take twice the bytes");
        c.schedule = "binomial:32".into();
        fits(&c, Need::Hvp).unwrap();
        // a grid whose step alone cannot fit
        c.n = 4096;
        let e = fits(&c, Need::Primal).unwrap_err().to_string();
        assert!(e.contains("4096² grid does not fit") && e.contains("one state is 128.0 MiB"), "{e}");
        assert_eq!([0, 512, 8192, 80_000_000_000].map(bytes), ["0 B", "512 B", "8.0 KiB", "74.5 GiB"]);
    }

    #[test]
    fn one_rank_of_a_split_run_holds_its_slab_and_a_step_on_its_box() {
        let c = Config { n: 128, steps: 20, ..Default::default() };
        let whole = ns2d(&c);
        // four ranks, a step reading 4 planes each way: slabs of 32 planes,
        // a recorded step on 32 + 2·8 of them
        let f = per_rank(&whole, 128, 4, [4, 4]);
        assert_eq!(f.points, 32 * 128);
        assert_eq!(f.arena_per_value, 272 * 48 / 32);
        let (state, step) = state_and_step_bytes(&f, Need::Gradient);
        let (state1, step1) = state_and_step_bytes(&whole, Need::Gradient);
        assert_eq!(state * 4, state1);
        // a step per rank: 48/128 of one process's arena, and what every
        // rank holds whole (eight states) or box-sized (four boxes)
        let held = 8 * state1 + 4 * 8 * 48 * 128;
        assert_eq!((step - held) * 8, step1 * 3);
        // one rank: the whole grid, no ghost planes; uneven slabs: the thickest
        assert_eq!(per_rank(&whole, 128, 1, [4, 4]).arena_per_value, 272);
        assert_eq!(per_rank(&whole, 128, 3, [1, 1]).points, 43 * 128);
    }

    #[test]
    fn a_memory_budget_picks_the_fastest_schedule_that_fits() {
        // 32²: 8 KiB per state, a step's arena 272 KiB
        let c = Config { steps: 1000, ..Default::default() };
        let (state, step) = state_and_step_bytes(&ns2d(&c), Need::Gradient);
        let actions = 1000 * 5 * std::mem::size_of::<rewind_checkpoint::Action>() as u64;
        let fits = |s: u64| step + actions + s * state;
        // room for every state: store-all, 1999 step evaluations
        let (st, cost) = schedule_for_budget(&ns2d(&c), Need::Gradient, fits(999)).unwrap();
        assert_eq!((st, cost), (Strategy::StoreAll, 1999.0));
        // room for 10: nothing slower than binomial:10 is chosen, and it fits
        let (st, cost) = schedule_for_budget(&ns2d(&c), Need::Gradient, fits(10) + 100).unwrap();
        assert_eq!(st.budget(1000)[0], 10, "{st}");
        assert!(cost <= rewind_checkpoint::optimal_forward_steps(1000, 10) as f64, "{st}: {cost}");
        // dual states: a step and a snapshot take twice the bytes, so the
        // room of 10 f64 states holds 5
        let (st, _) = schedule_for_budget(&ns2d(&c), Need::Hvp, fits(10) + step + 100).unwrap();
        assert_eq!(st.budget(1000)[0], 5, "{st}");
        // too small for one snapshot
        let e = schedule_for_budget(&ns2d(&c), Need::Gradient, step).unwrap_err().to_string();
        assert!(e.contains("too small"), "{e}");
        // sizes as people write them
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("500 MB"), Ok(500_000_000));
        assert_eq!(parse_bytes("1.5KiB"), Ok(1536));
        assert!(parse_bytes("lots").is_err() && parse_bytes("3 parsecs").is_err() && parse_bytes("-1GB").is_err());
    }
}
