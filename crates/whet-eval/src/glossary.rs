//! The hallucination index (HI) on a glossary: the model is asked to define each domain term
//! (a configurable question such as "What is {term}?"), and HI is the share of definitions
//! judged correct. Judges: SQuAD token F1 or ROUGE-L F-measure (rouge-score, no stemming)
//! against the reference definition at or above a threshold, or required keywords (every one
//! present in the answer, compared without case on SQuAD-normalised text), or an LLM behind an
//! OpenAI-compatible endpoint that grades the answer against the reference as correct,
//! contradicting it, unsupported by it, or wrong; with it the report also gives the share of
//! answers that assert something the reference contradicts or lacks.

use serde_json::json;

use crate::config::{Judge, LlmJudge};
use crate::error::Result;
use crate::openai_client::{ChatEndpoint, ChatRequest};
use crate::rouge::Rouge;
use crate::squad::{f1_score, normalize_answer};

/// The question asked about `term`.
pub fn question(prompt: &str, term: &str) -> String {
    prompt.replace("{term}", term)
}

/// A judged definition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    pub correct: bool,
    /// The judge's score: F1 or ROUGE-L in [0, 1], or the share of keywords present.
    pub score: f64,
}

pub fn judge(judge: Judge, threshold: f64, answer: &str, definition: &str, keywords: &[String]) -> Verdict {
    match judge {
        Judge::F1 => {
            let score = f1_score(answer, definition);
            Verdict { correct: score >= threshold, score }
        }
        Judge::RougeL => {
            let score = Rouge::new(false).score(answer, definition).rouge_l.fmeasure;
            Verdict { correct: score >= threshold, score }
        }
        // Graded by [`judge_llm`]; nothing to compute here.
        Judge::Llm => Verdict { correct: false, score: 0.0 },
        Judge::Keywords => {
            let text = format!(" {} ", normalize_answer(answer));
            let keywords: Vec<String> = keywords.iter().map(|k| normalize_answer(k)).filter(|k| !k.is_empty()).collect();
            let present = keywords.iter().filter(|k| text.contains(&format!(" {k} "))).count();
            let score = present as f64 / keywords.len().max(1) as f64;
            Verdict { correct: !keywords.is_empty() && present == keywords.len(), score }
        }
    }
}

/// The llm judge's grade of one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grade {
    Correct,
    Contradicts,
    Unsupported,
    /// Wrong, or a reply that is none of the four words.
    Wrong,
}

impl Grade {
    pub fn name(self) -> &'static str {
        match self {
            Grade::Correct => "correct",
            Grade::Contradicts => "contradicts",
            Grade::Unsupported => "unsupported",
            Grade::Wrong => "wrong",
        }
    }

    /// Asserts something the reference contradicts or lacks.
    pub fn hallucinated(self) -> bool {
        matches!(self, Grade::Contradicts | Grade::Unsupported)
    }

    /// The first word of the judge's reply.
    pub fn parse(reply: &str) -> Grade {
        let word: String = reply.trim_start_matches(|c: char| !c.is_alphanumeric()).chars().take_while(|c| c.is_alphanumeric()).collect();
        match word.to_ascii_uppercase().as_str() {
            "CORRECT" => Grade::Correct,
            "CONTRADICTS" | "CONTRADICTED" | "CONTRADICTION" => Grade::Contradicts,
            "UNSUPPORTED" => Grade::Unsupported,
            _ => Grade::Wrong,
        }
    }
}

/// Asks the judge (temperature 0) to grade `answer` against `definition`; returns the grade and
/// the judge's reply.
pub fn judge_llm(judge: &LlmJudge, term: &str, definition: &str, answer: &str) -> Result<(Grade, String)> {
    let endpoint = ChatEndpoint::new(&judge.endpoint, &judge.model);
    let messages = [
        json!({"role": "system", "content": judge.rubric}),
        json!({"role": "user", "content": format!("Term: {term}\n\nReference definition: {definition}\n\nAnswer: {answer}")}),
    ];
    let reply = endpoint.complete(&messages, &ChatRequest { max_tokens: 8, temperature: 0.0, top_p: None, seed: 0 })?;
    Ok((Grade::parse(&reply), reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_must_all_appear_as_whole_words() {
        let kw = vec!["ten-minute".to_string(), "wind".to_string()];
        let v = judge(Judge::Keywords, 0.0, "It averages Wind over a ten-minute span.", "", &kw);
        assert_eq!(v, Verdict { correct: true, score: 1.0 });
        let v = judge(Judge::Keywords, 0.0, "It averages windy readings.", "", &kw);
        assert_eq!(v, Verdict { correct: false, score: 0.0 });
    }

    #[test]
    fn llm_grades_are_read_from_the_first_word() {
        assert_eq!(Grade::parse("CORRECT"), Grade::Correct);
        assert_eq!(Grade::parse(" **Contradicts.** The reference says"), Grade::Contradicts);
        assert_eq!(Grade::parse("unsupported"), Grade::Unsupported);
        assert_eq!(Grade::parse("I think it is correct"), Grade::Wrong);
        assert!(Grade::Unsupported.hallucinated() && !Grade::Wrong.hallucinated());
    }

    #[test]
    fn f1_and_rouge_judges_use_the_threshold() {
        let d = "A gust latch holds the highest gust on screen.";
        assert!(judge(Judge::F1, 0.5, "It holds the highest gust on screen.", d, &[]).correct);
        assert!(!judge(Judge::F1, 0.5, "A kind of bird.", d, &[]).correct);
        let v = judge(Judge::RougeL, 0.99, d, d, &[]);
        assert!(v.correct && (v.score - 1.0).abs() < 1e-12);
    }
}
