#![deny(missing_docs)]
//! keygate: stops AWS credentials from entering git history.
//!
//! The folders are the data flow:
//!
//! ```text
//! cli ──▶ sources ──▶ engine ◀── report
//! ```
//!
//! - [`cli`]: what the user typed (arguments, commands, hook modes) and how
//!   the process ends (the top-level error, exit codes).
//! - [`sources`]: where bytes come from: files and standard input
//!   ([`sources::fs`]); git's staged index, pushes and history
//!   ([`sources::git`]). Each hands named inputs to the engine and records
//!   what it could not read.
//! - [`engine`]: bytes to findings: detectors, decoding, rules, config,
//!   allowlist, redaction. It knows nothing of git or files.
//! - [`report`]: findings to text, JSON or SARIF.
//!
//! House rule, kept by a test (`tests/it/layering.rs`) that reads the `use`
//! lines: **`engine` imports neither `git2` nor `gix`, nor any other module
//! of this crate but itself; `report` imports only `engine`; nothing imports
//! `cli`.** A new input is one file in `sources/` plus one command arm in
//! `cli`; a new output format is one file in `report/` plus one enum arm.

pub mod cli;
pub mod engine;
pub mod report;
pub mod sources;

pub use cli::{run, Outcome};
