//! A [`Model`] as a checkpoint [`Stepper`]: the step evaluated without
//! recording on forward sweeps, recorded and swept back on reverse ones,
//! with the adjoints of every parameter.

use rewind_checkpoint::{Seed, StepError, Stepper};
use rewind_field::par::{self, weight};
use rewind_field::{Components, Ctx, Field, FieldTape, Grid, Par};
use smallvec::SmallVec;

use crate::model::Handle;
use crate::{Layout, Model, ParamSet, Params, SimError, State, StepAt};

/// A model stepping over scalars `T`, with its parameters' current values.
#[derive(Debug)]
pub struct Sim<M, T> {
    model: M,
    layout: Layout,
    params: ParamSet,
    /// The flat parameter vector (as `T`: duals carry a direction).
    values: Vec<T>,
    tape: FieldTape<T>,
    par: Par,
}

impl<M: Model, T: Components> Sim<M, T> {
    /// The stepper of `model` at its default parameters, kernels run with
    /// `par`; its sparse operator (if any) is factorised here, once.
    pub fn new(model: M, par: Par) -> Result<Self, SimError> {
        let layout = model.layout();
        layout.check()?;
        let params = model.params();
        params.check(layout.grid())?;
        let mut tape = FieldTape::new(*layout.grid());
        if let Some(s) = model.sparse()? {
            tape = tape.with_sparse(s)?;
        }
        Ok(Sim::with(model, layout, params, tape, par))
    }

    fn with(model: M, layout: Layout, params: ParamSet, tape: FieldTape<T>, par: Par) -> Self {
        let values = params.entries().iter().flat_map(|(_, v)| v.values().iter().map(|&x| T::from_f64(x))).collect();
        Sim { model, layout, params, values, tape, par }
    }

