//! A deterministic test corpus for `whet data prep` with planted problems and their exact
//! counts: exact duplicates (also across sources and formats), near-duplicates at known Jaccard
//! similarity (and far pairs that must stay), PII of every type and look-alikes that must not be
//! redacted, HTML, mojibake, other languages, contaminated records, malformed lines, broken
//! structure, low quality, content-policy hits. `generate` writes the files and a config and
//! returns what each rule must remove.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};

/// Counts each rule must report for the generated corpus.
#[derive(Debug, Clone)]
pub struct Planted {
    pub config: PathBuf,
    pub out_dir: PathBuf,
    pub input: u64,
    pub dropped: Vec<(&'static str, u64)>,
    pub kept: u64,
    /// Texts that must appear, unchanged, in the kept output.
    pub must_keep_verbatim: Vec<String>,
    pub pii_per_type: u64,
    pub flagged: u64,
}

/// SplitMix64: reproducible without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const WORDS: &[&str] = &[
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on",
    "not", "this", "are", "from", "or", "have", "an", "they", "which", "one", "you", "were", "all",
    "we", "when", "there", "can", "been", "has", "more", "if", "will", "would", "about", "their",
    "people", "time", "water", "house", "system", "report", "market", "garden", "river", "window",
    "morning", "evening", "teacher", "student", "engineer", "library", "kitchen", "station", "bridge",
    "mountain", "village", "country", "history", "science", "language", "problem", "answer", "question",
    "company", "project", "machine", "question", "careful", "quickly", "slowly", "bright", "quiet",
    "strong", "simple", "useful", "different", "important", "general", "public", "private", "local",
    "national", "early", "later", "often", "always", "never", "because", "although", "between", "through",
    "against", "without", "during", "before", "after", "under", "around", "follow", "explain", "measure",
    "consider", "provide", "develop", "remember", "understand", "believe", "continue", "describe", "include",
    "receive", "decide", "travel", "write", "read", "build", "carry", "change", "open", "close", "start",
    "finish", "winter", "summer", "weather", "paper", "letter", "number", "picture", "music", "family",
    "friend", "neighbour", "office", "school", "hospital", "doctor", "market", "street", "city", "road",
    "train", "ticket", "journey", "coffee", "bread", "table", "chair", "door", "light", "colour", "green",
    "yellow", "little", "large", "small", "good", "new", "old", "great", "high", "long", "young",
];

pub fn salad(rng: &mut Rng, n: usize) -> String {
    (0..n).map(|_| WORDS[rng.below(WORDS.len())]).collect::<Vec<_>>().join(" ")
}

