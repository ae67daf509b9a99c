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

use crate::engine::allowlist::{AllowReason, Allowlist, Verdict};
use crate::engine::config::{Config, ConfigError, CustomRuleConfig};
use crate::engine::detect::{
    Confidence, Detected, Detection, Detector, Incomplete, Location, RuleSpec,
};
use crate::engine::redact::{fingerprint, redact, redacted_name};
use crate::engine::rules::{Confirmation, CredentialKind, RULES};

/// Why an input was not scanned whole.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// Encoded text is nested deeper, or there is more of it, than the decoding
    /// budget allows: what was not decoded may hide a credential.
    #[error(
        "not fully decoded: it holds encoded text nested deeper, or more of it, than keygate \
         decodes; the scan is incomplete (a credential may hide in it)"
    )]
    NotFullyDecoded,
}

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// A single credential: a key ID, a secret or a token alone.
    High,
    /// A key ID with its secret: everything needed to use the key.
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

/// Where a finding's input came from, beyond its name. A source sets it
/// ([`ScanReport::set_origin`]); the report prints what each kind has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Origin {
    /// A file, standard input, or a blob staged for the next commit.
    #[default]
    File,
    /// A blob that a commit brings to its path.
    Blob(CommitInfo),
    /// A commit's message: of a commit made already, or (`None`) of the
    /// one the `commit-msg` hook is about to record.
    CommitMessage(Option<CommitInfo>),
    /// The rest of a commit object: author and committer names, extra
    /// headers.
    CommitHeader(CommitInfo),
    /// The name of a path that a change adds (a commit's, or the staged one).
    PathName(Option<CommitInfo>),
    /// The name of a ref that a push creates or updates, or that history finds.
    RefName,
    /// The message of an annotated tag (the id is the tag object's).
    TagMessage(CommitInfo),
}

impl Origin {
    /// The commit (or tag) the input came with, if any.
    pub fn commit(&self) -> Option<&CommitInfo> {
        match self {
            Origin::Blob(c) | Origin::CommitHeader(c) | Origin::TagMessage(c) => Some(c),
            Origin::CommitMessage(c) | Origin::PathName(c) => c.as_ref(),
            Origin::File | Origin::RefName => None,
        }
    }

    /// The same origin, made by commit `info` (for findings of an input
    /// scanned once for many commits).
    pub(crate) fn with_commit(&self, info: CommitInfo) -> Origin {
        match self {
            Origin::File | Origin::Blob(_) => Origin::Blob(info),
            Origin::CommitMessage(_) => Origin::CommitMessage(Some(info)),
            Origin::CommitHeader(_) => Origin::CommitHeader(info),
            Origin::PathName(_) => Origin::PathName(Some(info)),
            Origin::TagMessage(_) => Origin::TagMessage(info),
            Origin::RefName => Origin::RefName,
        }
    }

    /// Whether the input is a ref as it is now (its name, or its tag's
    /// message) rather than something a commit brought.
    pub(crate) fn is_a_ref(&self) -> bool {
        matches!(self, Origin::RefName | Origin::TagMessage(_))
    }
}

/// A commit (or annotated tag) that brings a finding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitInfo {
    /// Full object id, hex.
    pub id: String,
    /// History: who made it (`name <email>`, any key in it redacted) and
    /// when (author date, YYYY-MM-DD).
    pub author: Option<String>,
    /// The author date, YYYY-MM-DD (history only, as above).
    pub date: Option<String>,
}

impl CommitInfo {
    /// A commit known by its id alone.
    pub fn id(id: impl Into<String>) -> CommitInfo {
        CommitInfo {
            id: id.into(),
            author: None,
            date: None,
        }
    }
}

/// What a scan of a whole history adds to a finding: every commit that
/// brings the same secret to the same place counts once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// How many commits bring it, and the last of them (if not the first).
    pub occurrences: usize,
    /// The last commit's id (`None`: only one commit brings it).
    pub last_commit: Option<String>,
    /// Whether the secret is still there at `HEAD` (or in the refs).
    pub in_tree_now: bool,
}

