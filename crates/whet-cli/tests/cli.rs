//! End-to-end tests of the `whet` binary on the golden tiny models: the `score` and `generate`
//! contracts against transformers' numbers, and the errors for bad inputs.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::{golden_data_file, s, whet};
use serde_json::Value;

const MODELS: &[&str] = &["llama", "llama_mqa", "mistral", "qwen2"];

fn golden_dir(name: &str) -> PathBuf {
    common::golden_model(name)
}

fn golden(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(golden_dir(name).join("golden.json")).unwrap()).unwrap()
}

fn stdout_json(out: &Output) -> Value {
    assert!(out.status.success(), "whet failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs whet expecting failure and returns its stderr.
fn whet_fails(args: &[&str]) -> String {
    let out = whet(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "whet {args:?} succeeded; stderr: {stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    stderr
}

/// A copy of a golden model directory that a test may damage.
fn copy_model(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(golden_dir(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

#[test]
fn score_nll_matches_transformers_within_1e4_relative() {
    for name in MODELS {
        let g = golden(name);
        let dir = tempfile::tempdir().unwrap();
        let (data, expected) = golden_data_file(dir.path(), &g);
        let report = stdout_json(&whet(&["score", "--model", s(&golden_dir(name)), "--data", s(&data), "--json"]));
        let records = report["records"].as_array().unwrap();
        assert_eq!(records.len(), expected.len());
        for (got, want) in records.iter().zip(&expected) {
            assert_eq!(got["n_tokens"], want["n_tokens"], "{name}: {want}");
            let (a, b) = (got["nll"].as_f64().unwrap(), want["nll_sum"].as_f64().unwrap());
            assert!((a - b).abs() / b < 1e-4, "{name}: nll {a} vs transformers {b}");
            let ppl = got["perplexity"].as_f64().unwrap();
            assert!((ppl - (a / got["n_tokens"].as_f64().unwrap()).exp()).abs() < 1e-6 * ppl);
        }
    }
}

#[test]
fn generate_greedy_json_matches_transformers_tokens() {
    for name in MODELS {
        for case in golden(name)["greedy"].as_array().unwrap() {
            let out = stdout_json(&whet(&[
                "generate",
                "--model",
                s(&golden_dir(name)),
                "--prompt",
                case["prompt"].as_str().unwrap(),
                "--max-new-tokens",
                "20",
                "--temperature",
                "0",
                "--json",
            ]));
            assert_eq!(out["prompt_ids"], case["prompt_ids"], "{name}");
            assert_eq!(out["token_ids"], case["generated_ids"], "{name}");
            assert_eq!(out["finish_reason"], "length");
        }
    }
}

#[test]
fn sampling_with_a_seed_is_reproducible_and_seeds_differ() {
    let model = golden_dir("llama");
    let run = |seed: &str| {
        stdout_json(&whet(&[
            "generate", "--model", s(&model), "--prompt", "Hello", "--max-new-tokens", "12",
            "--temperature", "1.5", "--top-p", "0.95", "--seed", seed, "--json",
        ]))["token_ids"]
            .clone()
    };
    assert_eq!(run("7"), run("7"));
    assert_ne!(run("7"), run("8"));
}

#[test]
fn generation_stops_at_any_eos_token_of_generation_config() {
    // Make the 6th greedy token an end-of-sequence token (second in the list): greedy decoding
    // must stop right there and report it.
    let dir = copy_model("llama");
    let case = &golden("llama")["greedy"][0];
    let sixth = case["generated_ids"][5].as_u64().unwrap();
    let earlier: Vec<u64> = case["generated_ids"].as_array().unwrap()[..5].iter().map(|v| v.as_u64().unwrap()).collect();
    assert!(!earlier.contains(&sixth));
    std::fs::write(
        dir.path().join("generation_config.json"),
        serde_json::json!({"eos_token_id": [508, sixth]}).to_string(),
    )
    .unwrap();
    let out = stdout_json(&whet(&[
        "generate", "--model", s(dir.path()), "--prompt", case["prompt"].as_str().unwrap(),
        "--max-new-tokens", "20", "--json",
    ]));
    let ids = out["token_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 6);
    assert_eq!(ids[5].as_u64().unwrap(), sixth);
    assert_eq!(out["finish_reason"], "stop");
}

#[test]
fn stop_strings_cut_the_text() {
    let model = golden_dir("llama");
    let full = stdout_json(&whet(&[
        "generate", "--model", s(&model), "--prompt", "Once upon a time, a", "--max-new-tokens", "20",
        "--temperature", "0", "--json",
    ]));
    let text = full["text"].as_str().unwrap();
    // Stop at the first character that appears after position 3 of the greedy text.
    let (cut, stop) = text.char_indices().skip(3).map(|(i, c)| (i, c.to_string())).next().unwrap();
    let first = text.find(&stop).unwrap().min(cut);
    let out = stdout_json(&whet(&[
        "generate", "--model", s(&model), "--prompt", "Once upon a time, a", "--max-new-tokens", "20",
        "--temperature", "0", "--stop", &stop, "--json",
    ]));
    assert_eq!(out["text"].as_str().unwrap(), &text[..first]);
    assert_eq!(out["finish_reason"], "stop");
}

#[test]
fn chat_prompt_uses_the_chat_template_with_a_generation_prompt() {
    let out = stdout_json(&whet(&[
        "generate", "--model", s(&golden_dir("mistral")), "--prompt", "Hi", "--chat", "--max-new-tokens", "1", "--json",
    ]));
    // mistral's golden template lives in chat_template.jinja and is [INST]-style.
    let prompt: Vec<u32> = out["prompt_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
    assert!(prompt.len() > 3);
    assert_eq!(prompt[0], 507, "the template starts with BOS");
}

#[test]
fn missing_model_directory_is_named() {
    let err = whet_fails(&["generate", "--model", "/nonexistent/model", "--prompt", "x"]);
    assert!(err.contains("/nonexistent/model") && err.contains("no such directory"), "{err}");
}

#[test]
fn offline_hub_id_says_it_needs_a_network_or_a_directory() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_whet"))
        .args(["generate", "--model", "nobody-here/no-model", "--prompt", "x"])
        .env("HF_HOME", home.path())
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("nobody-here/no-model") && err.contains("HF_HUB_OFFLINE"), "{err}");
}

#[test]
fn truncated_safetensors_names_the_file() {
    let dir = copy_model("llama");
    let file = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let err = whet_fails(&["generate", "--model", s(dir.path()), "--prompt", "x"]);
    assert!(err.contains("model.safetensors") && err.contains("truncated or corrupt"), "{err}");
}

#[test]
fn garbage_safetensors_names_the_file() {
    let dir = copy_model("llama");
    std::fs::write(dir.path().join("model.safetensors"), b"not a safetensors file at all").unwrap();
    let err = whet_fails(&["generate", "--model", s(dir.path()), "--prompt", "x"]);
    assert!(err.contains("model.safetensors"), "{err}");
}

#[test]
fn config_that_does_not_match_the_weights_names_the_tensor_and_shapes() {
    let dir = copy_model("llama");
    let path = dir.path().join("config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["intermediate_size"] = 96.into();
    std::fs::write(&path, config.to_string()).unwrap();
    let err = whet_fails(&["generate", "--model", s(dir.path()), "--prompt", "x"]);
    assert!(err.contains("model.layers.0.mlp.gate_proj.weight") && err.contains("[96, 64]") && err.contains("[128, 64]"), "{err}");
}

#[test]
fn missing_and_extra_tensors_are_named() {
    // Fewer layers in the config than in the checkpoint: layer 1's tensors are extra.
    let dir = copy_model("llama");
    let path = dir.path().join("config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["num_hidden_layers"] = 1.into();
    std::fs::write(&path, config.to_string()).unwrap();
    let err = whet_fails(&["generate", "--model", s(dir.path()), "--prompt", "x"]);
    assert!(err.contains("model.layers.1.") && err.contains("not used"), "{err}");
    // More layers than the checkpoint has: layer 2's tensors are missing.
    config["num_hidden_layers"] = 3.into();
    std::fs::write(&path, config.to_string()).unwrap();
    let err = whet_fails(&["generate", "--model", s(dir.path()), "--prompt", "x"]);
    assert!(err.contains("model.layers.2.") && err.contains("missing"), "{err}");
}

#[test]
fn missing_shard_is_named() {
    let dir = copy_model("qwen2");
    std::fs::remove_file(dir.path().join("model-00002-of-00003.safetensors")).unwrap();
    let err = whet_fails(&["generate", "--model", s(dir.path()), "--prompt", "x"]);
    assert!(err.contains("model-00002-of-00003.safetensors"), "{err}");
}

#[test]
fn unknown_model_type_and_unsupported_values_are_named() {
    let dir = copy_model("llama");
    let path = dir.path().join("config.json");
    let original: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut config = original.clone();
    config["model_type"] = "gpt_neox".into();
    std::fs::write(&path, config.to_string()).unwrap();
    let err = whet_fails(&["generate", "--model", s(dir.path()), "--prompt", "x"]);
    assert!(err.contains("gpt_neox") && err.contains("llama, mistral, qwen2"), "{err}");

    let mut config = original.clone();
    config["rope_parameters"]["rope_type"] = "yarn".into();
    std::fs::write(&path, config.to_string()).unwrap();
    let err = whet_fails(&["generate", "--model", s(dir.path()), "--prompt", "x"]);
    assert!(err.contains("rope_parameters.rope_type") && err.contains("yarn"), "{err}");

    let mut config = original;
    config["hidden_act"] = "gelu".into();
    std::fs::write(&path, config.to_string()).unwrap();
    let err = whet_fails(&["generate", "--model", s(dir.path()), "--prompt", "x"]);
    assert!(err.contains("hidden_act") && err.contains("gelu"), "{err}");
}

#[test]
fn transformers_4_style_rope_config_loads_the_same_model() {
    // transformers 4.x wrote rope_theta and rope_scaling at the top level.
    let dir = copy_model("llama");
    let path = dir.path().join("config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut params = config.as_object_mut().unwrap().remove("rope_parameters").unwrap();
    let theta = params.as_object_mut().unwrap().remove("rope_theta").unwrap();
    config["rope_theta"] = theta;
    config["rope_scaling"] = params;
    std::fs::write(&path, config.to_string()).unwrap();
    let case = &golden("llama")["greedy"][0];
    let out = stdout_json(&whet(&[
        "generate", "--model", s(dir.path()), "--prompt", case["prompt"].as_str().unwrap(),
        "--max-new-tokens", "20", "--temperature", "0", "--json",
    ]));
    assert_eq!(out["token_ids"], case["generated_ids"]);
}

#[test]
fn missing_tokenizer_is_named() {
    let dir = copy_model("llama");
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let err = whet_fails(&["generate", "--model", s(dir.path()), "--prompt", "x"]);
    assert!(err.contains("tokenizer.json") && err.contains("missing"), "{err}");
}

#[test]
fn no_chat_template_suggests_the_builtins_and_a_builtin_works() {
    let dir = copy_model("llama");
    let path = dir.path().join("tokenizer_config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config.as_object_mut().unwrap().remove("chat_template");
    std::fs::write(&path, config.to_string()).unwrap();
    let err = whet_fails(&["generate", "--model", s(dir.path()), "--prompt", "x", "--chat"]);
    assert!(err.contains("no chat template") && err.contains("chatml"), "{err}");
    let out = whet(&["generate", "--model", s(dir.path()), "--prompt", "x", "--chat", "--chat-template", "chatml", "--max-new-tokens", "2", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn template_that_raises_reports_its_message() {
    let dir = tempfile::tempdir().unwrap();
    let messages = dir.path().join("m.json");
    std::fs::write(&messages, r#"[{"role": "user", "content": "a"}, {"role": "critic", "content": "b"}]"#).unwrap();
    let err = whet_fails(&["generate", "--model", s(&golden_dir("llama")), "--messages", s(&messages)]);
    assert!(err.contains("Unknown role: critic") && err.contains("tokenizer_config.json"), "{err}");
}

#[test]
fn malformed_jsonl_line_is_named_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bad.jsonl");
    std::fs::write(&data, "{\"text\": \"fine\"}\n{\"text\": oops}\n").unwrap();
    let err = whet_fails(&["score", "--model", s(&golden_dir("llama")), "--data", s(&data)]);
    assert!(err.contains("bad.jsonl:2") && err.contains("not valid JSON"), "{err}");
    std::fs::write(&data, "{\"prompt\": \"no text here\"}\n").unwrap();
    let err = whet_fails(&["score", "--model", s(&golden_dir("llama")), "--data", s(&data)]);
    assert!(err.contains("bad.jsonl:1") && err.contains("`text`"), "{err}");
    std::fs::write(&data, "\n").unwrap();
    let err = whet_fails(&["score", "--model", s(&golden_dir("llama")), "--data", s(&data)]);
    assert!(err.contains("no records"), "{err}");
}

#[test]
fn invalid_sampling_settings_are_refused() {
    let err = whet_fails(&["generate", "--model", s(&golden_dir("llama")), "--prompt", "x", "--temperature", "1", "--top-p", "2"]);
    assert!(err.contains("top_p"), "{err}");
}
