//! `Aligned`: an f32 buffer that starts on a 64-byte cache line.
//!
//! The SIMD kernels load weights and reference blocks 16 lanes (64 bytes) at
//! a time. A `Vec<f32>` is 16-byte aligned by the allocator, so in three
//! allocations out of four every such load straddles two cache lines, and
//! this CPU pays for each split load:
//! measured, the one-row gemv on 48 x 64 ran at 108 GFLOP/s from a `Vec` and
//! 148-157 from a line-aligned buffer, 42 x 128 at 112 against 177-182.

use std::fmt;
use std::ops::{Deref, DerefMut};

/// Values per cache line.
const LINE: usize = 16;

/// One cache line of values; `repr(C)` with the line's alignment, so a
/// slice of lines is exactly a slice of `16 n` f32 with no padding.
#[derive(Clone, Copy, Default, PartialEq)]
#[repr(C, align(64))]
struct Line([f32; LINE]);

/// A fixed-length f32 buffer whose first value is 64-byte aligned; reads and
/// writes as a `[f32]`.
#[derive(Clone, Default)]
pub struct Aligned {
    lines: Vec<Line>,
    len: usize,
}

impl Aligned {
    /// `len` zeros.
    pub fn zeros(len: usize) -> Self {
        Aligned {
            lines: vec![Line::default(); len.div_ceil(LINE)],
            len,
        }
    }

    pub fn from_slice(v: &[f32]) -> Self {
        let mut a = Aligned::zeros(v.len());
        a.copy_from_slice(v);
        a
    }

    /// The buffer's bytes as `i8` (4 a value): int8 data on the same lines.
    pub fn as_i8(&self) -> &[i8] {
        // SAFETY: the `4 len` bytes of `deref`'s initialised f32s; every bit
        // pattern is a valid i8, whose alignment is 1.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<i8>(), 4 * self.len) }
    }

    /// `as_i8`, mutably.
    pub fn as_i8_mut(&mut self) -> &mut [i8] {
        // SAFETY: as in `as_i8`, borrowed mutably through `self`.
        unsafe {
            std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<i8>(), 4 * self.len)
        }
    }
}

impl Deref for Aligned {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        // SAFETY: `lines` holds `16 lines.len() >= len` initialised f32s in
        // one allocation (`Line` is `repr(C)` over `[f32; 16]`, size 64, no
        // padding), and the slice borrows `self`.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<f32>(), self.len) }
    }
}

impl DerefMut for Aligned {
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `deref`, borrowed mutably through `self`.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<f32>(), self.len) }
    }
}

impl From<Vec<f32>> for Aligned {
    fn from(v: Vec<f32>) -> Self {
        Aligned::from_slice(&v)
    }
}

impl From<&[f32]> for Aligned {
    fn from(v: &[f32]) -> Self {
        Aligned::from_slice(v)
    }
}

impl FromIterator<f32> for Aligned {
    fn from_iter<I: IntoIterator<Item = f32>>(it: I) -> Self {
        Aligned::from_slice(&it.into_iter().collect::<Vec<f32>>())
    }
}

/// Equal when the values are (the padding after `len` is not compared).
impl PartialEq for Aligned {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl fmt::Debug for Aligned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_on_a_line_and_reads_as_its_values() {
        for len in [0usize, 1, 15, 16, 17, 100] {
            let v: Vec<f32> = (0..len).map(|i| i as f32 - 3.5).collect();
            let mut a = Aligned::from(v.clone());
            assert_eq!(a.as_ptr() as usize % 64, 0);
            assert_eq!(&a[..], &v[..]);
            assert_eq!(a.len(), len);
            if len > 0 {
                a[len - 1] = 9.0;
                assert_eq!(a[len - 1], 9.0);
            }
            let b: Aligned = v.iter().copied().collect();
            assert_eq!(b, Aligned::from_slice(&v));
            assert_eq!(format!("{b:?}"), format!("{v:?}"));
        }
        assert_eq!(Aligned::zeros(5).to_vec(), vec![0.0; 5]);
    }

    #[test]
    fn bytes_are_the_values_lines() {
        let mut a = Aligned::zeros(5);
        assert_eq!(a.as_i8().len(), 20);
        assert_eq!(a.as_i8().as_ptr() as usize % 64, 0);
        a.as_i8_mut()[19] = -7;
        assert_eq!(a.as_i8()[19], -7);
        assert_eq!(a.as_i8()[..16], [0; 16]);
        assert!(Aligned::zeros(0).as_i8().is_empty());
    }
}
