//! A model's answer to a conversation: the chat template's generation prompt, decoding until an
//! end-of-sequence token, the decoded text. Greedy by default, so an evaluation is repeatable;
//! sampled (seeded) when the options ask for it, as AI-feedback pair generation does.

use serde_json::Value;
use whet_data::ModelTokenizer;
use whet_models::{generate, CausalLm, GenerationParams, SamplingParams};

use crate::error::Result;

#[derive(Debug, Clone)]
pub struct AnswerOptions {
    pub max_new_tokens: usize,
    /// Tokens that end the answer (the model's `generation_config.json` EOS ids).
    pub eos_token_ids: Vec<u32>,
    /// Greedy (the default: temperature 0) or sampled.
    pub sampling: SamplingParams,
}

/// The assistant's reply to `messages` (which end with the user's turn), trimmed.
pub fn answer(model: &CausalLm, tok: &ModelTokenizer, messages: &[Value], opts: &AnswerOptions) -> Result<String> {
    let prompt = tok.encode(&tok.render_chat(messages, true)?, false)?;
    let params = GenerationParams {
        max_new_tokens: opts.max_new_tokens,
        eos_token_ids: opts.eos_token_ids.clone(),
        sampling: opts.sampling.clone(),
    };
    let out = generate(model, &prompt, &params, |_| true)?;
    let text = tok.decode(&out.tokens, true)?;
    Ok(text.trim().to_string())
}
