//! Values as bytes for messages: every `f64` component of each value
//! (one for `f64`, two for a dual number: the tangent rides along), little
//! endian — exact, so that a value crosses a process boundary bit for bit.

use rewind_field::Components;

use crate::DecomposeError;

/// Appends `v`'s components to `out`.
pub(crate) fn put<T: Components>(v: &[T], out: &mut Vec<u8>) {
    out.reserve(v.len() * T::PARTS * 8);
    for x in v {
        for k in 0..T::PARTS {
            out.extend_from_slice(&x.part(k).to_le_bytes());
        }
    }
}

/// Reads `out.len()` values from `b`, which must hold exactly that many.
pub(crate) fn get<T: Components>(b: &[u8], out: &mut [T]) -> Result<(), DecomposeError> {
    let per = T::PARTS * 8;
    if b.len() != out.len() * per {
        return Err(DecomposeError::Wire("a message of another length"));
    }
    for (x, c) in out.iter_mut().zip(b.chunks_exact(per)) {
        for (k, w) in c.chunks_exact(8).enumerate() {
            let mut a = [0u8; 8];
            a.copy_from_slice(w);
            x.set_part(k, f64::from_le_bytes(a));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rewind_field::Dual;

    use super::*;

    #[test]
    fn values_and_tangents_cross_bit_for_bit() {
        let v = [Dual::new(0.1, -3e-300), Dual::new(f64::MIN_POSITIVE, 1.0 / 3.0)];
        let mut b = Vec::new();
        put(&v, &mut b);
        let mut back = [Dual::new(0.0, 0.0); 2];
        get(&b, &mut back).unwrap();
        for (a, c) in v.iter().zip(&back) {
            assert_eq!((a.re.to_bits(), a.eps.to_bits()), (c.re.to_bits(), c.eps.to_bits()));
        }
        assert!(get(&b[1..], &mut back).is_err());
    }
}
