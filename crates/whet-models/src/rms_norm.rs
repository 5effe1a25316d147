//! RMSNorm as transformers' `LlamaRMSNorm` computes it: `x / rms(x)` in f32, rounded to the
//! activation dtype, then multiplied by the weight in that dtype. (candle-nn's fused kernel, used
//! here for the f32 part, would round the RMS itself to bf16 — a per-row error transformers
//! does not make.)
//!
//! Uses candle-nn's fused kernel, which passes no gradient back; the training issue swaps in an
//! op with a backward pass for training graphs.

use candle_core::{DType, Tensor};

use crate::error::Result;
use crate::weights::Weights;

#[derive(Debug, Clone)]
pub struct RmsNorm {
    pub weight: Tensor,
    pub eps: f32,
    /// f32 ones: the unit scale for normalising non-f32 activations in f32.
    unit: Tensor,
}

impl RmsNorm {
    pub fn load(w: &mut Weights, prefix: &str, dim: usize, eps: f64) -> Result<Self> {
        Ok(Self {
            weight: w.get(&format!("{prefix}.weight"), &[dim])?,
            eps: eps as f32,
            unit: Tensor::ones(dim, DType::F32, w.device())?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        if dtype == DType::F32 {
            return Ok(candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, self.eps)?);
        }
        let normed = candle_nn::ops::rms_norm(&x.to_dtype(DType::F32)?, &self.unit, self.eps)?;
        Ok(normed.to_dtype(dtype)?.broadcast_mul(&self.weight)?)
    }
}
