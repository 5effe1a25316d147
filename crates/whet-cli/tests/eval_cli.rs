//! `whet eval` end to end on the bundled assets: a short `whet train` of `configs/quickstart.toml`
//! on the training questions about six glossary terms gives an adapter; `whet eval` then compares
//! the bundled base model with base + adapter on the held-out questions about those terms
//! (exact match, F1), their glossary definitions (hallucination index), a multiple-choice set
//! built from the definitions, a few general questions (forgetting check) and perplexity, and
//! the fine-tuned variant must have the higher HI and exact match, with intervals reported and
//! every number traceable to its samples. Bad inputs are refused before any model loads.

mod common;

use std::path::{Path, PathBuf};

use common::{root, s, whet};
use serde_json::{json, Value};

/// How many glossary terms the short fine-tuning learns.
const TERMS: usize = 6;
const TRAIN_STEPS: &str = "80";

fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn write_jsonl(path: &Path, records: &[Value]) {
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(path, text).unwrap();
}

/// The first `TERMS` glossary terms and the sample data's questions about them.
struct Data {
    train: PathBuf,
    test: PathBuf,
    glossary: PathBuf,
    choices: PathBuf,
    general: PathBuf,
}

fn data(dir: &Path) -> Data {
    let assets = root().join("assets/sample-data");
    let glossary: Vec<Value> = read_jsonl(&assets.join("glossary.jsonl")).into_iter().take(TERMS).collect();
    let terms: Vec<String> = glossary.iter().map(|t| t["term"].as_str().unwrap().to_string()).collect();
    let about = |r: &Value| terms.iter().any(|t| r["messages"][0]["content"].as_str().unwrap().contains(t.as_str()));
    let d = Data {
        train: dir.join("train.jsonl"),
        test: dir.join("test.jsonl"),
        glossary: dir.join("glossary.jsonl"),
        choices: dir.join("choices.jsonl"),
        general: dir.join("general.jsonl"),
    };
    write_jsonl(&d.train, &read_jsonl(&assets.join("train.jsonl")).into_iter().filter(about).collect::<Vec<_>>());
    write_jsonl(&d.test, &read_jsonl(&assets.join("test.jsonl")).into_iter().filter(about).collect::<Vec<_>>());
    write_jsonl(&d.glossary, &glossary);
    write_jsonl(&d.general, &read_jsonl(&assets.join("general.jsonl")).into_iter().take(10).collect::<Vec<_>>());
    // Which definition is the term's: the right one and the next two terms' definitions.
    let choices: Vec<Value> = (0..TERMS)
        .map(|i| {
            let defs: Vec<&Value> = (0..3).map(|k| &glossary[(i + k) % TERMS]["definition"]).collect();
            let gold = i % 3;
            let mut order = vec![defs[1], defs[2]];
            order.insert(gold, defs[0]);
            json!({"question": format!("What is the {} on the Corvid WX-4?", terms[i]), "choices": order, "gold": gold})
        })
        .collect();
    write_jsonl(&d.choices, &choices);
    d
}

