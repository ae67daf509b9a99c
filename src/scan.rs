//! The engine every input shares: detectors, then the allowlist, for one
//! named input (a file, a staged blob, a pushed blob).
//!
//! Inputs (`fs`, `git`) decide *what* to read and which lines count; this
//! module turns bytes into `Finding`s, computes fingerprints, and collects
//! what could not be scanned so that nobody reports "clean" after a partial
//! scan.

use std::fmt;
use std::ops::RangeInclusive;

use std::path::Path;

use crate::allowlist::Allowlist;
use crate::config::{Config, ConfigError, CustomRuleConfig};
use crate::detect::{Confidence, Detection, Detector, Location, RuleSpec};
use crate::rules::{Confirmation, CredentialKind, RULES};

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
    /// History: who made that commit and when (author date, YYYY-MM-DD).
    pub author: Option<String>,
    pub date: Option<String>,
    /// History: how many commits bring the same secret to the same path,
    /// and the last of them.
    pub occurrences: usize,
    pub last_commit: Option<String>,
    /// History: whether the secret is still in the tree at `HEAD`.
    pub in_tree_now: Option<bool>,
    pub rule_id: String,
    pub kind: CredentialKind,
    pub severity: Severity,
    pub confidence: Confidence,
    pub location: Location,
    /// For a pair, where the secret is.
    pub secret_location: Option<Location>,
    /// The value with all but its first and last four characters hidden.
    pub redacted: String,
    pub fingerprint: String,
    pub evidence: String,
    /// The AWS account the key ID belongs to, decoded from the ID itself.
    pub account_id: Option<String>,
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
    /// The detections a `keygate:allow` marker in the input allowed (also
    /// counted in `allowed`): a server records them (`policy`).
    pub inline_allowed: Vec<Finding>,
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
        self.inline_allowed.extend(other.inline_allowed);
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

    /// The built-in rules (minus `[detect] disable`), the config's custom
    /// rules (each checked against its examples), the user's own key values
    /// when `own_keys` is on, and the allowlist.
    pub fn from_config(config: &Config, own_keys: &[String]) -> Result<Scanner, ConfigError> {
        let source = config.source_name();
        for id in &config.detect.disable {
            if !RULES.iter().any(|r| r.id == id) {
                return Err(ConfigError::DisabledRuleUnknown {
                    path: source.clone(),
                    id: id.clone(),
                });
            }
        }
        let mut specs = RuleSpec::builtin_except(&config.detect.disable);
        let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        for (index, rule) in config.rules.iter().enumerate() {
            let invalid = |problem: String| ConfigError::RuleInvalid {
                path: source.clone(),
                index,
                id: rule.id.clone(),
                problem,
            };
            if rule.id.trim().is_empty() || ids.contains(&rule.id.as_str()) {
                return Err(invalid(
                    "needs an id of its own (empty or already used)".into(),
                ));
            }
            ids.push(&rule.id);
            let spec = custom_rule_spec(rule);
            check_custom_rule(rule, &spec).map_err(invalid)?;
            specs.push(spec);
        }
        if config.detect.own_keys {
            specs.extend(RuleSpec::known_values(own_keys));
        }
        let detector = Detector::new(specs).map_err(|e| ConfigError::RuleInvalid {
            path: source.clone(),
            index: 0,
            id: String::new(),
            problem: e.to_string(),
        })?;
        Ok(Scanner::new(detector, Allowlist::from_config(config)?))
    }

    /// Whether `scan` of `input` at any of `paths` without a line filter would
    /// report or allow anything: what the push and history scans ask before
    /// they pay for a line diff.
    pub fn detects_anything<'a>(
        &self,
        mut paths: impl Iterator<Item = &'a str>,
        input: &[u8],
    ) -> bool {
        paths.any(is_credential_file) || !self.detector.detect(input).is_empty()
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
        let mut detections: Vec<Detection> = self
            .detector
            .detect(input)
            .into_iter()
            .filter(|d| filter.is_none_or(|f| d.lines().any(|l| f.contains(l))))
            .collect();
        if is_credential_file(path) {
            const ADVICE: &str =
                "; by its name this file holds AWS credentials: add it to .gitignore";
            if detections.is_empty()
                && filter.is_none()
                && input.iter().any(|b| !b.is_ascii_whitespace())
            {
                detections.push(credential_file_detection(path));
            } else {
                detections
                    .iter_mut()
                    .for_each(|d| d.evidence.push_str(ADVICE));
            }
        }
        if detections.is_empty() {
            return;
        }
        // A key in the input's own name (a file under a directory named by a
        // key ID) is reported by `names`; here the name is only printed, so
        // it is redacted, and the fingerprint is made of what is printed.
        let path = &crate::names::redacted(self, path);
        for detection in detections {
            let fingerprint = fingerprint(&detection, path);
            match self.allowlist.allows(&detection, input, &fingerprint) {
                Some(crate::allowlist::AllowReason::InlineMarker) => {
                    report.allowed += 1;
                    let allowed = finding(detection, path, fingerprint);
                    report.inline_allowed.push(allowed);
                }
                Some(_) => report.allowed += 1,
                None => report.findings.push(finding(detection, path, fingerprint)),
            }
        }
    }
}

