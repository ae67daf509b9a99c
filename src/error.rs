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

/// Replaces every credential the built-in detectors find in `text` with its
/// redacted form.
pub fn scrub(text: &str) -> String {
    let detector = Detector::builtin();
    let mut detections = detector.detect(text.as_bytes());
    if detections.is_empty() {
        return text.to_string();
    }
    let mut spans: Vec<std::ops::Range<usize>> = Vec::new();
    for d in detections.drain(..) {
        spans.push(d.span);
        if let Some((_, _, span)) = d.secret {
            spans.push(span);
        }
    }
    spans.sort_by_key(|s| std::cmp::Reverse(s.start));
    let mut out = text.to_string();
    for span in spans {
        if out.is_char_boundary(span.start) && out.is_char_boundary(span.end) {
            let hidden = redact(&out[span.clone()]);
            out.replace_range(span, &hidden);
        }
    }
    out
}
