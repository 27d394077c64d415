//! The native CPU engine (`vmlmap_models::native`) against burn's network and autodiff on
//! the same weights: `D` and `Jᵀv` through the `Denoiser` interface, to f32 round-off, on
//! the embedded prior and on small random networks that cover every block variant
//! (scale-shift or additive embedding, res-block or conv up/down sampling, average
//! pooling, legacy or new attention order, several heads, learned sigma); plus the engine
//! choice and bit-for-bit repeatability.

use burn::tensor::{DType, Device};
use vmlmap_core::vector::rel_err;
use vmlmap_core::Denoiser;
use vmlmap_models::adm::load::random_unet;
use vmlmap_models::adm::AdmConfig;
use vmlmap_models::autodiff_denoiser::{AutodiffDenoiser, Precision};
use vmlmap_models::eps_denoiser::{Adm, EpsDenoiser, EpsNetwork};
use vmlmap_models::registry::{load_denoiser_on, Engine, NetworkDenoiser};

fn inputs(n: usize, seed: u64) -> Vec<f64> {
    vmlmap_core::rng::normal_vec(&mut vmlmap_core::rng::seeded(seed), n)
}

/// `D` and `Jᵀv` of both engines on a batch, each image at its own sigma.
fn compare(native: &NetworkDenoiser, burn: &NetworkDenoiser, sigmas: &[f64], what: &str) {
    assert_eq!(native.engine(), Engine::Native);
    assert_eq!(burn.engine(), Engine::Burn);
    let n = native.shape().numel() * sigmas.len();
    let x: Vec<f64> = inputs(n, 1).iter().map(|v| 0.8 * v).collect();
    let v = inputs(n, 2);
    let (dn, db) = (
        native.denoise_batch(&x, sigmas).unwrap(),
        burn.denoise_batch(&x, sigmas).unwrap(),
    );
    let e = rel_err(&dn, &db);
    assert!(e < 1e-5, "{what}: D differs by {e:.1e}");
    let ln = native.linearize_batch(&x, sigmas).unwrap();
    assert_eq!(
        ln.output(),
        dn.as_slice(),
        "{what}: linearize output = denoise"
    );
    let gn = ln.vjp(&v).unwrap();
    let gb = burn.linearize_batch(&x, sigmas).unwrap().vjp(&v).unwrap();
    let e = rel_err(&gn, &gb);
    assert!(e < 1e-4, "{what}: VJP differs by {e:.1e}");
    // Against the network's part alone (J^T v − v), which is what the engines compute.
    let net_n: Vec<f64> = gn.iter().zip(&v).map(|(g, v)| g - v).collect();
    let net_b: Vec<f64> = gb.iter().zip(&v).map(|(g, v)| g - v).collect();
    let e = rel_err(&net_n, &net_b);
    assert!(e < 1e-4, "{what}: network VJP differs by {e:.1e}");
    eprintln!("{what}: ok");
}

#[test]
fn embedded_prior_matches_burn() {
    let dev = Device::flex();
    let (native, _) =
        load_denoiser_on("default", &dev, Precision::F32, None, Engine::Native).unwrap();
    let (burn, _) = load_denoiser_on("default", &dev, Precision::F32, None, Engine::Burn).unwrap();
    compare(&native, &burn, &[0.02, 0.5, 3.0], "default");
    compare(&native, &burn, &[80.0], "default, one image");
}

fn random(cfg: AdmConfig, seed: u64) -> (NetworkDenoiser, NetworkDenoiser) {
    let dev = Device::flex();
    let make = |engine| {
        let net = random_unet(&cfg, seed, false, &dev, DType::F32).unwrap();
        let net: Box<dyn EpsNetwork> = Box::new(Adm {
            net,
            config: cfg.clone(),
        });
        let burn =
            AutodiffDenoiser::new(EpsDenoiser::new(net, "random"), dev.clone(), Precision::F32);
        NetworkDenoiser::new(burn, engine)
    };
    (make(Engine::Native), make(Engine::Burn))
}

/// A 16×16 RGB network with learned sigma: scale-shift norm, res-block up/down sampling,
/// legacy attention with 2 heads at 8×8; the tests vary it.
fn small_config() -> AdmConfig {
    AdmConfig {
        image_size: 16,
        in_channels: 3,
        model_channels: 32,
        out_channels: 6,
        num_res_blocks: 1,
        attention_ds: vec![2],
        channel_mult: vec![1, 2],
        num_heads: 2,
        num_head_channels: None,
        num_heads_upsample: None,
        use_scale_shift_norm: true,
        resblock_updown: true,
        use_new_attention_order: false,
        conv_resample: true,
    }
}

#[test]
fn every_block_variant_matches_burn() {
    let base = small_config();
    let variants = [
        (
            "scale-shift, res-block up/down, legacy attention, 2 heads, learned sigma",
            base.clone(),
        ),
        (
            "additive embedding, conv resampling, new attention order",
            AdmConfig {
                use_scale_shift_norm: false,
                resblock_updown: false,
                use_new_attention_order: true,
                out_channels: 3,
                ..base.clone()
            },
        ),
        (
            "average pooling and plain upsampling, 2 res blocks, 3 levels",
            AdmConfig {
                resblock_updown: false,
                conv_resample: false,
                num_res_blocks: 2,
                channel_mult: vec![1, 1, 2],
                attention_ds: vec![4],
                num_heads: 1,
                num_head_channels: Some(32),
                ..base.clone()
            },
        ),
    ];
    for (i, (what, cfg)) in variants.into_iter().enumerate() {
        let (native, burn) = random(cfg, 7 + i as u64);
        compare(&native, &burn, &[0.1, 2.0], what);
    }
}

