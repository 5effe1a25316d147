//! RMSNorm as transformers' `LlamaRMSNorm` computes it: `x · rsqrt(mean(x²) + eps)` in f32,
//! rounded to the activation dtype, then multiplied by the weight in that dtype.
//!
//! Its own op rather than candle-nn's fused kernel, which passes no gradient back (silently) and,
//! for bf16, rounds the RMS itself to bf16, a per-row error transformers does not make. The
//! backward pass: with `x̂ = x·r`, `dw = Σ g⊙x̂` and `dx = r·(g⊙w − x̂·mean(g⊙w⊙x̂))`.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor, D};
use rayon::prelude::*;

use crate::cpu_storage::f32_slice;

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
        let op = RmsNormOp { eps: self.eps };
        if dtype == DType::F32 {
            return Ok(x.contiguous()?.apply_op2(&self.weight, op)?);
        }
        let normed = x.to_dtype(DType::F32)?.apply_op2(&self.unit, op)?;
        Ok(normed.to_dtype(dtype)?.broadcast_mul(&self.weight)?)
    }
}

/// `w ⊙ x · rsqrt(mean(x²) + eps)` over the last dimension, f32.
struct RmsNormOp {
    eps: f32,
}

impl RmsNormOp {
    /// `1 / rms` per row, keeping the reduced dimension, from composed ops (for the backward).
    fn inv_rms(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        (x.sqr()?.mean_keepdim(D::Minus1)? + self.eps as f64)?.sqrt()?.recip()
    }
}

impl CustomOp2 for RmsNormOp {
    fn name(&self) -> &'static str {
        "rms-norm"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(xs, xl, self.name())?;
        let w = f32_slice(ws, wl, self.name())?;
        let n = w.len();
        if xl.dims().last() != Some(&n) {
            candle_core::bail!("rms-norm: weight of {n} for input {:?}", xl.dims());
        }
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(n).zip(x.par_chunks(n)).for_each(|(y, x)| {
            let mean_sq = x.iter().map(|v| v * v).sum::<f32>() / n as f32;
            let r = 1.0 / (mean_sq + self.eps).sqrt();
            for ((y, x), w) in y.iter_mut().zip(x).zip(w) {
                *y = w * (x * r);
            }
        });
        Ok((CpuStorage::F32(out), xl.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _y: &Tensor, g: &Tensor) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let r = self.inv_rms(x)?;
        let x_hat = x.broadcast_mul(&r)?;
        let n = w.dim(0)?;
        let dw = (g * &x_hat)?.reshape(((), n))?.sum(0)?;
        let gw = g.broadcast_mul(w)?;
        let dot = (&gw * &x_hat)?.mean_keepdim(D::Minus1)?;
        let dx = gw.sub(&x_hat.broadcast_mul(&dot)?)?.broadcast_mul(&r)?;
        Ok((Some(dx), Some(dw)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn forward_and_gradients_equal_the_composed_rms_norm() {
        let x = Var::from_tensor(&Tensor::randn(0f32, 2.0, (2, 3, 33), &Device::Cpu).unwrap()).unwrap();
        let w = Var::from_tensor(&Tensor::randn(1f32, 0.3, 33, &Device::Cpu).unwrap()).unwrap();
        let probe = Tensor::randn(0f32, 1.0, (2, 3, 33), &Device::Cpu).unwrap();
        let fused = x.as_tensor().apply_op2(w.as_tensor(), RmsNormOp { eps: 1e-5 }).unwrap();
        let composed = candle_nn::ops::rms_norm_slow(x.as_tensor(), w.as_tensor(), 1e-5).unwrap();
        let max = |t: Tensor| t.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(max((&fused - &composed).unwrap()) < 1e-5);
        let g1 = (fused * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        let g2 = (composed * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        for v in [x.as_tensor(), w.as_tensor()] {
            let d = max((g1.get(v).unwrap() - g2.get(v).unwrap()).unwrap());
            assert!(d < 1e-4, "{d}");
        }
    }
}
