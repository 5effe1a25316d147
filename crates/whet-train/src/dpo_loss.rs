//! Preference losses (DPO and its variants, ORPO, SimPO) as TRL 1.16 computes them, so whet's
//! preference runs can be checked step by step against TRL (`tests/dpo_parity.rs`, goldens from
//! `reference/make_dpo_goldens.py`).
//!
//! A [`PreferenceBatch`] holds `2n` right-padded rows, the `n` chosen sequences first and then the
//! `n` rejected ones (TRL's concatenated layout), so one forward pass scores both. A sequence's
//! log-prob is the sum over its completion tokens of `log_softmax(logits[j-1])[ids[j]]`; DPO uses
//! the sum, ORPO and SimPO the mean over completion tokens.
//!
//! The reference log-probs come from a [`Reference`] (`dpo_reference.rs`) and carry no gradient.
//!
//! With gradient accumulation each micro-batch's loss is weighted by its share of the step's
//! pairs, so the step's loss is the mean over all its pairs, as one large batch would give.

use std::collections::HashMap;

use candle_core::Tensor;
use whet_models::CausalLm;

use crate::accumulate::add_gradients;
use crate::dpo_reference::Reference;
use crate::error::{Error, Result};
use crate::trainable::Param;

/// Which preference loss, with its hyperparameters. Defaults are TRL 1.16's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PreferenceLoss {
    /// DPO: `-log σ(β·Δ)`, `Δ = (π_c − ref_c) − (π_r − ref_r)` (summed log-probs).
    /// TRL 1.16's `sigmoid` ignores `label_smoothing` (see [`PreferenceLoss::Robust`]).
    Sigmoid { beta: f64 },
    /// Robust DPO: `(−(1−ε)·log σ(β·Δ) + ε·log σ(−β·Δ)) / (1 − 2ε)`.
    Robust { beta: f64, label_smoothing: f64 },
    /// IPO: `((Δ_c/|c| − Δ_r/|r|) − 1/(2β))²`, the log-ratios divided by completion length.
    Ipo { beta: f64 },
    /// Hinge (SLiC): `relu(1 − β·Δ)`.
    Hinge { beta: f64 },
    /// ORPO (reference-free): `NLL − λ·log σ(log_odds)`, with `c`, `r` the mean completion
    /// log-probs, `log_odds = (c − r) − (log(1 − eᶜ) − log(1 − eʳ))`, and `NLL` the mean
    /// cross-entropy over every non-padding token of the chosen sequences, prompt included (as
    /// TRL's ORPOTrainer computes it). TRL calls `λ` `beta`.
    Orpo { lambda: f64 },
    /// SimPO (reference-free, CPO with `cpo_alpha = 0`): `−log σ(β·(c − r) − γ)`, with `c`, `r`
    /// the mean completion log-probs.
    Simpo { beta: f64, gamma: f64 },
}

/// A preference loss plus, optionally, the SFT term of RPO: `sft_weight` × the mean negative
/// log-likelihood over every chosen completion token of the batch (TRL 1.16:
/// `loss_type = [loss, "sft"]`, `loss_weights = [1, sft_weight]`), which keeps the chosen
/// answers likely while the margin grows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PreferenceObjective {
    pub loss: PreferenceLoss,
    pub sft_weight: f64,
}

impl From<PreferenceLoss> for PreferenceObjective {
    fn from(loss: PreferenceLoss) -> Self {
        Self { loss, sft_weight: 0.0 }
    }
}

impl PreferenceLoss {
    /// Whether the loss compares against a reference model.
    pub fn needs_reference(&self) -> bool {
        !matches!(self, PreferenceLoss::Orpo { .. } | PreferenceLoss::Simpo { .. })
    }

    /// The β that scales the logged rewards (λ for ORPO, as TRL logs it).
    fn reward_beta(&self) -> f64 {
        match *self {
            PreferenceLoss::Sigmoid { beta }
            | PreferenceLoss::Robust { beta, .. }
            | PreferenceLoss::Ipo { beta }
            | PreferenceLoss::Hinge { beta }
            | PreferenceLoss::Simpo { beta, .. } => beta,
            PreferenceLoss::Orpo { lambda } => lambda,
        }
    }
}

