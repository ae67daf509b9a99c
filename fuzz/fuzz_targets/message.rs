//! Commit messages: `message_for_hook` (what the `commit-msg` hook scans of
//! the file git hands it), `scan_commit_message` and `scan_commit_object`
//! (a raw commit object: header lines, then the message) over arbitrary
//! bytes.
//!
//! Invariants:
//! - `message_for_hook` returns a prefix of the file that ends at a line's
//!   end (or is the whole file) and holds no scissors line;
//! - a message counts as no input (`inputs`, `bytes` unchanged), and each
//!   finding is named `commit-message` (or `commit-header`), carries its
//!   origin and commit, and lies inside the text it was found in: its line
//!   (and its secret's) is one of that text's lines;
//! - a finding's redacted form and fingerprint never hold its value, and no
//!   report (text, JSON, SARIF) prints it without `--show-secrets`;
//! - `redact::scrub` of the message leaves nothing the detectors found in
//!   it detectable, nor any value found once in clear.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use git2::Oid;
use keygate::engine::allowlist::is_documentation_example;
use keygate::engine::config::Config;
use keygate::engine::detect::Detector;
use keygate::engine::rules::CredentialKind;
use keygate::engine::scanner::{Origin, ScanReport, Scanner};
use keygate::report::{Audience, Format, ReportOptions};
use keygate::sources::git::names::{
    message_for_hook, scan_commit_message, scan_commit_object, COMMIT_HEADER, COMMIT_MESSAGE,
};
use libfuzzer_sys::fuzz_target;

/// Allowlist entries that apply to messages (paths do not): a regex and a
/// fingerprint; the inline marker needs no config.
const CONFIG: &str = r#"
[allowlist]
paths = ["**"]
regexes = ["^AKIA[A-Z2-7]{12}TEST$", "(?i)^asia"]
fingerprints = ["aws-credential-pair:commit-message:0000000000000000"]
"#;

/// git's scissors line, after its comment character.
const SCISSORS: &[u8] = b" ------------------------ >8 ------------------------";

fn scanner() -> &'static Scanner {
    static SCANNER: OnceLock<Scanner> = OnceLock::new();
    SCANNER.get_or_init(|| {
        let mut config =
            Config::parse(CONFIG, Path::new("fuzz.toml")).expect("the fuzz config parses");
        config.detect.own_keys = false;
        Scanner::from_config(&config, &[]).expect("the fuzz config compiles")
    })
}

fn lines(text: &[u8]) -> usize {
    1 + text.iter().filter(|&&b| b == b'\n').count()
}

fuzz_target!(|data: &[u8]| {
    let scanner = scanner();

    // The commit-msg hook's file.
    let message = message_for_hook(data);
    assert!(data.starts_with(message), "not a prefix of the file");
    assert!(
        message.len() == data.len() || message.is_empty() || message.ends_with(b"\n"),
        "cut inside a line"
    );
    for line in message.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        assert!(
            line.len() <= 1 || line[1..] != *SCISSORS,
            "a scissors line left in the message"
        );
    }

    let mut report = ScanReport::default();
    scan_commit_message(scanner, None, message, &mut report);
    check(&report, |origin| {
        assert_eq!(*origin, Origin::CommitMessage(None));
        (COMMIT_MESSAGE, message)
    });
    let detections = scanner.detector.detect(message);
    assert_eq!(
        report.findings.len() + report.allowed,
        detections.len(),
        "findings and allowed are not the detections"
    );
    // The config's path globs (`**`) do not apply to messages: only a
    // marker, a regex, a fingerprint or a documentation example allows there.
    let values = || {
        detections
            .iter()
            .flat_map(|d| std::iter::once(&d.value).chain(d.secret.as_ref().map(|s| &s.0)))
    };
    let may_be_allowed = memchr::memmem::find(message, b"keygate:allow").is_some()
        || values().any(|v| {
            v.to_ascii_lowercase().starts_with("asia")
                || v.ends_with("TEST")
                || is_documentation_example(v)
        });
    assert!(
        may_be_allowed || report.allowed == 0,
        "{} detections in a message allowed by a path glob",
        report.allowed
    );
    if !detections.is_empty() {
        check_scrub(message, &scanner.detector);
    }

    // The same bytes as a raw commit object.
    let (header, body) = match memchr::memmem::find(data, b"\n\n") {
        Some(end) => (&data[..end], &data[end + 2..]),
        None => (data, &[][..]),
    };
    let commit = Oid::from_bytes(&[0x5a; 20]).expect("a 20-byte id");
    let mut report = ScanReport::default();
    scan_commit_object(scanner, commit, data, &mut report);
    check(&report, |origin| {
        assert_eq!(
            origin.commit().map(|c| c.id.as_str()),
            Some(commit.to_string().as_str()),
            "{origin:?}"
        );
        match origin {
            Origin::CommitMessage(_) => (COMMIT_MESSAGE, body),
            Origin::CommitHeader(_) => (COMMIT_HEADER, header),
            other => panic!("a commit object finding from {other:?}"),
        }
    });
});

