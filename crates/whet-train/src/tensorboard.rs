//! TensorBoard event files (`events.out.tfevents.*`) with scalar summaries, so `tensorboard
//! --logdir runs/` shows a run's curves.
//!
//! Why written here: the format is two small protobuf messages (`Event` with `wall_time`, `step`
//! and a `Summary` of `{tag, simple_value}` values) framed as TFRecords (length, masked CRC-32C
//! of the length, data, masked CRC-32C of the data). The Rust TensorBoard writers on crates.io
//! pull in a protobuf runtime and image libraries for that; the encoder below is the few fields
//! whet writes, with `crc32c` from crates.io for the checksums.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

pub struct EventWriter {
    file: File,
    path: PathBuf,
}

impl EventWriter {
    /// Creates a new event file in `dir`, starting with the file-version event TensorBoard expects.
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
        let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "whet".into());
        let path = dir.join(format!("events.out.tfevents.{}.{host}", now().floor() as u64));
        let file = File::create(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
        let mut w = Self { file, path };
        let mut event = Vec::new();
        put_double(&mut event, 1, now());
        put_bytes(&mut event, 3, b"brain.Event:2");
        w.record(&event)?;
        Ok(w)
    }

    /// Writes scalars (`train/loss`, `eval/loss`, ...) for `step`.
    pub fn scalars(&mut self, step: u64, values: &[(&str, f64)]) -> Result<()> {
        let mut summary = Vec::new();
        for (tag, value) in values {
            let mut v = Vec::new();
            put_bytes(&mut v, 1, tag.as_bytes());
            put_float(&mut v, 2, *value as f32);
            put_bytes(&mut summary, 1, &v);
        }
        let mut event = Vec::new();
        put_double(&mut event, 1, now());
        put_varint_field(&mut event, 2, step);
        put_bytes(&mut event, 5, &summary);
        self.record(&event)
    }

    /// One TFRecord: length, masked CRC of the length, data, masked CRC of the data.
    fn record(&mut self, data: &[u8]) -> Result<()> {
        let len = (data.len() as u64).to_le_bytes();
        let mut buf = Vec::with_capacity(data.len() + 16);
        buf.extend_from_slice(&len);
        buf.extend_from_slice(&masked_crc(&len).to_le_bytes());
        buf.extend_from_slice(data);
        buf.extend_from_slice(&masked_crc(data).to_le_bytes());
        self.file
            .write_all(&buf)
            .and_then(|_| self.file.flush())
            .map_err(|source| Error::Io { path: self.path.clone(), source })
    }
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// TFRecord's checksum: CRC-32C, rotated right by 15 bits, plus a constant.
fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Protobuf key: field number and wire type.
fn put_key(out: &mut Vec<u8>, field: u64, wire: u64) {
    put_varint(out, (field << 3) | wire);
}

fn put_varint_field(out: &mut Vec<u8>, field: u64, v: u64) {
    put_key(out, field, 0);
    put_varint(out, v);
}

fn put_double(out: &mut Vec<u8>, field: u64, v: f64) {
    put_key(out, field, 1);
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_float(out: &mut Vec<u8>, field: u64, v: f32) {
    put_key(out, field, 5);
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_key(out, field, 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_crc_matches_tensorflow_reference_value() {
        // TFRecord framing of an empty payload's length (8 zero bytes), as TensorFlow writes it.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283); // the CRC-32C check value
        assert_eq!(masked_crc(b""), 0u32.rotate_right(15).wrapping_add(0xa282_ead8));
    }

    #[test]
    fn scalar_events_are_framed_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(dir.path()).unwrap();
        w.scalars(3, &[("train/loss", 1.5)]).unwrap();
        let bytes = std::fs::read(&w.path).unwrap();
        // Walk the records: each length must be followed by a valid masked CRC.
        let mut at = 0;
        let mut n = 0;
        while at < bytes.len() {
            let len = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
            let len_crc = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap());
            assert_eq!(len_crc, masked_crc(&bytes[at..at + 8]));
            let data = &bytes[at + 12..at + 12 + len];
            let data_crc = u32::from_le_bytes(bytes[at + 12 + len..at + 16 + len].try_into().unwrap());
            assert_eq!(data_crc, masked_crc(data));
            at += 16 + len;
            n += 1;
        }
        assert_eq!(n, 2);
        // The scalar's tag and value are in the second record.
        let needle = 1.5f32.to_le_bytes();
        assert!(bytes.windows(10).any(|w| w == b"train/loss"));
        assert!(bytes.windows(4).any(|w| w == needle));
    }
}
