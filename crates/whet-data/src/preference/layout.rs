//! The layouts a preference record comes in, parsed into [`Record::Preference`].
//!
//! - TRL's: `prompt`, `chosen`, `rejected`, either all plain strings ("standard") or all lists of
//!   messages ("conversational"). Without `prompt` (or with `"prompt": null`) the prompt is
//!   implicit: `chosen` and `rejected` are whole conversations (or texts) and the prompt is their
//!   longest shared beginning, exactly as TRL's `extract_prompt` (trl/data_utils.py) finds it:
//!   messages compared whole, strings compared character by character with a space just before
//!   the first difference left to the answers; when one side is a prefix of the other, the prompt
//!   is all but the last element of the shorter one.
//! - OpenAI's DPO fine-tuning layout: `input.messages` is the prompt, `preferred_output` and
//!   `non_preferred_output` each hold exactly one assistant message.
//!
//! This is layout only: a record that parses may still be unusable for training (identical or
//! empty answers); `PreferencePair::from_record` checks that. Errors are sentences without file
//! and line (the caller adds them).
//!
//! Not supported: a string `prompt` with message-list answers (TRL's `DPOTrainer` cannot tell
//! which layout such a record is in), multi-part (image) content.

use serde_json::{Map, Value};

use crate::formats::{messages, take, Message, Record};
use crate::records::json_kind;

/// TRL's layout (`chosen` and `rejected` present; `prompt` optional).
pub(crate) fn trl(obj: &mut Map<String, Value>) -> Result<Record, String> {
    let chosen = take(obj, "chosen")?;
    let rejected = take(obj, "rejected")?;
    let prompt = match obj.remove("prompt") {
        None | Some(Value::Null) => None,
        Some(p) => Some(p),
    };
    let plain = is_plain(&chosen, "chosen")?;
    if plain != is_plain(&rejected, "rejected")? {
        return Err(mixed("chosen", &chosen, "rejected", &rejected));
    }
    let Some(prompt) = prompt else {
        return implicit(chosen, rejected, plain);
    };
    if plain != is_plain(&prompt, "prompt")? {
        let hint = if plain {
            ""
        } else {
            "; if `chosen` and `rejected` are whole conversations that begin with the prompt, drop `prompt` \
             (their shared leading messages are then the prompt)"
        };
        return Err(format!("{}{hint}", mixed("prompt", &prompt, "chosen", &chosen)));
    }
    if plain {
        return Ok(Record::Preference {
            prompt: vec![turn("user", string(prompt))],
            chosen: vec![turn("assistant", string(chosen))],
            rejected: vec![turn("assistant", string(rejected))],
            plain: true,
        });
    }
    let prompt = messages(prompt, "prompt", "role", "content")?;
    let chosen = messages(chosen, "chosen", "role", "content")?;
    let rejected = messages(rejected, "rejected", "role", "content")?;
    for (field, answer) in [("chosen", &chosen), ("rejected", &rejected)] {
        if !prompt.is_empty() && answer.len() > prompt.len() && answer[..prompt.len()] == prompt[..] {
            return Err(format!(
                "`{field}` repeats the prompt's {} message(s) before its answer, so the prompt would appear twice; \
                 give only the answer in `chosen` and `rejected`, or drop `prompt` (their shared leading messages \
                 are then the prompt)",
                prompt.len()
            ));
        }
    }
    Ok(Record::Preference {
        prompt,
        chosen,
        rejected,
        plain: false,
    })
}

/// OpenAI's DPO fine-tuning layout.
pub(crate) fn openai(obj: &mut Map<String, Value>) -> Result<Record, String> {
    let mut input = match take(obj, "input")? {
        Value::Object(m) => m,
        other => {
            return Err(format!(
                "`input` must be an object with `messages`, found {}",
                json_kind(&other)
            ))
        }
    };
    let raw = take(&mut input, "messages").map_err(|_| "`input` must contain `messages`".to_string())?;
    let prompt = messages(raw, "input.messages", "role", "content")?;
    if prompt.is_empty() {
        return Err("`input.messages` is empty: it holds the prompt the two outputs answer".into());
    }
    let chosen = one_assistant(take(obj, "preferred_output")?, "preferred_output")?;
    let rejected = one_assistant(take(obj, "non_preferred_output")?, "non_preferred_output")?;
    // A TRL-style `prompt` beside `input.messages` is accepted only when it says the same thing.
    match obj.remove("prompt") {
        None | Some(Value::Null) => {}
        Some(p) => {
            let same = match p {
                Value::String(s) => prompt.len() == 1 && prompt[0].role == "user" && prompt[0].content == s,
                other => messages(other, "prompt", "role", "content")? == prompt,
            };
            if !same {
                return Err(
                    "`prompt` and `input.messages` are different prompts; OpenAI's layout keeps the prompt \
                            in `input.messages` only: remove `prompt`"
                        .into(),
                );
            }
        }
    }
    Ok(Record::Preference {
        prompt,
        chosen,
        rejected,
        plain: false,
    })
}