/// A credential that blocks: a detection that no allowlist entry allowed.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The input's name as printed and fingerprinted: a path relative to
    /// the repository or as given, or the name of a message or ref.
    pub path: String,
    /// Where the input came from beyond its name (a file, a commit's blob, a message).
    pub origin: Origin,
    /// History only.
    pub seen: Option<Seen>,
    /// The rule that found it.
    pub rule_id: String,
    /// What kind of credential it is.
    pub kind: CredentialKind,
    /// How bad it is: a whole pair is worse than one half.
    pub severity: Severity,
    /// How sure the rule is.
    pub confidence: Confidence,
    /// Where the credential starts (the key ID for a pair).
    pub location: Location,
    /// For a pair, where the secret is.
    pub secret_location: Option<Location>,
    /// The value with all but its first and last four characters hidden.
    pub redacted: String,
    /// What allowlists and baselines name it by (see `redact::fingerprint`).
    pub fingerprint: String,
    /// Why this is a credential, in words.
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
    /// The lines in `ranges` (1-based, inclusive, in any order).
    pub fn new(mut ranges: Vec<RangeInclusive<usize>>) -> LineFilter {
        ranges.sort_by_key(|r| *r.start());
        LineFilter { ranges }
    }

    /// Whether `line` (1-based) counts.
    pub fn contains(&self, line: usize) -> bool {
        let i = self.ranges.partition_point(|r| *r.end() < line);
        self.ranges.get(i).is_some_and(|r| r.contains(&line))
    }

    /// Whether no line counts.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

/// Something that could not be scanned, and why. Any problem makes the run
/// exit 2: the scan was not complete.
#[derive(Debug)]
pub struct Problem {
    /// The input's name, as a finding's `path`.
    pub path: String,
    /// Why it could not be scanned.
    pub error: Box<dyn std::error::Error + Send + Sync>,
}

/// Why a scan stopped before it read everything. Recorded on the report as
/// data, not raised as an error to be recognised later: the caller decides
/// what it means (a server configured to accept a push that only ran out of
/// time may let it in; nothing else makes an incomplete scan pass).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The time budget ran out: while listing what the commits change
    /// (`unscanned` unknown), or with `unscanned` changed files not read.
    TimeBudget {
        /// Changed files not read (`None`: unknown).
        unscanned: Option<usize>,
    },
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::TimeBudget { unscanned: None } => {
                f.write_str("time budget exceeded while listing the changes of the commits")
            }
            Stop::TimeBudget { unscanned: Some(n) } => {
                write!(f, "time budget exceeded: {n} changed file(s) not scanned")
            }
        }
    }
}

/// Everything a run found, allowed, and could not scan.
#[derive(Debug, Default)]
pub struct ScanReport {
    /// What was found and not allowed.
    pub findings: Vec<Finding>,
    /// How many detections the allowlist allowed.
    pub allowed: usize,
    /// The detections a `keygate:allow` marker in the input allowed (also
    /// counted in `allowed`): a server records them (`policy`).
    pub inline_allowed: Vec<Finding>,
    /// What could not be scanned: any makes the run incomplete.
    pub problems: Vec<Problem>,
    /// Why the scan stopped early, if it did (the first reason).
    pub stopped: Option<Stop>,
    /// Inputs read and bytes scanned.
    pub inputs: usize,
    /// Bytes scanned.
    pub bytes: u64,
}

impl ScanReport {
    /// Whether every input was scanned.
    pub fn complete(&self) -> bool {
        self.problems.is_empty() && self.stopped.is_none()
    }

    /// Records why the scan stops early (the first reason is kept).
    pub fn stop(&mut self, stop: Stop) {
        self.stopped.get_or_insert(stop);
    }

    /// Whether the only thing that kept the scan from being complete is
    /// the time budget.
    pub(crate) fn only_out_of_time(&self) -> bool {
        self.problems.is_empty() && matches!(self.stopped, Some(Stop::TimeBudget { .. }))
    }

