//! Logits and greedy generations of whet's models against transformers' on the tiny golden
//! models made by `reference/make_model_goldens.py` (llama with GQA + llama3 RoPE + tied
//! embeddings, llama with MQA + biases + head_dim + linear RoPE, mistral with a sliding window
//! and bf16 weights, qwen2 with q/k/v biases and sharded weights).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use whet_models::generation::SamplingParams;
use whet_models::{generate, generate_samples, CausalLm, GenerationParams};

const MODELS: &[&str] = &["llama", "llama_mqa", "mistral", "qwen2"];

fn golden_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/models").join(name)
}

fn goldens(name: &str) -> std::collections::HashMap<String, Tensor> {
    candle_core::safetensors::load(golden_dir(name).join("golden.safetensors"), &Device::Cpu).unwrap()
}

/// Max |a - b| over max |b|: the error relative to the logits' scale.
fn relative_max_diff(a: &Tensor, b: &Tensor) -> f32 {
    let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    let scale = b.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    diff / scale
}

fn check_logits(dtype: DType, key: &str, tolerance: f32) {
    for name in MODELS {
        let model = CausalLm::load(&golden_dir(name), dtype, &Device::Cpu).unwrap();
        let g = goldens(name);
        for i in 0..3 {
            let ids = g[&format!("input_ids_{i}")].to_dtype(DType::U32).unwrap();
            let expected = &g[&format!("{key}_{i}")];
            let logits = model.forward(&ids, &mut model.new_cache()).unwrap();
            assert_eq!(logits.dims(), expected.dims(), "{name} input {i}");
            let err = relative_max_diff(&logits, expected);
            eprintln!("{name} {key} input {i}: relative max diff {err:.2e}");
            assert!(err < tolerance, "{name} {key} input {i}: {err:.2e} >= {tolerance:.0e}");
        }
    }
}

#[test]
fn f32_logits_match_transformers_within_1e4() {
    check_logits(DType::F32, "logits_f32", 1e-4);
}

#[test]
fn bf16_logits_match_transformers_bf16_within_2e2() {
    check_logits(DType::BF16, "logits_bf16", 2e-2);
}

#[test]
fn f16_logits_stay_within_2e2_of_transformers_f32() {
    // transformers has no f16 CPU run to compare with; f16 keeps more mantissa than bf16, so it
    // must come at least as close to the f32 reference as bf16 is required to.
    check_logits(DType::F16, "logits_f32", 2e-2);
}

#[test]
fn greedy_generation_matches_transformers_token_for_token() {
    for name in MODELS {
        let model = CausalLm::load(&golden_dir(name), DType::F32, &Device::Cpu).unwrap();
        let text = std::fs::read_to_string(golden_dir(name).join("golden.json")).unwrap();
        let golden: serde_json::Value = serde_json::from_str(&text).unwrap();
        for case in golden["greedy"].as_array().unwrap() {
            let ids = |k: &str| -> Vec<u32> {
                case[k].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect()
            };
            let params = GenerationParams {
                max_new_tokens: 20,
                eos_token_ids: vec![],
                sampling: SamplingParams::default(),
            };
            let out = generate(&model, &ids("prompt_ids"), &params, |_| true).unwrap();
            assert_eq!(out.tokens, ids("generated_ids"), "{name}");
        }
    }
}