/// `2n` rows of equal length: chosen sequences `0..n`, rejected `n..2n`. `completion[i][j]` marks
/// the scored tokens (predicted from the logits at `j − 1`; position 0 never is); `attention[i][j]`
/// marks the non-padding tokens (used by ORPO's NLL).
#[derive(Debug, Clone)]
pub struct PreferenceBatch {
    pub input_ids: Vec<Vec<u32>>,
    pub completion: Vec<Vec<bool>>,
    pub attention: Vec<Vec<bool>>,
    /// The reference model's summed completion log-probs per row, when precomputed.
    pub reference: Option<Vec<f32>>,
}

impl PreferenceBatch {
    pub fn pairs(&self) -> usize {
        self.input_ids.len() / 2
    }

    /// Non-padding tokens, for throughput.
    pub fn tokens(&self) -> usize {
        self.attention.iter().flatten().filter(|a| **a).count()
    }

    fn check(&self) -> Result<(usize, usize)> {
        let rows = self.input_ids.len();
        let seq = self.input_ids.first().map_or(0, Vec::len);
        let same = |m: &[Vec<bool>]| m.len() == rows && m.iter().all(|r| r.len() == seq);
        if rows == 0 || !rows.is_multiple_of(2) || seq < 2 || self.input_ids.iter().any(|r| r.len() != seq) || !same(&self.completion) || !same(&self.attention) {
            return Err(Error::Batch(format!("a preference batch needs an even number of rows of equal length >= 2, with masks of the same shape (got {rows} rows)")));
        }
        if self.completion.iter().any(|r| !r[1..].iter().any(|c| *c)) {
            return Err(Error::Batch("a preference sequence has no completion tokens".into()));
        }
        Ok((rows, seq))
    }
}

/// Per-row sums of the log-probs of the tokens marked in `mask` (shape `(rows,)`), and the
/// per-row counts. `log_probs` is the `(rows, seq − 1)` tensor of each next token's log-prob.
fn masked_sums(log_probs: &Tensor, mask: &[Vec<bool>]) -> Result<(Tensor, Vec<f64>)> {
    let (rows, cols) = log_probs.dims2()?;
    let flat: Vec<f32> = mask.iter().flat_map(|r| r[1..].iter().map(|&m| if m { 1.0 } else { 0.0 })).collect();
    let counts = mask.iter().map(|r| r[1..].iter().filter(|m| **m).count() as f64).collect();
    let m = Tensor::from_vec(flat, (rows, cols), log_probs.device())?;
    Ok(((log_probs * m)?.sum(1)?, counts))
}

/// `(rows, seq − 1)`: the log-prob the model gives each next token, at least where the
/// completion is (`with_prompt`: also at every other non-padding token, for ORPO's NLL). The
/// chunked LM-head op leaves the other positions at 0 and never computes them.
fn token_log_probs(model: &CausalLm, batch: &PreferenceBatch, with_prompt: bool) -> Result<Tensor> {
    let (rows, seq) = batch.check()?;
    let flat: Vec<u32> = batch.input_ids.iter().flatten().copied().collect();
    let ids = Tensor::from_vec(flat, (rows, seq), model.device())?;
    let scored: Vec<Vec<bool>> = if with_prompt {
        batch.completion.iter().zip(&batch.attention).map(|(c, a)| c.iter().zip(a).map(|(c, a)| *c || *a).collect()).collect()
    } else {
        batch.completion.clone()
    };
    Ok(model.next_token_log_probs(&ids, None, &scored)?)
}

/// Summed completion log-prob of each row (`(2n,)`), and each row's completion length.
pub fn sequence_logps(model: &CausalLm, batch: &PreferenceBatch) -> Result<(Tensor, Vec<f64>)> {
    masked_sums(&token_log_probs(model, batch, false)?, &batch.completion)
}

