//! The scan engine (detections → allowlist → findings), the reports, and
//! `redact::scrub`.
//!
//! The first bytes of the input choose the input's name and a line filter
//! (as staged and pushed changes use); the rest is the content. Invariants:
//! - the line filter is honoured: every finding touches a counted line;
//! - a finding never holds more than the detector found, and its redacted
//!   form and fingerprint never hold its full value;
//! - no report (text, JSON, SARIF) prints a full value without `--show-secrets`;
//! - `scrub` never panics and hides every value the detectors find in its
//!   input (checked for values that occur once, so that an undetected second
//!   copy elsewhere in the text, e.g. inside a longer word, does not count).
#![no_main]

use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::OnceLock;

use keygate::engine::config::Config;
use keygate::engine::detect::Detector;
use keygate::engine::rules::CredentialKind;
use keygate::engine::scanner::{LineFilter, ScanError, ScanReport, Scanner};
use keygate::report::{Audience, Format, ReportOptions};
use libfuzzer_sys::fuzz_target;

/// An allowlist that exercises every kind of entry; the fingerprint is that
/// of a pair in the `detect` seeds, the regex allows IDs ending in `TEST`.
const CONFIG: &str = r#"
[allowlist]
paths = ["tests/fixtures/**", "*.pem", "/vendor/**"]
regexes = ["^AKIA[A-Z2-7]{12}TEST$", "(?i)^asia"]
fingerprints = ["aws-credential-pair:f:0000000000000000"]
"#;

/// Input names: plain files, and names that hold credentials by themselves.
const PATHS: &[&str] = &[
    "f",
    ".aws/credentials",
    "accessKeys.csv",
    "credentials.csv",
    "rootkey.csv",
    ".boto",
    ".s3cfg",
    "tests/fixtures/x.env",
];

fn scanner() -> &'static Scanner {
    static SCANNER: OnceLock<Scanner> = OnceLock::new();
    SCANNER.get_or_init(|| {
        let mut config =
            Config::parse(CONFIG, Path::new("fuzz.toml")).expect("the fuzz config parses");
        config.detect.own_keys = false;
        Scanner::from_config(&config, &[]).expect("the fuzz config compiles")
    })
}

fn detector() -> &'static Detector {
    static DETECTOR: OnceLock<Detector> = OnceLock::new();
    DETECTOR.get_or_init(Detector::builtin)
}

/// Splits the fuzz input into (path, filter, content). Byte 0: path index
/// (low nibble), whether to check `scrub` too (0x40), whether there is a
/// line filter (0x80); with a filter, byte 1 is the number of ranges (0-3),
/// then two bytes (first line - 1, length) per range.
fn split(data: &[u8]) -> (&'static str, Option<LineFilter>, &[u8]) {
    let Some((&head, rest)) = data.split_first() else {
        return ("f", None, data);
    };
    let path = PATHS[(head & 0x0f) as usize % PATHS.len()];
    if head & 0x80 == 0 {
        return (path, None, rest);
    }
    let Some((&count, mut rest)) = rest.split_first() else {
        return (path, Some(LineFilter::new(Vec::new())), rest);
    };
    let mut ranges: Vec<RangeInclusive<usize>> = Vec::new();
    for _ in 0..count % 4 {
        let [start, len, tail @ ..] = rest else { break };
        let start = 1 + *start as usize;
        ranges.push(start..=start + *len as usize % 8);
        rest = tail;
    }
    (path, Some(LineFilter::new(ranges)), rest)
}

