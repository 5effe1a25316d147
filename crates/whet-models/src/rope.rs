//! Rotary position embeddings, as transformers' `modeling_rope_utils.py` computes their
//! frequencies (default, `linear` and `llama3` scaling) and `apply_rotary_pos_emb` applies them
//! (the "rotate half" layout: dimension `i` pairs with `i + head_dim / 2`).
//!
//! Frequencies and angles are computed in f32 exactly as transformers does, since that is where
//! long-position rounding differs between implementations. In f32 the rotation is this file's op
//! with a backward pass (the rotation's transpose is the rotation by `-θ`); candle-nn's fused
//! `rope` has none and would silently cut gradients. For bf16/f16 inference the fused kernel is
//! kept: it rounds after each multiply and add as transformers' bf16 arithmetic does.

use candle_core::{CpuStorage, CustomOp3, DType, Device, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::cpu_storage::f32_slice;

use crate::config::{DecoderConfig, RopeScaling};
use crate::error::Result;

/// Inverse frequencies `1 / theta^(2i/d)` for `i < d/2`, after scaling.
pub fn inv_freq(head_dim: usize, theta: f64, scaling: &RopeScaling) -> Vec<f32> {
    let base: Vec<f32> = (0..head_dim / 2)
        .map(|i| 1.0 / (theta as f32).powf((2 * i) as f32 / head_dim as f32))
        .collect();
    match *scaling {
        RopeScaling::None => base,
        RopeScaling::Linear { factor } => base.iter().map(|f| f / factor as f32).collect(),
        RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings: old_len,
        } => {
            let (factor, low, high, old_len) =
                (factor as f32, low_freq_factor as f32, high_freq_factor as f32, old_len as f32);
            let low_freq_wavelen = old_len / low;
            let high_freq_wavelen = old_len / high;
            base.iter()
                .map(|&f| {
                    let wavelen = 2.0 * std::f32::consts::PI / f;
                    if wavelen < high_freq_wavelen {
                        f // high frequencies: unchanged
                    } else if wavelen > low_freq_wavelen {
                        f / factor // low frequencies: interpolated
                    } else {
                        // In between: blend the two.
                        let smooth = (old_len / wavelen - low) / (high - low);
                        (1.0 - smooth) * f / factor + smooth * f
                    }
                })
                .collect()
        }
    }
}

/// Precomputed cos and sin tables, shape `(max_positions, head_dim / 2)`, f32.
#[derive(Debug, Clone)]
pub struct Rope {
    inv_freq: Vec<f32>,
    cos: Tensor,
    sin: Tensor,
}

impl Rope {
    pub fn new(cfg: &DecoderConfig, positions: usize, device: &Device) -> Result<Self> {
        let inv_freq = inv_freq(cfg.head_dim, cfg.rope_theta, &cfg.rope_scaling);
        let (cos, sin) = tables(&inv_freq, positions, device)?;
        Ok(Self { inv_freq, cos, sin })
    }