fn chat(user: &str, assistant: &str) -> Value {
    json!({"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]})
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut f = File::create(path).expect("create corpus file");
    for l in lines {
        writeln!(f, "{l}").expect("write corpus line");
    }
}

const EVAL_QUESTIONS: [&str; 3] = [
    "Which river flows through the capital city of the country that hosted the first modern olympic games in eighteen ninety six",
    "A farmer has seventeen sheep and all but nine of them run away through a hole in the fence so how many are left",
    "Explain why the sky appears blue during a clear afternoon but turns red and orange when the sun is setting in the evening",
];

const OTHER_LANGUAGES: [&str; 6] = [
    "Der Ausschuss hat gestern seinen Jahresbericht über den Zustand des öffentlichen Verkehrs in der ganzen Region veröffentlicht und viele Verbesserungen gefordert.",
    "Die Kinder spielen jeden Nachmittag im Garten hinter dem alten Haus, während ihre Großeltern in der Küche einen Kuchen für das Wochenende backen.",
    "Wir haben beschlossen, im nächsten Sommer mit dem Zug durch die Berge zu reisen, weil die Landschaft dort besonders schön und ruhig sein soll.",
    "Le comité a publié hier son rapport annuel sur l'état des transports publics dans toute la région et a demandé de nombreuses améliorations.",
    "Les enfants jouent chaque après-midi dans le jardin derrière la vieille maison pendant que leurs grands-parents préparent un gâteau dans la cuisine.",
    "Nous avons décidé de voyager en train à travers les montagnes l'été prochain parce que le paysage y est particulièrement beau et calme.",
];

/// Writes the corpus, the eval set, the policy file and `prep.toml` under `dir`.
pub fn generate(dir: &Path, seed: u64) -> Planted {
    let mut rng = Rng::new(seed);
    let mut chats: Vec<String> = Vec::new();
    let mut must_keep = Vec::new();
    // 300 unique base conversations.
    let base: Vec<(String, String)> = (0..300).map(|_| (salad(&mut rng, 20), salad(&mut rng, 120))).collect();
    for (u, a) in &base {
        chats.push(chat(u, a).to_string());
    }
    // 10 exact duplicates: other case and spacing.
    for (u, a) in base.iter().take(10) {
        chats.push(chat(&u.to_uppercase().replace(' ', "  "), &format!("  {}  ", a.to_uppercase())).to_string());
    }
    // 10 near duplicates: one word of the answer changed (Jaccard of 5-gram sets ≈ 0.93).
    for (u, a) in base.iter().skip(20).take(10) {
        let mut w: Vec<&str> = a.split(' ').collect();
        w[60] = "zeppelin";
        chats.push(chat(u, &w.join(" ")).to_string());
    }
    // 5 far pairs: second half of the answer replaced (Jaccard ≈ 0.36): must be kept.
    for (u, a) in base.iter().skip(40).take(5) {
        let w: Vec<&str> = a.split(' ').take(60).collect();
        chats.push(chat(u, &format!("{} {}", w.join(" "), salad(&mut rng, 60))).to_string());
    }
    // PII, one record per type; credit cards are configured to drop the record.
    let pii = [
        "You can reach me at jane.doe@example.com for the details",
        "Call the office on +44 20 7946 0958 before noon",
        "The server at 192.168.10.20 stopped answering",
        "Pay with card 4111 1111 1111 1111 please",
        "Send it to IBAN GB82 WEST 1234 5698 7654 32 today",
        "My social security number is 123-45-6789 as requested",
        "Use the key AKIAIOSFODNN7EXAMPLE for the bucket",
        "Connect with postgres://admin:s3cretpw@db.example.com:5432/app from the job",
    ];
    for p in pii {
        chats.push(chat(&salad(&mut rng, 20), &format!("{} {} {}", salad(&mut rng, 30), p, salad(&mut rng, 30))).to_string());
    }
    // Look-alikes: must pass through unchanged.
    let lookalike = format!(
        "{} order 4111 1111 1111 1112 and account GB82 WEST 1234 5698 7654 33 with version 1.2.3.4.5 and host 999.10.10.10 and code std::vector at 12:30:45 on 2024-01-15 {}",
        salad(&mut rng, 30),
        salad(&mut rng, 30)
    );
    must_keep.push(lookalike.clone());
    chats.push(chat(&salad(&mut rng, 20), &lookalike).to_string());
    // HTML answers: converted to text, kept.
    for _ in 0..5 {
        let html = format!("<html><body><p>{}</p><p>{}</p></body></html>", salad(&mut rng, 40), salad(&mut rng, 40));
        chats.push(chat(&salad(&mut rng, 20), &html).to_string());
    }
    // Mojibake: repaired, kept.
    let moji_tail = salad(&mut rng, 60);
    chats.push(chat(&salad(&mut rng, 20), &format!("the cafÃ© was open and {moji_tail}")).to_string());
    must_keep.push(format!("the café was open and {moji_tail}"));
    // Other languages: dropped by language id.
    for t in OTHER_LANGUAGES {
        chats.push(chat(t, t).to_string());
    }
    // Contaminated: contain an eval question verbatim.
    for q in EVAL_QUESTIONS {
        chats.push(chat(&format!("{} {}", salad(&mut rng, 10), q), &salad(&mut rng, 60)).to_string());
    }
    // Malformed: 3 bad JSON, 2 with no known format, 1 wrong type.
    chats.push("{\"messages\": [".into());
    chats.push("not json at all".into());
    chats.push("[1, 2, 3]".into());
    chats.push("{\"messagez\": []}".into());
    chats.push("{\"instruction\": \"only an instruction\"}".into());
    chats.push("{\"messages\": [{\"role\": \"user\", \"content\": 5}]}".into());
    // Structure: two user turns in a row (2), empty assistant turn (1).
    for _ in 0..2 {
        chats.push(json!({"messages": [
            {"role": "user", "content": salad(&mut rng, 20)},
            {"role": "user", "content": salad(&mut rng, 20)},
            {"role": "assistant", "content": salad(&mut rng, 60)}]}).to_string());
    }
    chats.push(chat(&salad(&mut rng, 20), "").to_string());
    // Quality: repeated lines (3), boilerplate (2).
    for _ in 0..3 {
        let line = salad(&mut rng, 12);
        let body = format!("{line}\n{line}\n{line}\n{line}\n{}", salad(&mut rng, 12));
        chats.push(chat(&salad(&mut rng, 20), &body).to_string());
    }
    for _ in 0..2 {
        chats.push(chat(&salad(&mut rng, 20), &format!("{} please enable javascript to continue {}", salad(&mut rng, 30), salad(&mut rng, 30))).to_string());
    }
    // Policy: dropped (2), flagged and kept (2).
    for _ in 0..2 {
        chats.push(chat(&format!("how do I make a bomb {}", salad(&mut rng, 20)), &salad(&mut rng, 60)).to_string());
    }
    for _ in 0..2 {
        chats.push(chat(&salad(&mut rng, 20), &format!("{} darn {}", salad(&mut rng, 30), salad(&mut rng, 30))).to_string());
    }
    let chats_path = dir.join("chats.jsonl");
    write_lines(&chats_path, &chats);

    // Alpaca, gzip: 20 unique + 2 that equal base chats (exact duplicates across formats).
    let mut alpaca: Vec<String> = (0..20)
        .map(|_| json!({"instruction": salad(&mut rng, 20), "input": "", "output": salad(&mut rng, 80)}).to_string())
        .collect();
    for (u, a) in base.iter().skip(100).take(2) {
        alpaca.push(json!({"instruction": u, "input": "", "output": a}).to_string());
    }
    let alpaca_path = dir.join("alpaca.jsonl.gz");
    let mut gz = flate2::write::GzEncoder::new(File::create(&alpaca_path).expect("create"), flate2::Compression::default());
    gz.write_all((alpaca.join("\n") + "\n").as_bytes()).expect("write gz");
    gz.finish().expect("finish gz");

    // Preference pairs, zstd: 10 + 1 with chosen == rejected (structure).
    let mut prefs: Vec<String> = (0..10)
        .map(|_| json!({"prompt": salad(&mut rng, 20), "chosen": salad(&mut rng, 50), "rejected": salad(&mut rng, 50)}).to_string())
        .collect();
    let same = salad(&mut rng, 50);
    prefs.push(json!({"prompt": salad(&mut rng, 20), "chosen": same, "rejected": same}).to_string());
    let prefs_path = dir.join("prefs.jsonl.zst");
    std::fs::write(&prefs_path, zstd::encode_all((prefs.join("\n") + "\n").as_bytes(), 3).expect("zstd")).expect("write zst");

    // Raw text, Parquet: 10.
    let texts: Vec<String> = (0..10).map(|_| salad(&mut rng, 100)).collect();
    let text_path = dir.join("text.parquet");
    write_parquet_texts(&text_path, &texts);

    let eval_path = dir.join("eval.jsonl");
    write_lines(
        &eval_path,
        &EVAL_QUESTIONS.iter().map(|q| chat(q, "an answer").to_string()).collect::<Vec<_>>(),
    );
    let policy_path = dir.join("policy.toml");
    std::fs::write(
        &policy_path,
        "[[category]]\nname = \"weapons\"\naction = \"drop\"\npatterns = ['(?i)make a bomb']\n\n\
         [[category]]\nname = \"mild_profanity\"\naction = \"flag\"\nwords = [\"darn\"]\n",
    )
    .expect("write policy");
    let out_dir = dir.join("out");
    let config = dir.join("prep.toml");
    std::fs::write(&config, CONFIG).expect("write config");

    let input = chats.len() as u64 + alpaca.len() as u64 + prefs.len() as u64 + texts.len() as u64;
    let dropped = vec![
        ("malformed", 6),
        ("pii", 1),
        ("structure", 4),
        ("language", 6),
        ("quality", 5),
        ("policy", 2),
        ("decontamination", 3),
        ("exact_dedup", 12),
        ("near_dedup", 10),
    ];
    let kept = input - dropped.iter().map(|(_, n)| n).sum::<u64>();
    Planted { config, out_dir, input, dropped, kept, must_keep_verbatim: must_keep, pii_per_type: 1, flagged: 2 }
}

pub const CONFIG: &str = r#"
out_dir = "out"
seed = 7
on_error = "skip"

[[sources]]
name = "chats"
path = "chats.jsonl"
license = "CC-BY-4.0"
origin = "generated by tests/corpus"

[[sources]]
name = "alpaca"
path = "alpaca.jsonl.gz"
format = "alpaca"
license = "Apache-2.0"

[[sources]]
name = "prefs"
path = "prefs.jsonl.zst"

[[sources]]
name = "text"
path = "text.parquet"
format = "text"

[pii]
default_action = "redact"
actions = { credit_card = "drop" }

[language]
keep = ["eng"]
# Word salad from common English words is English with low confidence (0.1-0.3).
min_confidence = 0.05

[quality]
min_words = 8
max_duplicate_line_fraction = 0.3
boilerplate_phrases = ["enable javascript", "lorem ipsum"]

[policy]
file = "policy.toml"

[decontamination]
eval_sets = ["eval.jsonl"]

[exact_dedup]
keys = ["both"]

[near_dedup]
ngram = 5
bands = 14
rows = 8
threshold = 0.8

[bias]
groups = [
  { name = "female", terms = ["she", "her", "woman"] },
  { name = "male", terms = ["he", "him", "man"] },
]

[split]
train = 0.8
valid = 0.1
test = 0.1
"#;

fn write_parquet_texts(path: &Path, texts: &[String]) {
    use parquet::data_type::{ByteArray, ByteArrayType};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    let schema = Arc::new(parse_message_type("message schema { REQUIRED BYTE_ARRAY text (UTF8); }").expect("schema"));
    let props = Arc::new(WriterProperties::builder().build());
    let mut writer = SerializedFileWriter::new(File::create(path).expect("create"), schema, props).expect("writer");
    let mut rg = writer.next_row_group().expect("row group");
    let values: Vec<ByteArray> = texts.iter().map(|t| ByteArray::from(t.as_str())).collect();
    while let Some(mut col) = rg.next_column().expect("column") {
        col.typed::<ByteArrayType>().write_batch(&values, None, None).expect("write batch");
        col.close().expect("close column");
    }
    rg.close().expect("close row group");
    writer.close().expect("close writer");
}
