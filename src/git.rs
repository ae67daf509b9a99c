//! Reads what git is about to record, through libgit2 (no `git` subprocess).
//!
//! `StagedChanges` is the index compared with `HEAD` (or with the empty tree
//! before the first commit), honouring `GIT_DIR`, `GIT_WORK_TREE` and
//! `GIT_INDEX_FILE` as git sets them for hooks (`git commit -a` and
//! `git commit -- PATH` run the hook with a temporary index). Only the lines a
//! change adds count, and line numbers are those of the staged file.
//!
//! Cost matters here more than anywhere: the diff only compares object ids;
//! a blob is read only when its id changed, and a line diff is computed only
//! for a blob in which the prefilter found a candidate.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use git2::{Delta, DiffFindOptions, DiffOptions, ErrorCode, FileMode, Oid, Repository};

use crate::scan::{LineFilter, ScanReport, Scanner};

/// Blobs larger than this are not read into memory; the scan reports them as
/// not scanned (exit 2) unless their path is allowlisted.
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 512 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("not in a git repository ({path}): {source}")]
    NotARepository {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error("{path}: the repository uses an object format (SHA-256) that this build of keygate cannot read; nothing was scanned")]
    ObjectFormatUnsupported { path: PathBuf },
    #[error("{path} is a bare repository: --staged needs a work tree and an index")]
    BareRepository { path: PathBuf },
    #[error("cannot read the index: {0}")]
    IndexUnreadable(#[source] git2::Error),
    #[error("cannot read HEAD: {0}")]
    HeadUnreadable(#[source] git2::Error),
    #[error("cannot compare the index with HEAD: {0}")]
    DiffFailed(#[source] git2::Error),
    #[error("cannot read object {oid}: {source}")]
    ObjectUnreadable {
        oid: Oid,
        #[source]
        source: git2::Error,
    },
    #[error("cannot read git config: {0}")]
    ConfigUnreadable(#[source] git2::Error),
    #[error("internal error: a reading thread stopped; the scan is incomplete")]
    WorkerPanicked,
    #[error("blob {oid} is {size} bytes, over the {limit}-byte limit: not scanned (allowlist the path or raise --max-file-size)")]
    BlobTooLarge { oid: Oid, size: u64, limit: u64 },
}

/// Opens the repository the way git's own commands find it: `GIT_DIR` and
/// friends first, else by searching up from the current directory.
pub fn open_repository() -> Result<Repository, GitError> {
    configure_libgit2();
    let path = std::env::current_dir().unwrap_or_default();
    Repository::open_from_env().map_err(|source| {
        if source.message().contains("object format") {
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
        // Re-hashing each object on read (strict verification) doubles the
        // cost of a whole-tree commit without protecting against anything a
        // local attacker could not do anyway.
        git2::opts::strict_hash_verification(false);
        // Memory must not grow with the size of a push or a history: cap the
        // pack windows libgit2 maps and its object cache (which keeps the
        // small trees and commits that history walks read twice).
        // SAFETY: called once, before any other libgit2 use in this process.
        unsafe {
            let _ = git2::opts::set_mwindow_mapped_limit(96 << 20);
            let _ = git2::opts::set_cache_max_size(32 << 20);
        }
    });
}

/// The work tree root, where `.keygate.toml` lives.
pub fn work_tree(repo: &Repository) -> Result<&Path, GitError> {
    repo.workdir().ok_or_else(|| GitError::BareRepository {
        path: repo.path().to_path_buf(),
    })
}

/// One file whose content a commit (or the index) changes: the unit of
/// reading. `old` is the blob it replaces, for computing the added lines.
#[derive(Clone, Debug)]
pub struct BlobChange {
    pub path: String,
    pub old: Option<Oid>,
    pub new: Oid,
    /// The commit that makes the change (none for staged changes).
    pub commit: Option<Oid>,
}

/// Below this many changed files, one thread reads them all.
const FILES_PER_THREAD: usize = 64;

/// How many blobs a reading thread takes at a time.
const GROUPS_PER_BATCH: usize = 16;

/// No blob is more than this many times larger than the deflate stream it
/// is stored in (zlib's own bound on deflate expansion, 1032:1).
const MAX_INFLATE_RATIO: u64 = 1032;

/// Scans the staged changes of `repo`.
pub fn scan_staged(
    scanner: &Scanner,
    repo: &Repository,
    max_blob_bytes: u64,
    report: &mut ScanReport,
) -> Result<(), GitError> {
    work_tree(repo)?;
    let changes = staged_changes(repo)?;
    // `git add` writes loose objects: the blobs of the index are files here.
    let loose_objects = std::env::var_os("GIT_OBJECT_DIRECTORY")
        .map_or_else(|| repo.commondir().join("objects"), PathBuf::from);
    scan_changes(
        scanner,
        repo,
        &changes,
        max_blob_bytes,
        &loose_objects,
        report,
    )
}

/// Reads and scans staged changes on all cores (each worker with its own
/// `Repository`, opened the same way, environment included), keeping the
/// report in the order of `changes`. Each distinct blob is read and
/// prefiltered once, however many paths bring it.
fn scan_changes(
    scanner: &Scanner,
    repo: &Repository,
    changes: &[BlobChange],
    max_blob_bytes: u64,
    loose_objects: &Path,
    report: &mut ScanReport,
) -> Result<(), GitError> {
    let mut groups: Vec<Vec<&BlobChange>> = Vec::new();
    let mut group_of: HashMap<Oid, usize> = HashMap::new();
    for change in changes {
        if scanner.allowlist.allows_path(Path::new(&change.path)) {
            continue;
        }
        let index = *group_of.entry(change.new).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[index].push(change);
    }
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(groups.len().div_ceil(FILES_PER_THREAD))
        .max(1);
    if workers == 1 {
        scan_groups(
            scanner,
            repo,
            &groups,
            max_blob_bytes,
            loose_objects,
            report,
        );
        return Ok(());
    }
    // Workers take small batches in turn rather than one contiguous share
    // each: blobs differ in size and in cost, and a fixed split left one
    // worker with a fifth more work than the other.
    let next = AtomicUsize::new(0);
    let results: Vec<Result<Vec<(usize, ScanReport)>, GitError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let (groups, next) = (&groups, &next);
                scope.spawn(move || {
                    let repo = open_repository()?;
                    let mut batches = Vec::new();
                    loop {
                        let start = next.fetch_add(GROUPS_PER_BATCH, Ordering::Relaxed);
                        if start >= groups.len() {
                            return Ok(batches);
                        }
                        let batch = &groups[start..groups.len().min(start + GROUPS_PER_BATCH)];
                        let mut local = ScanReport::default();
                        scan_groups(
                            scanner,
                            &repo,
                            batch,
                            max_blob_bytes,
                            loose_objects,
                            &mut local,
                        );
                        batches.push((start, local));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(GitError::WorkerPanicked)))
            .collect()
    });
    let mut batches = Vec::new();
    for result in results {
        batches.extend(result?);
    }
    batches.sort_by_key(|(start, _)| *start);
    for (_, local) in batches {
        report.merge(local);
    }
    Ok(())
}

/// Scans groups of changes that share a blob.
fn scan_groups(
    scanner: &Scanner,
    repo: &Repository,
    groups: &[Vec<&BlobChange>],
    max_blob_bytes: u64,
    loose_objects: &Path,
    report: &mut ScanReport,
) {
    let odb = match repo.odb() {
        Ok(odb) => odb,
        Err(source) => {
            report.problem("<repository>", GitError::IndexUnreadable(source));
            return;
        }
    };
    for group in groups {
        let first = group[0];
        let read = BlobRead {
            odb: &odb,
            loose_objects,
            max_blob_bytes,
        };
        if let Err(error) = scan_group(scanner, repo, read, group, report) {
            report.problem(&first.path, error);
        }
    }
}

/// Where and how `scan_group` reads a blob.
#[derive(Clone, Copy)]
struct BlobRead<'a, 'repo> {
    odb: &'a git2::Odb<'repo>,
    /// The directory of loose objects, where `git add` puts blobs.
    loose_objects: &'a Path,
    max_blob_bytes: u64,
}

/// Reads one blob, prefilters it, and scans each change that brings it.
///
/// The size cap must hold before a blob is read. Asking libgit2 for the
/// size opens and starts inflating the object, which `find_blob` then does
/// all over again; for a loose object, the size of its file bounds the
/// blob's (`MAX_INFLATE_RATIO`), so one `stat` replaces that header read
/// for every file short of half a megabyte under the default cap. libgit2
/// trusts the size in a loose object's header when it allocates, so the
/// content is measured again before it is scanned: a damaged object that
/// claims more than it holds is refused without its pages being touched.
fn scan_group(
    scanner: &Scanner,
    repo: &Repository,
    read: BlobRead<'_, '_>,
    group: &[&BlobChange],
    report: &mut ScanReport,
) -> Result<(), GitError> {
    let new = group[0].new;
    let unreadable = |oid: Oid| move |source| GitError::ObjectUnreadable { oid, source };
    let too_large = |size: u64| GitError::BlobTooLarge {
        oid: new,
        size,
        limit: read.max_blob_bytes,
    };
    let hex = new.to_string();
    let small_loose_file = std::fs::metadata(read.loose_objects.join(&hex[..2]).join(&hex[2..]))
        .is_ok_and(|file| file.len().saturating_mul(MAX_INFLATE_RATIO) <= read.max_blob_bytes);
    if !small_loose_file {
        let (size, _) = read.odb.read_header(new).map_err(unreadable(new))?;
        if size as u64 > read.max_blob_bytes {
            return Err(too_large(size as u64));
        }
    }
    let blob = repo.find_blob(new).map_err(unreadable(new))?;
    let content = blob.content();
    if content.len() as u64 > read.max_blob_bytes {
        return Err(too_large(content.len() as u64));
    }
    // Line diffs only where something would be reported: most candidates
    // are words like "secret" in clean code.
    if !scanner.detector.has_candidate(content)
        || !scanner.detects_anything(group.iter().map(|c| c.path.as_str()), content)
    {
        report.inputs += 1;
        report.bytes += content.len() as u64;
        return Ok(());
    }
    for change in group {
        let filter = match change.old {
            None => None,
            Some(old) => {
                let old_blob = repo.find_blob(old).map_err(unreadable(old))?;
                Some(added_lines(old_blob.content(), content).map_err(unreadable(old))?)
            }
        };
        let before = report.findings.len();
        scanner.scan(&change.path, content, filter.as_ref(), report);
        if let Some(commit) = change.commit {
            for finding in &mut report.findings[before..] {
                finding.commit = Some(commit.to_string());
            }
        }
    }
    Ok(())
}

/// The files whose staged content differs from `HEAD`, with their old blob
/// when the file existed before (renames paired with their source).
fn staged_changes(repo: &Repository) -> Result<Vec<BlobChange>, GitError> {
    if let Some(changes) = crate::index_fast::modified_in_place(repo) {
        return Ok(changes);
    }
    let index = repo.index().map_err(GitError::IndexUnreadable)?;
    let head_tree = match repo.head() {
        Ok(head) => Some(head.peel_to_tree().map_err(GitError::HeadUnreadable)?),
        Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => None,
        Err(e) => return Err(GitError::HeadUnreadable(e)),
    };
    let mut options = DiffOptions::new();
    options
        .include_typechange(true)
        .ignore_submodules(true)
        .skip_binary_check(true)
        .context_lines(0);
    let mut diff = repo
        .diff_tree_to_index(head_tree.as_ref(), Some(&index), Some(&mut options))
        .map_err(GitError::DiffFailed)?;
    let has = |status: Delta| diff.deltas().any(|d| d.status() == status);
    if has(Delta::Added) && has(Delta::Deleted) {
        let mut find = DiffFindOptions::new();
        find.renames(true).copies(false);
        diff.find_similar(Some(&mut find))
            .map_err(GitError::DiffFailed)?;
    }
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
            && delta.status() != Delta::Added)
            .then(|| old.id());
        if old == Some(new.id()) {
            continue; // mode-only change or exact rename: nothing new
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

/// The lines of `new` that are not in `old` (1-based, of `new`).
pub fn added_lines(old: &[u8], new: &[u8]) -> Result<LineFilter, git2::Error> {
    let mut options = DiffOptions::new();
    options.context_lines(0).force_text(true).interhunk_lines(0);
    let patch = git2::Patch::from_buffers(old, None, new, None, Some(&mut options))?;
    let mut ranges = Vec::new();
    for i in 0..patch.num_hunks() {
        let (hunk, _) = patch.hunk(i)?;
        if hunk.new_lines() > 0 {
            let start = hunk.new_start() as usize;
            ranges.push(start..=start + hunk.new_lines() as usize - 1);
        }
    }
    Ok(LineFilter::new(ranges))
}
