//! The feedback database: every finished completion (its id, time, route, variant, adapter
//! version, prompt, answer, finish reason) and the feedback users give on it, in one SQLite file
//! (`feedback_db` in the config). `whet feedback export` reads it back
//! ([`crate::feedback_export`]).
//!
//! SQLite calls block, so they never run on the async runtime: one writer thread owns the
//! connection and takes commands from a channel, in order. A response is queued for writing
//! before the client sees its last byte, so feedback posted after a response always finds it
//! (the channel is first in, first out). A failed write is logged and the server goes on; the
//! answer was already given.
//!
//! Retention (`feedback_retention_days`): prompts and answers are user data, so a server can
//! keep them for a set time only. The writer deletes responses older than that, with their
//! feedback, when it starts and then every hour.
//!
//! Schema (`PRAGMA user_version = 1`):
//!
//! - `responses(id TEXT PRIMARY KEY, created REAL, endpoint TEXT, route TEXT, variant TEXT,
//!   adapter_version TEXT, user TEXT, prompt TEXT, response TEXT, finish_reason TEXT,
//!   choices TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, guardrails TEXT)`:
//!   `endpoint` is `chat` or `completion`; `prompt` is JSON: the chat messages as the template
//!   saw them (`[{role, content}]`), or the completion `prompt` as sent; `response` and
//!   `finish_reason` are the first choice's, `choices` a JSON list of every choice's text when
//!   there were several; `guardrails` is the guardrail verdicts: NULL when no guardrail policy
//!   applied, else a JSON list of interventions (`[{guardrail, action, detail}]`, empty when
//!   the policy found nothing). A request a guardrail refused is stored with its verdicts,
//!   `prompt` `null`, an empty `response` and `finish_reason` `content_filter`.
//! - `feedback(id INTEGER PRIMARY KEY, response_id TEXT REFERENCES responses(id), created REAL,
//!   rating INTEGER, preferred INTEGER, comment TEXT)`: one row per `POST /v1/feedback`; the
//!   latest row of a response is its feedback.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};
use std::sync::Mutex;
use std::thread::JoinHandle;

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Error, Result};

/// The schema version this code writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    endpoint TEXT NOT NULL,
    route TEXT,
    variant TEXT NOT NULL,
    adapter_version TEXT,
    user TEXT,
    prompt TEXT NOT NULL,
    response TEXT NOT NULL,
    finish_reason TEXT,
    choices TEXT,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    guardrails TEXT
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    response_id TEXT NOT NULL REFERENCES responses(id),
    created REAL NOT NULL,
    rating INTEGER,
    preferred INTEGER,
    comment TEXT
);
CREATE INDEX IF NOT EXISTS feedback_response ON feedback(response_id);
";

/// One finished completion, as stored.
#[derive(Debug, Clone)]
pub struct ResponseRecord {
    pub id: String,
    /// Unix time in seconds.
    pub created: f64,
    /// `chat` or `completion`.
    pub endpoint: &'static str,
    pub route: Option<String>,
    pub variant: String,
    pub adapter_version: Option<String>,
    pub user: Option<String>,
    /// JSON: the chat messages, or the completion prompt.
    pub prompt: String,
    pub response: String,
    pub finish_reason: Option<String>,
    /// JSON list of every choice's text, when there were several.
    pub choices: Option<String>,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    /// JSON list of guardrail interventions; `None` when no policy applied.
    pub guardrails: Option<String>,
}

/// Feedback on a stored response (checked by the caller: a rating is 1 to 5, and at least one
/// of `rating` and `preferred` is given).
#[derive(Debug, Clone)]
pub struct FeedbackRecord {
    pub response_id: String,
    pub rating: Option<u8>,
    pub preferred: Option<bool>,
    pub comment: Option<String>,
}

/// What became of feedback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedbackOutcome {
    /// Stored under row `id`, on a response of this route and variant.
    Stored {
        id: i64,
        route: Option<String>,
        variant: String,
    },
    /// No response with that id is stored.
    UnknownResponse,
    /// The database refused (the message says why).
    Failed(String),
}

enum Command {
    Response(Box<ResponseRecord>),
    Feedback(
        FeedbackRecord,
        tokio::sync::oneshot::Sender<FeedbackOutcome>,
    ),
}

/// The HTTP side's end of the writer thread.
pub struct FeedbackStore {
    path: PathBuf,
    /// `None` once dropping; the mutex makes the store `Sync` without cloning senders per call.
    commands: Mutex<Option<Sender<Command>>>,
    writer: Option<JoinHandle<()>>,
}

