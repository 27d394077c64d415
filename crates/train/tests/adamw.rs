//! vmlmap's AdamW against `torch.optim.AdamW` (fixture `tests/fixtures/train/adamw.json`,
//! made by `tools/make_adamw_fixture.py`): a least-squares problem, six steps with a
//! warm-up learning rate, without and with weight decay.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use vmlmap_train::adamw::{parameters, AdamW};

#[derive(Module, Debug)]
struct Affine {
    w: Param<Tensor<2>>,
    b: Param<Tensor<1>>,
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

#[test]
fn adamw_matches_torch() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/train/adamw.json"
    );
    let fx: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    let dev = Device::flex().autodiff();
    let x: Tensor<2> = Tensor::from_data(TensorData::new(floats(&fx["x"]), [4, 3]), &dev);
    let y: Tensor<2> = Tensor::from_data(TensorData::new(floats(&fx["y"]), [4, 2]), &dev);
    let lrs: Vec<f64> = fx["lrs"]
        .as_array()
        .expect("lrs")
        .iter()
        .map(|v| v.as_f64().expect("lr"))
        .collect();
    for case in fx["cases"].as_array().expect("cases") {
        let mut model = Affine {
            w: Param::from_tensor(Tensor::from_data(
                TensorData::new(floats(&fx["W0"]), [2, 3]),
                &dev,
            )),
            b: Param::from_tensor(Tensor::from_data(
                TensorData::new(floats(&fx["b0"]), [2]),
                &dev,
            )),
        };
        let mut opt = AdamW::new(lrs[0]);
        opt.weight_decay = case["weight_decay"].as_f64().expect("weight_decay");
        let mut worst = 0.0f32;
        for (k, after) in case["after"].as_array().expect("after").iter().enumerate() {
            let pred = x.clone().matmul(model.w.val().transpose()) + model.b.val().unsqueeze::<2>();
            let loss = (pred - y.clone()).powf_scalar(2.0).mean();
            let grads = loss.backward();
            model = opt.update(model, &grads, lrs[k]);
            let got = parameters(&model);
            for (g, want) in got.iter().zip([floats(&after["W"]), floats(&after["b"])]) {
                for (a, b) in g.iter().zip(&want) {
                    worst = worst.max((a - b).abs() / (1.0 + b.abs()));
                }
            }
        }
        assert!(
            worst < 2e-6,
            "weight decay {}: worst error {worst}",
            case["weight_decay"]
        );
        assert_eq!(opt.step, 6);
    }
}
