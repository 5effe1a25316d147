//! RMSNorm as transformers' `LlamaRMSNorm` computes it: `x · rsqrt(mean(x²) + eps)` in f32,
//! rounded to the activation dtype, then multiplied by the weight in that dtype.
//!
//! Its own op rather than candle-nn's fused kernel, which passes no gradient back (silently) and,
//! for bf16, rounds the RMS itself to bf16, a per-row error transformers does not make. The
//! backward pass: with `x̂ = x·r`, `dw = Σ g⊙x̂` and `dx = r·(g⊙w − x̂·mean(g⊙w⊙x̂))`.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::cpu_storage::{f32_slice, storage_f32};

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
    /// `1 / sqrt(mean(x²) + eps)` of one row, as both passes compute it.
    fn inv_rms(&self, x: &[f32]) -> f32 {
        let mean_sq = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
        1.0 / (mean_sq + self.eps).sqrt()
    }
}

/// Rows per partial sum of the weight's gradient: fixed, so the sum's order (and the result)
/// does not depend on how rayon splits the work.
const DW_BLOCK_ROWS: usize = 64;

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
            let r = self.inv_rms(x);
            for ((y, x), w) in y.iter_mut().zip(x).zip(w) {
                *y = w * (x * r);
            }
        });
        Ok((CpuStorage::F32(out), xl.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _y: &Tensor, g: &Tensor) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        // One pass per row for dx, and dw (only when the weight is trained) from per-block
        // partial sums: the composed version made a dozen passes over (rows, n) tensors.
        let name = self.name();
        let n = w.dim(0)?;
        let (x, g) = (x.contiguous()?, g.contiguous()?);
        let (x_s, x_l) = x.storage_and_layout();
        let (w_s, w_l) = w.storage_and_layout();
        let (g_s, g_l) = g.storage_and_layout();
        let (xs, ws, gs) = (storage_f32(&x_s, x_l, name)?, storage_f32(&w_s, w_l, name)?, storage_f32(&g_s, g_l, name)?);
        if n == 0 || xs.len() % n != 0 || gs.len() != xs.len() {
            candle_core::bail!("{name}: weight of {n}, input {:?}, gradient {:?}", x.dims(), g.dims());
        }
        let r: Vec<f32> = xs.par_chunks(n).map(|x| self.inv_rms(x)).collect();
        let mut dx = vec![0f32; xs.len()];
        dx.par_chunks_mut(n).zip(xs.par_chunks(n)).zip(gs.par_chunks(n)).zip(&r).for_each(|(((dx, x), g), &r)| {
            // dot = mean(g ⊙ w ⊙ x̂); dx = r · (g ⊙ w − x̂ · dot)
            let dot = x.iter().zip(g).zip(ws).map(|((x, g), w)| g * w * (x * r)).sum::<f32>() / n as f32;
            for (((dx, x), g), w) in dx.iter_mut().zip(x).zip(g).zip(ws) {
                *dx = r * (g * w - x * r * dot);
            }
        });
        let dw = if w.track_op() {
            let rows = DW_BLOCK_ROWS * n;
            let partial: Vec<Vec<f32>> = xs
                .par_chunks(rows)
                .zip(gs.par_chunks(rows))
                .zip(r.par_chunks(DW_BLOCK_ROWS))
                .map(|((x, g), r)| {
                    let mut acc = vec![0f32; n];
                    for ((x, g), &r) in x.chunks(n).zip(g.chunks(n)).zip(r) {
                        acc.iter_mut().zip(x).zip(g).for_each(|((a, x), g)| *a += g * (x * r));
                    }
                    acc
                })
                .collect();
            let mut dw = vec![0f32; n];
            for p in &partial {
                dw.iter_mut().zip(p).for_each(|(d, p)| *d += p);
            }
            Some(Tensor::from_vec(dw, n, w.device())?)
        } else {
            None
        };
        Ok((Some(Tensor::from_vec(dx, x.shape(), x.device())?), dw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn forward_and_gradients_equal_the_composed_rms_norm() {
        // 201 rows: the weight's gradient is summed over blocks of 64 rows and a partial block.
        let x = Var::from_tensor(&Tensor::randn(0f32, 2.0, (3, 67, 33), &Device::Cpu).unwrap()).unwrap();
        let w = Var::from_tensor(&Tensor::randn(1f32, 0.3, 33, &Device::Cpu).unwrap()).unwrap();
        let probe = Tensor::randn(0f32, 1.0, (3, 67, 33), &Device::Cpu).unwrap();
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
        // A frozen weight gets no gradient; the input's is the same.
        let frozen = w.as_tensor().detach();
        let out = x.as_tensor().apply_op2(&frozen, RmsNormOp { eps: 1e-5 }).unwrap();
        let g3 = (out * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        assert!(g3.get(&frozen).is_none());
        assert_eq!(g3.get(x.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap(), g1.get(x.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap());
    }
}
