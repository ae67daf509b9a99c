//! Decides which detections never block: the AWS documentation examples,
//! the `keygate:allow` inline marker, and the config's paths, regexes and
//! fingerprints.
//!
//! Everything here is an exception to the rules, so it is explicit and
//! narrow: a path glob allows a file, a regex must match the found value
//! itself, a fingerprint names one secret in one file, a marker allows its
//! own line. A pair's halves are judged apart: what allows the ID does not
//! allow the secret. Entries that allow everything are legal but warned
//! about on every run; the regexes are bounded in number and compiled size,
//! so that a config cannot make every commit slow.

use std::collections::HashSet;
use std::path::Path;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use regex::bytes::{RegexSet, RegexSetBuilder};

use crate::engine::config::{Config, ConfigError};
use crate::engine::detect::{Confidence, Detection};
use crate::engine::rules::{CredentialKind, DOCUMENTATION_EXAMPLES};

/// The marker that allows a finding on its own line.
pub(crate) const INLINE_MARKER: &[u8] = b"keygate:allow";

/// At most this many allowlist regexes, and this many bytes of them in all:
/// every run compiles them, so their cost must stay small whatever the
/// config holds.
pub(crate) const MAX_REGEXES: usize = 2_000;
/// The bytes of all allowlist regexes together (see [`MAX_REGEXES`]).
pub(crate) const MAX_REGEX_BYTES: usize = 64 << 10;
/// At most this many allowlist paths: globs are compiled (many of them into
/// one regex set) on every run.
pub(crate) const MAX_PATHS: usize = 1_000;
/// The bytes of all allowlist paths together (see [`MAX_PATHS`]).
pub(crate) const MAX_PATH_BYTES: usize = 64 << 10;
/// The compiled size of all allowlist regexes together (the regex crate's
/// `size_limit`, over one `RegexSet`).
pub(crate) const MAX_COMPILED_REGEX_BYTES: usize = 8 << 20;
/// The lazy DFA's cache for the set.
const REGEX_DFA_BYTES: usize = 4 << 20;

const SECRET_RULE_ID: &str = "aws-secret-access-key";
const KEY_ID_RULE_ID: &str = "aws-access-key-id";

/// Why a detection was allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllowReason {
    /// The value is one of the example keys in AWS's documentation.
    DocumentationExample,
    /// A `keygate:allow` marker on the value's line.
    InlineMarker,
    /// The input's path matches an `[allowlist] paths` glob.
    Path,
    /// The value matches an `[allowlist] regexes` entry.
    Regex,
    /// The fingerprint is in `[allowlist] fingerprints` or the baseline.
    Fingerprint,
}

impl AllowReason {
    fn describe(self) -> &'static str {
        match self {
            AllowReason::DocumentationExample => "as an AWS documentation example",
            AllowReason::InlineMarker => "by the keygate:allow marker on its line",
            AllowReason::Path => "by an allowlist path",
            AllowReason::Regex => "by an allowlist regex",
            AllowReason::Fingerprint => "by its fingerprint",
        }
    }
}

/// The compiled allowlist.
#[derive(Debug, Default)]
pub struct Allowlist {
    paths: GlobSet,
    regexes: UserRegexes,
    fingerprints: HashSet<String>,
    /// Entries that allow everything (`paths = ["**"]`, `regexes = [".*"]`):
    /// legal, but said on every run so that nobody ships one by accident.
    warnings: Vec<String>,
    /// Whether `keygate:allow` markers in the input allow nothing (a server
    /// with `inline_allow = "ignore"`).
    ignore_inline_markers: bool,
}

/// The allowlist's regexes, compiled as one set: a thousand of them cost one
/// automaton, not a thousand. Classes are ASCII (`\w` is `[0-9A-Za-z_]`):
/// the values they are matched against are ASCII, where that means the
/// same, and a Unicode `\w{16}` compiles to hundreds of KB where an ASCII
/// one takes a few hundred bytes. A pattern that parses only with Unicode
/// on keeps it, inside a group of its own.
#[derive(Debug, Default)]
struct UserRegexes {
    set: Option<RegexSet>,
}

