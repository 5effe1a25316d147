//! `whet bench generate`: prefill and decode speed of a model, peak memory, and how close decoding
//! comes to the memory-bandwidth bound (every weight byte is read once per decoded token at batch
//! 1, so measured read bandwidth over weight bytes is the ceiling). `reference/bench_generate.py`
//! runs it beside transformers on the same model and records the ratios in docs/benchmarks.md.

use std::time::Instant;

use anyhow::{bail, Result};
use candle_core::{Device, Tensor};
use rayon::prelude::*;
use serde_json::json;
use whet_models::CausalLm;

#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Prefill and batch-1 decode tokens/s on random token ids.
    Generate(GenerateBenchArgs),
}

#[derive(clap::Args, Debug)]
pub struct GenerateBenchArgs {
    /// A model directory (only config.json and the weights are read).
    #[arg(long)]
    pub model: std::path::PathBuf,
    #[arg(long, default_value = "f32", value_parser = whet_models::parse_dtype)]
    pub dtype: candle_core::DType,
    /// Prompt length for the prefill measurement.
    #[arg(long, default_value_t = 512)]
    pub prompt_tokens: usize,
    /// Tokens decoded one at a time after the prompt.
    #[arg(long, default_value_t = 64)]
    pub decode_tokens: usize,
    /// Timed repetitions (after one warm-up); medians are reported.
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Generate(args) => generate(args),
    }
}

fn generate(args: GenerateBenchArgs) -> Result<()> {
    if args.repeats == 0 || args.prompt_tokens == 0 || args.decode_tokens == 0 {
        bail!("--repeats, --prompt-tokens and --decode-tokens must be at least 1");
    }
    let model = CausalLm::load(&args.model, args.dtype, &Device::Cpu)?;
    let vocab = model.config.vocab_size as u64;
    // Fixed pseudo-random prompt (an LCG): the same ids on every run and in the PyTorch script.
    let mut state = 12345u64;
    let prompt: Vec<u32> = (0..args.prompt_tokens)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) % vocab) as u32
        })
        .collect();
    let prompt = Tensor::new(prompt.as_slice(), model.device())?.unsqueeze(0)?;

    let mut prefill = Vec::new();
    let mut decode = Vec::new();
    for round in 0..=args.repeats {
        let mut cache = model.new_cache();
        let start = Instant::now();
        let mut logits = model.forward_last(&prompt, &mut cache)?;
        let prefill_s = start.elapsed().as_secs_f64();
        let start = Instant::now();
        for _ in 0..args.decode_tokens {
            let next = logits.argmax(1)?.to_dtype(candle_core::DType::U32)?.unsqueeze(1)?;
            logits = model.forward_last(&next, &mut cache)?;
        }
        let decode_s = start.elapsed().as_secs_f64();
        if round > 0 {
            prefill.push(args.prompt_tokens as f64 / prefill_s);
            decode.push(args.decode_tokens as f64 / decode_s);
        }
    }
    let weight_bytes = model.config.num_parameters() * args.dtype.size_in_bytes();
    let bandwidth = read_bandwidth();
    let bound = bandwidth / weight_bytes as f64;
    let report = json!({
        "engine": "whet",
        "dtype": format!("{:?}", args.dtype).to_lowercase(),
        "threads": rayon::current_num_threads(),
        "prompt_tokens": args.prompt_tokens,
        "decode_tokens": args.decode_tokens,
        "prefill_tokens_per_s": median(&mut prefill),
        "prefill_runs": prefill,
        "decode_tokens_per_s": median(&mut decode),
        "decode_runs": decode,
        "peak_rss_mib": whet_models::peak_rss::peak_rss_mib(),
        "weight_mib": weight_bytes as f64 / (1 << 20) as f64,
        "read_bandwidth_gb_s": bandwidth / 1e9,
        "decode_bound_tokens_per_s": bound,
    });
    if args.json {
        println!("{report}");
    } else {
        println!(
            "prefill {:.1} tok/s, decode {:.2} tok/s ({:.0}% of the {:.2} tok/s bandwidth bound), peak RSS {:.0} MiB",
            report["prefill_tokens_per_s"].as_f64().unwrap_or_default(),
            report["decode_tokens_per_s"].as_f64().unwrap_or_default(),
            100.0 * report["decode_tokens_per_s"].as_f64().unwrap_or_default() / bound,
            bound,
            report["peak_rss_mib"].as_f64().unwrap_or_default(),
        );
    }
    Ok(())
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// Memory read bandwidth in bytes/s: best of five parallel sums over 1 GiB, on all threads.
/// (Integer sums: the compiler vectorises them, so the loop is bound by memory, not by adds.)
fn read_bandwidth() -> f64 {
    let data = vec![1u32; 1 << 28];
    let mut best = 0.0f64;
    for _ in 0..5 {
        let start = Instant::now();
        let sum: u32 = data
            .par_chunks(1 << 16)
            .map(|c| c.iter().fold(0u32, |a, b| a.wrapping_add(*b)))
            .reduce(|| 0, u32::wrapping_add);
        let secs = start.elapsed().as_secs_f64();
        std::hint::black_box(sum);
        best = best.max((data.len() * 4) as f64 / secs);
    }
    best
}
