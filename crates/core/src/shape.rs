//! Image shapes (`C x H x W`, row-major, channel first) shared by operators, priors and solvers.

use std::fmt;

/// The shape of one image: channels, height, width. Data are stored row-major, channel first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

/// A shape that cannot hold an image, or a buffer whose length does not match a shape.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShapeError {
    #[error("invalid image shape {c}x{h}x{w}: every dimension must be at least 1")]
    Empty { c: usize, h: usize, w: usize },
    #[error("buffer of {found} values does not match shape {shape} ({expected} values)")]
    LengthMismatch {
        shape: Shape,
        expected: usize,
        found: usize,
    },
}

impl Shape {
    /// A validated shape: every dimension at least 1.
    pub fn new(c: usize, h: usize, w: usize) -> Result<Self, ShapeError> {
        if c == 0 || h == 0 || w == 0 {
            return Err(ShapeError::Empty { c, h, w });
        }
        Ok(Self { c, h, w })
    }

    /// Number of values, `C * H * W`.
    pub fn numel(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Number of pixels per channel, `H * W`.
    pub fn pixels(&self) -> usize {
        self.h * self.w
    }

    /// The smaller of height and width: the "side" that size-dependent defaults follow.
    pub fn side(&self) -> usize {
        self.h.min(self.w)
    }

    /// Checks that a buffer has exactly `numel()` values.
    pub fn check_len(&self, len: usize) -> Result<(), ShapeError> {
        if len != self.numel() {
            return Err(ShapeError::LengthMismatch {
                shape: *self,
                expected: self.numel(),
                found: len,
            });
        }
        Ok(())
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}x{}", self.c, self.h, self.w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_empty_and_counts_values() {
        assert!(Shape::new(0, 4, 4).is_err());
        let s = Shape::new(3, 4, 5).unwrap();
        assert_eq!(s.numel(), 60);
        assert_eq!(s.side(), 4);
        assert!(s.check_len(59).is_err());
        assert_eq!(s.to_string(), "3x4x5");
    }
}
