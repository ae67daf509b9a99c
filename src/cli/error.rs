//! The one error a run can end with, and the exit codes.
//!
//! Module errors travel here unchanged (`#[from]`), so `main` prints the
//! whole chain. Messages pass through `scrub` first: an error that quotes
//! input must never print a credential.

use crate::engine::config::ConfigError;
use crate::engine::detect::DetectError;
use crate::engine::redact::{plain, scrub, verbose};
use crate::sources::git::push::PushError;
use crate::sources::git::GitError;

/// Exit code: nothing found.
pub(crate) const EXIT_CLEAN: u8 = 0;
/// Exit code: credentials found, the commit or push is blocked.
pub(crate) const EXIT_FOUND: u8 = 1;
/// Exit code: usage, config or internal error, or an incomplete scan.
pub const EXIT_ERROR: u8 = 2;

/// Why a run could not do what was asked. Every one exits with
/// [`EXIT_ERROR`]: nothing was found, but nothing can be called clean either.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The arguments make no sense; the message says what is wrong.
    #[error("{0}")]
    Usage(String),
    /// The config file cannot be read or used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A detector cannot be built (a custom rule's pattern).
    #[error(transparent)]
    Detect(#[from] DetectError),
    /// The repository cannot be opened or read.
    #[error(transparent)]
    Git(#[from] GitError),
    /// A hook's standard input or the pushed objects cannot be read.
    #[error(transparent)]
    Push(#[from] PushError),
    /// `keygate history` cannot resolve a revision or walk the commits.
    #[error(transparent)]
    History(#[from] crate::sources::git::history::HistoryError),
    /// `history --write-baseline FILE` could not write FILE.
    #[error("cannot write the baseline {path}: {source}")]
    BaselineUnwritable {
        /// The baseline file.
        path: std::path::PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The report could not be written (a closed pipe, a full disk).
    #[error("cannot write the report: {0}")]
    Output(#[from] std::io::Error),
}

impl Error {
    /// The process's exit code for this error: always [`EXIT_ERROR`].
    pub fn exit_code(&self) -> u8 {
        EXIT_ERROR
    }

    /// The message with its causes, credentials redacted, in plain words
    /// (the git library's error classes and codes only with `--verbose`).
    pub fn scrubbed_message(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        // "Not in a repository" says all there is to say; libgit2's "could
        // not find repository at '.'" adds nothing a user can act on.
        if !verbose() && matches!(self, Error::Git(GitError::NotARepository { .. })) {
            source = None;
        }
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !text.contains(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        scrub(&plain(&text))
    }
}
