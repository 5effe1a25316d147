//! AdamW with PyTorch's exact update (`torch.optim.AdamW`, single-tensor path), so whet's runs can
//! be checked step by step against PyTorch: decoupled decay `p ← p·(1 − lr·wd)` (applied to every
//! parameter of a group, gradient or not), then
//! `p ← p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)`.
//!
//! candle-nn's AdamW differs in where ε and the bias corrections enter; the difference is small,
//! but parity tests are exact, hence this implementation. Moments are plain tensors, saved and
//! restored with checkpoints.

use std::collections::HashMap;

use candle_core::Tensor;

use crate::error::{Error, Result};
use crate::trainable::Param;

#[derive(Debug, Clone, Copy)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

pub struct AdamW {
    pub config: AdamWConfig,
    /// Steps taken.
    pub step: usize,
    /// First and second moments per parameter name.
    pub moments: HashMap<String, (Tensor, Tensor)>,
}

impl AdamW {
    pub fn new(config: AdamWConfig) -> Self {
        Self {
            config,
            step: 0,
            moments: HashMap::new(),
        }
    }

    /// One update of `params` with learning rate `lr` and their gradients `grads` (by name;
    /// a parameter without a gradient is only decayed, as in PyTorch when its grad is zero).
    pub fn step(&mut self, params: &[Param], grads: &HashMap<String, Tensor>, lr: f64) -> Result<()> {
        self.step += 1;
        let AdamWConfig { beta1, beta2, eps } = self.config;
        let t = self.step as i32;
        let bias1 = 1.0 - beta1.powi(t);
        let bias2_sqrt = (1.0 - beta2.powi(t)).sqrt();
        for p in params {
            let value = p.var.as_tensor();
            let grad = match grads.get(&p.name) {
                Some(g) => g.clone(),
                None => value.zeros_like()?,
            };
            if grad.dims() != value.dims() {
                return Err(Error::Optimizer(format!("gradient of {} has shape {:?}, parameter {:?}", p.name, grad.dims(), value.dims())));
            }
            let (m, v) = match self.moments.remove(&p.name) {
                Some(mv) => mv,
                None => (value.zeros_like()?, value.zeros_like()?),
            };
            let m = ((m * beta1)? + (&grad * (1.0 - beta1))?)?;
            let v = ((v * beta2)? + (grad.sqr()? * (1.0 - beta2))?)?;
            let decayed = (value * (1.0 - lr * p.weight_decay))?;
            let denom = ((v.sqrt()? / bias2_sqrt)? + eps)?;
            let update = ((&m / denom)? * (lr / bias1))?;
            p.var.set(&(decayed - update)?)?;
            self.moments.insert(p.name.clone(), (m, v));
        }
        Ok(())
    }
}