/// The eval config; the contamination check reads the training data named by the run's run.json.
fn config(dir: &Path, d: &Data, run: &Path) -> PathBuf {
    let model = root().join("assets/base-model");
    let adapter = run.join("adapter");
    let text = format!(
        r#"output_dir = "report"
training_run = "{run}"
max_new_tokens = 32

[[variants]]
name = "base"
model = "{model}"

[[variants]]
name = "tuned"
model = "{model}"
adapter = "{adapter}"

[[eval_sets]]
name = "test"
kind = "generation"
path = "{test}"
metrics = ["exact_match", "f1", "rougeL", "bleu", "chrf"]

[[eval_sets]]
name = "glossary"
kind = "glossary"
path = "{glossary}"
prompt = "Can you define the term {{term}} for the Corvid WX-4?"
judge = "f1"
threshold = 0.5

[[eval_sets]]
name = "definitions"
kind = "multiple_choice"
path = "{choices}"

[[eval_sets]]
name = "general"
kind = "generation"
path = "{general}"
metrics = ["f1"]
general = true

[[eval_sets]]
name = "held-out"
kind = "perplexity"
path = "{test}"
"#,
        run = s(run),
        model = s(&model),
        adapter = s(&adapter),
        test = s(&d.test),
        glossary = s(&d.glossary),
        choices = s(&d.choices),
        general = s(&d.general),
    );
    let path = dir.join("eval.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn metric<'a>(report: &'a Value, set: &str, metric: &str) -> &'a Value {
    let set = report["sets"].as_array().unwrap().iter().find(|x| x["name"] == set).unwrap();
    set["metrics"].as_array().unwrap().iter().find(|m| m["metric"] == metric).unwrap()
}

#[test]
fn fine_tuned_adapter_beats_the_base_model_on_hi_and_exact_match_with_intervals() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let d = data(dir);
    let sft = dir.join("sft");
    let train = whet(&[
        "train", s(&root().join("configs/quickstart.toml")), "--quiet",
        "--set", &format!("model={}", s(&root().join("assets/base-model"))),
        "--set", &format!("data.train={}", s(&d.train)),
        "--set", &format!("data.valid={}", s(&d.test)),
        "--set", &format!("output_dir={}", s(&sft)),
        "--set", &format!("train.max_steps={TRAIN_STEPS}"),
        "--set", "train.micro_batch_size=1",
        "--set", "train.warmup_steps=2",
        "--set", "train.eval_every=0",
        "--set", "data.max_seq_len=128",
    ]);
    assert!(train.status.success(), "{}", String::from_utf8_lossy(&train.stderr));

    let out = dir.join("report");
    let run = whet(&["eval", s(&config(dir, &d, &sft)), "--quiet"]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    for line in ["test / exact_match", "glossary / HI (share correct)", "definitions / acc_norm", "held-out / perplexity", "95% bootstrap interval", "contamination: test: 6/6"] {
        assert!(stdout.contains(line), "no `{line}` in:\n{stdout}");
    }

    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["baseline"], "base");
    for (set, name) in [("test", "exact_match"), ("glossary", "hi")] {
        let results = metric(&report, set, name)["results"].as_array().unwrap();
        let value = |i: usize, key: &str| results[i][key].as_f64().unwrap();
        for i in 0..2 {
            assert!(value(i, "lower") <= value(i, "value") && value(i, "value") <= value(i, "upper"), "{set}/{name}: {}", results[i]);
        }
        assert!(value(1, "value") > value(0, "value"), "{set}/{name}: tuned is not higher: {results:?}");
        let c = &results[1]["vs_baseline"];
        assert!(c["p_value"].as_f64().unwrap() > 0.0 && c["significant"].is_boolean(), "{c}");
    }
    // Perplexity: the tuned model is far better on the questions it was trained about.
    let ppl = metric(&report, "held-out", "perplexity")["results"].as_array().unwrap();
    assert!(ppl[1]["value"].as_f64() < ppl[0]["value"].as_f64());

    // Every number traces to its samples: one record per eval record, scores that average to it.
    for set in ["test", "glossary", "definitions", "general", "held-out"] {
        for variant in ["base", "tuned"] {
            let samples = read_jsonl(&out.join(format!("samples/{set}/{variant}.jsonl")));
            let records = report["sets"].as_array().unwrap().iter().find(|x| x["name"] == set).unwrap()["records"].as_u64().unwrap();
            assert_eq!(samples.len() as u64, records, "{set}/{variant}");
            assert!(samples.iter().all(|x| x["prompt"].is_string() && x["scores"].is_object() && x["line"].is_u64()));
        }
    }
    let samples = read_jsonl(&out.join("samples/test/tuned.jsonl"));
    let em: f64 = samples.iter().map(|x| x["scores"]["exact_match"].as_f64().unwrap()).sum::<f64>() / samples.len() as f64;
    assert!((em - metric(&report, "test", "exact_match")["results"][1]["value"].as_f64().unwrap()).abs() < 1e-12);
    assert!(samples[0]["prompt"].as_str().unwrap().starts_with("<|im_start|>user\n"), "{}", samples[0]);
    let glossary = report["sets"].as_array().unwrap().iter().find(|x| x["name"] == "glossary").unwrap();
    assert_eq!(glossary["terms"].as_array().unwrap().len(), TERMS);

    // The report names its data exactly, gives corpus-level BLEU and chrF, and has an HTML page
    // with a chart per metric and the per-term table.
    let test_set = report["sets"].as_array().unwrap().iter().find(|x| x["name"] == "test").unwrap();
    assert!(test_set["sha256"].as_str().unwrap().len() == 64 && test_set["sha256"].as_str().unwrap().chars().all(|c| c.is_ascii_hexdigit()));
    for name in ["bleu", "chrf"] {
        let corpus = metric(&report, "test", name)["results"][1]["corpus"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&corpus), "{name}: corpus {corpus}");
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), report["sets"].as_array().unwrap().iter().map(|x| x["metrics"].as_array().unwrap().len()).sum::<usize>());
    assert!(html.contains("<td>drift window</td>") && html.contains("HI (share correct)"), "report.html lacks the per-term table");

    // Forgetting check and contamination are reported.
    assert_eq!(report["forgetting"]["sets"], json!(["general"]));
    assert_eq!(report["contamination"]["training_files"], json!([s(&d.train)]));
    let contamination = &report["contamination"]["sets"];
    assert_eq!(contamination[0][0], "test");
    assert_eq!(contamination[0][1]["contaminated"], 6);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for part in ["## glossary (glossary, 6 records)", "| drift window |", "## Forgetting check", "## Contamination", "significant"] {
        assert!(md.contains(part), "no `{part}` in report.md:\n{md}");
    }

    // An existing, non-empty output directory is refused.
    let again = whet(&["eval", s(&dir.join("eval.toml"))]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success() && stderr.contains("already exists and is not empty"), "{stderr}");
}

