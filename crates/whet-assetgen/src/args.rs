//! Command-line parsing, by hand: two subcommands and three flags do not need `clap`'s compile
//! time.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};

use crate::corpus::DEFAULT_DOCUMENTS;

/// The seed used when `--seed` is not given.
pub const DEFAULT_SEED: u64 = 42;

/// The two usage lines.
pub const SYNOPSIS: &str = "\
usage: whet-assetgen corpus --out FILE [--documents N] [--seed S]
       whet-assetgen domain --out DIR [--seed S]";

/// The synopsis with what the commands and flags do.
pub fn usage() -> String {
    format!(
        "{SYNOPSIS}

  corpus   write the tiny base model's English pretraining corpus as JSONL, one {{\"text\": ...}}
           per line (default {DEFAULT_DOCUMENTS} documents, about 12 MB)
  domain   write the quickstart demo's fine-tuning set into DIR: train.jsonl, valid.jsonl and
           test.jsonl, plus the eval sets glossary.jsonl and general.jsonl
  --out    must not exist or must be empty (an empty file for corpus, an empty directory for
           domain); nothing is overwritten
  --seed   default {DEFAULT_SEED}; the same arguments always give the same bytes"
    )
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Corpus { out: PathBuf, documents: u64, seed: u64 },
    Domain { out: PathBuf, seed: u64 },
    Help,
}

pub fn parse(args: &[String]) -> Result<Command> {
    let Some(sub) = args.first() else {
        bail!("no command given");
    };
    if matches!(sub.as_str(), "-h" | "--help" | "help") {
        return Ok(Command::Help);
    }
    if sub != "corpus" && sub != "domain" {
        bail!("unknown command `{sub}` (expected `corpus` or `domain`)");
    }
    let mut out = None;
    let mut documents = None;
    let mut seed = None;
    let mut rest = args[1..].iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        if matches!(flag, "-h" | "--help") {
            return Ok(Command::Help);
        }
        let known =
            matches!((sub.as_str(), flag), (_, "--out" | "--seed") | ("corpus", "--documents"));
        if !known {
            bail!("unknown argument `{arg}` for `{sub}`");
        }
        let value = match inline {
            Some(v) => v,
            None => rest.next().cloned().ok_or_else(|| anyhow!("`{flag}` needs a value"))?,
        };
        match flag {
            "--out" => out = Some(PathBuf::from(value)),
            "--seed" => {
                seed = Some(value.parse::<u64>().with_context(|| {
                    format!("`--seed {value}`: expected a whole number from 0 to 2^64-1")
                })?)
            }
            _ => {
                let n = value
                    .parse::<u64>()
                    .with_context(|| format!("`--documents {value}`: expected a whole number"))?;
                if n == 0 {
                    bail!("`--documents` must be at least 1");
                }
                documents = Some(n);
            }
        }
    }
    let out = out.ok_or_else(|| anyhow!("`--out` is required"))?;
    let seed = seed.unwrap_or(DEFAULT_SEED);
    Ok(if sub == "corpus" {
        Command::Corpus { out, documents: documents.unwrap_or(DEFAULT_DOCUMENTS), seed }
    } else {
        Command::Domain { out, seed }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn parses_both_commands() {
        assert_eq!(
            p(&["corpus", "--out", "c.jsonl", "--documents=10", "--seed", "7"]).unwrap(),
            Command::Corpus { out: "c.jsonl".into(), documents: 10, seed: 7 }
        );
        assert_eq!(
            p(&["domain", "--out=d"]).unwrap(),
            Command::Domain { out: "d".into(), seed: DEFAULT_SEED }
        );
        assert_eq!(p(&["--help"]).unwrap(), Command::Help);
    }

    #[test]
    fn rejects_bad_input() {
        for (args, want) in [
            (&[][..], "no command"),
            (&["train"][..], "unknown command"),
            (&["corpus", "--out", "x", "--verbose"][..], "unknown argument `--verbose`"),
            (&["domain", "--out", "x", "--documents", "3"][..], "unknown argument `--documents`"),
            (&["corpus"][..], "`--out` is required"),
            (&["corpus", "--out"][..], "needs a value"),
            (&["corpus", "--out", "x", "--seed", "-1"][..], "--seed -1"),
            (&["corpus", "--out", "x", "--documents", "0"][..], "at least 1"),
        ] {
            let err = format!("{:#}", p(args).unwrap_err());
            assert!(err.contains(want), "{args:?}: {err}");
        }
    }
}
