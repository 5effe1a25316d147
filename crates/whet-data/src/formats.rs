//! Dataset formats of the field, and the typed [`Record`] they all turn into.
//!
//! Recognised layouts (one JSON object per record):
//! - OpenAI chat: `{"messages": [{"role": "user", "content": "..."}, ...]}`
//! - ShareGPT: `{"conversations": [{"from": "human", "value": "..."}, ...]}`
//!   (`human`/`user` → user, `gpt`/`assistant`/`model` → assistant, `system`, `tool`/`function`/
//!   `observation` → tool)
//! - Alpaca: `{"instruction": "...", "input": "...", "output": "...", "system"?: "..."}`
//! - raw text: `{"text": "..."}`
//! - preference (TRL): `{"prompt": ..., "chosen": ..., "rejected": ...}`, all strings or all lists
//!   of messages; without `prompt`, the prompt is what `chosen` and `rejected` share at the start
//! - OpenAI DPO: `{"input": {"messages": [...]}, "preferred_output": [...],
//!   "non_preferred_output": [...]}`, each output one assistant message
//!
//! (the preference layouts are parsed in `preference/layout.rs`.)
//!
//! With [`Format::Auto`] the layout is chosen per record from its keys. Keys a layout does not
//! use (`id`, `category`, ...) are kept as `extras` and written back unchanged. Records are
//! written back in a canonical layout: chat-like formats (OpenAI, ShareGPT, Alpaca) as OpenAI
//! `messages`; text as `text`; preference pairs as TRL `prompt`/`chosen`/`rejected` (strings if
//! they came as strings, message lists otherwise). Message content must be a string;
//! multi-part (image) content is refused.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::records::json_kind;

/// The layout of a dataset, as stated in a config or detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Auto,
    Messages,
    Sharegpt,
    Alpaca,
    Text,
    Preference,
    OpenaiDpo,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Messages => "messages",
            Format::Sharegpt => "sharegpt",
            Format::Alpaca => "alpaca",
            Format::Text => "text",
            Format::Preference => "preference",
            Format::OpenaiDpo => "openai_dpo",
        }
    }

    /// The layout an object's keys point to, if any.
    pub fn detect(obj: &Map<String, Value>) -> Option<Format> {
        if obj.contains_key("messages") {
            Some(Format::Messages)
        } else if obj.contains_key("conversations") {
            Some(Format::Sharegpt)
        } else if obj.contains_key("chosen") && obj.contains_key("rejected") {
            Some(Format::Preference)
        } else if obj.contains_key("preferred_output") {
            Some(Format::OpenaiDpo)
        } else if obj.contains_key("instruction") && obj.contains_key("output") {
            Some(Format::Alpaca)
        } else if obj.contains_key("text") {
            Some(Format::Text)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// A record in whet's own terms, whatever layout it came in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    Chat {
        messages: Vec<Message>,
    },
    Text {
        text: String,
    },
    Preference {
        prompt: Vec<Message>,
        chosen: Vec<Message>,
        rejected: Vec<Message>,
        /// Came as plain strings (written back as strings).
        plain: bool,
    },
}

/// A parsed record with the layout it came in and the keys that layout does not use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parsed {
    pub format: Format,
    pub record: Record,
    pub extras: Map<String, Value>,
}

/// Parses one object in `format` (or the detected one for [`Format::Auto`]). The error is a
/// sentence for the user, without the file and line (the caller adds them).
pub fn parse(format: Format, mut obj: Map<String, Value>) -> Result<Parsed, String> {
    let format = match format {
        Format::Auto => Format::detect(&obj).ok_or_else(|| {
            let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
            format!(
                "no known record format: expected `messages`, `conversations`, \
                 `instruction`+`output`, `text`, `prompt`+`chosen`+`rejected` or \
                 `input`+`preferred_output`; found keys {keys:?}"
            )
        })?,
        f => f,
    };
    let record = match format {
        // Resolved above; kept as an error rather than a panic.
        Format::Auto => return Err("internal: record format was not resolved".into()),
        Format::Messages => Record::Chat {
            messages: messages(take(&mut obj, "messages")?, "messages", "role", "content")?,
        },
        Format::Sharegpt => {
            let mut msgs = messages(
                take(&mut obj, "conversations")?,
                "conversations",
                "from",
                "value",
            )?;
            for (i, m) in msgs.iter_mut().enumerate() {
                m.role = sharegpt_role(&m.role)
                    .ok_or_else(|| {
                        format!(
                            "conversations[{i}].from = {:?}: expected human, gpt, system or tool",
                            m.role
                        )
                    })?
                    .to_string();
            }
            Record::Chat { messages: msgs }
        }
        Format::Alpaca => {
            let instruction = string(take(&mut obj, "instruction")?, "instruction")?;
            let input = match obj.remove("input") {
                None | Some(Value::Null) => String::new(),
                Some(v) => string(v, "input")?,
            };
            let output = string(take(&mut obj, "output")?, "output")?;
            let mut msgs = Vec::new();
            if let Some(v) = obj.remove("system") {
                let s = string(v, "system")?;
                if !s.is_empty() {
                    msgs.push(Message {
                        role: "system".into(),
                        content: s,
                    });
                }
            }
            let user = if input.trim().is_empty() {
                instruction
            } else {
                format!("{instruction}\n\n{input}")
            };
            msgs.push(Message {
                role: "user".into(),
                content: user,
            });
            msgs.push(Message {
                role: "assistant".into(),
                content: output,
            });
            Record::Chat { messages: msgs }
        }
        Format::Text => Record::Text {
            text: string(take(&mut obj, "text")?, "text")?,
        },
        Format::Preference => crate::preference::layout::trl(&mut obj)?,
        Format::OpenaiDpo => crate::preference::layout::openai(&mut obj)?,
    };
    Ok(Parsed {
        format,
        record,
        extras: obj,
    })
}

