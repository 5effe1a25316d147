//! `whet generate`: text from a prompt (`--prompt`, as-is or wrapped as a user turn with
//! `--chat`) or a conversation (`--messages FILE`, rendered with the chat template and its
//! generation prompt). Sampling defaults come from the model's `generation_config.json`; flags
//! override them. Text streams to stdout as it is generated; `--json` prints one object instead.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use whet_models::{generate, GenerationConfig, GenerationParams};

use crate::model_source::ModelArgs;

#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Prompt text, tokenised as is (BOS added if the tokenizer adds one).
    #[arg(long, conflicts_with = "messages", required_unless_present = "messages")]
    pub prompt: Option<String>,
    /// A JSON file holding a conversation: a list of {role, content} messages, or an object
    /// with a `messages` list.
    #[arg(long, value_name = "FILE")]
    pub messages: Option<PathBuf>,
    /// Treat --prompt as a user message and render it with the chat template.
    #[arg(long, requires = "prompt")]
    pub chat: bool,
    /// Maximum number of new tokens.
    #[arg(long, default_value_t = 256)]
    pub max_new_tokens: usize,
    /// Sampling temperature; 0 is greedy and deterministic. Default: generation_config.json's
    /// choice (greedy unless it sets do_sample).
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Keep only the K most likely tokens.
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Keep the most likely tokens up to this probability mass.
    #[arg(long)]
    pub top_p: Option<f32>,
    /// Drop tokens less likely than this fraction of the most likely one.
    #[arg(long)]
    pub min_p: Option<f32>,
    /// Penalise tokens already in the context (> 1 discourages repeats).
    #[arg(long)]
    pub repetition_penalty: Option<f32>,
    /// Stop when the text contains this string (repeatable); the string is not included.
    #[arg(long = "stop", value_name = "TEXT")]
    pub stop: Vec<String>,
    /// Random seed for sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one JSON object: prompt and generated token ids, text, finish reason.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: GenerateArgs) -> Result<()> {
    let loaded = args.model.load()?;
    let (model, tok) = (&loaded.model, &loaded.tokenizer);

    let prompt_ids = match (&args.prompt, &args.messages) {
        (Some(prompt), None) if args.chat => {
            let messages = [json!({"role": "user", "content": prompt})];
            tok.encode(&tok.render_chat(&messages, true)?, false)?
        }
        (Some(prompt), None) => tok.encode(prompt, true)?,
        (None, Some(path)) => {
            let messages = read_messages(path)?;
            tok.encode(&tok.render_chat(&messages, true)?, false)?
        }
        _ => bail!("give either --prompt or --messages"),
    };

    let defaults = GenerationConfig::read(&loaded.dir)?;
    let mut sampling = defaults.sampling(args.seed);
    if let Some(t) = args.temperature {
        // An explicit temperature decides greedy vs sampling on its own, without the file's
        // top-k default sneaking in.
        sampling.temperature = t;
        sampling.top_k = None;
    }
    sampling.top_k = args.top_k.or(sampling.top_k);
    sampling.top_p = args.top_p.or(sampling.top_p);
    sampling.min_p = args.min_p.or(sampling.min_p);
    sampling.repetition_penalty = args.repetition_penalty.or(sampling.repetition_penalty);
    let params = GenerationParams {
        max_new_tokens: args.max_new_tokens,
        eos_token_ids: loaded.eos_token_ids(&defaults),
        sampling,
    };
    params.sampling.validate()?;

    let mut stream = TextStream::new(&args.stop);
    let mut generated: Vec<u32> = Vec::new();
    let mut stdout = std::io::stdout();
    let out = generate(model, &prompt_ids, &params, |token| {
        generated.push(token);
        let text = tok.decode(&generated, true).unwrap_or_default();
        let (fresh, stopped) = stream.push(&text);
        if !args.json && !fresh.is_empty() {
            let _ = write!(stdout, "{fresh}");
            let _ = stdout.flush();
        }
        !stopped
    })?;
    let text = stream.finish(&tok.decode(&generated, true)?);
    if args.json {
        let report = json!({
            "prompt_ids": prompt_ids,
            "token_ids": out.tokens,
            "text": text,
            "finish_reason": out.finish.as_str(),
        });
        println!("{report}");
    } else {
        println!("{}", stream.unprinted(&text));
    }
    Ok(())
}

