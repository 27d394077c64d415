//! AdamW (Loshchilov & Hutter 2019) over a burn module's float parameters, in visiting
//! order, with its moments kept as plain vectors so that they can be saved and resumed.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};

use burn::tensor::{Gradients, Tensor, TensorData};

/// AdamW state.
pub struct AdamW {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Completed steps.
    pub step: u64,
    /// First and second moments per parameter (flattened), in visiting order.
    pub m: Vec<Vec<f32>>,
    pub v: Vec<Vec<f32>>,
}

impl AdamW {
    pub fn new(lr: f64) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            step: 0,
            m: Vec::new(),
            v: Vec::new(),
        }
    }

    /// One update of every parameter that has a gradient; `lr` is this step's rate.
    pub fn update<M: Module>(&mut self, model: M, grads: &Gradients, lr: f64) -> M {
        self.step += 1;
        let mut mapper = Mapper {
            opt: self,
            grads,
            idx: 0,
            lr,
        };
        model.map(&mut mapper)
    }
}

struct Mapper<'a> {
    opt: &'a mut AdamW,
    grads: &'a Gradients,
    idx: usize,
    lr: f64,
}

impl ModuleMapper for Mapper<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let i = self.idx;
        self.idx += 1;
        let opt = &mut *self.opt;
        let (lr, grads) = (self.lr, self.grads);
        param.map(|t| {
            let Some(g) = t.grad(grads) else { return t };
            let dims = t.dims();
            let dev = g.device();
            let g: Vec<f32> = g
                .into_data()
                .convert::<f32>()
                .try_into_vec()
                .expect("f32 gradient");
            let w_t = t.inner();
            let dtype = w_t.dtype();
            let mut w: Vec<f32> = w_t
                .into_data()
                .convert::<f32>()
                .try_into_vec()
                .expect("f32 weights");
            if opt.m.len() <= i {
                opt.m.resize(i + 1, Vec::new());
                opt.v.resize(i + 1, Vec::new());
            }
            if opt.m[i].len() != w.len() {
                opt.m[i] = vec![0.0; w.len()];
                opt.v[i] = vec![0.0; w.len()];
            }
            let (b1, b2) = (opt.beta1 as f32, opt.beta2 as f32);
            let c1 = 1.0 - opt.beta1.powi(opt.step as i32);
            let c2 = 1.0 - opt.beta2.powi(opt.step as i32);
            let (m, v) = (&mut opt.m[i], &mut opt.v[i]);
            for k in 0..w.len() {
                m[k] = b1 * m[k] + (1.0 - b1) * g[k];
                v[k] = b2 * v[k] + (1.0 - b2) * g[k] * g[k];
                let mhat = m[k] as f64 / c1;
                let vhat = v[k] as f64 / c2;
                w[k] -=
                    (lr * (mhat / (vhat.sqrt() + opt.eps) + opt.weight_decay * w[k] as f64)) as f32;
            }
            let inner: Tensor<D> = Tensor::from_data(TensorData::new(w, dims), (&dev, dtype));
            Tensor::from_inner(inner).require_grad()
        })
    }
}

/// Every float parameter's values (flattened, f32), in visiting order.
pub fn parameters<M: Module>(model: &M) -> Vec<Vec<f32>> {
    struct Collect(Vec<Vec<f32>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(
                param
                    .val()
                    .inner()
                    .into_data()
                    .convert::<f32>()
                    .try_into_vec()
                    .expect("f32 parameter"),
            );
        }
    }
    let mut c = Collect(Vec::new());
    model.visit(&mut c);
    c.0
}
