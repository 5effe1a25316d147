//! The LM-head cross-entropy alone, fused (`fused_cross_entropy.rs`) or composed (full logits,
//! log-softmax, gather), forward and backward, at SmolLM2-135M's shape by default: median time
//! and the process's peak RSS (the inputs, `W` once as a tensor and once as a trainable copy,
//! are about 2 × 113 MiB of it at the default shape). One path per process, so peaks do not mix:
//!
//! ```sh
//! cargo run --release -p whet-models --example bench_lm_head_loss -- fused|composed [frozen|trained] [rows] [hidden] [vocab]
//! ```

use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var, D};
use whet_models::peak_rss::peak_rss_mib;
use whet_models::frozen_linear::frozen_linear;
use whet_models::fused_cross_entropy::target_log_probs;

fn main() -> candle_core::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fused = args.first().map(String::as_str) != Some("composed");
    let trained = args.get(1).map(String::as_str) == Some("trained");
    let num = |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (n, d, vocab) = (num(2, 4 * 511), num(3, 576), num(4, 49152));
    let dev = &Device::Cpu;
    // Deterministic inputs (the same in every process), built without temporary copies.
    let fill = |len: usize, seed: u64, scale: f32| -> Vec<f32> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * scale
            })
            .collect()
    };
    let h = Var::from_tensor(&Tensor::from_vec(fill(n * d, 1, 4.0), (n, d), dev)?)?;
    let w_var = Var::from_tensor(&Tensor::from_vec(fill(vocab * d, 2, 0.2), (vocab, d), dev)?)?;
    let w = if trained { w_var.as_tensor().clone() } else { w_var.as_tensor().detach() };
    let targets: Vec<u32> = (0..n).map(|i| ((i * 7919) % vocab) as u32).collect();
    let counted = vec![true; n];
    let mut times = Vec::new();
    let mut loss = 0f32;
    for step in 0..4 {
        let start = Instant::now();
        let nll = if fused {
            target_log_probs(h.as_tensor(), &w, &targets, &counted)?.sum_all()?.neg()?
        } else {
            // As `Proj` computes the head: no weight gradient for a frozen one.
            let logits = if trained { h.as_tensor().matmul(&w.t()?)? } else { frozen_linear(h.as_tensor(), &w)? };
            let lp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
            let t = Tensor::new(targets.as_slice(), dev)?.unsqueeze(1)?;
            lp.gather(&t, 1)?.sum_all()?.neg()?
        };
        let grads = nll.backward()?;
        loss = nll.to_dtype(DType::F32)?.to_scalar::<f32>()?;
        drop(grads);
        if step > 0 {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{} head {} rows {n} hidden {d} vocab {vocab}: median {:.3} s (forward + backward), peak RSS {:.0} MiB, loss {loss:.4}",
        if fused { "fused" } else { "composed" },
        if trained { "trained" } else { "frozen" },
        times[times.len() / 2],
        peak_rss_mib(),
    );
    Ok(())
}