/// Reads a conversation file: a JSON list of messages or `{"messages": [...]}`.
pub fn read_messages(path: &PathBuf) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let json: Value = serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", path.display()))?;
    let list = match &json {
        Value::Array(items) => items,
        Value::Object(o) => match o.get("messages") {
            Some(Value::Array(items)) => items,
            _ => bail!("{}: expected a list of messages or an object with a `messages` list", path.display()),
        },
        _ => bail!("{}: expected a list of messages or an object with a `messages` list", path.display()),
    };
    for (i, m) in list.iter().enumerate() {
        if m.get("role").and_then(Value::as_str).is_none() {
            bail!("{}: message {i} has no string `role`", path.display());
        }
    }
    Ok(list.clone())
}

/// Incremental text for streaming: holds back text that may still turn into a stop string or
/// that ends in an incomplete UTF-8 character, and cuts the text at the first stop string.
struct TextStream {
    stops: Vec<String>,
    printed: usize,
}

impl TextStream {
    fn new(stops: &[String]) -> Self {
        Self {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            printed: 0,
        }
    }

    /// Given the whole text so far, returns the new text safe to show and whether a stop string
    /// was found.
    fn push(&mut self, text: &str) -> (String, bool) {
        if let Some(cut) = self.first_stop(text) {
            let fresh = text.get(self.printed..cut).unwrap_or_default().to_string();
            self.printed = self.printed.max(cut);
            return (fresh, true);
        }
        let mut safe = text.len();
        // A partially decoded character shows as U+FFFD until its last byte arrives.
        if text.ends_with('\u{FFFD}') {
            safe -= '\u{FFFD}'.len_utf8();
        }
        // Hold back the longest tail that is the start of some stop string.
        let hold = self
            .stops
            .iter()
            .filter_map(|stop| {
                (1..stop.len())
                    .rev()
                    .find(|&k| stop.is_char_boundary(k) && text[..safe].ends_with(&stop[..k]))
            })
            .max()
            .unwrap_or(0);
        safe -= hold;
        if safe <= self.printed {
            return (String::new(), false);
        }
        let fresh = text[self.printed..safe].to_string();
        self.printed = safe;
        (fresh, false)
    }

    fn first_stop(&self, text: &str) -> Option<usize> {
        self.stops.iter().filter_map(|s| text.find(s.as_str())).min()
    }

    /// The final text: cut at the first stop string.
    fn finish(&self, text: &str) -> String {
        match self.first_stop(text) {
            Some(cut) => text[..cut].to_string(),
            None => text.to_string(),
        }
    }

    /// What of `text` has not been shown yet.
    fn unprinted<'a>(&self, text: &'a str) -> &'a str {
        text.get(self.printed.min(text.len())..).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_holds_back_a_possible_stop_string_and_cuts_at_it() {
        let mut s = TextStream::new(&["</s>".to_string()]);
        assert_eq!(s.push("Hello <"), ("Hello ".to_string(), false));
        assert_eq!(s.push("Hello </"), (String::new(), false));
        assert_eq!(s.push("Hello </x"), ("</x".to_string(), false));
        assert_eq!(s.push("Hello </x and</s> more"), (" and".to_string(), true));
        assert_eq!(s.finish("Hello </x and</s> more"), "Hello </x and");
    }

    #[test]
    fn stream_waits_for_the_rest_of_a_character() {
        let mut s = TextStream::new(&[]);
        assert_eq!(s.push("caf\u{FFFD}"), ("caf".to_string(), false));
        assert_eq!(s.push("café"), ("é".to_string(), false));
    }
}