impl UserRegexes {
    fn compile(patterns: &[String], source: &Path) -> Result<UserRegexes, ConfigError> {
        if patterns.is_empty() {
            return Ok(UserRegexes::default());
        }
        let too_many = |problem: String| ConfigError::ListTooLarge {
            path: source.to_path_buf(),
            list: "allowlist.regexes",
            problem,
        };
        if patterns.len() > MAX_REGEXES {
            return Err(too_many(format!(
                "{} regexes, over the limit of {MAX_REGEXES}",
                patterns.len()
            )));
        }
        let total: usize = patterns.iter().map(String::len).sum();
        if total > MAX_REGEX_BYTES {
            return Err(too_many(format!(
                "{total} bytes of regexes, over the limit of {} KiB",
                MAX_REGEX_BYTES >> 10
            )));
        }
        let mut ascii = regex_syntax::ParserBuilder::new();
        ascii.unicode(false).utf8(false);
        let mut unicode = regex_syntax::ParserBuilder::new();
        unicode.utf8(false);
        let mut compiled = Vec::with_capacity(patterns.len());
        for (index, pattern) in patterns.iter().enumerate() {
            if ascii.build().parse(pattern).is_ok() {
                compiled.push(pattern.clone());
                continue;
            }
            match unicode.build().parse(pattern) {
                // Valid on its own, so the group cannot be escaped from.
                Ok(_) => compiled.push(format!("(?u:{pattern})")),
                Err(e) => {
                    return Err(ConfigError::RegexInvalid {
                        path: source.to_path_buf(),
                        index,
                        message: syntax_message(&e),
                    })
                }
            }
        }
        let build = |patterns: &[String]| {
            RegexSetBuilder::new(patterns)
                .unicode(false)
                .size_limit(MAX_COMPILED_REGEX_BYTES)
                .dfa_size_limit(REGEX_DFA_BYTES)
                .build()
        };
        match build(&compiled) {
            Ok(set) => Ok(UserRegexes { set: Some(set) }),
            Err(_) => {
                // Too big: find the first entry at which the set outgrows
                // the limit (a failed build stops at the limit, so each
                // try is cheap), and say whether it is too big alone.
                let (mut ok, mut bad) = (0, compiled.len());
                while bad - ok > 1 {
                    let mid = (ok + bad) / 2;
                    if build(&compiled[..mid]).is_ok() {
                        ok = mid;
                    } else {
                        bad = mid;
                    }
                }
                let index = bad - 1;
                let alone = build(&compiled[index..bad]).is_err();
                Err(ConfigError::RegexInvalid {
                    path: source.to_path_buf(),
                    index,
                    message: if alone {
                        format!(
                            "pattern too large (limit {} MiB compiled)",
                            MAX_COMPILED_REGEX_BYTES >> 20
                        )
                    } else {
                        format!(
                            "the regexes up to this one are too large together (limit {} MiB \
                             compiled for all of allowlist.regexes)",
                            MAX_COMPILED_REGEX_BYTES >> 20
                        )
                    },
                })
            }
        }
    }

    fn matches(&self, value: &str) -> bool {
        self.set
            .as_ref()
            .is_some_and(|s| s.is_match(value.as_bytes()))
    }
}

/// The parser's own words for what is wrong, without the pattern it quotes
/// (a pattern may embed a key).
fn syntax_message(error: &regex_syntax::Error) -> String {
    match error {
        regex_syntax::Error::Parse(e) => e.kind().to_string(),
        regex_syntax::Error::Translate(e) => e.kind().to_string(),
        _ => "syntax error".to_string(),
    }
}

