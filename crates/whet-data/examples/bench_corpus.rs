//! Writes a deterministic raw-text JSONL corpus for the data-prep benchmark
//! (`docs/benchmarks.md`): web-like documents of 300–1,200 words in paragraphs, with 5% exact
//! duplicates (re-cased and re-spaced), 5% near-duplicates (2% of words changed) and 5% low
//! quality documents (repeated lines, symbol soup).
//!
//! `cargo run --release -p whet-data --example bench_corpus -- OUT.jsonl MEGABYTES [SEED]`

use std::io::{BufWriter, Write};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A Zipf-like English vocabulary: frequent function words first, then content words, then
/// generated rarer words so that documents do not share long n-grams by chance.
fn vocabulary() -> Vec<String> {
    let common = "the of and to in is that for it as was with be by on not this are from or have an they which one you were all we when there can been has more if will would about their people time water house system report market garden river window morning evening teacher student engineer library kitchen station bridge mountain village country history science language problem answer question company project machine careful quickly slowly bright quiet strong simple useful different important general public private local national early later often always never because although between through against without during before after under around follow explain measure consider provide develop remember understand believe continue describe include receive decide travel write read build carry change open close start finish winter summer weather paper letter number picture music family friend neighbour office school hospital doctor street city road train ticket journey coffee bread table chair door light colour green yellow little large small good new old great high long young";
    let mut v: Vec<String> = common.split(' ').map(String::from).collect();
    let syll = ["ka", "lo", "mi", "ter", "san", "vel", "dor", "ith", "pra", "nu", "cal", "ben", "sto", "ri", "gan", "tor"];
    let mut rng = Rng(7);
    for _ in 0..20_000 {
        let n = 2 + rng.below(3);
        v.push((0..n).map(|_| syll[rng.below(syll.len())]).collect());
    }
    v
}

fn word<'a>(rng: &mut Rng, v: &'a [String]) -> &'a str {
    // Half the draws from the 180 common words, half from the long tail.
    if rng.below(2) == 0 {
        &v[rng.below(180)]
    } else {
        &v[180 + rng.below(v.len() - 180)]
    }
}

fn document(rng: &mut Rng, v: &[String]) -> String {
    let words = 300 + rng.below(900);
    let mut s = String::new();
    let mut in_sentence = 0;
    let mut in_para = 0;
    for i in 0..words {
        let w = word(rng, v);
        if in_sentence == 0 {
            let mut c = w.chars();
            if let Some(f) = c.next() {
                s.extend(f.to_uppercase());
                s.push_str(c.as_str());
            }
        } else {
            s.push_str(w);
        }
        in_sentence += 1;
        if in_sentence > 8 + rng.below(12) || i + 1 == words {
            s.push('.');
            in_sentence = 0;
            in_para += 1;
            if in_para > 3 + rng.below(4) {
                s.push_str("\n\n");
                in_para = 0;
                continue;
            }
        }
        s.push(' ');
    }
    s.trim().to_string()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        return Err("usage: bench_corpus OUT.jsonl MEGABYTES [SEED]".into());
    }
    let target = args[2].parse::<u64>()? * 1_000_000;
    let seed = args.get(3).map(|s| s.parse::<u64>()).transpose()?.unwrap_or(1);
    let v = vocabulary();
    let mut rng = Rng(seed);
    let mut out = BufWriter::new(std::fs::File::create(&args[1])?);
    let mut written = 0u64;
    let mut recent: Vec<String> = Vec::new();
    let mut n = 0u64;
    while written < target {
        let roll = rng.below(100);
        let text = if roll < 5 && !recent.is_empty() {
            let d = &recent[rng.below(recent.len())];
            if rng.below(2) == 0 { d.to_uppercase() } else { d.replace(". ", ".  ") }
        } else if roll < 10 && !recent.is_empty() {
            let d = recent[rng.below(recent.len())].clone();
            d.split(' ')
                .map(|w| if rng.below(50) == 0 { "changed" } else { w })
                .collect::<Vec<_>>()
                .join(" ")
        } else if roll < 15 {
            let line = document(&mut rng, &v).chars().take(80).collect::<String>();
            format!("{}\n", line).repeat(10) + "### $$$ ### ... ###"
        } else {
            let d = document(&mut rng, &v);
            if recent.len() < 1000 {
                recent.push(d.clone());
            } else {
                let i = rng.below(recent.len());
                recent[i] = d.clone();
            }
            d
        };
        let line = serde_json::json!({"id": format!("doc-{n}"), "text": text}).to_string();
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        written += line.len() as u64 + 1;
        n += 1;
    }
    out.flush()?;
    eprintln!("{}: {n} documents, {:.1} MB", args[1], written as f64 / 1e6);
    Ok(())
}