    /// Number of positions the tables cover.
    pub fn len(&self) -> usize {
        self.cos.dims()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Angles for `seq` consecutive positions from `offset`, shared by every row. The tables
    /// grow when a sequence runs past them.
    pub fn angles(&self, offset: usize, seq: usize) -> Result<RopeAngles> {
        let (cos, sin) = if offset + seq <= self.len() {
            (self.cos.narrow(0, offset, seq)?, self.sin.narrow(0, offset, seq)?)
        } else {
            let (cos, sin) = tables(&self.inv_freq, offset + seq, self.cos.device())?;
            (cos.narrow(0, offset, seq)?, sin.narrow(0, offset, seq)?)
        };
        Ok(RopeAngles { cos: cos.contiguous()?, sin: sin.contiguous()? })
    }

    /// Angles for explicit per-row positions (packed sequences restart at 0 per record):
    /// `positions` is `(batch, seq)`.
    pub fn angles_at(&self, positions: &[Vec<u32>]) -> Result<RopeAngles> {
        let rows = positions.len();
        let seq = positions.first().map_or(0, Vec::len);
        let max = positions.iter().flatten().copied().max().unwrap_or(0) as usize;
        let (cos, sin) = if max < self.len() {
            (self.cos.clone(), self.sin.clone())
        } else {
            tables(&self.inv_freq, max + 1, self.cos.device())?
        };
        let flat: Vec<u32> = positions.iter().flatten().copied().collect();
        let idx = Tensor::from_vec(flat, rows * seq, cos.device())?;
        let half = self.inv_freq.len();
        let pick = |t: &Tensor| -> Result<Tensor> { Ok(t.index_select(&idx, 0)?.reshape((rows, seq, half))?) };
        Ok(RopeAngles { cos: pick(&cos)?, sin: pick(&sin)? })
    }
}

/// cos and sin for the tokens of one forward call, f32: `(seq, head_dim / 2)` shared by every
/// row, or `(batch, seq, head_dim / 2)`.
#[derive(Debug, Clone)]
pub struct RopeAngles {
    cos: Tensor,
    sin: Tensor,
}

impl RopeAngles {
    /// Rotates `x` of shape `(batch, heads, seq, head_dim)`.
    pub fn rotate(&self, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        if dtype == DType::F32 {
            return Ok(x.contiguous()?.apply_op3(&self.cos, &self.sin, RopeOp)?);
        }
        // transformers casts cos/sin to the activation dtype before rotating.
        let (cos, sin) = (self.cos.to_dtype(dtype)?, self.sin.to_dtype(dtype)?);
        Ok(candle_nn::rotary_emb::rope(&x.contiguous()?, &cos, &sin)?)
    }
}

fn tables(inv_freq: &[f32], positions: usize, device: &Device) -> Result<(Tensor, Tensor)> {
    let half = inv_freq.len();
    let mut angles = Vec::with_capacity(positions * half);
    for p in 0..positions {
        angles.extend(inv_freq.iter().map(|f| p as f32 * f));
    }
    let angles = Tensor::from_vec(angles, (positions, half), device)?;
    Ok((angles.cos()?, angles.sin()?))
}

/// Rotates f32 `x (batch, heads, seq, d)` by angles with `cos`, `sin` of shape `(seq, d/2)` or
/// `(batch, seq, d/2)`:
/// `(x₁, x₂) → (x₁ cos − x₂ sin, x₂ cos + x₁ sin)` on the two halves of the last dimension.
struct RopeOp;

impl CustomOp3 for RopeOp {
    fn name(&self) -> &'static str {
        "rope"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        cs: &CpuStorage,
        cl: &Layout,
        ss: &CpuStorage,
        sl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(xs, xl, self.name())?;
        let (cos, sin) = (f32_slice(cs, cl, self.name())?, f32_slice(ss, sl, self.name())?);
        let (b, heads, t, d) = xl.shape().dims4()?;
        let half = d / 2;
        let per_row = cos.len() == b * t * half && b > 1;
        if !(per_row || cos.len() == t * half) || sin.len() != cos.len() {
            candle_core::bail!("rope: tables of {} for batch {b}, seq {t} and head_dim {d}", cos.len());
        }
        let mut out = vec![0f32; x.len()];
        // One chunk per (batch, head): a (t, d) block.
        out.par_chunks_mut(t * d).zip(x.par_chunks(t * d)).enumerate().for_each(|(block, (y, x))| {
            let row = if per_row { block / heads } else { 0 };
            let (cos, sin) = (&cos[row * t * half..(row + 1) * t * half], &sin[row * t * half..(row + 1) * t * half]);
            for p in 0..t {
                let (xr, yr) = (&x[p * d..(p + 1) * d], &mut y[p * d..(p + 1) * d]);
                let (c, s) = (&cos[p * half..(p + 1) * half], &sin[p * half..(p + 1) * half]);
                for i in 0..half {
                    let (a, b) = (xr[i], xr[i + half]);
                    yr[i] = a * c[i] - b * s[i];
                    yr[i + half] = b * c[i] + a * s[i];
                }
            }
        });
        Ok((CpuStorage::F32(out), xl.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // A rotation's transpose is the rotation by the opposite angle. The tables are constants.
        let dx = g.contiguous()?.apply_op3(cos, &sin.neg()?, RopeOp)?;
        Ok((Some(dx), None, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rope_op_and_its_gradient_equal_the_composed_rotate_half() {
        use candle_core::Var;
        let (b, h, t, d) = (2, 3, 5, 8);
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (b, h, t, d), &Device::Cpu).unwrap()).unwrap();
        let angles = Tensor::randn(0f32, 1.0, (t, d / 2), &Device::Cpu).unwrap();
        let (cos, sin) = (angles.cos().unwrap(), angles.sin().unwrap());
        let ours = x.as_tensor().apply_op3(&cos, &sin, RopeOp).unwrap();
        let reference = candle_nn::rotary_emb::rope_slow(x.as_tensor(), &cos, &sin).unwrap();
        let max = |t: Tensor| t.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(max((&ours - &reference).unwrap()) < 1e-6);
        let probe = Tensor::randn(0f32, 1.0, (b, h, t, d), &Device::Cpu).unwrap();
        let g1 = (ours * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        let g2 = (reference * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        assert!(max((g1.get(x.as_tensor()).unwrap() - g2.get(x.as_tensor()).unwrap()).unwrap()) < 1e-5);
    }

    #[test]
    fn llama3_scaling_keeps_high_scales_low_and_blends_middle() {
        let scaling = RopeScaling::Llama3 {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 64.0,
        };
        let base = inv_freq(16, 500_000.0, &RopeScaling::None);
        let scaled = inv_freq(16, 500_000.0, &scaling);
        // Wavelength 2π < 16 = 64/4: unchanged.
        assert_eq!(scaled[0], base[0]);
        // The lowest frequency has a wavelength far above 64: divided by the factor.
        let last = base.len() - 1;
        assert!((scaled[last] - base[last] / 8.0).abs() < 1e-12);
        // Some frequency lies strictly between the two.
        assert!(base
            .iter()
            .zip(&scaled)
            .any(|(b, s)| *s < *b * 0.999 && *s > *b / 8.0 * 1.001));
    }

    #[test]
    fn linear_scaling_divides_every_frequency() {
        let base = inv_freq(8, 10_000.0, &RopeScaling::None);
        let scaled = inv_freq(8, 10_000.0, &RopeScaling::Linear { factor: 2.0 });
        for (b, s) in base.iter().zip(&scaled) {
            assert!((b / 2.0 - s).abs() < 1e-12);
        }
    }
}