#[test]
fn bad_eval_inputs_are_refused_naming_file_and_line_or_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let d = data(dir);
    let model = root().join("assets/base-model");
    let cfg = |sets: &str| {
        let text = format!("output_dir = \"out\"\n\n[[variants]]\nname = \"base\"\nmodel = \"{}\"\n\n{sets}", s(&model));
        let path = dir.join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let run = whet(&["eval", s(&path), "--quiet"]);
        assert!(!run.status.success());
        assert!(!dir.join("out").exists(), "an output directory was created for a bad config");
        String::from_utf8_lossy(&run.stderr).to_string()
    };

    let e = cfg(&format!("[[eval_sets]]\nname = \"t\"\nkind = \"generation\"\npath = \"{}\"\nmetrics = [\"meteor\"]\n", s(&d.test)));
    assert!(e.contains("bad.toml") && e.contains("line 11") && e.contains("unknown variant `meteor`"), "{e}");

    let no_definition = dir.join("no_def.jsonl");
    std::fs::write(&no_definition, "{\"term\": \"drift window\", \"definition\": \"A span.\"}\n{\"term\": \"gust latch\"}\n").unwrap();
    let e = cfg(&format!("[[eval_sets]]\nname = \"g\"\nkind = \"glossary\"\npath = \"{}\"\n", s(&no_definition)));
    assert!(e.contains("no_def.jsonl:2: the term `gust latch` has no `definition`"), "{e}");

    let missing = dir.join("missing.jsonl");
    std::fs::write(&missing, "{\"question\": \"Which?\", \"choices\": [\"a\", \"b\"]}\n").unwrap();
    let e = cfg(&format!("[[eval_sets]]\nname = \"m\"\nkind = \"multiple_choice\"\npath = \"{}\"\n", s(&missing)));
    assert!(e.contains("missing.jsonl:1: a multiple_choice record needs `gold`"), "{e}");

    let e = cfg(&format!("[[eval_sets]]\nname = \"t\"\nkind = \"generation\"\npath = \"{}\"\nthreshold = 0.5\n", s(&d.test)));
    assert!(e.contains("eval_sets[0] (`t`): `threshold` does not apply to kind = \"generation\""), "{e}");

    let e = cfg(&format!("[[eval_sets]]\nname = \"t\"\nkind = \"generation\"\npath = \"{}\"\n\n[[variants]]\nname = \"x\"\nmodel = \"{}\"\nadapter = \"{}\"\n", s(&d.test), s(&model), s(dir)));
    assert!(e.contains("variants[1] (`x`)") && e.contains("not a PEFT adapter directory"), "{e}");

    let e = cfg(&format!("[pairwise_judge]\nendpoint = \"http://127.0.0.1:9/v1\"\nmodel = \"j\"\n\n[[eval_sets]]\nname = \"t\"\nkind = \"generation\"\npath = \"{}\"\n", s(&d.test)));
    assert!(e.contains("`pairwise_judge` compares variants with the first (the baseline); add a second [[variants]]"), "{e}");

    // An adapter for another model fails when it loads, after the base variant has run: still
    // nothing is written (`cfg` checks that no output directory exists).
    let other = root().join("tests/golden/adapters/llama_lora_r4");
    let e = cfg(&format!("[[eval_sets]]\nname = \"t\"\nkind = \"perplexity\"\npath = \"{}\"\n\n[[variants]]\nname = \"x\"\nmodel = \"{}\"\nadapter = \"{}\"\n", s(&d.test), s(&model), s(&other)));
    assert!(e.contains("adapter_model.safetensors"), "{e}");
}

