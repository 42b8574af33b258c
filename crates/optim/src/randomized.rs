//! The dominant eigenpairs of a symmetric positive semidefinite operator
//! known only through products, by the double-pass randomized method
//! (Halko, Martinsson and Tropp 2011, algorithm 5.3).
//!
//! With `ℓ = k + p` Gaussian probes `Ω` (`p` the oversampling):
//! `Y = A Ω`, `Q` an orthonormal basis of `Y`, `T = Qᵀ A Q` (`ℓ × ℓ`), its
//! eigen-decomposition `T = V Λ Vᵀ`, and `A ≈ (Q V) Λ (Q V)ᵀ`; the `k`
//! largest pairs are returned. It costs `2ℓ` products, each independent of
//! the others within a pass (a block that can run in parallel), and is
//! accurate where the spectrum decays past `k` — as the prior-preconditioned
//! Hessian of an inverse problem with few observations does. The probes
//! come from a seeded generator, so a run is reproducible.

use faer::{Mat, Side};

use crate::OptimError;
use crate::vector::{axpy, dot, norm};

/// The `k` largest eigenpairs found.
#[derive(Debug, Clone, PartialEq)]
pub struct Eigenpairs {
    /// Eigenvalues, largest first.
    pub values: Vec<f64>,
    /// The matching orthonormal eigenvectors.
    pub vectors: Vec<Vec<f64>>,
    /// Operator products made (`2 (k + p)`).
    pub products: usize,
}

/// A seeded normal generator (SplitMix64 and Box–Muller): reproducible
/// probes without a dependency.
#[derive(Debug, Clone)]
pub struct Normal {
    state: u64,
    spare: Option<f64>,
}

impl Normal {
    /// The generator with seed `seed`.
    pub fn new(seed: u64) -> Self {
        Normal { state: seed, spare: None }
    }

    fn uniform(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        // in (0, 1]: 53 random bits
        ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// One standard normal sample.
    pub fn sample(&mut self) -> f64 {
        if let Some(s) = self.spare.take() {
            return s;
        }
        let (u, v) = (self.uniform(), self.uniform());
        let r = (-2.0 * u.ln()).sqrt();
        let t = 2.0 * std::f64::consts::PI * v;
        self.spare = Some(r * t.sin());
        r * t.cos()
    }

    /// `n` samples.
    pub fn vector(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.sample()).collect()
    }
}

/// Orthonormalises `vs` in place by modified Gram–Schmidt, twice; a vector
/// that falls below `1e-12` of its norm (a rank-deficient block) is
/// dropped.
fn orthonormalise(vs: &mut Vec<Vec<f64>>) {
    let mut out: Vec<Vec<f64>> = Vec::with_capacity(vs.len());
    for mut v in vs.drain(..) {
        let before = norm(&v);
        for _ in 0..2 {
            for q in &out {
                let c = dot(&v, q);
                axpy(-c, q, &mut v);
            }
        }
        let after = norm(&v);
        if after > 1e-12 * before && after > 0.0 {
            v.iter_mut().for_each(|x| *x /= after);
            out.push(v);
        }
    }
    *vs = out;
}

/// The `k` largest eigenpairs of the symmetric operator `A` on vectors of
/// length `n`, with `oversample` extra probes, from the seed `seed` (see
/// the [module](self) docs). `k + oversample` is capped at `n`; `k` must lie in `1..=n`.
///
/// `apply` takes a block of vectors and returns `A v` for each, in order:
/// the products of a block are independent, so it may run them in
/// parallel or spread them over processes (`rewind_ensemble`); the method
/// asks for two blocks. An operator that fails ends the run with its error.
pub fn eigenpairs(
    n: usize,
    k: usize,
    oversample: usize,
    seed: u64,
    mut apply: impl FnMut(&[Vec<f64>]) -> Result<Vec<Vec<f64>>, OptimError>,
) -> Result<Eigenpairs, OptimError> {
    if n == 0 || k == 0 || k > n {
        return Err(OptimError::Invalid {
            what: "randomized eigensolver",
            why: format!("needs 1 ≤ k ≤ n; asked for k = {k} eigenpairs of an operator on {n} unknowns"),
        });
    }
    let l = k.saturating_add(oversample).min(n);
    let k = k.min(l);
    let mut rng = Normal::new(seed);
    let omega: Vec<Vec<f64>> = (0..l).map(|_| rng.vector(n)).collect();
    let mut y = block(&mut apply, &omega, n)?;
    let mut products = l;
    orthonormalise(&mut y);
    let q = y;
    let m = q.len();
    if m == 0 {
        // A Ω = 0: the operator vanishes on every probe
        return Ok(Eigenpairs { values: vec![0.0; k], vectors: Vec::new(), products });
    }
    let aq = block(&mut apply, &q, n)?;
    products += m;
    // T = Qᵀ A Q, symmetrised against round-off
    let t = Mat::<f64>::from_fn(m, m, |i, j| 0.5 * (dot(&q[i], &aq[j]) + dot(&q[j], &aq[i])));
    let evd = t
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| OptimError::Invalid { what: "randomized eigensolver", why: format!("{e:?}") })?;
    let (s, v) = (evd.S().column_vector(), evd.U());
    // faer sorts nondecreasing: the largest are last
    let (mut values, mut vectors) = (Vec::with_capacity(k), Vec::with_capacity(k));
    for c in (0..m).rev().take(k) {
        values.push(s[c]);
        let mut u = vec![0.0; n];
        for (r, qr) in q.iter().enumerate() {
            axpy(v[(r, c)], qr, &mut u);
        }
        vectors.push(u);
    }
    Ok(Eigenpairs { values, vectors, products })
}

