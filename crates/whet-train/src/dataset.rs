//! Training examples from a dataset file: records read with whet-data (JSONL, compressed JSONL or
//! Parquet; messages, ShareGPT, Alpaca or text), tokenised with the loss mask of the recipe, and
//! over-long ones truncated or dropped as configured — every such case counted, none silent.
//!
//! `sft` trains on the assistant turns of conversations (or on every token with
//! `train_on_inputs`; an assistant message with `"weight": 0` is skipped, as in OpenAI's format),
//! and on every token of `text` records; `cpt` trains on `text` records. Preference pairs are
//! refused with a pointer to the DPO recipe.

use std::path::Path;

use serde_json::{json, Value};
use whet_data::formats::{self, Format, Record};
use whet_data::records::{Payload, RowReader};
use whet_data::{tokenize_chat_with, tokenize_text, ChatMask, ModelTokenizer, Tokenized};

use crate::config::{DataConfig, Method, Overlong};
use crate::error::{Error, Result};

/// What loading a dataset file did, for the run summary.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DatasetStats {
    pub records: usize,
    pub truncated: usize,
    pub dropped_overlong: usize,
    pub tokens: usize,
    pub target_tokens: usize,
}

/// Reads and tokenises every record of `path`.
pub fn load_examples(
    path: &Path,
    method: Method,
    data: &DataConfig,
    tok: &ModelTokenizer,
) -> Result<(Vec<Tokenized>, DatasetStats)> {
    let format = match data.format.as_str() {
        "messages" => Format::Messages,
        "sharegpt" => Format::Sharegpt,
        "alpaca" => Format::Alpaca,
        "text" => Format::Text,
        _ => Format::Auto,
    };
    let mut examples = Vec::new();
    let mut stats = DatasetStats::default();
    let reader = RowReader::open(path).map_err(Error::Data)?;
    for row in reader {
        let row = row.map_err(Error::Data)?;
        let at = |message: String| Error::Record { path: path.to_path_buf(), line: row.line, message };
        let obj = match row.payload {
            Payload::Object(obj) => obj,
            Payload::Malformed { message, .. } => return Err(at(message)),
        };
        // OpenAI's per-message weight lives on the raw messages; the parsed record drops it.
        let skip_messages: Vec<usize> = match obj.get("messages") {
            Some(Value::Array(msgs)) => msgs
                .iter()
                .enumerate()
                .filter(|(_, m)| m.get("weight").and_then(Value::as_f64) == Some(0.0))
                .map(|(i, _)| i)
                .collect(),
            _ => Vec::new(),
        };
        let parsed = formats::parse(format, obj).map_err(at)?;
        let tokenized = match (&parsed.record, method) {
            (Record::Preference { .. }, _) => {
                return Err(at(format!(
                    "a preference pair (prompt/chosen/rejected) cannot train the {} recipe, which learns from conversations, instructions or text; use method = \"dpo\" for preference data",
                    method.name()
                )))
            }
            (other, Method::Dpo) => {
                return Err(at(format!("a {} record, not a preference pair: method = \"dpo\" trains on prompt/chosen/rejected pairs", other.kind())))
            }
            (Record::Chat { .. }, Method::Cpt) => {
                return Err(at("cpt trains on raw `text` records; this is a conversation (use method = \"sft\")".into()))
            }
            (Record::Text { text }, _) => tokenize_text(tok, text).map_err(Error::Data)?,
            (Record::Chat { messages }, Method::Sft) => {
                if !data.train_on_inputs && !messages.iter().enumerate().any(|(i, m)| m.role == "assistant" && !skip_messages.contains(&i)) {
                    return Err(at("the conversation has no assistant turn to train on".into()));
                }
                let messages: Vec<Value> = messages.iter().map(|m| json!({"role": m.role, "content": m.content})).collect();
                let mask = ChatMask { train_on_inputs: data.train_on_inputs, skip_messages };
                tokenize_chat_with(tok, &messages, &mask).map_err(|e| at(e.to_string()))?
            }
        };
        stats.records += 1;
        let Some(example) = fit(tokenized, data, &mut stats) else { continue };
        stats.tokens += example.ids.len();
        stats.target_tokens += example.num_targets();
        examples.push(example);
    }
    if examples.is_empty() {
        return Err(Error::Record {
            path: path.to_path_buf(),
            line: 0,
            message: if stats.records == 0 {
                "no records; the file is empty".into()
            } else {
                format!("all {} records were longer than data.max_seq_len = {} and dropped", stats.records, data.max_seq_len)
            },
        });
    }
    Ok((examples, stats))
}

/// Applies `max_seq_len`: truncation keeps the start; a record left without targets is dropped.
fn fit(mut t: Tokenized, data: &DataConfig, stats: &mut DatasetStats) -> Option<Tokenized> {
    if t.ids.len() <= data.max_seq_len {
        return Some(t);
    }
    match data.overlong {
        Overlong::Drop => {
            stats.dropped_overlong += 1;
            None
        }
        Overlong::Truncate => {
            t.ids.truncate(data.max_seq_len);
            t.targets.truncate(data.max_seq_len);
            if t.num_targets() == 0 {
                stats.dropped_overlong += 1;
                return None;
            }
            stats.truncated += 1;
            Some(t)
        }
    }
}
