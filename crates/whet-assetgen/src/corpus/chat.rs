//! Chat transcripts in whet's built-in `chatml` template, one
//! `<|im_start|>{role}\n{content}<|im_end|>\n` per message, so the pretrained base model already
//! knows the format its quickstart fine-tuning will use: an optional system message, then one to
//! three user questions about the corpus's world, each answered correctly and briefly.

use super::qa::{self, Setting};
use crate::rng::Rng;

/// General-purpose system prompts (never the quickstart domain's).
const SYSTEM_PROMPTS: &[&str] = &[
    "You are a helpful assistant.",
    "You are a helpful assistant. Answer briefly.",
    "You are a friendly assistant who answers in one or two sentences.",
    "You are a helpful assistant who knows about animals, food, numbers and the calendar.",
    "You are a patient teacher who answers questions clearly.",
];

const GREETINGS: &[(&str, &str)] = &[
    ("Hello!", "Hello! How can I help you today?"),
    ("Hi there.", "Hi! What would you like to know?"),
    ("Good morning.", "Good morning! How can I help you?"),
    ("Can you help me with a question?", "Of course. What is your question?"),
];

const THANKS: &[(&str, &str)] = &[
    ("Thank you!", "You are welcome!"),
    ("Thanks, that helps.", "I am glad it helps."),
    ("Great, thank you.", "You are welcome. Ask me anything else you like."),
];

/// What the user says before a follow-up question.
const FOLLOW_UP_OPENERS: &[&str] = &["Thank you. ", "Thanks. ", "Great. ", "OK. "];

/// One message in the `chatml` rendering.
pub fn render(role: &str, content: &str, out: &mut String) {
    out.push_str("<|im_start|>");
    out.push_str(role);
    out.push('\n');
    out.push_str(content);
    out.push_str("<|im_end|>\n");
}

pub fn generate(rng: &mut Rng) -> String {
    let mut out = String::new();
    if rng.chance(2, 5) {
        render("system", rng.pick_str(SYSTEM_PROMPTS), &mut out);
    }
    let turns = rng.weighted(&[45, 35, 20]) + 1;
    // Whether the previous turn was a question, so "Thank you" follows an answer.
    let mut answered = false;
    for turn in 0..turns {
        if turn == 0 && turns > 1 && rng.chance(1, 8) {
            let (user, assistant) = rng.pick(GREETINGS);
            render("user", user, &mut out);
            render("assistant", assistant, &mut out);
            continue;
        }
        if answered && turn == turns - 1 && rng.chance(1, 6) {
            let (user, assistant) = rng.pick(THANKS);
            render("user", user, &mut out);
            render("assistant", assistant, &mut out);
            continue;
        }
        let q = qa::any(rng, Setting::Chat);
        let mut question = q.question;
        if answered && rng.chance(1, 4) {
            question = format!("{}{question}", rng.pick(FOLLOW_UP_OPENERS));
        }
        render("user", &question, &mut out);
        render("assistant", &q.answer, &mut out);
        answered = true;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcripts_alternate_user_and_assistant() {
        let mut rng = Rng::new(3);
        for _ in 0..500 {
            let t = generate(&mut rng);
            let roles: Vec<&str> = t
                .split("<|im_start|>")
                .skip(1)
                .map(|m| m.split('\n').next().unwrap_or(""))
                .collect();
            let body: &[&str] = if roles[0] == "system" { &roles[1..] } else { &roles };
            assert!(!body.is_empty() && body.len() <= 6 && body.len().is_multiple_of(2), "{t}");
            for pair in body.chunks(2) {
                assert_eq!(pair, ["user", "assistant"], "{t}");
            }
            assert_eq!(t.matches("<|im_start|>").count(), t.matches("<|im_end|>\n").count());
            assert!(t.ends_with("<|im_end|>\n"));
        }
    }
}
