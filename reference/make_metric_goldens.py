#!/usr/bin/env python3
"""Generate the generation-metric goldens: ROUGE (rouge-score), BLEU and chrF (sacrebleu).

Run from anywhere (no network, under a second):

    /opt/refvenv/bin/python reference/make_metric_goldens.py

(any venv with rouge-score, sacrebleu and nltk at the versions pinned in
reference/requirements.txt). It writes tests/golden/metrics/metrics.json, deterministically:

* "manifest": generator, versions, and what each value is (the exact reference call).
* "cases": hand-picked hypothesis/references pairs (empty strings, punctuation, unicode, numbers,
  repeated words, HTML entities, Python-only whitespace, multi-reference, words that NLTK's Porter
  and Snowball's Porter2 stem differently), each with
  - the rouge-score tokens of the hypothesis, with and without stemming;
  - ROUGE-1/2/L/Lsum from RougeScorer.score_multi(references, hypothesis), with and without
    stemming (with one reference this is RougeScorer.score(reference, hypothesis));
  - sacrebleu's 13a tokenisation of the hypothesis;
  - sentence BLEU (sacrebleu.sentence_bleu defaults, plus the other smoothing methods);
  - sentence chrF and chrF++ (sacrebleu.sentence_chrf defaults, word_order 2).
* "corpora": corpus BLEU / chrF / chrF++ over sets of cases (variable numbers of references
  padded with None, which sacrebleu skips), plus lowercase and other-smoothing variants.
* "porter": NLTK's PorterStemmer (the stemmer rouge-score uses) on a few hundred words that reach
  every rule of every step and NLTK's special cases, and rouge-score's stemmed tokens of all of
  them joined by spaces (which adds its "stem only tokens longer than 3 characters" rule).

crates/whet-eval/tests/metric_goldens.rs compares whet's values with these within 1e-6.
CI never runs this script: its output is committed.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
from pathlib import Path

import sacrebleu
from nltk.stem import porter
from rouge_score import rouge_scorer, tokenizers
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "golden" / "metrics" / "metrics.json"

ROUGE_TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]

# (id, hypothesis, references). Written for this project.
CASES: list[tuple[str, str, list[str]]] = [
    ("identical", "The cat sat on the mat.", ["The cat sat on the mat."]),
    ("fox", "The quick brown dog jumps on the log.", ["The quick brown fox jumps over the lazy dog"]),
    ("empty_hypothesis", "", ["There is a reference here."]),
    ("empty_reference", "A hypothesis without a reference.", [""]),
    ("both_empty", "", [""]),
    ("punctuation_only", "?!... ---", ["Something, anything."]),
    ("punctuation", "Hello, world!!! (really?) -- yes: it's \"fine\".", ["hello world -- really. Yes, it is fine!"]),
    ("unicode_accents", "Café naïve résumé — über Zürich", ["cafe naive resume uber zurich"]),
    ("unicode_to_ascii_lowercase", "\u212aelvin \u0130stanbul \uff21BC", ["kelvin istanbul abc"]),
    ("cjk_no_spaces", "我爱北京天安门", ["我爱北京"]),
    ("emoji", "good 👍 job, team 🎉", ["good job 👍 team"]),
    ("numbers", "It costs $3.50, or 1,000 yen on 2024-01-05 (10-20 items).", ["It costs 3.50 dollars, 1000 yen, on 2024-01-05 for 10 - 20 items"]),
    ("repeated_words", "the the the the the the the", ["the cat is on the mat"]),
    ("repeated_bigrams", "on the mat on the mat on the mat", ["the cat on the mat sat on the mat"]),
    ("stemming", "running runners generously fairly generalizations meetingly", ["run runner generous fair general meeting"]),
    ("stemming_porter_vs_porter2", "communication communism skies dying cried ponies happiness", ["communism communicate sky die cry pony happy"]),
    ("stemming_short_words", "was has ran dies goes", ["were have run died gone"]),
    ("case", "NASA launched Apollo 11 in July", ["nasa launched apollo 11 in july"]),
    ("greek_case", "ΟΔΟΣ Σοφίας", ["οδος σοφιας"]),
    ("contractions_hyphens", "don't can't it's state-of-the-art e-mail", ["do not cannot it is state of the art email"]),
    ("html_entities", "Tom &amp; Jerry &lt;3 &quot;cartoons&quot; &gt; all", ["Tom & Jerry <3 \"cartoons\" > all"]),
    ("skipped_and_hyphen_newline", "a <skipped> well-\nknown\nfact", ["a well-known fact"]),
    ("newlines_lsum", "First sentence here.\nSecond one follows.\n\nThird.", ["First sentence is here.\nThe second one follows.\nA third."]),
    # ROUGE-Lsum where the sentence LCS is not unique: which one the backtrack takes changes the
    # union (a backtrack that steps back in the prediction on ties scores these differently).
    ("lsum_lcs_tie_break", "the dog sat\non the mat the cat lay", ["the cat sat on the mat\nthe dog lay on the rug"]),
    ("lsum_reordered_sentences", "in June prices fell\nprices rose in May", ["prices rose in May and fell in June"]),
    ("lsum_repeated_tokens", "fell in May\nrose in June", ["prices rose in May and fell in June"]),
    # ROUGE-Lsum counts a token at most as often as it occurs on both sides.
    ("lsum_token_counted_once", "The vote passed.", ["The vote passed.\nThe vote passed."]),
    ("whitespace_python_only", "tab\tsep\u00a0nbsp\u3000ideo\x1fus\x1cfs end ", ["tab sep nbsp ideo us fs end"]),
    ("tokenized_period", "This is a test .", ["This is a test."]),
    ("short_hypothesis", "the", ["the cat sat on the mat"]),
    ("single_char", "a", ["a"]),
    ("partial_ngram_match", "the cat sat on a red mat today", ["the cat sat on the red mat"]),
    ("no_4gram_match", "the cat sat on a mat", ["the cat lay on a mat"]),
    ("long_hypothesis", "The committee approved the annual budget after a long debate on Tuesday evening, and members said the vote was close but fair.", ["After a long debate, the committee approved the budget on Tuesday."]),
    ("chrf_punct_words", "(hi) there! \"quoted\" x. ,lead !! a", ["hi there quoted x lead a"]),
    ("multi_reference", "The cat is on the mat.", ["There is a cat on the mat.", "The cat sits on the mat.", "A cat rests on a mat."]),
    ("multi_reference_with_empty", "It is raining heavily today.", ["", "It rains heavily today.", "Heavy rain today."]),
    ("multi_reference_length_tie", "one two three four five", ["one two three four", "one two three four five six", "five four three two one zero"]),
]

CORPORA = [
    # name, case ids (None: all)
    ("all", None),
    ("single_reference", [c[0] for c in CASES if len(c[2]) == 1][:12]),
    ("multi_reference", ["multi_reference", "multi_reference_with_empty", "multi_reference_length_tie", "fox"]),
    # No 4-gram matches in the whole corpus: the smoothing methods differ.
    ("sparse_matches", ["short_hypothesis", "no_4gram_match", "stemming"]),
]

# Words for NLTK's PorterStemmer, grouped by the step or rule they reach first (each rule of each
# step is reached, most with the condition both true and false). Written for this project.
PORTER_WORDS_BY_GROUP = {
    # NLTK's irregular forms, checked before any step.
    "irregular": "sky skies dying lying tying news innings inning outings outing cannings canning howe proceed exceed succeed",
    # One or two characters: returned lowercased, unstemmed.
    "short": "a i is as at ox by my 10s",
    # Step 1a, with NLTK's four-letter "ies" -> "ie".
    "step1a": "caresses ponies ties caress cats dies lies pies flies cries classes glasses bosses misses gases buses "
              "yes this species series analyses crisis basis alias atlas bias iris virus status chaos lens physics",
    # Step 1b: NLTK's "ied" (four letters -> "ie", else "i"), (m>0) EED, ED/ING with the AT/BL/IZ,
    # double-consonant and (m=1 and *o) repairs, and NLTK's two-letter *o ("us", "ow", "ax").
    "step1b": "died tied lied spied cried tried applied studied "
              "feed agreed disagreed bleed indeed speed freed guaranteed proceeded exceeding succeeded "
              "plastered bled motoring sing thing bring string king conflated troubled sized "
              "hopping tanned falling hissing fizzed failing filing hoping taping waxing snowing playing "
              "using owed axed eyed aged iced being doing seeing agreeing eating hating rating dated "
              "stopped fitted running controlling rolling buzzing dressed filled jazzed shred sped "
              "banning planned enabled humbled rumbled prized realized organized created debated wanted "
              "needed started ended opened listened visited happened offered sampled travelled traveled "
              "labelled labeled cancelled benefited committed referred preferred occurred",
    # Step 1c: NLTK's (*c and not c) Y -> I, and 'y' as consonant or vowel.
    "step1c": "happy toy enjoy spy fly try say boy day obey syzygy yyyy yyyyy cry deny fairly happily easily "
              "yearly early party study enjoying employ player yelling yellow youth crying flying trying buying",
    # Step 2, with NLTK's ALLI first (then step 2 again), BLI, FULLI and LOGI (the 'l' kept in the stem).
    "step2": "relational conditional rational valenci hesitanci digitizer conformabli radicalli differentli "
             "vileli analogousli vietnamization predication operator feudalism decisiveness hopefulness "
             "callousness formaliti sensitiviti sensibiliti sensational traditional national international "
             "emotional valency hesitancy urgency frequency agency fluency buoyancy organizer fertilizer "
             "possibly humbly nobly visibly terribly ably probably reasonably radically logically practically "
             "finally totally really actually conditionally rationally sensationally differently evidently "
             "recently gently currently absently likely lonely namely entirely solely rarely generously "
             "seriously previously obviously curiously organization generalization generalizations "
             "civilization realization information education communication variation relation nation station "
             "creation indicator alligator generator realism idealism nationalism journalism effectiveness "
             "attractiveness expensiveness usefulness carefulness playfulness seriousness nervousness "
             "dangerousness reality formality totality mentality vitality activity sensitivity relativity "
             "positivity creativity ability possibility responsibility stability visibility hopefully carefully "
             "beautifully peacefully skillfully fully geology theology biology archaeology apology analogy "
             "technology psychology ideology mythology methodology ology logy logical",
    # Step 3.
    "step3": "triplicate duplicate formative relative talkative formalize normalize capitalize electriciti "
             "electricity elasticity electrical critical musical chemical hopeful helpful thankful goodness "
             "kindness darkness happiness emptiness illness business witness",
    # Step 4, including (m>1 and (*S or *T)) ION.
    "step4": "revival arrival approval allowance performance resistance inference difference independence "
             "airliner computer teacher gyroscopic electronic economic adjustable available reliable capable "
             "defensible edible terrible incredible irritant important assistant replacement agreement "
             "settlement adjustment argument government development dependent different excellent adoption "
             "decision confusion region opinion version question homologou communism activate angulariti "
             "homologous famous dangerous effective expensive bowdlerize organize recognize",
    # Step 5a ((m>1) E, (m=1 and not *o) E) and step 5b ((m>1 and *d and *L)).
    "step5": "probate rate cease make hope have agree controll roll install installing fulfill fulfilling "
             "tell spell ball ness",
    # Where NLTK's Porter and Snowball's Porter2 disagree, words from the rouge cases, other shapes:
    # capitals (lowercased first), digits (consonants), letters outside ASCII (consonants).
    "other": "meetingly Running SKIES NEWS Generously 1990s 2nd covid19 mp3s 2024 "
             "café naïve résumés",
}
PORTER_WORDS = [w for group in PORTER_WORDS_BY_GROUP.values() for w in group.split()]

BLEU_SMOOTHINGS = [
    ("exp", None),
    ("none", None),
    ("floor", 0.1),
    ("add-k", 1),
]


def rouge_values(scorer: rouge_scorer.RougeScorer, refs: list[str], hyp: str) -> dict:
    scores = scorer.score_multi(refs, hyp)
    return {
        t: {"precision": scores[t].precision, "recall": scores[t].recall, "fmeasure": scores[t].fmeasure}
        for t in ROUGE_TYPES
    }


def bleu_values(score) -> dict:
    return {
        "score": score.score,
        "precisions": list(score.precisions),
        "counts": [int(c) for c in score.counts],
        "totals": [int(t) for t in score.totals],
        "bp": score.bp,
        "sys_len": int(score.sys_len),
        "ref_len": int(score.ref_len),
    }


def ref_streams(refs_per_segment: list[list[str]]) -> list[list[str | None]]:
    """sacrebleu's layout: one stream per reference position, None where a segment has fewer."""
    width = max(len(r) for r in refs_per_segment)
    return [[r[k] if k < len(r) else None for r in refs_per_segment] for k in range(width)]


