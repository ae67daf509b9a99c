//! The SARIF 2.1.0 report, for GitHub code scanning and other consumers:
//! one rule per detector, one result per finding, the fingerprint as
//! `partialFingerprints` so that a finding keeps its identity across runs.

use std::io::{self, Write};

use serde_json::json;

use crate::engine::redact::scrub;
use crate::engine::scanner::ScanReport;

use super::ReportOptions;

/// SARIF 2.1.0: one run, the rules that fired, one result per finding.
/// Values are redacted as everywhere else; `partialFingerprints` carries
/// keygate's fingerprint so code-scanning tools track a finding across edits.
pub(super) fn write(
    out: &mut dyn Write,
    report: &ScanReport,
    options: ReportOptions,
) -> io::Result<()> {
    let mut rule_ids: Vec<&str> = report.findings.iter().map(|f| f.rule_id.as_str()).collect();
    rule_ids.sort();
    rule_ids.dedup();
    let rules: Vec<serde_json::Value> = rule_ids
        .iter()
        .map(|id| {
            let description = crate::engine::rules::RULES
                .iter()
                .find(|r| r.id == *id)
                .map(|r| r.description.to_string())
                .unwrap_or_else(|| match *id {
                    crate::engine::rules::PAIR_RULE_ID => {
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
            if let Some(commit) = f.origin.commit() {
                result["properties"]["commit"] = json!(commit.id);
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
                "toolExecutionNotifications": super::problem_lines(report).map(|(path, message)| json!({
                    "level": "error",
                    "message": { "text": scrub(&format!("{path}: {message}")) }
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
