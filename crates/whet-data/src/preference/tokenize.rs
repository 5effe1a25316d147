//! Token ids of a preference pair, built the way TRL 1.16's `DPOTrainer` builds them
//! (`DPOTrainer._prepare_dataset` and `DataCollatorForPreference` in trl/trainer/dpo_trainer.py),
//! so a whet DPO run sees the ids a TRL run would see. Checked against TRL's own output in
//! `tests/preference_golden.rs` (goldens from `reference/make_dpo_goldens.py`).
//!
//! - Conversational pairs: the prompt is the chat template's rendering of the prompt messages with
//!   the generation prompt; `prompt + chosen` and `prompt + rejected` are rendered whole (no
//!   generation prompt). Each rendering is tokenised without special tokens, so BOS appears only
//!   where the template writes it, and no EOS is appended: an answer ends with what the template
//!   writes after an assistant turn (`<|im_end|>` and a newline for ChatML).
//! - Plain-string pairs: the tokenizer's EOS text is appended to `chosen` and to `rejected` unless
//!   they already end with it; `prompt` and `prompt + answer` (string concatenation) are tokenised
//!   with special tokens, so BOS comes from the tokenizer's post-processor if it adds one.
//! - Split: the prompt ids are cut to the longest prefix they share with both full sequences, and
//!   each answer is the rest of its sequence. A token merged across the boundary (prompt `"The ca"`,
//!   answer `"t sat."`) therefore belongs to the answer, as in TRL.
//! - Truncation ([`Truncation`]): each prompt + answer sequence is cut to `max_length` tokens,
//!   keeping its start (TRL's default; `keep_end`, deprecated in TRL, keeps its end); with
//!   `keep_start`, a pair whose prompt alone is `max_length` tokens or more is dropped. TRL 1.16
//!   has no separate prompt or completion length limits.
//!
//! TRL's experimental ORPO and CPO/SimPO trainers tokenise the older way; for templates that do
//! not end an answer with EOS their ids are these plus EOS after each answer
//! ([`TokenizedPair::with_eos_appended`]).

use serde_json::{json, Value};

use super::PreferencePair;
use crate::error::{Error, Result};
use crate::formats::Message;
use crate::tokenizer::ModelTokenizer;

/// The token ids of one pair, untruncated: what TRL's `DPOTrainer` stores as `prompt_ids`,
/// `chosen_ids` and `rejected_ids` after its dataset preparation (see the module doc for the
/// rules). The training sequences are `prompt + chosen` and `prompt + rejected`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenizedPair {
    pub prompt: Vec<u32>,
    pub chosen: Vec<u32>,
    pub rejected: Vec<u32>,
}

/// How over-long sequences are cut, as TRL's `DPOConfig.truncation_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TruncationMode {
    KeepStart,
    /// Deprecated in TRL 1.16; kept for parity.
    KeepEnd,
}

/// TRL's `max_length` and `truncation_mode`; the default is `DPOConfig`'s (1024, keep start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncation {
    pub max_length: Option<usize>,
    pub mode: TruncationMode,
}

impl Default for Truncation {
    fn default() -> Self {
        Truncation {
            max_length: Some(1024),
            mode: TruncationMode::KeepStart,
        }
    }
}

/// One training row of a pair: prompt + answer ids, truncated, and which of them are the answer's
/// (the tokens whose log-probabilities DPO sums; each is predicted from the tokens before it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreferenceSequence {
    pub ids: Vec<u32>,
    pub completion_mask: Vec<bool>,
}

impl PreferenceSequence {
    pub fn num_completion_tokens(&self) -> usize {
        self.completion_mask.iter().filter(|m| **m).count()
    }
}

impl TokenizedPair {
    /// TRL drops such pairs before training: with `keep_start`, a prompt of `max_length` tokens or
    /// more would leave no answer token.
    pub fn is_dropped(&self, t: &Truncation) -> bool {
        t.mode == TruncationMode::KeepStart && t.max_length.is_some_and(|max| self.prompt.len() >= max)
    }

    /// The chosen row (`prompt + chosen`), as `DataCollatorForPreference` builds it before padding.
    pub fn chosen_sequence(&self, t: &Truncation) -> PreferenceSequence {
        sequence(&self.prompt, &self.chosen, t)
    }

    /// The rejected row (`prompt + rejected`).
    pub fn rejected_sequence(&self, t: &Truncation) -> PreferenceSequence {
        sequence(&self.prompt, &self.rejected, t)
    }

    /// The ids TRL's experimental `ORPOTrainer` and `CPOTrainer` (SimPO) build: EOS appended to
    /// each answer unless it is already its last token. Equal to theirs when the template renders
    /// the prompt as a token prefix of prompt + answer (as the golden ChatML template does).
    pub fn with_eos_appended(&self, eos: u32) -> TokenizedPair {
        let add = |ids: &[u32]| {
            let mut ids = ids.to_vec();
            if ids.last() != Some(&eos) {
                ids.push(eos);
            }
            ids
        };
        TokenizedPair {
            prompt: self.prompt.clone(),
            chosen: add(&self.chosen),
            rejected: add(&self.rejected),
        }
    }
}

