//! The records of eval sets, read from JSONL and checked once, each error naming the file and
//! line and saying what the record needs:
//!
//! - `generation`: `{"messages": [..., {"role": "assistant", "content": REFERENCE}]}`; the
//!   turns before the last are the prompt.
//! - `perplexity`: `{"messages": [...]}` (assistant tokens scored) or `{"text": ...}` (every
//!   token but the first), as `whet score`.
//! - `multiple_choice`: `{"question": ..., "choices": [...], "gold": INDEX}` (lm-evaluation-harness
//!   names).
//! - `glossary`: `{"term": ..., "definition": ..., "keywords": [...]}` (`keywords` needed only
//!   by the keywords judge).

use std::path::Path;

use serde_json::{Map, Value};

use crate::config::Kind;
use crate::error::{Error, Result};

/// One record with the line it came from (1-based).
#[derive(Debug, Clone)]
pub struct Item {
    pub line: usize,
    pub record: Record,
}

#[derive(Debug, Clone)]
pub enum Record {
    /// A conversation whose last turn, the assistant's, is the reference answer.
    Generation { prompt: Vec<Value>, reference: String },
    Chat { messages: Vec<Value> },
    Text { text: String },
    Choice { question: String, choices: Vec<String>, gold: usize },
    Term { term: String, definition: String, keywords: Vec<String> },
}

impl Record {
    /// All of the record's text, joined by blank lines: what the contamination check reads.
    pub fn full_text(&self) -> String {
        let contents = |ms: &[Value]| -> Vec<String> { ms.iter().filter_map(|m| m["content"].as_str().map(str::to_string)).collect() };
        match self {
            Record::Generation { prompt, reference } => {
                let mut parts = contents(prompt);
                parts.push(reference.clone());
                parts.join("\n\n")
            }
            Record::Chat { messages } => contents(messages).join("\n\n"),
            Record::Text { text } => text.clone(),
            Record::Choice { question, choices, .. } => std::iter::once(question.clone()).chain(choices.iter().cloned()).collect::<Vec<_>>().join("\n\n"),
            Record::Term { term, definition, .. } => format!("{term}\n\n{definition}"),
        }
    }
}

/// Reads an eval set of `kind` (the first `limit` records); `keywords_required` for the
/// glossary's keywords judge.
pub fn read_set(path: &Path, kind: Kind, limit: Option<usize>, keywords_required: bool) -> Result<Vec<Item>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    let mut items = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if limit.is_some_and(|n| items.len() >= n) {
            break;
        }
        let malformed = |message: String| Error::Malformed { path: path.to_path_buf(), line: i + 1, message };
        let value: Value = serde_json::from_str(line).map_err(|e| malformed(format!("not valid JSON ({e})")))?;
        let Value::Object(obj) = value else {
            return Err(malformed("a record must be a JSON object".into()));
        };
        let record = parse(&obj, kind, keywords_required).map_err(malformed)?;
        items.push(Item { line: i + 1, record });
    }
    if items.is_empty() {
        return Err(Error::EmptySet { path: path.to_path_buf() });
    }
    Ok(items)
}

fn parse(obj: &Map<String, Value>, kind: Kind, keywords_required: bool) -> std::result::Result<Record, String> {
    let name = kind.name();
    match kind {
        Kind::Generation => {
            let messages = messages(obj, name)?;
            let last = messages.last().filter(|m| m["role"] == "assistant").ok_or_else(|| {
                format!("a {name} record must end with the reference answer as an assistant turn")
            })?;
            let reference = last["content"].as_str().unwrap_or_default().to_string();
            if messages.len() < 2 {
                return Err(format!("a {name} record needs a prompt turn before the reference answer"));
            }
            Ok(Record::Generation { prompt: messages[..messages.len() - 1].to_vec(), reference })
        }
        Kind::Perplexity => match (obj.get("text"), obj.get("messages")) {
            (Some(Value::String(text)), _) => Ok(Record::Text { text: text.clone() }),
            (_, Some(_)) => Ok(Record::Chat { messages: messages(obj, name)? }),
            _ => Err(format!("a {name} record needs a string `text` or a `messages` list")),
        },
        Kind::MultipleChoice => {
            let question = string(obj, "question", name)?;
            let choices: Vec<String> = obj
                .get("choices")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(|c| c.as_str().map(str::to_string)).collect::<Option<Vec<_>>>())
                .ok_or_else(|| format!("a {name} record needs `choices`, a list of strings"))?
                .ok_or_else(|| "every entry of `choices` must be a string".to_string())?;
            if choices.len() < 2 {
                return Err(format!("`choices` has {} entries; a {name} record needs at least 2", choices.len()));
            }
            let gold = obj.get("gold").and_then(Value::as_u64).ok_or_else(|| format!("a {name} record needs `gold`, the index of the right choice (0-based)"))?;
            if gold as usize >= choices.len() {
                return Err(format!("`gold` is {gold} but there are only {} choices (indices from 0)", choices.len()));
            }
            Ok(Record::Choice { question, choices, gold: gold as usize })
        }
        Kind::Glossary => {
            let term = string(obj, "term", name)?;
            let definition = match obj.get("definition") {
                Some(Value::String(d)) if !d.trim().is_empty() => d.clone(),
                _ => return Err(format!("the term `{term}` has no `definition`; every glossary term needs a reference definition")),
            };
            let keywords: Vec<String> = match obj.get("keywords") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a.iter().map(|k| k.as_str().map(str::to_string)).collect::<Option<Vec<_>>>().ok_or_else(|| "`keywords` must be a list of strings".to_string())?,
                Some(_) => return Err("`keywords` must be a list of strings".into()),
            };
            if keywords_required && keywords.iter().all(|k| k.trim().is_empty()) {
                return Err(format!("the term `{term}` has no `keywords`; the keywords judge needs at least one per term"));
            }
            Ok(Record::Term { term, definition, keywords })
        }
    }
}

