//! The 20 Fashion-MNIST test images shipped with vmlmap (assets/fashion-test; two per
//! class, made by tools/make_fashion_test_images.py; MIT licence), embedded so that
//! `vmlmap demo` needs no files at run time.

/// (name, PNG bytes).
pub const FASHION_TEST: &[(&str, &[u8])] = &[
    (
        "00_tshirt_t10k19",
        include_bytes!("../../../assets/fashion-test/00_tshirt_t10k19.png"),
    ),
    (
        "01_tshirt_t10k27",
        include_bytes!("../../../assets/fashion-test/01_tshirt_t10k27.png"),
    ),
    (
        "02_trouser_t10k2",
        include_bytes!("../../../assets/fashion-test/02_trouser_t10k2.png"),
    ),
    (
        "03_trouser_t10k3",
        include_bytes!("../../../assets/fashion-test/03_trouser_t10k3.png"),
    ),
    (
        "04_pullover_t10k1",
        include_bytes!("../../../assets/fashion-test/04_pullover_t10k1.png"),
    ),
    (
        "05_pullover_t10k16",
        include_bytes!("../../../assets/fashion-test/05_pullover_t10k16.png"),
    ),
    (
        "06_dress_t10k13",
        include_bytes!("../../../assets/fashion-test/06_dress_t10k13.png"),
    ),
    (
        "07_dress_t10k29",
        include_bytes!("../../../assets/fashion-test/07_dress_t10k29.png"),
    ),
    (
        "08_coat_t10k6",
        include_bytes!("../../../assets/fashion-test/08_coat_t10k6.png"),
    ),
    (
        "09_coat_t10k10",
        include_bytes!("../../../assets/fashion-test/09_coat_t10k10.png"),
    ),
    (
        "10_sandal_t10k8",
        include_bytes!("../../../assets/fashion-test/10_sandal_t10k8.png"),
    ),
    (
        "11_sandal_t10k11",
        include_bytes!("../../../assets/fashion-test/11_sandal_t10k11.png"),
    ),
    (
        "12_shirt_t10k4",
        include_bytes!("../../../assets/fashion-test/12_shirt_t10k4.png"),
    ),
    (
        "13_shirt_t10k7",
        include_bytes!("../../../assets/fashion-test/13_shirt_t10k7.png"),
    ),
    (
        "14_sneaker_t10k9",
        include_bytes!("../../../assets/fashion-test/14_sneaker_t10k9.png"),
    ),
    (
        "15_sneaker_t10k12",
        include_bytes!("../../../assets/fashion-test/15_sneaker_t10k12.png"),
    ),
    (
        "16_bag_t10k18",
        include_bytes!("../../../assets/fashion-test/16_bag_t10k18.png"),
    ),
    (
        "17_bag_t10k30",
        include_bytes!("../../../assets/fashion-test/17_bag_t10k30.png"),
    ),
    (
        "18_boot_t10k0",
        include_bytes!("../../../assets/fashion-test/18_boot_t10k0.png"),
    ),
    (
        "19_boot_t10k23",
        include_bytes!("../../../assets/fashion-test/19_boot_t10k23.png"),
    ),
];

/// Shipped image `i` as a `1 x 32 x 32` grey image in `[-1, 1]` (as `read_array` reads a
/// grey PNG: `2 p / 255 - 1`).
pub fn shipped_image(i: usize) -> anyhow::Result<(&'static str, Vec<f64>)> {
    let (name, png) = FASHION_TEST
        .get(i)
        .ok_or_else(|| anyhow::anyhow!("there are {} shipped images", FASHION_TEST.len()))?;
    let img = image::load_from_memory(png)?.to_luma8();
    Ok((
        name,
        img.into_raw()
            .iter()
            .map(|&p| 2.0 * p as f64 / 255.0 - 1.0)
            .collect(),
    ))
}
