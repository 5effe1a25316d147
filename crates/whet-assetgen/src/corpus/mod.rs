//! The pretraining corpus: English documents about one small, consistent everyday world, for a
//! tiny (~2M-parameter) Llama model trained from random weights on two CPU cores. The text is
//! regular on purpose (a few sentence shapes, a fixed vocabulary, facts that never contradict
//! each other) so such a model can learn grammar, facts and the `chatml` chat format from it.
//!
//! Written as JSONL, one `{"text": "..."}` per line. Document `i` depends only on the seed and
//! `i` (each has its own random stream), so a smaller corpus is a prefix of a larger one.

mod chat;
mod describe;
mod dialogue;
mod facts;
mod howto;
pub mod qa;
mod story;

use std::io::Write;

use crate::jsonl;
use crate::rng::Rng;
use crate::text::word_count;

/// About 12 MB of text (12.2 million bytes, 2.2 million words) with the default seed.
pub const DEFAULT_DOCUMENTS: u64 = 40_000;

/// Documents outside these bounds (in words) are drawn again; chat transcripts are exempt from
/// the lower bound, since a one-question chat is short by design.
const MIN_WORDS: usize = 30;
const MAX_WORDS: usize = 300;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Story,
    Facts,
    Description,
    HowTo,
    Dialogue,
    Chat,
}

impl Kind {
    pub const ALL: [Kind; 6] =
        [Kind::Story, Kind::Facts, Kind::Description, Kind::HowTo, Kind::Dialogue, Kind::Chat];

    /// Share of the corpus, in percent.
    const fn weight(self) -> u32 {
        match self {
            Kind::Story => 25,
            Kind::Facts => 23,
            Kind::Description => 9,
            Kind::HowTo => 7,
            Kind::Dialogue => 11,
            Kind::Chat => 25,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Story => "story",
            Kind::Facts => "facts",
            Kind::Description => "description",
            Kind::HowTo => "howto",
            Kind::Dialogue => "dialogue",
            Kind::Chat => "chat",
        }
    }
}

/// Document `index` of the corpus for `seed`.
pub fn document(seed: u64, index: u64) -> (Kind, String) {
    let mut rng = Rng::stream(seed, index);
    let weights = Kind::ALL.map(Kind::weight);
    let kind = Kind::ALL[rng.weighted(&weights)];
    loop {
        let text = match kind {
            Kind::Story => story::generate(&mut rng),
            Kind::Facts => facts::generate(&mut rng),
            Kind::Description => describe::generate(&mut rng),
            Kind::HowTo => howto::generate(&mut rng),
            Kind::Dialogue => dialogue::generate(&mut rng),
            Kind::Chat => chat::generate(&mut rng),
        };
        let words = word_count(&text);
        let min = if kind == Kind::Chat { 1 } else { MIN_WORDS };
        if (min..=MAX_WORDS).contains(&words) {
            return (kind, text);
        }
    }
}

/// What was written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub documents: u64,
    /// Bytes of the JSONL file.
    pub bytes: u64,
    /// Bytes of document text.
    pub text_bytes: u64,
    pub words: u64,
    /// Documents per kind, in `Kind::ALL` order.
    pub per_kind: [u64; 6],
}

/// Writes `documents` documents as JSONL.
pub fn write(out: &mut impl Write, documents: u64, seed: u64) -> std::io::Result<Stats> {
    let mut stats = Stats::default();
    let mut line = String::new();
    for i in 0..documents {
        let (kind, text) = document(seed, i);
        line.clear();
        line.push_str("{\"text\":");
        jsonl::push_string(&mut line, &text);
        line.push_str("}\n");
        out.write_all(line.as_bytes())?;
        stats.documents += 1;
        stats.bytes += line.len() as u64;
        stats.text_bytes += text.len() as u64;
        stats.words += word_count(&text) as u64;
        if let Some(k) = Kind::ALL.iter().position(|&k| k == kind) {
            stats.per_kind[k] += 1;
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::product;

    fn corpus(documents: u64, seed: u64) -> Vec<u8> {
        let mut buf = Vec::new();
        write(&mut buf, documents, seed).unwrap();
        buf
    }

    #[test]
    fn same_seed_same_bytes_and_prefix_property() {
        let a = corpus(600, 42);
        let b = corpus(600, 42);
        assert_eq!(a, b);
        let small = corpus(100, 42);
        assert!(a.starts_with(&small));
        assert_ne!(a, corpus(600, 43));
    }

    #[test]
    fn lines_are_ascii_json_with_a_text_field() {
        let buf = corpus(3000, 7);
        let text = std::str::from_utf8(&buf).unwrap();
        assert!(text.is_ascii());
        let mut kinds = [0usize; 6];
        for (i, line) in text.lines().enumerate() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let obj = v.as_object().unwrap();
            assert_eq!(obj.len(), 1);
            let t = obj["text"].as_str().unwrap();
            assert!(!t.contains('{') && !t.contains('}'), "unfilled template: {t}");
            assert!(!t.contains("  ") && !t.contains(" ,") && !t.contains(" ."), "spacing: {t}");
            assert!(!t.contains("..") && !t.contains(". ."), "punctuation: {t}");
            let words = word_count(t);
            assert!(words <= MAX_WORDS, "{t}");
            let (kind, _) = document(7, i as u64);
            if kind != Kind::Chat {
                assert!(words >= MIN_WORDS, "{t}");
            }
            kinds[Kind::ALL.iter().position(|&k| k == kind).unwrap()] += 1;
        }
        // Every kind is there, chats near a quarter.
        assert!(kinds.iter().all(|&k| k > 50), "{kinds:?}");
        assert!((600..900).contains(&kinds[5]), "{kinds:?}");
    }

    #[test]
    fn corpus_never_mentions_the_domain_product() {
        let buf = corpus(4000, 42);
        let lower = String::from_utf8(buf).unwrap().to_ascii_lowercase();
        for term in product::forbidden_in_corpus() {
            assert!(!lower.contains(&term.to_ascii_lowercase()), "corpus mentions {term:?}");
        }
    }

    #[test]
    fn no_article_or_agreement_slips() {
        let buf = corpus(4000, 5);
        let text = String::from_utf8(buf).unwrap();
        for line in text.lines() {
            let words: Vec<&str> = line
                .split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
                .filter(|w| !w.is_empty())
                .collect();
            for pair in words.windows(2) {
                let first = pair[0].to_ascii_lowercase();
                if first == "a" || first == "an" {
                    assert_eq!(
                        crate::text::article(pair[1]),
                        first,
                        "{} {} in {line}",
                        pair[0],
                        pair[1]
                    );
                }
            }
            let lower = line.to_ascii_lowercase();
            for bad in [
                "sheeps",
                "mouses",
                "mices",
                "wolfs",
                "foxs",
                "fishs",
                "mice eats",
                "she himself",
                "he herself",
            ] {
                assert!(!lower.contains(bad), "{bad:?} in {line}");
            }
        }
    }
}
