//! Prints what a run found, for people (`text`) and programs (`json`).
//!
//! Every format says what was found, where (`path:line:column`), why it is a
//! credential and what to do now. No format prints a full key ID or secret
//! unless the user asked for it with `--show-secrets`.

use std::io::{self, Write};

use serde::Serialize;

use crate::rules::CredentialKind;
use crate::scan::ScanReport;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// Who the text is for: a hook adds the words a blocked commit needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    Scan,
    PreCommit,
    /// Server side: the push is rejected.
    Push,
    /// Client side: the push is stopped before anything is sent.
    PrePush,
}

/// How to print.
#[derive(Clone, Copy, Debug)]
pub struct ReportOptions {
    pub format: Format,
    pub audience: Audience,
    pub show_secrets: bool,
}

/// Writes the report.
pub fn write(out: &mut dyn Write, report: &ScanReport, options: ReportOptions) -> io::Result<()> {
    match options.format {
        Format::Text => write_text(out, report, options),
        Format::Json => write_json(out, report, options),
    }
}

fn write_text(out: &mut dyn Write, report: &ScanReport, options: ReportOptions) -> io::Result<()> {
    if report.findings.is_empty() {
        return Ok(());
    }
    let count = report.findings.len();
    let noun = if count == 1 {
        "credential"
    } else {
        "credentials"
    };
    match options.audience {
        Audience::PreCommit => writeln!(
            out,
            "keygate: commit blocked: {count} AWS {noun} in the staged changes\n"
        )?,
        Audience::Push => writeln!(
            out,
            "keygate: push rejected: {count} AWS {noun} in the pushed commits\n"
        )?,
        Audience::PrePush => writeln!(
            out,
            "keygate: push stopped before anything was sent: {count} AWS {noun} in commits \
             the remote does not have\n"
        )?,
        Audience::Scan => writeln!(out, "keygate: {count} AWS {noun} found\n")?,
    }
    for finding in &report.findings {
        writeln!(
            out,
            "{}:{}:{}  {}  [{}]",
            finding.path,
            finding.location.line,
            finding.location.column,
            finding.rule_id,
            finding.severity
        )?;
        if let Some(commit) = &finding.commit {
            writeln!(out, "    commit:      {commit}")?;
        }
        let what = if options.show_secrets {
            finding.values.join(" + ")
        } else {
            finding.redacted.clone()
        };
        writeln!(out, "    found:       {} {what}", finding.kind.name())?;
        if let Some(secret) = finding.secret_location {
            writeln!(
                out,
                "    secret at:   {}:{}:{}",
                finding.path, secret.line, secret.column
            )?;
        }
        writeln!(out, "    why:         {}", finding.evidence)?;
        writeln!(out, "    fingerprint: {}", finding.fingerprint)?;
        writeln!(out)?;
    }
    write_advice(out, report, options.audience)
}

fn write_advice(out: &mut dyn Write, report: &ScanReport, audience: Audience) -> io::Result<()> {
    let has = |kinds: &[CredentialKind]| report.findings.iter().any(|f| kinds.contains(&f.kind));
    let long_term = has(&[
        CredentialKind::AccessKeyId,
        CredentialKind::SecretAccessKey,
        CredentialKind::CredentialPair,
    ]);
    writeln!(out, "What to do now:")?;
    match audience {
        Audience::PreCommit => writeln!(
            out,
            "  1. Remove the credential from the staged file(s), then `git add` them again. Load it\n     \
             from the environment, an AWS profile outside the repository, or a secrets manager."
        )?,
        Audience::Push | Audience::PrePush => writeln!(
            out,
            "  1. Remove the credential from every commit that adds it (`git rebase -i`, or\n     \
             `git filter-repo` for older commits), then push again."
        )?,
        Audience::Scan => writeln!(
            out,
            "  1. Remove the credential from the file(s); load it from the environment, an AWS\n     \
             profile outside the repository, or a secrets manager."
        )?,
    }
    if long_term {
        writeln!(
            out,
            "  2. Treat the key as exposed and rotate it: in IAM, deactivate it\n     \
             (aws iam update-access-key --access-key-id <the key ID> --status Inactive),\n     \
             create a new key, delete the old one, and check CloudTrail for its use."
        )?;
    } else if has(&[CredentialKind::BedrockApiKey]) {
        writeln!(
            out,
            "  2. Treat the Bedrock API key as exposed: revoke it in IAM (service-specific\n     \
             credentials of its user) and create a new one; check CloudTrail for its use."
        )?;
    } else {
        writeln!(
            out,
            "  2. Temporary credentials expire, but revoke the role's active sessions if the\n     \
             token may still be valid, and check CloudTrail for its use."
        )?;
    }
    writeln!(
        out,
        "  3. Prefer IAM roles, IAM Identity Center (SSO) and short-lived credentials over\n     \
         long-term access keys."
    )?;
    match audience {
        Audience::Push => writeln!(
            out,
            "False alarm? Add `keygate:allow` to the line, or ask the server's admin to add\n\
             the fingerprint to the server's [allowlist] fingerprints."
        ),
        _ => writeln!(
            out,
            "False alarm? Add `keygate:allow` to the line, or its fingerprint to\n\
             [allowlist] fingerprints in .keygate.toml."
        ),
    }
}

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
    values: Option<&'a [String]>,
}

#[derive(Serialize)]
struct JsonProblem {
    path: String,
    message: String,
}

fn write_json(out: &mut dyn Write, report: &ScanReport, options: ReportOptions) -> io::Result<()> {
    let json = JsonReport {
        findings: report
            .findings
            .iter()
            .map(|f| JsonFinding {
                rule_id: &f.rule_id,
                kind: match f.kind {
                    CredentialKind::AccessKeyId => "access_key_id",
                    CredentialKind::SecretAccessKey => "secret_access_key",
                    CredentialKind::SessionToken => "session_token",
                    CredentialKind::CredentialPair => "credential_pair",
                    CredentialKind::BedrockApiKey => "bedrock_api_key",
                },
                severity: f.severity.to_string(),
                path: &f.path,
                commit: f.commit.as_deref(),
                line: f.location.line,
                column: f.location.column,
                secret_line: f.secret_location.map(|l| l.line),
                secret_column: f.secret_location.map(|l| l.column),
                fingerprint: &f.fingerprint,
                redacted: &f.redacted,
                description: &f.evidence,
                values: options.show_secrets.then_some(f.values.as_slice()),
            })
            .collect(),
        allowed: report.allowed,
        complete: report.complete(),
        errors: report
            .problems
            .iter()
            .map(|p| JsonProblem {
                path: p.path.clone(),
                message: p.error.to_string(),
            })
            .collect(),
        inputs_scanned: report.inputs,
        bytes_scanned: report.bytes,
    };
    serde_json::to_writer_pretty(&mut *out, &json)?;
    writeln!(out)
}

/// Prints the problems (inputs not scanned) to `err`, one per line.
pub fn write_problems(err: &mut dyn Write, report: &ScanReport) -> io::Result<()> {
    for problem in &report.problems {
        writeln!(err, "keygate: error: {}: {}", problem.path, problem.error)?;
    }
    if !report.problems.is_empty() {
        writeln!(
            err,
            "keygate: the scan is incomplete ({} input(s) not scanned); not reporting clean",
            report.problems.len()
        )?;
    }
    Ok(())
}
