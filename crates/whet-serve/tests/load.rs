//! A bounded loopback load test, run on demand:
//! `cargo test --release -p whet-serve --test load -- --ignored --nocapture`.
//!
//! 1, 4 and 16 concurrent clients send a fixed number of completion requests (64 tokens each,
//! `ignore_eos`, greedy) to a server with the bundled base model, first all for the base model,
//! then alternating between the base model and an adapter (mixed batches); it checks that every
//! request succeeds with all its tokens and prints the generated tokens/s at each concurrency.

#![allow(clippy::unwrap_used)]

mod test_server;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use test_server::{start, TestServer, ADAPTER};

const REQUESTS: usize = 32;
const TOKENS: usize = 64;

#[test]
#[ignore = "load test: seconds of CPU; run on demand"]
fn load_at_1_4_and_16_clients_loses_nothing() {
    let server = start("max_batch = 16\nmax_queue = 64");
    for models in [&["base"][..], &["base", ADAPTER][..]] {
        for clients in [1, 4, 16] {
            let left = Arc::new(AtomicUsize::new(REQUESTS));
            let started = Instant::now();
            let workers: Vec<_> = (0..clients)
                .map(|_| {
                    let (left, url) = (left.clone(), server.url.clone());
                    std::thread::spawn(move || {
                        let server = TestServer { url };
                        let mut tokens = 0;
                        while let Ok(n) = left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)) {
                            let model = models[n % models.len()];
                            let body = json!({"model": model, "prompt": "The Corvid WX-4", "max_tokens": TOKENS, "ignore_eos": true, "temperature": 0});
                            let reply = server.post_json("/v1/completions", &body);
                            assert_eq!(reply.status, 200, "{}", reply.body);
                            tokens += reply.json()["usage"]["completion_tokens"].as_u64().unwrap() as usize;
                        }
                        tokens
                    })
                })
                .collect();
            let tokens: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
            let secs = started.elapsed().as_secs_f64();
            assert_eq!(tokens, REQUESTS * TOKENS, "no lost responses or tokens");
            println!(
                "{}: {clients:>2} clients: {REQUESTS} requests, {tokens} tokens in {secs:.2} s = {:.0} generated tokens/s",
                models.join("+"),
                tokens as f64 / secs
            );
        }
    }
}
