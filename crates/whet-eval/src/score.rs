//! Summed negative log-likelihood of a tokenised record under its loss mask: the number that
//! `whet score` prints and validation perplexity is made of. Computed in f64 from the f32 logits
//! with a stable log-sum-exp, one record at a time (no padding to get wrong).

use candle_core::Tensor;
use whet_data::Tokenized;
use whet_models::CausalLm;

use crate::error::Result;

/// Scored token count and summed NLL (nats): token `j` is predicted from the logits at `j - 1`.
pub fn score_tokenized(model: &CausalLm, t: &Tokenized) -> Result<(usize, f64)> {
    let n = t.num_targets();
    if n == 0 {
        return Ok((0, 0.0));
    }
    let ids = Tensor::new(t.ids.as_slice(), model.device())?.unsqueeze(0)?;
    let logits = model.forward(&ids, &mut model.new_cache())?.squeeze(0)?;
    let rows: Vec<Vec<f32>> = logits.to_vec2()?;
    let mut nll = 0.0f64;
    for (j, _) in t.targets.iter().enumerate().filter(|(_, is)| **is) {
        let row = &rows[j - 1];
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let sum: f64 = row.iter().map(|&l| (l as f64 - max).exp()).sum();
        nll += max + sum.ln() - row[t.ids[j] as usize] as f64;
    }
    Ok((n, nll))
}

/// `exp(nll / n)`; NaN when nothing was scored.
pub fn perplexity(nll: f64, n_tokens: usize) -> f64 {
    if n_tokens == 0 {
        f64::NAN
    } else {
        (nll / n_tokens as f64).exp()
    }
}
