//! Where a network's weights come from while it is built: a checkpoint (by state-dict name,
//! with every mismatch recorded) or seeded random initialisation (for presets without a
//! file, benchmarks and training from scratch).

use crate::checkpoint::WeightLoader;
use burn::module::Param;
use burn::tensor::{DType, Device, Tensor, TensorData};
use vmlmap_core::rng::{normal_vec, seeded, Rng};

/// How a freshly initialised tensor is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// `N(0, 1/fan_in)` (conv and linear weights).
    FanIn(usize),
    /// All zeros (biases; the zero-initialised output convolutions of ADM).
    Zeros,
    /// All ones (normalisation scales).
    Ones,
}

/// A provider of named tensors.
pub trait WeightSource {
    fn take(&mut self, name: &str, shape: &[usize], init: Init) -> Vec<f32>;
}

impl WeightSource for WeightLoader<'_> {
    fn take(&mut self, name: &str, shape: &[usize], _init: Init) -> Vec<f32> {
        WeightLoader::take(self, name, shape)
    }
}

/// Seeded random weights. `zero_outputs = false` replaces ADM's zero-initialised layers by
/// small random ones, so that a random network is not trivially zero (tests, benchmarks).
pub struct RandomInit {
    rng: Rng,
    pub zero_outputs: bool,
}

impl RandomInit {
    pub fn new(seed: u64, zero_outputs: bool) -> Self {
        Self {
            rng: seeded(seed),
            zero_outputs,
        }
    }
}

impl WeightSource for RandomInit {
    fn take(&mut self, _name: &str, shape: &[usize], init: Init) -> Vec<f32> {
        let n: usize = shape.iter().product();
        match init {
            Init::FanIn(fan) => normal_vec(&mut self.rng, n)
                .into_iter()
                .map(|v| (v / (fan as f64).sqrt()) as f32)
                .collect(),
            Init::Zeros if !self.zero_outputs && shape.len() > 1 => normal_vec(&mut self.rng, n)
                .into_iter()
                .map(|v| (0.1 * v / (shape[1..].iter().product::<usize>() as f64).sqrt()) as f32)
                .collect(),
            Init::Zeros => vec![0.0; n],
            Init::Ones => vec![1.0; n],
        }
    }
}

/// Builds parameters on one device in one dtype, recording every name and shape.
pub struct Builder<'a> {
    pub source: &'a mut dyn WeightSource,
    pub device: Device,
    pub dtype: DType,
    /// Every parameter requested, in construction order.
    pub shapes: Vec<(String, Vec<usize>)>,
    /// Record shapes only, with 1-element placeholder tensors (architecture summaries of
    /// large presets without allocating their weights).
    pub dry_run: bool,
}

impl<'a> Builder<'a> {
    pub fn new(source: &'a mut dyn WeightSource, device: Device, dtype: DType) -> Self {
        Self {
            source,
            device,
            dtype,
            shapes: Vec::new(),
            dry_run: false,
        }
    }

    pub fn param<const D: usize>(
        &mut self,
        name: &str,
        shape: [usize; D],
        init: Init,
    ) -> Param<Tensor<D>> {
        self.shapes.push((name.to_string(), shape.to_vec()));
        if self.dry_run {
            return Param::from_tensor(Tensor::from_data(
                TensorData::new(vec![0f32], [1; D]),
                (&self.device, self.dtype),
            ));
        }
        let data = self.source.take(name, &shape, init);
        let t = Tensor::from_data(TensorData::new(data, shape), (&self.device, self.dtype));
        Param::from_tensor(t)
    }

    /// Total number of values of the recorded parameters.
    pub fn parameter_count(&self) -> usize {
        self.shapes
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }
}

/// Names and shapes of an architecture's parameters, without weights.
pub struct ShapesOnly;

impl WeightSource for ShapesOnly {
    fn take(&mut self, _name: &str, shape: &[usize], _init: Init) -> Vec<f32> {
        vec![0.0; shape.iter().product()]
    }
}