    /// Records step `t` from `x` and hands `then` the tape, the layout, the
    /// step's context, its input state and the state it returned.
    fn recorded<R>(
        &mut self,
        t: usize,
        x: &[T],
        then: impl for<'id> FnOnce(
            &'id Ctx<'id, T>,
            &Layout,
            &StepAt<'_, 'id, T>,
            &State<'id, T>,
            State<'id, T>,
        ) -> Result<R, StepError>,
    ) -> Result<R, StepError> {
        let Sim { model, layout, params, values, tape, par } = self;
        let fixed: SmallVec<[&[f64]; 4]> = model.fixed().collect();
        tape.record_on(*par, &[values, x], &fixed, |c, lent| {
            let (xs, p) = inputs(c, layout, params, lent[0], lent[1])?;
            let at = StepAt { t, c, p };
            let y = run_step(model, &at, &xs)?;
            then(c, layout, &at, &xs, y)
        })
    }

    /// The stepper of `model` on `grid` instead of its own — a box of the
    /// model's grid, as a slab of a domain-decomposed run computes on
    /// (`rewind-decompose`) — with the parameter values `params` (field
    /// parameters on `grid`). The model's step must take its grid from
    /// the tape (`at.ctx().grid()`), as every model of rewind does, and
    /// must not depend on where the box lies or on values outside it: no
    /// positions computed from the grid, no value read out of a field
    /// (`Field::value`, `max_of`) fed back into the step but for a check
    /// — what [`Ctx::x_reach`] cannot see. One with a sparse operator
    /// (made for its own grid) is refused.
    pub fn on_grid(model: M, par: Par, grid: Grid, params: ParamSet) -> Result<Self, SimError> {
        let layout = model.layout().with_grid(grid);
        layout.check()?;
        params.check(&grid)?;
        if model.sparse()?.is_some() {
            return Err(SimError::Layout("a model with a sparse operator runs on its own grid only".into()));
        }
        Ok(Sim::with(model, layout, params, FieldTape::new(grid), par))
    }

    /// The x-planes step `t` from `x` reads below and above a point, and
    /// whether between walls along x ([`Ctx::x_reach`] of the state it
    /// returns): the ghost layers a slab needs to compute the step exactly.
    /// Records the step once.
    pub fn x_reach(&mut self, t: usize, x: &[T]) -> Result<rewind_field::XReach, StepError> {
        self.recorded(t, x, |c, _, _, _, y| c.x_reach(y.fields(), y.scalars()).map_err(StepError::model))
    }

    /// The model, given back.
    pub fn into_model(self) -> M {
        self.model
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }
    /// The state's layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    /// The parameters' names and defaults.
    pub fn param_set(&self) -> &ParamSet {
        &self.params
    }
    /// The current values of the parameter `name`.
    pub fn param(&self, name: &str) -> Result<&[T], SimError> {
        Ok(&self.values[self.params.range(name)?])
    }
    /// The whole flat parameter vector.
    pub fn param_values(&self) -> &[T] {
        &self.values
    }
    /// Sets the parameter `name` (one value for a scalar, one per grid
    /// point for a field). No plan or factorisation is rebuilt.
    pub fn set_param(&mut self, name: &str, value: &[T]) -> Result<(), SimError> {
        let r = self.params.range(name)?;
        if value.len() != r.len() {
            return Err(SimError::Length { what: format!("parameter {name}"), expected: r.len(), got: value.len() });
        }
        if value.iter().any(|v| !v.is_finite()) {
            return Err(SimError::NonFinite { what: format!("parameter {name}") });
        }
        self.values[r].copy_from_slice(value);
        Ok(())
    }
    /// Sets the whole flat parameter vector.
    pub fn set_param_values(&mut self, values: &[T]) -> Result<(), SimError> {
        if values.len() != self.values.len() {
            return Err(SimError::Length { what: "parameters".into(), expected: self.values.len(), got: values.len() });
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            // the parameter the flat index falls in, as `set_param` names it
            let name = self
                .params
                .entries()
                .iter()
                .map(|(n, _)| n)
                .find(|n| self.params.range(n).is_ok_and(|r| r.contains(&i)));
            let name = name.map_or_else(|| "?".to_string(), |n| n.clone());
            return Err(SimError::NonFinite { what: format!("parameter {name} (value {i} of the flat vector)") });
        }
        self.values.copy_from_slice(values);
        Ok(())
    }
    /// The objective of `loss` over runs of `steps` steps of this
    /// simulation, at its current parameters (for the checkpoint driver's
    /// functions; [`Problem`](crate::Problem) keeps the two in step when
    /// parameters change); the loss is checked against the model first.
    pub fn objective<L: crate::Loss>(&self, loss: L, steps: usize) -> Result<crate::LossObjective<L, T>, SimError> {
        let (layout, params) = (self.layout.clone(), self.params.clone());
        crate::LossObjective::new(loss, layout, params, self.values.clone(), steps, self.par)
    }
    /// The kernels' parallelism.
    pub fn par(&self) -> Par {
        self.par
    }
    /// Bytes held by the step's arena.
    pub fn arena_bytes(&self) -> usize {
        self.tape.arena_bytes()
    }
    /// Bytes the last step used in its arena (see
    /// [`FieldTape::arena_used_bytes`](rewind_field::FieldTape::arena_used_bytes)).
    pub fn arena_used_bytes(&self) -> usize {
        self.tape.arena_used_bytes()
    }
    /// Passes over memory made by the steps so far, in whole fields (see
    /// [`rewind_field::Passes`]); [`Sim::reset_passes`] starts again.
    pub fn passes(&self) -> rewind_field::Passes {
        self.tape.passes()
    }
    /// Starts counting passes over memory from zero.
    pub fn reset_passes(&self) {
        self.tape.reset_passes();
    }

    /// Records step `t` from `x` on the tape, as [`Stepper::step_vjp`]
    /// does, and stops there: no reverse sweep. What recording costs on
    /// its own (for benchmarks; the driver never needs it).
    pub fn step_recorded(&mut self, t: usize, x: &[T], next: &mut [T]) -> Result<(), StepError> {
        self.recorded(t, x, |_, layout, _, _, y| write(layout, &y, next))
    }
}

/// The state and the parameters as tape inputs.
///
/// `values` and `x` are lent to the recording ([`FieldTape::record_on`]):
/// their fields are the slices themselves, not copies.
pub(crate) fn inputs<'p, 'id, T: Components>(
    c: &'id Ctx<'id, T>,
    layout: &Layout,
    params: &'p ParamSet,
    values: &'id [T],
    x: &'id [T],
) -> Result<(State<'id, T>, Params<'p, 'id, T>), StepError> {
    layout.check_len(x.len()).map_err(StepError::model)?;
    let n = layout.grid().len();
    let nf = layout.fields().len();
    let mut s = State::empty();
    for k in 0..nf {
        s.push_field(c.input_ref(&x[k * n..(k + 1) * n]).map_err(StepError::model)?);
    }
    for &v in &x[nf * n..] {
        s.push_scalar(c.scalar(v));
    }
    let mut entries = SmallVec::new();
    let mut o = 0;
    for (name, v) in params.entries() {
        let l = v.values().len();
        let h = if v.is_field() {
            Handle::Field(c.input_ref(&values[o..o + l]).map_err(StepError::model)?)
        } else {
            Handle::Scalar(c.scalar(values[o]))
        };
        entries.push((name.as_str(), h));
        o += l;
    }
    Ok((s, Params { entries }))
}

