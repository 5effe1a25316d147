//! Reading dataset files into rows that remember where they came from.
//!
//! A [`RowReader`] streams one file: JSONL (`.jsonl`, `.json` with one object per line),
//! gzip- or zstd-compressed JSONL (`.jsonl.gz`, `.jsonl.zst`), or Parquet (`.parquet`, read
//! row by row through parquet's record API, each row turned into a JSON object). Each row is
//! either a JSON object or a [`Payload::Malformed`] line with the reason, so the caller decides
//! whether a bad line stops the run or goes to the rejects file. Blank lines are not rows.
//! Line numbers are 1-based; for Parquet the "line" is the 1-based row number.
//!
//! Not supported: JSON arrays spanning the whole file, CSV, Parquet files with nested
//! map-typed columns that do not convert to JSON objects.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::{Error, Result};

/// One row of a dataset file.
#[derive(Debug, Clone)]
pub struct Row {
    /// 1-based line (JSONL) or row (Parquet) number.
    pub line: u64,
    pub payload: Payload,
}

#[derive(Debug, Clone)]
pub enum Payload {
    Object(Map<String, Value>),
    /// A line that is not a JSON object: the raw text (lossy UTF-8) and why it was refused.
    Malformed { raw: String, message: String },
}

/// The container a file is stored in, chosen from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Jsonl,
    JsonlGzip,
    JsonlZstd,
    Parquet,
}

impl Container {
    /// Picks the container from the file name; errors name the file and the accepted endings.
    pub fn from_path(path: &Path) -> Result<Self> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let c = if name.ends_with(".jsonl.gz") || name.ends_with(".json.gz") {
            Container::JsonlGzip
        } else if name.ends_with(".jsonl.zst")
            || name.ends_with(".jsonl.zstd")
            || name.ends_with(".json.zst")
        {
            Container::JsonlZstd
        } else if name.ends_with(".jsonl") || name.ends_with(".json") {
            Container::Jsonl
        } else if name.ends_with(".parquet") {
            Container::Parquet
        } else {
            return Err(Error::BadFile {
                path: path.to_path_buf(),
                message: "unknown file type: expected .jsonl, .json, .jsonl.gz, .jsonl.zst or .parquet"
                    .into(),
            });
        };
        Ok(c)
    }
}

/// Streams the rows of one file.
pub struct RowReader {
    path: PathBuf,
    inner: Inner,
}

enum Inner {
    Lines {
        reader: Box<dyn BufRead + Send>,
        line: u64,
        buf: Vec<u8>,
    },
    Parquet {
        rows: parquet::record::reader::RowIter<'static>,
        row: u64,
    },
}

