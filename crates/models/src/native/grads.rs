//! Parameter gradients of the native engine, by state-dict name (`input_blocks.1.0.in_layers.2.weight`,
//! ...), for training: summed in f32 as each layer's backward adds its share.

use std::collections::HashMap;

/// Gradients by parameter name, each in the parameter's PyTorch layout.
#[derive(Debug, Default)]
pub struct ParamGrads {
    pub map: HashMap<String, Vec<f32>>,
}

impl ParamGrads {
    /// `grad[name] += g` (created at zero).
    pub fn add(&mut self, name: &str, g: &[f32]) {
        let e = self
            .map
            .entry(name.to_string())
            .or_insert_with(|| vec![0.0; g.len()]);
        assert_eq!(e.len(), g.len(), "gradient size of {name}");
        for (a, b) in e.iter_mut().zip(g) {
            *a += *b;
        }
    }
}
