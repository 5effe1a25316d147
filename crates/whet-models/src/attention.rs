//! Causal self-attention with grouped-query heads and an optional sliding window, after
//! `LlamaAttention` and `eager_attention_forward` in transformers' `modeling_llama.py`.
//!
//! Query heads are grouped by the key/value head they share and multiplied against that head's
//! keys directly, instead of copying keys and values `n_rep` times as `repeat_kv` does: same
//! result, less memory traffic during decoding. Scores are masked and soft-maxed in f32.
//!
//! Without a cached prefix (training, scoring, the prefill of a fresh cache), f32 on the CPU,
//! the caller can pass [`AttentionMask::Fused`]: the same attention through the fused op of
//! `flash_attention.rs`, which never materialises the scores.

use std::sync::Arc;

use candle_core::{DType, Device, Tensor};

use crate::config::DecoderConfig;
use crate::error::Result;
use crate::flash_attention::{flash_attention, Visibility};
use crate::kv_cache::KvCache;
use crate::proj::Proj;
use crate::rope::RopeAngles;
use crate::weights::Weights;

/// Applies a projection of the layer to a batch's rows (see [`Attention::forward_rows`]).
pub type Project<'a> = dyn Fn(&Proj, &Tensor) -> Result<Tensor> + 'a;

/// Which keys the queries of one forward pass see.
#[derive(Debug, Clone)]
pub enum AttentionMask {
    /// Added to the `(seq, cached + seq)` scores (shape `(seq, total)` or `(batch, 1, 1, seq,
    /// total)`); `None` when every key is visible.
    Additive(Option<Tensor>),
    /// No cached prefix, f32 on the CPU: the fused op applies this rule tile by tile.
    Fused(Arc<Visibility>),
}

#[derive(Debug, Clone)]
pub struct Attention {
    pub q_proj: Proj,
    pub k_proj: Proj,
    pub v_proj: Proj,
    pub o_proj: Proj,
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
    pub sliding_window: Option<usize>,
}

impl Attention {
    pub fn load(w: &mut Weights, prefix: &str, cfg: &DecoderConfig, layer: usize) -> Result<Self> {
        let (h, d) = (cfg.hidden_size, cfg.head_dim);
        let q_dim = cfg.num_attention_heads * d;
        let kv_dim = cfg.num_key_value_heads * d;
        Ok(Self {
            q_proj: Proj::load(w, &format!("{prefix}.q_proj"), h, q_dim, cfg.qkv_bias)?,
            k_proj: Proj::load(w, &format!("{prefix}.k_proj"), h, kv_dim, cfg.qkv_bias)?,
            v_proj: Proj::load(w, &format!("{prefix}.v_proj"), h, kv_dim, cfg.qkv_bias)?,
            o_proj: Proj::load(w, &format!("{prefix}.o_proj"), q_dim, h, cfg.o_bias)?,
            num_heads: cfg.num_attention_heads,
            num_kv_heads: cfg.num_key_value_heads,
            head_dim: d,
            sliding_window: cfg.sliding_window[layer],
        })
    }

    /// `x` is `(batch, seq, hidden)`, rotated by `angles`; `mask` says which of the cached and
    /// new positions each query sees ([`AttentionMask::Fused`] only when `cache` is empty).
    pub fn forward(
        &self,
        x: &Tensor,
        angles: &RopeAngles,
        mask: &AttentionMask,
        cache: &mut KvCache,
        layer: usize,
    ) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let (h, kvh, d) = (self.num_heads, self.num_kv_heads, self.head_dim);
        // (b, t, heads * d) -> (b, heads, t, d)
        let split = |y: Tensor, heads: usize| -> Result<Tensor> {
            Ok(y.reshape((b, t, heads, d))?.transpose(1, 2)?.contiguous()?)
        };
        let q = angles.rotate(&split(self.q_proj.forward(x)?, h)?)?;
        let k = angles.rotate(&split(self.k_proj.forward(x)?, kvh)?)?;
        let v = split(self.v_proj.forward(x)?, kvh)?;
        let (k, v) = cache.append(layer, k, v)?;
        let y = match mask {
            // (b, h, t, d) -> (b, t, h * d)
            AttentionMask::Fused(vis) => flash_attention(&q, &k, &v, vis)?.transpose(1, 2)?.reshape((b, t, h * d))?,
            AttentionMask::Additive(mask) => self.attend(&q, &k, &v, mask.as_ref())?,
        };
        self.o_proj.forward(&y)
    }

    /// One decoding step for several independent sequences: `x` is `(rows, 1, hidden)`, row `i`
    /// at its own position (in `angles`, `(rows, 1, head_dim / 2)`) with its own cache
    /// `caches[i]`. The projections run once over all rows, so each weight is read once per
    /// step instead of once per sequence; attention runs per row against that row's cache,
    /// with the sliding-window mask its position needs. `project` applies a projection to
    /// rows (with each row's adapter, when the rows use different ones).
    pub fn forward_rows(&self, x: &Tensor, angles: &RopeAngles, caches: &mut [&mut KvCache], layer: usize, project: &Project) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let (h, kvh, d) = (self.num_heads, self.num_kv_heads, self.head_dim);
        let split = |y: Tensor, heads: usize| -> Result<Tensor> { Ok(y.reshape((b, t, heads, d))?.transpose(1, 2)?.contiguous()?) };
        let q = angles.rotate(&split(project(&self.q_proj, x)?, h)?)?;
        let k = angles.rotate(&split(project(&self.k_proj, x)?, kvh)?)?;
        let v = split(project(&self.v_proj, x)?, kvh)?;
        let mut rows = Vec::with_capacity(b);
        for (i, cache) in caches.iter_mut().enumerate() {
            let (k, v) = cache.append(layer, k.narrow(0, i, 1)?, v.narrow(0, i, 1)?)?;
            // The positions before this step, in this layer (`seq_len` reads layer 0, which
            // this step has already extended when `layer > 0`).
            let offset = k.dim(2)? - t;
            let mask = causal_mask(t, offset, self.sliding_window, x.device())?;
            rows.push(self.attend(&q.narrow(0, i, 1)?, &k, &v, mask.as_ref())?);
        }
        project(&self.o_proj, &Tensor::cat(&rows, 0)?)
    }

    /// Attention of rotated queries `(b, heads, t, d)` over keys and values `(b, kv_heads,
    /// total, d)`, masked by `mask`: `(b, t, heads * d)`, before the output projection.
    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let (b, _, t, _) = q.dims4()?;
        let (h, kvh, d) = (self.num_heads, self.num_kv_heads, self.head_dim);
        let n_rep = h / kvh;
        let total = k.dim(2)?;
        // Query heads sharing a kv head are stacked along the sequence axis:
        // (b, h, t, d) -> (b, kvh, n_rep * t, d), against keys (b, kvh, total, d).
        let q = q.reshape((b, kvh, n_rep * t, d))?;
        // Scaled in the activation dtype, as transformers' eager attention does, then f32.
        let scores = (q.matmul(&k.t()?)? * (1.0 / (d as f64).sqrt()))?.to_dtype(DType::F32)?;
        let scores = match mask {
            Some(mask) => scores
                .reshape((b, kvh, n_rep, t, total))?
                .broadcast_add(mask)?
                .reshape((b, kvh, n_rep * t, total))?,
            None => scores,
        };
        let probs = crate::softmax::softmax_last_dim(&scores)?.to_dtype(v.dtype())?;
        // (b, kvh, n_rep * t, d) -> (b, h, t, d) -> (b, t, h * d)
        Ok(probs.matmul(v)?.reshape((b, h, t, d))?.transpose(1, 2)?.reshape((b, t, h * d))?)
    }
}

