//! RMSNorm as transformers' `LlamaRMSNorm` computes it: statistics in f32, `weight * x / rms`.
//!
//! Uses candle-nn's fused kernel, which passes no gradient back; the training issue swaps in an
//! op with a backward pass for training graphs.

use candle_core::Tensor;

use crate::error::Result;
use crate::weights::Weights;

#[derive(Debug, Clone)]
pub struct RmsNorm {
    pub weight: Tensor,
    pub eps: f32,
}

impl RmsNorm {
    pub fn load(w: &mut Weights, prefix: &str, dim: usize, eps: f64) -> Result<Self> {
        Ok(Self {
            weight: w.get(&format!("{prefix}.weight"), &[dim])?,
            eps: eps as f32,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, self.eps)?)
    }
}