def main() -> None:
    scorers = {
        stem: rouge_scorer.RougeScorer(ROUGE_TYPES, use_stemmer=stem) for stem in (False, True)
    }
    rouge_tok = {stem: tokenizers.DefaultTokenizer(use_stemmer=stem) for stem in (False, True)}
    tok13a = Tokenizer13a()
    chrf = CHRF()
    chrf_pp = CHRF(word_order=2)

    cases = []
    for case_id, hyp, refs in CASES:
        sentence_bleu = {}
        for method, value in BLEU_SMOOTHINGS:
            metric = BLEU(smooth_method=method, smooth_value=value, effective_order=True)
            sentence_bleu[method] = bleu_values(metric.sentence_score(hyp, refs))
        default = sacrebleu.sentence_bleu(hyp, refs)
        assert default.score == sentence_bleu["exp"]["score"]
        cases.append({
            "id": case_id,
            "hypothesis": hyp,
            "references": refs,
            "rouge_tokens": {"no_stem": rouge_tok[False].tokenize(hyp), "stem": rouge_tok[True].tokenize(hyp)},
            "rouge": {"no_stem": rouge_values(scorers[False], refs, hyp), "stem": rouge_values(scorers[True], refs, hyp)},
            "tokens_13a": tok13a(hyp.rstrip()),
            "sentence_bleu": sentence_bleu,
            "sentence_chrf": chrf.sentence_score(hyp, refs).score,
            "sentence_chrf_pp": chrf_pp.sentence_score(hyp, refs).score,
        })

    by_id = {c[0]: c for c in CASES}
    corpora = []
    for name, ids in CORPORA:
        ids = ids if ids is not None else [c[0] for c in CASES]
        hyps = [by_id[i][1] for i in ids]
        streams = ref_streams([by_id[i][2] for i in ids])
        bleu = {}
        for method, value in BLEU_SMOOTHINGS:
            bleu[method] = bleu_values(BLEU(smooth_method=method, smooth_value=value).corpus_score(hyps, streams))
        corpora.append({
            "name": name,
            "case_ids": ids,
            "bleu": bleu,
            "bleu_lowercase": bleu_values(BLEU(lowercase=True).corpus_score(hyps, streams)),
            "bleu_effective_order": bleu_values(BLEU(effective_order=True).corpus_score(hyps, streams)),
            "chrf": chrf.corpus_score(hyps, streams).score,
            "chrf_pp": chrf_pp.corpus_score(hyps, streams).score,
            "chrf_lowercase": CHRF(lowercase=True).corpus_score(hyps, streams).score,
            "chrf_whitespace": CHRF(whitespace=True).corpus_score(hyps, streams).score,
            "chrf_eps_smoothing": CHRF(eps_smoothing=True).corpus_score(hyps, streams).score,
        })

    assert len(set(PORTER_WORDS)) == len(PORTER_WORDS), "duplicate Porter words"
    stemmer = porter.PorterStemmer()  # NLTK_EXTENSIONS mode, as rouge_score.tokenizers builds it
    porter_golden = {
        "stems": [[w, stemmer.stem(w)] for w in PORTER_WORDS],
        "rouge_tokens_stem": rouge_tok[True].tokenize(" ".join(PORTER_WORDS)),
    }

    version = importlib.metadata.version
    golden = {
        "manifest": {
            "generator": "reference/make_metric_goldens.py",
            "command": "/opt/refvenv/bin/python reference/make_metric_goldens.py",
            "versions": {
                "python": platform.python_version(),
                "rouge-score": version("rouge-score"),
                "nltk": version("nltk"),
                "sacrebleu": version("sacrebleu"),
                "numpy": version("numpy"),
            },
            "definitions": {
                "rouge": "rouge_scorer.RougeScorer(['rouge1','rouge2','rougeL','rougeLsum'], use_stemmer=S).score_multi(references, hypothesis); S false for no_stem, true for stem (nltk PorterStemmer, NLTK_EXTENSIONS mode, tokens longer than 3 chars only). rougeLsum splits on newlines.",
                "rouge_tokens": "rouge_score.tokenizers.DefaultTokenizer(use_stemmer=S).tokenize(hypothesis)",
                "tokens_13a": "sacrebleu.tokenizers.tokenizer_13a.Tokenizer13a()(hypothesis.rstrip()) (BLEU rstrips before tokenising)",
                "sentence_bleu": "sacrebleu BLEU(smooth_method=M, smooth_value=V, effective_order=True).sentence_score(hypothesis, references); M=exp is sacrebleu.sentence_bleu's default; floor uses 0.1, add-k uses 1",
                "sentence_chrf": "sacrebleu CHRF().sentence_score(hypothesis, references) (char_order 6, word_order 0, beta 2, whitespace removed, no eps smoothing)",
                "sentence_chrf_pp": "sacrebleu CHRF(word_order=2).sentence_score(hypothesis, references)",
                "corpus_bleu": "BLEU(smooth_method=M, smooth_value=V).corpus_score(hypotheses, reference streams padded with None); bleu_lowercase: BLEU(lowercase=True); bleu_effective_order: BLEU(effective_order=True)",
                "corpus_chrf": "CHRF(...).corpus_score(hypotheses, streams); chrf_pp word_order=2; chrf_lowercase lowercase=True; chrf_whitespace whitespace=True; chrf_eps_smoothing eps_smoothing=True",
                "porter_stems": "[word, nltk.stem.porter.PorterStemmer().stem(word)] (default NLTK_EXTENSIONS mode, to_lowercase=True)",
                "porter_rouge_tokens_stem": "rouge_score.tokenizers.DefaultTokenizer(use_stemmer=True).tokenize(' '.join(words))",
                "scale": "BLEU, its precisions and chrF are 0-100 (sacrebleu); ROUGE is 0-1 (rouge-score)",
            },
        },
        "cases": cases,
        "corpora": corpora,
        "porter": porter_golden,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(cases)} cases, {len(corpora)} corpora, {len(PORTER_WORDS)} Porter words")


if __name__ == "__main__":
    main()
