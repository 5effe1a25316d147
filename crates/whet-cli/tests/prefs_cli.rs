//! `whet data prefs` end to end on the golden tiny llama: a base with a PEFT adapter as the
//! stronger model, the bare base as the weaker one. The answers are noise (random weights), so
//! the test checks the contract: every prompt ends up as a pair or a counted skip, pairs are in
//! TRL's conversational layout with provenance, and bad inputs are refused by file and line.

mod common;

use common::{golden_model, root, s, whet};
use serde_json::Value;

fn prompts(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("prompts.jsonl");
    let lines = [
        r#"{"messages": [{"role": "user", "content": "What colour is the sky?"}, {"role": "assistant", "content": "Blue."}]}"#,
        r#"{"messages": [{"role": "user", "content": "Name a fruit."}]}"#,
        r#"{"messages": [{"role": "user", "content": "Count to three."}, {"role": "assistant", "content": "One, two, three."}]}"#,
    ];
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn pairs_from_a_stronger_and_a_weaker_model() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (prompts(dir.path()), dir.path().join("pairs.jsonl"));
    let adapter = root().join("tests/golden/adapters/llama_lora_r4");
    let run = whet(&[
        "data", "prefs", "--prompts", s(&input), "--strong", s(&golden_model("llama")), "--strong-adapter", s(&adapter),
        "--out", s(&out), "--max-new-tokens", "8",
    ]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let pairs: Vec<Value> = std::fs::read_to_string(&out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let skipped: usize = stdout.split("skipped: ").nth(1).map_or(0, |t| t.split(' ').next().unwrap().parse().unwrap());
    assert_eq!(pairs.len() + skipped, 3, "{stdout}");
    for p in &pairs {
        assert_eq!(p["prompt"].as_array().unwrap().last().unwrap()["role"], "user");
        assert_ne!(p["chosen"][0]["content"], p["rejected"][0]["content"]);
        assert!(p["provenance"]["chosen_by"].as_str().unwrap().contains("adapter"));
        assert!(p["provenance"]["source"].as_str().unwrap().starts_with(s(&input)));
    }
    // Nothing is overwritten.
    let again = whet(&["data", "prefs", "--prompts", s(&input), "--strong", s(&golden_model("llama")), "--out", s(&out)]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[test]
fn bad_prompt_files_are_refused_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}\n{\"text\": \"no messages\"}\n").unwrap();
    let out = dir.path().join("pairs.jsonl");
    let run = whet(&["data", "prefs", "--prompts", s(&bad), "--strong", s(&golden_model("llama")), "--out", s(&out)]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("bad.jsonl:2") && stderr.contains("messages"), "{stderr}");
    assert!(!out.exists());

    let no_refs = dir.path().join("no_refs.jsonl");
    std::fs::write(&no_refs, "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}\n").unwrap();
    let run = whet(&["data", "prefs", "--prompts", s(&no_refs), "--strong", s(&golden_model("llama")), "--judge", "reference", "--out", s(&out)]);
    assert!(String::from_utf8_lossy(&run.stderr).contains("needs records that end with an assistant answer"));
}

/// Answerers say "<model> answer"; the model `judge` says "B".
fn mock_endpoint() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    common::mock_endpoint(|request| {
        let model = request["model"].as_str().unwrap();
        if model == "judge" { "B".to_string() } else { format!("{model} answer") }
    })
}

#[test]
fn endpoints_answer_and_an_llm_judge_decides() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (prompts(dir.path()), dir.path().join("pairs.jsonl"));
    let (url, seen) = mock_endpoint();
    let run = whet(&[
        "data", "prefs", "--prompts", s(&input), "--strong", &url, "--strong-model", "sft", "--weak", &url, "--weak-model", "base",
        "--judge", "llm", "--judge-endpoint", &url, "--samples", "2", "--temperature", "0.7", "--seed", "5", "--out", s(&out),
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let pairs: Vec<Value> = std::fs::read_to_string(&out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(pairs.len(), 3);
    let requests = seen.lock().unwrap().clone();
    // 3 prompts x 2 answerers x 2 samples, then one judgement per prompt.
    assert_eq!(requests.len(), 3 * 2 * 2 + 3);
    let seeds: std::collections::HashSet<u64> = requests.iter().filter(|r| r["model"] == "sft").map(|r| r["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds.len(), 6, "each prompt and sample has its own seed");
    assert!(requests.iter().filter(|r| r["model"] != "judge").all(|r| r["temperature"].as_f64().unwrap() > 0.69));
    for (p, judged) in pairs.iter().zip(requests.iter().filter(|r| r["model"] == "judge")) {
        // The judge said "B": whichever answer was shown second is chosen.
        let shown = judged["messages"][1]["content"].as_str().unwrap();
        let second = shown.split("Answer B: ").nth(1).unwrap().split("\n\n").next().unwrap();
        assert_eq!(p["chosen"][0]["content"], second, "{shown}");
        assert_eq!(p["provenance"]["judge"], "llm");
    }
    // The reference answer is shown to the judge when the record has one.
    assert!(requests.iter().any(|r| r["messages"][1]["content"].as_str().is_some_and(|t| t.contains("Reference answer: Blue."))));
}

#[test]
fn flag_combinations_that_cannot_work_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (prompts(dir.path()), dir.path().join("pairs.jsonl"));
    let model = golden_model("llama");
    let cases: [(&[&str], &str); 4] = [
        (&["--samples", "3"], "needs a temperature above 0"),
        (&["--no-weak", "--samples", "2", "--temperature", "1"], "--no-weak compares"),
        (&["--judge", "llm"], "--judge-endpoint"),
        (&["--weak", "http://127.0.0.1:9/v1"], "--weak-model"),
    ];
    for (flags, expect) in cases {
        let mut args = vec!["data", "prefs", "--prompts", s(&input), "--strong", s(&model), "--out", s(&out)];
        args.extend_from_slice(flags);
        let run = whet(&args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success() && stderr.contains(expect), "{flags:?}: {stderr}");
        assert!(!out.exists());
    }
}
