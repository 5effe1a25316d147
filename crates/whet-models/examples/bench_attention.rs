//! One layer's causal attention alone, fused (`flash_attention.rs`) or composed (scores, additive
//! mask, softmax with backward, `· v`, as `Attention::attend` computes it), forward and
//! backward, at SmolLM2-135M's shape by default (4 × 512 tokens, 9 query heads, 3 kv heads, head
//! dim 64): median times and the process's peak RSS. One path per process, so peaks do not mix:
//!
//! ```sh
//! cargo run --release -p whet-models --example bench_attention -- fused|composed [batch] [seq] [heads] [kv_heads] [head_dim]
//! ```

use std::sync::Arc;
use std::time::Instant;

use candle_core::{Device, Tensor, Var};
use whet_models::peak_rss::peak_rss_mib;
use whet_models::attention::causal_mask;
use whet_models::flash_attention::{flash_attention, Visibility};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fused = args.first().map(String::as_str) != Some("composed");
    let num = |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (b, t, h, kvh, d) = (num(1, 4), num(2, 512), num(3, 9), num(4, 3), num(5, 64));
    let dev = &Device::Cpu;
    // Deterministic inputs (the same in every process).
    let fill = |shape: (usize, usize, usize, usize), seed: u64| -> candle_core::Result<Var> {
        let mut state = seed;
        let n = shape.0 * shape.1 * shape.2 * shape.3;
        let v: Vec<f32> = (0..n)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (state >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0
            })
            .collect();
        Var::from_tensor(&Tensor::from_vec(v, shape, dev)?)
    };
    let (q, k, v) = (fill((b, h, t, d), 1)?, fill((b, kvh, t, d), 2)?, fill((b, kvh, t, d), 3)?);
    let probe = fill((b, h, t, d), 4)?.as_tensor().detach();
    let vis = Arc::new(Visibility::causal(t, None));
    let mask = causal_mask(t, 0, None, dev)?;
    let (mut forward, mut total) = (Vec::new(), Vec::new());
    let mut check = 0f32;
    for step in 0..4 {
        let start = Instant::now();
        let y = if fused {
            flash_attention(q.as_tensor(), k.as_tensor(), v.as_tensor(), &vis)?
        } else {
            let n_rep = h / kvh;
            let qg = q.as_tensor().reshape((b, kvh, n_rep * t, d))?;
            let scores = (qg.matmul(&k.as_tensor().t()?)? * (1.0 / (d as f64).sqrt()))?;
            let scores = match &mask {
                Some(m) => scores.reshape((b, kvh, n_rep, t, t))?.broadcast_add(m)?.reshape((b, kvh, n_rep * t, t))?,
                None => scores,
            };
            let probs = whet_models::softmax::softmax_last_dim(&scores)?;
            probs.matmul(v.as_tensor())?.reshape((b, h, t, d))?
        };
        let loss = (y * &probe)?.sum_all()?;
        let forward_s = start.elapsed().as_secs_f64();
        let grads = loss.backward()?;
        check = grads.get(q.as_tensor()).map_or(Ok(0.0), |g| g.abs()?.sum_all()?.to_scalar::<f32>())?;
        drop(grads);
        if step > 0 {
            forward.push(forward_s);
            total.push(start.elapsed().as_secs_f64());
        }
    }
    forward.sort_by(f64::total_cmp);
    total.sort_by(f64::total_cmp);
    println!(
        "{} b {b} t {t} heads {h}/{kvh} d {d}: median forward {:.3} s, forward + backward {:.3} s, peak RSS {:.0} MiB, |dq| {check:.4}",
        if fused { "fused" } else { "composed" },
        forward[forward.len() / 2],
        total[total.len() / 2],
        peak_rss_mib(),
    );
    Ok(())
}
