//! `whet tokenizer train`: a byte-level BPE tokenizer from text files (`.txt`, one document per
//! line) or datasets (JSONL, compressed JSONL, Parquet in any record format: their text and
//! message contents), written as an HF tokenizer directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use whet_data::formats::{self, Format};
use whet_data::records::{Payload, RowReader};
use whet_data::tokenizer_train::{train_tokenizer, TokenizerTrainOptions};
use whet_data::ChatTemplate;

#[derive(clap::Subcommand, Debug)]
pub enum TokenizerCommand {
    /// Train a byte-level BPE tokenizer.
    Train(TrainTokenizerArgs),
}

#[derive(clap::Args, Debug)]
pub struct TrainTokenizerArgs {
    /// Training text: `.txt` files (one document per line) or dataset files (.jsonl, .jsonl.gz,
    /// .jsonl.zst, .parquet) in any record format.
    #[arg(long = "data", value_name = "FILE", required = true)]
    pub data: Vec<PathBuf>,
    /// Vocabulary size, special tokens and the 256 byte tokens included.
    #[arg(long, default_value_t = 8192)]
    pub vocab_size: usize,
    /// Merges must occur at least this often.
    #[arg(long, default_value_t = 2)]
    pub min_frequency: u64,
    /// Chat template stored in tokenizer_config.json: a built-in name or a Jinja file.
    #[arg(long, default_value = "chatml", value_name = "NAME|FILE")]
    pub chat_template: String,
    /// Output directory (must be new or empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn run(cmd: TokenizerCommand) -> Result<()> {
    let TokenizerCommand::Train(args) = cmd;
    if args.out.exists() && std::fs::read_dir(&args.out)?.next().is_some() {
        bail!("{}: exists and is not empty; choose a new directory so nothing is overwritten", args.out.display());
    }
    if args.vocab_size < 300 {
        bail!("--vocab-size {} is too small: the 256 byte tokens and the special tokens come first", args.vocab_size);
    }
    let mut texts = Vec::new();
    for path in &args.data {
        read_texts(path, &mut texts)?;
    }
    if texts.is_empty() {
        bail!("no text in {}", args.data.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    }
    let template = ChatTemplate::from_choice(&args.chat_template)?.source().to_string();
    let opts = TokenizerTrainOptions {
        vocab_size: args.vocab_size,
        min_frequency: args.min_frequency,
        chat_template: Some(template),
        ..Default::default()
    };
    let n_docs = texts.len();
    let vocab = train_tokenizer(texts.into_iter(), &opts, &args.out)?;
    println!("trained a {vocab}-token byte-level BPE tokenizer on {n_docs} documents -> {}", args.out.display());
    Ok(())
}

fn read_texts(path: &Path, out: &mut Vec<String>) -> Result<()> {
    if path.extension().is_some_and(|e| e == "txt") {
        let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        for line in BufReader::new(file).lines() {
            let line = line.with_context(|| format!("reading {}", path.display()))?;
            if !line.trim().is_empty() {
                out.push(line);
            }
        }
        return Ok(());
    }
    for row in RowReader::open(path)? {
        let row = row?;
        let obj = match row.payload {
            Payload::Object(obj) => obj,
            Payload::Malformed { message, .. } => bail!("{}:{}: {message}", path.display(), row.line),
        };
        let parsed = formats::parse(Format::Auto, obj).map_err(|m| anyhow::anyhow!("{}:{}: {m}", path.display(), row.line))?;
        out.extend(parsed.record.contents().into_iter().map(str::to_string));
    }
    Ok(())
}
