//! The one error a run can end with, and the exit codes.
//!
//! Module errors travel here unchanged (`#[from]`), so `main` prints the
//! whole chain. Messages pass through `scrub` first: an error that quotes
//! input must never print a credential.

use crate::engine::config::ConfigError;
use crate::engine::detect::DetectError;
use crate::engine::redact::scrub;
use crate::sources::git::push::PushError;
use crate::sources::git::GitError;

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
    History(#[from] crate::sources::git::history::HistoryError),
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
