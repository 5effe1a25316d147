//! Tokenisation with a loss mask: which tokens a model is scored (and trained) on.
//!
//! Plain text: every token but the first. Chat: the assistant turns only, found by rendering the
//! conversation's prefixes — the text between the rendering of the messages before an assistant
//! turn with the generation prompt and the rendering that includes that turn is the assistant's,
//! end-of-turn tokens included (so a model learns to stop). A token is the assistant's when its
//! first byte lies in such a span. This works for any template whose earlier turns render the
//! same whatever follows; others are refused, never silently mis-masked.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::tokenizer::ModelTokenizer;

/// Token ids with, per token, whether it is a target (predicted from the tokens before it and
/// counted in the loss). The first token is never a target.
#[derive(Debug, Clone, PartialEq)]
pub struct Tokenized {
    pub ids: Vec<u32>,
    pub targets: Vec<bool>,
}

impl Tokenized {
    pub fn num_targets(&self) -> usize {
        self.targets.iter().filter(|t| **t).count()
    }
}

/// A plain-text record: BOS (if the tokenizer adds one) and every token after the first scored.
pub fn tokenize_text(tok: &ModelTokenizer, text: &str) -> Result<Tokenized> {
    let ids = tok.encode(text, true)?;
    let targets = (0..ids.len()).map(|i| i > 0).collect();
    Ok(Tokenized { ids, targets })
}

/// Which tokens of a conversation are trained on.
#[derive(Debug, Clone, Default)]
pub struct ChatMask {
    /// Every token but the first, prompts included.
    pub train_on_inputs: bool,
    /// Indices of assistant messages not trained on (OpenAI's per-message `weight: 0`).
    pub skip_messages: Vec<usize>,
}

/// A conversation: rendered with the chat template, assistant tokens scored.
pub fn tokenize_chat(tok: &ModelTokenizer, messages: &[Value]) -> Result<Tokenized> {
    tokenize_chat_with(tok, messages, &ChatMask::default())
}

/// [`tokenize_chat`] with a choice of which tokens are targets.
pub fn tokenize_chat_with(tok: &ModelTokenizer, messages: &[Value], mask: &ChatMask) -> Result<Tokenized> {
    if mask.train_on_inputs {
        let (ids, _) = tok.encode_with_offsets(&tok.render_chat(messages, false)?, false)?;
        let targets = (0..ids.len()).map(|j| j > 0).collect();
        return Ok(Tokenized { ids, targets });
    }
    let template = tok.chat_template()?;
    let full = tok.render_chat(messages, false)?;
    let mut spans = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        if message.get("role").and_then(Value::as_str) != Some("assistant") || mask.skip_messages.contains(&i) {
            continue;
        }
        let before = tok.render_chat(&messages[..i], true)?;
        let through = tok.render_chat(&messages[..=i], false)?;
        if !full.starts_with(&before) || !full.starts_with(&through) || through.len() < before.len() {
            return Err(Error::TemplateNotIncremental {
                origin: template.origin().to_string(),
                index: i,
            });
        }
        spans.push(before.len()..through.len());
    }
    // The template writes BOS itself where the model wants one.
    let (ids, offsets) = tok.encode_with_offsets(&full, false)?;
    let targets = offsets
        .iter()
        .enumerate()
        .map(|(j, (start, _))| j > 0 && spans.iter().any(|s| s.contains(start)))
        .collect();
    Ok(Tokenized { ids, targets })
}
