//! Where the outputs go. Nothing is overwritten: an existing `--out` is accepted only when it is
//! empty (an empty file for the corpus, an empty directory for the domain set), so a typo cannot
//! replace a committed asset.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// Checks that the corpus may be written to `path`.
pub fn check_file(path: &Path) -> Result<()> {
    match fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("checking {}", path.display())),
        Ok(m) if m.is_dir() => {
            bail!("{} is a directory; `corpus --out` takes a file path", path.display())
        }
        Ok(m) if m.len() > 0 => {
            bail!(
                "{} already exists and is not empty; remove it or choose another path",
                path.display()
            )
        }
        Ok(_) => Ok(()),
    }
}

/// Checks that the domain set may be written into `dir`, and creates it.
pub fn prepare_dir(dir: &Path) -> Result<()> {
    match fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
        }
        Err(e) => Err(e).with_context(|| format!("checking {}", dir.display())),
        Ok(m) if !m.is_dir() => {
            bail!(
                "{} exists and is not a directory; `domain --out` takes a directory",
                dir.display()
            )
        }
        Ok(_) => {
            let mut entries =
                fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
            if entries.next().is_some() {
                bail!(
                    "{} already exists and is not empty; remove it or choose another path",
                    dir.display()
                );
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_non_empty_targets() {
        let base = std::env::temp_dir().join(format!("whet-assetgen-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(&base).unwrap();
        let file = base.join("c.jsonl");
        check_file(&file).unwrap();
        fs::write(&file, "").unwrap();
        check_file(&file).unwrap();
        fs::write(&file, "x").unwrap();
        assert!(check_file(&file).unwrap_err().to_string().contains("not empty"));
        assert!(check_file(&base).unwrap_err().to_string().contains("is a directory"));
        let dir = base.join("d");
        prepare_dir(&dir).unwrap();
        prepare_dir(&dir).unwrap();
        fs::write(dir.join("train.jsonl"), "").unwrap();
        assert!(prepare_dir(&dir).unwrap_err().to_string().contains("not empty"));
        assert!(prepare_dir(&file).unwrap_err().to_string().contains("not a directory"));
        fs::remove_dir_all(&base).unwrap();
    }
}