    /// Adds another report's findings, counts and problems to this one (the
    /// first reason to stop is kept).
    pub fn merge(&mut self, other: ScanReport) {
        self.findings.extend(other.findings);
        self.allowed += other.allowed;
        self.inline_allowed.extend(other.inline_allowed);
        self.problems.extend(other.problems);
        if let Some(stop) = other.stopped {
            self.stop(stop);
        }
        self.inputs += other.inputs;
        self.bytes += other.bytes;
    }

    /// Where the report's lists end now: a source takes a mark before it
    /// scans an input, and sets the origin of what the scan added.
    pub fn mark(&self) -> ReportMark {
        ReportMark {
            findings: self.findings.len(),
            inline_allowed: self.inline_allowed.len(),
        }
    }

    /// Sets where the findings (reported or inline-allowed) added since
    /// `mark` came from.
    pub fn set_origin(&mut self, mark: ReportMark, origin: &Origin) {
        let found = self.findings.iter_mut().skip(mark.findings);
        for finding in found.chain(self.inline_allowed.iter_mut().skip(mark.inline_allowed)) {
            finding.origin = origin.clone();
        }
    }

    /// Records that `path` could not be scanned, and why.
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

/// Where a [`ScanReport`]'s lists ended at one moment ([`ScanReport::mark`]).
#[derive(Clone, Copy, Debug)]
pub struct ReportMark {
    findings: usize,
    inline_allowed: usize,
}

/// Detectors plus allowlist.
#[derive(Debug)]
pub struct Scanner {
    /// Finds the credentials.
    pub detector: Detector,
    /// Decides which of them are allowed.
    pub allowlist: Allowlist,
    /// What the config turns off (an allowlist that allows everything, every
    /// rule disabled) or what could not be loaded (own keys): printed on
    /// stderr by whoever runs the scan, every run. Never changes the exit code.
    pub warnings: Vec<String>,
}

impl Scanner {
    /// A scanner that carries the allowlist's warnings.
    pub fn new(detector: Detector, allowlist: Allowlist) -> Scanner {
        let warnings = allowlist.warnings().to_vec();
        Scanner {
            detector,
            allowlist,
            warnings,
        }
    }

    /// Adds warnings (the own keys' loader's).
    pub(crate) fn with_warnings(mut self, warnings: impl IntoIterator<Item = String>) -> Scanner {
        self.warnings.extend(warnings);
        self
    }

    /// Prints the warnings, one `keygate: warning:` line each.
    pub(crate) fn write_warnings(&self, err: &mut dyn std::io::Write) -> std::io::Result<()> {
        for warning in &self.warnings {
            writeln!(err, "keygate: warning: {warning}")?;
        }
        Ok(())
    }

    /// The built-in rules (minus `[detect] disable`), the config's custom
    /// rules (each checked against its examples), the user's own key values
    /// when `own_keys` is on, and the allowlist.
    pub fn from_config(config: &Config, own_keys: &[String]) -> Result<Scanner, ConfigError> {
        let source = config.source_name();
        if config.rules.len() > crate::engine::config::MAX_CUSTOM_RULES {
            return Err(ConfigError::TooManyRules {
                path: source,
                count: config.rules.len(),
                limit: crate::engine::config::MAX_CUSTOM_RULES,
            });
        }
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
        Ok(
            Scanner::new(detector, Allowlist::from_config(config)?)
                .with_warnings(config.warnings()),
        )
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
        let detected = self.detector.detect_all(input, None);
        self.record(path, input, &detected, filter, report);
    }

