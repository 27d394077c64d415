//! The AVX-512 tiles against the AVX2 tiles (the same bits) and against the definition,
//! on sizes that take every tile width, an odd panel count and image borders.

use super::*;
use crate::native::kernels::{detect_simd, Simd};
use std::io::Write;

fn pseudo(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
        .collect()
}

/// Says on the terminal (not captured by the test harness) that a check did not run.
fn say_not_run(what: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "\n*** NOT RUN: {what}: this CPU has no AVX-512F (it runs {}). Run the tests on an \
         AVX-512 machine before trusting the AVX-512 kernels. ***\n",
        detect_simd().name()
    );
}

/// (k, stride, h, w, cin, cout, batch): one, two and three panels, every tile width.
const SHAPES: [(usize, usize, usize, usize, usize, usize, usize); 6] = [
    (3, 1, 5, 7, 9, 32, 3),
    (3, 2, 6, 5, 16, 16, 2),
    (3, 1, 4, 9, 13, 48, 2),
    (5, 1, 3, 4, 8, 16, 1),
    (3, 2, 7, 7, 24, 64, 1),
    (3, 1, 17, 13, 40, 48, 1),
];

/// The GEMM-layout weights `[k·k·cin, cout]` and a direct convolution of them.
fn conv_of(k: usize, s: usize, cin: usize, cout: usize) -> (Vec<f32>, DirectConv) {
    let wmat = pseudo(k * k * cin * cout, 11);
    let conv = DirectConv::new(&wmat, cin, cout, k, s, k / 2).expect("the direct kernel");
    (wmat, conv)
}

fn forward_with(conv: &DirectConv, x: &Act, out: &Act, wide: bool) -> Vec<f32> {
    let mut dst = out.data.clone();
    let zeros = vec![0.0f32; conv.cin];
    let px = Pixels {
        x,
        oh: out.h,
        ow: out.w,
        r0: 0,
        zeros: &zeros,
    };
    // SAFETY: the caller checked the CPU's features.
    unsafe {
        if wide {
            avx512::block(conv, &px, &mut dst)
        } else {
            avx2::block(conv, &px, &mut dst)
        }
    }
    dst
}

#[test]
fn avx512_forward_equals_avx2_bit_for_bit_and_the_definition() {
    if detect_simd() < Simd::Avx512 {
        say_not_run("avx512_forward_equals_avx2_bit_for_bit_and_the_definition");
        return;
    }
    for (k, s, h, w, cin, cout, b) in SHAPES {
        let (wmat, conv) = conv_of(k, s, cin, cout);
        let x = Act {
            data: pseudo(b * h * w * cin, 12),
            ..Act::zeros(b, h, w, cin)
        };
        let (oh, ow) = ((h + 2 * (k / 2) - k) / s + 1, (w + 2 * (k / 2) - k) / s + 1);
        let bias = pseudo(cout, 13);
        let out = Act {
            data: (0..b * oh * ow)
                .flat_map(|_| bias.iter().copied())
                .collect(),
            ..Act::zeros(b, oh, ow, cout)
        };
        let narrow = forward_with(&conv, &x, &out, false);
        let wide = forward_with(&conv, &x, &out, true);
        let differ = narrow
            .iter()
            .zip(&wide)
            .filter(|(a, b)| a.to_bits() != b.to_bits());
        assert_eq!(differ.count(), 0, "k {k} s {s} cin {cin} cout {cout}");
        // The definition, in f64.
        let p = k / 2;
        for (r, row) in wide.chunks_exact(cout).enumerate() {
            let (bi, oy, ox) = (r / (oh * ow), (r / ow) % oh, r % ow);
            for (co, &got) in row.iter().enumerate() {
                let mut want = bias[co] as f64;
                for ky in 0..k {
                    for kx in 0..k {
                        let (iy, ix) = (
                            (oy * s + ky) as isize - p as isize,
                            (ox * s + kx) as isize - p as isize,
                        );
                        if iy < 0 || ix < 0 || iy as usize >= h || ix as usize >= w {
                            continue;
                        }
                        for ci in 0..cin {
                            let xv = x.data[((bi * h + iy as usize) * w + ix as usize) * cin + ci];
                            want += (xv * wmat[((ky * k + kx) * cin + ci) * cout + co]) as f64;
                        }
                    }
                }
                assert!(
                    (got as f64 - want).abs() < 1e-4,
                    "k {k} s {s} pixel {r} channel {co}: {got} vs {want}"
                );
            }
        }
    }
}

#[test]
fn avx512_weight_gradient_equals_avx2_bit_for_bit_and_the_definition() {
    if detect_simd() < Simd::Avx512 {
        say_not_run("avx512_weight_gradient_equals_avx2_bit_for_bit_and_the_definition");
        return;
    }
    for (k, s, h, w, cin, cout, b) in SHAPES {
        let (_, conv) = conv_of(k, s, cin, cout);
        let x = Act {
            data: pseudo(b * h * w * cin, 14),
            ..Act::zeros(b, h, w, cin)
        };
        let (oh, ow) = ((h + 2 * (k / 2) - k) / s + 1, (w + 2 * (k / 2) - k) / s + 1);
        let g = Act {
            data: pseudo(b * oh * ow * cout, 15),
            ..Act::zeros(b, oh, ow, cout)
        };
        let rows = g.rows();
        // Two sub-blocks where there are pixels for them (the second adds to the first).
        let mut pairs = vec![Vec::new(); k * k];
        let mut grads = [
            vec![f32::NAN; k * k * cin * cout],
            vec![f32::NAN; k * k * cin * cout],
        ];
        for (wide, dw) in [false, true].into_iter().zip(grads.iter_mut()) {
            let cut = rows / 2;
            for (range, first) in [(0..cut, true), (cut..rows, false)] {
                conv.tap_pairs(&x, &g, range, &mut pairs);
                let sub = WgradSub {
                    x: &x,
                    g: &g,
                    pairs: &pairs,
                    first,
                };
                // SAFETY: the CPU has AVX-512F (checked above), hence AVX2 and FMA.
                unsafe {
                    if wide {
                        avx512::weight_grad(&conv, &sub, dw)
                    } else {
                        avx2::weight_grad(&conv, &sub, dw)
                    }
                }
            }
        }
        let differ = grads[0]
            .iter()
            .zip(&grads[1])
            .filter(|(a, b)| a.to_bits() != b.to_bits());
        assert_eq!(differ.count(), 0, "k {k} s {s} cin {cin} cout {cout}");
        let p = k / 2;
        for (row, dws) in grads[1].chunks_exact(cout).enumerate() {
            let (tap, ci) = (row / cin, row % cin);
            let (ky, kx) = (tap / k, tap % k);
            for (co, &got) in dws.iter().enumerate() {
                let mut want = 0.0f64;
                for r in 0..rows {
                    let (bi, oy, ox) = (r / (oh * ow), (r / ow) % oh, r % ow);
                    let (iy, ix) = (
                        (oy * s + ky) as isize - p as isize,
                        (ox * s + kx) as isize - p as isize,
                    );
                    if iy < 0 || ix < 0 || iy as usize >= h || ix as usize >= w {
                        continue;
                    }
                    let xv = x.data[((bi * h + iy as usize) * w + ix as usize) * cin + ci];
                    want += (xv * g.data[r * cout + co]) as f64;
                }
                assert!(
                    (got as f64 - want).abs() < 1e-3,
                    "k {k} s {s} row {row} channel {co}: {got} vs {want}"
                );
            }
        }
    }
}
