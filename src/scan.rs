//! The engine every input shares: detectors, then the allowlist, for one
//! named input (a file, a staged blob, a pushed blob).
//!
//! Inputs (`fs`, `git`) decide *what* to read and which lines count; this
//! module turns bytes into `Finding`s, computes fingerprints, and collects
//! what could not be scanned so that nobody reports "clean" after a partial
//! scan.

use std::fmt;
use std::ops::RangeInclusive;

use crate::allowlist::Allowlist;
use crate::detect::{Detection, Detector, Location};
use crate::rules::CredentialKind;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    High,
    Critical,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::High => "high",
            Severity::Critical => "critical",
        })
    }
}

/// A credential that blocks: a detection that no allowlist entry allowed.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The input's name: a path relative to the repository or as given.
    pub path: String,
    /// The commit that brings it, for pushed and historical inputs.
    pub commit: Option<String>,
    pub rule_id: String,
    pub kind: CredentialKind,
    pub severity: Severity,
    pub location: Location,
    /// For a pair, where the secret is.
    pub secret_location: Option<Location>,
    /// The value with all but its first and last four characters hidden.
    pub redacted: String,
    pub fingerprint: String,
    pub evidence: String,
    /// The full values (key ID or secret, then the pair's secret). Printed
    /// only with `--show-secrets`.
    pub values: Vec<String>,
}

/// Which lines of an input count (for staged and pushed changes: the added ones).
#[derive(Clone, Debug, Default)]
pub struct LineFilter {
    /// 1-based inclusive ranges, sorted.
    ranges: Vec<RangeInclusive<usize>>,
}

impl LineFilter {
    pub fn new(mut ranges: Vec<RangeInclusive<usize>>) -> LineFilter {
        ranges.sort_by_key(|r| *r.start());
        LineFilter { ranges }
    }

    pub fn contains(&self, line: usize) -> bool {
        let i = self.ranges.partition_point(|r| *r.end() < line);
        self.ranges.get(i).is_some_and(|r| r.contains(&line))
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

/// Something that could not be scanned, and why. Any problem makes the run
/// exit 2: the scan was not complete.
#[derive(Debug)]
pub struct Problem {
    pub path: String,
    pub error: Box<dyn std::error::Error + Send + Sync>,
}

/// Everything a run found, allowed, and could not scan.
#[derive(Debug, Default)]
pub struct ScanReport {
    pub findings: Vec<Finding>,
    /// How many detections the allowlist allowed.
    pub allowed: usize,
    pub problems: Vec<Problem>,
    /// Inputs read and bytes scanned.
    pub inputs: usize,
    pub bytes: u64,
}

impl ScanReport {
    /// Whether every input was scanned.
    pub fn complete(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn merge(&mut self, other: ScanReport) {
        self.findings.extend(other.findings);
        self.allowed += other.allowed;
        self.problems.extend(other.problems);
        self.inputs += other.inputs;
        self.bytes += other.bytes;
    }

    pub fn problem(
        &mut self,
        path: impl Into<String>,
        error: impl std::error::Error + Send + Sync + 'static,
    ) {
        self.problems.push(Problem {
            path: path.into(),
            error: Box::new(error),
        });
    }
}

/// Detectors plus allowlist.
#[derive(Debug)]
pub struct Scanner {
    pub detector: Detector,
    pub allowlist: Allowlist,
}

impl Scanner {
    pub fn new(detector: Detector, allowlist: Allowlist) -> Scanner {
        Scanner {
            detector,
            allowlist,
        }
    }

    /// Scans one input. With a `filter`, only detections touching one of its
    /// lines count (a pair counts when either half is on a counted line).
    pub fn scan(
        &self,
        path: &str,
        input: &[u8],
        filter: Option<&LineFilter>,
        report: &mut ScanReport,
    ) {
        report.inputs += 1;
        report.bytes += input.len() as u64;
        for detection in self.detector.detect(input) {
            if let Some(filter) = filter {
                if !detection.lines().any(|l| filter.contains(l)) {
                    continue;
                }
            }
            let fingerprint = fingerprint(&detection, path);
            match self.allowlist.allows(&detection, input, &fingerprint) {
                Some(_) => report.allowed += 1,
                None => report.findings.push(finding(detection, path, fingerprint)),
            }
        }
    }
}

fn finding(detection: Detection, path: &str, fingerprint: String) -> Finding {
    let severity = match detection.kind {
        CredentialKind::CredentialPair => Severity::Critical,
        _ => Severity::High,
    };
    let mut redacted = redact(&detection.value);
    let mut values = vec![detection.value];
    let mut secret_location = None;
    if let Some((secret, location, _)) = detection.secret {
        redacted = format!("{redacted} + {}", redact(&secret));
        values.push(secret);
        secret_location = Some(location);
    }
    Finding {
        path: path.to_string(),
        commit: None,
        rule_id: detection.rule_id,
        kind: detection.kind,
        severity,
        location: detection.location,
        secret_location,
        redacted,
        fingerprint,
        evidence: detection.evidence,
        values,
    }
}

/// First and last four characters, the rest hidden; short values are hidden whole.
pub fn redact(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < 16 {
        return "*".repeat(chars.len().max(4));
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// `rule:path:hash`, where the hash covers rule, path and the values. Stable
/// when unrelated lines move; never holds a value in clear.
pub fn fingerprint(detection: &Detection, path: &str) -> String {
    let mut material = Vec::new();
    for part in [
        "keygate-fingerprint-v1",
        detection.rule_id.as_str(),
        path,
        detection.value.as_str(),
        detection.secret.as_ref().map_or("", |s| s.0.as_str()),
    ] {
        material.extend_from_slice(part.as_bytes());
        material.push(0);
    }
    let digest = git2::Oid::hash_object(git2::ObjectType::Blob, &material)
        .map(|oid| oid.to_string())
        .unwrap_or_else(|_| fnv_hex(&material));
    format!("{}:{}:{}", detection.rule_id, path, &digest[..16])
}

/// Fallback hash should libgit2 refuse to hash (it does not in practice).
fn fnv_hex(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf29ce484222325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    format!("{hash:016x}")
}
