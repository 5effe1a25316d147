//! The human review loop end to end, in a real browser: `whet eval` compares the bundled base
//! model with a served variant (a mock OpenAI-compatible endpoint on loopback), `whet review
//! export` writes the blind review page, headless Chromium (Debian's `chromium`; `.ci/run`
//! installs it) plays two reviewers who click ratings, hallucination flags and better-answer
//! choices and download their labels, and `whet review import` turns the labels into win rates,
//! agreement and preference pairs that a DPO run then trains on. Bad labels are refused.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{root, s, whet};
use headless_chrome::protocol::cdp::Browser as Cdp;
use headless_chrome::{Browser, LaunchOptions, Tab};
use serde_json::{json, Value};

const SERVED_ANSWER: &str = "The WX-4 is a weather station.";

fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// `whet eval` of base vs served on a few test questions and glossary terms, then `whet review
/// export`; returns the review directory.
fn review_set(dir: &Path) -> PathBuf {
    let (url, _) = common::mock_endpoint(|_| SERVED_ANSWER.into());
    let data = root().join("assets/sample-data");
    let config = format!(
        r#"output_dir = "eval"
max_new_tokens = 16

[[variants]]
name = "base"
model = "{model}"

[[variants]]
name = "served"
endpoint = "{url}"
model_name = "served"

[[eval_sets]]
name = "test"
kind = "generation"
path = "{test}"
metrics = ["f1"]
limit = 4

[[eval_sets]]
name = "glossary"
kind = "glossary"
path = "{glossary}"
limit = 3
"#,
        model = s(&root().join("assets/base-model")),
        test = s(&data.join("test.jsonl")),
        glossary = s(&data.join("glossary.jsonl")),
    );
    std::fs::write(dir.join("eval.toml"), config).unwrap();
    let run = whet(&["eval", s(&dir.join("eval.toml")), "--quiet"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let review = dir.join("review");
    let run = whet(&["review", "export", s(&dir.join("eval")), "--a", "base", "--b", "served", "--seed", "7", "--out", s(&review)]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("test            4 items") && stdout.contains("glossary        3 items"), "{stdout}");
    review
}

/// Debian's chromium, or `WHET_CHROMIUM`.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("WHET_CHROMIUM") {
        return p.into();
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("no chromium: install Debian's `chromium` (bash .ci/run does) or set WHET_CHROMIUM to a Chromium binary")
}

/// A browser with its own profile (so its own local storage), saving downloads to `downloads`.
fn browser(profile: &Path) -> Browser {
    let options = LaunchOptions::default_builder()
        .path(Some(chromium()))
        .headless(true)
        .sandbox(false) // CI runs as root, where Chromium's sandbox cannot start
        .user_data_dir(Some(profile.to_path_buf()))
        .window_size(Some((1200, 900)))
        .idle_browser_timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    Browser::new(options).expect("starting headless chromium")
}

fn open(browser: &Browser, page: &Path, downloads: &Path) -> std::sync::Arc<Tab> {
    let tab = browser.new_tab().unwrap();
    tab.call_method(Cdp::SetDownloadBehavior {
        behavior: Cdp::SetDownloadBehaviorBehaviorOption::Allow,
        browser_context_id: None,
        download_path: Some(s(downloads).to_string()),
        events_enabled: None,
    })
    .unwrap();
    tab.navigate_to(&format!("file://{}", s(page))).unwrap().wait_until_navigated().unwrap();
    tab.wait_for_element("#download").unwrap();
    tab
}

fn click(tab: &Tab, selector: &str) {
    tab.wait_for_element(selector).unwrap_or_else(|e| panic!("{selector}: {e}")).click().unwrap();
}

fn checked(tab: &Tab, id: &str) -> bool {
    tab.evaluate(&format!("document.getElementById({}).checked", json!(id)), false).unwrap().value == Some(json!(true))
}

/// Waits for a finished download named `name`.
fn downloaded(downloads: &Path, name: &str) -> Vec<Value> {
    let path = downloads.join(name);
    let start = Instant::now();
    while !path.is_file() {
        assert!(start.elapsed() < Duration::from_secs(20), "no {name} in {}", downloads.display());
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(200));
    read_jsonl(&path)
}

/// What one reviewer does to one item: prefer the served answer, the base answer, or a tie.
#[derive(Clone, Copy)]
enum Pick {
    Served,
    Base,
    Tie,
}

/// Clicks `picks[i]` on item i as reviewer `name`, rates the first item's answers (served 4,
/// base 2) and flags the base answer of the second as a hallucination; downloads the labels.
fn review(browser: &Browser, page: &Path, downloads: &Path, name: &str, items: &[Value], picks: &[Pick]) -> Vec<Value> {
    let tab = open(browser, page, downloads);
    click(&tab, "#reviewer");
    tab.type_str(name).unwrap();
    for (item, pick) in items.iter().zip(picks) {
        let id = item["id"].as_str().unwrap();
        let served_side = served_side(item);
        let value = match pick {
            Pick::Served => served_side.to_string(),
            Pick::Base => (3 - served_side).to_string(),
            Pick::Tie => "tie".into(),
        };
        click(&tab, &format!("#better-{id}-{value}"));
    }
    let (first, second) = (items[0]["id"].as_str().unwrap(), items[1]["id"].as_str().unwrap());
    click(&tab, &format!("#rating{}-{first}-4", served_side(&items[0])));
    click(&tab, &format!("#rating{}-{first}-2", 3 - served_side(&items[0])));
    click(&tab, &format!("#halluc{}-{second}", 3 - served_side(&items[1])));
    click(&tab, "#download");
    downloaded(downloads, &format!("labels-{name}.jsonl"))
}

/// Which answer (1 or 2) is the served variant's.
fn served_side(item: &Value) -> usize {
    if item["answers"][0] == SERVED_ANSWER { 1 } else { 2 }
}

#[test]
fn reviewers_label_in_a_real_browser_and_the_labels_become_win_rates_and_dpo_pairs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let review_dir = review_set(dir);
    let page = review_dir.join("review.html");
    let items = read_jsonl(&review_dir.join("items.jsonl"));
    assert_eq!(items.len(), 7);
    // Blind: the page names no variant.
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("served") && !html.contains("\"base\""), "the page gives away a variant name");

    use Pick::*;
    let downloads = dir.join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let ana_browser = browser(&dir.join("profile-ana"));
    let ana = review(&ana_browser, &page, &downloads, "ana", &items, &[Served, Served, Served, Served, Base, Tie]);
    assert_eq!(ana.len(), 6, "{ana:?}");
    let first = items[0]["id"].as_str().unwrap();
    let a0 = ana.iter().find(|l| l["id"] == first).unwrap();
    let side = served_side(&items[0]);
    assert_eq!(a0["better"], side.to_string());
    assert_eq!(a0["ratings"][side - 1], 4);
    assert_eq!(a0["ratings"][2 - side], 2);

    // Reloading the page keeps the labels (local storage): nothing a reviewer did is lost.
    let tab = open(&ana_browser, &page, &downloads);
    assert!(checked(&tab, &format!("better-{first}-{side}")), "the choice was lost on reload");
    assert_eq!(tab.evaluate("document.getElementById('reviewer').value", false).unwrap().value, Some(json!("ana")));
    drop(ana_browser);

    let bo = review(&browser(&dir.join("profile-bo")), &page, &downloads, "bo", &items, &[Served, Served, Served, Base, Tie]);
    assert_eq!(bo.len(), 5);

    let out = dir.join("imported");
    let run = whet(&["review", "import", s(&review_dir), s(&downloads.join("labels-ana.jsonl")), s(&downloads.join("labels-bo.jsonl")), "--out", s(&out)]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.join("review-report.json")).unwrap()).unwrap();
    // Majorities: items 0-2 served (2 votes), item 3 split (tie), item 4 base (1 vote to a tie),
    // item 5 a tie; item 6 unlabelled.
    let all = report["win_rates"].as_array().unwrap().iter().find(|w| w["set"] == "all").unwrap();
    assert_eq!(all["wins"], json!([1, 3]), "{all}");
    assert_eq!(all["ties"], 2);
    assert!((all["second_win_rate"].as_f64().unwrap() - 0.75).abs() < 1e-12);
    assert!(all["lower"].as_f64().unwrap() < 0.75 && all["upper"].as_f64().unwrap() > 0.75);
    assert_eq!(report["items_labelled"], 6);
    assert_eq!(report["reviewers"], json!(["ana", "bo"]));
    let served = report["ratings"].as_array().unwrap().iter().find(|r| r["variant"] == "served").unwrap();
    assert_eq!(served["mean_rating"][0], 4.0);
    let base = report["ratings"].as_array().unwrap().iter().find(|r| r["variant"] == "base").unwrap();
    assert_eq!(base["hallucination_flags"], 2);
    // Agreement: the two reviewers share items 0-4 and agree on 0-2.
    let pair = &report["agreement"]["pairs"][0];
    assert_eq!(pair["items"], 5);
    assert!((pair["cohen"]["observed"].as_f64().unwrap() - 0.6).abs() < 1e-12, "{pair}");
    assert_eq!(report["agreement"]["fleiss_items"], 5);
    assert!(stdout.contains("| all | 3 | 1 | 2 | 0.75 ["), "{stdout}");

    // The preference pairs: the majority's answer chosen, in a layout the DPO recipe trains on.
    let pairs = read_jsonl(&out.join("preferences.jsonl"));
    assert_eq!(pairs.len(), 4);
    assert_eq!(pairs.iter().filter(|p| p["chosen"][0]["content"] == SERVED_ANSWER).count(), 3);
    assert!(pairs.iter().all(|p| p["prompt"][0]["role"] == "user" && p["provenance"]["review"] == report["review_id"]));
    let labels = read_jsonl(&out.join("labels.jsonl"));
    assert_eq!(labels.len(), 11);
    assert!(labels.iter().any(|l| l["better"] == "served" && l["ratings"]["served"] == 4));
    let dpo = whet(&[
        "train", s(&root().join("configs/dpo-lora.toml")), "--quiet",
        "--set", &format!("model={}", s(&root().join("assets/base-model"))),
        "--set", &format!("data.train={}", s(&out.join("preferences.jsonl"))),
        "--set", &format!("output_dir={}", s(&dir.join("dpo"))),
        "--set", "train.max_steps=2",
        "--set", "train.eval_every=0",
    ]);
    assert!(dpo.status.success(), "{}", String::from_utf8_lossy(&dpo.stderr));
    assert!(dir.join("dpo/adapter/adapter_model.safetensors").is_file());
}

