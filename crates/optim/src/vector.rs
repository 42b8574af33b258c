//! The vector algebra every solver (and the model layer's 4D-Var and
//! derivative checks) uses, in one place: plain slices of `f64`, summed in
//! index order so results are the same bits on every run.

/// `⟨a, b⟩`.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `‖a‖₂`.
pub fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// `‖a‖∞` (0 for an empty slice).
pub fn norm_inf(a: &[f64]) -> f64 {
    a.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

/// `y += α x`.
pub fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}
