//! A model's answer to a conversation: the chat template's generation prompt, decoding until an
//! end-of-sequence token, the decoded text. Greedy by default, so an evaluation is repeatable;
//! sampled (seeded) when the options ask for it, as AI-feedback pair generation does.

use serde_json::Value;
use whet_data::ModelTokenizer;
use whet_models::{generate, generate_samples, CausalLm, GenerationParams, SamplingParams};

use crate::error::Result;

#[derive(Debug, Clone)]
pub struct AnswerOptions {
    pub max_new_tokens: usize,
    /// Tokens that end the answer (the model's `generation_config.json` EOS ids).
    pub eos_token_ids: Vec<u32>,
    /// Greedy (the default: temperature 0) or sampled.
    pub sampling: SamplingParams,
}

impl AnswerOptions {
    fn params(&self) -> GenerationParams {
        GenerationParams { max_new_tokens: self.max_new_tokens, eos_token_ids: self.eos_token_ids.clone(), sampling: self.sampling.clone() }
    }
}

/// The assistant's reply to `messages` (which end with the user's turn), trimmed.
pub fn answer(model: &CausalLm, tok: &ModelTokenizer, messages: &[Value], opts: &AnswerOptions) -> Result<String> {
    let prompt = tok.encode(&tok.render_chat(messages, true)?, false)?;
    let out = generate(model, &prompt, &opts.params(), |_| true)?;
    Ok(tok.decode(&out.tokens, true)?.trim().to_string())
}

/// `n` sampled replies to `messages`, decoded side by side; reply `k` is sampled with seed
/// `opts.sampling.seed + k`, as [`answer`] would with that seed (the texts can differ where the
/// batched arithmetic rounds differently).
pub fn sample_answers(model: &CausalLm, tok: &ModelTokenizer, messages: &[Value], opts: &AnswerOptions, n: usize) -> Result<Vec<String>> {
    let prompt = tok.encode(&tok.render_chat(messages, true)?, false)?;
    let seeds: Vec<u64> = (0..n as u64).map(|k| opts.sampling.seed.wrapping_add(k)).collect();
    generate_samples(model, &prompt, &opts.params(), &seeds)?
        .into_iter()
        .map(|out| Ok(tok.decode(&out.tokens, true)?.trim().to_string()))
        .collect()
}
