//! Structure validation: does a record make sense as training data?
//!
//! - chat: at least one message; every role is in the configured list; `system` only first;
//!   the first non-system turn is `user`; `user` and `assistant` alternate (`tool` turns may
//!   sit between assistant turns); no empty user or assistant turn; with `require_assistant`,
//!   the last turn is a non-empty assistant turn.
//! - text: not empty.
//! - preference: non-empty prompt, chosen and rejected; chosen differs from rejected.
//! - with `max_tokens` and `tokenizer`: the token count of all text (no special tokens) is at
//!   most `max_tokens`.
//! - with `chat_template`: a chat (or a preference pair's prompt with each answer) renders
//!   through the template, as training will render it; the template's own error (for example a
//!   `raise_exception` on an unexpected role) is the reason.

use super::config::Structure;
use crate::chat_template::{ChatTemplate, RenderOptions};
use crate::formats::{Message, Record};
use crate::{Error, Result};

pub struct StructureChecker {
    cfg: Structure,
    tokenizer: Option<tokenizers::Tokenizer>,
    template: Option<ChatTemplate>,
}

impl StructureChecker {
    pub fn new(cfg: &Structure) -> Result<Self> {
        let tokenizer = match (&cfg.tokenizer, cfg.max_tokens) {
            (Some(path), Some(_)) => Some(tokenizers::Tokenizer::from_file(path).map_err(|e| Error::Config {
                path: path.clone(),
                location: String::new(),
                key: "structure.tokenizer".into(),
                message: format!("cannot load tokenizer: {e}"),
            })?),
            _ => None,
        };
        let template = match &cfg.chat_template {
            Some(choice) => Some(ChatTemplate::from_choice(choice).map_err(|e| Error::Config {
                path: std::path::PathBuf::from(choice),
                location: String::new(),
                key: "structure.chat_template".into(),
                message: e.to_string(),
            })?),
            None => None,
        };
        Ok(StructureChecker { cfg: cfg.clone(), tokenizer, template })
    }

    /// `Some((check, reason))` when the record is not usable.
    pub fn check(&self, record: &Record) -> Option<(&'static str, String)> {
        if !self.cfg.enabled {
            return None;
        }
        let r = match record {
            Record::Chat { messages } => self.chat(messages),
            Record::Text { text } => {
                if text.trim().is_empty() {
                    Some(("empty", "text is empty".to_string()))
                } else {
                    None
                }
            }
            Record::Preference { prompt, chosen, rejected, .. } => {
                let empty = |ms: &[Message]| ms.iter().all(|m| m.content.trim().is_empty());
                if empty(prompt) {
                    Some(("empty", "preference prompt is empty".to_string()))
                } else if empty(chosen) || empty(rejected) {
                    Some(("empty", "chosen or rejected response is empty".to_string()))
                } else if chosen == rejected {
                    Some(("identical_pair", "chosen and rejected are identical".to_string()))
                } else {
                    None
                }
            }
        };
        if r.is_some() {
            return r;
        }
        if let Some(template) = &self.template {
            let conversations: Vec<Vec<&Message>> = match record {
                Record::Chat { messages } => vec![messages.iter().collect()],
                Record::Preference { prompt, chosen, rejected, .. } => vec![
                    prompt.iter().chain(chosen).collect(),
                    prompt.iter().chain(rejected).collect(),
                ],
                Record::Text { .. } => Vec::new(),
            };
            for conversation in conversations {
                let messages: Vec<serde_json::Value> =
                    conversation.iter().map(|m| serde_json::json!({"role": m.role, "content": m.content})).collect();
                if let Err(e) = template.render(&messages, &RenderOptions::default()) {
                    return Some(("chat_template", e.to_string()));
                }
            }
        }
        if let (Some(tok), Some(max)) = (&self.tokenizer, self.cfg.max_tokens) {
            let n = tok.encode(record.full_text(), false).map(|e| e.len()).unwrap_or(usize::MAX);
            if n > max {
                return Some(("max_tokens", format!("{n} tokens > max_tokens {max}")));
            }
        }
        None
    }

