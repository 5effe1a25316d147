//! Next-token cross-entropy summed over the target tokens of a batch.
//!
//! Returning the sum with the token count (not a mean) is what lets gradient accumulation
//! normalise by the number of target tokens in the whole accumulated batch rather than per
//! micro-batch, the mistake that makes accumulated runs differ from large-batch runs.

use candle_core::{DType, Tensor};
use whet_models::CausalLm;

use crate::error::{Error, Result};

/// A batch of equal-length rows: `input_ids` and `targets`, both `(batch, seq)`. `targets[i][j]`
/// says whether token `j` of row `i` is scored (predicted from the logits at `j - 1`); position 0
/// never is, nor the first token of a packed record. Rows are right-padded records, or, with
/// `segments`, several records packed together (`segments[i][j]` names token `j`'s record), which
/// attend only within themselves.
#[derive(Debug, Clone)]
pub struct Batch {
    pub input_ids: Vec<Vec<u32>>,
    pub targets: Vec<Vec<bool>>,
    pub segments: Option<Vec<Vec<u32>>>,
    /// Tokens that are not padding.
    pub tokens: usize,
}

impl Batch {
    pub fn num_targets(&self) -> usize {
        self.targets.iter().flatten().filter(|t| **t).count()
    }
}

/// Summed cross-entropy (nats, scalar f32 tensor) over the batch's targets, and their count.
pub fn cross_entropy_sum(model: &CausalLm, batch: &Batch) -> Result<(Tensor, usize)> {
    let rows = batch.input_ids.len();
    let seq = batch.input_ids.first().map_or(0, Vec::len);
    if rows == 0 || seq < 2 || batch.input_ids.iter().any(|r| r.len() != seq) || batch.targets.iter().map(Vec::len).ne(batch.input_ids.iter().map(Vec::len)) {
        return Err(Error::Batch(format!("expected {rows} rows of equal length >= 2 with a target flag per token")));
    }
    let device = model.device();
    let flat: Vec<u32> = batch.input_ids.iter().flatten().copied().collect();
    let ids = Tensor::from_vec(flat, (rows, seq), device)?;
    // (rows, seq − 1): log-prob of token j from position j − 1 (through the chunked LM-head op
    // unless `fused_loss` is off; see `CausalLm::next_token_log_probs`).
    let picked = model.next_token_log_probs(&ids, batch.segments.as_deref(), &batch.targets)?;
    let mask: Vec<f32> = batch
        .targets
        .iter()
        .flat_map(|row| row[1..].iter().map(|&t| if t { 1.0 } else { 0.0 }))
        .collect();
    let mask = Tensor::from_vec(mask, (rows, seq - 1), device)?.to_dtype(DType::F32)?;
    let nll = (picked * mask)?.sum_all()?.neg()?;
    Ok((nll, batch.num_targets()))
}