impl<M: Model, T: Components> Sim<M, T> {
    /// [`Stepper::step_vjp`] on a box of a split grid whose results are
    /// kept for the x-planes `keep` of the box only: `next` and `xbar` hold
    /// those planes of each field (then the scalars), `pbar` those planes of
    /// each **field** parameter (a scalar parameter's adjoint is not kept);
    /// `seed(next, ybox)` fills `ybox`, the adjoint of the whole box's next
    /// state, from which the sweep starts. The same arithmetic as
    /// `step_vjp` — only what is written differs — so a split run's owned
    /// values are its bits without the box-shaped copies.
    #[allow(clippy::too_many_arguments)]
    pub fn step_vjp_planes(
        &mut self,
        t: usize,
        x: &[T],
        keep: std::ops::Range<usize>,
        next: &mut [T],
        seed: &mut Seed<'_, T>,
        ybox: &mut [T],
        xbar: &mut [T],
        pbar: &mut [T],
    ) -> Result<(), StepError> {
        self.recorded(t, x, |c, layout, at, xs, y| {
            let g = layout.grid();
            let (n, plane) = (g.len(), g.ny * g.nz);
            let (lo, hi) = (keep.start * plane, keep.end * plane);
            let own = hi - lo;
            let nf = y.fields().len();
            let bad = |what: &str, got: usize, expected: usize| {
                StepError::model(SimError::Length { what: what.into(), expected, got })
            };
            let slab = nf * own + y.scalars().len();
            if keep.end > g.nx {
                return Err(bad("the planes kept", keep.end, g.nx));
            }
            for (what, len) in [("a window's next state", next.len()), ("a window's adjoint", xbar.len())] {
                if len != slab {
                    return Err(bad(what, len, slab));
                }
            }
            layout.check_len(ybox.len()).map_err(StepError::model)?;
            // the next state: materialised (the sweep reads it), its window copied
            c.materialise(y.fields());
            for (k, f) in y.fields().iter().enumerate() {
                par::copy(c.par(), &mut next[k * own..(k + 1) * own], &f.value()[lo..hi], g.ny);
            }
            if let Some(index) = rewind_checkpoint::first_non_finite(&next[..nf * own]) {
                return Err(StepError::NonFinite { index });
            }
            for (k, s) in y.scalars().iter().enumerate() {
                next[nf * own + k] = s.value();
                if !s.value().is_finite() {
                    return Err(StepError::NonFinite { index: nf * own + k });
                }
            }
            seed(next, ybox)?;
            let fs: SmallVec<[(Field<'_, T>, &[T]); 4]> =
                y.fields().iter().enumerate().map(|(k, &f)| (f, &ybox[k * n..(k + 1) * n])).collect();
            let ss: SmallVec<[_; 4]> = y.scalars().iter().enumerate().map(|(k, &s)| (s, ybox[nf * n + k])).collect();
            let adj = c.backward(&fs, &ss).map_err(StepError::model)?;
            drop(fs);
            for (k, &f) in xs.fields().iter().enumerate() {
                par::copy(c.par(), &mut xbar[k * own..(k + 1) * own], &adj.field(f)[lo..hi], g.ny);
            }
            for (k, &s) in xs.scalars().iter().enumerate() {
                xbar[nf * own + k] = adj.scalar(s);
            }
            // the field parameters' window, added as one process adds
            let fields = at.p.entries.iter().filter(|(_, h)| matches!(h, Handle::Field(_))).count();
            if pbar.len() != fields * own {
                return Err(bad("the field parameters' window", pbar.len(), fields * own));
            }
            let mut o = 0;
            for (_, h) in &at.p.entries {
                if let Handle::Field(f) = *h {
                    pbar[o..o + own].iter_mut().zip(&adj.field(f)[lo..hi]).for_each(|(b, &v)| *b += v);
                    o += own;
                }
            }
            Ok(())
        })
    }
}

/// The model's step, its errors as the driver's.
fn run_step<'id, M: Model, T: Components>(
    model: &M,
    at: &StepAt<'_, 'id, T>,
    x: &State<'id, T>,
) -> Result<State<'id, T>, StepError> {
    let t = at.t;
    let y = model.step(at, x).map_err(SimError::into_step)?;
    if y.fields().len() != x.fields().len() || y.scalars().len() != x.scalars().len() {
        return Err(StepError::model(SimError::Shape(format!(
            "step {t} returned {} fields and {} scalars, the layout has {} and {}",
            y.fields().len(),
            y.scalars().len(),
            x.fields().len(),
            x.scalars().len()
        ))));
    }
    Ok(y)
}

