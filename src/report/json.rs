//! The JSON report: one object with every finding, what the allowlist
//! allowed, whether the scan was complete, and what could not be read.
//! Field names are an interface: add, never rename.

use std::io::{self, Write};

use serde::Serialize;

use crate::engine::redact::scrub;
use crate::engine::scanner::ScanReport;

use super::ReportOptions;

#[derive(Serialize)]
struct JsonReport<'a> {
    findings: Vec<JsonFinding<'a>>,
    allowed: usize,
    complete: bool,
    errors: Vec<JsonProblem>,
    inputs_scanned: usize,
    bytes_scanned: u64,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    rule_id: &'a str,
    kind: &'static str,
    severity: String,
    confidence: String,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<&'a str>,
    line: usize,
    column: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_column: Option<usize>,
    fingerprint: &'a str,
    redacted: &'a str,
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    author: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    date: Option<&'a str>,
    occurrences: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_commit: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    in_tree_now: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    values: Option<&'a [String]>,
}

#[derive(Serialize)]
struct JsonProblem {
    path: String,
    message: String,
}

pub(super) fn write(
    out: &mut dyn Write,
    report: &ScanReport,
    options: ReportOptions,
) -> io::Result<()> {
    let json = JsonReport {
        findings: report
            .findings
            .iter()
            .map(|f| JsonFinding {
                rule_id: &f.rule_id,
                kind: f.kind.key(),
                severity: f.severity.to_string(),
                confidence: f.confidence.to_string(),
                path: &f.path,
                commit: f.origin.commit().map(|c| c.id.as_str()),
                line: f.location.line,
                column: f.location.column,
                secret_line: f.secret_location.map(|l| l.line),
                secret_column: f.secret_location.map(|l| l.column),
                fingerprint: &f.fingerprint,
                redacted: &f.redacted,
                description: &f.evidence,
                account_id: f.account_id.as_deref(),
                author: f.origin.commit().and_then(|c| c.author.as_deref()),
                date: f.origin.commit().and_then(|c| c.date.as_deref()),
                occurrences: f.seen.as_ref().map_or(1, |s| s.occurrences),
                last_commit: f.seen.as_ref().and_then(|s| s.last_commit.as_deref()),
                in_tree_now: f.seen.as_ref().map(|s| s.in_tree_now),
                values: options.show_secrets.then_some(f.values.as_slice()),
            })
            .collect(),
        allowed: report.allowed,
        complete: report.complete(),
        errors: super::problem_lines(report)
            .map(|(path, message)| JsonProblem {
                path: scrub(&path),
                message: scrub(&message),
            })
            .collect(),
        inputs_scanned: report.inputs,
        bytes_scanned: report.bytes,
    };
    serde_json::to_writer_pretty(&mut *out, &json)?;
    writeln!(out)
}
