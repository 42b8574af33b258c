//! Schedules as plain data: a [`Plan`] (how many steps, which strategy)
//! turns into a [`Schedule`], a list of [`Action`]s that can be printed,
//! counted ([`check`](crate::check)), compared with the closed-form optimum
//! and executed by the [driver](crate::driver) — without running anything.

pub mod binomial;
pub mod multilevel;
pub mod online;
pub mod periodic;

use std::fmt;
use std::str::FromStr;

use crate::{Action, ScheduleError};

/// A checkpointing strategy and its budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    /// Keep every state: no recomputation, `n − 1` snapshots.
    StoreAll,
    /// Keep every `every`-th state and store-all within segments.
    Periodic {
        /// The period `k ≥ 1`.
        every: usize,
    },
    /// Binomial (Revolve) with `snapshots ≥ 1` RAM snapshots: the minimal
    /// number of forward steps.
    Binomial {
        /// Snapshots, the one holding `x₀` included.
        snapshots: usize,
    },
    /// Online thinning with `snapshots ≥ 1` RAM snapshots, for runs whose
    /// length is not known in advance.
    Online {
        /// Snapshots, the one holding `x₀` included.
        snapshots: usize,
    },
    /// RAM snapshots plus disk snapshots with write and read costs in units
    /// of one step.
    MultiLevel {
        /// RAM snapshots (`≥ 1`).
        ram: usize,
        /// Disk snapshots.
        disk: usize,
        /// Cost of writing a snapshot to disk, in steps.
        write_cost: f64,
        /// Cost of reading a snapshot from disk, in steps.
        read_cost: f64,
    },
}

impl Strategy {
    /// Checks the budget and builds the schedule for `steps` steps.
    pub fn schedule(self, steps: usize) -> Result<Schedule, ScheduleError> {
        Plan { steps, strategy: self }.schedule()
    }

    /// The RAM and disk snapshot budgets this strategy promises to respect
    /// for `n` steps.
    pub fn budget(self, n: usize) -> [usize; 2] {
        match self {
            Strategy::StoreAll => [n.saturating_sub(1).max(1), 0],
            Strategy::Periodic { every } => {
                let k = every.min(n).max(1);
                [n.div_ceil(k) + k.saturating_sub(2), 0]
            }
            Strategy::Binomial { snapshots } | Strategy::Online { snapshots } => [snapshots, 0],
            Strategy::MultiLevel { ram, disk, .. } => [ram, disk],
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::StoreAll => write!(f, "store-all"),
            Strategy::Periodic { every } => write!(f, "periodic:{every}"),
            Strategy::Binomial { snapshots } => write!(f, "binomial:{snapshots}"),
            Strategy::Online { snapshots } => write!(f, "online:{snapshots}"),
            Strategy::MultiLevel { ram, disk, write_cost, read_cost } => {
                write!(f, "multilevel:{ram},{disk},{write_cost},{read_cost}")
            }
        }
    }
}

impl FromStr for Strategy {
    type Err = ScheduleError;

    /// Parses `store-all`, `periodic:K`, `binomial:S`, `online:S` and
    /// `multilevel:RAM,DISK[,WRITE,READ]` (costs default to 10 steps each).
    fn from_str(text: &str) -> Result<Self, ScheduleError> {
        let bad = |why: &str| ScheduleError::Parse { text: text.to_string(), why: why.to_string() };
        let (name, arg) = match text.split_once(':') {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (text.trim(), None),
        };
        let count = |a: Option<&str>| -> Result<usize, ScheduleError> {
            a.ok_or_else(|| bad("missing a number after ':'"))?.parse().map_err(|_| bad("not a whole number"))
        };
        match name {
            "store-all" | "storeall" => match arg {
                None => Ok(Strategy::StoreAll),
                Some(_) => Err(bad("store-all takes no argument")),
            },
            "periodic" => Ok(Strategy::Periodic { every: count(arg)? }),
            "binomial" | "revolve" => Ok(Strategy::Binomial { snapshots: count(arg)? }),
            "online" => Ok(Strategy::Online { snapshots: count(arg)? }),
            "multilevel" => {
                let parts: Vec<&str> =
                    arg.ok_or_else(|| bad("expected multilevel:RAM,DISK[,WRITE,READ]"))?.split(',').collect();
                if parts.len() != 2 && parts.len() != 4 {
                    return Err(bad("expected multilevel:RAM,DISK[,WRITE,READ]"));
                }
                let ram = count(Some(parts[0]))?;
                let disk = count(Some(parts[1]))?;
                let cost = |s: &str| s.trim().parse::<f64>().map_err(|_| bad("not a number"));
                let (write_cost, read_cost) =
                    if parts.len() == 4 { (cost(parts[2])?, cost(parts[3])?) } else { (10.0, 10.0) };
                Ok(Strategy::MultiLevel { ram, disk, write_cost, read_cost })
            }
            _ => Err(bad(
                "unknown schedule; expected store-all, periodic:K, binomial:S, online:S or multilevel:RAM,DISK",
            )),
        }
    }
}