#[test]
fn samples_decoded_side_by_side_equal_samples_decoded_alone() {
    for name in MODELS {
        let model = CausalLm::load(&golden_dir(name), DType::F32, &Device::Cpu).unwrap();
        let text = std::fs::read_to_string(golden_dir(name).join("golden.json")).unwrap();
        let golden: serde_json::Value = serde_json::from_str(&text).unwrap();
        let prompt: Vec<u32> = golden["greedy"][0]["prompt_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        // An EOS id that sampling hits early in some rows, so rows finish at different steps.
        let (seeds, mut eos_hits) = ([3u64, 7, 11, 19, 23], 0);
        for eos in [vec![], prompt[1..3].to_vec()] {
            let params = GenerationParams {
                max_new_tokens: 12,
                eos_token_ids: eos,
                sampling: SamplingParams { temperature: 1.5, ..Default::default() },
            };
            let together = generate_samples(&model, &prompt, &params, &seeds).unwrap();
            assert_eq!(together.len(), seeds.len());
            for (row, &seed) in together.iter().zip(&seeds) {
                let alone_params = GenerationParams { sampling: SamplingParams { seed, ..params.sampling.clone() }, ..params.clone() };
                let alone = generate(&model, &prompt, &alone_params, |_| true).unwrap();
                assert_eq!((&row.tokens, row.finish), (&alone.tokens, alone.finish), "{name} seed {seed}");
                eos_hits += usize::from(row.finish == whet_models::FinishReason::Eos);
            }
        }
        assert!(eos_hits > 0 || *name != "llama", "{name}: no row stopped early; pick other EOS ids");
    }
}

/// Prefixes of the golden inputs of different lengths (mistral's window of 8 bites for the
/// longer ones), for batched decoding.
fn prompts(name: &str) -> Vec<Vec<u32>> {
    let g = goldens(name);
    [(0, 3), (1, 9), (2, 6), (1, 5)]
        .iter()
        .map(|&(i, n)| {
            let ids: Vec<u32> = g[&format!("input_ids_{i}")].to_dtype(DType::U32).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            ids[..n.min(ids.len())].to_vec()
        })
        .collect()
}

/// Logits of the next token after `input`, extending `cache`.
fn next_logits(model: &CausalLm, input: &[u32], cache: &mut whet_models::KvCache) -> Vec<f32> {
    let ids = Tensor::new(input, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
    model.forward_last(&ids, cache).unwrap().squeeze(0).unwrap().to_vec1().unwrap()
}

fn argmax(row: &[f32]) -> u32 {
    row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0 as u32
}

#[test]
fn sequences_at_different_positions_decoded_in_one_batch_equal_each_decoded_alone() {
    for name in MODELS {
        let model = CausalLm::load(&golden_dir(name), DType::F32, &Device::Cpu).unwrap();
        let prompts = prompts(name);
        let mut caches: Vec<_> = prompts.iter().map(|_| model.new_cache()).collect();
        let mut next: Vec<u32> = prompts.iter().zip(&mut caches).map(|(p, c)| argmax(&next_logits(&model, p, c))).collect();
        for step in 0..10 {
            let mut alone_caches = caches.clone();
            let alone: Vec<Vec<f32>> = next.iter().zip(&mut alone_caches).map(|(&t, c)| next_logits(&model, &[t], c)).collect();
            let mut refs: Vec<_> = caches.iter_mut().collect();
            let together: Vec<Vec<f32>> = model.forward_rows(&next, &mut refs, None).unwrap().to_vec2().unwrap();
            assert_eq!(together, alone, "{name} step {step}: batched logits differ from the sequences' own");
            for (c, a) in caches.iter().zip(&alone_caches) {
                assert_eq!(c.seq_len(), a.seq_len());
            }
            next = together.iter().map(|row| argmax(row)).collect();
        }
    }
}

/// A random adapter on every `stride`-th projection (B non-zero, so it changes the logits).
fn random_adapter(model: &CausalLm, stride: usize, seed: u64) -> Vec<Option<whet_models::Lora>> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut randn = |shape: (usize, usize)| {
        let v: Vec<f32> = (0..shape.0 * shape.1).map(|_| rng.random_range(-0.2f32..0.2)).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    };
    model
        .projections()
        .iter()
        .enumerate()
        .map(|(i, (_, p))| {
            (i % stride == 0).then(|| whet_models::Lora { a: randn((4, p.in_dim())), b: randn((p.out_dim(), 4)), scale: 2.0, dropout: None })
        })
        .collect()
}

#[test]
fn rows_of_different_adapters_decoded_in_one_batch_equal_each_decoded_with_its_adapter() {
    for name in MODELS {
        let mut model = CausalLm::load(&golden_dir(name), DType::F32, &Device::Cpu).unwrap();
        // Two adapters (one on every projection, lm_head included when untied; one on every
        // third), and rows in runs: adapter 1 twice, the base model, adapter 2.
        let sets = [random_adapter(&model, 1, 1), random_adapter(&model, 3, 2)];
        let row_set = [Some(0), Some(0), None, Some(1)];
        let attached = |i: usize| row_set[i].map_or(Vec::new(), |s| sets[s].clone());
        let prompts = prompts(name);
        let mut caches: Vec<_> = prompts.iter().map(|_| model.new_cache()).collect();
        let mut next = Vec::new();
        for (i, (p, c)) in prompts.iter().zip(&mut caches).enumerate() {
            next.push(model.with_adapters(&attached(i), |m| argmax(&next_logits(m, p, c))));
        }
        let runs = whet_models::RowAdapters::new(vec![(2, Some(sets[0].as_slice())), (1, None), (1, Some(sets[1].as_slice()))]);
        let mut differ = false;
        for step in 0..6 {
            let mut alone_caches = caches.clone();
            let alone: Vec<Vec<f32>> = (0..next.len())
                .map(|i| model.with_adapters(&attached(i), |m| next_logits(m, &[next[i]], &mut alone_caches[i])))
                .collect();
            let base: Vec<Vec<f32>> = next.iter().zip(caches.clone().iter_mut()).map(|(&t, c)| next_logits(&model, &[t], c)).collect();
            let mut refs: Vec<_> = caches.iter_mut().collect();
            let together: Vec<Vec<f32>> = model.forward_rows(&next, &mut refs, Some(&runs)).unwrap().to_vec2().unwrap();
            // Bit for bit: the base product is computed row by row, and each run's low-rank term
            // is the same op the attached adapter computes.
            assert_eq!(together, alone, "{name} step {step}: batched logits differ from each row's adapter alone");
            differ |= (0..next.len()).any(|i| row_set[i].is_some() && together[i].iter().zip(&base[i]).any(|(x, y)| (x - y).abs() > 1e-3));
            next = together.iter().map(|row| argmax(row)).collect();
        }
        assert!(differ, "{name}: the adapters must change the logits");
    }
}

#[test]
fn incremental_decoding_with_the_cache_equals_one_full_forward() {
    for name in MODELS {
        let model = CausalLm::load(&golden_dir(name), DType::F32, &Device::Cpu).unwrap();
        let ids = goldens(name)["input_ids_1"].to_dtype(DType::U32).unwrap();
        let full = model.forward(&ids, &mut model.new_cache()).unwrap();
        // 10 tokens at once, then one at a time: crosses mistral's window of 8.
        let mut cache = model.new_cache();
        let mut parts = vec![model.forward(&ids.narrow(1, 0, 10).unwrap(), &mut cache).unwrap()];
        for t in 10..ids.dim(1).unwrap() {
            parts.push(model.forward(&ids.narrow(1, t, 1).unwrap(), &mut cache).unwrap());
        }
        let stepwise = Tensor::cat(&parts, 1).unwrap();
        let err = relative_max_diff(&stepwise, &full);
        assert!(err < 1e-5, "{name}: {err:.2e}");
    }
}

#[test]
fn packed_records_compute_exactly_as_if_alone() {
    // Records of 5, 11 and 7 tokens packed into two rows of 16 (the second padded with a
    // fourth record): every record's logits equal those of running it by itself, so packing
    // leaks nothing across records. mistral's window of 8 applies within records of 11.
    let lens = [5usize, 11, 7, 9];
    for name in MODELS {
        let model = CausalLm::load(&golden_dir(name), DType::F32, &Device::Cpu).unwrap();
        let ids: Vec<u32> = goldens(name)["input_ids_2"].to_dtype(DType::U32).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let mut records = Vec::new();
        let mut at = 0;
        for &n in &lens {
            records.push(ids[at..at + n].to_vec());
            at += n;
        }
        // Row 0: records 0 and 1 (16 tokens); row 1: records 2 and 3 (16 tokens).
        let rows = [[0usize, 1], [2, 3]];
        let mut packed: Vec<u32> = Vec::new();
        let mut segments = Vec::new();
        for row in rows {
            let mut seg = Vec::new();
            for (s, &r) in row.iter().enumerate() {
                packed.extend(&records[r]);
                seg.extend(std::iter::repeat_n(s as u32, records[r].len()));
            }
            segments.push(seg);
        }
        let input = Tensor::from_vec(packed, (2, 16), &Device::Cpu).unwrap();
        let logits = model.forward_packed(&input, &segments).unwrap();
        for (row, members) in rows.iter().enumerate() {
            let mut start = 0;
            for &r in members {
                let n = records[r].len();
                let alone_ids = Tensor::new(records[r].as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
                let alone = model.forward(&alone_ids, &mut model.new_cache()).unwrap();
                let part = logits.narrow(0, row, 1).unwrap().narrow(1, start, n).unwrap();
                let err = relative_max_diff(&part, &alone);
                assert!(err < 1e-5, "{name} record {r}: {err:.2e}");
                start += n;
            }
        }
    }
}

#[test]
fn fused_and_composed_attention_give_the_same_logits() {
    // 150 positions (three tiles of the fused op, the last one partial), two rows; plain causal
    // rows and packed rows of records of different lengths; mistral's window of 8 too.
    for name in MODELS {
        let mut model = CausalLm::load(&golden_dir(name), DType::F32, &Device::Cpu).unwrap();
        let vocab = model.config.vocab_size as u32;
        let ids: Vec<u32> = (0..300u32).map(|i| (i * 37 + 11) % vocab).collect();
        let input = Tensor::from_vec(ids, (2, 150), &Device::Cpu).unwrap();
        let records = |lengths: &[u32]| -> Vec<u32> { lengths.iter().enumerate().flat_map(|(r, &n)| std::iter::repeat_n(r as u32, n as usize)).collect() };
        let segments = vec![records(&[3, 61, 70, 16]), records(&[1, 149])];
        let mut outputs = Vec::new();
        for fused in [false, true] {
            model.fused_attention = fused;
            let plain = model.forward(&input, &mut model.new_cache()).unwrap();
            let packed = model.forward_packed(&input, &segments).unwrap();
            outputs.push((plain, packed));
        }
        let ((plain_c, packed_c), (plain_f, packed_f)) = (&outputs[0], &outputs[1]);
        let (plain_err, packed_err) = (relative_max_diff(plain_f, plain_c), relative_max_diff(packed_f, packed_c));
        eprintln!("{name}: fused vs composed logits, plain {plain_err:.2e}, packed {packed_err:.2e}");
        assert!(plain_err < 1e-5, "{name} plain rows: {plain_err:.2e}");
        assert!(packed_err < 1e-5, "{name} packed rows: {packed_err:.2e}");
    }
}
