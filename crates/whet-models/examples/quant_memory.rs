//! Memory of a model's base weights stored in f32, int8 (LLM.int8) and NF4 (double-quantised):
//! bytes held by the decoder layers' projections (what QLoRA quantises) and by the rest
//! (embeddings, norms, an untied lm_head: kept in f32), and this process's RSS after loading.
//! One kind per process, so RSS is that kind's own:
//!
//!     cargo run --release -p whet-models --example quant_memory -- MODEL_DIR f32|int8|nf4
//!
//! Also times one dequantisation of every projection (what each forward and backward pays).

use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device};
use whet_models::quant::QuantKind;
use whet_models::CausalLm;

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|v| v.trim().trim_end_matches(" kB").parse().ok()))
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (dir, kind) = match args.as_slice() {
        [_, dir, kind] => (Path::new(dir), kind.as_str()),
        _ => return Err("usage: quant_memory MODEL_DIR f32|int8|nf4".into()),
    };
    let model = match kind {
        "f32" => CausalLm::load(dir, DType::F32, &Device::Cpu)?,
        other => CausalLm::load_quantized(dir, QuantKind::parse(other)?, &Device::Cpu)?,
    };
    let proj = model.projection_weight_bytes();
    let mut rest = model.embed_tokens.elem_count() * 4 + model.norm.weight.elem_count() * 4;
    for l in &model.layers {
        rest += (l.input_layernorm.weight.elem_count() + l.post_attention_layernorm.weight.elem_count()) * 4;
    }
    if !model.config.tie_word_embeddings {
        rest += model.lm_head.weight.elem_count() * 4;
    }
    let start = Instant::now();
    let mut n = 0;
    for l in &model.layers {
        for (_, p) in l.projections() {
            n += p.dense_weight()?.elem_count();
        }
    }
    let dequant_ms = start.elapsed().as_secs_f64() * 1e3;
    println!(
        "{{\"kind\": \"{kind}\", \"projection_bytes\": {proj}, \"other_weight_bytes\": {rest}, \"projection_params\": {n}, \
         \"rss_after_load_mib\": {:.1}, \"peak_rss_mib\": {:.1}, \"dequantise_all_projections_ms\": {dequant_ms:.1}}}",
        status_kib("VmRSS:") as f64 / 1024.0,
        status_kib("VmHWM:") as f64 / 1024.0,
    );
    Ok(())
}