/// The additive mask for `seq` new positions after `offset` cached ones: `-inf` where a query
/// may not see a key (the future, or beyond the sliding window), else 0. `None` when nothing is
/// masked, which is the usual decoding step.
pub fn causal_mask(
    seq: usize,
    offset: usize,
    window: Option<usize>,
    device: &Device,
) -> Result<Option<Tensor>> {
    let total = offset + seq;
    let window_bites = window.is_some_and(|w| total > w);
    if seq == 1 && !window_bites {
        return Ok(None);
    }
    let mut mask = vec![0f32; seq * total];
    for i in 0..seq {
        let q_pos = offset + i;
        for (k_pos, m) in mask[i * total..(i + 1) * total].iter_mut().enumerate() {
            let future = k_pos > q_pos;
            let too_old = window.is_some_and(|w| q_pos - k_pos.min(q_pos) >= w);
            if future || too_old {
                *m = f32::NEG_INFINITY;
            }
        }
    }
    Ok(Some(Tensor::from_vec(mask, (seq, total), device)?))
}

/// The additive mask for packed rows: token `i` sees token `j` of its row when both belong to
/// the same record (`segments[row][i] == segments[row][j]`), `j <= i`, and, with a window, their
/// positions within the record differ by less than it. Shape `(batch, 1, 1, seq, seq)`.
pub fn packed_mask(segments: &[Vec<u32>], window: Option<usize>, device: &Device) -> Result<Tensor> {
    let rows = segments.len();
    let seq = segments.first().map_or(0, Vec::len);
    let mut mask = vec![f32::NEG_INFINITY; rows * seq * seq];
    for (r, seg) in segments.iter().enumerate() {
        for i in 0..seq {
            for j in 0..=i {
                // Within one record positions are consecutive, so i - j is the distance.
                let same = seg[i] == seg[j];
                let in_window = window.is_none_or(|w| i - j < w);
                if same && in_window {
                    mask[(r * seq + i) * seq + j] = 0.0;
                }
            }
        }
    }
    Ok(Tensor::from_vec(mask, (rows, 1, 1, seq, seq), device)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visible(seq: usize, offset: usize, window: Option<usize>) -> Vec<Vec<bool>> {
        let total = offset + seq;
        match causal_mask(seq, offset, window, &Device::Cpu).unwrap() {
            None => vec![vec![true; total]; seq],
            Some(m) => m
                .to_vec2::<f32>()
                .unwrap()
                .into_iter()
                .map(|row| row.into_iter().map(|x| x == 0.0).collect())
                .collect(),
        }
    }

    #[test]
    fn causal_mask_hides_only_the_future() {
        let v = visible(3, 2, None);
        assert_eq!(v[0], [true, true, true, false, false]);
        assert_eq!(v[2], [true; 5]);
    }

    #[test]
    fn sliding_window_hides_keys_at_or_beyond_the_window() {
        // Query at position 4 with window 2 sees positions 3 and 4 only (4 - k < 2).
        let v = visible(1, 4, Some(2));
        assert_eq!(v[0], [false, false, false, true, true]);
    }

    #[test]
    fn decoding_inside_the_window_needs_no_mask() {
        assert!(causal_mask(1, 3, Some(8), &Device::Cpu).unwrap().is_none());
        assert!(causal_mask(1, 3, None, &Device::Cpu).unwrap().is_none());
    }
}
