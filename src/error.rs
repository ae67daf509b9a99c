//! The one error a run can end with, and the exit codes.
//!
//! Module errors travel here unchanged (`#[from]`), so `main` prints the
//! whole chain. Messages pass through `scrub` first: an error that quotes
//! input must never print a credential.

use crate::config::ConfigError;
use crate::detect::{DetectError, Detector};
use crate::git::GitError;
use crate::push::PushError;
use crate::scan::redact;

/// Exit code: nothing found.
pub const EXIT_CLEAN: u8 = 0;
/// Exit code: credentials found, the commit or push is blocked.
pub const EXIT_FOUND: u8 = 1;
/// Exit code: usage, config or internal error, or an incomplete scan.
pub const EXIT_ERROR: u8 = 2;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Detect(#[from] DetectError),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Push(#[from] PushError),
    #[error(transparent)]
    History(#[from] crate::history::HistoryError),
    #[error("cannot write the baseline {path}: {source}")]
    BaselineUnwritable {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the report: {0}")]
    Output(#[from] std::io::Error),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        EXIT_ERROR
    }

    /// The message with its causes, credentials redacted.
    pub fn scrubbed_message(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !text.contains(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        scrub(&text)
    }
}

/// Replaces every credential in `text` with its redacted form: what the
/// detectors find, and, since an error message has no context to judge by,
/// any run of 40 base64 characters that could be a secret.
pub fn scrub(text: &str) -> String {
    let detector = Detector::builtin();
    let bytes = text.as_bytes();
    let mut spans: Vec<std::ops::Range<usize>> = Vec::new();
    for d in detector.detect(bytes) {
        // A credential found in a decoded view has an empty span (an offset
        // on its line): the encoded region it came from is hidden below.
        spans.push(d.span);
        if let Some((_, _, span)) = d.secret {
            spans.push(span);
        }
    }
    spans.retain(|s| !s.is_empty());
    for view in crate::decode::decoded_views(bytes, &crate::decode::trigger_offsets(bytes)).views {
        if !detector.detect(&view.bytes).is_empty() {
            spans.push(view.origin);
        }
    }
    spans.extend(possible_secrets(bytes));
    if spans.is_empty() {
        return text.to_string();
    }
    // Overlapping spans become one: dropping the later of two would leave
    // its tail in clear.
    spans.sort_by_key(|s| s.start);
    let mut merged: Vec<std::ops::Range<usize>> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start < last.end => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    let mut spans = merged;
    let mut out = text.to_string();
    spans.reverse();
    for span in spans {
        if out.is_char_boundary(span.start) && out.is_char_boundary(span.end) {
            let hidden = redact(&out[span.clone()]);
            out.replace_range(span, &hidden);
        }
    }
    out
}

/// Runs of exactly 40 base64 characters that pass the secret plausibility checks.
fn possible_secrets(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let is_base64 = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !is_base64(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_base64(bytes[i]) {
            i += 1;
        }
        if i - start == 40
            && crate::detect::plausible(
                crate::rules::CredentialKind::SecretAccessKey,
                &bytes[start..i],
            )
        {
            spans.push(start..i);
        }
    }
    spans
}
