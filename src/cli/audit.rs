//! The server's audit log: one JSON object per line, appended by the
//! pre-receive gate for every rejection, bypass, inline allow and time-out,
//! and `keygate audit-log`, which reads it back as a table or filtered JSON
//! lines.
//!
//! Each record is written whole with a single `write(2)` on a file opened
//! with `O_APPEND`: concurrent pushes (each its own hook process) never
//! interleave nor lose lines on a local file system. A record is kept under
//! [`MAX_RECORD_BYTES`] (findings beyond that are counted, not listed). A
//! record never holds a secret or a full key ID: findings are logged as
//! their redacted form and fingerprint, and what the pusher controls (ref
//! names, the bypass reason, the pusher's name) is scrubbed first.

use std::fs::OpenOptions;
use std::io::{BufRead, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

use crate::cli::policy::{clip, printable, Pusher};
use crate::engine::redact::scrub;
use crate::engine::scanner::{Finding, ScanReport};
use crate::report::Format;
use crate::sources::git::push::RefUpdate;

/// The largest record written.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;
/// Findings and refs listed in one record at most.
const MAX_LISTED: usize = 100;
/// Longest path or ref name kept in a record.
const MAX_NAME_CHARS: usize = 300;

/// What happened to a push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Findings: rejected.
    Rejected,
    /// Findings let in by a bypass with a reason.
    Bypass,
    /// A bypass was asked for and refused: rejected.
    BypassRefused,
    /// Nothing blocking, but `keygate:allow` markers let something in.
    InlineAllowed,
    /// The time budget ran out; accepted (`on_timeout = "accept"`).
    TimeoutAccepted,
    /// The time budget ran out; rejected.
    TimeoutRejected,
    /// Something could not be scanned: rejected.
    Incomplete,
}

impl Event {
    /// The event as the log writes it and `--event` names it.
    pub fn name(self) -> &'static str {
        match self {
            Event::Rejected => "rejected",
            Event::Bypass => "bypass",
            Event::BypassRefused => "bypass-refused",
            Event::InlineAllowed => "inline-allowed",
            Event::TimeoutAccepted => "timeout-accepted",
            Event::TimeoutRejected => "timeout-rejected",
            Event::Incomplete => "incomplete",
        }
    }

    fn accepted(self) -> bool {
        matches!(
            self,
            Event::Bypass | Event::InlineAllowed | Event::TimeoutAccepted
        )
    }
}

/// One push's record.
pub struct Record<'a> {
    /// What the server did with the push.
    pub event: Event,
    /// The repository pushed to: its path on the server.
    pub repository: String,
    /// Who pushed.
    pub pusher: Pusher,
    /// The refs the push changes.
    pub updates: &'a [RefUpdate],
    /// The bypass reason the pusher gave (left out when it holds a credential).
    pub reason: Option<String>,
    /// What the scan found, allowed and could not read.
    pub report: &'a ScanReport,
}

/// Why a record could not be appended to the audit log.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AuditError {
    /// The log could not be opened or written.
    #[error("cannot write the audit log {path}: {source}")]
    Unwritable {
        /// The audit log.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The log's path is a directory, a FIFO or another non-file: appending
    /// to it could block the hook or write nowhere.
    #[error("cannot write the audit log {path}: it is not a regular file")]
    NotAFile {
        /// The audit log.
        path: PathBuf,
    },
    /// The system took only part of the record.
    #[error("cannot write the audit log {path}: only {written} of {len} bytes were written")]
    ShortWrite {
        /// The audit log.
        path: PathBuf,
        /// Bytes written.
        written: usize,
        /// Bytes of the record.
        len: usize,
    },
}

#[derive(Serialize)]
struct JsonRecord<'a> {
    v: u32,
    time: String,
    event: &'static str,
    verdict: &'static str,
    repository: &'a str,
    pusher: &'a str,
    pusher_source: &'a str,
    refs: Vec<JsonRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    findings: Vec<JsonFinding<'a>>,
    findings_total: usize,
    findings_omitted: usize,
    refs_total: usize,
    problems: usize,
    keygate: &'static str,
}

#[derive(Serialize)]
struct JsonRef {
    #[serde(rename = "ref")]
    name: String,
    old: Option<String>,
    new: Option<String>,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    status: &'static str,
    commit: Option<&'a str>,
    path: String,
    line: usize,
    rule: &'a str,
    fingerprint: String,
    redacted: &'a str,
}

