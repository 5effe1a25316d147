//! Chat-template renderings against transformers' `apply_chat_template` on the golden cases made
//! by `reference/make_model_goldens.py`: multi-turn, system prompts, generation prompts, tools
//! through `tojson(indent=4)`, loop controls, Python string methods, non-ASCII and special
//! characters, and templates that raise.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use whet_data::{ChatTemplate, RenderOptions};

fn cases() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/chat_templates/cases.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn render(case: &Value) -> whet_data::Result<String> {
    let name = case["name"].as_str().unwrap();
    let template = ChatTemplate::new(case["template"].as_str().unwrap(), name)?;
    let mut special_tokens = BTreeMap::new();
    for key in ["bos_token", "eos_token"] {
        special_tokens.insert(key.to_string(), case[key].as_str().unwrap().to_string());
    }
    let opts = RenderOptions {
        add_generation_prompt: case["add_generation_prompt"].as_bool().unwrap(),
        special_tokens,
        extra: case["extra"].as_object().unwrap().clone(),
    };
    template.render(case["messages"].as_array().unwrap(), &opts)
}

#[test]
fn renderings_are_byte_identical_to_apply_chat_template() {
    let mut checked = 0;
    for case in cases().iter().filter(|c| !c["expected"].is_null()) {
        let name = case["name"].as_str().unwrap();
        let got = render(case).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, case["expected"].as_str().unwrap(), "{name}");
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} rendering cases");
}

#[test]
fn templates_that_raise_report_their_message() {
    let mut checked = 0;
    for case in cases().iter().filter(|c| c["expected"].is_null()) {
        let name = case["name"].as_str().unwrap();
        let err = render(case).expect_err(name).to_string();
        let wanted = case["error_contains"].as_str().unwrap();
        assert!(err.contains(wanted), "{name}: {err:?} lacks {wanted:?}");
        assert!(err.contains(name), "{name}: the error does not say which template: {err}");
        checked += 1;
    }
    assert!(checked >= 3);
}
