//! Gradient accumulation over micro-batches with the loss normalised per token of the whole
//! accumulated batch: each micro-batch contributes `Σ CE / N` where `N` counts the target tokens of
//! all micro-batches of the step. (Normalising each micro-batch by its own count and averaging —
//! the classic bug — weights short sequences more than long ones.)

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::Tensor;
use whet_models::CausalLm;

use crate::error::{Error, Result};
use crate::loss::{cross_entropy_sum, Batch};
use crate::trainable::Param;

/// The step's loss (mean over its target tokens) and the summed gradients by parameter name.
pub fn accumulate_gradients(
    model: &CausalLm,
    params: &[Param],
    micro_batches: &[Batch],
) -> Result<(f64, usize, HashMap<String, Tensor>)> {
    let n_tokens: usize = micro_batches.iter().map(Batch::num_targets).sum();
    if n_tokens == 0 {
        return Err(Error::Batch("the step has no target tokens".into()));
    }
    let mut grads: HashMap<String, Tensor> = HashMap::new();
    let mut loss_sum = 0f64;
    for batch in micro_batches {
        let (ce_sum, _) = cross_entropy_sum(model, batch)?;
        loss_sum += ce_sum.to_scalar::<f32>()? as f64;
        // Through the model, which adds the gradients of checkpointed layers' parameters.
        let store = model.backward(&(ce_sum / n_tokens as f64)?)?;
        add_gradients(&mut grads, &store, params)?;
    }
    Ok((loss_sum / n_tokens as f64, n_tokens, grads))
}

/// Adds the gradients of `params` in `store` to `grads` (by parameter name).
pub fn add_gradients(grads: &mut HashMap<String, Tensor>, store: &GradStore, params: &[Param]) -> Result<()> {
    for p in params {
        if let Some(g) = store.get(p.var.as_tensor()) {
            // candle records ops on gradients too (they are computed from tracked weights):
            // without `detach`, the optimiser's moments would keep every step's forward graph
            // alive and memory would grow by the activations of each step.
            let g = g.detach();
            let total = match grads.remove(&p.name) {
                Some(acc) => (acc + g)?,
                None => g,
            };
            grads.insert(p.name.clone(), total);
        }
    }
    Ok(())
}