/// Opens (creating it and its directory if needed) the database at `path` with the schema.
pub fn open_db(path: &Path) -> Result<Connection> {
    let fail = |message: String| Error::FeedbackDb {
        path: path.to_path_buf(),
        message,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            fail(format!(
                "cannot create its directory {}: {e}; set `feedback_db` to a writable path",
                dir.display()
            ))
        })?;
    }
    let conn = Connection::open(path).map_err(|e| {
        fail(format!(
            "cannot open it: {e}; set `feedback_db` to a writable path"
        ))
    })?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| {
            fail(format!(
                "not an SQLite database ({e}); set `feedback_db` to a new file"
            ))
        })?;
    if version > SCHEMA_VERSION {
        return Err(fail(format!(
            "its schema version {version} is newer than this whet's ({SCHEMA_VERSION}); use a newer whet or a new file"
        )));
    }
    conn.execute_batch(SCHEMA)
        .and_then(|()| conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}")))
        // WAL: readers (an export while the server runs) do not block the writer.
        .and_then(|()| conn.pragma_update(None, "journal_mode", "WAL"))
        .map_err(|e| fail(format!("cannot create the tables: {e}")))?;
    Ok(conn)
}

impl FeedbackStore {
    /// Opens the database and starts the writer thread, which deletes responses older than
    /// `retention_days` (when given) with their feedback, now and every hour.
    pub fn open(path: &Path, retention_days: Option<f64>) -> Result<Self> {
        let conn = open_db(path)?;
        let (tx, rx) = channel();
        let writer = std::thread::Builder::new()
            .name("whet-feedback".into())
            .spawn(move || write_loop(&conn, rx, retention_days))
            .map_err(|e| Error::FeedbackDb {
                path: path.to_path_buf(),
                message: format!("cannot start its writer thread: {e}"),
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            commands: Mutex::new(Some(tx)),
            writer: Some(writer),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn send(&self, command: Command) -> bool {
        let commands = self.commands.lock().unwrap_or_else(|e| e.into_inner());
        commands.as_ref().is_some_and(|tx| tx.send(command).is_ok())
    }

    /// Queues a finished response for writing.
    pub fn record(&self, record: ResponseRecord) {
        if !self.send(Command::Response(Box::new(record))) {
            tracing::warn!("the feedback writer has stopped; a response was not stored");
        }
    }

    /// Stores feedback once every response queued before it is written.
    pub async fn feedback(&self, feedback: FeedbackRecord) -> FeedbackOutcome {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if !self.send(Command::Feedback(feedback, tx)) {
            return FeedbackOutcome::Failed("the feedback writer has stopped".into());
        }
        rx.await
            .unwrap_or_else(|_| FeedbackOutcome::Failed("the feedback writer has stopped".into()))
    }
}

impl FeedbackStore {
    /// [`FeedbackStore::feedback`] for callers outside an async runtime (tools, tests).
    pub fn feedback_blocking(&self, feedback: FeedbackRecord) -> FeedbackOutcome {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if !self.send(Command::Feedback(feedback, tx)) {
            return FeedbackOutcome::Failed("the feedback writer has stopped".into());
        }
        rx.blocking_recv()
            .unwrap_or_else(|_| FeedbackOutcome::Failed("the feedback writer has stopped".into()))
    }
}

impl Drop for FeedbackStore {
    /// Closes the channel and waits until everything queued is written.
    fn drop(&mut self) {
        self.commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// How often the writer deletes what is past the retention time.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

fn write_loop(conn: &Connection, commands: Receiver<Command>, retention_days: Option<f64>) {
    let mut purged = None::<Instant>;
    loop {
        if let Some(days) = retention_days {
            if purged.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
                match purge_older_than(conn, now() - days * 86_400.0) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(responses = n, days, "deleted responses past the feedback retention time"),
                    Err(e) => tracing::warn!(error = %e, "could not delete old responses from the feedback database"),
                }
                purged = Some(Instant::now());
            }
        }
        let command = match commands.recv_timeout(PURGE_EVERY) {
            Ok(command) => command,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        match command {
            Command::Response(r) => {
                if let Err(e) = insert_response(conn, &r) {
                    tracing::warn!(id = %r.id, error = %e, "could not store the response in the feedback database");
                }
            }
            Command::Feedback(f, reply) => {
                let _ = reply.send(insert_feedback(conn, &f));
            }
        }
    }
}

/// Deletes the responses created before `cutoff` (seconds since the epoch) and their feedback;
/// returns how many responses went.
fn purge_older_than(conn: &Connection, cutoff: f64) -> rusqlite::Result<usize> {
    let tx = conn.unchecked_transaction()?;
    tx.execute("DELETE FROM feedback WHERE response_id IN (SELECT id FROM responses WHERE created < ?1)", params![cutoff])?;
    let n = tx.execute("DELETE FROM responses WHERE created < ?1", params![cutoff])?;
    tx.commit()?;
    Ok(n)
}

fn insert_response(conn: &Connection, r: &ResponseRecord) -> rusqlite::Result<usize> {
    conn.execute(
        "INSERT OR REPLACE INTO responses (id, created, endpoint, route, variant, adapter_version, user, prompt, response, finish_reason, choices, prompt_tokens, completion_tokens, guardrails)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            r.id,
            r.created,
            r.endpoint,
            r.route,
            r.variant,
            r.adapter_version,
            r.user,
            r.prompt,
            r.response,
            r.finish_reason,
            r.choices,
            r.prompt_tokens as i64,
            r.completion_tokens as i64,
            r.guardrails,
        ],
    )
}

fn insert_feedback(conn: &Connection, f: &FeedbackRecord) -> FeedbackOutcome {
    let found = conn
        .query_row(
            "SELECT route, variant FROM responses WHERE id = ?1",
            [&f.response_id],
            |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, String>(1)?)),
        )
        .optional();
    let (route, variant) = match found {
        Err(e) => return FeedbackOutcome::Failed(e.to_string()),
        Ok(None) => return FeedbackOutcome::UnknownResponse,
        Ok(Some(found)) => found,
    };
    let inserted = conn.execute(
        "INSERT INTO feedback (response_id, created, rating, preferred, comment) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![f.response_id, now(), f.rating, f.preferred, f.comment],
    );
    match inserted {
        Ok(_) => FeedbackOutcome::Stored {
            id: conn.last_insert_rowid(),
            route,
            variant,
        },
        Err(e) => FeedbackOutcome::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> ResponseRecord {
        ResponseRecord {
            id: id.into(),
            created: 1.0,
            endpoint: "chat",
            route: Some("bot".into()),
            variant: "sft".into(),
            adapter_version: Some("abcdef012345".into()),
            user: None,
            prompt: r#"[{"role":"user","content":"hi"}]"#.into(),
            response: "hello".into(),
            finish_reason: Some("stop".into()),
            choices: None,
            prompt_tokens: 3,
            completion_tokens: 2,
            guardrails: None,
        }
    }

    #[test]
    fn feedback_finds_a_response_queued_before_it_and_refuses_unknown_ids() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/feedback.sqlite");
        let store = FeedbackStore::open(&path, None).unwrap();
        store.record(record("chatcmpl-1"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let fb = |id: &str| FeedbackRecord {
            response_id: id.into(),
            rating: Some(4),
            preferred: None,
            comment: Some("good".into()),
        };
        assert!(matches!(
            rt.block_on(store.feedback(fb("chatcmpl-1"))),
            FeedbackOutcome::Stored { ref variant, .. } if variant == "sft"
        ));
        assert_eq!(
            rt.block_on(store.feedback(fb("chatcmpl-2"))),
            FeedbackOutcome::UnknownResponse
        );
        drop(store);
        let conn = open_db(&path).unwrap();
        let (variant, rating): (String, i64) = conn
            .query_row(
                "SELECT r.variant, f.rating FROM feedback f JOIN responses r ON r.id = f.response_id",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((variant.as_str(), rating), ("sft", 4));
    }

    #[test]
    fn responses_past_the_retention_time_go_with_their_feedback() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feedback.sqlite");
        let day = 86_400.0;
        let store = FeedbackStore::open(&path, None).unwrap();
        for (id, age_days) in [("old", 31.0), ("recent", 29.0)] {
            store.record(ResponseRecord { created: now() - age_days * day, ..record(id) });
            let fb = FeedbackRecord { response_id: id.into(), rating: Some(5), preferred: None, comment: None };
            assert!(matches!(store.feedback_blocking(fb), FeedbackOutcome::Stored { .. }));
        }
        drop(store);
        let ids = || -> Vec<(String, i64)> {
            let conn = open_db(&path).unwrap();
            let mut q = conn.prepare("SELECT r.id, COUNT(f.id) FROM responses r LEFT JOIN feedback f ON f.response_id = r.id GROUP BY r.id ORDER BY r.id").unwrap();
            let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(|r| r.unwrap()).collect();
            rows
        };
        assert_eq!(ids().len(), 2, "no retention: everything kept");
        // Reopened with 30 days: the writer purges at start.
        let store = FeedbackStore::open(&path, Some(30.0)).unwrap();
        store.record(ResponseRecord { created: now(), ..record("new") });
        drop(store);
        assert_eq!(ids(), [("new".to_string(), 0), ("recent".to_string(), 1)]);
        let conn = open_db(&path).unwrap();
        let orphans: i64 = conn.query_row("SELECT COUNT(*) FROM feedback WHERE response_id = 'old'", [], |r| r.get(0)).unwrap();
        assert_eq!(orphans, 0, "the old response's feedback went with it");
    }

    #[test]
    fn a_file_that_is_not_a_database_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(
            &path,
            "this is not SQLite, just some text that is long enough",
        )
        .unwrap();
        let err = FeedbackStore::open(&path, None).err().unwrap().to_string();
        assert!(
            err.contains("notes.txt") && err.contains("feedback_db"),
            "{err}"
        );
    }
}
