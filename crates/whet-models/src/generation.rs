//! Token generation: a KV-cached decoding loop and a sampler with the controls of transformers'
//! `generate` — repetition penalty, then temperature, top-k, top-p and min-p, in the order
//! transformers applies its logits processors and warpers. Temperature 0 is greedy and
//! deterministic (ties go to the lowest token id, as `torch.argmax` picks).
//!
//! Sampling draws from a seeded ChaCha-based `StdRng`, so a seed reproduces a generation with
//! whet, though not the token sequence PyTorch's generator would draw.

use candle_core::Tensor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::decoder::CausalLm;
use crate::error::{Error, Result};

/// How the next token is chosen from the logits.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0 means greedy.
    pub temperature: f32,
    pub top_k: Option<usize>,
    pub top_p: Option<f32>,
    pub min_p: Option<f32>,
    /// transformers' `repetition_penalty`: > 1 discourages tokens already in the context.
    pub repetition_penalty: Option<f32>,
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_k: None,
            top_p: None,
            min_p: None,
            repetition_penalty: None,
            seed: 0,
        }
    }
}

impl SamplingParams {
    /// Checks every value against its valid range; the message names the setting.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Generation(m));
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return bad(format!("temperature must be >= 0, got {}", self.temperature));
        }
        if self.top_k == Some(0) {
            return bad("top_k must be at least 1".into());
        }
        if let Some(p) = self.top_p.filter(|p| !(*p > 0.0 && *p <= 1.0)) {
            return bad(format!("top_p must be in (0, 1], got {p}"));
        }
        if let Some(p) = self.min_p.filter(|p| !(*p >= 0.0 && *p <= 1.0)) {
            return bad(format!("min_p must be in [0, 1], got {p}"));
        }
        if let Some(p) = self.repetition_penalty.filter(|p| !(*p > 0.0 && p.is_finite())) {
            return bad(format!("repetition_penalty must be > 0, got {p}"));
        }
        Ok(())
    }
}

/// Picks next tokens; owns the random state so a seeded run is reproducible.
pub struct Sampler {
    params: SamplingParams,
    rng: StdRng,
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Result<Self> {
        params.validate()?;
        let rng = StdRng::seed_from_u64(params.seed);
        Ok(Self { params, rng })
    }

