//! The output side of a guardrail policy for one choice: generated text goes in as it is
//! decoded, and comes out checked (PII redacted, blocked content redacted or the answer ended
//! with `finish_reason: "content_filter"`). Streamed and whole answers take the same path, so
//! `stream: true` bypasses nothing.
//!
//! A stream holds back the last `stream_window_chars` characters of the policy (64 by default)
//! until more text follows (or the
//! answer ends), and never releases part of a match: a release stops at the start of any match
//! that reaches into the held-back window, since the match may still grow. So PII or a blocked
//! word split over several deltas (`jane.doe@exa` + `mple.com`) is caught before any of it is
//! sent. Limit: text that matches only once more than the window's characters of it have been
//! generated (an e-mail address with a local part longer than the window, say) can be partly
//! released before it matches, so a policy with longer patterns sets a larger window; whole
//! answers are checked in one piece and have no such limit.

use std::sync::Arc;

use crate::guardrails::{apply, intervention, Guardrail, Intervention, Side};

pub struct OutputGuard {
    policy: Arc<Guardrail>,
    /// Generated text not yet checked for good.
    pending: String,
    /// Everything released so far (checked).
    pub released: String,
    pub verdicts: Vec<Intervention>,
    /// Set when blocked content ended the answer.
    pub refused: bool,
}

impl OutputGuard {
    pub fn new(policy: Arc<Guardrail>) -> Self {
        Self {
            policy,
            pending: String::new(),
            released: String::new(),
            verdicts: Vec::new(),
            refused: false,
        }
    }

    /// Takes newly generated text; returns the checked text now safe to send. After a
    /// refusal ([`OutputGuard::refused`]) it returns nothing more.
    pub fn push(&mut self, text: &str) -> String {
        if self.refused {
            return String::new();
        }
        self.pending.push_str(text);
        // The byte offset a window's characters before the end (0 if shorter).
        let mut cut = self
            .pending
            .char_indices()
            .rev()
            .nth(self.policy.stream_window_chars.max(1) - 1)
            .map_or(0, |(i, _)| i);
        self.release(&mut cut, false)
    }

    /// The answer ended: checks and returns everything still held back.
    pub fn finish(&mut self) -> String {
        if self.refused {
            return String::new();
        }
        let mut cut = self.pending.len();
        self.release(&mut cut, true)
    }

