//! Finds the repository and what git is about to record, in-process (no
//! `git` subprocess): libgit2 (or, for the common case, `index_fast`) for the
//! index and its comparison with `HEAD`; `blobs` reads and scans the blobs.
//!
//! The staged changes are the index compared with `HEAD` (or with the empty tree
//! before the first commit), honouring `GIT_DIR`, `GIT_WORK_TREE` and
//! `GIT_INDEX_FILE` as git sets them for hooks (`git commit -a` and
//! `git commit -- PATH` run the hook with a temporary index). Only the lines a
//! change adds to a file count, and line numbers are those of the staged
//! file. Content that arrives at a path where it was not (a rename, a copy,
//! an add) counts in full there, under that path's allowlist: renames are
//! not paired with their source, or `git mv tests/fixtures/creds.env
//! src/prod.env` would add no line and move an allowed key out unchecked.
//! The names of new paths are scanned too (`names`).
//!
//! Cost matters here more than anywhere: the comparison only looks at object
//! ids, so a blob is read only when its id changed.

pub mod blobs;
pub mod history;
pub mod index_fast;
pub mod names;
pub mod odb;
pub mod push;
pub mod refs;
pub mod reftable;
pub mod scanned;
pub mod staged_git;
pub mod tree_diff;
pub mod verified;

use std::path::{Path, PathBuf};

use git2::{Delta, DiffOptions, FileMode, Repository};

use crate::engine::scanner::{ScanReport, Scanner};
use crate::sources::git::blobs::{scan_changes, BlobChange, ReadLimits};
use crate::sources::git::odb::{ObjectStore, ObjectsError};

