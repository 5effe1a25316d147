//! Preference pairs for DPO-style training (DPO, IPO, hinge, ORPO, SimPO): a prompt, a chosen
//! answer and a rejected one, read from TRL's layouts or OpenAI's DPO layout, checked, and
//! tokenised exactly as TRL's `DPOTrainer` tokenises them (so whet's DPO recipe can match TRL
//! step by step).
//!
//! - `layout`: the record layouts (TRL's explicit and implicit prompts, strings or messages;
//!   OpenAI's `input`/`preferred_output`/`non_preferred_output`) into [`Record::Preference`];
//!   `formats::parse` uses it, so data prep reads the same layouts.
//! - [`PreferencePair`]: a preference record fit for training (non-empty prompt and answers, the
//!   answers different); [`parse_pair`] and [`read_pairs`] build them from JSON objects and files.
//! - `tokenize`: [`tokenize_pair`] and the per-row sequences with TRL's truncation.
//!
//! Errors about a record are sentences without file and line: [`parse_pair`]'s callers add them
//! ([`read_pairs`] does, as `Error::Malformed`).

pub(crate) mod layout;
mod tokenize;

use std::path::Path;

use serde_json::{Map, Value};

pub use tokenize::{tokenize_pair, PreferenceSequence, TokenizedPair, Truncation, TruncationMode};

use crate::formats::{self, Format, Message, Record};
use crate::records::{Payload, RowReader};
use crate::{Error, Result};

/// A preference record that can be trained on: a non-empty prompt, non-empty answers, and
/// answers that differ. Plain (string) pairs hold one message per side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreferencePair {
    prompt: Vec<Message>,
    chosen: Vec<Message>,
    rejected: Vec<Message>,
    plain: bool,
}

impl PreferencePair {
    /// Checks a parsed record; the error says what is wrong with it and how to fix it.
    pub fn from_record(record: Record) -> std::result::Result<Self, String> {
        let (prompt, chosen, rejected, plain) = match record {
            Record::Preference {
                prompt,
                chosen,
                rejected,
                plain,
            } => (prompt, chosen, rejected, plain),
            other => {
                return Err(format!(
                    "a {} record, not a preference pair: preference training needs `prompt`/`chosen`/`rejected` \
                     (TRL's layout; `prompt` may be left implicit) or `input`/`preferred_output`/\
                     `non_preferred_output` (OpenAI's DPO layout)",
                    other.kind()
                ))
            }
        };
        let blank = |ms: &[Message]| ms.iter().all(|m| m.content.trim().is_empty());
        if blank(&prompt) {
            return Err("the prompt is empty: a preference pair needs a prompt that both answers respond to".into());
        }
        for (field, answer) in [("chosen", &chosen), ("rejected", &rejected)] {
            if blank(answer) {
                return Err(format!(
                    "`{field}` is an empty answer: both answers need text (drop the record or fill it in)"
                ));
            }
        }
        if chosen == rejected {
            let text: String = chosen
                .iter()
                .map(|m| m.content.as_str())
                .collect::<Vec<_>>()
                .join(" / ");
            return Err(format!(
                "`chosen` and `rejected` are identical ({:?}): a pair must prefer one answer over a different one; \
                 drop the record or fix one of the answers",
                layout::preview(&text)
            ));
        }
        if plain && [&prompt, &chosen, &rejected].iter().any(|side| side.len() != 1) {
            return Err("a plain-text preference pair must hold one text per side".into());
        }
        Ok(PreferencePair {
            prompt,
            chosen,
            rejected,
            plain,
        })
    }

    pub fn prompt(&self) -> &[Message] {
        &self.prompt
    }

    pub fn chosen(&self) -> &[Message] {
        &self.chosen
    }

    pub fn rejected(&self) -> &[Message] {
        &self.rejected
    }

    /// Came as plain strings (TRL's "standard" layout): tokenised without the chat template.
    pub fn is_plain(&self) -> bool {
        self.plain
    }

    /// Back to a record (for writing it out with `Record::to_json`).
    pub fn into_record(self) -> Record {
        Record::Preference {
            prompt: self.prompt,
            chosen: self.chosen,
            rejected: self.rejected,
            plain: self.plain,
        }
    }
}

/// Parses one dataset object in `format` (`Auto`, `Preference` or `OpenaiDpo`) into a checked
/// pair. Keys the layout does not use are ignored.
pub fn parse_pair(format: Format, obj: Map<String, Value>) -> std::result::Result<PreferencePair, String> {
    PreferencePair::from_record(formats::parse(format, obj)?.record)
}

