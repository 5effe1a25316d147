//! The glossary eval set (`glossary.jsonl`): each of the product's 25 glossary terms with its
//! reference definition (the canonical answer of `product.rs`) and the keywords a correct
//! definition must contain, for `whet eval`'s hallucination index. The keywords are chosen by
//! hand: the words that carry the definition, never a word of the term itself.

use crate::jsonl;

use super::product::TYPES;

/// Keywords per term, in `product.rs` order.
const KEYWORDS: &[(&str, &[&str])] = &[
    ("drift window", &["ten-minute", "wind"]),
    ("gust latch", &["highest", "screen"]),
    ("perch mode", &["pauses", "logging"]),
    ("squall flag", &["pressure", "three"]),
    ("dew ledger", &["daily", "lows"]),
    ("rime guard", &["vane", "ice"]),
    ("cold anchor", &["overnight low", "noon"]),
    ("tally sync", &["rain total", "console"]),
    ("vane offset", &["angle", "north"]),
    ("quiet span", &["nightly", "beeps"]),
    ("ember trend", &["heat index", "arrow"]),
    ("roost point", &["mounting height", "setup"]),
    ("shadow reading", &["temperature", "sun"]),
    ("pulse count", &["rain bucket", "reset"]),
    ("flock pairing", &["four", "sensors"]),
    ("drizzle floor", &["rain rate", "DRY"]),
    ("calm lock", &["zero wind", "two kilometres"]),
    ("stale marker", &["dash", "ten minutes"]),
    ("barometric tare", &["offset", "sea-level pressure"]),
    ("crest alert", &["temperature", "previous high"]),
    ("spool log", &["buffer", "offline"]),
    ("feather sleep", &["dims", "batteries"]),
    ("sun tick", &["minute", "sunny"]),
    ("frost margin", &["freezing", "alarm"]),
    ("link ladder", &["signal strength", "icon"]),
];

/// `glossary.jsonl`: one `{"term", "definition", "keywords"}` per line.
pub fn render() -> String {
    let mut out = String::new();
    let terms = TYPES.iter().filter(|t| t.name == "glossary term").flat_map(|t| t.facts);
    for (fact, (term, keywords)) in terms.zip(KEYWORDS) {
        debug_assert_eq!(fact.key, *term);
        out.push_str("{\"term\":");
        jsonl::push_string(&mut out, fact.key);
        out.push_str(",\"definition\":");
        jsonl::push_string(&mut out, fact.answer);
        out.push_str(",\"keywords\":[");
        for (i, k) in keywords.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            jsonl::push_string(&mut out, k);
        }
        out.push_str("]}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_term_has_keywords_found_in_its_definition_and_not_in_the_term() {
        let text = render();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 25);
        let terms: Vec<&str> = TYPES.iter().filter(|t| t.name == "glossary term").flat_map(|t| t.facts).map(|f| f.key).collect();
        for (line, term) in lines.iter().zip(terms) {
            assert_eq!(line["term"], term);
            let definition = line["definition"].as_str().unwrap().to_lowercase();
            let keywords = line["keywords"].as_array().unwrap();
            assert!(!keywords.is_empty(), "{term}");
            for k in keywords {
                let k = k.as_str().unwrap().to_lowercase();
                assert!(definition.contains(&k), "{term}: `{k}` not in {definition}");
                let shared = k.split_whitespace().any(|w| term.split_whitespace().any(|t| t == w));
                assert!(!shared, "{term}: keyword `{k}` repeats a word of the term");
            }
        }
    }
}
