//! Operator boilerplate shared by the scalar types.

/// Implements `+= -= *= /=` with `Self` and with `f64` through the binary
/// operators.
macro_rules! impl_assign_ops {
    ([$($gen:tt)*] $ty:ty) => {
        impl<$($gen)*> std::ops::AddAssign for $ty {
            #[inline]
            fn add_assign(&mut self, o: Self) { *self = *self + o; }
        }
        impl<$($gen)*> std::ops::SubAssign for $ty {
            #[inline]
            fn sub_assign(&mut self, o: Self) { *self = *self - o; }
        }
        impl<$($gen)*> std::ops::MulAssign for $ty {
            #[inline]
            fn mul_assign(&mut self, o: Self) { *self = *self * o; }
        }
        impl<$($gen)*> std::ops::DivAssign for $ty {
            #[inline]
            fn div_assign(&mut self, o: Self) { *self = *self / o; }
        }
        impl<$($gen)*> std::ops::AddAssign<f64> for $ty {
            #[inline]
            fn add_assign(&mut self, o: f64) { *self = *self + o; }
        }
        impl<$($gen)*> std::ops::SubAssign<f64> for $ty {
            #[inline]
            fn sub_assign(&mut self, o: f64) { *self = *self - o; }
        }
        impl<$($gen)*> std::ops::MulAssign<f64> for $ty {
            #[inline]
            fn mul_assign(&mut self, o: f64) { *self = *self * o; }
        }
        impl<$($gen)*> std::ops::DivAssign<f64> for $ty {
            #[inline]
            fn div_assign(&mut self, o: f64) { *self = *self / o; }
        }
    };
}
pub(crate) use impl_assign_ops;
