//! The general-ability eval set (`general.jsonl`): questions about the base corpus's world
//! (animals, food, numbers, the calendar, ...) with their correct answers, drawn by the same
//! generator as the corpus's chat transcripts (`corpus::qa`), for `whet eval`'s forgetting
//! check: the base model answers them, and a fine-tuned variant should not get worse. Its own
//! random stream, so the fine-tuning splits do not depend on it; questions are unique.

use std::collections::BTreeSet;

use crate::corpus::qa::{self, Setting};
use crate::jsonl;
use crate::rng::Rng;

/// How many questions.
pub const QUESTIONS: usize = 40;

/// Mixed into the seed so this stream differs from the splits' and the corpus's.
const STREAM: u64 = 0x0067_656e_6572_616c;

/// `general.jsonl`: `{"messages": [user, assistant]}` per line.
pub fn render(seed: u64) -> String {
    let mut rng = Rng::new(seed ^ STREAM);
    let mut seen = BTreeSet::new();
    let mut out = String::new();
    while seen.len() < QUESTIONS {
        let qa = qa::any(&mut rng, Setting::Chat);
        // One question and one answer, on one line each (no rewriting exercises over lines).
        if qa.question.contains('\n') || qa.answer.contains('\n') || !seen.insert(qa.question.clone()) {
            continue;
        }
        out.push_str("{\"messages\":[{\"role\":\"user\",\"content\":");
        jsonl::push_string(&mut out, &qa.question);
        out.push_str("},{\"role\":\"assistant\",\"content\":");
        jsonl::push_string(&mut out, &qa.answer);
        out.push_str("}]}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_unique_chat_records() {
        let (a, b) = (render(42), render(42));
        assert_eq!(a, b);
        assert_ne!(a, render(43));
        let questions: BTreeSet<String> = a
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                assert_eq!(v["messages"][1]["role"], "assistant");
                v["messages"][0]["content"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(questions.len(), QUESTIONS);
    }
}
