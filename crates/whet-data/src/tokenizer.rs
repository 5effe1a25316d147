//! A model's tokenizer as an HF model directory holds it: `tokenizer.json` (through the
//! `tokenizers` crate), the special tokens of `tokenizer_config.json`, and the chat template
//! from `chat_template.jinja` (newer transformers) or `tokenizer_config.json`'s
//! `chat_template` (a string, or a list of named templates of which `default` is used).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::chat_template::{builtin_names, ChatTemplate, RenderOptions};
use crate::error::{Error, Result};

/// The special-token keys of `tokenizer_config.json` passed to chat templates.
const SPECIAL_TOKEN_KEYS: &[&str] = &["bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"];

pub struct ModelTokenizer {
    pub dir: PathBuf,
    pub inner: tokenizers::Tokenizer,
    /// `bos_token`, `eos_token`, ... from `tokenizer_config.json`.
    pub special_tokens: BTreeMap<String, String>,
    chat_template: Option<ChatTemplate>,
}

impl ModelTokenizer {
    /// Loads the tokenizer files of the model directory `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            return Err(Error::Tokenizer {
                path,
                message: "missing; whet needs the fast-tokenizer file tokenizer.json".into(),
            });
        }
        let inner = tokenizers::Tokenizer::from_file(&path).map_err(|e| Error::Tokenizer {
            path: path.clone(),
            message: format!("cannot be read as a tokenizer: {e}"),
        })?;
        let config_path = dir.join("tokenizer_config.json");
        let config: Value = if config_path.is_file() {
            let text = read(&config_path)?;
            serde_json::from_str(&text).map_err(|e| Error::Tokenizer {
                path: config_path.clone(),
                message: format!("not valid JSON: {e}"),
            })?
        } else {
            Value::Null
        };
        let mut special_tokens = BTreeMap::new();
        for key in SPECIAL_TOKEN_KEYS {
            // A token is a string or, in older files, an AddedToken object with `content`.
            let token = match config.get(key) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Object(o)) => o.get("content").and_then(Value::as_str).map(str::to_string),
                _ => None,
            };
            if let Some(token) = token {
                special_tokens.insert(key.to_string(), token);
            }
        }
        let jinja = dir.join("chat_template.jinja");
        let chat_template = if jinja.is_file() {
            Some(ChatTemplate::new(&read(&jinja)?, jinja.display().to_string())?)
        } else {
            let origin = format!("{} (chat_template)", config_path.display());
            match config.get("chat_template") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(ChatTemplate::new(s, origin)?),
                Some(Value::Array(named)) => {
                    let default = named.iter().find(|t| t.get("name").and_then(Value::as_str) == Some("default"));
                    match default.and_then(|t| t.get("template")).and_then(Value::as_str) {
                        Some(s) => Some(ChatTemplate::new(s, origin)?),
                        None => {
                            return Err(Error::TokenizerConfig {
                                path: config_path,
                                key: "chat_template".into(),
                                message: "is a list without a template named `default`".into(),
                            })
                        }
                    }
                }
                Some(_) => {
                    return Err(Error::TokenizerConfig {
                        path: config_path,
                        key: "chat_template".into(),
                        message: "must be a string or a list of {name, template}".into(),
                    })
                }
            }
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            inner,
            special_tokens,
            chat_template,
        })
    }

    /// The tokenizer to use with an adapter: the adapter directory's own tokenizer files and chat
    /// template when it has a `tokenizer.json` (what training saved beside the adapter), else the
    /// model directory's.
    pub fn load_for(model_dir: &Path, adapter_dir: Option<&Path>) -> Result<Self> {
        match adapter_dir {
            Some(a) if a.join("tokenizer.json").is_file() => Self::load(a),
            _ => Self::load(model_dir),
        }
    }

    /// Replaces the chat template (a user's choice of built-in or file).
    pub fn set_chat_template(&mut self, template: ChatTemplate) {
        self.chat_template = Some(template);
    }

    /// The chat template, or an error saying there is none and what to do.
    pub fn chat_template(&self) -> Result<&ChatTemplate> {
        self.chat_template.as_ref().ok_or_else(|| Error::NoChatTemplate {
            dir: self.dir.clone(),
            builtins: builtin_names(),
        })
    }

    pub fn has_chat_template(&self) -> bool {
        self.chat_template.is_some()
    }

    /// Renders `messages` with this model's template and special tokens.
    pub fn render_chat(&self, messages: &[Value], add_generation_prompt: bool) -> Result<String> {
        let opts = RenderOptions {
            add_generation_prompt,
            special_tokens: self.special_tokens.clone(),
            extra: serde_json::Map::new(),
        };
        self.chat_template()?.render(messages, &opts)
    }

    /// Token ids of `text`; `add_special_tokens` applies the post-processor (e.g. adds BOS), as
    /// `tokenizer(text)` does in transformers.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        Ok(self.encode_with_offsets(text, add_special_tokens)?.0)
    }

    /// Token ids and their byte ranges in `text`.
    pub fn encode_with_offsets(&self, text: &str, add_special_tokens: bool) -> Result<(Vec<u32>, Vec<(usize, usize)>)> {
        let enc = self
            .inner
            .encode(text, add_special_tokens)
            .map_err(|e| self.error(format!("cannot encode text: {e}")))?;
        Ok((enc.get_ids().to_vec(), enc.get_offsets().to_vec()))
    }

    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|e| self.error(format!("cannot decode ids: {e}")))
    }

    /// The id of a token string, if it is in the vocabulary.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The id of the `eos_token` named in `tokenizer_config.json`.
    pub fn eos_token_id(&self) -> Option<u32> {
        self.special_tokens.get("eos_token").and_then(|t| self.token_id(t))
    }

    fn error(&self, message: String) -> Error {
        Error::Tokenizer {
            path: self.dir.join("tokenizer.json"),
            message,
        }
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|err| Error::Io {
        path: path.to_path_buf(),
        err,
    })
}