/// Files that hold AWS credentials by their name: the CLI's shared
/// credentials file, the IAM console's CSV downloads, boto and s3cmd configs.
pub fn is_credential_file(path: &str) -> bool {
    let path = Path::new(path);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let parent = path
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("");
    (name == "credentials" && parent == ".aws")
        || name.ends_with("accessKeys.csv")
        || name == "credentials.csv"
        || name == "rootkey.csv"
        || name == ".boto"
        || name == ".s3cfg"
}

fn credential_file_detection(path: &str) -> Detection {
    Detection {
        rule_id: "aws-credential-file".to_string(),
        kind: CredentialKind::CredentialFile,
        location: Location { line: 1, column: 1 },
        span: 0..0,
        value: path.to_string(),
        secret: None,
        evidence: "by its name this file holds AWS credentials (even where its content is \
                   in a form keygate does not recognise): remove it and add it to .gitignore"
            .to_string(),
        confidence: Confidence::Medium,
    }
}

fn custom_rule_spec(rule: &CustomRuleConfig) -> RuleSpec {
    RuleSpec {
        id: rule.id.clone(),
        kind: CredentialKind::Custom,
        description: rule
            .description
            .clone()
            .unwrap_or_else(|| format!("custom rule `{}`", rule.id)),
        literals: rule.keywords.clone(),
        literal_spellings: true,
        pattern: rule.regex.clone(),
        value_group: rule.secret_group.unwrap_or(0),
        confirmation: Confirmation::Exact,
        boundary: None,
        min_entropy: rule.min_entropy,
        eager: true,
    }
}

/// A custom rule must compile and find its examples and none of its negatives.
fn check_custom_rule(rule: &CustomRuleConfig, spec: &RuleSpec) -> Result<(), String> {
    if rule.keywords.iter().all(|k| k.is_empty()) {
        return Err("needs at least one keyword (the prefilter literal)".into());
    }
    let detector = Detector::new(vec![spec.clone()]).map_err(|e| e.to_string())?;
    for (i, example) in rule.examples.iter().enumerate() {
        if detector.detect(example.as_bytes()).is_empty() {
            return Err(format!("examples[{i}] is not found by the rule"));
        }
    }
    for (i, negative) in rule.negatives.iter().enumerate() {
        if !detector.detect(negative.as_bytes()).is_empty() {
            return Err(format!("negatives[{i}] is found by the rule"));
        }
    }
    Ok(())
}

fn finding(detection: Detection, path: &str, fingerprint: String) -> Finding {
    let severity = match detection.kind {
        CredentialKind::CredentialPair => Severity::Critical,
        _ => Severity::High,
    };
    let account_id = match detection.kind {
        CredentialKind::AccessKeyId | CredentialKind::CredentialPair => {
            crate::detect::account_id(&detection.value)
        }
        _ => None,
    };
    let mut redacted = match detection.kind {
        CredentialKind::CredentialFile => "the whole file".to_string(),
        _ => redact(&detection.value),
    };
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
        author: None,
        date: None,
        occurrences: 1,
        last_commit: None,
        in_tree_now: None,
        rule_id: detection.rule_id,
        kind: detection.kind,
        severity,
        confidence: detection.confidence,
        location: detection.location,
        secret_location,
        redacted,
        fingerprint,
        evidence: detection.evidence,
        account_id,
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
