//! Pairwise LLM judging: a model behind an OpenAI-compatible endpoint reads a question, the
//! reference answer when there is one, and two answers, and says which is better (A, B or TIE),
//! at temperature 0. `whet data prefs --judge llm` asks once per pair, in a seeded random order;
//! `whet eval`'s `[pairwise_judge]` asks twice with the answers swapped and counts a win only
//! when both orders agree, otherwise a tie, as MT-Bench's pairwise comparison does against the
//! judge's position bias.

use serde_json::json;

use crate::error::Result;
use crate::openai_client::{ChatEndpoint, ChatRequest};

/// The judge's instructions (the system message); the verdict is the reply's first word.
pub const DEFAULT_PAIRWISE_RUBRIC: &str = "You compare two answers to the same question. The better answer is \
correct, answers what was asked, and says nothing that the reference answer (when given) contradicts or lacks. \
Reply with one word: A if answer A is better, B if answer B is better, TIE if neither is.";

/// A verdict on answers A and B as shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    A,
    B,
    Tie,
}

/// Shows the judge `question`, `reference` and answers `a` and `b`; returns its pick (`None` when
/// the reply starts with none of A, B, TIE) and the reply.
pub fn judge_pair(endpoint: &ChatEndpoint, rubric: &str, question: &str, reference: Option<&str>, a: &str, b: &str) -> Result<(Option<Pick>, String)> {
    let mut text = format!("Question: {question}\n\n");
    if let Some(r) = reference {
        text += &format!("Reference answer: {r}\n\n");
    }
    text += &format!("Answer A: {a}\n\nAnswer B: {b}\n\nWhich answer is better? Reply with A, B or TIE.");
    let messages = [json!({"role": "system", "content": rubric}), json!({"role": "user", "content": text})];
    let reply = endpoint.complete(&messages, &ChatRequest { max_tokens: 8, temperature: 0.0, top_p: None, seed: 0 })?;
    Ok((parse_pick(&reply), reply))
}

/// The outcome for the first answer of [`judge_both_orders`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Win,
    Loss,
    /// A tie, an inconsistent pair of verdicts, or no verdict.
    Tie,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Win => "win",
            Outcome::Loss => "loss",
            Outcome::Tie => "tie",
        }
    }

    /// 1 for a win, 0.5 for a tie, 0 for a loss: a per-sample score whose mean is the win rate
    /// with ties counted half.
    pub fn score(self) -> f64 {
        match self {
            Outcome::Win => 1.0,
            Outcome::Tie => 0.5,
            Outcome::Loss => 0.0,
        }
    }
}

/// `answer` against `other`, judged with `answer` first and then second; identical answers tie
/// without asking.
pub fn judge_both_orders(endpoint: &ChatEndpoint, rubric: &str, question: &str, reference: Option<&str>, answer: &str, other: &str) -> Result<(Outcome, Vec<String>)> {
    if answer.trim() == other.trim() {
        return Ok((Outcome::Tie, Vec::new()));
    }
    let (first, r1) = judge_pair(endpoint, rubric, question, reference, answer, other)?;
    let (second, r2) = judge_pair(endpoint, rubric, question, reference, other, answer)?;
    let outcome = match (first, second) {
        (Some(Pick::A), Some(Pick::B)) => Outcome::Win,
        (Some(Pick::B), Some(Pick::A)) => Outcome::Loss,
        _ => Outcome::Tie,
    };
    Ok((outcome, vec![r1, r2]))
}

/// The first word of the reply: A, B or TIE (any case, markup around it ignored).
pub fn parse_pick(reply: &str) -> Option<Pick> {
    let word = reply.trim().trim_start_matches(|c: char| !c.is_alphanumeric()).split(|c: char| !c.is_alphanumeric()).next()?;
    match word.to_ascii_uppercase().as_str() {
        "A" => Some(Pick::A),
        "B" => Some(Pick::B),
        "TIE" => Some(Pick::Tie),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pick_is_read_from_the_start_of_the_reply() {
        assert_eq!(parse_pick("A"), Some(Pick::A));
        assert_eq!(parse_pick(" **B**, because"), Some(Pick::B));
        assert_eq!(parse_pick("b."), Some(Pick::B));
        assert_eq!(parse_pick("Tie."), Some(Pick::Tie));
        assert_eq!(parse_pick("Answer A"), None);
        assert_eq!(parse_pick(""), None);
    }
}