/// Blobs larger than this are not read into memory; the scan reports them as
/// not scanned (exit 2) unless their path is allowlisted.
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 512 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{path} is not in a git repository: run this inside one (`keygate scan PATH` reads files anywhere)")]
    NotARepository {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error("{path}: the repository uses an object format (extensions.objectFormat) that keygate cannot read (it reads SHA-1 and SHA-256); nothing was scanned")]
    ObjectFormatUnsupported { path: PathBuf },
    #[error("{path}: the repository's config declares `extensions.{name}`, a repository format this version of keygate does not know how to read; nothing was scanned (update keygate)")]
    ExtensionUnsupported { path: PathBuf, name: String },
    #[error("{path} is a bare repository: --staged needs a work tree and an index")]
    BareRepository { path: PathBuf },
    #[error("cannot read the index: {0}")]
    IndexUnreadable(#[source] git2::Error),
    #[error("cannot read HEAD: {0}")]
    HeadUnreadable(#[source] git2::Error),
    #[error("cannot compare the index with HEAD: {0}")]
    DiffFailed(#[source] git2::Error),
    #[error("cannot read git config: {0}")]
    ConfigUnreadable(#[source] git2::Error),
    #[error(transparent)]
    Objects(#[from] ObjectsError),
    #[error(transparent)]
    Refs(#[from] crate::sources::git::refs::RefsError),
}

/// Opens the repository the way git's own commands find it: `GIT_DIR` and
/// friends first, else by searching up from the current directory.
pub fn open_repository() -> Result<Repository, GitError> {
    configure_libgit2();
    let path = std::env::current_dir().unwrap_or_default();
    Repository::open_from_env().map_err(|source| {
        if let Some(name) = source
            .message()
            .strip_prefix("unsupported extension name extensions.")
        {
            GitError::ExtensionUnsupported {
                path,
                name: crate::engine::redact::scrub(name.trim()),
            }
        } else if source.message().contains("object format") {
            GitError::ObjectFormatUnsupported { path }
        } else {
            GitError::NotARepository { path, source }
        }
    })
}

/// Process-wide libgit2 settings, applied once, before any repository is
/// opened (the first `open_repository` runs before any worker thread).
fn configure_libgit2() {
    static CONFIGURED: std::sync::Once = std::sync::Once::new();
    CONFIGURED.call_once(|| {
        // Re-hashing each object libgit2 reads (the commits of a walk, the
        // trees of an index diff) costs time and protects against nothing a
        // local attacker could not do anyway.
        git2::opts::strict_hash_verification(false);
        // Repository formats git 2.45+ writes that keygate reads, beyond
        // libgit2's own (objectformat, worktreeconfig, preciousobjects):
        // reftable refs are read by `refs`, never by libgit2; a partial
        // clone's missing objects are errors where they are needed (exit
        // 2); relative worktree paths and a compatibility object format
        // change nothing for reading. Any other extension is refused
        // (`GitError::ExtensionUnsupported`).
        // SAFETY: called once, before any repository is opened.
        unsafe {
            let _ = git2::opts::set_extensions(&[
                "refstorage",
                "partialclone",
                "relativeworktrees",
                "compatobjectformat",
            ]);
        }
        // Memory must not grow with the size of a history: cap the pack
        // windows libgit2 maps for the commit walk, and its object cache.
        // SAFETY: called once, before any other libgit2 use in this process.
        unsafe {
            let _ = git2::opts::set_mwindow_mapped_limit(96 << 20);
            let _ = git2::opts::set_cache_max_size(32 << 20);
        }
    });
}

/// The work tree root, where `.keygate.toml` lives.
/// Where the repository's config (`.keygate.toml`) is looked for: its work
/// tree, or the git directory of a bare repository.
pub fn config_dir(repo: &Repository) -> &Path {
    repo.workdir().unwrap_or_else(|| repo.path())
}

pub fn work_tree(repo: &Repository) -> Result<&Path, GitError> {
    repo.workdir().ok_or_else(|| GitError::BareRepository {
        path: repo.path().to_path_buf(),
    })
}

/// Scans the staged changes of `repo`.
pub fn scan_staged(
    scanner: &Scanner,
    repo: &Repository,
    max_blob_bytes: u64,
    report: &mut ScanReport,
) -> Result<(), GitError> {
    work_tree(repo)?;
    let changes = staged_changes(repo)?;
    let store = ObjectStore::open(repo, max_blob_bytes)?;
    let limits = ReadLimits {
        max_blob_bytes,
        deadline: None,
    };
    crate::sources::git::names::scan_new_paths(scanner, &changes, report);
    scan_changes(scanner, &store, &changes, limits, report);
    Ok(())
}

/// The files whose staged content differs from `HEAD`, with their old blob
/// when the same path existed before. No rename detection: a renamed or
/// copied file is new at its new path.
fn staged_changes(repo: &Repository) -> Result<Vec<BlobChange>, GitError> {
    if let Some(changes) = crate::sources::git::index_fast::modified_in_place(repo) {
        return Ok(changes);
    }
    let index = match repo.index() {
        Ok(index) => index,
        // A split or sparse index (mandatory extensions `link`, `sdir`):
        // git itself compares it with HEAD.
        Err(e) if crate::sources::git::staged_git::needs_git(&e) => {
            return crate::sources::git::staged_git::staged_changes(repo)
        }
        Err(e) => return Err(GitError::IndexUnreadable(e)),
    };
    let head_tree = crate::sources::git::refs::head_tree(repo)?;
    let mut options = DiffOptions::new();
    options
        .include_typechange(true)
        .ignore_submodules(true)
        .skip_binary_check(true)
        .context_lines(0);
    let diff = repo
        .diff_tree_to_index(head_tree.as_ref(), Some(&index), Some(&mut options))
        .map_err(GitError::DiffFailed)?;
    let mut files = Vec::new();
    for delta in diff.deltas() {
        let new = delta.new_file();
        let kept = matches!(
            delta.status(),
            Delta::Added | Delta::Modified | Delta::Renamed | Delta::Copied | Delta::Typechange
        );
        // Submodule entries name a commit of another repository: no content here.
        if !kept || new.mode() == FileMode::Commit || new.id().is_zero() {
            continue;
        }
        let old = delta.old_file();
        let old = (!old.id().is_zero()
            && old.mode() != FileMode::Commit
            && matches!(delta.status(), Delta::Modified | Delta::Typechange))
        .then(|| old.id());
        if old == Some(new.id()) {
            continue; // mode-only change at the same path: nothing new
        }
        files.push(BlobChange {
            path: String::from_utf8_lossy(new.path_bytes().unwrap_or_default()).into_owned(),
            old,
            new: new.id(),
            commit: None,
        });
    }
    Ok(files)
}
