//! A loss-curve PNG for the model card: the per-step loss (light) and its running mean
//! (dark) against the step, on a log10 loss axis, with tick marks every decade.

use image::{Rgb, RgbImage};

fn line(img: &mut RgbImage, (x0, y0): (f64, f64), (x1, y1): (f64, f64), c: Rgb<u8>) {
    let n = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
    for k in 0..=n {
        let t = k as f64 / n as f64;
        let (x, y) = (x0 + t * (x1 - x0), y0 + t * (y1 - y0));
        if x >= 0.0 && y >= 0.0 && (x as u32) < img.width() && (y as u32) < img.height() {
            img.put_pixel(x as u32, y as u32, c);
        }
    }
}

/// Draws `losses` (step, loss) into a `w x h` image.
pub fn loss_curve(losses: &[(u64, f32)], w: u32, h: u32) -> RgbImage {
    let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    let (ml, mr, mt, mb) = (40.0, 10.0, 10.0, 25.0);
    let (pw, ph) = (w as f64 - ml - mr, h as f64 - mt - mb);
    let black = Rgb([0, 0, 0]);
    line(&mut img, (ml, mt), (ml, mt + ph), black);
    line(&mut img, (ml, mt + ph), (ml + pw, mt + ph), black);
    let pts: Vec<(f64, f64)> = losses
        .iter()
        .filter(|(_, l)| *l > 0.0 && l.is_finite())
        .map(|(s, l)| (*s as f64, (*l as f64).log10()))
        .collect();
    if pts.len() < 2 {
        return img;
    }
    let (smax, smin) = (
        pts.iter().map(|p| p.0).fold(f64::MIN, f64::max),
        pts.iter().map(|p| p.0).fold(f64::MAX, f64::min),
    );
    let lmax = pts.iter().map(|p| p.1).fold(f64::MIN, f64::max).ceil();
    let lmin = pts.iter().map(|p| p.1).fold(f64::MAX, f64::min).floor();
    let to_px = |(s, l): (f64, f64)| {
        (
            ml + (s - smin) / (smax - smin).max(1.0) * pw,
            mt + (lmax - l) / (lmax - lmin).max(1e-9) * ph,
        )
    };
    // Decade ticks on the loss axis.
    let mut d = lmin;
    while d <= lmax + 1e-9 {
        let (_, y) = to_px((smin, d));
        line(&mut img, (ml - 6.0, y), (ml, y), black);
        line(&mut img, (ml, y), (ml + pw, y), Rgb([225, 225, 225]));
        d += 1.0;
    }
    for w in pts.windows(2) {
        line(&mut img, to_px(w[0]), to_px(w[1]), Rgb([170, 190, 235]));
    }
    let mut avg = pts[0].1;
    let mut prev = to_px(pts[0]);
    for p in &pts[1..] {
        avg = 0.98 * avg + 0.02 * p.1;
        let q = to_px((p.0, avg));
        line(&mut img, prev, q, Rgb([20, 50, 160]));
        prev = q;
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_axes_and_curve() {
        let losses: Vec<(u64, f32)> = (1..200).map(|s| (s, 1.0 / s as f32)).collect();
        let img = loss_curve(&losses, 300, 150);
        let dark = img.pixels().filter(|p| p.0 == [20, 50, 160]).count();
        assert!(dark > 100, "{dark}");
        assert_eq!(img.get_pixel(40, 100).0, [0, 0, 0]);
    }
}
