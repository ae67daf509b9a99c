//! Decides which detections never block: the AWS documentation examples,
//! the `keygate:allow` inline marker, and the config's paths, regexes and
//! fingerprints.
//!
//! Everything here is an exception to the rules, so it is explicit and
//! narrow: a path glob allows a file, a regex must match the found value
//! itself, a fingerprint names one secret in one file.

use std::collections::HashSet;
use std::path::Path;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use regex::Regex;

use crate::config::{Config, ConfigError};
use crate::detect::Detection;
use crate::rules::DOCUMENTATION_EXAMPLES;

/// The marker that allows a finding on its own line.
pub const INLINE_MARKER: &[u8] = b"keygate:allow";

/// Why a detection was allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllowReason {
    DocumentationExample,
    InlineMarker,
    Path,
    Regex,
    Fingerprint,
}

/// The compiled allowlist.
#[derive(Debug)]
pub struct Allowlist {
    paths: GlobSet,
    regexes: Vec<Regex>,
    fingerprints: HashSet<String>,
    /// Whether `keygate:allow` markers in the input count (a server with
    /// `inline_allow = "ignore"` turns them off).
    inline_markers: bool,
}

impl Default for Allowlist {
    fn default() -> Self {
        Allowlist {
            paths: GlobSet::empty(),
            regexes: Vec::new(),
            fingerprints: HashSet::new(),
            inline_markers: true,
        }
    }
}

impl Allowlist {
    /// Compiles the config's `[allowlist]`, naming the bad entry on error.
    pub fn from_config(config: &Config) -> Result<Allowlist, ConfigError> {
        let source = config.source_name();
        let mut globs = GlobSetBuilder::new();
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
            globs.add(glob);
        }
        let paths = globs.build().map_err(|e| ConfigError::GlobInvalid {
            path: source.clone(),
            index: 0,
            message: e.to_string(),
        })?;
        let regexes = config
            .allowlist
            .regexes
            .iter()
            .enumerate()
            .map(|(index, pattern)| {
                regex::RegexBuilder::new(pattern)
                    .size_limit(1 << 22)
                    .build()
                    .map_err(|e| ConfigError::RegexInvalid {
                        path: source.clone(),
                        index,
                        message: regex_error_message(&e),
                    })
            })
            .collect::<Result<_, _>>()?;
        let mut fingerprints: HashSet<String> =
            config.allowlist.fingerprints.iter().cloned().collect();
        if let Some(baseline) = &config.allowlist.baseline {
            let file = match source.parent() {
                Some(dir) if baseline.is_relative() => dir.join(baseline),
                _ => baseline.clone(),
            };
            let text =
                std::fs::read_to_string(&file).map_err(|e| ConfigError::BaselineUnreadable {
                    path: source.clone(),
                    baseline: file.clone(),
                    source: e,
                })?;
            fingerprints.extend(read_baseline(&text));
        }
        Ok(Allowlist {
            paths,
            regexes,
            fingerprints,
            inline_markers: true,
        })
    }

    /// Makes `keygate:allow` markers in the scanned input allow nothing
    /// (server policy `inline_allow = "ignore"`).
    pub fn ignore_inline_markers(&mut self) {
        self.inline_markers = false;
    }

    /// Whether a whole path is allowlisted (checked before reading it).
    pub fn allows_path(&self, path: &Path) -> bool {
        let path = path.strip_prefix("./").unwrap_or(path);
        !self.paths.is_empty() && self.paths.is_match(path)
    }

    /// Whether a detection is allowed, and why. `input` is the scanned text
    /// (for the inline marker), `fingerprint` the detection's fingerprint.
    pub fn allows(
        &self,
        detection: &Detection,
        input: &[u8],
        fingerprint: &str,
    ) -> Option<AllowReason> {
        let values = std::iter::once(detection.value.as_str())
            .chain(detection.secret.as_ref().map(|s| s.0.as_str()));
        let values: Vec<&str> = values.collect();
        // A pair is the documentation's only when both halves are: the
        // example ID next to a real secret still leaks the secret.
        if values.iter().all(|v| is_documentation_example(v)) {
            return Some(AllowReason::DocumentationExample);
        }
        if self.fingerprints.contains(fingerprint) {
            return Some(AllowReason::Fingerprint);
        }
        if self
            .regexes
            .iter()
            .any(|r| values.iter().any(|v| r.is_match(v)))
        {
            return Some(AllowReason::Regex);
        }
        let spans = std::iter::once(detection.span.start)
            .chain(detection.secret.as_ref().map(|s| s.2.start))
            .filter(|_| self.inline_markers);
        for offset in spans {
            if line_at(input, offset)
                .windows(INLINE_MARKER.len())
                .any(|w| w == INLINE_MARKER)
            {
                return Some(AllowReason::InlineMarker);
            }
        }
        None
    }
}

/// The header of a baseline file.
pub const BASELINE_HEADER: &str =
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

/// The regex crate's message quotes the pattern; keep only the explanation,
/// so a pattern that embeds a key is not echoed back.
fn regex_error_message(error: &regex::Error) -> String {
    match error {
        regex::Error::Syntax(text) => text
            .lines()
            .rev()
            .find(|l| l.starts_with("error:"))
            .map(|l| l.trim_start_matches("error:").trim().to_string())
            .unwrap_or_else(|| "syntax error".to_string()),
        regex::Error::CompiledTooBig(limit) => format!("pattern too large (limit {limit} bytes)"),
        other => other.to_string(),
    }
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
}
