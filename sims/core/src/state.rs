//! What a simulation's state is: a fixed, named set of fields on one grid,
//! then named scalars ([`Layout`]); on the tape, one [`State`] of handles.
//!
//! The checkpoint driver sees a flat vector — the fields one after the
//! other in the layout's order, then the scalars — so snapshots, seeds and
//! adjoints cover the whole state without the driver knowing its shape.

use std::ops::Range;

use rewind_checkpoint::StepError;
use rewind_field::{Components, Field, Grid, Scalar};
use smallvec::SmallVec;

use crate::SimError;

/// The named parts of a state: fields on one grid, then scalars.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    grid: Grid,
    fields: Vec<String>,
    scalars: Vec<String>,
}

impl Layout {
    /// A layout on `grid` with no parts yet.
    pub fn new(grid: Grid) -> Self {
        Layout { grid, fields: Vec::new(), scalars: Vec::new() }
    }
    /// Adds a field named `name`.
    pub fn field(mut self, name: &str) -> Self {
        self.fields.push(name.to_string());
        self
    }
    /// Adds a scalar named `name`.
    pub fn scalar(mut self, name: &str) -> Self {
        self.scalars.push(name.to_string());
        self
    }
    /// The same parts on another grid (a slab of this one, with its ghost
    /// layers: `rewind-decompose`).
    pub fn with_grid(mut self, grid: Grid) -> Self {
        self.grid = grid;
        self
    }
    /// The grid of every field.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }
    /// The fields' names, in order.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }
    /// The scalars' names, in order.
    pub fn scalars(&self) -> &[String] {
        &self.scalars
    }
    /// Length of the flat state.
    pub fn len(&self) -> usize {
        self.fields.len() * self.grid.len() + self.scalars.len()
    }
    /// Whether the layout has no parts.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// At least one field, and no name twice.
    pub fn check(&self) -> Result<(), SimError> {
        if self.fields.is_empty() {
            return Err(SimError::Layout("a state needs at least one field".into()));
        }
        let names: Vec<&String> = self.fields.iter().chain(&self.scalars).collect();
        for (k, a) in names.iter().enumerate() {
            if names[..k].contains(a) {
                return Err(SimError::Layout(format!("the state has two parts named `{a}`")));
            }
        }
        Ok(())
    }
    /// Where the part `name` lives in the flat state.
    pub fn range(&self, name: &str) -> Result<Range<usize>, SimError> {
        let n = self.grid.len();
        if let Some(k) = self.fields.iter().position(|f| f == name) {
            return Ok(k * n..(k + 1) * n);
        }
        if let Some(k) = self.scalars.iter().position(|f| f == name) {
            let o = self.fields.len() * n + k;
            return Ok(o..o + 1);
        }
        Err(SimError::Unknown { what: "state part", name: name.to_string(), known: self.names() })
    }
    /// The part `name` of a flat state `x`.
    pub fn part<'a, T>(&self, x: &'a [T], name: &str) -> Result<&'a [T], SimError> {
        self.check_len(x.len())?;
        Ok(&x[self.range(name)?])
    }
    /// A flat state from every part by name (fields of the grid's length,
    /// scalars of length one).
    pub fn pack(&self, parts: &[(&str, &[f64])]) -> Result<Vec<f64>, SimError> {
        let mut x = vec![0.0; self.len()];
        let mut seen = vec![false; self.fields.len() + self.scalars.len()];
        for &(name, v) in parts {
            let r = self.range(name)?;
            if v.len() != r.len() {
                return Err(SimError::Length { what: name.to_string(), expected: r.len(), got: v.len() });
            }
            let k = self.index(name);
            seen[k] = true;
            x[r].copy_from_slice(v);
        }
        if let Some(k) = seen.iter().position(|s| !s) {
            return Err(SimError::Missing { what: "state part", name: self.names()[k].clone() });
        }
        Ok(x)
    }
    /// The flat state's length is the layout's.
    pub fn check_len(&self, len: usize) -> Result<(), SimError> {
        if len != self.len() {
            return Err(SimError::Length { what: "state".into(), expected: self.len(), got: len });
        }
        Ok(())
    }
    fn index(&self, name: &str) -> usize {
        self.fields.iter().chain(&self.scalars).position(|f| f == name).unwrap_or(usize::MAX)
    }
    fn names(&self) -> Vec<String> {
        self.fields.iter().chain(&self.scalars).cloned().collect()
    }
}

/// Inline capacity of a state's parts (more spill to the heap).
const PARTS: usize = 4;

/// A state on the tape: its fields and scalars, in the layout's order.
#[derive(Debug, Clone)]
pub struct State<'id, T> {
    fields: SmallVec<[Field<'id, T>; PARTS]>,
    scalars: SmallVec<[Scalar<'id, T>; PARTS]>,
}

impl<'id, T: Components> State<'id, T> {
    /// A state of `fields` and `scalars`.
    pub fn new(fields: &[Field<'id, T>], scalars: &[Scalar<'id, T>]) -> Self {
        State { fields: fields.iter().copied().collect(), scalars: scalars.iter().copied().collect() }
    }
    /// The fields.
    pub fn fields(&self) -> &[Field<'id, T>] {
        &self.fields
    }
    /// The scalars.
    pub fn scalars(&self) -> &[Scalar<'id, T>] {
        &self.scalars
    }
    /// The fields as an array: `let [h, u, v] = x.split()?;`. An error if
    /// the state has another number of fields.
    pub fn split<const N: usize>(&self) -> Result<[Field<'id, T>; N], StepError> {
        self.fields.as_slice().try_into().map_err(|_| {
            StepError::BadInput(format!("the state has {} fields, the model takes {N}", self.fields.len()))
        })
    }
    pub(crate) fn push_field(&mut self, f: Field<'id, T>) {
        self.fields.push(f);
    }
    pub(crate) fn push_scalar(&mut self, s: Scalar<'id, T>) {
        self.scalars.push(s);
    }
    pub(crate) fn empty() -> Self {
        State { fields: SmallVec::new(), scalars: SmallVec::new() }
    }
}

impl<'id, T: Components, const N: usize> From<[Field<'id, T>; N]> for State<'id, T> {
    fn from(fields: [Field<'id, T>; N]) -> Self {
        State::new(&fields, &[])
    }
}
