//! `whet merge`: folds a LoRA adapter into its base model and writes a plain HF model directory
//! (weights in the base checkpoint's dtype) that transformers and every other HF tool load.

use std::path::PathBuf;

use anyhow::{bail, Result};
use candle_core::{DType, Device};
use whet_models::CausalLm;

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The base model directory (or Hub id) the adapter was trained on.
    #[arg(long, value_name = "DIR|ID")]
    pub model: String,
    /// The PEFT adapter directory.
    #[arg(long, value_name = "DIR")]
    pub adapter: PathBuf,
    /// Where to write the merged model directory (must be empty or absent).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn run(args: MergeArgs) -> Result<()> {
    if args.out.exists() && std::fs::read_dir(&args.out)?.next().is_some() {
        bail!("{}: exists and is not empty; choose a new directory so nothing is overwritten", args.out.display());
    }
    let dir = crate::model_source::resolve(&args.model)?;
    let dtype = whet_models::save::stored_dtype(&dir)?;
    // Merge in f32 and round once to the stored dtype.
    let mut model = CausalLm::load(&dir, DType::F32, &Device::Cpu)?;
    let config = whet_adapter::load_adapter(&mut model, &args.adapter)?;
    whet_adapter::merge_adapters(&mut model)?;
    whet_models::save::save_model_dir(&model, &dir, &args.out, dtype)?;
    // The adapter's tokenizer files and chat template are the ones it was trained with.
    for name in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"] {
        let src = args.adapter.join(name);
        if src.is_file() {
            std::fs::copy(&src, args.out.join(name))?;
        }
    }
    println!(
        "merged {} (r={}, alpha={}) into {} -> {} ({:?})",
        args.adapter.display(),
        config.r,
        config.lora_alpha,
        dir.display(),
        args.out.display(),
        dtype
    );
    Ok(())
}
