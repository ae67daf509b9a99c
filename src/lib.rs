//! keygate: stops AWS credentials from entering git history.
//!
//! The flow is one way: an input (`fs` for files, `git` for staged changes)
//! hands bytes to the `scan` engine, which runs the `detect`ors (literal
//! prefilter, then regexes, over the `rules`), drops what the `allowlist`
//! allows (from `config`), and collects findings for `report`. `main.rs`
//! parses arguments (`cli`), calls [`run`], and exits with the code from
//! [`Outcome`] or `error`.

pub mod allowlist;
pub mod blobs;
pub mod cli;
pub mod commits;
pub mod config;
pub mod decode;
pub mod detect;
pub mod error;
pub mod fs;
pub mod git;
pub mod history;
pub mod hook;
pub mod index_fast;
pub mod local_keys;
pub mod objects;
pub mod push;
pub mod refs;
pub mod reftable;
pub mod report;
pub mod rules;
pub mod scan;
pub mod staged_git;

use std::io::Write;
use std::path::Path;

use crate::cli::{Args, Command};
use crate::config::Config;
use crate::error::{Error, EXIT_CLEAN, EXIT_ERROR, EXIT_FOUND};
use crate::report::{Audience, ReportOptions};
use crate::scan::{ScanReport, Scanner};

/// How a completed run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was scanned; nothing found.
    Clean,
    /// Credentials found: block.
    Found,
    /// Something could not be scanned: never clean.
    Incomplete,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Clean => EXIT_CLEAN,
            Outcome::Found => EXIT_FOUND,
            Outcome::Incomplete => EXIT_ERROR,
        }
    }

    fn of(report: &ScanReport) -> Outcome {
        if !report.complete() {
            Outcome::Incomplete
        } else if report.findings.is_empty() {
            Outcome::Clean
        } else {
            Outcome::Found
        }
    }
}

/// Runs a parsed command, writing the report to `out` and problems to `err`.
pub fn run(args: &Args, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome, Error> {
    match &args.command {
        Command::Help => {
            writeln!(out, "{}", cli::USAGE)?;
            Ok(Outcome::Clean)
        }
        Command::Version => {
            writeln!(out, "keygate {}", env!("CARGO_PKG_VERSION"))?;
            Ok(Outcome::Clean)
        }
        Command::Scan(paths) => {
            let cwd = std::env::current_dir().unwrap_or_default();
            let scanner = build_scanner(args, &cwd)?;
            let mut report = ScanReport::default();
            fs::scan_paths(&scanner, paths, args.max_file_size, &mut report);
            finish(args, Audience::Scan, &report, out, err)
        }
        Command::Staged => run_staged(args, Audience::Scan, out, err),
        Command::History(revisions) => run_history(args, revisions, out, err),
        Command::Hook(name) => hook::run_hook(*name, args, out, err),
    }
}

/// Scans the staged changes of the repository git points at.
pub fn run_staged(
    args: &Args,
    audience: Audience,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome, Error> {
    let repo = git::open_repository()?;
    let root = git::work_tree(&repo)?.to_path_buf();
    let scanner = build_scanner(args, &root)?;
    let mut report = ScanReport::default();
    git::scan_staged(&scanner, &repo, args.max_file_size, &mut report)?;
    finish(args, audience, &report, out, err)
}

/// `keygate history`: the whole past of the repository git points at.
fn run_history(
    args: &Args,
    revisions: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome, Error> {
    let repo = git::open_repository()?;
    let root = repo.workdir().unwrap_or_else(|| repo.path()).to_path_buf();
    let scanner = build_scanner(args, &root)?;
    let limits = crate::blobs::ReadLimits {
        max_blob_bytes: args.max_file_size,
        deadline: None,
    };
    let mut report = ScanReport::default();
    let stats = history::scan_history(&scanner, &repo, revisions, limits, &mut report)?;
    // Only when the walk reached the boundary: a range above it is whole.
    if stats.boundary > 0 {
        writeln!(
            err,
            "keygate: shallow clone: history scanned only as deep as this clone goes: {} \
             commits, down to {} boundary commit(s) whose whole tree counts as added; older \
             history is not in this clone and was not scanned (`git fetch --unshallow` for all)",
            stats.commits, stats.boundary
        )?;
    }
    if let Some(path) = &args.write_baseline {
        std::fs::write(path, history::baseline_text(&report.findings)).map_err(|source| {
            Error::BaselineUnwritable {
                path: path.clone(),
                source,
            }
        })?;
        writeln!(
            err,
            "keygate: wrote {} fingerprint(s) to {}; add `baseline = \"{}\"` under [allowlist] \
             in .keygate.toml to gate only new keys",
            report.findings.len(),
            path.display(),
            path.display()
        )?;
        report::write_problems(err, &report)?;
        return Ok(if report.complete() {
            Outcome::Clean
        } else {
            Outcome::Incomplete
        });
    }
    writeln!(err, "keygate: scanned {} commits", stats.commits)?;
    finish(args, Audience::History, &report, out, err)
}

/// Detectors and allowlist from `--config` or the config found in `dir`,
/// with the user's own keys (local runs only).
pub fn build_scanner(args: &Args, dir: &Path) -> Result<Scanner, Error> {
    let config = Config::discover(args.config.as_deref(), dir)?;
    Ok(Scanner::from_config(
        &config,
        &local_keys::for_config(&config),
    )?)
}

pub(crate) fn finish(
    args: &Args,
    audience: Audience,
    report: &ScanReport,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome, Error> {
    let options = ReportOptions {
        format: args.format,
        audience,
        show_secrets: args.show_secrets,
    };
    report::write(out, report, options)?;
    report::write_problems(err, report)?;
    Ok(Outcome::of(report))
}
