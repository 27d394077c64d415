//! Tests of `figures`.

use super::*;
use crate::harness::config::BenchConfig;
use crate::harness::record::tests::record;

/// The paired table is drawn when the bench has VML-MAP and a baseline with runs on
/// the same images, with a row per case that has a difference: only sr4 at 0.05 here.
#[test]
fn paired_differences_need_vml_map_and_a_baseline() {
    let settings = |solvers: &str| {
        let cfg: BenchConfig = toml::from_str(&format!(
            "tasks = [\"sr4\", \"inpaint-box\"]\nsigma_y = [1e-9, 0.05]\nsolvers = [{solvers}]"
        ))
        .unwrap();
        cfg.resolve().unwrap()
    };
    let records: Vec<RunRecord> = [("pinv", 15.0), ("vml-map", 18.0)]
        .iter()
        .flat_map(|(s, p)| {
            ["a", "b", "c"].map(|img| {
                let mut r = record(img, *p + img.len() as f64);
                r.solver = (*s).into();
                r
            })
        })
        .collect();
    let both = settings("\"pinv\", \"vml-map\"");
    let img = paired_differences(&both, &records).unwrap();
    // One row (sr4 at 0.05): the -3 dB cell in the saturated blue, framed (the same
    // difference on each image: standard error 0).
    let blue = vmlmap_plot::heatmap::NEGATIVE;
    let cells = img
        .pixels()
        .filter(|p| p.0 == [blue.0, blue.1, blue.2])
        .count();
    assert!(cells > 300, "{cells}");
    assert!(paired_differences(&settings("\"pinv\", \"tikhonov\""), &records).is_none());
    assert!(paired_differences(&settings("\"vml-map\""), &records).is_none());
    // No run on a shared image: nothing to draw.
    assert!(paired_differences(&both, &records[..3]).is_none());
}

#[test]
fn tasks_are_split_into_charts_of_even_size() {
    let sizes = |n: usize, max: usize| -> Vec<usize> {
        let v: Vec<usize> = (0..n).collect();
        let c = balanced_chunks(&v, max);
        // In order, every item once.
        assert_eq!(c.concat(), v);
        c.iter().map(|c| c.len()).collect()
    };
    assert_eq!(sizes(13, 4), [4, 3, 3, 3]);
    assert_eq!(sizes(3, 4), [3]);
    assert_eq!(sizes(8, 4), [4, 4]);
    assert_eq!(sizes(9, 4), [3, 3, 3]);
    assert_eq!(sizes(0, 4), Vec::<usize>::new());
}

/// A bench run in part (one shard, or a sitting that has not reached the second noise
/// level) still gets its figures: the empty noise level's bar panel is left out.
#[test]
fn a_noise_level_without_runs_leaves_its_bar_panel_out() {
    let cfg: BenchConfig = toml::from_str(
        r#"
        tasks = ["sr4"]
        sigma_y = [1e-9, 0.05]
        solvers = ["pinv", "tikhonov"]
        "#,
    )
    .unwrap();
    let settings = cfg.resolve().unwrap();
    // `record` makes sr4 runs at sigma_y = 0.05 only.
    let records: Vec<RunRecord> = ["pinv", "tikhonov"]
        .iter()
        .flat_map(|s| {
            ["a", "b"].map(|img| {
                let mut r = record(img, 15.0);
                r.solver = (*s).into();
                r
            })
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("vmlmap-figures-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    write_figures(&settings, &records, None, &dir).unwrap();
    let bars = image::open(dir.join("psnr-bars.png")).unwrap();
    assert!(bars.width() > 0);
    // With no run at all there is nothing to draw bars of, and no failure either.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let grids = write_figures(&settings, &[], Some(Shape::new(1, 8, 8).unwrap()), &empty).unwrap();
    assert!(!empty.join("psnr-bars.png").exists());
    // Without the runs' output images there are no grids, and no empty `grids/`.
    assert_eq!(grids, 0);
    assert!(!empty.join("grids").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