/// `log σ(x)`, stable for large `|x|`, with the exact gradient `σ(−x)` everywhere: `−log(1 +
/// e^{−x})` for `x ≥ 0` and `x − log(1 + eˣ)` below, each branch fed only its own side of `x` so
/// neither overflows. The one-line `−relu(−x) − log(1 + e^{−|x|})` is wrong at exactly 0: candle
/// takes relu'(0) = |·|'(0) = 1 and the gradient comes out 1.5 instead of 0.5, and 0 is where DPO
/// starts when the reference is the starting policy (every margin is 0 at the first step).
fn log_sigmoid(x: &Tensor) -> Result<Tensor> {
    let zeros = x.zeros_like()?;
    let pos = x.ge(&zeros)?;
    let (xp, xn) = (pos.where_cond(x, &zeros)?, pos.where_cond(&zeros, x)?);
    let above = (xp.neg()?.exp()? + 1.0)?.log()?.neg()?;
    let below = (&xn - (xn.exp()? + 1.0)?.log()?)?;
    Ok(pos.where_cond(&above, &below)?)
}

/// The step's scalars, batch means as TRL logs them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PreferenceMetrics {
    pub loss: f64,
    pub rewards_chosen: f64,
    pub rewards_rejected: f64,
    pub rewards_margins: f64,
    pub rewards_accuracies: f64,
    pub logps_chosen: f64,
    pub logps_rejected: f64,
}