#[test]
fn bad_labels_are_refused_naming_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let review_dir = review_set(dir);
    let key: Value = serde_json::from_str(&std::fs::read_to_string(review_dir.join("key.json")).unwrap()).unwrap();
    let (review, id) = (key["review_id"].as_str().unwrap(), key["items"][0]["id"].as_str().unwrap());
    let good = json!({"review": review, "id": id, "reviewer": "ana", "better": "1", "ratings": [4, null], "hallucination": [false, true], "comment": ""});
    let refuse = |lines: &[Value], want: &str| {
        let path = dir.join("labels.jsonl");
        std::fs::write(&path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
        let run = whet(&["review", "import", s(&review_dir), s(&path), "--out", s(&dir.join("out"))]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success() && stderr.contains(want), "want `{want}` in:\n{stderr}");
        assert!(!dir.join("out").exists(), "output written for bad labels");
    };
    let with = |key: &str, value: Value| {
        let mut l = good.clone();
        l[key] = value;
        l
    };
    refuse(&[good.clone(), with("id", json!("test-999"))], "labels.jsonl:2: unknown item id `test-999`");
    refuse(&[with("review", json!("0000000000000000"))], "labels.jsonl:1: a label of review set 0000000000000000");
    refuse(&[good.clone(), good.clone()], "labels.jsonl:2: ana labelled item");
    refuse(&[with("ratings", json!([7, null]))], "labels.jsonl:1: rating 7 is out of range");
    refuse(&[with("better", json!("A"))], "labels.jsonl:1: `better` is \"A\"");
    refuse(&[with("reviewer", json!(" "))], "labels.jsonl:1: `reviewer` is empty");

    // Export: unknown variants and sets, and an existing review directory.
    let eval = dir.join("eval");
    let export = |args: &[&str], want: &str| {
        let mut all = vec!["review", "export", s(&eval)];
        all.extend_from_slice(args);
        let run = whet(&all);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success() && stderr.contains(want), "want `{want}` in:\n{stderr}");
    };
    let new = dir.join("new");
    export(&["--a", "base", "--b", "dpo", "--out", s(&new)], "no variant `dpo`; this eval has base, served");
    export(&["--a", "base", "--b", "served", "--sets", "nope", "--out", s(&new)], "no eval set `nope`");
    export(&["--a", "base", "--b", "served", "--out", s(&review_dir)], "already exists and is not empty");
    assert!(!new.exists());
}
