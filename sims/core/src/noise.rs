//! Reproducible Gaussian noise for twin experiments: the same numbers on
//! every machine and every run of a seed (SplitMix64 and Box–Muller), so
//! synthetic observations and the draws of a truth are part of a test's
//! or a benchmark's definition.

/// A seeded generator of standard normal samples.
#[derive(Debug, Clone)]
pub struct Noise(u64);

impl Noise {
    /// A generator with `seed`.
    pub fn new(seed: u64) -> Self {
        Noise(seed)
    }

    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A standard normal sample.
    pub fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}