    /// What [`Scanner::scan`] does after detection: `detected` is what the
    /// detector found in `input` (one detection can serve several paths
    /// that bring the same content). An input not scanned whole is a
    /// problem naming `path`, findings or not.
    pub fn record(
        &self,
        path: &str,
        input: &[u8],
        detected: &Detected,
        filter: Option<&LineFilter>,
        report: &mut ScanReport,
    ) {
        report.inputs += 1;
        report.bytes += input.len() as u64;
        match detected.incomplete {
            Some(Incomplete::NotFullyDecoded) => report.problem(path, ScanError::NotFullyDecoded),
            Some(Incomplete::OutOfTime) => report.stop(Stop::TimeBudget { unscanned: Some(1) }),
            None => {}
        }
        let mut detections: Vec<Detection> = detected
            .detections
            .iter()
            .filter(|d| filter.is_none_or(|f| d.lines().any(|l| f.contains(l))))
            .cloned()
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
        let path = &redacted_name(&self.detector, path);
        for detection in detections {
            let judged = self
                .allowlist
                .judge(detection.clone(), input, |d| fingerprint(d, path));
            match judged {
                Verdict::Allowed(AllowReason::InlineMarker) => {
                    // Allowed, and kept: a server records what markers let in.
                    report.allowed += 1;
                    let fingerprint = fingerprint(&detection, path);
                    report
                        .inline_allowed
                        .push(finding(detection, path, fingerprint));
                }
                Verdict::Allowed(_) => report.allowed += 1,
                // The half of a pair that the allowlist leaves counts by its
                // own lines: an allowed key ID on an added line does not make
                // the secret on an untouched line a finding of the change.
                Verdict::Report(rest, _)
                    if filter.is_some_and(|f| !rest.lines().any(|l| f.contains(l))) =>
                {
                    report.allowed += 1
                }
                Verdict::Report(rest, fingerprint) => {
                    report.findings.push(finding(*rest, path, fingerprint))
                }
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
        source_lines: Vec::new(),
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

/// The compiled size one custom rule's regex may reach.
const CUSTOM_RULE_COMPILED_BYTES: usize = 1 << 20;

/// A custom rule must compile and find its examples and none of its negatives.
fn check_custom_rule(rule: &CustomRuleConfig, spec: &RuleSpec) -> Result<(), String> {
    if rule.keywords.iter().all(|k| k.is_empty()) {
        return Err("needs at least one keyword (the prefilter literal)".into());
    }
    // Each custom rule is one more regex compiled on every run: bounded
    // here, so `MAX_CUSTOM_RULES` of them stay within a known size.
    let bounded = regex::bytes::RegexBuilder::new(&rule.regex)
        .unicode(false)
        .size_limit(CUSTOM_RULE_COMPILED_BYTES)
        .build();
    if let Err(regex::Error::CompiledTooBig(_)) = bounded {
        return Err(format!(
            "regex too large (limit {} MiB compiled)",
            CUSTOM_RULE_COMPILED_BYTES >> 20
        ));
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
            crate::engine::detect::account_id(&detection.value)
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
        origin: Origin::File,
        seen: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Fuzzing found: with a line filter, a pair whose key ID is on a
    /// counted line and allowed (here by a regex) left its secret, on an
    /// untouched line, as a finding of the change. (Seed
    /// `fuzz/seeds/scan/regression-filter-allowed-id`.)
    #[test]
    fn the_half_a_pair_leaves_counts_by_its_own_line() {
        let config = Config::parse(
            "[allowlist]\nregexes = [\"(?i)^asia\"]\n",
            Path::new("k.toml"),
        )
        .unwrap();
        let scanner = Scanner::from_config(&config, &[]).unwrap();
        let id = format!("{}{}", "ASIA", "LU4M5SBBLEUHQXR2");
        let secret = format!("{}{}", "MLaq9jOm07uYLjru3TNL", "GqbBduHgBnb4/uBUHtMq");
        let input = format!("x\nid = {id}\nb\nc\naws_secret_access_key = {secret}\n");
        let scan = |ranges: Option<Vec<RangeInclusive<usize>>>| {
            let mut report = ScanReport::default();
            let filter = ranges.map(LineFilter::new);
            scanner.scan("f", input.as_bytes(), filter.as_ref(), &mut report);
            report
        };
        // Only the key ID's line is added: the ID is allowed, and the
        // secret was there before.
        let report = scan(Some(vec![2..=2]));
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        assert_eq!(report.allowed, 1);
        // The secret's line is added, or the whole file scanned: the secret
        // is reported on its own.
        for ranges in [Some(vec![5..=5]), None] {
            let report = scan(ranges);
            assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
            assert_eq!(report.findings[0].kind, CredentialKind::SecretAccessKey);
            assert_eq!(report.findings[0].location.line, 5);
        }
    }
}
