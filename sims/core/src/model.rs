//! A user's model: its state's layout, its named parameters with their
//! defaults, and one time step written once on the field tape.

use rewind_field::{Components, Ctx, Field, Grid, Scalar, SparseSpd};
use smallvec::SmallVec;

use crate::{Layout, SimError, State};

/// A parameter's value: one number, or one per grid point.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// A scalar (a viscosity, a rate).
    Scalar(f64),
    /// A field on the state's grid (a forcing, a conductivity).
    Field(Vec<f64>),
}

impl ParamValue {
    /// The values (one for a scalar).
    pub fn values(&self) -> &[f64] {
        match self {
            ParamValue::Scalar(v) => std::slice::from_ref(v),
            ParamValue::Field(v) => v,
        }
    }
    /// Whether it is a field.
    pub fn is_field(&self) -> bool {
        matches!(self, ParamValue::Field(_))
    }
}

/// Named parameters with their values, in order: plain data.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParamSet {
    entries: Vec<(String, ParamValue)>,
}

impl ParamSet {
    /// No parameters.
    pub fn new() -> Self {
        ParamSet::default()
    }
    /// Adds the scalar parameter `name`.
    pub fn scalar(mut self, name: &str, value: f64) -> Self {
        self.entries.push((name.to_string(), ParamValue::Scalar(value)));
        self
    }
    /// Adds the field parameter `name`.
    pub fn field(mut self, name: &str, values: Vec<f64>) -> Self {
        self.entries.push((name.to_string(), ParamValue::Field(values)));
        self
    }
    /// The parameters, in order.
    pub fn entries(&self) -> &[(String, ParamValue)] {
        &self.entries
    }
    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
    /// The names, in order.
    pub fn names(&self) -> Vec<String> {
        self.entries.iter().map(|(n, _)| n.clone()).collect()
    }
    /// Each field of the grid's length, every value finite, no name twice.
    pub fn check(&self, grid: &Grid) -> Result<(), SimError> {
        for (k, (name, v)) in self.entries.iter().enumerate() {
            if self.entries[..k].iter().any(|(n, _)| n == name) {
                return Err(SimError::Layout(format!("two parameters named `{name}`")));
            }
            if v.is_field() && v.values().len() != grid.len() {
                let got = v.values().len();
                return Err(SimError::Length { what: format!("parameter {name}"), expected: grid.len(), got });
            }
            if v.values().iter().any(|x| !x.is_finite()) {
                return Err(SimError::NonFinite { what: format!("parameter {name}") });
            }
        }
        Ok(())
    }
    /// Length of the flat parameter vector (a scalar counts one, a field
    /// its grid's length).
    pub fn len(&self) -> usize {
        self.entries.iter().map(|(_, v)| v.values().len()).sum()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// Where `name` lives in the flat parameter vector.
    pub fn range(&self, name: &str) -> Result<std::ops::Range<usize>, SimError> {
        let mut o = 0;
        for (n, v) in &self.entries {
            let l = v.values().len();
            if n == name {
                return Ok(o..o + l);
            }
            o += l;
        }
        Err(SimError::Unknown { what: "parameter", name: name.to_string(), known: self.names() })
    }
}

/// A parameter on the tape.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Handle<'id, T> {
    Scalar(Scalar<'id, T>),
    Field(Field<'id, T>),
}

/// The parameters of one recorded step, looked up by name.
#[derive(Debug, Clone)]
pub struct Params<'p, 'id, T> {
    pub(crate) entries: SmallVec<[(&'p str, Handle<'id, T>); 4]>,
}

impl<'id, T: Components> Params<'_, 'id, T> {
    /// The scalar parameter `name`.
    pub fn scalar(&self, name: &str) -> Result<Scalar<'id, T>, SimError> {
        match self.find(name)? {
            Handle::Scalar(s) => Ok(s),
            Handle::Field(_) => Err(SimError::Kind { name: name.to_string(), is: "a field", wanted: "a scalar" }),
        }
    }
    /// The field parameter `name`.
    pub fn field(&self, name: &str) -> Result<Field<'id, T>, SimError> {
        match self.find(name)? {
            Handle::Field(f) => Ok(f),
            Handle::Scalar(_) => Err(SimError::Kind { name: name.to_string(), is: "a scalar", wanted: "a field" }),
        }
    }
    pub(crate) fn find(&self, name: &str) -> Result<Handle<'id, T>, SimError> {
        self.entries.iter().find(|(n, _)| *n == name).map(|&(_, h)| h).ok_or_else(|| SimError::Unknown {
            what: "parameter",
            name: name.to_string(),
            known: self.entries.iter().map(|(n, _)| n.to_string()).collect(),
        })
    }
}

/// The number types a model is written over: `f64` (values and
/// gradients) and dual numbers (Hessian-vector products) — any type the
/// field engine computes with ([`Components`]). A step is written once,
/// `fn step<'id, T: Number>(…)`, and runs over each.
pub trait Number: Components {}

impl<T: Components> Number for T {}

/// A simulation: a state layout, named parameters and one time step,
/// written once over any scalar type `T` — `f64` for values and
/// gradients, `Dual<f64>` for Hessian-vector products.
pub trait Model {
    /// The state's fields and scalars.
    fn layout(&self) -> Layout;
    /// The parameters and their default values (none by default).
    fn params(&self) -> ParamSet {
        ParamSet::new()
    }
    /// A sparse SPD operator for [`Field::solve_sparse`] (constant) or
    /// [`Field::solve_sparse_at`] (affine in a tape scalar,
    /// [`SparseSpd::affine`]: implicit diffusion with the conductivity a
    /// parameter); none by default. Build an operator that depends on a
    /// parameter as an affine one, never from the parameter's value here:
    /// solving an affine operator as constant is a typed error, but a
    /// constant matrix made from a value cannot know it depends on it.
    fn sparse(&self) -> Result<Option<SparseSpd>, SimError> {
        Ok(None)
    }
    /// The constant arrays the step reads through [`Ctx::data`],
    /// [`Field::mask`] or [`Field::misfit`] (a sponge's profile, a land
    /// mask, weights): lent to every step, so that those read them in place
    /// rather than copy them into the step's arena — a pass over memory
    /// saved per array and step on an `f64` tape (a tape of dual numbers
    /// still converts them for `Ctx::data`); none by default. Results are
    /// the same either way.
    fn fixed(&self) -> impl Iterator<Item = &[f64]> {
        std::iter::empty()
    }
    /// `xₜ₊₁` from `xₜ`; `at` holds the step's index, the tape and the
    /// parameters.
    fn step<'id, T: Number>(&self, at: &StepAt<'_, 'id, T>, x: &State<'id, T>) -> Result<State<'id, T>, SimError>;
}

/// What a step sees besides the state: its index `t`, the tape (for
/// constants, the grid and the integrators: `Integrator::Rk4.step(at.ctx(),
/// …)`) and the parameters by name.
#[derive(Debug)]
pub struct StepAt<'a, 'id, T> {
    pub(crate) t: usize,
    pub(crate) c: &'id Ctx<'id, T>,
    pub(crate) p: Params<'a, 'id, T>,
}

impl<'a, 'id, T: Components> StepAt<'a, 'id, T> {
    /// The step's index (`0` advances the initial state).
    pub fn t(&self) -> usize {
        self.t
    }
    /// The tape.
    pub fn ctx(&self) -> &'id Ctx<'id, T> {
        self.c
    }
    /// The parameters, by name.
    pub fn params(&self) -> &Params<'a, 'id, T> {
        &self.p
    }
}
