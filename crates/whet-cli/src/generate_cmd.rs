//! `whet generate`: text from a prompt (`--prompt`, as-is or wrapped as a user turn with
//! `--chat`) or a conversation (`--messages FILE`, rendered with the chat template and its
//! generation prompt). Sampling defaults come from the model's `generation_config.json`; flags
//! override them. Text streams to stdout as it is generated; `--json` prints one object instead.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use whet_data::TextStream;
use whet_models::{generate, GenerationConfig, GenerationParams, SamplingChoices};

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
    let sampling = defaults.sampling_with(
        args.seed,
        &SamplingChoices {
            temperature: args.temperature,
            top_k: args.top_k,
            top_p: args.top_p,
            min_p: args.min_p,
            repetition_penalty: args.repetition_penalty,
        },
    );
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
