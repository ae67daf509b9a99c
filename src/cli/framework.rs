//! `keygate hook pre-commit-framework [FILE...]`: the hook that
//! `.pre-commit-hooks.yaml` declares for the pre-commit framework, which
//! runs the same hook in three ways, each needing a different check:
//!
//! - On a commit (git runs the framework's hook, which passes the staged
//!   files): the staged changes, exactly as `keygate hook pre-commit` checks
//!   them; an old key elsewhere in a staged file does not block. Told by
//!   `GIT_INDEX_FILE`, which git sets for a pre-commit hook, or by the files
//!   being exactly the staged ones (`pre-commit run` by hand).
//! - `pre-commit run --all-files` or `--files F...` (how CI runs hooks): the
//!   files given, in full, as `keygate scan` reads them.
//! - `pre-commit run --from-ref A --to-ref B` (the framework sets
//!   `PRE_COMMIT_FROM_REF` and `PRE_COMMIT_TO_REF`): every commit in `A..B`,
//!   as `keygate history A..B`, whatever files are passed.
//!
//! The framework may split a long file list over several runs; each run
//! then checks its own files (and, on a commit or a range, the whole of it
//! again: the verdict is the same).

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::args::Args;
use crate::cli::error::Error;
use crate::cli::Outcome;
use crate::engine::scanner::ScanReport;
use crate::report::Audience;
use crate::sources::git;
use crate::sources::walk::{FileInput, Namer};

/// What the framework asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Mode {
    /// No range, and no files or the staged ones: scan what is staged.
    Staged,
    /// Files the framework lists: scan them as they are on disk.
    Files,
    /// `PRE_COMMIT_FROM_REF..PRE_COMMIT_TO_REF` (pre-push stage): scan those commits.
    Range(String),
}

/// Runs the hook.
pub fn run(args: &Args, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome, Error> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let range = match (env("PRE_COMMIT_FROM_REF"), env("PRE_COMMIT_TO_REF")) {
        (Some(from), Some(to)) => Some(format!("{}..{}", from.trim(), to.trim())),
        _ => None,
    };
    let mode = match range {
        Some(range) => Mode::Range(range),
        None if args.hook_args.is_empty() || env("GIT_INDEX_FILE").is_some() => Mode::Staged,
        None if are_the_staged_files(&args.hook_args) => Mode::Staged,
        None => Mode::Files,
    };
    match mode {
        Mode::Range(range) => crate::cli::run_history(args, &[range], out, err),
        Mode::Staged => crate::cli::run_staged(args, Audience::PreCommit, out, err),
        Mode::Files => run_files(args, out, err),
    }
}

/// The files given, in full.
fn run_files(args: &Args, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome, Error> {
    let repo = git::open_repository()?;
    let root = git::work_tree(&repo)?.to_path_buf();
    let scanner = crate::cli::build_scanner(args, &root, err)?;
    let mut report = ScanReport::default();
    let mut files = Vec::new();
    let mut seen = HashSet::new();
    let namer = Namer::here();
    for file in &args.hook_args {
        let path = PathBuf::from(file);
        match std::fs::symlink_metadata(&path) {
            // A symlink or a submodule is not content of this tree.
            Ok(m) if !m.is_file() => continue,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                report.problem(file.clone(), crate::sources::fs::FsError::Missing);
                continue;
            }
            Err(e) => {
                report.problem(file.clone(), crate::sources::fs::FsError::Unreadable(e));
                continue;
            }
        }
        let name = namer.name(&path);
        if seen.insert(name.clone()) {
            files.push(FileInput { disk: path, name });
        }
    }
    crate::sources::fs::scan_files(&scanner, &files, args.max_file_size, &mut report);
    crate::cli::finish(args, Audience::Scan, &report, out, err)
}

/// Whether `files` are exactly the files with staged changes (added,
/// copied, modified, renamed or retyped: what the framework passes), as
/// `pre-commit run` passes them with no `--files` or `--all-files`.
fn are_the_staged_files(files: &[String]) -> bool {
    let Ok(repo) = git::open_repository() else {
        return false;
    };
    if repo.workdir().is_none() {
        return false;
    }
    let Ok(index) = repo.index() else {
        return false;
    };
    let head = repo.head().ok().and_then(|h| h.peel_to_tree().ok());
    let Ok(diff) = repo.diff_tree_to_index(head.as_ref(), Some(&index), None) else {
        return false;
    };
    let staged: HashSet<String> = diff
        .deltas()
        .filter(|d| !matches!(d.status(), git2::Delta::Deleted))
        .filter(|d| {
            matches!(
                d.new_file().mode(),
                git2::FileMode::Blob | git2::FileMode::BlobExecutable
            )
        })
        .filter_map(|d| {
            d.new_file()
                .path()
                .map(|p| p.to_string_lossy().into_owned())
        })
        .collect();
    let namer = Namer::here();
    let given: HashSet<String> = files.iter().map(|f| namer.name(Path::new(f))).collect();
    !given.is_empty() && given == staged
}