    /// Releases `pending[..cut]` (moved back to the start of a match crossing it).
    fn release(&mut self, cut: &mut usize, end: bool) -> String {
        let findings = self
            .policy
            .findings(&self.pending, self.policy.pii_output, Side::Output);
        if let Some(f) = findings.iter().find(|f| f.replacement.is_none()) {
            // Blocked content ends the answer before it; nothing of it is sent.
            self.verdicts
                .push(intervention(f.guardrail, "refuse", &f.detail));
            let before: Vec<_> = findings
                .iter()
                .filter(|g| g.end <= f.start)
                .cloned()
                .collect();
            let out = apply(&self.pending[..f.start], &before, &mut self.verdicts);
            self.refused = true;
            self.pending.clear();
            self.released.push_str(&out);
            return out;
        }
        if !end {
            for f in findings.iter().rev() {
                if f.start < *cut && f.end > *cut {
                    *cut = f.start;
                }
            }
        }
        let ready: Vec<_> = findings.into_iter().filter(|f| f.end <= *cut).collect();
        let out = apply(&self.pending[..*cut], &ready, &mut self.verdicts);
        self.pending.drain(..*cut);
        self.released.push_str(&out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guardrail_config::GuardrailConfig;

    fn guard(extra: &str) -> OutputGuard {
        let c: GuardrailConfig = toml::from_str(&format!("applies_to = [\"*\"]\n{extra}")).unwrap();
        OutputGuard::new(Arc::new(Guardrail::new("t", &c).unwrap()))
    }

    /// Streams `chunks` through `g`; returns what was sent, chunk by chunk.
    fn run(g: &mut OutputGuard, chunks: &[&str]) -> Vec<String> {
        let mut sent: Vec<String> = chunks.iter().map(|c| g.push(c)).collect();
        sent.push(g.finish());
        sent
    }

    #[test]
    fn an_email_split_over_chunks_is_redacted_before_any_part_is_sent() {
        let mut g = guard("pii_output = true");
        let filler = "x".repeat(80);
        let chunks = [
            filler.as_str(),
            " write to jane.d",
            "oe@exam",
            "ple.com today",
            ".",
        ];
        let sent = run(&mut g, &chunks);
        let all = sent.concat();
        assert_eq!(all, format!("{filler} write to <EMAIL> today."));
        for s in &sent {
            assert!(!s.contains("jane") && !s.contains("exam"), "{sent:?}");
        }
        assert_eq!(g.verdicts.len(), 1);
        assert_eq!(g.verdicts[0].guardrail, "pii_output");
    }

    #[test]
    fn every_split_point_of_a_stream_gives_the_same_text_as_a_whole_answer() {
        let text = format!(
            "{} call +44 20 7946 0958 or mail a.b@example.org, card 4111 1111 1111 1111 end",
            "y".repeat(70)
        );
        let mut whole = guard("pii_output = true");
        let expected = run(&mut whole, &[&text]).concat();
        assert!(!expected.contains("7946") && !expected.contains("example.org"));
        for step in [1, 2, 3, 5, 7, 13] {
            let chars: Vec<char> = text.chars().collect();
            let chunks: Vec<String> = chars.chunks(step).map(|c| c.iter().collect()).collect();
            let refs: Vec<&str> = chunks.iter().map(String::as_str).collect();
            let mut g = guard("pii_output = true");
            assert_eq!(run(&mut g, &refs).concat(), expected, "step {step}");
        }
    }

    #[test]
    fn a_blocked_word_split_over_chunks_ends_the_answer_before_it() {
        let mut g = guard("blocked_words = [\"darkweb\"]");
        let sent = run(&mut g, &["try the dark", "web market", " now"]);
        assert_eq!(sent.concat(), "try the ");
        assert!(g.refused);
        assert_eq!(
            (g.verdicts[0].guardrail, g.verdicts[0].action),
            ("blocked_output", "refuse")
        );
    }

    #[test]
    fn blocked_words_may_be_redacted_instead() {
        let mut g = guard("blocked_words = [\"darkweb\"]\nblocked_action = \"redact\"");
        let sent = run(&mut g, &["the dark", "web and the DARKWEB"]);
        assert_eq!(sent.concat(), "the <BLOCKED> and the <BLOCKED>");
        assert_eq!(g.verdicts.len(), 2);
    }

    #[test]
    fn text_is_held_back_only_by_the_window() {
        for (config, window) in [("pii_output = true", 64), ("pii_output = true\nstream_window_chars = 100", 100)] {
            let mut g = guard(config);
            let long = "z".repeat(window + 10);
            assert_eq!(g.push(&long).chars().count(), 10);
            assert_eq!(g.finish().chars().count(), window);
        }
    }

    #[test]
    fn a_match_longer_than_the_window_needs_a_larger_window() {
        // An 89-character match, streamed a character at a time.
        let secret = format!("KEY-{}", "Q".repeat(85));
        let text = format!("here: {secret} end");
        let chunks: Vec<String> = text.chars().map(String::from).collect();
        let refs: Vec<&str> = chunks.iter().map(String::as_str).collect();
        let pattern = "blocked_patterns = ['KEY-Q{85}']";
        let mut small = guard(pattern);
        let leaked = run(&mut small, &refs).concat();
        // Its start went out before it matched, and what is left no longer matches.
        assert!(!small.refused && leaked == text, "the default window lets it escape: {leaked:?}");
        let mut large = guard(&format!("{pattern}\nstream_window_chars = 96"));
        assert_eq!(run(&mut large, &refs).concat(), "here: ");
        assert!(large.refused);
    }
}
