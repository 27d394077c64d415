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

impl AdamW {
    /// One update of parameter `i` (visiting order) with gradient `g`, at the current
    /// `step` (already counted).
    fn update_param(&mut self, i: usize, w: &mut [f32], g: &[f32], lr: f64) {
        self.ensure_moments(i, w.len());
        let rule = self.rule(lr);
        rule.apply(w, g, &mut self.m[i], &mut self.v[i]);
    }

    /// Moments for parameter `i` of `n` values (zeros when new or resized).
    fn ensure_moments(&mut self, i: usize, n: usize) {
        if self.m.len() <= i {
            self.m.resize(i + 1, Vec::new());
            self.v.resize(i + 1, Vec::new());
        }
        if self.m[i].len() != n {
            self.m[i] = vec![0.0; n];
            self.v[i] = vec![0.0; n];
        }
    }

    fn rule(&self, lr: f64) -> Rule {
        Rule {
            b1: self.beta1 as f32,
            b2: self.beta2 as f32,
            c1: 1.0 - self.beta1.powi(self.step as i32),
            c2: 1.0 - self.beta2.powi(self.step as i32),
            lr,
            eps: self.eps,
            weight_decay: self.weight_decay,
        }
    }

    /// [`AdamW::update`] on plain vectors: every parameter (visiting order) with its
    /// gradient, the same arithmetic.
    pub fn update_flat(&mut self, params: &mut [Vec<f32>], grads: &[&[f32]], lr: f64) {
        use rayon::prelude::*;
        assert_eq!(params.len(), grads.len(), "one gradient per parameter");
        self.step += 1;
        for (i, w) in params.iter().enumerate() {
            self.ensure_moments(i, w.len());
        }
        // Parameters are independent: each is updated on the pool, with the same
        // arithmetic per value as one at a time.
        let rule = self.rule(lr);
        params
            .par_iter_mut()
            .zip(grads.par_iter())
            .zip(self.m.par_iter_mut().zip(self.v.par_iter_mut()))
            .for_each(|((w, g), (m, v))| rule.apply(w, g, m, v));
    }
}

/// One step's AdamW constants: the betas, the bias corrections `1 − β^t`, the rate.
struct Rule {
    b1: f32,
    b2: f32,
    c1: f64,
    c2: f64,
    lr: f64,
    eps: f64,
    weight_decay: f64,
}

impl Rule {
    fn apply(&self, w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        let (b1, b2) = (self.b1, self.b2);
        for k in 0..w.len() {
            m[k] = b1 * m[k] + (1.0 - b1) * g[k];
            v[k] = b2 * v[k] + (1.0 - b2) * g[k] * g[k];
            let mhat = m[k] as f64 / self.c1;
            let vhat = v[k] as f64 / self.c2;
            w[k] -= (self.lr * (mhat / (vhat.sqrt() + self.eps) + self.weight_decay * w[k] as f64))
                as f32;
        }
    }
}

/// `model` with every float parameter replaced by `values` (visiting order, flattened),
/// on its device and dtype, **not** tracked by burn's autodiff.
///
/// The native engine's steps use it: a tracked leaf registers a root in burn's autodiff
/// graph, and only a burn `backward` frees it, which a native step never runs, so
/// tracking every parameter at every step grew the process by about 200 KB a step (7 GB
/// over the 37,500 steps of the default prior's run). [`track_parameters`] tracks them
/// again before a burn step.
pub fn set_parameters<M: Module>(model: M, values: &[Vec<f32>]) -> M {
    struct Set<'a>(&'a [Vec<f32>], usize);
    impl ModuleMapper for Set<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let v = self.0[self.1].clone();
            self.1 += 1;
            param.map(|t| {
                let dims = t.dims();
                let inner = t.inner();
                let (dev, dtype) = (inner.device(), inner.dtype());
                let new: Tensor<D> = Tensor::from_data(TensorData::new(v, dims), (&dev, dtype));
                Tensor::from_inner(new)
            })
        }
    }
    model.map(&mut Set(values, 0))
}

/// `model` with every float parameter tracked by burn's autodiff (those already tracked
/// are left as they are).
pub fn track_parameters<M: Module>(model: M) -> M {
    struct Track;
    impl ModuleMapper for Track {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|t| t.require_grad())
        }
    }
    model.map(&mut Track)
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
            opt.update_param(i, &mut w, &g, lr);
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