pub(crate) fn take(obj: &mut Map<String, Value>, key: &str) -> Result<Value, String> {
    obj.remove(key)
        .ok_or_else(|| format!("missing field `{key}`"))
}

fn string(v: Value, field: &str) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(format!("`{field}` must be a string, found {}", json_kind(&other))),
    }
}

fn sharegpt_role(from: &str) -> Option<&'static str> {
    Some(match from {
        "human" | "user" => "user",
        "gpt" | "assistant" | "model" | "chatgpt" | "bard" => "assistant",
        "system" => "system",
        "tool" | "function" | "function_response" | "observation" => "tool",
        _ => return None,
    })
}

pub(crate) fn messages(v: Value, field: &str, role_key: &str, content_key: &str) -> Result<Vec<Message>, String> {
    let arr = match v {
        Value::Array(a) => a,
        other => return Err(format!("`{field}` must be an array of messages, found {}", json_kind(&other))),
    };
    arr.into_iter()
        .enumerate()
        .map(|(i, m)| {
            let mut m = match m {
                Value::Object(m) => m,
                other => return Err(format!("`{field}[{i}]` must be an object, found {}", json_kind(&other))),
            };
            let role = match m.remove(role_key) {
                Some(Value::String(s)) => s,
                Some(other) => return Err(format!("`{field}[{i}].{role_key}` must be a string, found {}", json_kind(&other))),
                None => return Err(format!("`{field}[{i}]` has no `{role_key}`")),
            };
            let content = match m.remove(content_key) {
                Some(Value::String(s)) => s,
                Some(Value::Null) | None => {
                    return Err(format!("`{field}[{i}]` has no `{content_key}` text"))
                }
                Some(other) => {
                    return Err(format!(
                        "`{field}[{i}].{content_key}` must be a string, found {} (multi-part content is not supported)",
                        json_kind(&other)
                    ))
                }
            };
            Ok(Message { role, content })
        })
        .collect()
}

impl Record {
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Chat { .. } => "chat",
            Record::Text { .. } => "text",
            Record::Preference { .. } => "preference",
        }
    }

    /// Every piece of text in the record, for in-place rewriting (normalise, redact).
    pub fn contents_mut(&mut self) -> Vec<&mut String> {
        match self {
            Record::Chat { messages } => messages.iter_mut().map(|m| &mut m.content).collect(),
            Record::Text { text } => vec![text],
            Record::Preference {
                prompt,
                chosen,
                rejected,
                ..
            } => prompt
                .iter_mut()
                .chain(chosen.iter_mut())
                .chain(rejected.iter_mut())
                .map(|m| &mut m.content)
                .collect(),
        }
    }

    /// Every piece of text in the record, in order.
    pub fn contents(&self) -> Vec<&str> {
        match self {
            Record::Chat { messages } => messages.iter().map(|m| m.content.as_str()).collect(),
            Record::Text { text } => vec![text.as_str()],
            Record::Preference {
                prompt,
                chosen,
                rejected,
                ..
            } => prompt
                .iter()
                .chain(chosen.iter())
                .chain(rejected.iter())
                .map(|m| m.content.as_str())
                .collect(),
        }
    }

    /// All text joined by blank lines: what quality, language and policy checks read.
    pub fn full_text(&self) -> String {
        self.contents().join("\n\n")
    }

    /// The prompt side: non-assistant turns of a chat, the prompt of a preference pair; empty
    /// for raw text.
    pub fn prompt_text(&self) -> String {
        match self {
            Record::Chat { messages } => join(messages.iter().filter(|m| m.role != "assistant")),
            Record::Text { .. } => String::new(),
            Record::Preference { prompt, .. } => join(prompt.iter()),
        }
    }

    /// The response side: assistant turns of a chat, chosen and rejected of a preference pair,
    /// the whole text of a raw-text record.
    pub fn response_text(&self) -> String {
        match self {
            Record::Chat { messages } => join(messages.iter().filter(|m| m.role == "assistant")),
            Record::Text { text } => text.clone(),
            Record::Preference {
                chosen, rejected, ..
            } => format!("{}\u{1}{}", join(chosen.iter()), join(rejected.iter())),
        }
    }

    /// The record in its canonical output layout, with `extras` appended.
    pub fn to_json(&self, extras: &Map<String, Value>) -> Value {
        let mut obj = match self {
            Record::Chat { messages } => {
                let mut m = Map::new();
                m.insert("messages".into(), msgs_json(messages));
                m
            }
            Record::Text { text } => {
                let mut m = Map::new();
                m.insert("text".into(), Value::String(text.clone()));
                m
            }
            Record::Preference {
                prompt,
                chosen,
                rejected,
                plain,
            } => {
                let mut m = Map::new();
                let side = |ms: &[Message]| {
                    if *plain {
                        Value::String(ms.iter().map(|m| m.content.as_str()).collect::<Vec<_>>().join("\n\n"))
                    } else {
                        msgs_json(ms)
                    }
                };
                m.insert("prompt".into(), side(prompt));
                m.insert("chosen".into(), side(chosen));
                m.insert("rejected".into(), side(rejected));
                m
            }
        };
        for (k, v) in extras {
            obj.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Value::Object(obj)
    }
}

