//! Parquet copies of the split files (`split.parquet = true`): each `*.jsonl` split is read
//! back with arrow-json, its schema inferred from all its lines (so fields that only some
//! records have become nullable columns, and `messages` becomes `list<struct<role, content>>`),
//! and written with parquet's `ArrowWriter` (zstd). An empty split gets no Parquet file.
//!
//! Not supported: a field whose JSON type differs between records in a way arrow-json cannot
//! reconcile (e.g. an object in one record and a number in another); the error names the file.

use std::fs::File;
use std::io::{BufReader, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::{Error, Result};

/// Writes `name.parquet` beside `name.jsonl`; returns its path, or `None` for an empty split.
pub fn jsonl_to_parquet(jsonl: &Path) -> Result<Option<PathBuf>> {
    let bad = |message: String| Error::BadFile { path: jsonl.to_path_buf(), message };
    let io = |err| Error::Io { path: jsonl.to_path_buf(), err };
    if std::fs::metadata(jsonl).map_err(io)?.len() == 0 {
        return Ok(None);
    }
    let mut reader = BufReader::new(File::open(jsonl).map_err(io)?);
    let (schema, _) = arrow_json::reader::infer_json_schema_from_seekable(&mut reader, None)
        .map_err(|e| bad(format!("cannot infer a Parquet schema: {e}")))?;
    reader.rewind().map_err(io)?;
    let schema = Arc::new(schema);
    let batches = arrow_json::ReaderBuilder::new(schema.clone())
        .with_batch_size(4096)
        .build(reader)
        .map_err(|e| bad(format!("cannot read for Parquet: {e}")))?;
    let out = jsonl.with_extension("parquet");
    let tmp = jsonl.with_extension("parquet.partial");
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let file = File::create(&tmp).map_err(|err| Error::Io { path: tmp.clone(), err })?;
    let mut writer = ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| bad(format!("cannot write Parquet: {e}")))?;
    for batch in batches {
        let batch = batch.map_err(|e| bad(format!("cannot convert to Parquet: {e}")))?;
        writer.write(&batch).map_err(|e| bad(format!("cannot write Parquet: {e}")))?;
    }
    writer.close().map_err(|e| bad(format!("cannot finish Parquet: {e}")))?;
    std::fs::rename(&tmp, &out).map_err(|err| Error::Io { path: out.clone(), err })?;
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::read_all_objects;

    #[test]
    fn parquet_copy_reads_back_as_the_same_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("train.jsonl");
        let lines = [
            r#"{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}],"id":1}"#,
            r#"{"messages":[{"role":"user","content":"Q"},{"role":"assistant","content":"A"}]}"#,
        ];
        std::fs::write(&p, lines.join("\n") + "\n").expect("write");
        let out = jsonl_to_parquet(&p).expect("converts").expect("not empty");
        let rows = read_all_objects(&out).expect("reads parquet");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].1["messages"][1]["content"], "Hello");
        assert_eq!(rows[0].1["id"], 1);
        assert!(rows[1].1.get("id").is_none_or(|v| v.is_null()));
        std::fs::write(&p, "").expect("truncate");
        assert_eq!(jsonl_to_parquet(&p).expect("empty is fine"), None);
    }
}
