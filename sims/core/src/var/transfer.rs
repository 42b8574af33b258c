//! Moving states and control vectors between a grid and a coarser one by
//! spectral resampling, for multi-incremental 4D-Var's inner loops.

use rewind_field::{FieldError, Resample};

use crate::{Layout, SimError};

/// The maps between the fine and the coarse problem, field by field (the
/// scalars are copied).
pub(super) struct Transfer {
    down: Resample,
    up: Resample,
    /// The coarse grid onto itself: `PᵀP`, the projection onto the band.
    band: Resample,
    fields: usize,
    fine: usize,
    coarse: usize,
}

impl Transfer {
    pub(super) fn new(fine: &Layout, coarse: &Layout) -> Result<Self, SimError> {
        if fine.fields().len() != coarse.fields().len() || fine.scalars().len() != coarse.scalars().len() {
            return Err(SimError::Layout(format!(
                "the coarse problem has {} fields and {} scalars, the problem {} and {}",
                coarse.fields().len(),
                coarse.scalars().len(),
                fine.fields().len(),
                fine.scalars().len()
            )));
        }
        let layout = |e: FieldError| SimError::Layout(format!("coarse inner loops: {e}"));
        Ok(Transfer {
            down: Resample::new(*fine.grid(), *coarse.grid()).map_err(layout)?,
            up: Resample::new(*coarse.grid(), *fine.grid()).map_err(layout)?,
            band: Resample::new(*coarse.grid(), *coarse.grid()).map_err(layout)?,
            fields: fine.fields().len(),
            fine: fine.grid().len(),
            coarse: coarse.grid().len(),
        })
    }

    /// Each field of `a` through `map` (from grids of `n` to `m` points).
    fn each(
        &self,
        a: &[f64],
        (n, m): (usize, usize),
        map: impl Fn(&[f64], &mut [f64]) -> Result<(), FieldError>,
    ) -> Result<Vec<f64>, SimError> {
        let nf = self.fields;
        let scalars = a.len().checked_sub(nf * n).ok_or_else(|| SimError::Length {
            what: "state or control vector to resample".into(),
            expected: nf * n,
            got: a.len(),
        })?;
        let mut out = vec![0.0; nf * m + scalars];
        for k in 0..nf {
            map(&a[k * n..(k + 1) * n], &mut out[k * m..(k + 1) * m]).map_err(SimError::from)?;
        }
        out[nf * m..].copy_from_slice(&a[nf * n..]);
        Ok(out)
    }

    /// A fine state on the coarse grid, point values kept.
    pub(super) fn state_down(&self, x: &[f64]) -> Result<Vec<f64>, SimError> {
        self.each(x, (self.fine, self.coarse), |a, o| self.down.values(a, o))
    }
    /// `Pᵀ g`: a fine control vector to the coarse one.
    pub(super) fn control_down(&self, g: &[f64]) -> Result<Vec<f64>, SimError> {
        self.each(g, (self.fine, self.coarse), |a, o| self.down.isometric(a, o))
    }
    /// `PᵀP v`: a coarse control vector without the modes `P` drops.
    pub(super) fn project(&self, v: &[f64]) -> Result<Vec<f64>, SimError> {
        self.each(v, (self.coarse, self.coarse), |a, o| self.band.values(a, o))
    }
    /// `P δ`: a coarse control vector to the fine one.
    pub(super) fn control_up(&self, d: &[f64]) -> Result<Vec<f64>, SimError> {
        self.each(d, (self.coarse, self.fine), |a, o| self.up.isometric(a, o))
    }
}