impl Allowlist {
    /// Compiles the config's `[allowlist]`, naming the bad entry on error.
    pub fn from_config(config: &Config) -> Result<Allowlist, ConfigError> {
        let source = config.source_name();
        let glob_bytes: usize = config.allowlist.paths.iter().map(String::len).sum();
        if config.allowlist.paths.len() > MAX_PATHS || glob_bytes > MAX_PATH_BYTES {
            return Err(ConfigError::ListTooLarge {
                path: source,
                list: "allowlist.paths",
                problem: format!(
                    "{} globs of {glob_bytes} bytes, over the limit of {MAX_PATHS} globs and {} KiB",
                    config.allowlist.paths.len(),
                    MAX_PATH_BYTES >> 10
                ),
            });
        }
        let mut globs = GlobSetBuilder::new();
        let mut each = Vec::with_capacity(config.allowlist.paths.len());
        for (index, pattern) in config.allowlist.paths.iter().enumerate() {
            let normalized = normalize_glob(pattern);
            let glob = GlobBuilder::new(&normalized)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| ConfigError::GlobInvalid {
                    path: source.clone(),
                    index,
                    message: e.kind().to_string(),
                })?;
            each.push(glob.clone());
            globs.add(glob);
        }
        // Each glob is valid (built above): what fails here is their size
        // together.
        let paths = globs.build().map_err(|e| ConfigError::ListTooLarge {
            path: source.clone(),
            list: "allowlist.paths",
            problem: format!("the globs are too large together ({e})"),
        })?;
        let regexes = UserRegexes::compile(&config.allowlist.regexes, &source)?;
        let mut fingerprints: HashSet<String> =
            config.allowlist.fingerprints.iter().cloned().collect();
        if let Some(file) = config.baseline_path() {
            let unreadable = |e: std::io::Error| ConfigError::BaselineUnreadable {
                path: source.clone(),
                baseline: file.clone(),
                source: e,
            };
            let bytes = crate::engine::config::read_regular_file(
                &file,
                crate::engine::config::MAX_BASELINE_BYTES,
            )
            .map_err(unreadable)?;
            let text = String::from_utf8(bytes).map_err(|_| {
                unreadable(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "not UTF-8 text",
                ))
            })?;
            fingerprints.extend(read_baseline(&text));
        }
        let mut allowlist = Allowlist {
            paths,
            regexes,
            fingerprints,
            warnings: Vec::new(),
            ignore_inline_markers: false,
        };
        allowlist.warnings = allowlist.allow_everything_warnings(&each, &source);
        Ok(allowlist)
    }

    /// Makes `keygate:allow` markers in the scanned input allow nothing
    /// (server policy `inline_allow = "ignore"`).
    pub(crate) fn ignore_inline_markers(&mut self) {
        self.ignore_inline_markers = true;
    }

    /// What the allowlist allows too much of, in words (see `warnings`).
    pub(crate) fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Entries that allow every path, or every value of a kind. Tried on
    /// samples rather than recognised by spelling: `**`, `*`, `/**`,
    /// `{**,x}`, `.*`, `""`, `^` and `x*` are all the same mistake.
    fn allow_everything_warnings(&self, globs: &[Glob], source: &Path) -> Vec<String> {
        let mut warnings = Vec::new();
        let source = source.display();
        let samples = sample_paths();
        if !self.paths.is_empty() && samples.iter().all(|p| self.paths.is_match(p)) {
            let entry = globs
                .iter()
                .position(|g| {
                    let matcher = g.compile_matcher();
                    samples.iter().all(|p| matcher.is_match(p))
                })
                .map_or("allowlist.paths (together)".to_string(), |i| {
                    format!("allowlist.paths[{i}]")
                });
            warnings.push(format!(
                "{source}: {entry} allows every path: nothing is scanned. List the \
                 directories that hold test keys instead (e.g. \"tests/fixtures/**\")"
            ));
        }
        if let Some(set) = &self.regexes.set {
            for (kind, values) in sample_values() {
                // Which entries match every sample; whether each sample
                // is matched by some entry.
                let mut common = vec![true; set.len()];
                let mut all = true;
                for value in &values {
                    let matched = set.matches(value.as_bytes());
                    all &= matched.matched_any();
                    for (i, c) in common.iter_mut().enumerate() {
                        *c &= matched.matched(i);
                    }
                }
                if !all {
                    continue;
                }
                let entry = common
                    .iter()
                    .position(|&c| c)
                    .map_or("allowlist.regexes (together)".to_string(), |i| {
                        format!("allowlist.regexes[{i}]")
                    });
                warnings.push(format!(
                    "{source}: {entry} matches every {kind}: no such credential is ever \
                     reported. Anchor it to your test values (e.g. \"^AKIA[A-Z2-7]{{12}}TEST$\")"
                ));
            }
        }
        warnings
    }

    /// Whether a whole path is allowlisted (checked before reading it).
    pub(crate) fn allows_path(&self, path: &Path) -> bool {
        let path = path.strip_prefix("./").unwrap_or(path);
        !self.paths.is_empty() && self.paths.is_match(path)
    }

    /// What the allowlist makes of a detection: allowed whole, or what is
    /// left of it to report. `fingerprint` computes a detection's
    /// fingerprint (it depends on the path, which the caller knows).
    ///
    /// Each half of a pair is judged on its own: only something that names
    /// the secret allows the secret (a regex matching it, its own line's
    /// marker, a fingerprint, a path). An allowed test ID next to a real
    /// secret leaves the secret to report, as the secret-access-key finding
    /// it would be alone, with that finding's own fingerprint (so that one
    /// fingerprint can allow it); an allowed secret leaves its key ID.
    pub(crate) fn judge(
        &self,
        detection: Detection,
        input: &[u8],
        fingerprint: impl Fn(&Detection) -> String,
    ) -> Verdict {
        let whole = fingerprint(&detection);
        if self.fingerprints.contains(&whole) {
            return Verdict::Allowed(AllowReason::Fingerprint);
        }
        let Some((secret, secret_location, secret_span)) = detection.secret.clone() else {
            return match self.allows_value(&detection.value, input, detection.span.start) {
                Some(reason) => Verdict::Allowed(reason),
                None => Verdict::Report(Box::new(detection), whole),
            };
        };
        let id_allowed = self.allows_value(&detection.value, input, detection.span.start);
        let secret_allowed = self.allows_value(&secret, input, secret_span.start);
        let rest = match (id_allowed, secret_allowed) {
            (Some(reason), Some(_)) => return Verdict::Allowed(reason),
            (None, None) => return Verdict::Report(Box::new(detection), whole),
            (Some(reason), None) => Detection {
                rule_id: SECRET_RULE_ID.to_string(),
                kind: CredentialKind::SecretAccessKey,
                location: secret_location,
                span: secret_span,
                value: secret,
                secret: None,
                source_lines: detection.source_lines.clone(),
                evidence: format!(
                    "40-character secret access key next to an access key ID; the ID is \
                     allowed {}, which does not allow the secret",
                    reason.describe()
                ),
                confidence: Confidence::High,
            },
            (None, Some(reason)) => Detection {
                rule_id: KEY_ID_RULE_ID.to_string(),
                kind: CredentialKind::AccessKeyId,
                secret: None,
                evidence: format!(
                    "{}; its secret is allowed {}, which does not allow the key ID",
                    crate::engine::detect::key_id_description(&detection.value),
                    reason.describe()
                ),
                ..detection
            },
        };
        let rest_fingerprint = fingerprint(&rest);
        if self.fingerprints.contains(&rest_fingerprint) {
            return Verdict::Allowed(AllowReason::Fingerprint);
        }
        Verdict::Report(Box::new(rest), rest_fingerprint)
    }

    /// Whether one value, found at byte `offset` of `input`, is allowed by
    /// what names it: the documentation's examples, a regex, the marker on
    /// its own line.
    fn allows_value(&self, value: &str, input: &[u8], offset: usize) -> Option<AllowReason> {
        if is_documentation_example(value) {
            return Some(AllowReason::DocumentationExample);
        }
        if self.regexes.matches(value) {
            return Some(AllowReason::Regex);
        }
        if !self.ignore_inline_markers
            && line_at(input, offset)
                .windows(INLINE_MARKER.len())
                .any(|w| w == INLINE_MARKER)
        {
            return Some(AllowReason::InlineMarker);
        }
        None
    }
}

