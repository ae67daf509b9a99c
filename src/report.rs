//! Prints what a run found, for people (`text`) and programs (`json`).
//!
//! Every format says what was found, where (`path:line:column`), why it is a
//! credential and what to do now. No format prints a full key ID or secret
//! unless the user asked for it with `--show-secrets`.

use std::io::{self, Write};

use serde::Serialize;

use crate::error::scrub;
use crate::rules::CredentialKind;
use crate::scan::ScanReport;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other consumers.
    Sarif,
}

/// Who the text is for: a hook adds the words a blocked commit needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    Scan,
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
    pub format: Format,
    pub audience: Audience,
    pub show_secrets: bool,
}

/// Writes the report.
pub fn write(out: &mut dyn Write, report: &ScanReport, options: ReportOptions) -> io::Result<()> {
    match options.format {
        Format::Text => write_text(out, report, options),
        Format::Json => write_json(out, report, options),
        Format::Sarif => write_sarif(out, report, options),
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
        Audience::CommitMsg => writeln!(
            out,
            "keygate: commit blocked: {count} AWS {noun} in the commit message\n"
        )?,
        Audience::Push => writeln!(
            out,
            "keygate: push rejected: {count} AWS {noun} in the pushed commits\n"
        )?,
        Audience::PushBypassed => writeln!(
            out,
            "keygate: push accepted by a bypass: {count} AWS {noun} in the pushed commits \
             let in and recorded\n"
        )?,
        Audience::PrePush => writeln!(
            out,
            "keygate: push stopped before anything was sent: {count} AWS {noun} in commits \
             the remote does not have\n"
        )?,
        Audience::History => writeln!(
            out,
            "keygate: {count} AWS {noun} in the repository's history\n"
        )?,
        Audience::Scan => writeln!(out, "keygate: {count} AWS {noun} found\n")?,
    }
    for finding in &report.findings {
        writeln!(
            out,
            "{}:{}:{}  {}  [{}, {} confidence]",
            finding.path,
            finding.location.line,
            finding.location.column,
            finding.rule_id,
            finding.severity,
            finding.confidence
        )?;
        if let Some(commit) = &finding.commit {
            match (&finding.date, &finding.author) {
                (Some(date), Some(author)) => {
                    writeln!(out, "    commit:      {commit} ({date}, {author})")?
                }
                _ => writeln!(out, "    commit:      {commit}")?,
            }
        }
        if finding.occurrences > 1 {
            writeln!(
                out,
                "    seen in:     {} commits, the last {}",
                finding.occurrences,
                finding.last_commit.as_deref().unwrap_or("the same")
            )?;
        }
        match finding.in_tree_now {
            Some(true) => writeln!(
                out,
                "    status:      in the tree now: rotate it and remove it"
            )?,
            Some(false) => writeln!(
                out,
                "    status:      only in history: rotate it (rewriting history is optional)"
            )?,
            None => {}
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
        if let Some(account) = &finding.account_id {
            writeln!(
                out,
                "    account:     {account} (decoded from the key ID: clean up in this account)"
            )?;
        }
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
        Audience::CommitMsg => writeln!(
            out,
            "  1. Remove the credential from the commit message and commit again. git kept the\n     \
             message: `git commit -e -F \"$(git rev-parse --git-path COMMIT_EDITMSG)\"`\n     \
             opens it in your editor."
        )?,
        Audience::Push | Audience::PushBypassed | Audience::PrePush => writeln!(
            out,
            "  1. Remove the credential from every commit that adds it, in a file, a commit\n     \
             message (`reword`) or a name (`git rebase -i`, or `git filter-repo` for older\n     \
             commits), then push again."
        )?,
        Audience::History => writeln!(
            out,
            "  1. Remove the credentials still in the tree now. Those only in history stay\n     \
             in every clone: rotating them is what matters; rewriting history\n     \
             (`git filter-repo`) is optional. `keygate history --write-baseline FILE`\n     \
             lets the gate start now and report only new keys."
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
            "  2. Treat the key as exposed and rotate it, now, with other credentials than this key\n     \
             (<the key ID>: the full ID at the location above; add --user-name for another user):\n       \
             aws iam update-access-key --access-key-id <the key ID> --status Inactive\n       \
             aws iam create-access-key                  # the replacement, for what used the old key\n       \
             aws iam delete-access-key --access-key-id <the key ID>\n       \
             aws cloudtrail lookup-events --lookup-attributes \\\n           \
             AttributeKey=AccessKeyId,AttributeValue=<the key ID>   # was it used?"
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
        // What this server allows (markers, bypass) follows from `policy`.
        Audience::Push => writeln!(
            out,
            "False alarm? Ask the server's admin to add the fingerprint to the server's\n\
             [allowlist] fingerprints."
        ),
        Audience::PushBypassed => Ok(()),
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

fn write_json(out: &mut dyn Write, report: &ScanReport, options: ReportOptions) -> io::Result<()> {
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
                commit: f.commit.as_deref(),
                line: f.location.line,
                column: f.location.column,
                secret_line: f.secret_location.map(|l| l.line),
                secret_column: f.secret_location.map(|l| l.column),
                fingerprint: &f.fingerprint,
                redacted: &f.redacted,
                description: &f.evidence,
                account_id: f.account_id.as_deref(),
                author: f.author.as_deref(),
                date: f.date.as_deref(),
                occurrences: f.occurrences,
                last_commit: f.last_commit.as_deref(),
                in_tree_now: f.in_tree_now,
                values: options.show_secrets.then_some(f.values.as_slice()),
            })
            .collect(),
        allowed: report.allowed,
        complete: report.complete(),
        errors: report
            .problems
            .iter()
            .map(|p| JsonProblem {
                path: scrub(&p.path),
                message: scrub(&p.error.to_string()),
            })
            .collect(),
        inputs_scanned: report.inputs,
        bytes_scanned: report.bytes,
    };
    serde_json::to_writer_pretty(&mut *out, &json)?;
    writeln!(out)
}

/// SARIF 2.1.0: one run, the rules that fired, one result per finding.
/// Values are redacted as everywhere else; `partialFingerprints` carries
/// keygate's fingerprint so code-scanning tools track a finding across edits.
fn write_sarif(out: &mut dyn Write, report: &ScanReport, options: ReportOptions) -> io::Result<()> {
    use serde_json::json;
    let mut rule_ids: Vec<&str> = report.findings.iter().map(|f| f.rule_id.as_str()).collect();
    rule_ids.sort();
    rule_ids.dedup();
    let rules: Vec<serde_json::Value> = rule_ids
        .iter()
        .map(|id| {
            let description = crate::rules::RULES
                .iter()
                .find(|r| r.id == *id)
                .map(|r| r.description.to_string())
                .unwrap_or_else(|| match *id {
                    crate::rules::PAIR_RULE_ID => {
                        "An AWS access key ID and its secret access key together".to_string()
                    }
                    other => format!("keygate rule {other}"),
                });
            json!({
                "id": id,
                "name": id,
                "shortDescription": { "text": description },
                "fullDescription": { "text": description },
                "help": { "text": "Remove the credential, deactivate and rotate the key in IAM, \
                                   and prefer IAM roles and short-lived credentials." },
                "defaultConfiguration": { "level": "error" },
                "properties": { "tags": ["security", "secret", "aws"] }
            })
        })
        .collect();
    let results: Vec<serde_json::Value> = report
        .findings
        .iter()
        .map(|f| {
            let shown = if options.show_secrets {
                f.values.join(" + ")
            } else {
                f.redacted.clone()
            };
            let mut result = json!({
                "ruleId": f.rule_id,
                "ruleIndex": rule_ids.iter().position(|id| *id == f.rule_id).unwrap_or(0),
                "level": "error",
                "message": { "text": format!("{} {shown}: {}", f.kind.name(), f.evidence) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": sarif_uri(&f.path) },
                        "region": {
                            "startLine": f.location.line,
                            "startColumn": f.location.column
                        }
                    }
                }],
                "partialFingerprints": { "keygate/v1": f.fingerprint },
                "properties": {
                    "severity": f.severity.to_string(),
                    "confidence": f.confidence.to_string(),
                    "redacted": f.redacted
                }
            });
            if let Some(commit) = &f.commit {
                result["properties"]["commit"] = json!(commit);
            }
            result
        })
        .collect();
    let sarif = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "keygate",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules
                }
            },
            "results": results,
            "invocations": [{
                "executionSuccessful": report.complete(),
                "toolExecutionNotifications": report.problems.iter().map(|p| json!({
                    "level": "error",
                    "message": { "text": scrub(&format!("{}: {}", p.path, p.error)) }
                })).collect::<Vec<_>>()
            }]
        }]
    });
    serde_json::to_writer_pretty(&mut *out, &sarif)?;
    writeln!(out)
}

/// A relative path as a SARIF URI (percent-encoding what URIs cannot hold).
fn sarif_uri(path: &str) -> String {
    let mut uri = String::with_capacity(path.len());
    for b in path.trim_start_matches("./").bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                uri.push(b as char)
            }
            other => uri.push_str(&format!("%{other:02X}")),
        }
    }
    uri
}

/// Prints the problems (inputs not scanned) to `err`, one per line.
pub fn write_problems(err: &mut dyn Write, report: &ScanReport) -> io::Result<()> {
    for problem in &report.problems {
        let line = format!("{}: {}", problem.path, problem.error);
        writeln!(err, "keygate: error: {}", scrub(&line))?;
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