    fn chat(&self, messages: &[Message]) -> Option<(&'static str, String)> {
        if messages.is_empty() {
            return Some(("empty", "no messages".into()));
        }
        let mut prev: Option<&str> = None;
        for (i, m) in messages.iter().enumerate() {
            let role = m.role.as_str();
            if !self.cfg.roles.iter().any(|r| r == role) {
                return Some(("role", format!("messages[{i}] has role {role:?}; allowed: {}", self.cfg.roles.join(", "))));
            }
            if role == "system" && i > 0 {
                return Some(("role_order", format!("messages[{i}] is a system message after the first turn")));
            }
            if (role == "user" || role == "assistant") && m.content.trim().is_empty() {
                return Some(("empty_turn", format!("messages[{i}] ({role}) is empty")));
            }
            match (prev, role) {
                (None | Some("system"), "assistant" | "tool") => {
                    return Some(("role_order", format!("messages[{i}] ({role}) comes before any user turn")));
                }
                (Some(p), r) if p == r && (r == "user" || r == "assistant") => {
                    return Some(("role_order", format!("messages[{}] and [{i}] are both {r}: roles must alternate", i - 1)));
                }
                (Some("user"), "tool") => {
                    return Some(("role_order", format!("messages[{i}] (tool) follows a user turn")));
                }
                _ => {}
            }
            prev = Some(role);
        }
        if self.cfg.require_assistant && prev != Some("assistant") {
            return Some(("no_assistant", "the last turn is not an assistant response".into()));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(turns: &[(&str, &str)]) -> Record {
        Record::Chat {
            messages: turns.iter().map(|(r, c)| Message { role: r.to_string(), content: c.to_string() }).collect(),
        }
    }

    #[test]
    fn alternating_chat_with_final_assistant_passes() {
        let c = StructureChecker::new(&Structure::default()).expect("builds");
        assert_eq!(c.check(&chat(&[("system", "s"), ("user", "q"), ("assistant", "a")])), None);
    }

    #[test]
    fn records_the_chat_template_refuses_fail_with_its_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("strict.jinja");
        std::fs::write(
            &path,
            "{% for m in messages %}{% if m.role == 'tool' %}{{ raise_exception('tool turns are not supported') }}{% endif %}{{ m.content }}{% endfor %}",
        )
        .expect("write template");
        let cfg = Structure { chat_template: Some(path.display().to_string()), ..Structure::default() };
        let c = StructureChecker::new(&cfg).expect("loads template");
        let msg = |role: &str, content: &str| Message { role: role.into(), content: content.into() };
        let ok = Record::Chat { messages: vec![msg("user", "hi"), msg("assistant", "hello")] };
        assert_eq!(c.check(&ok), None);
        let bad = Record::Chat {
            messages: vec![msg("user", "hi"), msg("assistant", "calling"), msg("tool", "42"), msg("assistant", "done")],
        };
        let (check, reason) = c.check(&bad).expect("refused");
        assert_eq!(check, "chat_template");
        assert!(reason.contains("tool turns are not supported"), "{reason}");
        // An unknown template name is a config error naming the key.
        let cfg = Structure { chat_template: Some("vicuna".into()), ..Structure::default() };
        let err = StructureChecker::new(&cfg).err().expect("refused").to_string();
        assert!(err.contains("structure.chat_template") && err.contains("vicuna"), "{err}");
    }

    #[test]
    fn records_over_max_tokens_fail_with_the_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tok = dir.path().join("tokenizer.json");
        std::fs::write(
            &tok,
            r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,
               "pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,
               "model":{"type":"WordLevel","vocab":{"[UNK]":0,"a":1},"unk_token":"[UNK]"}}"#,
        )
        .expect("write tokenizer");
        let cfg = Structure { max_tokens: Some(3), tokenizer: Some(tok), ..Structure::default() };
        let c = StructureChecker::new(&cfg).expect("loads tokenizer");
        assert_eq!(c.check(&Record::Text { text: "a a a".into() }), None);
        let fail = c.check(&Record::Text { text: "a b a a".into() }).expect("too long");
        assert_eq!(fail, ("max_tokens", "4 tokens > max_tokens 3".to_string()));
    }

    #[test]
    fn broken_chats_are_named_by_check() {
        let c = StructureChecker::new(&Structure::default()).expect("builds");
        let check = |r: &Record| c.check(r).map(|(k, _)| k);
        assert_eq!(check(&chat(&[("user", "q"), ("user", "q2"), ("assistant", "a")])), Some("role_order"));
        assert_eq!(check(&chat(&[("user", "q"), ("assistant", " ")])), Some("empty_turn"));
        assert_eq!(check(&chat(&[("user", "q")])), Some("no_assistant"));
        assert_eq!(check(&chat(&[("assistant", "a")])), Some("role_order"));
        assert_eq!(check(&chat(&[("user", "q"), ("robot", "a")])), Some("role"));
        let p = Record::Preference {
            prompt: vec![Message { role: "user".into(), content: "q".into() }],
            chosen: vec![Message { role: "assistant".into(), content: "same".into() }],
            rejected: vec![Message { role: "assistant".into(), content: "same".into() }],
            plain: true,
        };
        assert_eq!(check(&p), Some("identical_pair"));
    }
}
