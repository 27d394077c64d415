//! Every task name and the options each accepts, with a description of the default.

/// Every task name, in the order reports list them.
pub const TASK_NAMES: &[&str] = &[
    "inpaint-box",
    "inpaint-random",
    "inpaint-half",
    "inpaint-mask",
    "sr2",
    "sr4",
    "sr8",
    "sr2-bicubic",
    "sr4-bicubic",
    "deblur-gaussian",
    "deblur-uniform",
    "deblur-motion",
    "colorize",
    "denoise",
    "cs",
];

/// The options each task accepts, with a description of the default.
pub fn task_options(name: &str) -> &'static [(&'static str, &'static str)] {
    match name {
        "inpaint-box" => &[
            ("size", "box side in pixels (default: half the image side)"),
            ("top", "top row of the box (default: centred)"),
            ("left", "left column of the box (default: centred)"),
        ],
        "inpaint-random" => &[
            ("fraction", "fraction of pixels missing (default 0.7)"),
            ("seed", "mask seed (default 0)"),
        ],
        "inpaint-half" => &[(
            "missing",
            "which half is missing: left, right, top, bottom (default right)",
        )],
        "inpaint-mask" => &[
            ("path", "PNG mask, white (>= 128) = observed (required)"),
            ("invert", "true: black = observed (default false)"),
            (
                "sha256",
                "SHA-256 of the mask file; a file that differs is refused (degrade records it)",
            ),
        ],
        "deblur-gaussian" => &[
            ("size", "kernel taps (default: size rule)"),
            ("std", "standard deviation in pixels (default: size rule)"),
        ],
        "deblur-uniform" => &[("size", "kernel taps (default: size rule)")],
        "deblur-motion" => &[
            ("size", "kernel side (default: size rule)"),
            (
                "intensity",
                "trajectory erraticness in [0, 1] (default 0.5)",
            ),
            ("seed", "trajectory seed (default 0)"),
            (
                "kernel",
                "kernel file instead of a random one: PNG (grey) or text matrix",
            ),
            (
                "sha256",
                "SHA-256 of the kernel file; a file that differs is refused (degrade records it)",
            ),
        ],
        "cs" => &[
            ("ratio", "measurements per unknown, in (0, 1] (default 0.5)"),
            ("seed", "matrix seed (default 0)"),
        ],
        _ => &[],
    }
}