fuzz_target!(|data: &[u8]| {
    let (path, filter, input) = split(data);
    // `scrub` builds a whole `Detector` per call (it serves error messages,
    // not scans): checked only for inputs that ask, to keep the rate up.
    let scrub = data.first().is_some_and(|h| h & 0x40 != 0);
    let scanner = scanner();
    let mut report = ScanReport::default();
    scanner.scan(path, input, filter.as_ref(), &mut report);

    assert_eq!(report.inputs, 1);
    assert_eq!(report.bytes, input.len() as u64);
    // The only problem a scan of bytes may have: encoded text nested
    // deeper than keygate decodes (reported, so never clean).
    assert!(
        report.problems.iter().all(|p| matches!(
            p.error.downcast_ref::<ScanError>(),
            Some(ScanError::NotFullyDecoded)
        )),
        "scan reported a problem: {:?}",
        report.problems
    );

    let detections = detector().detect(input);
    let credential_file = keygate::engine::scanner::is_credential_file(path);
    assert!(
        report.findings.len() + report.allowed <= detections.len() + usize::from(credential_file),
        "more findings ({} + {} allowed) than detections ({})",
        report.findings.len(),
        report.allowed,
        detections.len()
    );
    for finding in &report.findings {
        if let Some(filter) = &filter {
            // A decoded credential may count by a line it was decoded from
            // (base64 wrapped over lines): those are the detection's.
            let decoded_from = detections.iter().any(|d| {
                d.value == finding.values[0]
                    && d.location == finding.location
                    && d.lines().any(|l| filter.contains(l))
            });
            let lines = std::iter::once(finding.location.line)
                .chain(finding.secret_location.map(|l| l.line));
            assert!(
                finding.kind == CredentialKind::CredentialFile
                    || decoded_from
                    || lines.into_iter().any(|l| filter.contains(l)),
                "finding at line {} outside the line filter",
                finding.location.line
            );
        }
        assert!(
            finding
                .fingerprint
                .starts_with(&format!("{}:{}:", finding.rule_id, path)),
            "fingerprint {} does not name rule and path",
            finding.fingerprint
        );
        if finding.kind == CredentialKind::CredentialFile {
            continue;
        }
        for value in &finding.values {
            assert!(
                value.len() >= 16,
                "a built-in value shorter than 16: {value:?}"
            );
            assert!(
                !finding.redacted.contains(value.as_str()),
                "redacted form holds the full value"
            );
            assert!(
                !finding.fingerprint.contains(value.as_str()),
                "fingerprint holds the full value"
            );
        }
    }

    // No report format prints a full value unless asked to.
    for format in [Format::Text, Format::Json, Format::Sarif] {
        let mut out = Vec::new();
        let options = ReportOptions {
            format,
            audience: Audience::PreCommit,
            show_secrets: false,
        };
        keygate::report::write(&mut out, &report, options).expect("writing to a Vec");
        let out = String::from_utf8_lossy(&out);
        for finding in &report.findings {
            if finding.kind == CredentialKind::CredentialFile {
                continue;
            }
            for value in &finding.values {
                assert!(
                    !out.contains(value.as_str()),
                    "{format:?} report prints a full value"
                );
            }
        }
    }

    if scrub {
        check_scrub(input);
    }
});

/// `scrub` must hide every detected value. Large inputs are skipped: error
/// messages are short, and each call is slow.
fn check_scrub(input: &[u8]) {
    if input.len() > 16 * 1024 {
        return;
    }
    let text = String::from_utf8_lossy(input);
    let scrubbed = keygate::engine::redact::scrub(&text);
    let detections = detector().detect(text.as_bytes());
    if detections.is_empty() && !has_base64_run_of_40(text.as_bytes()) {
        assert_eq!(scrubbed, text, "scrub changed text with nothing to hide");
        return;
    }
    for d in &detections {
        let values = std::iter::once(&d.value).chain(d.secret.as_ref().map(|s| &s.0));
        for value in values {
            if text.matches(value.as_str()).count() == 1 {
                assert!(
                    !scrubbed.contains(value.as_str()),
                    "scrub leaves a detected {:?} value in clear: {value:?}",
                    d.kind
                );
            }
        }
    }
    // Nothing the detectors found before scrubbing may be found after it:
    // this covers what the check above cannot, credentials in an encoded
    // form (base64, percent, escapes, UTF-16), whose value is not in the text.
    let before: Vec<&str> = detections
        .iter()
        .flat_map(|d| {
            std::iter::once(d.value.as_str()).chain(d.secret.as_ref().map(|s| s.0.as_str()))
        })
        .collect();
    for d in detector().detect(scrubbed.as_bytes()) {
        assert!(
            !before.contains(&d.value.as_str()),
            "scrub leaves a {:?} ({}) detectable: {:?} at {:?}",
            d.kind,
            d.evidence,
            d.value,
            d.location
        );
    }
    // What scrub promises beyond the detectors: any run of exactly 40 base64
    // characters that passes the secret plausibility checks is hidden too.
    for run in base64_runs(text.as_bytes()) {
        if run.len() == 40
            && keygate::engine::detect::plausible(CredentialKind::SecretAccessKey, run)
            && text.matches(std::str::from_utf8(run).unwrap()).count() == 1
        {
            let run = std::str::from_utf8(run).unwrap();
            assert!(
                !scrubbed.contains(run),
                "scrub leaves a possible secret in clear: {run:?}"
            );
        }
    }
}

fn base64_runs(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let is_base64 = |b: &u8| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/';
    bytes.split(move |b| !is_base64(b))
}

fn has_base64_run_of_40(bytes: &[u8]) -> bool {
    base64_runs(bytes).any(|run| run.len() == 40)
}