impl PreferenceMetrics {
    /// `(name, value)` with TRL's metric names.
    pub fn named(&self) -> [(&'static str, f64); 7] {
        [
            ("loss", self.loss),
            ("rewards/chosen", self.rewards_chosen),
            ("rewards/rejected", self.rewards_rejected),
            ("rewards/margins", self.rewards_margins),
            ("rewards/accuracies", self.rewards_accuracies),
            ("logps/chosen", self.logps_chosen),
            ("logps/rejected", self.logps_rejected),
        ]
    }

    fn add_scaled(&mut self, o: &PreferenceMetrics, w: f64) {
        self.loss += w * o.loss;
        self.rewards_chosen += w * o.rewards_chosen;
        self.rewards_rejected += w * o.rewards_rejected;
        self.rewards_margins += w * o.rewards_margins;
        self.rewards_accuracies += w * o.rewards_accuracies;
        self.logps_chosen += w * o.logps_chosen;
        self.logps_rejected += w * o.logps_rejected;
    }
}

fn mean_f64(t: &Tensor) -> Result<f64> {
    Ok(t.detach().mean_all()?.to_scalar::<f32>()? as f64)
}

/// The batch's loss (a scalar tensor, mean over pairs, with its graph) and its metrics.
/// `model` is `&mut` only to swap adapters for the reference pass.
pub fn preference_loss(
    model: &mut CausalLm,
    batch: &PreferenceBatch,
    objective: impl Into<PreferenceObjective>,
    reference: &Reference,
) -> Result<(Tensor, PreferenceMetrics)> {
    let PreferenceObjective { loss, sft_weight } = objective.into();
    let n = batch.pairs();
    let reference = if loss.needs_reference() { reference.logps(model, batch)? } else { None };
    let token_lp = token_log_probs(model, batch, matches!(loss, PreferenceLoss::Orpo { .. }))?;
    let (sums, lengths) = masked_sums(&token_lp, &batch.completion)?;
    let len = |range: std::ops::Range<usize>| Tensor::from_vec(lengths[range].iter().map(|&l| l as f32).collect(), n, sums.device());
    let (c_len, r_len) = (len(0..n)?, len(n..2 * n)?);
    let (c_sum, r_sum) = (sums.narrow(0, 0, n)?, sums.narrow(0, n, n)?);
    let (c_mean, r_mean) = ((&c_sum / &c_len)?, (&r_sum / &r_len)?);
    let beta_r = loss.reward_beta();

    let (losses, chosen_rewards, rejected_rewards, logged_c, logged_r, extra) = match loss {
        PreferenceLoss::Sigmoid { .. } | PreferenceLoss::Robust { .. } | PreferenceLoss::Ipo { .. } | PreferenceLoss::Hinge { .. } => {
            let reference = reference.ok_or_else(|| Error::Batch("DPO needs reference log-probs".into()))?;
            let (ref_c, ref_r) = (reference.narrow(0, 0, n)?, reference.narrow(0, n, n)?);
            let ratio_c = (&c_sum - &ref_c)?;
            let ratio_r = (&r_sum - &ref_r)?;
            let delta = (&ratio_c - &ratio_r)?;
            let losses = match loss {
                PreferenceLoss::Sigmoid { beta } => sigmoid_loss(&delta, beta)?,
                PreferenceLoss::Robust { beta, label_smoothing } => robust_loss(&delta, beta, label_smoothing)?,
                PreferenceLoss::Ipo { beta } => ipo_loss(&(&ratio_c / &c_len)?, &(&ratio_r / &r_len)?, beta)?,
                PreferenceLoss::Hinge { beta } => hinge_loss(&delta, beta)?,
                PreferenceLoss::Orpo { .. } | PreferenceLoss::Simpo { .. } => {
                    return Err(Error::Batch("ORPO and SimPO have no reference model".into()))
                }
            };
            (losses, (ratio_c.detach() * beta_r)?, (ratio_r.detach() * beta_r)?, c_sum.clone(), r_sum.clone(), None)
        }
        PreferenceLoss::Orpo { lambda } => {
            let nll = chosen_nll(&token_lp, batch)?;
            let losses = orpo_loss(&c_mean, &r_mean, lambda)?;
            (losses, (c_mean.detach() * beta_r)?, (r_mean.detach() * beta_r)?, c_mean.clone(), r_mean.clone(), Some(nll))
        }
        PreferenceLoss::Simpo { beta, gamma } => {
            let losses = simpo_loss(&c_mean, &r_mean, beta, gamma)?;
            (losses, (c_mean.detach() * beta_r)?, (r_mean.detach() * beta_r)?, c_mean.clone(), r_mean.clone(), None)
        }
    };
    let mut total = losses.mean_all()?;
    if let Some(nll) = extra {
        total = (nll + total)?;
    }
    if sft_weight != 0.0 {
        let (c_len, c_sum) = (&lengths[..n], sums.narrow(0, 0, n)?);
        let nll = (c_sum.sum_all()?.neg()? / c_len.iter().sum::<f64>().max(1.0))?;
        total = (total + (nll * sft_weight)?)?;
    }
    let margins = (&chosen_rewards - &rejected_rewards)?;
    let accuracies = chosen_rewards.gt(&rejected_rewards)?.to_dtype(candle_core::DType::F32)?;
    let metrics = PreferenceMetrics {
        loss: total.detach().to_scalar::<f32>()? as f64,
        rewards_chosen: mean_f64(&chosen_rewards)?,
        rewards_rejected: mean_f64(&rejected_rewards)?,
        rewards_margins: mean_f64(&margins)?,
        rewards_accuracies: mean_f64(&accuracies)?,
        logps_chosen: mean_f64(&logged_c)?,
        logps_rejected: mean_f64(&logged_r)?,
    };
    Ok((total, metrics))
}

/// `−log σ(β·Δ)` per pair.
pub fn sigmoid_loss(delta: &Tensor, beta: f64) -> Result<Tensor> {
    Ok(log_sigmoid(&(delta * beta)?)?.neg()?)
}

/// `(−(1−ε)·log σ(β·Δ) + ε·log σ(−β·Δ)) / (1 − 2ε)` per pair.
pub fn robust_loss(delta: &Tensor, beta: f64, eps: f64) -> Result<Tensor> {
    let x = (delta * beta)?;
    let a = (log_sigmoid(&x)? * -(1.0 - eps))?;
    let b = (log_sigmoid(&x.neg()?)? * eps)?;
    Ok(((a + b)? / (1.0 - 2.0 * eps))?)
}

/// `((ratio_c − ratio_r) − 1/(2β))²` per pair, the ratios already divided by completion length.
pub fn ipo_loss(ratio_c: &Tensor, ratio_r: &Tensor, beta: f64) -> Result<Tensor> {
    Ok(((ratio_c - ratio_r)? - 1.0 / (2.0 * beta))?.sqr()?)
}

/// `relu(1 − β·Δ)` per pair.
pub fn hinge_loss(delta: &Tensor, beta: f64) -> Result<Tensor> {
    Ok((1.0 - (delta * beta)?)?.relu()?)
}

/// `−λ·log σ(log_odds)` per pair, `log_odds = (c − r) − (log(1 − eᶜ) − log(1 − eʳ))` on mean
/// log-probs `c`, `r` (the NLL term is added by the caller).
pub fn orpo_loss(c: &Tensor, r: &Tensor, lambda: f64) -> Result<Tensor> {
    let log1m_exp = |t: &Tensor| -> Result<Tensor> { Ok((1.0 - t.exp()?)?.log()?) };
    let log_odds = ((c - r)? - (log1m_exp(c)? - log1m_exp(r)?)?)?;
    Ok((log_sigmoid(&log_odds)? * -lambda)?)
}

/// `−log σ(β·(c − r) − γ)` per pair on mean log-probs `c`, `r`.
pub fn simpo_loss(c: &Tensor, r: &Tensor, beta: f64, gamma: f64) -> Result<Tensor> {
    let x = (((c - r)? * beta)? - gamma)?;
    Ok(log_sigmoid(&x)?.neg()?)
}

/// ORPO's NLL: mean cross-entropy over every non-padding token (after the first) of the chosen
/// rows, prompt included.
fn chosen_nll(token_lp: &Tensor, batch: &PreferenceBatch) -> Result<Tensor> {
    let n = batch.pairs();
    let (sums, counts) = masked_sums(&token_lp.narrow(0, 0, n)?, &batch.attention[..n])?;
    let count: f64 = counts.iter().sum();
    Ok((sums.sum_all()?.neg()? / count.max(1.0))?)
}

/// One step's gradients over `micro_batches` (the loss is the mean over all the step's pairs),
/// detached, by parameter name; and the step's metrics (pair-weighted means).
pub fn preference_gradients(
    model: &mut CausalLm,
    params: &[Param],
    micro_batches: &[PreferenceBatch],
    objective: impl Into<PreferenceObjective>,
    reference: &Reference,
) -> Result<(PreferenceMetrics, HashMap<String, Tensor>)> {
    let objective = objective.into();
    let total_pairs: usize = micro_batches.iter().map(PreferenceBatch::pairs).sum();
    if total_pairs == 0 {
        return Err(Error::Batch("the step has no preference pairs".into()));
    }
    let mut grads: HashMap<String, Tensor> = HashMap::new();
    let mut metrics = PreferenceMetrics::default();
    for batch in micro_batches {
        let w = batch.pairs() as f64 / total_pairs as f64;
        let (l, m) = preference_loss(model, batch, objective, reference)?;
        metrics.add_scaled(&m, w);
        let store = model.backward(&(l * w)?)?;
        add_gradients(&mut grads, &store, params)?;
    }
    Ok((metrics, grads))
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    #[test]
    fn log_sigmoid_has_the_exact_value_and_gradient_everywhere_including_zero() {
        let xs = [-200.0f32, -3.0, -1e-7, 0.0, 1e-7, 2.0, 200.0];
        let x = Var::new(&xs[..], &Device::Cpu).unwrap();
        let y = log_sigmoid(x.as_tensor()).unwrap();
        let grads = y.sum_all().unwrap().backward().unwrap();
        let (values, slopes) = (y.to_vec1::<f32>().unwrap(), grads.get(x.as_tensor()).unwrap().to_vec1::<f32>().unwrap());
        for ((x, v), g) in xs.iter().map(|&x| x as f64).zip(values).zip(slopes) {
            let want = if x >= 0.0 { -(-x).exp().ln_1p() } else { x - x.exp().ln_1p() };
            let sigma_neg = 1.0 / (1.0 + x.exp());
            assert!((v as f64 - want).abs() <= 1e-6 * want.abs().max(1.0), "log σ({x}) = {v}, want {want}");
            assert!((g as f64 - sigma_neg).abs() < 1e-6, "d/dx log σ({x}) = {g}, want {sigma_neg}");
        }
    }
}
