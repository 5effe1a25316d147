//! `whet train` end to end on the golden tiny llama: a LoRA SFT run writes a complete run
//! directory and lowers validation loss; stopping and resuming reproduces the uninterrupted
//! losses; full fine-tuning and cpt produce loadable results; bad inputs are refused by file,
//! line or key, without touching what exists.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{root, s, whet};
use serde_json::Value;

fn ok(out: Output) -> String {
    assert!(out.status.success(), "whet failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(out: Output) -> String {
    assert!(!out.status.success(), "whet succeeded: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const QA: &[(&str, &str)] = &[
    ("What colour is the sky?", "The sky is blue."),
    ("Where does the cat sleep?", "The cat sleeps on the mat."),
    ("Who reads the book?", "Anna reads the book."),
    ("What does the bird do?", "The bird sings by the window."),
];

fn chat(q: &str, a: &str) -> String {
    serde_json::json!({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}).to_string()
}

/// A workspace with train/valid chat files and a config writer.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let train: Vec<String> = (0..16).map(|i| chat(QA[i % 4].0, QA[i % 4].1)).collect();
        std::fs::write(dir.path().join("train.jsonl"), train.join("\n") + "\n").unwrap();
        let valid: Vec<String> = QA.iter().map(|(q, a)| chat(q, a)).collect();
        std::fs::write(dir.path().join("valid.jsonl"), valid.join("\n") + "\n").unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a config for a run into `run_name`; `extra` is appended (TOML sections).
    fn config(&self, run_name: &str, extra: &str) -> PathBuf {
        let text = format!(
            "method = \"sft\"\nmodel = \"{model}\"\noutput_dir = \"{out}\"\nseed = 3\n\n[data]\ntrain = \"{train}\"\nvalid = \"{valid}\"\nmax_seq_len = 64\n\n{extra}",
            model = root().join("tests/golden/models/llama").display(),
            out = self.path(run_name).display(),
            train = self.path("train.jsonl").display(),
            valid = self.path("valid.jsonl").display(),
        );
        let path = self.path(&format!("{run_name}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn step_losses(run: &Path) -> Vec<(u64, f64)> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v.get("loss").is_some())
        .map(|v| (v["step"].as_u64().unwrap(), v["loss"].as_f64().unwrap()))
        .collect()
}

const LORA_TRAIN: &str = "[lora]\nr = 8\nalpha = 16\n\n[train]\nepochs = 3\nmicro_batch_size = 2\ngrad_accum = 2\nlr = 5e-3\nwarmup_steps = 2\neval_every = 4\nsave_every = 4\n";

#[test]
fn lora_sft_run_writes_a_run_directory_and_lowers_validation_loss() {
    let setup = Setup::new();
    let config = setup.config("run", &format!("{LORA_TRAIN}\n"));
    let stdout = ok(whet(&["train", s(&config), "--quiet"]));
    assert!(stdout.contains("steps           12/12"), "{stdout}");
    let run = setup.path("run");
    for f in ["config.toml", "run.json", "metrics.jsonl", "summary.json", "adapter/adapter_config.json", "adapter/adapter_model.safetensors", "adapter/tokenizer.json", "adapter/chat_template.jinja"] {
        assert!(run.join(f).is_file(), "missing {f}");
    }
    let events: Vec<_> = std::fs::read_dir(run.join("tensorboard")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(events.len() == 1 && events[0].starts_with("events.out.tfevents."), "{events:?}");
    let run_json: Value = serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert_eq!(run_json["data"]["train"]["sha256"].as_str().unwrap().len(), 64);
    assert!(run_json["whet_version"].as_str().unwrap().starts_with(env!("CARGO_PKG_VERSION")));
    // Keep-last-2 pruned the older checkpoints.
    let ckpts: Vec<_> = std::fs::read_dir(run.join("checkpoints")).unwrap().collect();
    assert_eq!(ckpts.len(), 2);

    // Validation loss with the adapter is lower than the base model's, by whet score.
    let score = |adapter: Option<&Path>| -> f64 {
        let model = root().join("tests/golden/models/llama");
        let valid = setup.path("valid.jsonl");
        let mut args = vec!["score", "--model", s(&model), "--data", s(&valid), "--json"];
        if let Some(a) = adapter {
            args.extend(["--adapter", s(a)]);
        }
        let report: Value = serde_json::from_str(&ok(whet(&args))).unwrap();
        report["nll"].as_f64().unwrap() / report["n_tokens"].as_f64().unwrap()
    };
    let (base, tuned) = (score(None), score(Some(&run.join("adapter"))));
    assert!(tuned < base * 0.7, "validation loss {tuned} vs base {base}");
    // And whet score agrees with the run's own last evaluation (same loss mask).
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert!((summary["final_valid_loss"].as_f64().unwrap() - tuned).abs() < 1e-4);
}

#[test]
fn stopping_and_resuming_reproduces_the_uninterrupted_losses() {
    let setup = Setup::new();
    let straight = setup.config("straight", &format!("{LORA_TRAIN}\n"));
    ok(whet(&["train", s(&straight), "--quiet"]));
    let split = setup.config("split", &format!("{LORA_TRAIN}\n"));
    let stdout = ok(whet(&["train", s(&split), "--quiet", "--stop-after", "5"]));
    assert!(stdout.contains("continue with --resume"), "{stdout}");
    ok(whet(&["train", s(&split), "--quiet", "--resume"]));
    let (a, b) = (step_losses(&setup.path("straight")), step_losses(&setup.path("split")));
    assert_eq!(a.len(), 12);
    assert_eq!(a.len(), b.len());
    for ((sa, la), (sb, lb)) in a.iter().zip(&b) {
        assert_eq!(sa, sb);
        assert!((la - lb).abs() < 1e-9, "step {sa}: {la} vs {lb}");
    }
    let adapter = |run: &str| std::fs::read(setup.path(run).join("adapter/adapter_model.safetensors")).unwrap();
    assert_eq!(adapter("straight"), adapter("split"), "the resumed run ends with the same adapter bytes");
}

#[test]
fn lora_dropout_changes_training_and_still_resumes_exactly() {
    let setup = Setup::new();
    let with_dropout = format!("{}", LORA_TRAIN.replace("alpha = 16\n", "alpha = 16\ndropout = 0.1\n"));
    let plain = setup.config("plain", LORA_TRAIN);
    let straight = setup.config("straight", &with_dropout);
    let split = setup.config("split", &with_dropout);
    ok(whet(&["train", s(&plain), "--quiet"]));
    ok(whet(&["train", s(&straight), "--quiet"]));
    ok(whet(&["train", s(&split), "--quiet", "--stop-after", "5"]));
    ok(whet(&["train", s(&split), "--quiet", "--resume"]));
    let (p, a, b) = (step_losses(&setup.path("plain")), step_losses(&setup.path("straight")), step_losses(&setup.path("split")));
    // Step 1 trains from B = 0, so dropout shows from step 2 on.
    assert!(p.iter().zip(&a).skip(1).any(|(x, y)| (x.1 - y.1).abs() > 1e-4), "dropout changed nothing");
    assert_eq!(a.len(), b.len());
    for ((step, la), (_, lb)) in a.iter().zip(&b) {
        assert!((la - lb).abs() < 1e-9, "step {step}: {la} vs {lb}");
    }
    // Evaluation never drops: scoring the final adapter gives the run's last validation loss.
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(setup.path("straight/summary.json")).unwrap()).unwrap();
    let model = root().join("tests/golden/models/llama");
    let report: Value = serde_json::from_str(&ok(whet(&[
        "score", "--model", s(&model), "--adapter", s(&setup.path("straight/adapter")), "--data", s(&setup.path("valid.jsonl")), "--json",
    ])))
    .unwrap();
    let scored = report["nll"].as_f64().unwrap() / report["n_tokens"].as_f64().unwrap();
    assert!((summary["final_valid_loss"].as_f64().unwrap() - scored).abs() < 1e-4);
}

#[test]
fn full_fine_tuning_writes_a_model_whet_can_load() {
    let setup = Setup::new();
    let config = setup.config("full", "[train]\nmax_steps = 3\nmicro_batch_size = 4\nlr = 1e-3\n");
    ok(whet(&["train", s(&config), "--quiet"]));
    let model = setup.path("full/model");
    assert!(model.join("model.safetensors").is_file() && model.join("config.json").is_file());
    ok(whet(&["score", "--model", s(&model), "--data", s(&setup.path("valid.jsonl"))]));
}

#[test]
fn cpt_trains_on_text_and_refuses_conversations() {
    let setup = Setup::new();
    let text: Vec<String> = QA.iter().map(|(q, a)| serde_json::json!({"text": format!("{q} {a}")}).to_string()).collect();
    std::fs::write(setup.path("text.jsonl"), text.join("\n")).unwrap();
    let config = setup.config("cpt", "[lora]\nr = 4\n\n[train]\nmax_steps = 2\n");
    let path = setup.path("cpt.toml");
    let t = std::fs::read_to_string(&config).unwrap().replace("method = \"sft\"", "method = \"cpt\"").replace("valid.jsonl", "text.jsonl").replace("train.jsonl", "text.jsonl");
    std::fs::write(&path, t).unwrap();
    ok(whet(&["train", s(&path), "--quiet"]));
    let err = fails(whet(&["train", s(&path), "--quiet", "--set", &format!("output_dir=\"{}\"", setup.path("cpt2").display()), "--set", &format!("data.train=\"{}\"", setup.path("train.jsonl").display())]));
    assert!(err.contains("train.jsonl:1") && err.contains("cpt trains on raw `text`"), "{err}");
}

#[test]
fn bad_inputs_are_named_and_nothing_is_overwritten() {
    let setup = Setup::new();
    let config = setup.config("bad", "[train]\nmax_steps = 1\n");
    let set_train = |name: &str| format!("data.train=\"{}\"", setup.path(name).display());

    std::fs::write(setup.path("malformed.jsonl"), format!("{}\n{{\"messages\": oops}}\n", chat("a", "b"))).unwrap();
    let err = fails(whet(&["train", s(&config), "--quiet", "--set", &set_train("malformed.jsonl")]));
    assert!(err.contains("malformed.jsonl:2"), "{err}");

    std::fs::write(setup.path("no_answer.jsonl"), r#"{"messages": [{"role": "user", "content": "hi"}]}"#).unwrap();
    let err = fails(whet(&["train", s(&config), "--quiet", "--set", &set_train("no_answer.jsonl")]));
    assert!(err.contains("no_answer.jsonl:1") && err.contains("no assistant turn"), "{err}");

    std::fs::write(setup.path("empty.jsonl"), "").unwrap();
    let err = fails(whet(&["train", s(&config), "--quiet", "--set", &set_train("empty.jsonl")]));
    assert!(err.contains("empty.jsonl") && err.contains("empty"), "{err}");

    std::fs::write(setup.path("prefs.jsonl"), r#"{"prompt": "q", "chosen": "a", "rejected": "b"}"#).unwrap();
    let err = fails(whet(&["train", s(&config), "--quiet", "--set", &set_train("prefs.jsonl")]));
    assert!(err.contains("prefs.jsonl:1") && err.contains("dpo"), "{err}");

    let err = fails(whet(&["train", s(&config), "--quiet", "--set", "train.lerning_rate=1"]));
    assert!(err.contains("lerning_rate") && err.contains("bad.toml"), "{err}");
    let err = fails(whet(&["train", s(&config), "--quiet", "--set", "train.micro_bach_size=1"]));
    assert!(err.contains("did you mean `micro_batch_size`"), "{err}");

    // A non-empty output directory is never overwritten.
    std::fs::create_dir_all(setup.path("bad")).unwrap();
    std::fs::write(setup.path("bad/notes.txt"), "keep me").unwrap();
    let err = fails(whet(&["train", s(&config), "--quiet"]));
    assert!(err.contains("not empty") && err.contains("--resume"), "{err}");
    assert_eq!(std::fs::read_to_string(setup.path("bad/notes.txt")).unwrap(), "keep me");
}

#[test]
fn tokenizer_train_writes_a_tokenizer_whet_loads() {
    let setup = Setup::new();
    let out = setup.path("tok");
    let stdout = ok(whet(&["tokenizer", "train", "--data", s(&setup.path("train.jsonl")), "--vocab-size", "320", "--min-frequency", "1", "--out", s(&out)]));
    assert!(stdout.contains("tokenizer on 32 documents"), "{stdout}");
    assert!(out.join("tokenizer.json").is_file() && out.join("tokenizer_config.json").is_file());
    let tok = whet_data::ModelTokenizer::load(&out).unwrap();
    assert!(tok.has_chat_template());
    let ids = tok.encode("The cat sleeps on the mat.", true).unwrap();
    assert_eq!(tok.decode(&ids, true).unwrap(), "The cat sleeps on the mat.");
    // It never overwrites.
    let err = fails(whet(&["tokenizer", "train", "--data", s(&setup.path("train.jsonl")), "--out", s(&out)]));
    assert!(err.contains("not empty"), "{err}");
}

#[test]
fn cpt_from_random_init_learns_and_writes_a_loadable_model() {
    let setup = Setup::new();
    let text: Vec<String> = (0..24).map(|i| serde_json::json!({"text": format!("{} {}", QA[i % 4].0, QA[i % 4].1)}).to_string()).collect();
    std::fs::write(setup.path("text.jsonl"), text.join("\n")).unwrap();
    // A model directory with only config.json and tokenizer files: no weights to read.
    let fresh = setup.path("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    let golden = root().join("tests/golden/models/llama");
    let mut cfg: Value = serde_json::from_str(&std::fs::read_to_string(golden.join("config.json")).unwrap()).unwrap();
    cfg["initializer_range"] = 0.02.into();
    std::fs::write(fresh.join("config.json"), cfg.to_string()).unwrap();
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(golden.join(f), fresh.join(f)).unwrap();
    }
    let config = setup.config("scratch", "[train]\nepochs = 4\nmicro_batch_size = 4\nlr = 3e-3\nwarmup_steps = 2\n");
    let t = std::fs::read_to_string(&config).unwrap()
        .replace(&golden.display().to_string(), &fresh.display().to_string())
        .replace("method = \"sft\"", "method = \"cpt\"\ninit = \"random\"")
        .replace("train.jsonl", "text.jsonl")
        .replace("valid.jsonl", "text.jsonl");
    std::fs::write(&config, t).unwrap();
    ok(whet(&["train", s(&config), "--quiet"]));
    let losses = step_losses(&setup.path("scratch"));
    let (first, last) = (losses[0].1, losses[losses.len() - 1].1);
    // A fresh model starts near ln(vocab) = ln(512) ≈ 6.24 and learns the repeated sentences.
    assert!((first - 512f64.ln()).abs() < 0.5, "first loss {first}");
    assert!(last < first - 1.5, "loss {first} -> {last}");
    let model = setup.path("scratch/model");
    ok(whet(&["score", "--model", s(&model), "--data", s(&setup.path("text.jsonl"))]));
    let run: Value = serde_json::from_str(&std::fs::read_to_string(setup.path("scratch/run.json")).unwrap()).unwrap();
    assert_eq!(run["init"], "random");
    // LoRA on a random model is refused up front.
    let err = fails(whet(&["train", s(&config), "--quiet", "--set", "lora.r=4", "--set", &format!("output_dir=\"{}\"", setup.path("x").display())]));
    assert!(err.contains("init = \"random\"") && err.contains("[lora]"), "{err}");
}