fn sequence(prompt: &[u32], answer: &[u32], t: &Truncation) -> PreferenceSequence {
    let mut ids = prompt.to_vec();
    ids.extend_from_slice(answer);
    let mut completion_mask = vec![false; prompt.len()];
    completion_mask.resize(ids.len(), true);
    if let Some(max) = t.max_length.filter(|max| ids.len() > *max) {
        match t.mode {
            TruncationMode::KeepStart => {
                ids.truncate(max);
                completion_mask.truncate(max);
            }
            TruncationMode::KeepEnd => {
                let cut = ids.len() - max;
                ids.drain(..cut);
                completion_mask.drain(..cut);
            }
        }
    }
    PreferenceSequence { ids, completion_mask }
}

/// Tokenises a validated pair as TRL's `DPOTrainer` does (module doc).
pub fn tokenize_pair(tok: &ModelTokenizer, pair: &PreferencePair) -> Result<TokenizedPair> {
    let (prompt, chosen_full, rejected_full) = if pair.is_plain() {
        let eos = tok
            .special_tokens
            .get("eos_token")
            .ok_or_else(|| Error::TokenizerConfig {
                path: tok.dir.join("tokenizer_config.json"),
                key: "eos_token".into(),
                message: "is not set; plain-text preference pairs end each answer with it (as TRL does), so the \
                      tokenizer must name one"
                    .into(),
            })?;
        let prompt = text(pair.prompt());
        let full = |answer: &[Message]| {
            let mut s = format!("{prompt}{}", text(answer));
            if !s.ends_with(eos.as_str()) {
                s.push_str(eos);
            }
            tok.encode(&s, true)
        };
        (tok.encode(&prompt, true)?, full(pair.chosen())?, full(pair.rejected())?)
    } else {
        let render = |answer: &[Message]| -> Result<Vec<u32>> {
            let msgs: Vec<Value> = pair
                .prompt()
                .iter()
                .chain(answer)
                .map(|m| json!({"role": m.role, "content": m.content}))
                .collect();
            tok.encode(&tok.render_chat(&msgs, answer.is_empty())?, false)
        };
        (render(&[])?, render(pair.chosen())?, render(pair.rejected())?)
    };
    let n = common_prefix(&prompt, &chosen_full).min(common_prefix(&prompt, &rejected_full));
    let out = TokenizedPair {
        prompt: prompt[..n].to_vec(),
        chosen: chosen_full[n..].to_vec(),
        rejected: rejected_full[n..].to_vec(),
    };
    if out.chosen.is_empty() || out.rejected.is_empty() {
        // Only a template that renders no text for an assistant turn gets here.
        let origin = tok.chat_template().map(|t| t.origin().to_string()).unwrap_or_default();
        return Err(Error::Template {
            origin,
            message: "renders the prompt followed by an answer as no more tokens than the prompt alone, so the \
                      answer has no tokens to train on; use a template that writes assistant turns"
                .into(),
        });
    }
    Ok(out)
}

/// A plain pair's side: one message by construction (`PreferencePair::from_record`).
fn text(ms: &[Message]) -> String {
    ms.iter().map(|m| m.content.as_str()).collect()
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> TokenizedPair {
        TokenizedPair {
            prompt: vec![1, 2, 3],
            chosen: vec![4, 5],
            rejected: vec![6],
        }
    }

    #[test]
    fn sequences_mark_the_answer_tokens_and_keep_the_start_when_truncated() {
        let t = Truncation {
            max_length: Some(4),
            mode: TruncationMode::KeepStart,
        };
        let c = pair().chosen_sequence(&t);
        assert_eq!(c.ids, vec![1, 2, 3, 4]);
        assert_eq!(c.completion_mask, vec![false, false, false, true]);
        let r = pair().rejected_sequence(&t);
        assert_eq!((r.num_completion_tokens(), r.ids), (1, vec![1, 2, 3, 6]));
        let none = Truncation {
            max_length: None,
            mode: TruncationMode::KeepStart,
        };
        assert_eq!(pair().chosen_sequence(&none).ids, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn keep_end_cuts_the_start_of_the_prompt() {
        let t = Truncation {
            max_length: Some(3),
            mode: TruncationMode::KeepEnd,
        };
        let c = pair().chosen_sequence(&t);
        assert_eq!((c.ids, c.completion_mask), (vec![3, 4, 5], vec![false, true, true]));
        assert!(!pair().is_dropped(&t));
    }

    #[test]
    fn a_prompt_that_fills_max_length_is_dropped_with_keep_start() {
        let at = |max| Truncation {
            max_length: Some(max),
            mode: TruncationMode::KeepStart,
        };
        assert!(pair().is_dropped(&at(3)));
        assert!(!pair().is_dropped(&at(4)));
        assert!(!pair().is_dropped(&Truncation {
            max_length: None,
            mode: TruncationMode::KeepStart
        }));
    }

    #[test]
    fn eos_is_appended_once_for_orpo_and_simpo() {
        let p = TokenizedPair {
            prompt: vec![1],
            chosen: vec![2, 9],
            rejected: vec![3],
        }
        .with_eos_appended(9);
        assert_eq!((p.chosen, p.rejected), (vec![2, 9], vec![3, 9]));
    }
}
