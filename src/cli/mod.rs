//! What the user typed and how the process ends: the arguments, the
//! commands and hook modes, the top-level error with its exit codes, and the
//! user's own keys (read from this machine, so only local runs use them).
//!
//! This is the top of the flow: it picks a source, builds the engine from
//! the config, and hands the result to a report. Nothing else in the crate
//! imports it.

pub mod args;
pub mod audit;
pub mod error;
pub mod framework;
pub mod help;
pub mod hook;
pub mod local_keys;
pub mod policy;
pub mod push_record;

use std::io::{IsTerminal, Write};
use std::path::Path;

use crate::cli::args::{Args, Command};
use crate::cli::error::{Error, EXIT_CLEAN, EXIT_ERROR, EXIT_FOUND};
use crate::engine::config::Config;
use crate::engine::scanner::{ScanReport, Scanner};
use crate::report::{self, Audience, ReportOptions};
use crate::sources::fs;
use crate::sources::git::{self, history};
use crate::sources::walk;

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
    /// The process's exit code: 0 clean, 1 found, 2 incomplete.
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
            writeln!(out, "{}", args::USAGE)?;
            Ok(Outcome::Clean)
        }
        Command::HelpOn(topic) => match help::topic(topic) {
            Some(text) => {
                writeln!(out, "{text}")?;
                Ok(Outcome::Clean)
            }
            None => Err(Error::Usage(format!(
                "no help for {topic:?}: `keygate help` lists the commands"
            ))),
        },
        Command::Version => {
            writeln!(out, "keygate {}", env!("CARGO_PKG_VERSION"))?;
            Ok(Outcome::Clean)
        }
        Command::Scan(paths) => {
            let started = std::time::Instant::now();
            // The config of the repository the current directory is in, at
            // its root, as `--staged` finds it: paths are named from there.
            let cwd = std::env::current_dir().unwrap_or_default();
            let dir = walk::repository_root(&cwd).unwrap_or(cwd);
            let scanner = build_scanner(args, &dir, err)?;
            let mut report = ScanReport::default();
            let options = walk::WalkOptions {
                no_ignore: args.no_ignore,
            };
            let stats = fs::scan_paths(&scanner, paths, options, args.max_file_size, &mut report);
            let outcome = finish(args, Audience::Scan, &report, out, err)?;
            if outcome == Outcome::Clean && std::io::stderr().is_terminal() {
                let skipped = if stats.ignores_applied {
                    "; what git ignores was skipped (--no-ignore reads it)"
                } else {
                    ""
                };
                writeln!(
                    err,
                    "keygate: no AWS credentials in {} file(s), {}, read in {:.2} s{skipped}",
                    report.inputs,
                    report::human_bytes(report.bytes),
                    started.elapsed().as_secs_f64()
                )?;
            }
            Ok(outcome)
        }
        Command::Staged => run_staged(args, Audience::Scan, out, err),
        Command::History(revisions) => run_history(args, revisions, out, err),
        Command::Hook(name) => hook::run_hook(*name, args, out, err),
        Command::AuditLog(file) => run_audit_log(args, file.as_deref(), out, err),
    }
}

/// Scans the staged changes of the repository git points at.
pub(crate) fn run_staged(
    args: &Args,
    audience: Audience,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome, Error> {
    let repo = git::open_repository()?;
    let root = git::work_tree(&repo)?.to_path_buf();
    let scanner = build_scanner(args, &root, err)?;
    let mut report = ScanReport::default();
    git::staged::scan_staged(&scanner, &repo, args.max_file_size, &mut report)?;
    finish(args, audience, &report, out, err)
}

/// `keygate history`: the whole past of the repository git points at.
pub(crate) fn run_history(
    args: &Args,
    revisions: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome, Error> {
    let repo = git::open_repository()?;
    let root = git::config_dir(&repo).to_path_buf();
    // As `build_scanner`, keeping what the pre-push record's digest needs.
    let config_bytes = push_record::ConfigBytes::read(args.config.as_deref(), &root);
    let config = Config::discover(args.config.as_deref(), &root)?;
    let own_keys = local_keys::for_config(&config);
    let digest = push_record::digest(&config_bytes, &config, &own_keys.values, &repo);
    let own_values = own_keys.values.clone();
    let scanner = scanner_from(&config, own_keys, err)?;
    let limits = crate::sources::git::blobs::ReadLimits {
        max_blob_bytes: args.max_file_size,
        deadline: None,
    };
    let mut report = ScanReport::default();
    let stats = history::scan_history(&scanner, &repo, revisions, limits, &mut report)?;
    // Clean and whole: seed the pre-push record with the tips scanned.
    if let (Some(walked), true) = (
        &stats.whole,
        report.complete() && report.findings.is_empty(),
    ) {
        let digest = push_record::digest_unchanged(
            digest.as_deref(),
            args.config.as_deref(),
            &root,
            &config,
            &own_values,
            &repo,
        );
        if let Some(digest) = digest {
            let tips = push_record::history_tips(&repo, revisions, walked);
            // Only a head start for pre-push: a read-only repository is
            // scanned all the same, and needs no note about it.
            push_record::add(&repo, &digest, &tips, &mut std::io::sink())?;
        }
    }
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

/// `keygate audit-log [FILE]`: FILE, else `[server] audit_log` of `--config`.
fn run_audit_log(
    args: &Args,
    file: Option<&Path>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome, Error> {
    let path = match (file, &args.config) {
        (Some(file), _) => file.to_path_buf(),
        (None, Some(config)) => {
            policy::audit_log_path(&Config::load(config)?).ok_or_else(|| {
                Error::Usage(format!(
                    "audit-log: {} sets no [server] audit_log; name the FILE",
                    config.display()
                ))
            })?
        }
        (None, None) => {
            return Err(Error::Usage(
                "audit-log: no FILE given (or --config SERVER_CONFIG with [server] audit_log)"
                    .into(),
            ))
        }
    };
    match audit::read(&path, &args.audit_filters, args.format, out, err) {
        Ok(true) => Ok(Outcome::Clean),
        Ok(false) => Ok(Outcome::Incomplete),
        Err(e) => {
            writeln!(err, "keygate: error: {e}")?;
            Ok(Outcome::Incomplete)
        }
    }
}

/// Detectors and allowlist from `--config` or the config found in `dir`,
/// with the user's own keys (local runs only). Its warnings (a config that
/// allows everything, own keys that could not be read) go to `err` now,
/// every run.
pub(crate) fn build_scanner(
    args: &Args,
    dir: &Path,
    err: &mut dyn Write,
) -> Result<Scanner, Error> {
    let config = Config::discover(args.config.as_deref(), dir)?;
    let own_keys = local_keys::for_config(&config);
    scanner_from(&config, own_keys, err)
}

/// `build_scanner` from a config and own keys already read.
fn scanner_from(
    config: &Config,
    own_keys: local_keys::OwnKeys,
    err: &mut dyn Write,
) -> Result<Scanner, Error> {
    let scanner = Scanner::from_config(config, &own_keys.values)?.with_warnings(own_keys.warnings);
    scanner.write_warnings(err)?;
    Ok(scanner)
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