/// `apply` on `vs`, its answer checked: one product of length `n` per vector.
fn block(
    apply: &mut impl FnMut(&[Vec<f64>]) -> Result<Vec<Vec<f64>>, OptimError>,
    vs: &[Vec<f64>],
    n: usize,
) -> Result<Vec<Vec<f64>>, OptimError> {
    let out = apply(vs)?;
    if out.len() != vs.len() || out.iter().any(|a| a.len() != n) {
        return Err(OptimError::Invalid {
            what: "randomized eigensolver",
            why: format!(
                "the operator returned {} products for a block of {}, or a product not of length {n}",
                out.len(),
                vs.len()
            ),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `A = Σ λᵢ uᵢ uᵢᵀ` with a known, fast-decaying spectrum.
    fn operator(n: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
        let mut rng = Normal::new(7);
        let mut basis: Vec<Vec<f64>> = (0..n).map(|_| rng.vector(n)).collect();
        orthonormalise(&mut basis);
        let values: Vec<f64> = (0..n).map(|i| 100.0 * 0.5f64.powi(i as i32)).collect();
        (values, basis)
    }

    #[test]
    fn the_dominant_pairs_of_a_known_spectrum_are_found() {
        let n = 40;
        let (lambda, u) = operator(n);
        let apply = |vs: &[Vec<f64>]| {
            Ok(vs
                .iter()
                .map(|v| {
                    let mut out = vec![0.0; n];
                    for (l, ui) in lambda.iter().zip(&u) {
                        axpy(l * dot(ui, v), ui, &mut out);
                    }
                    out
                })
                .collect())
        };
        let e = eigenpairs(n, 6, 10, 1, apply).unwrap();
        assert_eq!(e.products, 32);
        for i in 0..6 {
            assert!((e.values[i] - lambda[i]).abs() < 1e-6 * lambda[i], "λ{i}: {} vs {}", e.values[i], lambda[i]);
            // the eigenvector up to sign
            let c = dot(&e.vectors[i], &u[i]).abs();
            assert!((c - 1.0).abs() < 1e-6, "u{i}: |⟨u, û⟩| = {c}");
        }
        // reproducible
        assert_eq!(eigenpairs(n, 6, 10, 1, apply).unwrap(), e);
    }

    #[test]
    fn the_normal_generator_has_unit_variance() {
        let x = Normal::new(3).vector(20_000);
        let mean = x.iter().sum::<f64>() / x.len() as f64;
        let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / x.len() as f64;
        assert!(mean.abs() < 0.03 && (var - 1.0).abs() < 0.05, "mean {mean}, variance {var}");
    }

    #[test]
    fn bad_sizes_and_failing_operators_are_errors() {
        assert!(matches!(eigenpairs(0, 1, 0, 1, |vs| Ok(vs.to_vec())), Err(OptimError::Invalid { .. })));
        // more eigenpairs than unknowns, and probes that would overflow
        assert!(matches!(eigenpairs(5, 6, 0, 1, |vs| Ok(vs.to_vec())), Err(OptimError::Invalid { .. })));
        let e = eigenpairs(5, 5, usize::MAX, 1, |vs| Ok(vs.to_vec())).unwrap();
        assert_eq!((e.values.len(), e.products), (5, 10), "probes capped at n");
        let fail = |_: &[Vec<f64>]| Err(OptimError::Invalid { what: "op", why: "broken".into() });
        assert!(eigenpairs(5, 2, 1, 1, fail).is_err());
        // an operator that answers a block with the wrong number of products
        let short = |vs: &[Vec<f64>]| Ok(vs[1..].to_vec());
        assert!(matches!(eigenpairs(5, 2, 1, 1, short), Err(OptimError::Invalid { .. })));
    }
}
