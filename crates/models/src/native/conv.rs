//! 2-D convolution (square kernel, zero padding `k / 2`, stride 1 or 2) on channels-last
//! activations. The forward and the weight gradient run on the direct kernel
//! (`direct_conv.rs`) where the CPU and the sizes allow, else as im2col + GEMM per block
//! of output pixels. The input VJP of a stride-1 convolution is the convolution with the
//! flipped, transposed kernel (so it takes the same two paths); of a stride-2 one, one
//! GEMM with the transposed weights into columns and a col2im that *gathers* (each input
//! pixel sums the columns that read it), so that threads never write to the same place.
//! Weights are frozen: the VJP needs no saved activation.

use super::act::{self, Act};
use super::direct_conv::DirectConv;
use super::gemm::{block_rows, matmul, MatRef};
use super::grads::ParamGrads;
use super::kernels;
use rayon::prelude::*;
use std::cell::RefCell;

thread_local! {
    /// The im2col block of the calling thread, reused across calls.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// A convolution's weights in GEMM layout.
#[derive(Clone, Debug)]
pub struct Conv2d {
    pub cin: usize,
    pub cout: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    /// `[k·k·cin, cout]`, row `(ky·k + kx)·cin + ci`.
    wmat: Vec<f32>,
    /// `[cout, k·k·cin]`: the transpose, for the VJP.
    wmat_t: Vec<f32>,
    bias: Vec<f32>,
    /// The state-dict prefix of its weights (`NAME.weight`, `NAME.bias`), for gradients.
    pub name: String,
    /// For a stride-1 k x k convolution (k > 1): the adjoint as a convolution from `cout`
    /// to `cin` channels with the spatially flipped, transposed kernel, zero bias.
    adjoint: Option<Box<Conv2d>>,
    /// The direct kernel's packed weights, where this CPU and these sizes take it.
    direct: Option<DirectConv>,
}

impl Conv2d {
    /// From PyTorch's `[cout, cin, k, k]` weights and `[cout]` bias.
    pub fn new(
        weight: &[f32],
        bias: &[f32],
        cout: usize,
        cin: usize,
        k: usize,
        stride: usize,
    ) -> Self {
        Self::build(weight, bias, cout, cin, k, stride, true, true)
    }

    /// Builds the layer (`with_adjoint`: it is differentiated, so it keeps what its VJP
    /// needs) or the adjoint of one (`!with_adjoint`: only ever run forward). Keeps only
    /// the weight layouts that its paths read: the GEMM weights where the direct kernel
    /// does not run (or `allow_direct` is false: the reference path of the tests), their
    /// transpose where the VJP is not the flipped convolution.
    #[allow(clippy::too_many_arguments)]
    fn build(
        weight: &[f32],
        bias: &[f32],
        cout: usize,
        cin: usize,
        k: usize,
        stride: usize,
        with_adjoint: bool,
        allow_direct: bool,
    ) -> Self {
        assert_eq!(weight.len(), cout * cin * k * k, "conv weight size");
        assert_eq!(bias.len(), cout, "conv bias size");
        let kk = k * k * cin;
        let mut wmat = vec![0.0; kk * cout];
        let mut wmat_t = vec![0.0; kk * cout];
        for co in 0..cout {
            for ci in 0..cin {
                for ky in 0..k {
                    for kx in 0..k {
                        let v = weight[((co * cin + ci) * k + ky) * k + kx];
                        let row = (ky * k + kx) * cin + ci;
                        wmat[row * cout + co] = v;
                        wmat_t[co * kk + row] = v;
                    }
                }
            }
        }
        let adjoint = (with_adjoint && stride == 1 && k > 1).then(|| {
            let mut flipped = vec![0.0; weight.len()];
            for co in 0..cout {
                for ci in 0..cin {
                    for ky in 0..k {
                        for kx in 0..k {
                            flipped[((ci * cout + co) * k + (k - 1 - ky)) * k + (k - 1 - kx)] =
                                weight[((co * cin + ci) * k + ky) * k + kx];
                        }
                    }
                }
            }
            Box::new(Conv2d::build(
                &flipped,
                &vec![0.0; cin],
                cin,
                cout,
                k,
                1,
                false,
                allow_direct,
            ))
        });
        let direct = allow_direct
            .then(|| DirectConv::new(&wmat, cin, cout, k, stride, k / 2))
            .flatten();
        if direct.is_some() {
            wmat = Vec::new();
        }
        if !with_adjoint || adjoint.is_some() {
            wmat_t = Vec::new();
        }
        Self {
            direct,
            name: String::new(),
            cin,
            cout,
            k,
            stride,
            pad: k / 2,
            wmat,
            wmat_t,
            bias: bias.to_vec(),
            adjoint,
        }
    }

    fn out_size(&self, n: usize) -> usize {
        (n + 2 * self.pad - self.k) / self.stride + 1
    }

    fn pointwise(&self) -> bool {
        self.k == 1 && self.stride == 1
    }

    /// `conv(x) + bias`.
    pub fn forward(&self, x: &Act) -> Act {
        assert_eq!(x.c, self.cin, "conv input channels");
        let (oh, ow) = (self.out_size(x.h), self.out_size(x.w));
        if let Some(direct) = &self.direct {
            let mut out = Act {
                b: x.b,
                h: oh,
                w: ow,
                c: self.cout,
                data: if self.bias.iter().all(|&b| b.to_bits() == 0) {
                    act::zeros(x.b * oh * ow * self.cout)
                } else {
                    act::repeated_rows(&self.bias, x.b * oh * ow)
                },
            };
            direct.accumulate(x, &mut out);
            return out;
        }
        let mut out = Act::zeros(x.b, oh, ow, self.cout);
        let kk = self.k * self.k * self.cin;
        let rows = out.rows();
        let block = block_rows(rows, kk.max(self.cout));
        let w = MatRef::row_major(&self.wmat, kk, self.cout, self.cout);
        out.data
            .par_chunks_mut(block * self.cout)
            .enumerate()
            .for_each(|(bi, dst)| {
                let r0 = bi * block;
                let n = dst.len() / self.cout;
                fill_rows(dst, &self.bias);
                if self.pointwise() {
                    let a = MatRef::row_major(&x.data[r0 * self.cin..], n, self.cin, self.cin);
                    matmul(dst, self.cout, a, w, true);
                } else {
                    SCRATCH.with_borrow_mut(|cols| {
                        cols.resize(n * kk, 0.0);
                        self.im2col(x, oh, ow, r0, cols);
                        matmul(dst, self.cout, MatRef::row_major(cols, n, kk, kk), w, true);
                    });
                }
            });
        out
    }

    /// Output rows `r0..` (as many as `cols` holds) of the im2col matrix. The taps of one
    /// kernel row read consecutive input pixels, which are contiguous channels-last: each
    /// kernel row is one copy of its in-bounds span and zero fills at the borders.
    fn im2col(&self, x: &Act, oh: usize, ow: usize, r0: usize, cols: &mut [f32]) {
        let (k, cin) = (self.k, self.cin);
        let kk = k * k * cin;
        let (p, w) = (self.pad as isize, x.w as isize);
        for (i, col) in cols.chunks_exact_mut(kk).enumerate() {
            let r = r0 + i;
            let b = r / (oh * ow);
            let oy = (r / ow) % oh;
            let ox = r % ow;
            let ix0 = (ox * self.stride) as isize - p;
            // Taps `lo..hi` of a kernel row fall inside the image.
            let lo = (-ix0).clamp(0, k as isize) as usize;
            let hi = (w - ix0).clamp(lo as isize, k as isize) as usize;
            for (ky, dst) in col.chunks_exact_mut(k * cin).enumerate() {
                let iy = (oy * self.stride + ky) as isize - p;
                if iy < 0 || iy >= x.h as isize || lo == hi {
                    dst.fill(0.0);
                    continue;
                }
                dst[..lo * cin].fill(0.0);
                dst[hi * cin..].fill(0.0);
                let src = ((b * x.h + iy as usize) * x.w) as isize + ix0 + lo as isize;
                let src = src as usize * cin;
                dst[lo * cin..hi * cin].copy_from_slice(&x.data[src..src + (hi - lo) * cin]);
            }
        }
    }

    /// Adds the gradients of the weights and bias to `grads`, given the layer's input `x`
    /// and the gradient `g` of its output: `dW = im2col(x)ᵀ g`, `db = Σ g`, summed over
    /// fixed blocks of rows in order.
    pub fn weight_grad(&self, x: &Act, g: &Act, grads: &mut ParamGrads) {
        let (k, cin, cout) = (self.k, self.cin, self.cout);
        let kk = k * k * cin;
        let rows = g.rows();
        // At most about 8 blocks of at least 1024 rows (a function of the size only, so
        // the sum order is too): each block's partial gradient is a full weight-sized
        // buffer to fill and sum, which at 1024 rows was 32 buffers per layer at batch 32.
        let block = rows.div_ceil(8).max(1024);
        // The direct kernel indexes with u32 offsets.
        let small = x.data.len() < u32::MAX as usize && g.data.len() < u32::MAX as usize;
        let direct = self.direct.as_ref().filter(|_| small);
        let parts: Vec<(Vec<f32>, Vec<f32>)> = (0..rows.div_ceil(block))
            .into_par_iter()
            .map(|bi| {
                let r0 = bi * block;
                let n = block.min(rows - r0);
                let gm = MatRef::row_major(&g.data[r0 * cout..], n, cout, cout);
                let mut dw = vec![0.0f32; kk * cout];
                if self.pointwise() {
                    let xm = MatRef::row_major(&x.data[r0 * cin..], n, cin, cin);
                    matmul(&mut dw, cout, xm.t(), gm, false);
                } else if let Some(direct) = direct {
                    direct.weight_grad(x, g, r0, n, &mut dw);
                } else {
                    SCRATCH.with_borrow_mut(|cols| {
                        cols.resize(n * kk, 0.0);
                        self.im2col(x, g.h, g.w, r0, cols);
                        matmul(
                            &mut dw,
                            cout,
                            MatRef::row_major(cols, n, kk, kk).t(),
                            gm,
                            false,
                        );
                    });
                }
                let mut db = vec![0.0f32; cout];
                for row in g.data[r0 * cout..(r0 + n) * cout].chunks_exact(cout) {
                    kernels::add_into(&mut db, row);
                }
                (dw, db)
            })
            .collect();
        // The blocks' sums in block order, in f64, on the pool: each task sums a range of
        // weights over every block (the order per weight is the same as a serial loop's;
        // a serial loop here was several percent of a training step).
        const SUM_CHUNK: usize = 4096;
        let mut dwmat = vec![0.0f64; kk * cout];
        dwmat
            .par_chunks_mut(SUM_CHUNK)
            .enumerate()
            .for_each(|(ci, dst)| {
                for (dw, _) in &parts {
                    for (a, v) in dst.iter_mut().zip(&dw[ci * SUM_CHUNK..]) {
                        *a += *v as f64;
                    }
                }
            });
        let mut db = vec![0.0f64; cout];
        for (_, b) in &parts {
            for (a, v) in db.iter_mut().zip(b) {
                *a += *v as f64;
            }
        }
        // To the state-dict layout `[cout, cin, k, k]`, one output channel per task.
        let mut w = vec![0.0f32; kk * cout];
        w.par_chunks_mut(kk).enumerate().for_each(|(co, dst)| {
            for ci in 0..cin {
                for ky in 0..k {
                    for kx in 0..k {
                        dst[(ci * k + ky) * k + kx] =
                            dwmat[((ky * k + kx) * cin + ci) * cout + co] as f32;
                    }
                }
            }
        });
        grads.add(&format!("{}.weight", self.name), &w);
        grads.add(
            &format!("{}.bias", self.name),
            &db.iter().map(|&v| v as f32).collect::<Vec<_>>(),
        );
    }

    /// `J^T g`: the gradient with respect to an input of `in_h x in_w` pixels, given the
    /// gradient `g` of the output.
    pub fn input_vjp(&self, g: &Act, in_h: usize, in_w: usize) -> Act {
        assert_eq!(g.c, self.cout, "conv gradient channels");
        let cin = self.cin;
        if let Some(adj) = &self.adjoint {
            // Stride 1, padding k/2: the adjoint is the flipped convolution (same size).
            debug_assert_eq!((g.h, g.w), (in_h, in_w));
            return adj.forward(g);
        }
        let mut gin = Act::zeros(g.b, in_h, in_w, cin);
        let wt = |n| MatRef::row_major(&self.wmat_t, self.cout, n, n);
        if self.pointwise() {
            let block = block_rows(g.rows(), cin);
            gin.data
                .par_chunks_mut(block * cin)
                .enumerate()
                .for_each(|(bi, dst)| {
                    let r0 = bi * block;
                    let n = dst.len() / cin;
                    let a = MatRef::row_major(&g.data[r0 * self.cout..], n, self.cout, self.cout);
                    matmul(dst, cin, a, wt(cin), false);
                });
            return gin;
        }
        let k = self.k;
        let kk = k * k * cin;
        let rows = g.rows();
        let mut cols = vec![0.0f32; rows * kk];
        let block = block_rows(rows, kk);
        cols.par_chunks_mut(block * kk)
            .enumerate()
            .for_each(|(bi, dst)| {
                let r0 = bi * block;
                let n = dst.len() / kk;
                let a = MatRef::row_major(&g.data[r0 * self.cout..], n, self.cout, self.cout);
                matmul(dst, kk, a, wt(kk), false);
            });
        let (oh, ow) = (g.h, g.w);
        let (s, p) = (self.stride, self.pad);
        // Output index along one axis that reads input `i` through tap `t`, if any.
        let source = |i: usize, t: usize, n: usize| -> Option<usize> {
            let v = i + p;
            (v >= t && (v - t).is_multiple_of(s) && (v - t) / s < n).then(|| (v - t) / s)
        };
        gin.data
            .par_chunks_mut(in_w * cin)
            .enumerate()
            .for_each(|(row, dst)| {
                let b = row / in_h;
                let iy = row % in_h;
                for ky in 0..k {
                    let Some(oy) = source(iy, ky, oh) else {
                        continue;
                    };
                    // Per input pixel and tap kx: the column block that reads it.
                    let offsets: Vec<(usize, usize)> = (0..in_w)
                        .flat_map(|ix| {
                            (0..k).filter_map(move |kx| {
                                source(ix, kx, ow).map(|ox| {
                                    (
                                        ix * cin,
                                        ((b * oh + oy) * ow + ox) * kk + (ky * k + kx) * cin,
                                    )
                                })
                            })
                        })
                        .collect();
                    kernels::gather_add(dst, &cols, &offsets, cin);
                }
            });
        gin
    }
}

/// Every row of `dst` (whole rows of `row.len()` values) set to `row`, by doubling the
/// filled prefix: a few large copies instead of one small copy per row.
fn fill_rows(dst: &mut [f32], row: &[f32]) {
    let n = row.len();
    if dst.is_empty() || n == 0 {
        return;
    }
    dst[..n].copy_from_slice(row);
    let mut done = n;
    while done < dst.len() {
        let len = done.min(dst.len() - done);
        dst.copy_within(..len, done);
        done += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    /// Direct convolution, the definition.
    fn reference(conv_w: &[f32], bias: &[f32], x: &Act, cout: usize, k: usize, s: usize) -> Act {
        let p = k / 2;
        let oh = (x.h + 2 * p - k) / s + 1;
        let ow = (x.w + 2 * p - k) / s + 1;
        let mut out = Act::zeros(x.b, oh, ow, cout);
        for b in 0..x.b {
            for oy in 0..oh {
                for ox in 0..ow {
                    for co in 0..cout {
                        let mut acc = bias[co] as f64;
                        for ci in 0..x.c {
                            for ky in 0..k {
                                for kx in 0..k {
                                    let iy = (oy * s + ky) as isize - p as isize;
                                    let ix = (ox * s + kx) as isize - p as isize;
                                    if iy >= 0
                                        && ix >= 0
                                        && (iy as usize) < x.h
                                        && (ix as usize) < x.w
                                    {
                                        acc += (conv_w[((co * x.c + ci) * k + ky) * k + kx]
                                            * x.data[((b * x.h + iy as usize) * x.w + ix as usize)
                                                * x.c
                                                + ci])
                                            as f64;
                                    }
                                }
                            }
                        }
                        out.data[((b * oh + oy) * ow + ox) * cout + co] = acc as f32;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn fill_rows_sets_every_row() {
        for rows in [1, 2, 3, 7, 16, 33] {
            let mut dst = vec![0.0; rows * 3];
            fill_rows(&mut dst, &[1.0, 2.0, 3.0]);
            assert!(
                dst.chunks_exact(3).all(|r| r == [1.0, 2.0, 3.0]),
                "{rows} rows"
            );
        }
    }

    #[test]
    fn weight_gradient_of_the_direct_kernel_matches_im2col() {
        if !crate::native::has_avx2_fma() {
            return; // the direct kernel does not exist on this CPU: nothing to compare
        }
        for (k, s, h, w, cin, cout, b) in [
            (3, 1, 5, 7, 9, 32, 3),
            (3, 2, 6, 5, 16, 16, 2),
            (5, 1, 3, 4, 8, 16, 1),
            (3, 1, 40, 40, 12, 16, 1), // more than one 1,024-pixel block and sub-blocks
        ] {
            let weight = pseudo(cout * cin * k * k, 5);
            let mut conv = Conv2d::new(&weight, &pseudo(cout, 6), cout, cin, k, s);
            conv.name = "c".into();
            assert!(conv.direct.is_some(), "k {k} cin {cin} cout {cout}");
            let mut x = Act::zeros(b, h, w, cin);
            x.data = pseudo(x.data.len(), 7);
            let y = conv.forward(&x);
            let mut g = Act::zeros(b, y.h, y.w, cout);
            g.data = pseudo(g.data.len(), 8);
            let mut direct = ParamGrads::default();
            conv.weight_grad(&x, &g, &mut direct);
            let mut gemm_path =
                Conv2d::build(&weight, &pseudo(cout, 6), cout, cin, k, s, true, false);
            gemm_path.name = "c".into();
            let mut want = ParamGrads::default();
            gemm_path.weight_grad(&x, &g, &mut want);
            for name in ["c.weight", "c.bias"] {
                let (a, b) = (&direct.map[name], &want.map[name]);
                assert_eq!(a.len(), b.len());
                let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
                for (u, v) in a.iter().zip(b) {
                    assert!(
                        (u - v).abs() < 1e-5 * scale,
                        "{name} k {k} s {s}: {u} vs {v}"
                    );
                }
            }
        }
    }

    #[test]
    fn forward_matches_definition_and_vjp_is_its_adjoint() {
        for (k, s, h, w) in [
            (3, 1, 5, 7),
            (3, 2, 6, 5),
            (1, 1, 4, 3),
            (3, 2, 7, 7),
            (3, 1, 1, 1),
            (3, 1, 2, 1),
            (3, 2, 1, 2),
            (5, 1, 3, 4),
            (5, 2, 2, 5),
        ] {
            for (cin, cout, b) in [(3, 4, 2), (9, 32, 3), (16, 16, 1)] {
                let weight = pseudo(cout * cin * k * k, 1);
                let bias = pseudo(cout, 2);
                let conv = Conv2d::new(&weight, &bias, cout, cin, k, s);
                let mut x = Act::zeros(b, h, w, cin);
                x.data = pseudo(x.data.len(), 3);
                let y = conv.forward(&x);
                let want = reference(&weight, &bias, &x, cout, k, s);
                assert_eq!((y.h, y.w), (want.h, want.w));
                for (a, b) in y.data.iter().zip(&want.data) {
                    assert!((a - b).abs() < 1e-4, "k {k} s {s}: {a} vs {b}");
                }
                // <conv(x) - bias, g> = <x, J^T g>
                let mut g = Act::zeros(b, y.h, y.w, cout);
                g.data = pseudo(g.data.len(), 4);
                let zero_bias = Conv2d::new(&weight, &vec![0.0; cout], cout, cin, k, s);
                let lhs: f64 = zero_bias
                    .forward(&x)
                    .data
                    .iter()
                    .zip(&g.data)
                    .map(|(a, b)| (a * b) as f64)
                    .sum();
                let gin = conv.input_vjp(&g, h, w);
                let rhs: f64 = x
                    .data
                    .iter()
                    .zip(&gin.data)
                    .map(|(a, b)| (a * b) as f64)
                    .sum();
                assert!(
                    (lhs - rhs).abs() < 1e-3 * (1.0 + lhs.abs()),
                    "k {k} s {s}: {lhs} vs {rhs}"
                );
                // The direct kernel where this CPU takes it, and the im2col + GEMM path.
                let direct_expected =
                    cout % 16 == 0 && cin >= 8 && k > 1 && crate::native::has_avx2_fma();
                assert_eq!(
                    conv.direct.is_some(),
                    direct_expected,
                    "cin {cin} cout {cout}"
                );
                let gemm_path = Conv2d::build(&weight, &bias, cout, cin, k, s, true, false);
                for (a, b) in y.data.iter().zip(&gemm_path.forward(&x).data) {
                    assert!((a - b).abs() < 1e-5, "k {k} s {s} cin {cin}: {a} vs {b}");
                }
            }
        }
    }
}