fn one_assistant(v: Value, field: &str) -> Result<Vec<Message>, String> {
    let msgs = messages(v, field, "role", "content")?;
    match msgs.as_slice() {
        [m] if m.role == "assistant" => Ok(msgs),
        [m] => Err(format!(
            "`{field}[0]` has role {:?}; OpenAI's DPO layout expects one assistant message",
            m.role
        )),
        _ => Err(format!(
            "`{field}` must hold exactly one assistant message (the conversation goes in `input.messages`), found {}",
            msgs.len()
        )),
    }
}

/// The implicit-prompt case: `chosen` and `rejected` share their beginning.
fn implicit(chosen: Value, rejected: Value, plain: bool) -> Result<Record, String> {
    if plain {
        let (c, r) = (string(chosen), string(rejected));
        let c_chars: Vec<char> = c.chars().collect();
        let r_chars: Vec<char> = r.chars().collect();
        let n = shared_prefix(&c_chars, &r_chars, |c| *c == ' ');
        if n == 0 {
            return Err(no_shared_prompt(if c == r {
                "they are identical single texts"
            } else {
                "they differ from the first character"
            }));
        }
        let split = |s: &str| {
            let at = s.char_indices().nth(n).map_or(s.len(), |(i, _)| i);
            (s[..at].to_string(), s[at..].to_string())
        };
        let (prompt, chosen) = split(&c);
        let (_, rejected) = split(&r);
        return Ok(Record::Preference {
            prompt: vec![turn("user", prompt)],
            chosen: vec![turn("assistant", chosen)],
            rejected: vec![turn("assistant", rejected)],
            plain: true,
        });
    }
    let chosen = messages(chosen, "chosen", "role", "content")?;
    let rejected = messages(rejected, "rejected", "role", "content")?;
    let n = shared_prefix(&chosen, &rejected, |_| false);
    if n == 0 {
        let detail = match (chosen.first(), rejected.first()) {
            (Some(c), Some(r)) if c != r => format!(
                "they start with different messages: chosen[0] is {} {:?}, rejected[0] is {} {:?}",
                c.role,
                preview(&c.content),
                r.role,
                preview(&r.content)
            ),
            (Some(_), Some(_)) => "each holds a single, identical message".to_string(),
            _ => "one of them is empty".to_string(),
        };
        return Err(no_shared_prompt(&detail));
    }
    Ok(Record::Preference {
        prompt: chosen[..n].to_vec(),
        chosen: chosen[n..].to_vec(),
        rejected: rejected[n..].to_vec(),
        plain: false,
    })
}

/// Length of the prompt TRL's `extract_prompt` takes from two sequences: the index of the first
/// difference (one less when the element before it `moves_back`, TRL's space rule), or, when the
/// shorter sequence is a prefix of the longer, its length minus one.
fn shared_prefix<T: PartialEq>(a: &[T], b: &[T], moves_back: impl Fn(&T) -> bool) -> usize {
    let shorter = a.len().min(b.len());
    match (0..shorter).find(|&i| a[i] != b[i]) {
        Some(i) if i > 0 && moves_back(&a[i - 1]) => i - 1,
        Some(i) => i,
        None => shorter.saturating_sub(1),
    }
}

fn no_shared_prompt(detail: &str) -> String {
    format!(
        "no `prompt`, and `chosen` and `rejected` share no beginning to use as the prompt ({detail}); \
         add a `prompt` field, or give both the same leading messages (the prompt) followed by their answers"
    )
}

/// `Ok(true)` for a string, `Ok(false)` for a list (of messages, checked later).
fn is_plain(v: &Value, field: &str) -> Result<bool, String> {
    match v {
        Value::String(_) => Ok(true),
        Value::Array(_) => Ok(false),
        other => Err(format!(
            "`{field}` must be a string or a list of messages, found {}",
            json_kind(other)
        )),
    }
}

