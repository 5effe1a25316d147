//! Rotary position embeddings, as transformers' `modeling_rope_utils.py` computes their
//! frequencies (default, `linear` and `llama3` scaling) and `apply_rotary_pos_emb` applies them
//! (the "rotate half" layout: dimension `i` pairs with `i + head_dim / 2`).
//!
//! Frequencies and angles are computed in f32 exactly as transformers does, since that is where
//! long-position rounding differs between implementations. The rotation itself uses candle-nn's
//! fused `rope` kernel, which has no backward pass: the training issue replaces it in training
//! graphs.

use candle_core::{Device, Tensor};

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

    /// Rotates `x` of shape `(batch, heads, seq, head_dim)` whose first position is `offset`.
    /// The tables grow when a sequence runs past them.
    pub fn apply(&self, x: &Tensor, offset: usize) -> Result<Tensor> {
        let seq = x.dim(2)?;
        let dtype = x.dtype();
        let (cos, sin) = if offset + seq <= self.len() {
            (self.cos.narrow(0, offset, seq)?, self.sin.narrow(0, offset, seq)?)
        } else {
            let (cos, sin) = tables(&self.inv_freq, offset + seq, x.device())?;
            (cos.narrow(0, offset, seq)?, sin.narrow(0, offset, seq)?)
        };
        // transformers casts cos/sin to the activation dtype before rotating.
        let (cos, sin) = (cos.to_dtype(dtype)?, sin.to_dtype(dtype)?);
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

#[cfg(test)]
mod tests {
    use super::*;

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
