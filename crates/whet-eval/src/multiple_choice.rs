//! Multiple choice by log-likelihood, as lm-evaluation-harness (0.4, `HFLM.loglikelihood`) does
//! it: each choice is a continuation `" " + choice` of the context; trailing spaces of the
//! context move to the continuation; context and context + continuation are tokenised without
//! special tokens, the continuation's tokens are those of the whole past the context's length,
//! and the model scores `context_tokens + continuation_tokens`. `acc` picks the choice with the
//! highest summed log-likelihood, `acc_norm` the highest log-likelihood per character of the
//! choice (lm-eval's `acc_norm`: its docs say byte-length, its code divides by `len(choice)`, the
//! choice without the leading space, in characters; the same for ASCII); ties go to the first
//! choice, as `np.argmax` does. Checked against transformers with lm-eval's procedure
//! (`reference/make_choice_goldens.py`, `tests/choice_goldens.rs`).
//!
//! Not supported: an empty context (lm-eval then scores after its prefix token), left truncation
//! of inputs longer than the model's context.

use whet_data::{ModelTokenizer, Tokenized};
use whet_models::CausalLm;

use crate::error::{Error, Result};
use crate::score::score_tokenized;

/// The context of a question.
pub fn context(prompt: &str, question: &str) -> String {
    prompt.replace("{question}", question)
}

/// lm-eval's `_encode_pair`: the context's tokens and the continuation's.
pub fn encode_pair(tok: &ModelTokenizer, context: &str, continuation: &str) -> Result<(Vec<u32>, Vec<u32>)> {
    let trimmed = context.trim_end();
    let (context, continuation) = (trimmed, format!("{}{continuation}", &context[trimmed.len()..]));
    let whole = tok.encode(&format!("{context}{continuation}"), false)?;
    let context_ids = tok.encode(context, false)?;
    let rest = whole.get(context_ids.len()..).unwrap_or_default().to_vec();
    Ok((context_ids, rest))
}

/// Summed log-likelihood (nats) of `continuation` after `context`.
pub fn loglikelihood(model: &CausalLm, tok: &ModelTokenizer, context: &str, continuation: &str) -> Result<f64> {
    let (ctx, cont) = encode_pair(tok, context, continuation)?;
    if ctx.is_empty() {
        return Err(Error::Config { path: "multiple_choice".into(), message: format!("the context {context:?} has no tokens; give a prompt with text before the choices") });
    }
    let targets: Vec<bool> = std::iter::repeat_n(false, ctx.len()).chain(std::iter::repeat_n(true, cont.len())).collect();
    let ids: Vec<u32> = ctx.into_iter().chain(cont).collect();
    let (_, nll) = score_tokenized(model, &Tokenized { ids, targets })?;
    Ok(-nll)
}

/// Per-choice log-likelihoods and the picks of `acc` and `acc_norm`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceScores {
    pub loglikelihoods: Vec<f64>,
    /// Index of the highest log-likelihood.
    pub pick: usize,
    /// Index of the highest log-likelihood per character of the choice.
    pub pick_norm: usize,
}

/// Scores every choice of a question (continuations `" " + choice`).
pub fn score_choices(model: &CausalLm, tok: &ModelTokenizer, context: &str, choices: &[String]) -> Result<ChoiceScores> {
    let continuations: Vec<String> = choices.iter().map(|c| format!(" {c}")).collect();
    let loglikelihoods = continuations.iter().map(|c| loglikelihood(model, tok, context, c)).collect::<Result<Vec<_>>>()?;
    let per_char: Vec<f64> = loglikelihoods.iter().zip(choices).map(|(ll, c)| ll / c.chars().count().max(1) as f64).collect();
    Ok(ChoiceScores { pick: argmax(&loglikelihoods), pick_norm: argmax(&per_char), loglikelihoods })
}

/// The first index of the largest value.
fn argmax(xs: &[f64]) -> usize {
    let mut best = 0;
    for (i, x) in xs.iter().enumerate() {
        if *x > xs[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_go_to_the_first_choice() {
        assert_eq!(argmax(&[-1.0, -0.5, -0.5]), 1);
        assert_eq!(argmax(&[-2.0]), 0);
    }
}