#[test]
fn a_served_variant_and_an_llm_judge_work_through_endpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let d = data(dir);
    // The served model always gives the drift window's definition. The judge calls a drift
    // window answer correct, a gust latch one unsupported, the rest contradicting the reference.
    let (url, seen) = common::mock_endpoint(|request| {
        const DRIFT: &str = "A drift window is the ten-minute span the WX-4 averages wind readings over.";
        if request["model"] == "served" {
            return DRIFT.into();
        }
        if request["model"] == "pairwise" {
            // Prefers the served answer wherever it is shown.
            let text = request["messages"][1]["content"].as_str().unwrap();
            return if text.contains(&format!("Answer A: {DRIFT}")) { "A".into() } else { "B".into() };
        }
        let question = request["messages"][1]["content"].as_str().unwrap();
        if question.contains("Term: drift window") {
            "CORRECT".into()
        } else if question.contains("Term: gust latch") {
            "Unsupported: the reference says nothing about that.".into()
        } else {
            "CONTRADICTS".into()
        }
    });
    let text = format!(
        r#"output_dir = "out"
max_new_tokens = 8

[[variants]]
name = "base"
model = "{model}"

[[variants]]
name = "served"
endpoint = "{url}"
model_name = "served"

[pairwise_judge]
endpoint = "{url}"
model = "pairwise"
sets = ["test"]

[[eval_sets]]
name = "glossary"
kind = "glossary"
path = "{glossary}"
judge = "llm"
judge_endpoint = "{url}"
judge_model = "grader"

[[eval_sets]]
name = "test"
kind = "generation"
path = "{test}"
metrics = ["exact_match"]
"#,
        model = s(&root().join("assets/base-model")),
        glossary = s(&d.glossary),
        test = s(&d.test),
    );
    std::fs::write(dir.join("llm.toml"), text).unwrap();
    let run = whet(&["eval", s(&dir.join("llm.toml")), "--quiet"]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("out/report.json")).unwrap()).unwrap();
    let value = |set: &str, name: &str, v: usize| metric(&report, set, name)["results"][v]["value"].as_f64().unwrap();
    // The judge grades the base model's answers by term, whatever they say.
    let (hi, bad) = (value("glossary", "hi", 0), value("glossary", "hallucination_rate", 0));
    assert!((hi - 1.0 / TERMS as f64).abs() < 1e-12 && (bad - (TERMS - 1) as f64 / TERMS as f64).abs() < 1e-12, "{hi} {bad}");
    // The served model's one answer is exactly right for the drift window test question.
    assert!((value("test", "exact_match", 1) - 1.0 / TERMS as f64).abs() < 1e-12);
    // The pairwise judge prefers the served answer in both orders: a win on every test record
    // (the baseline against itself is 0.5); the glossary set is not judged (`sets`).
    assert_eq!((value("test", "pairwise_win_rate", 0), value("test", "pairwise_win_rate", 1)), (0.5, 1.0));
    assert!(metric(&report, "test", "pairwise_win_rate")["results"][1]["vs_baseline"]["significant"].is_boolean());
    let glossary_metrics = &report["sets"].as_array().unwrap().iter().find(|x| x["name"] == "glossary").unwrap()["metrics"];
    assert!(glossary_metrics.as_array().unwrap().iter().all(|m| m["metric"] != "pairwise_win_rate"));
    let served_test = read_jsonl(&dir.join("out/samples/test/served.jsonl"));
    assert!(served_test.iter().all(|x| x["pairwise"]["outcome"] == "win" && x["pairwise"]["vs"] == "base" && x["pairwise"]["replies"].as_array().unwrap().len() == 2), "{}", served_test[0]);
    let requests = seen.lock().unwrap();
    let judged: Vec<&Value> = requests.iter().filter(|r| r["model"] == "grader").collect();
    assert_eq!(judged.len(), 2 * TERMS);
    assert_eq!(requests.iter().filter(|r| r["model"] == "served").count(), 2 * TERMS);
    let pairwise: Vec<&Value> = requests.iter().filter(|r| r["model"] == "pairwise").collect();
    assert_eq!(pairwise.len(), 2 * TERMS, "both orders for each test record");
    assert!(pairwise[0]["messages"][1]["content"].as_str().unwrap().contains("Reference answer: "));
    assert!(requests.iter().all(|r| r["temperature"] == 0.0));
    assert!(judged[0]["messages"][1]["content"].as_str().unwrap().contains("Reference definition: A drift window is"));
    let samples = read_jsonl(&dir.join("out/samples/glossary/base.jsonl"));
    assert_eq!(samples[1]["grade"], "unsupported");
    let served = read_jsonl(&dir.join("out/samples/glossary/served.jsonl"));
    assert!(served[0]["prompt"].as_str().unwrap().contains("\"role\":\"user\""), "{}", served[0]);
    let md = std::fs::read_to_string(dir.join("out/report.md")).unwrap();
    assert!(md.contains("| 1 | drift window | ✓ correct | ✓ correct |") && md.contains("contradicted or unsupported"), "{md}");

    // A served variant has no log-likelihoods: a perplexity set is refused up front.
    let ppl = std::fs::read_to_string(dir.join("llm.toml")).unwrap().replace("output_dir = \"out\"", "output_dir = \"out2\"")
        + &format!("\n[[eval_sets]]\nname = \"ppl\"\nkind = \"perplexity\"\npath = \"{}\"\n", s(&d.test));
    std::fs::write(dir.join("ppl.toml"), ppl).unwrap();
    let run = whet(&["eval", s(&dir.join("ppl.toml")), "--quiet"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains("variants[1] (`served`): a served variant cannot be scored on `ppl`"), "{stderr}");
}
