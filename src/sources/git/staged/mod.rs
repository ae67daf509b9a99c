//! What is staged for the next commit: each file whose staged content
//! differs from `HEAD`, with its old blob when the same path existed
//! before, handed to the blob engine with the lines it adds.
//!
//! Three readers, fastest first: the index read directly ([`index`]) for
//! files modified in place, as git itself does with the cache-tree;
//! libgit2's index-to-tree diff for everything else; and, where libgit2
//! cannot read the index (split or sparse), `git diff --cached`
//! ([`diff_cached`]).
//!
//! The staged changes are the index compared with `HEAD` (or with the empty
//! tree before the first commit), honouring `GIT_DIR`, `GIT_WORK_TREE` and
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

pub mod diff_cached;
pub mod index;

use git2::{Delta, DiffOptions, FileMode, Repository};

use crate::engine::scanner::{ScanReport, Scanner};
use crate::sources::git::blobs::{scan_changes, BlobChange, ReadLimits};
use crate::sources::git::odb::ObjectStore;
use crate::sources::git::{work_tree, GitError};

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
    if let Some(changes) = index::modified_in_place(repo) {
        return Ok(changes);
    }
    let index = match repo.index() {
        Ok(index) => index,
        // A split or sparse index (mandatory extensions `link`, `sdir`):
        // git itself compares it with HEAD.
        Err(e) if diff_cached::needs_git(&e) => return diff_cached::staged_changes(repo),
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