impl RowReader {
    pub fn open(path: &Path) -> Result<Self> {
        let container = Container::from_path(path)?;
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            err: source,
        };
        let inner = match container {
            Container::Parquet => {
                let file = File::open(path).map_err(io)?;
                let reader = parquet::file::reader::SerializedFileReader::new(file).map_err(|e| {
                    Error::BadFile {
                        path: path.to_path_buf(),
                        message: format!("not a readable Parquet file: {e}"),
                    }
                })?;
                Inner::Parquet {
                    rows: reader.into_iter(),
                    row: 0,
                }
            }
            _ => {
                let file = File::open(path).map_err(io)?;
                let reader: Box<dyn BufRead + Send> = match container {
                    Container::JsonlGzip => Box::new(BufReader::with_capacity(
                        1 << 20,
                        flate2::read::MultiGzDecoder::new(file),
                    )),
                    Container::JsonlZstd => Box::new(BufReader::with_capacity(
                        1 << 20,
                        zstd::stream::read::Decoder::new(file).map_err(io)?,
                    )),
                    _ => Box::new(BufReader::with_capacity(1 << 20, file)),
                };
                Inner::Lines {
                    reader,
                    line: 0,
                    buf: Vec::new(),
                }
            }
        };
        Ok(RowReader {
            path: path.to_path_buf(),
            inner,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Iterator for RowReader {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Result<Row>> {
        match &mut self.inner {
            Inner::Lines { reader, line, buf } => loop {
                buf.clear();
                match reader.read_until(b'\n', buf) {
                    Ok(0) => return None,
                    Ok(_) => {}
                    Err(source) => {
                        return Some(Err(Error::Io {
                            path: self.path.clone(),
                            err: source,
                        }))
                    }
                }
                *line += 1;
                let text = trim_line(buf);
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Some(Ok(Row {
                    line: *line,
                    payload: parse_line(text),
                }));
            },
            Inner::Parquet { rows, row } => {
                let next = rows.next()?;
                *row += 1;
                Some(match next {
                    Ok(r) => Ok(Row {
                        line: *row,
                        payload: match r.to_json_value() {
                            Value::Object(map) => Payload::Object(map),
                            other => Payload::Malformed {
                                raw: other.to_string(),
                                message: "row is not a JSON object".into(),
                            },
                        },
                    }),
                    Err(e) => Err(Error::Malformed {
                        path: self.path.clone(),
                        line: *row,
                        message: format!("cannot decode Parquet row: {e}"),
                    }),
                })
            }
        }
    }
}

fn trim_line(buf: &[u8]) -> &[u8] {
    let mut end = buf.len();
    while end > 0 && (buf[end - 1] == b'\n' || buf[end - 1] == b'\r') {
        end -= 1;
    }
    &buf[..end]
}

/// Parses one JSONL line into an object, or explains why it is not one.
pub fn parse_line(bytes: &[u8]) -> Payload {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            return Payload::Malformed {
                raw: String::from_utf8_lossy(bytes).into_owned(),
                message: format!("not valid UTF-8 (at byte {})", e.valid_up_to()),
            }
        }
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Payload::Object(map),
        Ok(other) => Payload::Malformed {
            raw: text.to_string(),
            message: format!(
                "expected a JSON object per line, found {}",
                json_kind(&other)
            ),
        },
        Err(e) => Payload::Malformed {
            raw: text.to_string(),
            message: format!("invalid JSON: {e}"),
        },
    }
}

/// "a string", "an array", ... for error messages.
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads a whole (small) file's rows, failing on the first malformed one. For eval sets and
/// tests; the pipeline streams instead.
pub fn read_all_objects(path: &Path) -> Result<Vec<(u64, Map<String, Value>)>> {
    let mut out = Vec::new();
    for row in RowReader::open(path)? {
        let row = row?;
        match row.payload {
            Payload::Object(o) => out.push((row.line, o)),
            Payload::Malformed { message, .. } => {
                return Err(Error::Malformed {
                    path: path.to_path_buf(),
                    line: row.line,
                    message,
                })
            }
        }
    }
    Ok(out)
}

/// A file's size in bytes (for `inspect`).
pub fn file_len(path: &Path) -> Result<u64> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            err: source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn jsonl_rows_keep_line_numbers_and_skip_blank_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.jsonl");
        std::fs::write(&p, "{\"text\":\"a\"}\n\n{\"text\":\"b\"}\r\nnot json\n[1]\n").expect("write");
        let rows: Vec<Row> = RowReader::open(&p)
            .expect("open")
            .collect::<Result<_>>()
            .expect("rows");
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), vec![1, 3, 4, 5]);
        assert!(matches!(rows[1].payload, Payload::Object(_)));
        match &rows[2].payload {
            Payload::Malformed { message, raw } => {
                assert!(message.starts_with("invalid JSON"), "{message}");
                assert_eq!(raw, "not json");
            }
            other => panic!("expected malformed, got {other:?}"),
        }
        match &rows[3].payload {
            Payload::Malformed { message, .. } => assert!(message.contains("an array")),
            other => panic!("expected malformed, got {other:?}"),
        }
    }

    #[test]
    fn gzip_and_zstd_jsonl_read_like_plain_jsonl() {
        let dir = tempfile::tempdir().expect("tempdir");
        let body = "{\"text\":\"x\"}\n{\"text\":\"y\"}\n";
        let gz = dir.path().join("a.jsonl.gz");
        let mut enc = flate2::write::GzEncoder::new(
            File::create(&gz).expect("create"),
            flate2::Compression::default(),
        );
        enc.write_all(body.as_bytes()).expect("write");
        enc.finish().expect("finish");
        let zs = dir.path().join("a.jsonl.zst");
        std::fs::write(&zs, zstd::encode_all(body.as_bytes(), 3).expect("zstd")).expect("write");
        for p in [gz, zs] {
            let rows = read_all_objects(&p).expect("read");
            assert_eq!(rows.len(), 2);
            assert_eq!(rows[1].1["text"], "y");
        }
    }

    #[test]
    fn invalid_utf8_line_is_malformed_not_fatal() {
        let payload = parse_line(b"{\"text\":\"\xff\"}");
        assert!(matches!(payload, Payload::Malformed { ref message, .. } if message.contains("UTF-8")));
    }

    #[test]
    fn broken_parquet_and_truncated_gzip_errors_name_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pq = dir.path().join("bad.parquet");
        std::fs::write(&pq, b"PAR1 this is not parquet").expect("write");
        let err = RowReader::open(&pq).err().expect("refused").to_string();
        assert!(err.contains("bad.parquet") && err.contains("not a readable Parquet file"), "{err}");

        let gz = dir.path().join("cut.jsonl.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all("{\"text\":\"x\"}\n".repeat(1000).as_bytes()).expect("write");
        let bytes = enc.finish().expect("finish");
        std::fs::write(&gz, &bytes[..bytes.len() / 2]).expect("write");
        let result: Result<Vec<Row>> = RowReader::open(&gz).expect("opens").collect();
        let err = result.expect_err("truncated").to_string();
        assert!(err.contains("cut.jsonl.gz"), "{err}");
    }

    #[test]
    fn unknown_extension_error_names_file_and_accepted_types() {
        let err = Container::from_path(Path::new("data/x.csv"))
            .expect_err("csv is refused")
            .to_string();
        assert!(err.contains("data/x.csv") && err.contains(".parquet"), "{err}");
    }
}