impl<'r> Record<'r> {
    /// The record as one line, newline included.
    pub(crate) fn to_line(&self) -> Vec<u8> {
        // What the pusher controls, scrubbed in one pass.
        let mut controlled: Vec<String> = vec![
            printable(&self.pusher.name),
            printable(self.reason.as_deref().unwrap_or("")),
        ];
        controlled.extend(
            self.updates
                .iter()
                .take(MAX_LISTED)
                .map(|u| clip(&printable(&u.refname), MAX_NAME_CHARS)),
        );
        let scrubbed: Vec<String> = scrub(&controlled.join("\n"))
            .split('\n')
            .map(str::to_string)
            .collect();
        let scrubbed = if scrubbed.len() == controlled.len() {
            scrubbed
        } else {
            controlled
                .iter()
                .map(|_| "<withheld>".to_string())
                .collect()
        };
        let blocked = if self.event == Event::Bypass {
            "bypassed"
        } else {
            "blocked"
        };
        let finding = |status: &'static str, f: &'r Finding| JsonFinding {
            status,
            commit: f.origin.commit().map(|c| c.id.as_str()),
            path: clip(&f.path, MAX_NAME_CHARS),
            line: f.location.line,
            rule: &f.rule_id,
            fingerprint: clip(&f.fingerprint, 3 * MAX_NAME_CHARS),
            redacted: &f.redacted,
        };
        let all: Vec<JsonFinding> = self
            .report
            .findings
            .iter()
            .map(|f| finding(blocked, f))
            .chain(
                self.report
                    .inline_allowed
                    .iter()
                    .map(|f| finding("inline-allowed", f)),
            )
            .take(MAX_LISTED)
            .collect();
        let total = self.report.findings.len() + self.report.inline_allowed.len();
        let mut record = JsonRecord {
            v: 1,
            time: utc_now(),
            event: self.event.name(),
            verdict: if self.event.accepted() {
                "accepted"
            } else {
                "rejected"
            },
            repository: &self.repository,
            pusher: &scrubbed[0],
            pusher_source: &self.pusher.source,
            refs: self
                .updates
                .iter()
                .zip(&scrubbed[2..])
                .map(|(u, name)| JsonRef {
                    name: name.clone(),
                    old: u.old.map(|o| o.to_string()),
                    new: u.new.map(|o| o.to_string()),
                })
                .collect(),
            reason: self.reason.as_ref().map(|_| scrubbed[1].as_str()),
            findings_omitted: total - all.len(),
            findings: all,
            findings_total: total,
            refs_total: self.updates.len(),
            problems: self.report.problems.len(),
            keygate: env!("CARGO_PKG_VERSION"),
        };
        loop {
            let mut line = serde_json::to_vec(&record).unwrap_or_default();
            if line.len() < MAX_RECORD_BYTES
                || (record.findings.is_empty() && record.refs.is_empty())
            {
                line.push(b'\n');
                return line;
            }
            if record.findings.pop().is_some() {
                record.findings_omitted += 1;
            } else {
                record.refs.pop();
            }
        }
    }
}