/// What the allowlist leaves of a detection.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Nothing to report.
    Allowed(AllowReason),
    /// Report this (the detection, or the half of a pair not allowed), with
    /// its fingerprint.
    Report(Box<Detection>, String),
}

/// The header of a baseline file.
pub(crate) const BASELINE_HEADER: &str =
    "# keygate baseline: fingerprints of credentials already in history.\n\
# Written by `keygate history --write-baseline`; point [allowlist] baseline at it.\n\
# It holds no secrets: a fingerprint is rule:path:hash.\n";

/// The fingerprints of a baseline file: one per line, `#` comments.
pub fn read_baseline(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
}

/// The AWS documentation's example credentials, and IDs built like them
/// (`…EXAMPLE`), grant nothing.
pub fn is_documentation_example(value: &str) -> bool {
    DOCUMENTATION_EXAMPLES.contains(&value)
        || (value.len() == 20 && value.ends_with("EXAMPLE"))
        || value.contains("EXAMPLEKEY")
}

/// Globs without a slash match at any depth, like `.gitignore`.
fn normalize_glob(pattern: &str) -> String {
    let trimmed = pattern.strip_prefix("./").unwrap_or(pattern);
    if let Some(anchored) = trimmed.strip_prefix('/') {
        anchored.to_string()
    } else if trimmed.contains('/') {
        trimmed.to_string()
    } else {
        format!("**/{trimmed}")
    }
}

/// Paths an allowlist that lists test fixtures would not cover all of.
fn sample_paths() -> Vec<&'static Path> {
    [
        "a",
        "README.md",
        ".env",
        "src/main.rs",
        "config/prod.env",
        ".aws/credentials",
        "deploy/k8s/secret.yaml",
        ".github/workflows/ci.yml",
        "a/b/c/d/e/f/g.txt",
        "no_extension",
        "dir with space/file name.txt",
        "\u{fc}nic\u{f6}de/\u{6587}\u{4ef6}.txt",
    ]
    .into_iter()
    .map(Path::new)
    .collect()
}

