//! Gradient clipping by global norm, as `torch.nn.utils.clip_grad_norm_` does: the 2-norm over all
//! gradients together, scaled by `min(1, max_norm / (norm + 1e-6))`.

use std::collections::HashMap;

use candle_core::Tensor;

use crate::error::Result;

/// Scales `grads` in place when their global norm exceeds `max_norm`; returns the norm before
/// clipping (what gets logged).
pub fn clip_grad_norm(grads: &mut HashMap<String, Tensor>, max_norm: f64) -> Result<f64> {
    let mut sum_sq = 0f64;
    for g in grads.values() {
        sum_sq += g.sqr()?.sum_all()?.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
    }
    let norm = sum_sq.sqrt();
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        for g in grads.values_mut() {
            *g = (&*g * coef)?;
        }
    }
    Ok(norm)
}
