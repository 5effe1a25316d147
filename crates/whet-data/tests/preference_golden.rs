//! Preference-pair token ids against TRL's `DPOTrainer` (TRL 1.16) on the goldens made by
//! `reference/make_dpo_goldens.py` (`tests/golden/dpo/`): the 8 training pairs, extra cases
//! (plain strings with EOS, a token merged across the prompt/answer boundary, implicit prompts,
//! OpenAI's layout, truncation, a dropped pair), the collated batches of the DPO runs, and the
//! ORPO/SimPO batches (the same ids with EOS after each answer).

use std::path::{Path, PathBuf};

use serde_json::Value;
use whet_data::formats::Format;
use whet_data::preference::PreferenceSequence;
use whet_data::{parse_pair, read_pairs, tokenize_pair, ModelTokenizer, TokenizedPair, Truncation, TruncationMode};

const PAD: u32 = 511;
const EOS: u32 = 508;

fn golden(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/golden")
        .join(rel)
}

fn json(rel: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(golden(rel)).expect("golden file")).expect("golden JSON")
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("list")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}

fn flags(v: &Value) -> Vec<bool> {
    v.as_array()
        .expect("list")
        .iter()
        .map(|x| x.as_u64().expect("0 or 1") == 1)
        .collect()
}

fn tokenizer() -> ModelTokenizer {
    ModelTokenizer::load(&golden("models/llama")).expect("golden tokenizer")
}

fn expected(v: &Value) -> TokenizedPair {
    TokenizedPair {
        prompt: ids(&v["prompt_ids"]),
        chosen: ids(&v["chosen_ids"]),
        rejected: ids(&v["rejected_ids"]),
    }
}

/// The training pairs, tokenised by whet, in file order.
fn training_pairs(tok: &ModelTokenizer) -> Vec<TokenizedPair> {
    read_pairs(&golden("dpo/pairs.jsonl"), Format::Auto)
        .expect("golden pairs")
        .iter()
        .map(|(line, p)| tokenize_pair(tok, p).unwrap_or_else(|e| panic!("pairs.jsonl:{line}: {e}")))
        .collect()
}

#[test]
fn training_pairs_tokenise_to_trls_ids() {
    let tok = tokenizer();
    let golden = json("dpo/tokenization.json");
    let want: Vec<TokenizedPair> = golden["training_pairs"]["tokenized"]
        .as_array()
        .unwrap()
        .iter()
        .map(expected)
        .collect();
    let got = training_pairs(&tok);
    assert_eq!(got.len(), 8);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "training pair {i}");
    }
}

#[test]
fn every_layout_and_truncation_case_matches_trl() {
    let tok = tokenizer();
    let golden = json("dpo/tokenization.json");
    let cases = golden["cases"].as_array().unwrap();
    assert!(cases.len() >= 12);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let pair = parse_pair(Format::Auto, case["record"].as_object().unwrap().clone())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = tokenize_pair(&tok, &pair).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, expected(case), "{name}");
        let mode = match case["truncation_mode"].as_str().unwrap() {
            "keep_start" => TruncationMode::KeepStart,
            "keep_end" => TruncationMode::KeepEnd,
            other => panic!("{name}: unknown mode {other}"),
        };
        let t = Truncation {
            max_length: case["max_length"].as_u64().map(|n| n as usize),
            mode,
        };
        assert_eq!(got.is_dropped(&t), case["dropped"].as_bool().unwrap(), "{name}");
        if got.is_dropped(&t) {
            continue;
        }
        for side in ["chosen", "rejected"] {
            let seq = if side == "chosen" {
                got.chosen_sequence(&t)
            } else {
                got.rejected_sequence(&t)
            };
            let want = PreferenceSequence {
                ids: ids(&case[format!("{side}_input_ids")]),
                completion_mask: flags(&case[format!("{side}_completion_mask")]),
            };
            assert_eq!(seq, want, "{name} {side}");
        }
    }
}