fn string(obj: &Map<String, Value>, key: &str, kind: &str) -> std::result::Result<String, String> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        _ => Err(format!("a {kind} record needs a non-empty string `{key}`")),
    }
}

fn messages(obj: &Map<String, Value>, kind: &str) -> std::result::Result<Vec<Value>, String> {
    let list = obj.get("messages").and_then(Value::as_array).filter(|l| !l.is_empty()).ok_or_else(|| format!("a {kind} record needs a non-empty `messages` list"))?;
    for (i, m) in list.iter().enumerate() {
        if !(m["role"].is_string() && m["content"].is_string()) {
            return Err(format!("messages[{i}] needs a string `role` and a string `content`"));
        }
    }
    Ok(list.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(kind: Kind, lines: &str, keywords: bool) -> Result<Vec<Item>> {
        let dir = tempfile::tempdir().map_err(|source| Error::Io { path: "tmp".into(), source })?;
        let path = dir.path().join("set.jsonl");
        std::fs::write(&path, lines).map_err(|source| Error::Io { path: path.clone(), source })?;
        read_set(&path, kind, None, keywords)
    }

    fn message(r: Result<Vec<Item>>) -> String {
        r.err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn records_parse_by_kind() -> Result<()> {
        let gen = r#"{"messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}]}"#;
        let items = read(Kind::Generation, &format!("{gen}\n\n{gen}\n"), false)?;
        assert_eq!(items.iter().map(|i| i.line).collect::<Vec<_>>(), [1, 3]);
        assert!(matches!(&items[0].record, Record::Generation { reference, prompt } if reference == "A." && prompt.len() == 1));
        let mc = r#"{"question": "2+2?", "choices": ["3", "4"], "gold": 1}"#;
        assert!(matches!(&read(Kind::MultipleChoice, mc, false)?[0].record, Record::Choice { gold: 1, .. }));
        let term = r#"{"term": "gust latch", "definition": "Holds the gust.", "keywords": ["gust"]}"#;
        assert!(matches!(&read(Kind::Glossary, term, true)?[0].record, Record::Term { keywords, .. } if keywords == &["gust"]));
        Ok(())
    }

    #[test]
    fn bad_records_are_errors_naming_file_and_line() {
        let ok = r#"{"messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}]}"#;
        let no_answer = r#"{"messages": [{"role": "user", "content": "Q?"}]}"#;
        let e = message(read(Kind::Generation, &format!("{ok}\n{no_answer}\n"), false));
        assert!(e.contains("set.jsonl:2: ") && e.contains("must end with the reference answer"), "{e}");
        let e = message(read(Kind::Generation, "{\"text\": \"x\"}\n", false));
        assert!(e.contains("set.jsonl:1: ") && e.contains("`messages`"), "{e}");
        let e = message(read(Kind::Glossary, "{\"term\": \"gust latch\"}\n", false));
        assert!(e.contains("set.jsonl:1: the term `gust latch` has no `definition`"), "{e}");
        let e = message(read(Kind::Glossary, "{\"term\": \"t\", \"definition\": \"d\"}\n", true));
        assert!(e.contains("has no `keywords`"), "{e}");
        let e = message(read(Kind::MultipleChoice, "{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"gold\": 2}\n", false));
        assert!(e.contains("`gold` is 2 but there are only 2 choices"), "{e}");
        let e = message(read(Kind::Perplexity, "{not json\n", false));
        assert!(e.contains("set.jsonl:1: not valid JSON"), "{e}");
        let e = message(read(Kind::Perplexity, "\n\n", false));
        assert!(e.contains("no records"), "{e}");
    }
}