/// Every pair of a dataset file (JSONL, compressed JSONL or Parquet) with its line number; the
/// first bad line is an error naming the file and line.
pub fn read_pairs(path: &Path, format: Format) -> Result<Vec<(u64, PreferencePair)>> {
    let mut pairs = Vec::new();
    for row in RowReader::open(path)? {
        let row = row?;
        let at = |message: String| Error::Malformed {
            path: path.to_path_buf(),
            line: row.line,
            message,
        };
        let obj = match row.payload {
            Payload::Object(obj) => obj,
            Payload::Malformed { message, .. } => return Err(at(message)),
        };
        pairs.push((row.line, parse_pair(format, obj).map_err(at)?));
    }
    if pairs.is_empty() {
        return Err(Error::BadFile {
            path: path.to_path_buf(),
            message: "no records; the file is empty".into(),
        });
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pair(v: Value) -> std::result::Result<PreferencePair, String> {
        let Value::Object(obj) = v else { panic!("not an object") };
        parse_pair(Format::Auto, obj)
    }

    #[test]
    fn every_layout_gives_the_same_pair() {
        let trl = pair(json!({"prompt": [{"role": "user", "content": "Name a fruit."}],
                              "chosen": [{"role": "assistant", "content": "An apple."}],
                              "rejected": [{"role": "assistant", "content": "A chair."}]}))
        .unwrap();
        let implicit = pair(json!({
            "chosen": [{"role": "user", "content": "Name a fruit."}, {"role": "assistant", "content": "An apple."}],
            "rejected": [{"role": "user", "content": "Name a fruit."}, {"role": "assistant", "content": "A chair."}]}))
        .unwrap();
        let openai = pair(
            json!({"input": {"messages": [{"role": "user", "content": "Name a fruit."}]},
                                 "preferred_output": [{"role": "assistant", "content": "An apple."}],
                                 "non_preferred_output": [{"role": "assistant", "content": "A chair."}]}),
        )
        .unwrap();
        assert_eq!(trl, implicit);
        assert_eq!(trl, openai);
        assert!(!trl.is_plain());
        let plain = pair(json!({"prompt": "Name a fruit.", "chosen": "An apple.", "rejected": "A chair."})).unwrap();
        assert!(plain.is_plain());
        assert_eq!(plain.chosen()[0].content, "An apple.");
    }

    #[test]
    fn identical_answers_are_refused() {
        let e = pair(json!({"prompt": "Q", "chosen": "Same answer.", "rejected": "Same answer."})).unwrap_err();
        assert!(
            e.contains("`chosen` and `rejected` are identical") && e.contains("Same answer."),
            "{e}"
        );
        // Implicit prompt with identical conversations: the prompt is all but the last message,
        // and the answers left are identical.
        let conv = json!([{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]);
        let e = pair(json!({"chosen": conv, "rejected": conv})).unwrap_err();
        assert!(e.contains("identical"), "{e}");
    }

    #[test]
    fn empty_answers_and_prompts_are_refused() {
        let e = pair(json!({"prompt": "Q", "chosen": "", "rejected": "B"})).unwrap_err();
        assert!(e.contains("`chosen` is an empty answer"), "{e}");
        let e = pair(json!({"prompt": [{"role": "user", "content": "Q"}], "chosen": [],
                            "rejected": [{"role": "assistant", "content": "B"}]}))
        .unwrap_err();
        assert!(e.contains("`chosen` is an empty answer"), "{e}");
        let e = pair(json!({"prompt": "Q", "chosen": "A", "rejected": "   "})).unwrap_err();
        assert!(e.contains("`rejected` is an empty answer"), "{e}");
        let e = pair(json!({"prompt": "", "chosen": "A", "rejected": "B"})).unwrap_err();
        assert!(e.contains("the prompt is empty"), "{e}");
    }

    #[test]
    fn missing_prompt_without_a_shared_beginning_is_refused() {
        let e = pair(json!({"chosen": [{"role": "assistant", "content": "A"}],
                            "rejected": [{"role": "assistant", "content": "B"}]}))
        .unwrap_err();
        assert!(e.contains("no `prompt`") && e.contains("share no beginning"), "{e}");
    }

    #[test]
    fn records_that_are_not_preference_pairs_are_named() {
        let e = pair(json!({"messages": [{"role": "user", "content": "Hi"}]})).unwrap_err();
        assert!(
            e.starts_with("a chat record, not a preference pair") && e.contains("preferred_output"),
            "{e}"
        );
        let e = pair(json!({"text": "Hello"})).unwrap_err();
        assert!(e.starts_with("a text record, not a preference pair"), "{e}");
        let Value::Object(obj) = json!({"prompt": "Q", "chosen": "A", "rejected": "B"}) else {
            unreachable!()
        };
        let e = parse_pair(Format::Text, obj).unwrap_err();
        assert_eq!(e, "missing field `text`");
    }

    #[test]
    fn read_pairs_names_the_file_and_line_of_a_bad_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prefs.jsonl");
        std::fs::write(
            &path,
            "{\"prompt\": \"Q\", \"chosen\": \"A\", \"rejected\": \"B\"}\n\n{\"prompt\": \"Q\", \"chosen\": \"A\", \"rejected\": \"A\"}\n",
        )
        .unwrap();
        let e = read_pairs(&path, Format::Auto).unwrap_err().to_string();
        assert!(e.contains("prefs.jsonl:3:") && e.contains("identical"), "{e}");
        std::fs::write(&path, "").unwrap();
        let e = read_pairs(&path, Format::Auto).unwrap_err().to_string();
        assert!(e.contains("prefs.jsonl") && e.contains("empty"), "{e}");
        std::fs::write(&path, "{\"prompt\": \"Q\", \"chosen\": \"A\", \"rejected\": \"B\"}\n").unwrap();
        let pairs = read_pairs(&path, Format::Auto).unwrap();
        assert_eq!((pairs.len(), pairs[0].0), (1, 1));
    }
}