    /// The next token given f32 `logits` over the vocabulary and the `context` so far
    /// (prompt and generated tokens, for the repetition penalty).
    pub fn sample(&mut self, logits: &[f32], context: &[u32]) -> u32 {
        let mut logits = logits.to_vec();
        if let Some(penalty) = self.params.repetition_penalty.filter(|p| *p != 1.0) {
            let mut seen = vec![false; logits.len()];
            for &tok in context {
                let i = tok as usize;
                if i < logits.len() && !seen[i] {
                    seen[i] = true;
                    let l = logits[i];
                    logits[i] = if l < 0.0 { l * penalty } else { l / penalty };
                }
            }
        }
        if self.params.temperature == 0.0 {
            return argmax(&logits);
        }
        let t = self.params.temperature;
        logits.iter_mut().for_each(|l| *l /= t);
        if let Some(k) = self.params.top_k.filter(|&k| k < logits.len()) {
            let mut sorted = logits.clone();
            sorted.sort_unstable_by(|a, b| b.total_cmp(a));
            let kth = sorted[k - 1];
            // Like transformers, ties with the k-th value are kept.
            logits.iter_mut().filter(|l| **l < kth).for_each(|l| *l = f32::NEG_INFINITY);
        }
        if let Some(top_p) = self.params.top_p.filter(|&p| p < 1.0) {
            let probs = softmax(&logits);
            let mut order: Vec<usize> = (0..probs.len()).collect();
            order.sort_unstable_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
            // Keep the most likely tokens until their mass reaches top_p (at least one).
            let mut mass = 0.0f32;
            for &i in &order {
                if mass >= top_p {
                    logits[i] = f32::NEG_INFINITY;
                }
                mass += probs[i];
            }
        }
        if let Some(min_p) = self.params.min_p.filter(|&p| p > 0.0) {
            let probs = softmax(&logits);
            let threshold = min_p * probs.iter().copied().fold(0.0, f32::max);
            for (l, p) in logits.iter_mut().zip(&probs) {
                if *p < threshold {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
        let probs = softmax(&logits);
        let u: f32 = self.rng.random();
        let mut acc = 0.0;
        for (i, p) in probs.iter().enumerate() {
            acc += p;
            if u < acc {
                return i as u32;
            }
        }
        // Rounding left `acc` just below `u`: take the most likely token.
        argmax(&probs)
    }
}

fn argmax(xs: &[f32]) -> u32 {
    let mut best = 0;
    for (i, x) in xs.iter().enumerate() {
        if *x > xs[best] {
            best = i;
        }
    }
    best as u32
}

fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

/// What ends a generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// An end-of-sequence token was produced (it is the last generated token).
    Eos,
    /// `max_new_tokens` were produced.
    Length,
    /// The caller asked to stop (a stop string matched).
    Stop,
}

impl FinishReason {
    /// The OpenAI API's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Eos | FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        }
    }
}

#[derive(Debug, Clone)]
pub struct GenerationParams {
    pub max_new_tokens: usize,
    /// Any of these ends the generation (all of `generation_config.json`'s `eos_token_id`).
    pub eos_token_ids: Vec<u32>,
    pub sampling: SamplingParams,
}

#[derive(Debug, Clone)]
pub struct Generated {
    pub tokens: Vec<u32>,
    pub finish: FinishReason,
}

/// Generates up to `max_new_tokens` after `prompt`. `on_token` sees each new token that is not
/// an end-of-sequence token and returns `false` to stop (for stop strings or streaming clients
/// that went away).
pub fn generate(
    model: &CausalLm,
    prompt: &[u32],
    params: &GenerationParams,
    mut on_token: impl FnMut(u32) -> bool,
) -> Result<Generated> {
    if prompt.is_empty() {
        return Err(Error::Generation("the prompt has no tokens".into()));
    }
    let mut sampler = Sampler::new(params.sampling.clone())?;
    let mut cache = model.new_cache();
    let mut context = prompt.to_vec();
    let mut tokens = Vec::new();
    if params.max_new_tokens == 0 {
        return Ok(Generated {
            tokens,
            finish: FinishReason::Length,
        });
    }
    let input = Tensor::new(prompt, model.device())?.unsqueeze(0)?;
    let mut logits = model.forward_last(&input, &mut cache)?;
    loop {
        let row: Vec<f32> = logits.squeeze(0)?.to_vec1()?;
        let token = sampler.sample(&row, &context);
        context.push(token);
        tokens.push(token);
        if params.eos_token_ids.contains(&token) {
            return Ok(Generated { tokens, finish: FinishReason::Eos });
        }
        if !on_token(token) {
            return Ok(Generated { tokens, finish: FinishReason::Stop });
        }
        if tokens.len() == params.max_new_tokens {
            return Ok(Generated { tokens, finish: FinishReason::Length });
        }
        let input = Tensor::new(&[token], model.device())?.unsqueeze(0)?;
        logits = model.forward_last(&input, &mut cache)?;
    }
}

/// One sample of `prompt` per seed, decoded side by side: every step is one forward pass over
/// all the rows (the prompt is the same length in each, so no padding or masks), which for small
/// models costs about what one row does. Row `i` samples with `params.sampling` and `seeds[i]`;
/// a row that has finished is fed its last token until the others finish, and its output ends
/// where it finished. No `on_token` callback: this is for batch work, not streaming.
pub fn generate_samples(model: &CausalLm, prompt: &[u32], params: &GenerationParams, seeds: &[u64]) -> Result<Vec<Generated>> {
    if prompt.is_empty() {
        return Err(Error::Generation("the prompt has no tokens".into()));
    }
    let n = seeds.len();
    let mut samplers = seeds
        .iter()
        .map(|&seed| Sampler::new(SamplingParams { seed, ..params.sampling.clone() }))
        .collect::<Result<Vec<_>>>()?;
    let mut rows: Vec<(Vec<u32>, Option<FinishReason>)> = vec![(Vec::new(), None); n];
    if n == 0 || params.max_new_tokens == 0 {
        return Ok(rows.into_iter().map(|(tokens, _)| Generated { tokens, finish: FinishReason::Length }).collect());
    }
    let mut cache = model.new_cache();
    let input = Tensor::new(prompt, model.device())?.unsqueeze(0)?.repeat((n, 1))?;
    let mut logits = model.forward_last(&input, &mut cache)?;
    let mut context: Vec<Vec<u32>> = vec![prompt.to_vec(); n];
    loop {
        let all: Vec<Vec<f32>> = logits.to_vec2()?;
        let mut next = Vec::with_capacity(n);
        for (i, (tokens, finish)) in rows.iter_mut().enumerate() {
            if finish.is_none() {
                let token = samplers[i].sample(&all[i], &context[i]);
                context[i].push(token);
                tokens.push(token);
                if params.eos_token_ids.contains(&token) {
                    *finish = Some(FinishReason::Eos);
                } else if tokens.len() == params.max_new_tokens {
                    *finish = Some(FinishReason::Length);
                }
            }
            next.push(context[i].last().copied().unwrap_or(0));
        }
        if rows.iter().all(|(_, f)| f.is_some()) {
            return Ok(rows.into_iter().map(|(tokens, f)| Generated { tokens, finish: f.unwrap_or(FinishReason::Length) }).collect());
        }
        let input = Tensor::new(next.as_slice(), model.device())?.unsqueeze(1)?;
        logits = model.forward_last(&input, &mut cache)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(params: SamplingParams) -> Sampler {
        Sampler::new(params).unwrap()
    }

    #[test]
    fn greedy_picks_the_first_maximum() {
        let mut s = sampler(SamplingParams::default());
        assert_eq!(s.sample(&[0.1, 2.0, 2.0, -1.0], &[]), 1);
    }

    #[test]
    fn repetition_penalty_divides_positive_and_multiplies_negative_logits() {
        // Token 0 (2.0 -> 1.0) loses to token 1 (1.5); negative token 2 gets more negative.
        let mut s = sampler(SamplingParams {
            repetition_penalty: Some(2.0),
            ..Default::default()
        });
        assert_eq!(s.sample(&[2.0, 1.5, -1.0], &[0, 0, 2]), 1);
    }

    #[test]
    fn top_k_one_is_greedy_at_any_temperature() {
        let mut s = sampler(SamplingParams {
            temperature: 5.0,
            top_k: Some(1),
            seed: 7,
            ..Default::default()
        });
        for _ in 0..50 {
            assert_eq!(s.sample(&[0.0, 0.5, 0.4], &[]), 1);
        }
    }

    #[test]
    fn top_p_keeps_the_smallest_set_reaching_the_mass() {
        // probs ≈ [0.64, 0.24, 0.09, 0.03]: top_p 0.8 keeps tokens 0 and 1 only.
        let logits = [3.0f32, 2.0, 1.0, 0.0];
        let mut s = sampler(SamplingParams {
            temperature: 1.0,
            top_p: Some(0.8),
            seed: 1,
            ..Default::default()
        });
        let mut seen = [0usize; 4];
        for _ in 0..2000 {
            seen[s.sample(&logits, &[]) as usize] += 1;
        }
        assert!(seen[0] > 0 && seen[1] > 0, "{seen:?}");
        assert_eq!(seen[2] + seen[3], 0, "{seen:?}");
    }

    #[test]
    fn min_p_drops_tokens_below_the_fraction_of_the_best() {
        let logits = [3.0f32, 2.9, 0.0];
        let mut s = sampler(SamplingParams {
            temperature: 1.0,
            min_p: Some(0.2),
            seed: 3,
            ..Default::default()
        });
        for _ in 0..500 {
            assert_ne!(s.sample(&logits, &[]), 2);
        }
    }

    #[test]
    fn sampling_frequencies_follow_the_softmax() {
        let logits = [0.0f32, (3.0f32).ln()]; // probabilities 0.25, 0.75
        let mut s = sampler(SamplingParams {
            temperature: 1.0,
            seed: 11,
            ..Default::default()
        });
        let n = 20_000;
        let ones = (0..n).filter(|_| s.sample(&logits, &[]) == 1).count();
        let p = ones as f64 / n as f64;
        assert!((p - 0.75).abs() < 0.015, "{p}");
    }

    #[test]
    fn same_seed_same_tokens() {
        let params = SamplingParams {
            temperature: 1.0,
            seed: 42,
            ..Default::default()
        };
        let logits = [0.1f32, 0.2, 0.3, 0.4, 0.5];
        let a: Vec<u32> = {
            let mut s = sampler(params.clone());
            (0..20).map(|_| s.sample(&logits, &[])).collect()
        };
        let mut s = sampler(params);
        let b: Vec<u32> = (0..20).map(|_| s.sample(&logits, &[])).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn invalid_settings_are_refused_with_their_name() {
        let err = Sampler::new(SamplingParams {
            top_p: Some(1.5),
            ..Default::default()
        })
        .err()
        .unwrap();
        assert!(err.to_string().contains("top_p"));
    }
}