/// Writes a state's values into the flat `out`.
fn write<T: Components>(layout: &Layout, y: &State<'_, T>, out: &mut [T]) -> Result<(), StepError> {
    layout.check_len(out.len()).map_err(StepError::model)?;
    let n = layout.grid().len();
    let o = y.fields().len() * n;
    // the fields together, in one fused loop over their shared expressions,
    // straight into `out`, each tile checked as it is written; when
    // recording, kept (the sweep reads them: measured, computing them again
    // there made the acoustic gradient 5 % slower) and copied
    if let Some(f) = y.fields().first() {
        if f.ctx().is_recording() {
            f.ctx().materialise(y.fields());
            for (k, f) in y.fields().iter().enumerate() {
                par::copy(f.ctx().par(), &mut out[k * n..(k + 1) * n], f.value(), layout.grid().ny);
            }
            if let Some(index) = rewind_checkpoint::first_non_finite(&out[..o]) {
                return Err(StepError::NonFinite { index });
            }
        } else if let Some(index) = f.ctx().write_into_checked(y.fields(), &mut out[..o]).map_err(StepError::model)? {
            return Err(StepError::NonFinite { index });
        }
    }
    for (k, s) in y.scalars().iter().enumerate() {
        out[o + k] = s.value();
        if !s.value().is_finite() {
            return Err(StepError::NonFinite { index: o + k });
        }
    }
    Ok(())
}

/// Adds the parameters' adjoints to the flat `pbar`.
pub(crate) fn add_param_adjoints<'id, T: Components>(
    p: &Params<'_, 'id, T>,
    adj: &rewind_field::Adjoints<'id, T>,
    pbar: &mut [T],
) {
    let mut o = 0;
    for (_, h) in &p.entries {
        match *h {
            Handle::Scalar(s) => {
                pbar[o] += adj.scalar(s);
                o += 1;
            }
            Handle::Field(f) => {
                let a = adj.field(f);
                for (b, &v) in pbar[o..o + a.len()].iter_mut().zip(a) {
                    *b += v;
                }
                o += a.len();
            }
        }
    }
}

/// Writes the state's adjoints into the flat `xbar`.
pub(crate) fn write_state_adjoints<'id, T: Components>(
    x: &State<'id, T>,
    adj: &rewind_field::Adjoints<'id, T>,
    xbar: &mut [T],
    add: bool,
) {
    let n = x.fields().first().map_or(0, |f| f.value().len());
    for (k, &f) in x.fields().iter().enumerate() {
        let dst = &mut xbar[k * n..(k + 1) * n];
        let (a, par, ny) = (adj.field(f), f.ctx().par(), f.grid().ny);
        if add {
            par::update(par, weight::ELEMENTWISE, dst, ny, |k, b| *b += a[k]);
        } else {
            par::copy(par, dst, a, ny);
        }
    }
    let o = x.fields().len() * n;
    for (k, &s) in x.scalars().iter().enumerate() {
        if add {
            xbar[o + k] += adj.scalar(s);
        } else {
            xbar[o + k] = adj.scalar(s);
        }
    }
}

impl<M: Model, T: Components> Stepper<T> for Sim<M, T> {
    /// The state is checked as it is written ([`Ctx::write_into_checked`]).
    fn checks_finite(&self) -> bool {
        true
    }

    fn state_len(&self) -> usize {
        self.layout.len()
    }

    fn param_len(&self) -> usize {
        self.values.len()
    }

    fn step(&mut self, t: usize, x: &[T], next: &mut [T]) -> Result<(), StepError> {
        let Sim { model, layout, params, values, tape, par } = self;
        let fixed: SmallVec<[&[f64]; 4]> = model.fixed().collect();
        tape.eval_on(*par, &[values, x], &fixed, |c, lent| {
            let (xs, p) = inputs(c, layout, params, lent[0], lent[1])?;
            let at = StepAt { t, c, p };
            let y = run_step(model, &at, &xs)?;
            write(layout, &y, next)
        })
    }

    fn step_vjp(
        &mut self,
        t: usize,
        x: &[T],
        next: &mut [T],
        seed: &mut Seed<'_, T>,
        xbar: &mut [T],
        pbar: &mut [T],
    ) -> Result<(), StepError> {
        self.recorded(t, x, |c, layout, at, xs, y| {
            write(layout, &y, next)?;
            // x̄ₜ₊₁ goes into xbar (free until the sweep), then x̄ₜ overwrites it
            seed(next, xbar)?;
            let n = layout.grid().len();
            let nf = y.fields().len();
            let fs: SmallVec<[(Field<'_, T>, &[T]); 4]> =
                y.fields().iter().enumerate().map(|(k, &f)| (f, &xbar[k * n..(k + 1) * n])).collect();
            let ss: SmallVec<[_; 4]> = y.scalars().iter().enumerate().map(|(k, &s)| (s, xbar[nf * n + k])).collect();
            let adj = c.backward(&fs, &ss).map_err(StepError::model)?;
            drop(fs);
            write_state_adjoints(xs, &adj, xbar, false);
            add_param_adjoints(&at.p, &adj, pbar);
            Ok(())
        })
    }
}