/// Random values of each kind a regex could allow by mistake, made at run
/// time (a fixed xorshift seed: the same every run).
fn sample_values() -> Vec<(&'static str, Vec<String>)> {
    const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut random = |alphabet: &[u8], len: usize| -> String {
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                alphabet[(state >> 40) as usize % alphabet.len()] as char
            })
            .collect()
    };
    let ids = (0..8)
        .map(|i| format!("{}{}", ["AKIA", "ASIA"][i % 2], random(BASE32, 16)))
        .collect();
    let secrets = (0..8).map(|_| random(BASE64, 40)).collect();
    let tokens = (0..8)
        .map(|_| format!("IQoJb3JpZ2luX2Vj{}", random(BASE64, 300)))
        .collect();
    vec![
        ("access key ID", ids),
        ("secret access key", secrets),
        ("session token", tokens),
    ]
}

/// The line holding byte `offset`.
fn line_at(input: &[u8], offset: usize) -> &[u8] {
    let offset = offset.min(input.len());
    let start = memchr::memrchr(b'\n', &input[..offset]).map_or(0, |i| i + 1);
    let end = memchr::memchr(b'\n', &input[offset..]).map_or(input.len(), |i| offset + i);
    &input[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_without_slash_match_at_any_depth() {
        let config = Config::parse(
            "[allowlist]\npaths = [\"*.pem\", \"tests/fixtures/**\"]\n",
            Path::new("k"),
        )
        .unwrap();
        let allowlist = Allowlist::from_config(&config).unwrap();
        assert!(allowlist.allows_path(Path::new("a/b/c.pem")));
        assert!(allowlist.allows_path(Path::new("./tests/fixtures/x/y.txt")));
        assert!(!allowlist.allows_path(Path::new("src/tests/fixtures/y.txt")));
        assert!(!allowlist.allows_path(Path::new("src/main.rs")));
    }

    #[test]
    fn bad_regex_names_the_entry_without_quoting_it() {
        let config = Config::parse(
            "[allowlist]\nregexes = [\"ok\", \"AKIAQYLPMN5HHHFPZAM2(\"]\n", // keygate:allow (a fake ID)
            Path::new("k.toml"),
        )
        .unwrap();
        let err = Allowlist::from_config(&config).unwrap_err().to_string();
        assert!(err.contains("regexes[1]"), "{err}");
        assert!(!err.contains("AKIAQYLPMN5HHHFPZAM2"), "{err}"); // keygate:allow
    }

    fn allowlist(toml: &str) -> Allowlist {
        Allowlist::from_config(&Config::parse(toml, Path::new("k.toml")).unwrap()).unwrap()
    }

    #[test]
    fn allow_everything_is_found_by_what_entries_match_not_how_they_are_spelled() {
        for (toml, entry) in [
            ("[allowlist]\npaths = [\"**\"]\n", "allowlist.paths[0]"),
            (
                "[allowlist]\npaths = [\"a/**\", \"?*\"]\n",
                "allowlist.paths[1]",
            ),
            (
                "[allowlist]\npaths = [\"**/*.*\", \"**/[!.]*\", \".*\"]\n",
                "(together)",
            ),
            (
                "[allowlist]\nregexes = [\"(?s)^.*$\"]\n",
                "allowlist.regexes[0]",
            ),
            (
                "[allowlist]\nregexes = [\"\\\\w\"]\n",
                "allowlist.regexes[0]",
            ),
            (
                "[allowlist]\nregexes = [\"^[A-Za-m]\", \"^[^A-Za-m]\"]\n",
                "(together)",
            ),
        ] {
            let warnings = allowlist(toml).warnings().join("\n");
            assert!(warnings.contains(entry), "{toml:?}: {warnings:?}");
        }
        for toml in [
            "[allowlist]\npaths = [\"tests/**\", \"*.pem\", \"docs/*.md\"]\n",
            "[allowlist]\nregexes = [\"^AKIA[A-Z2-7]{12}TEST$\", \"EXAMPLE\"]\n",
            "[allowlist]\n",
        ] {
            assert!(allowlist(toml).warnings().is_empty(), "{toml:?}");
        }
    }

    #[test]
    fn regexes_match_as_written_and_an_entry_cannot_escape_its_group() {
        let list = allowlist("[allowlist]\nregexes = [\"^ÄB$\", \"(?i)^b$\"]\n");
        assert!(list.regexes.matches("ÄB"));
        assert!(list.regexes.matches("B"));
        assert!(!list.regexes.matches("ab"));
        let config = Config::parse(
            "[allowlist]\nregexes = [\"a)|(?u:.*\"]\n",
            Path::new("k.toml"),
        )
        .unwrap();
        let err = Allowlist::from_config(&config).unwrap_err().to_string();
        assert!(err.contains("regexes[0]"), "{err}");
    }
}