fn join<'a>(ms: impl Iterator<Item = &'a Message>) -> String {
    ms.map(|m| m.content.as_str()).collect::<Vec<_>>().join("\n")
}

fn msgs_json(ms: &[Message]) -> Value {
    Value::Array(
        ms.iter()
            .map(|m| json!({"role": m.role, "content": m.content}))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn chat(v: Value) -> Vec<(String, String)> {
        match parse(Format::Auto, obj(v)).expect("parses").record {
            Record::Chat { messages } => messages.into_iter().map(|m| (m.role, m.content)).collect(),
            other => panic!("expected chat, got {other:?}"),
        }
    }

    #[test]
    fn openai_sharegpt_and_alpaca_parse_to_the_same_chat() {
        let want = vec![("user".to_string(), "Hi".to_string()), ("assistant".to_string(), "Hello".to_string())];
        assert_eq!(chat(json!({"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]})), want);
        assert_eq!(chat(json!({"conversations":[{"from":"human","value":"Hi"},{"from":"gpt","value":"Hello"}]})), want);
        assert_eq!(chat(json!({"instruction":"Hi","input":"","output":"Hello"})), want);
    }

    #[test]
    fn alpaca_input_is_appended_to_the_instruction() {
        let c = chat(json!({"instruction":"Translate","input":"chat","output":"cat"}));
        assert_eq!(c[0].1, "Translate\n\nchat");
    }

    #[test]
    fn preference_and_openai_dpo_parse_to_preference_pairs() {
        let p = parse(Format::Auto, obj(json!({"prompt":"Q","chosen":"good","rejected":"bad","id":7}))).expect("parses");
        assert_eq!(p.format, Format::Preference);
        assert_eq!(p.extras["id"], 7);
        assert_eq!(p.record.to_json(&p.extras), json!({"prompt":"Q","chosen":"good","rejected":"bad","id":7}));
        let d = parse(
            Format::Auto,
            obj(json!({"input":{"messages":[{"role":"user","content":"Q"}]},
                       "preferred_output":[{"role":"assistant","content":"good"}],
                       "non_preferred_output":[{"role":"assistant","content":"bad"}]})),
        )
        .expect("parses");
        assert_eq!(d.format, Format::OpenaiDpo);
        assert_eq!(d.record.response_text(), "good\u{1}bad");
    }

    #[test]
    fn wrong_types_and_missing_fields_are_named() {
        let e = parse(Format::Auto, obj(json!({"messages":[{"role":"user","content":3}]}))).expect_err("bad");
        assert!(e.contains("messages[0].content") && e.contains("a number"), "{e}");
        let e = parse(Format::Text, obj(json!({"txt":"a"}))).expect_err("bad");
        assert_eq!(e, "missing field `text`");
        let e = parse(Format::Auto, obj(json!({"foo":"a"}))).expect_err("bad");
        assert!(e.contains("no known record format") && e.contains("foo"), "{e}");
        let e = parse(Format::Auto, obj(json!({"conversations":[{"from":"robot","value":"x"}]}))).expect_err("bad");
        assert!(e.contains("robot"), "{e}");
    }

    #[test]
    fn stated_format_is_not_overridden_by_detection() {
        let p = parse(Format::Text, obj(json!({"text":"a","messages":"ignored"}))).expect("parses");
        assert_eq!(p.record, Record::Text { text: "a".into() });
        assert_eq!(p.extras["messages"], "ignored");
    }
}
