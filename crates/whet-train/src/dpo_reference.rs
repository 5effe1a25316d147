//! DPO's reference model, in the three forms TRL 1.16 offers, and reference log-probs computed
//! once before training (`precompute_ref_log_probs`).
//!
//! - [`Reference::Base`]: the policy's own base with every adapter disabled (LoRA from a fresh
//!   adapter, or `dpo.reference = "base"`; TRL with a `peft_config` or a `PeftModel`). No second
//!   copy of the weights.
//! - [`Reference::Adapters`]: the policy's base with a frozen copy of the adapter training started
//!   from (LoRA from `dpo.adapter`, the default; TRL's `ref_adapter_name`). The reference is then
//!   the SFT model, as in the DPO paper, and training starts at zero reward margin. The copy is
//!   the adapter's few MB, not the model.
//! - [`Reference::Model`]: a separate frozen model (full fine-tuning; TRL's `ref_model`).
//!
//! Precomputed log-probs live in each pair ([`crate::preference_data::PairExample`]) and travel
//! in its batch; the reference is then dropped (for full fine-tuning, the second model's memory
//! is freed before the first step).

use candle_core::Tensor;
use whet_models::proj::Lora;
use whet_models::CausalLm;

use crate::dpo_loss::{sequence_logps, PreferenceBatch};
use crate::error::Result;
use crate::preference_data::{preference_batches, PairExample};

pub enum Reference {
    /// ORPO and SimPO, or log-probs already precomputed into every pair.
    None,
    Base,
    Adapters(Vec<Option<Lora>>),
    Model(Box<CausalLm>),
}

impl Reference {
    /// The reference's summed completion log-probs for `batch` (`(2n,)`, chosen rows first),
    /// without gradient: the batch's precomputed ones when it has them.
    pub fn logps(&self, policy: &mut CausalLm, batch: &PreferenceBatch) -> Result<Option<Tensor>> {
        if let Some(r) = &batch.reference {
            return Ok(Some(Tensor::from_slice(r, r.len(), policy.device())?));
        }
        let logps = match self {
            Reference::None => return Ok(None),
            Reference::Base => policy.with_adapters_disabled(|base| sequence_logps(base, batch))?.0,
            Reference::Adapters(frozen) => policy.with_adapters(frozen, |m| sequence_logps(m, batch))?.0,
            Reference::Model(model) => sequence_logps(model, batch)?.0,
        };
        Ok(Some(logps.detach()))
    }

    /// Stores the reference log-probs in every pair, scoring `pairs_per_batch` pairs per pass.
    pub fn precompute(&self, policy: &mut CausalLm, pairs: &mut [PairExample], pairs_per_batch: usize, pad_id: u32) -> Result<()> {
        let order: Vec<usize> = (0..pairs.len()).collect();
        for chunk in order.chunks(pairs_per_batch.max(1)) {
            let batch = &preference_batches(pairs, chunk, chunk.len(), pad_id)[0];
            let Some(logps) = self.logps(policy, batch)? else { return Ok(()) };
            let logps = logps.to_vec1::<f32>()?;
            let n = chunk.len();
            for (k, &i) in chunk.iter().enumerate() {
                pairs[i].reference = Some([logps[k], logps[n + k]]);
            }
        }
        Ok(())
    }
}
