//! Prints what a run found: for people ([`Format::Text`]), programs
//! ([`Format::Json`]) and code-scanning tools ([`Format::Sarif`]), one file
//! per format behind the [`Format`] enum (a new format is one file here and
//! one arm in [`write`]).
//!
//! Every format says what was found, where (`path:line:column`), why it is a
//! credential and what to do now. No format prints a full key ID or secret
//! unless the user asked for it with `--show-secrets`.

use std::io::{self, Write};

mod json;
mod sarif;
mod text;

use crate::engine::redact::{plain, scrub};
use crate::engine::scanner::{ScanReport, Stop};

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// For people.
    #[default]
    Text,
    /// One JSON document, for tools.
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other consumers.
    Sarif,
}

/// Who the text is for: a hook adds the words a blocked commit needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// `keygate scan`, `--staged`: findings only.
    Scan,
    /// The pre-commit hook: the commit is blocked.
    PreCommit,
    /// The `commit-msg` hook: the message of the commit being made.
    CommitMsg,
    /// Server side: the push is rejected.
    Push,
    /// Server side: the push is let in by a bypass with a reason (`policy`).
    PushBypassed,
    /// Client side: the push is stopped before anything is sent.
    PrePush,
    /// `keygate history`: what is already in the past.
    History,
}

/// How to print.
#[derive(Clone, Copy, Debug)]
pub struct ReportOptions {
    /// Text, JSON or SARIF.
    pub format: Format,
    /// Who reads it: decides the words around the findings.
    pub audience: Audience,
    /// `--show-secrets`: print the full values.
    pub show_secrets: bool,
}

/// Writes the report.
pub fn write(out: &mut dyn Write, report: &ScanReport, options: ReportOptions) -> io::Result<()> {
    match options.format {
        Format::Text => text::write(out, report, options),
        Format::Json => json::write(out, report, options),
        Format::Sarif => sarif::write(out, report, options),
    }
}

/// A byte count for people: `512 bytes`, `3.4 KB`, `12.0 MB`.
pub(crate) fn human_bytes(bytes: u64) -> String {
    match bytes {
        0..=999 => format!("{bytes} bytes"),
        1_000..=999_999 => format!("{:.1} KB", bytes as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1} MB", bytes as f64 / 1e6),
        _ => format!("{:.2} GB", bytes as f64 / 1e9),
    }
}

/// Prints the problems (inputs not scanned) to `err`, one per line.
pub(crate) fn write_problems(err: &mut dyn Write, report: &ScanReport) -> io::Result<()> {
    for (path, message) in problem_lines(report) {
        writeln!(
            err,
            "keygate: error: {}",
            scrub(&format!("{path}: {message}"))
        )?;
    }
    if !report.complete() {
        writeln!(
            err,
            "keygate: the scan is incomplete ({} input(s) not scanned); not reporting clean",
            report.problems.len() + usize::from(report.stopped.is_some())
        )?;
    }
    Ok(())
}

/// Each input not scanned and why, then why the scan stopped early (under
/// `<time budget>`): what every format lists as errors.
fn problem_lines(report: &ScanReport) -> impl Iterator<Item = (String, String)> + '_ {
    let problems = report
        .problems
        .iter()
        // Plain words: the git library's error codes only with --verbose.
        .map(|p| (p.path.clone(), plain(&p.error.to_string())));
    let stop = report.stopped.map(|stop| match stop {
        Stop::TimeBudget { .. } => ("<time budget>".to_string(), stop.to_string()),
    });
    problems.chain(stop)
}
