//! Training a byte-level BPE tokenizer with the `tokenizers` crate (the library behind every
//! `tokenizer.json`), written as an HF tokenizer directory: `tokenizer.json` plus
//! `tokenizer_config.json` with the special tokens and a chat template, so transformers'
//! `AutoTokenizer` and whet load it alike.
//!
//! The byte-level alphabet is always in the vocabulary, so any text encodes without unknown
//! tokens. Special tokens take the first ids; a post-processor adds BOS the way Llama 3's
//! tokenizer does (`tokenizer(text)` starts with it).

use std::path::Path;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, DecoderWrapper, ModelWrapper, NormalizerWrapper, PostProcessorWrapper, PreTokenizerWrapper, TokenizerBuilder};

use crate::error::{Error, Result};

/// What to train.
#[derive(Debug, Clone)]
pub struct TokenizerTrainOptions {
    pub vocab_size: usize,
    pub min_frequency: u64,
    pub bos_token: String,
    pub eos_token: String,
    pub pad_token: String,
    /// More special tokens (chat markers such as `<|im_start|>`).
    pub extra_special_tokens: Vec<String>,
    /// Jinja source of the chat template written into `tokenizer_config.json`.
    pub chat_template: Option<String>,
    pub model_max_length: usize,
}

impl Default for TokenizerTrainOptions {
    fn default() -> Self {
        Self {
            vocab_size: 8192,
            min_frequency: 2,
            bos_token: "<|begin_of_text|>".into(),
            eos_token: "<|end_of_text|>".into(),
            pad_token: "<|pad|>".into(),
            extra_special_tokens: vec!["<|im_start|>".into(), "<|im_end|>".into()],
            chat_template: None,
            model_max_length: 2048,
        }
    }
}

/// Trains on `texts` and writes `out/tokenizer.json` and `out/tokenizer_config.json`. Returns the
/// vocabulary size reached (at most the requested one; less when the corpus has fewer merges).
pub fn train_tokenizer<I>(texts: I, opts: &TokenizerTrainOptions, out: &Path) -> Result<usize>
where
    I: Iterator<Item = String> + Send,
{
    let err = |message: String| Error::Tokenizer { path: out.join("tokenizer.json"), message };
    let specials: Vec<String> = [&opts.bos_token, &opts.eos_token, &opts.pad_token]
        .into_iter()
        .cloned()
        .chain(opts.extra_special_tokens.iter().cloned())
        .collect();
    let alphabet = ByteLevel::alphabet().into_iter().collect();
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(opts.vocab_size)
        .min_frequency(opts.min_frequency)
        .show_progress(false)
        .initial_alphabet(alphabet)
        .special_tokens(specials.iter().map(|t| AddedToken::from(t.clone(), true)).collect())
        .build()
        .into();
    let mut tokenizer = TokenizerBuilder::<ModelWrapper, NormalizerWrapper, PreTokenizerWrapper, PostProcessorWrapper, DecoderWrapper>::new()
        .with_model(BPE::default().into())
        .with_pre_tokenizer(Some(ByteLevel::new(false, true, true).into()))
        .with_decoder(Some(ByteLevelDecoder::default().into()))
        .build()
        .map_err(|e| err(e.to_string()))?;
    tokenizer.train(&mut trainer, texts).map_err(|e| err(format!("training failed: {e}")))?;
    let bos_id = tokenizer.token_to_id(&opts.bos_token).ok_or_else(|| err("BOS token missing after training".into()))?;
    let post = TemplateProcessing::builder()
        .try_single(format!("{} $A", opts.bos_token))
        .and_then(|b| b.try_pair(format!("{0} $A {0} $B", opts.bos_token)))
        .map_err(|e| err(e.to_string()))?
        .special_tokens(vec![(opts.bos_token.clone(), bos_id)])
        .build()
        .map_err(|e| err(e.to_string()))?;
    tokenizer.with_post_processor(Some(post));
    std::fs::create_dir_all(out).map_err(|e| Error::Io { path: out.to_path_buf(), err: e })?;
    tokenizer.save(out.join("tokenizer.json"), true).map_err(|e| err(e.to_string()))?;
    let mut config = serde_json::json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": opts.bos_token,
        "eos_token": opts.eos_token,
        "pad_token": opts.pad_token,
        "model_max_length": opts.model_max_length,
        "clean_up_tokenization_spaces": false,
    });
    if let Some(t) = &opts.chat_template {
        config["chat_template"] = t.clone().into();
    }
    let path = out.join("tokenizer_config.json");
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap_or_default()).map_err(|e| Error::Io { path, err: e })?;
    Ok(tokenizer.get_vocab_size(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChatTemplate, ModelTokenizer};

    fn corpus() -> Vec<String> {
        let subjects = ["The cat", "A small robot", "Anna", "The old train", "My friend"];
        let verbs = ["reads", "sees", "likes", "finds", "carries"];
        let objects = ["a book.", "the green tree.", "a warm house.", "the river.", "a heavy table."];
        let mut out = Vec::new();
        for (i, s) in subjects.iter().enumerate() {
            for (j, v) in verbs.iter().enumerate() {
                out.push(format!("{s} {v} {}", objects[(i + j) % objects.len()]));
            }
        }
        out
    }

    fn train(dir: &Path) -> usize {
        let opts = TokenizerTrainOptions {
            vocab_size: 320,
            min_frequency: 1,
            chat_template: Some(ChatTemplate::builtin("chatml").unwrap().source().to_string()),
            ..Default::default()
        };
        train_tokenizer(corpus().into_iter(), &opts, dir).unwrap()
    }

    #[test]
    fn trained_tokenizer_loads_adds_bos_round_trips_and_renders_chats() {
        let dir = tempfile::tempdir().unwrap();
        let n = train(dir.path());
        assert!(n > 256 + 5 && n <= 320, "{n}");
        let tok = ModelTokenizer::load(dir.path()).unwrap();
        let text = "Anna reads a book. Ünïcödé and 日本語 too!";
        let ids = tok.encode(text, true).unwrap();
        assert_eq!(ids[0], tok.token_id("<|begin_of_text|>").unwrap());
        assert_eq!(tok.decode(&ids, true).unwrap(), text);
        // Learned merges make common words short.
        assert!(tok.encode("The cat reads a book.", false).unwrap().len() < 10);
        // Special tokens are single tokens inside text.
        let chat = tok.render_chat(&[serde_json::json!({"role": "user", "content": "hi"})], true).unwrap();
        let chat_ids = tok.encode(&chat, false).unwrap();
        assert!(chat_ids.contains(&tok.token_id("<|im_start|>").unwrap()));
    }

    #[test]
    fn training_is_deterministic() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        train(a.path());
        train(b.path());
        let read = |d: &Path| std::fs::read(d.join("tokenizer.json")).unwrap();
        assert_eq!(read(a.path()), read(b.path()));
    }
}