/// A strategy applied to a number of steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// Number of time steps `n ≥ 1`.
    pub steps: usize,
    /// The strategy.
    pub strategy: Strategy,
}

impl Plan {
    /// Checks the plan without generating its actions (cheap for any
    /// number of steps): what [`Plan::schedule`] would refuse.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        if self.steps == 0 {
            return Err(ScheduleError::NoSteps);
        }
        let need = |what: &'static str, v: usize| if v == 0 { Err(ScheduleError::ZeroBudget { what }) } else { Ok(()) };
        match self.strategy {
            Strategy::StoreAll => Ok(()),
            Strategy::Periodic { every } => need("periodic period", every),
            Strategy::Binomial { snapshots } => need("binomial snapshots", snapshots),
            Strategy::Online { snapshots } => need("online snapshots", snapshots),
            Strategy::MultiLevel { ram, write_cost, read_cost, .. } => {
                need("multilevel RAM snapshots", ram)?;
                for (what, c) in [("disk write cost", write_cost), ("disk read cost", read_cost)] {
                    if !(c.is_finite() && c >= 0.0) {
                        return Err(ScheduleError::BadCost { what, value: c });
                    }
                }
                Ok(())
            }
        }
    }

    /// Validates the plan and generates its actions.
    pub fn schedule(self) -> Result<Schedule, ScheduleError> {
        self.validate()?;
        let n = self.steps;
        let actions = match self.strategy {
            Strategy::StoreAll => periodic::actions(n, n),
            Strategy::Periodic { every } => periodic::actions(n, every.min(n)),
            Strategy::Binomial { snapshots } => binomial::actions(n, snapshots),
            Strategy::Online { snapshots } => online::actions(n, snapshots),
            Strategy::MultiLevel { ram, disk, write_cost, read_cost } => {
                multilevel::actions(n, ram, disk, write_cost, read_cost)
            }
        };
        Ok(Schedule { plan: self, actions })
    }

    /// An upper estimate of the RAM a run of this plan holds for the
    /// schedule itself, with states of `state_bytes` bytes: its RAM
    /// snapshots (the budget, [`Strategy::budget`]) and its list of actions
    /// (about five per step; the disk level is not counted). Saturates at
    /// `u64::MAX`. For refusing, before anything is allocated, a run that
    /// cannot fit.
    pub fn ram_bytes(&self, state_bytes: usize) -> u64 {
        let snapshots = (self.strategy.budget(self.steps)[0] as u64).saturating_mul(state_bytes as u64);
        let actions = (self.steps as u64).saturating_mul(5 * std::mem::size_of::<Action>() as u64);
        snapshots.saturating_add(actions)
    }
}

/// A generated schedule: its plan and its actions.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// What it was made from.
    pub plan: Plan,
    /// The actions, in order.
    pub actions: Vec<Action>,
}

impl Schedule {
    /// Number of steps reversed.
    pub fn steps(&self) -> usize {
        self.plan.steps
    }
    /// The actions.
    pub fn iter(&self) -> std::slice::Iter<'_, Action> {
        self.actions.iter()
    }
}

impl<'a> IntoIterator for &'a Schedule {
    type Item = &'a Action;
    type IntoIter = std::slice::Iter<'a, Action>;
    fn into_iter(self) -> Self::IntoIter {
        self.actions.iter()
    }
}