fn mixed(a: &str, va: &Value, b: &str, vb: &Value) -> String {
    let kind = |v: &Value| {
        if v.is_string() {
            "a string"
        } else {
            "a list of messages"
        }
    };
    format!(
        "`{a}` is {} but `{b}` is {}: give `prompt`, `chosen` and `rejected` all as strings or all as message lists",
        kind(va),
        kind(vb)
    )
}

/// The text of a value `is_plain` accepted as a string.
fn string(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

fn turn(role: &str, content: String) -> Message {
    Message {
        role: role.into(),
        content,
    }
}

/// The start of a text, for error messages.
pub(crate) fn preview(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Record, String> {
        let Value::Object(mut obj) = v else {
            panic!("not an object")
        };
        if obj.contains_key("preferred_output") {
            openai(&mut obj)
        } else {
            trl(&mut obj)
        }
    }

    /// (role, content) of each message.
    type Turns<'a> = Vec<(&'a str, &'a str)>;

    fn pairs(ms: &[Message]) -> Turns<'_> {
        ms.iter().map(|m| (m.role.as_str(), m.content.as_str())).collect()
    }

    fn sides(r: &Record) -> (Turns<'_>, Turns<'_>, Turns<'_>, bool) {
        let Record::Preference {
            prompt,
            chosen,
            rejected,
            plain,
        } = r
        else {
            panic!("not a pair: {r:?}")
        };
        (pairs(prompt), pairs(chosen), pairs(rejected), *plain)
    }

    #[test]
    fn plain_strings_with_an_explicit_prompt() {
        let r = parse(json!({"prompt": "The sky is", "chosen": " blue.", "rejected": " green."})).unwrap();
        assert_eq!(
            sides(&r),
            (
                vec![("user", "The sky is")],
                vec![("assistant", " blue.")],
                vec![("assistant", " green.")],
                true
            )
        );
    }

    #[test]
    fn conversational_with_an_explicit_prompt() {
        let r = parse(json!({
            "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
            "chosen": [{"role": "assistant", "content": "Hello."}],
            "rejected": [{"role": "assistant", "content": "Go away."}]
        }))
        .unwrap();
        let (prompt, chosen, rejected, plain) = sides(&r);
        assert_eq!(prompt, vec![("system", "Be brief."), ("user", "Hi")]);
        assert_eq!(
            (chosen, rejected, plain),
            (vec![("assistant", "Hello.")], vec![("assistant", "Go away.")], false)
        );
    }

    #[test]
    fn implicit_prompt_is_the_shared_leading_messages() {
        let r = parse(json!({
            "chosen": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                       {"role": "user", "content": "Thanks"}, {"role": "assistant", "content": "You are welcome."}],
            "rejected": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                         {"role": "user", "content": "Thanks"}, {"role": "assistant", "content": "No."}]
        }))
        .unwrap();
        let (prompt, chosen, rejected, _) = sides(&r);
        assert_eq!(prompt, vec![("user", "Hi"), ("assistant", "Hello"), ("user", "Thanks")]);
        assert_eq!(chosen, vec![("assistant", "You are welcome.")]);
        assert_eq!(rejected, vec![("assistant", "No.")]);
    }

    #[test]
    fn implicit_prompt_of_strings_leaves_the_space_to_the_answers() {
        let r = parse(json!({"chosen": "The sky is blue.", "rejected": "The sky is green."})).unwrap();
        assert_eq!(
            sides(&r),
            (
                vec![("user", "The sky is")],
                vec![("assistant", " blue.")],
                vec![("assistant", " green.")],
                true
            )
        );
        // Characters, not bytes: the shared prefix ends inside no multi-byte character.
        let r = parse(json!({"chosen": "Zoë é", "rejected": "Zoë è"})).unwrap();
        assert_eq!(sides(&r).0, vec![("user", "Zoë")]);
    }

    #[test]
    fn implicit_prompt_when_one_answer_extends_the_other_is_all_but_the_last_message() {
        // TRL's extract_prompt: no difference within the shorter list, so the prompt is all of it but its last.
        let r = parse(json!({
            "chosen": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}],
            "rejected": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"},
                         {"role": "user", "content": "More?"}, {"role": "assistant", "content": "B"}]
        }))
        .unwrap();
        let (prompt, chosen, rejected, _) = sides(&r);
        assert_eq!((prompt.len(), chosen.len(), rejected.len()), (1, 1, 3));
    }

    #[test]
    fn openai_layout_takes_the_prompt_from_input_messages() {
        let r = parse(json!({
            "input": {"messages": [{"role": "user", "content": "Name a fruit."}], "tools": []},
            "preferred_output": [{"role": "assistant", "content": "An apple."}],
            "non_preferred_output": [{"role": "assistant", "content": "A chair."}]
        }))
        .unwrap();
        assert_eq!(
            sides(&r),
            (
                vec![("user", "Name a fruit.")],
                vec![("assistant", "An apple.")],
                vec![("assistant", "A chair.")],
                false
            )
        );
    }

    #[test]
    fn implicit_prompts_that_differ_from_the_start_are_refused() {
        let e = parse(json!({
            "chosen": [{"role": "user", "content": "Name a fruit."}, {"role": "assistant", "content": "Apple."}],
            "rejected": [{"role": "user", "content": "Name a tool."}, {"role": "assistant", "content": "Hammer."}]
        }))
        .unwrap_err();
        assert!(
            e.contains("no `prompt`") && e.contains("different messages") && e.contains("Name a tool."),
            "{e}"
        );
        assert!(e.contains("add a `prompt` field"), "{e}");
        let e = parse(json!({"chosen": "Yes.", "rejected": "No."})).unwrap_err();
        assert!(e.contains("share no beginning") && e.contains("first character"), "{e}");
    }

    #[test]
    fn mixed_strings_and_message_lists_are_refused() {
        let e = parse(json!({"prompt": "Q", "chosen": [{"role": "assistant", "content": "A"}],
                             "rejected": [{"role": "assistant", "content": "B"}]}))
        .unwrap_err();
        assert!(
            e.contains("`prompt` is a string but `chosen` is a list of messages") && e.contains("drop `prompt`"),
            "{e}"
        );
        let e = parse(json!({"prompt": "Q", "chosen": "A", "rejected": [{"role": "assistant", "content": "B"}]}))
            .unwrap_err();
        assert!(e.contains("`chosen` is a string but `rejected` is a list"), "{e}");
        let e = parse(json!({"prompt": "Q", "chosen": 3, "rejected": "B"})).unwrap_err();
        assert!(
            e.contains("`chosen` must be a string or a list of messages, found a number"),
            "{e}"
        );
    }

    #[test]
    fn answers_that_repeat_an_explicit_prompt_are_refused() {
        let q = json!({"role": "user", "content": "Q"});
        let e = parse(
            json!({"prompt": [q], "chosen": [q, {"role": "assistant", "content": "A"}],
                             "rejected": [q, {"role": "assistant", "content": "B"}]}),
        )
        .unwrap_err();
        assert!(
            e.contains("`chosen` repeats the prompt") && e.contains("drop `prompt`"),
            "{e}"
        );
    }

    #[test]
    fn openai_outputs_must_be_one_assistant_message() {
        let input = json!({"messages": [{"role": "user", "content": "Q"}]});
        let a = json!({"role": "assistant", "content": "A"});
        let e = parse(json!({"input": input, "preferred_output": [a, a], "non_preferred_output": [a]})).unwrap_err();
        assert!(
            e.contains("`preferred_output` must hold exactly one assistant message") && e.contains("found 2"),
            "{e}"
        );
        let e = parse(json!({"input": input, "preferred_output": [a],
                             "non_preferred_output": [{"role": "user", "content": "B"}]}))
        .unwrap_err();
        assert!(e.contains("`non_preferred_output[0]` has role \"user\""), "{e}");
        let e = parse(json!({"input": input, "preferred_output": [a], "non_preferred_output": []})).unwrap_err();
        assert!(e.contains("found 0"), "{e}");
        let e = parse(json!({"input": {"messages": []}, "preferred_output": [a], "non_preferred_output": [a]}))
            .unwrap_err();
        assert!(e.contains("`input.messages` is empty"), "{e}");
    }

    #[test]
    fn openai_prompt_that_differs_from_input_messages_is_refused() {
        let base = |prompt: Value| {
            json!({"input": {"messages": [{"role": "user", "content": "Q"}]}, "prompt": prompt,
                   "preferred_output": [{"role": "assistant", "content": "A"}],
                   "non_preferred_output": [{"role": "assistant", "content": "B"}]})
        };
        assert!(parse(base(json!("Q"))).is_ok());
        let e = parse(base(json!("Another question"))).unwrap_err();
        assert!(e.contains("`prompt` and `input.messages` are different prompts"), "{e}");
    }
}