/// Right-pads rows with `pad` (and masks with 0) to the longest, as TRL's collators do.
fn padded(rows: &[Vec<u32>], pad: u32) -> Vec<Vec<u32>> {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    rows.iter()
        .map(|r| r.iter().copied().chain(std::iter::repeat(pad)).take(width).collect())
        .collect()
}

fn matrix(v: &Value) -> Vec<Vec<u32>> {
    v.as_array().expect("list of rows").iter().map(ids).collect()
}

#[test]
fn dpo_run_batches_are_the_pairs_sequences_right_padded() {
    let tok = tokenizer();
    let pairs = training_pairs(&tok);
    let t = Truncation {
        max_length: Some(64),
        mode: TruncationMode::KeepStart,
    };
    for run in ["dpo_sigmoid", "dpo_ipo", "dpo_hinge", "dpo_robust_label_smoothing_0.1"] {
        let golden = json(&format!("dpo/runs/{run}.json"));
        for step in golden["steps"].as_array().unwrap() {
            let order: Vec<usize> = step["pair_indices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_u64().unwrap() as usize)
                .collect();
            // Rows: every pair's chosen sequence, then every pair's rejected sequence.
            let seqs: Vec<PreferenceSequence> = order
                .iter()
                .map(|&i| pairs[i].chosen_sequence(&t))
                .chain(order.iter().map(|&i| pairs[i].rejected_sequence(&t)))
                .collect();
            let rows: Vec<Vec<u32>> = seqs.iter().map(|s| s.ids.clone()).collect();
            let masks: Vec<Vec<u32>> = seqs
                .iter()
                .map(|s| s.completion_mask.iter().map(|&m| m as u32).collect())
                .collect();
            let attention: Vec<Vec<u32>> = seqs.iter().map(|s| vec![1; s.ids.len()]).collect();
            let batch = &step["batch"];
            assert_eq!(
                padded(&rows, PAD),
                matrix(&batch["input_ids"]),
                "{run} step {}",
                step["step"]
            );
            assert_eq!(
                padded(&masks, 0),
                matrix(&batch["completion_mask"]),
                "{run} step {}",
                step["step"]
            );
            assert_eq!(
                padded(&attention, 0),
                matrix(&batch["attention_mask"]),
                "{run} step {}",
                step["step"]
            );
        }
    }
}

#[test]
fn orpo_and_simpo_batches_are_the_dpo_ids_with_eos_after_each_answer() {
    let tok = tokenizer();
    assert_eq!(tok.eos_token_id(), Some(EOS));
    let pairs: Vec<TokenizedPair> = training_pairs(&tok).iter().map(|p| p.with_eos_appended(EOS)).collect();
    for run in ["orpo", "simpo"] {
        let golden = json(&format!("dpo/runs/{run}.json"));
        for step in golden["steps"].as_array().unwrap() {
            let order: Vec<usize> = step["pair_indices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_u64().unwrap() as usize)
                .collect();
            for side in ["chosen", "rejected"] {
                let rows: Vec<Vec<u32>> = order
                    .iter()
                    .map(|&i| {
                        let answer = if side == "chosen" {
                            &pairs[i].chosen
                        } else {
                            &pairs[i].rejected
                        };
                        pairs[i].prompt.iter().chain(answer).copied().collect()
                    })
                    .collect();
                let batch = &step["batch"];
                assert_eq!(
                    padded(&rows, PAD),
                    matrix(&batch[format!("{side}_input_ids")]),
                    "{run} {side}"
                );
                // Labels: -100 on the prompt and the padding, the ids on the answer.
                let labels: Vec<Vec<i64>> = batch[format!("{side}_labels")]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect())
                    .collect();
                for (k, &i) in order.iter().enumerate() {
                    let n_prompt = pairs[i].prompt.len();
                    let answer: Vec<i64> = rows[k][n_prompt..].iter().map(|&x| x as i64).collect();
                    assert!(labels[k][..n_prompt].iter().all(|&x| x == -100), "{run} {side}");
                    assert_eq!(labels[k][n_prompt..n_prompt + answer.len()], answer[..], "{run} {side}");
                }
            }
        }
    }
}
