//! `whet review export` and `whet review import`: the human review loop on top of a `whet eval`
//! output directory (see `whet_eval::review` and `whet_eval::review_import`).

use std::path::PathBuf;

use anyhow::Result;
use whet_eval::review::{export, ExportOptions};
use whet_eval::review_import::{import, ImportOptions};

#[derive(clap::Subcommand, Debug)]
pub enum ReviewCommand {
    /// Write a blind review set (two variants' answers side by side, order randomised) as a
    /// self-contained HTML page and JSONL, with the key kept apart.
    Export(ExportArgs),
    /// Read reviewers' labels back: win rates with intervals, agreement, and preference pairs
    /// for DPO.
    Import(ImportArgs),
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The output directory of `whet eval` (with report.json and samples/).
    pub eval_dir: PathBuf,
    /// The first variant (e.g. the baseline), by its name in the eval config.
    #[arg(long, value_name = "VARIANT")]
    pub a: String,
    /// The second variant.
    #[arg(long, value_name = "VARIANT")]
    pub b: String,
    /// Eval sets to draw items from (generation and glossary sets); default: all of them.
    #[arg(long, value_delimiter = ',', value_name = "SET,...")]
    pub sets: Vec<String>,
    /// At most this many items per set (a random choice).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Seeds the answer order and the item order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Keep items whose two answers are the same text (left out by default).
    #[arg(long)]
    pub include_identical: bool,
    /// A new directory for review.html, items.jsonl and key.json.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The directory `whet review export` wrote.
    pub review_dir: PathBuf,
    /// Labels files downloaded from the review page (one per reviewer, or more).
    #[arg(required = true)]
    pub labels: Vec<PathBuf>,
    /// A new directory for review-report.md/.json, labels.jsonl and preferences.jsonl.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn run(cmd: ReviewCommand) -> Result<()> {
    match cmd {
        ReviewCommand::Export(a) => {
            let opts = ExportOptions {
                eval_dir: a.eval_dir,
                variants: [a.a, a.b],
                sets: a.sets,
                limit: a.limit,
                seed: a.seed,
                include_identical: a.include_identical,
                out: a.out.clone(),
                whet_version: crate::version().to_string(),
            };
            let s = export(&opts)?;
            let total: usize = s.per_set.iter().map(|(_, n)| n).sum();
            for (set, n) in &s.per_set {
                println!("{set:<15} {n} items");
            }
            if s.identical_skipped > 0 {
                println!("left out       {} samples whose two answers are identical (--include-identical keeps them)", s.identical_skipped);
            }
            println!("review page    {}  ({total} items; send this to reviewers)", a.out.join("review.html").display());
            println!("items          {}", a.out.join("items.jsonl").display());
            println!("key            {}  (keep from reviewers; `whet review import` needs it)", a.out.join("key.json").display());
        }
        ReviewCommand::Import(a) => {
            let r = import(&ImportOptions { review_dir: a.review_dir, labels: a.labels, out: a.out.clone() })?;
            print!("{}", r.markdown());
            println!("\nreport          {}", a.out.join("review-report.md").display());
            println!("                {}", a.out.join("review-report.json").display());
            println!("labels          {}", a.out.join("labels.jsonl").display());
            println!("preferences     {}  (a DPO dataset: `[dpo] data`)", a.out.join("preferences.jsonl").display());
        }
    }
    Ok(())
}
