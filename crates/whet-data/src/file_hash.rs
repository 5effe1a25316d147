//! The SHA-256 of a file in lowercase hex: how run and eval records name exactly the data they read.

use std::path::Path;

use sha2::{Digest, Sha256};

pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}
