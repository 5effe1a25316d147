//! candle's f32 matmul (the `gemm` crate, which every whet training product goes through) on the
//! shapes given, for `reference/bench_matmul.py`, which runs Debian's BLAS libraries beside it.
//!
//! `cargo run --release -p whet-models --example bench_matmul -- REPEATS M,N,K:XY ...`: `C (M,
//! N) = op(A) op(B)`, `X`/`Y` = `N` or `T` for how A and B are stored, as in
//! `reference/bench_matmul.c`. Threads: `RAYON_NUM_THREADS`. One JSON line per shape.

use std::time::Instant;

use candle_core::{Device, Tensor};

fn main() -> candle_core::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let repeats: usize = args.first().and_then(|r| r.parse().ok()).expect("usage: bench_matmul REPEATS M,N,K:XY ...");
    for spec in &args[1..] {
        let (dims, layout) = spec.split_once(':').unwrap_or((spec, "NT"));
        let d: Vec<usize> = dims.split(',').map(|x| x.parse().expect("M,N,K")).collect();
        let (m, n, k) = (d[0], d[1], d[2]);
        let stored = |rows: usize, cols: usize, transposed: bool| -> candle_core::Result<Tensor> {
            // Stored as given, used through a transposed view when needed: no copy, as in training.
            let t = Tensor::rand(-0.5f32, 0.5, if transposed { (cols, rows) } else { (rows, cols) }, &Device::Cpu)?;
            if transposed { t.t() } else { Ok(t) }
        };
        let a = stored(m, k, layout.as_bytes()[0] == b'T')?;
        let b = stored(k, n, layout.as_bytes()[1] == b'T')?;
        let mut times = Vec::with_capacity(repeats);
        for r in 0..=repeats {
            let start = Instant::now();
            let c = a.matmul(&b)?;
            drop(c);
            if r > 0 {
                times.push(start.elapsed().as_secs_f64());
            }
        }
        times.sort_by(f64::total_cmp);
        let median = times[repeats / 2];
        println!(
            "{{\"library\": \"candle-gemm\", \"shape\": \"{spec}\", \"median_s\": {median:.6}, \"gflops\": {:.2}}}",
            2.0 * (m * n * k) as f64 / median / 1e9
        );
    }
    Ok(())
}
