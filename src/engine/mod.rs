//! The engine: bytes to findings, whatever the bytes came from.
//!
//! A source hands [`scanner::Scanner::scan`] one named input (a file, a
//! blob, a commit message) and, for a change, the lines that count. The
//! scanner runs the [`detect`]ors over it and its [`decode`]d views, with
//! the [`rules`] and the user's [`config`], drops what the [`allowlist`]
//! allows, and records findings and what could not be read on a
//! [`scanner::ScanReport`].
//!
//! It must not know where bytes came from: no git, no file system walk
//! (the config and baseline files are read here, as the user's settings).

pub mod allowlist;
pub mod config;
pub mod decode;
pub mod detect;
pub mod redact;
pub mod rules;
pub mod scanner;