/// Checks every finding of `report` against the name and text that its
/// origin says it comes from.
fn check<'a>(report: &ScanReport, source: impl Fn(&Origin) -> (&'static str, &'a [u8])) {
    assert_eq!(
        (report.inputs, report.bytes),
        (0, 0),
        "a message counted as a file"
    );
    assert!(
        report.problems.is_empty()
            || report
                .problems
                .iter()
                .all(|p| { p.path == COMMIT_MESSAGE || p.path == COMMIT_HEADER }),
        "problems: {:?}",
        report.problems
    );
    for finding in report.findings.iter().chain(&report.inline_allowed) {
        let (name, text) = source(&finding.origin);
        assert_eq!(finding.path, name);
        let lines = lines(text);
        for location in std::iter::once(finding.location).chain(finding.secret_location) {
            assert!(
                location.line >= 1 && location.line <= lines && location.column >= 1,
                "finding at {location:?} outside a text of {lines} lines"
            );
        }
        assert!(
            finding
                .fingerprint
                .starts_with(&format!("{}:{name}:", finding.rule_id)),
            "fingerprint {} does not name rule and input",
            finding.fingerprint
        );
        assert_ne!(finding.kind, CredentialKind::CredentialFile);
        for value in &finding.values {
            assert!(
                !finding.redacted.contains(value.as_str()),
                "redacted form holds the value"
            );
            assert!(
                !finding.fingerprint.contains(value.as_str()),
                "fingerprint holds the value"
            );
        }
    }
    for format in [Format::Text, Format::Json, Format::Sarif] {
        let mut out = Vec::new();
        let options = ReportOptions {
            format,
            audience: Audience::CommitMsg,
            show_secrets: false,
        };
        keygate::report::write(&mut out, report, options).expect("writing to a Vec");
        let out = String::from_utf8_lossy(&out);
        for value in report.findings.iter().flat_map(|f| &f.values) {
            assert!(
                !out.contains(value.as_str()),
                "{format:?} report prints a full value"
            );
        }
    }
}

/// What `scrub` makes of the message hides what the detectors found in it.
fn check_scrub(message: &[u8], detector: &Detector) {
    if message.len() > 16 * 1024 {
        return; // `scrub` builds a detector per call: error messages are short
    }
    let text = String::from_utf8_lossy(message);
    let scrubbed = keygate::engine::redact::scrub(&text);
    let detections = detector.detect(text.as_bytes());
    let before: Vec<&str> = detections
        .iter()
        .flat_map(|d| {
            std::iter::once(d.value.as_str()).chain(d.secret.as_ref().map(|s| s.0.as_str()))
        })
        .collect();
    for value in &before {
        if text.matches(value).count() == 1 {
            assert!(
                !scrubbed.contains(value),
                "scrub leaves a value in clear: {value:?}"
            );
        }
    }
    for d in detector.detect(scrubbed.as_bytes()) {
        assert!(
            !before.contains(&d.value.as_str()),
            "scrub leaves a {:?} ({}) detectable: {:?} at {:?}",
            d.kind,
            d.evidence,
            d.value,
            d.location
        );
    }
}