/// Appends `record` to the log at `path` (created, mode 0640, if missing).
pub(crate) fn append(path: &Path, record: &Record) -> Result<(), AuditError> {
    let line = record.to_line();
    let unwritable = |source| AuditError::Unwritable {
        path: path.to_path_buf(),
        source,
    };
    // O_NONBLOCK: a FIFO put in the log's place must not hang the hook.
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(unwritable)?;
    if !file.metadata().map_err(unwritable)?.is_file() {
        return Err(AuditError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    // One write: with O_APPEND the kernel places it whole at the end.
    let written = (&file).write(&line).map_err(unwritable)?;
    if written != line.len() {
        return Err(AuditError::ShortWrite {
            path: path.to_path_buf(),
            written,
            len: line.len(),
        });
    }
    Ok(())
}

/// Now, as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc(secs)
}

fn utc(secs: u64) -> String {
    let rem = secs % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        crate::sources::git::history::civil_date(secs as i64),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

// --- the reader ----------------------------------------------------------------

/// `keygate audit-log` filters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    /// `--pusher NAME`: only this pusher's records.
    pub pusher: Option<String>,
    /// `--fingerprint FP`: only records with this finding (the whole fingerprint or its hash).
    pub fingerprint: Option<String>,
    /// `--event EVENT`: only records of this event.
    pub event: Option<String>,
}

/// What reading the log found wrong.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The log could not be opened or read.
    #[error("cannot read the audit log {path}: {source}")]
    Unreadable {
        /// The audit log.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

/// Whether a finding's fingerprint matches `wanted`: the whole fingerprint,
/// or its hash (the part after the last `:`).
fn fingerprint_matches(fingerprint: &str, wanted: &str) -> bool {
    fingerprint == wanted || fingerprint.rsplit(':').next() == Some(wanted)
}

fn matches(record: &Value, filters: &Filters) -> bool {
    let text = |key: &str| record.get(key).and_then(Value::as_str).unwrap_or("");
    if filters
        .pusher
        .as_deref()
        .is_some_and(|p| text("pusher") != p)
    {
        return false;
    }
    if filters.event.as_deref().is_some_and(|e| text("event") != e) {
        return false;
    }
    if let Some(wanted) = &filters.fingerprint {
        return findings_of(record).iter().any(|f| {
            f.get("fingerprint")
                .and_then(Value::as_str)
                .is_some_and(|fp| fingerprint_matches(fp, wanted))
        });
    }
    true
}

fn findings_of(record: &Value) -> Vec<Value> {
    record
        .get("findings")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Prints the records of the log at `path` that pass `filters`: a table, or
/// with `Format::Json` the matching lines as they are. Returns whether every
/// line was a valid record (invalid ones are reported on `err`).
pub fn read(
    path: &Path,
    filters: &Filters,
    format: Format,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<bool, ReadError> {
    let unreadable = |source| ReadError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut reader = std::io::BufReader::new(file);
    let mut rows: Vec<[String; 9]> = Vec::new();
    let mut valid = true;
    let mut raw = Vec::new();
    let mut number = 0usize;
    let mut records = 0usize;
    let io = |result: std::io::Result<()>| result.map_err(&unreadable);
    loop {
        raw.clear();
        let read = reader.read_until(b'\n', &mut raw).map_err(&unreadable)?;
        if read == 0 {
            break;
        }
        number += 1;
        let line = raw.strip_suffix(b"\n").unwrap_or(&raw);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record: Value = match serde_json::from_slice(line) {
            Ok(value @ Value::Object(_)) => value,
            Ok(_) => {
                valid = false;
                io(writeln!(
                    err,
                    "keygate: {}:{number}: not a JSON object",
                    path.display()
                ))?;
                continue;
            }
            Err(e) => {
                valid = false;
                io(writeln!(
                    err,
                    "keygate: {}:{number}: not JSON: {e}",
                    path.display()
                ))?;
                continue;
            }
        };
        if !matches(&record, filters) {
            continue;
        }
        records += 1;
        if format != Format::Text {
            io(out.write_all(line).and_then(|()| out.write_all(b"\n")))?;
            continue;
        }
        rows.extend(table_rows(&record, filters));
    }
    if format == Format::Text {
        io(write_table(out, &rows))?;
        io(writeln!(
            out,
            "{records} record(s), {} row(s){}",
            rows.len(),
            if valid {
                ""
            } else {
                "; some lines are not records (see above)"
            }
        ))?;
    }
    Ok(valid)
}

const HEADERS: [&str; 9] = [
    "TIME",
    "EVENT",
    "PUSHER",
    "REPOSITORY",
    "COMMIT",
    "WHERE",
    "RULE",
    "FINGERPRINT",
    "REASON",
];

/// One row per finding of `record` (that passes the fingerprint filter), or
/// one row for a record without findings.
fn table_rows(record: &Value, filters: &Filters) -> Vec<[String; 9]> {
    let text = |key: &str| printable(record.get(key).and_then(Value::as_str).unwrap_or("-"));
    let repository = text("repository");
    let repository = repository
        .rsplit('/')
        .next()
        .unwrap_or(&repository)
        .to_string();
    let base =
        |status: String, commit: String, place: String, rule: String, fingerprint: String| {
            [
                text("time"),
                status,
                text("pusher"),
                repository.clone(),
                commit,
                place,
                rule,
                fingerprint,
                text("reason"),
            ]
        };
    let findings = findings_of(record);
    let event = text("event");
    let mut rows = Vec::new();
    for f in &findings {
        let field = |key: &str| printable(f.get(key).and_then(Value::as_str).unwrap_or("-"));
        let fingerprint = field("fingerprint");
        if filters
            .fingerprint
            .as_deref()
            .is_some_and(|w| !fingerprint_matches(&fingerprint, w))
        {
            continue;
        }
        let status = field("status");
        let status = if status == "blocked" || status == "bypassed" {
            event.clone()
        } else {
            format!("{event}/{status}")
        };
        let line = f.get("line").and_then(Value::as_u64).unwrap_or(0);
        let commit: String = field("commit").chars().take(12).collect();
        rows.push(base(
            status,
            commit,
            format!("{}:{line}", field("path")),
            field("rule"),
            fingerprint.rsplit(':').next().unwrap_or("-").to_string(),
        ));
    }
    let omitted = record
        .get("findings_omitted")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if omitted > 0 && filters.fingerprint.is_none() {
        rows.push(base(
            event.clone(),
            "-".into(),
            format!("(+{omitted} not listed)"),
            "-".into(),
            "-".into(),
        ));
    }
    if rows.is_empty() && filters.fingerprint.is_none() {
        rows.push(base(event, "-".into(), "-".into(), "-".into(), "-".into()));
    }
    rows
}

fn write_table(out: &mut dyn Write, rows: &[[String; 9]]) -> std::io::Result<()> {
    const MAX_WIDTH: usize = 48;
    let cell = |s: &str| clip(s, MAX_WIDTH);
    let mut widths: Vec<usize> = HEADERS.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, value) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell(value).chars().count());
        }
    }
    let mut line = |cells: Vec<String>| -> std::io::Result<()> {
        let mut text = String::new();
        for (i, value) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(value);
            } else {
                text.push_str(&format!("{value:<w$}  ", w = widths[i]));
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(HEADERS.iter().map(|h| h.to_string()).collect())?;
    for row in rows {
        line(row.iter().map(|v| cell(v)).collect())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_798_761_599), "2026-12-31T23:59:59Z");
    }

    #[test]
    fn a_record_stays_bounded_whole_and_free_of_secrets() {
        use crate::engine::config::Config;
        use crate::engine::scanner::Scanner;
        // Assembled at run time: no key literal in the source.
        let id = format!("{}{}", "AKIA", "QYLPMN5HHHFPZAM2");
        let secret = format!("{}{}", "Zr4nK2pQ9sVw7xYb3cDe", "5fGh1jKl6mNo8pQr0sTu");
        let scanner = Scanner::from_config(&Config::default(), &[]).unwrap();
        let mut report = ScanReport::default();
        let text = format!("AWS_ACCESS_KEY_ID={id}\nAWS_SECRET_ACCESS_KEY={secret}\n");
        for i in 0..400 {
            let path = format!("{}/{i}.env", "d".repeat(280));
            scanner.scan(&path, text.as_bytes(), None, &mut report);
        }
        assert_eq!(report.findings.len(), 400);
        let oid = git2::Oid::from_str(&"ab".repeat(20)).unwrap();
        let updates: Vec<RefUpdate> = (0..300)
            .map(|i| RefUpdate {
                old: None,
                new: Some(oid),
                refname: format!("refs/heads/{}{i}", "b".repeat(400)),
            })
            .collect();
        let record = Record {
            event: Event::Bypass,
            repository: "/srv/git/r.git".into(),
            pusher: Pusher {
                name: format!("mallory\n{{\"x\":1}} {id}"),
                source: "GL_USERNAME".into(),
            },
            updates: &updates,
            reason: Some(format!("\u{1b}[31m quote\" and {secret}")),
            report: &report,
        };
        let line = record.to_line();
        assert!(line.len() <= MAX_RECORD_BYTES + 1, "{}", line.len());
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        assert!(line.ends_with(b"\n"));
        let text = String::from_utf8(line).unwrap();
        assert!(!text.contains(&id) && !text.contains(&secret), "{text}");
        let value: Value = serde_json::from_str(text.trim_end()).unwrap();
        let listed = value["findings"].as_array().unwrap().len();
        assert!(listed > 0 && listed <= MAX_LISTED);
        assert_eq!(value["findings_total"], 400);
        assert_eq!(
            value["findings_omitted"].as_u64().unwrap() as usize,
            400 - listed
        );
        assert_eq!(value["refs_total"], 300);
        assert!(value["pusher"].as_str().unwrap().starts_with("mallory?{"));
    }

    #[test]
    fn fingerprint_by_hash_or_whole() {
        assert!(fingerprint_matches("r:a/b:0123", "0123"));
        assert!(fingerprint_matches("r:a/b:0123", "r:a/b:0123"));
        assert!(!fingerprint_matches("r:a/b:0123", "012"));
    }
}