#[test]
fn engine_choice_and_repeatability() {
    assert_eq!("native".parse::<Engine>().unwrap(), Engine::Native);
    assert_eq!("burn".parse::<Engine>().unwrap(), Engine::Burn);
    let e = "fast".parse::<Engine>().unwrap_err().to_string();
    assert!(
        e.contains("\"fast\"") && e.contains("native or burn"),
        "{e}"
    );
    let dev = Device::flex();
    // f64 networks (finite-difference checks) stay on burn.
    let (f64net, _) =
        load_denoiser_on("default", &dev, Precision::F64, None, Engine::Native).unwrap();
    assert_eq!(f64net.engine(), Engine::Burn);
    let (den, _) = load_denoiser_on("default", &dev, Precision::F32, None, Engine::Native).unwrap();
    let x = inputs(4 * den.shape().numel(), 3);
    let sig = [0.3, 0.3, 1.0, 9.0];
    let a = den.linearize_batch(&x, &sig).unwrap().vjp(&x).unwrap();
    let b = den.linearize_batch(&x, &sig).unwrap().vjp(&x).unwrap();
    assert_eq!(a, b, "same input, same output, bit for bit");
    // The same on one thread: blocks and reductions do not depend on the thread count.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let c = pool.install(|| den.linearize_batch(&x, &sig).unwrap().vjp(&x).unwrap());
    assert_eq!(a, c, "1 thread and the default pool, bit for bit");
    // Batched and single evaluations agree to round-off.
    let n = den.shape().numel();
    let batch = den.denoise_batch(&x, &sig).unwrap();
    for (i, s) in sig.iter().enumerate() {
        let one = den.denoise(&x[i * n..(i + 1) * n], *s).unwrap();
        let e = rel_err(&one, &batch[i * n..(i + 1) * n]);
        assert!(e < 1e-6, "image {i}: batch vs single {e:.1e}");
    }
}

/// Every parameter's gradient of `<model(x, t), g>` from the native backward (training
/// mode) against burn autodiff, by state-dict name; and the input gradient with it.
#[test]
fn parameter_gradients_match_burn() {
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::tensor::{Gradients, Tensor, TensorData};
    use vmlmap_models::adm::unet::parameter_shapes;
    use vmlmap_models::native::{Act, Mode, NativeAdm, ParamGrads};

    struct Collect<'a>(&'a Gradients, Vec<Vec<f64>>);
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let g = param
                .val()
                .grad(self.0)
                .expect("every parameter has a gradient");
            self.1.push(
                g.into_data()
                    .convert::<f64>()
                    .try_into_vec::<f64>()
                    .unwrap(),
            );
        }
    }
    let base = small_config();
    let variants = [
        base.clone(),
        AdmConfig {
            use_scale_shift_norm: false,
            resblock_updown: false,
            use_new_attention_order: true,
            ..base.clone()
        },
        AdmConfig {
            resblock_updown: false,
            conv_resample: false,
            ..base.clone()
        },
    ];
    for (i, cfg) in variants.into_iter().enumerate() {
        let ad = Device::flex().autodiff();
        let net = random_unet(&cfg, 11 + i as u64, false, &ad, DType::F32).unwrap();
        let (b, c, s) = (2, cfg.in_channels, cfg.image_size);
        let x = inputs(b * c * s * s, 3);
        let out_c = cfg.out_channels;
        let g = inputs(b * out_c * s * s, 4);
        let ts = [37.0, 810.0];
        let f32v = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
        let xt: Tensor<4> =
            Tensor::<4>::from_data(TensorData::new(f32v(&x), [b, c, s, s]), &ad).require_grad();
        let gt: Tensor<4> = Tensor::from_data(TensorData::new(f32v(&g), [b, out_c, s, s]), &ad);
        let grads = (net.forward(xt.clone(), &ts) * gt).sum().backward();
        let mut burn = Collect(&grads, Vec::new());
        net.visit(&mut burn);
        let dx_burn: Vec<f64> = xt
            .grad(&grads)
            .unwrap()
            .into_data()
            .convert::<f64>()
            .try_into_vec()
            .unwrap();

        let native = NativeAdm::from_burn(&net);
        let (_, tape) = native.forward_mode(Act::from_nchw(&x, b, c, s, s), &ts, Mode::Train);
        let mut pg = ParamGrads::default();
        let dx = native
            .backward_params(
                tape.unwrap(),
                &Act::from_nchw(&g, b, out_c, s, s),
                Some(&mut pg),
            )
            .to_nchw(c);
        let e = rel_err(&dx, &dx_burn);
        assert!(e < 1e-4, "variant {i}: input gradient differs by {e:.1e}");
        let names = parameter_shapes(&cfg).unwrap();
        assert_eq!(names.len(), burn.1.len());
        assert_eq!(
            pg.map.len(),
            names.len(),
            "variant {i}: one gradient per parameter"
        );
        // Relative to 1e-3, with an absolute floor of 1e-5: the bias of a convolution that
        // feeds a GroupNorm of one channel per group has an exactly zero gradient (the norm
        // removes any per-channel shift), which both sides give as round-off of 1e-7.
        let mut bad = Vec::new();
        let n = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
        for ((name, _), want) in names.iter().zip(&burn.1) {
            let got: Vec<f64> = pg.map[name].iter().map(|&v| v as f64).collect();
            let diff: Vec<f64> = got.iter().zip(want).map(|(a, b)| a - b).collect();
            if n(&diff) > 1e-3 * n(want) + 1e-5 {
                bad.push(format!(
                    "{name}: |diff| {:.1e}, |want| {:.1e}",
                    n(&diff),
                    n(want)
                ));
            }
        }
        assert!(
            bad.is_empty(),
            "variant {i}: gradients differ: {}",
            bad.join(", ")
        );
    }
}
