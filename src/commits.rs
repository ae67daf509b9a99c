//! What a list of commits brings, and the scan of it: the engine that the
//! push gate and the history audit share.
//!
//! Two phases. The walk compares each commit's tree with its parents',
//! descending only into subtrees whose ids differ, and lists the blobs that
//! changed (merges: only what differs from every parent). The scan then reads
//! each distinct blob once, in the order the packs store them so that delta
//! bases are still cached when their deltas come, on all cores, and runs the
//! prefilter over whole contents; line diffs and commit attribution are
//! computed only for the few blobs with a candidate.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use git2::Oid;

use crate::git::{added_lines, BlobChange};
use crate::objects::{
    EntryKind, ObjectReader, ObjectStore, ObjectsError, ReadPattern, Tree, TreeEntry,
};
use crate::scan::{ScanReport, Scanner};

#[derive(Debug, thiserror::Error)]
pub enum CommitsError {
    #[error("time budget exceeded while listing the changes of the commits")]
    TimeBudgetExceeded,
    #[error("time budget exceeded: {remaining} changed file(s) not scanned")]
    TimeBudgetExceededScanning { remaining: usize },
    #[error("internal error: a worker thread stopped; the scan is incomplete")]
    WorkerPanicked,
    #[error("cannot compare the lines of {path}: {source}")]
    DiffFailed {
        path: String,
        #[source]
        source: git2::Error,
    },
    #[error(transparent)]
    Objects(#[from] ObjectsError),
}

/// Bounds on reading: per blob, and for the whole run.
#[derive(Clone, Copy, Debug)]
pub struct ReadLimits {
    pub max_blob_bytes: u64,
    /// Past this instant, the remaining blobs are reported as not scanned.
    pub deadline: Option<Instant>,
}

/// Bytes of blob content read so far, for `history`'s progress line.
pub static PROGRESS_BYTES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Below this many commits, one thread compares their trees.
const COMMITS_PER_THREAD: usize = 64;
/// Below this many blobs, one thread reads them all.
const BLOBS_PER_THREAD: usize = 64;
/// Blobs a worker claims at a time, in pack order: large enough that most
/// delta bases are in the same batch, small enough to share the work evenly.
const BLOBS_PER_BATCH: usize = 256;

fn worker_count(items: usize, per_thread: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.div_ceil(per_thread))
        .max(1)
}

/// The changes of `commits`, in their order, computed on all cores.
pub fn changes_of_commits(
    store: &ObjectStore,
    commits: &[Oid],
    deadline: Option<Instant>,
) -> Result<Vec<BlobChange>, CommitsError> {
    // Newest first: packs store the newest version of a file whole and older
    // ones as deltas against it, so this order finds delta bases in the cache.
    let walk_part = |part: &[Oid]| -> Result<Vec<BlobChange>, CommitsError> {
        let mut reader = store.reader(ReadPattern::TreeWalk);
        let mut per_commit: Vec<Vec<BlobChange>> = Vec::with_capacity(part.len());
        for &oid in part.iter().rev() {
            if deadline.is_some_and(|d| Instant::now() > d) {
                return Err(CommitsError::TimeBudgetExceeded);
            }
            let mut changes = Vec::new();
            commit_changes(&mut reader, oid, &mut changes)?;
            per_commit.push(changes);
        }
        Ok(per_commit.into_iter().rev().flatten().collect())
    };
    let workers = worker_count(commits.len(), COMMITS_PER_THREAD);
    if workers == 1 {
        return walk_part(commits);
    }
    let chunk = commits.len().div_ceil(workers);
    let parts: Vec<Result<Vec<BlobChange>, CommitsError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = commits
            .chunks(chunk)
            .map(|part| scope.spawn(move || walk_part(part)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(CommitsError::WorkerPanicked)))
            .collect()
    });
    let mut changes = Vec::new();
    for part in parts {
        changes.extend(part?);
    }
    Ok(changes)
}

/// What commit `oid` adds. For a merge, only files that differ from every
/// parent: content that one side already had is not new in the merge.
fn commit_changes(
    reader: &mut ObjectReader,
    oid: Oid,
    out: &mut Vec<BlobChange>,
) -> Result<(), CommitsError> {
    let (tree, parents) = reader.commit_tree_and_parents(oid)?;
    let mut parent_trees = Vec::with_capacity(parents.len());
    for parent in parents {
        parent_trees.push(Some(reader.commit_tree_and_parents(parent)?.0));
    }
    tree_changes(reader, &parent_trees, tree, "", Some(oid), out)
}

/// Blobs of tree `new` that differ, at the same path, from each of the
/// `old` trees (none: everything in `new` is new). Like git's combined diff
/// of a merge, a subtree equal to any old one is skipped whole, so a merge
/// costs about what its changes cost. Trees list their entries in git's
/// order, so one merge pass pairs them. (A damaged, unsorted tree can only
/// make entries look new: more is scanned, not less.) The line diff of a
/// change is against the first old tree's blob.
pub fn tree_changes(
    reader: &mut ObjectReader,
    old: &[Option<Oid>],
    new: Oid,
    prefix: &str,
    commit: Option<Oid>,
    out: &mut Vec<BlobChange>,
) -> Result<(), CommitsError> {
    if old.contains(&Some(new)) {
        return Ok(());
    }
    let new_tree = reader.read_tree(new)?;
    let mut old_trees = Vec::with_capacity(old.len());
    let mut result = Ok(());
    for oid in old {
        match oid.map(|oid| reader.read_tree(oid)).transpose() {
            Ok(tree) => old_trees.push(tree),
            Err(error) => {
                result = Err(error.into());
                break;
            }
        }
    }
    if result.is_ok() {
        result = compare_trees(reader, &old_trees, &new_tree, prefix, commit, out);
    }
    reader.recycle(new_tree);
    for tree in old_trees.into_iter().flatten() {
        reader.recycle(tree);
    }
    result
}

fn compare_trees(
    reader: &mut ObjectReader,
    old_trees: &[Option<Tree>],
    new_tree: &Tree,
    prefix: &str,
    commit: Option<Oid>,
    out: &mut Vec<BlobChange>,
) -> Result<(), CommitsError> {
    let mut olds: Vec<_> = old_trees
        .iter()
        .map(|t| t.as_ref().map(|t| t.entries().peekable()))
        .collect();
    let mut before: Vec<Option<TreeEntry<'_>>> = vec![None; olds.len()];
    for entry in new_tree.entries() {
        let entry = entry?;
        for (entries, before) in olds.iter_mut().zip(before.iter_mut()) {
            *before = entries
                .as_mut()
                .and_then(|entries| same_name(entries, &entry));
        }
        if before.iter().any(|b| b.is_some_and(|b| b.oid == entry.oid)) {
            continue;
        }
        let name = String::from_utf8_lossy(entry.name);
        let path = if prefix.is_empty() {
            name.into_owned()
        } else {
            format!("{prefix}/{name}")
        };
        // Same name in git's order means the same kind for trees.
        let same_kind =
            |b: &Option<TreeEntry<'_>>| b.filter(|b| b.kind == entry.kind).map(|b| b.oid);
        match entry.kind {
            EntryKind::Tree => {
                let old: Vec<Option<Oid>> = before.iter().map(same_kind).collect();
                tree_changes(reader, &old, entry.oid, &path, commit, out)?
            }
            EntryKind::Blob => out.push(BlobChange {
                path,
                old: before.first().and_then(same_kind),
                new: entry.oid,
                commit,
            }),
            // Submodule entries (commits of another repository): no content here.
            EntryKind::Submodule => {}
        }
    }
    Ok(())
}

/// Advances `entries` (an old tree, in git's order) to the entry named like
/// `entry` and takes it, if there is one.
fn same_name<'a>(
    entries: &mut std::iter::Peekable<impl Iterator<Item = Result<TreeEntry<'a>, ObjectsError>>>,
    entry: &TreeEntry<'_>,
) -> Option<TreeEntry<'a>> {
    loop {
        // A damaged old tree: what is left of it counts as absent.
        let candidate = *entries.peek()?.as_ref().ok()?;
        match candidate.git_order(entry) {
            std::cmp::Ordering::Less => {
                entries.next();
            }
            std::cmp::Ordering::Equal => {
                entries.next();
                return Some(candidate);
            }
            std::cmp::Ordering::Greater => return None,
        }
    }
}

/// Reads and scans `changes` on all cores, each distinct blob once, in pack
/// order. The report lists findings in the order of `changes`.
pub fn scan_changes(
    scanner: &Scanner,
    store: &ObjectStore,
    changes: &[BlobChange],
    limits: ReadLimits,
    report: &mut ScanReport,
) {
    let mut groups: Vec<Vec<&BlobChange>> = Vec::new();
    let mut group_of: HashMap<Oid, usize> = HashMap::new();
    for change in changes {
        if scanner
            .allowlist
            .allows_path(std::path::Path::new(&change.path))
        {
            continue;
        }
        let index = *group_of.entry(change.new).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[index].push(change);
    }
    drop(group_of);
    let workers = worker_count(groups.len(), BLOBS_PER_THREAD);

    // Pack order: find where each blob is stored (on all cores: it touches
    // every pack entry's header), then sort.
    let chunk = groups.len().div_ceil(workers).max(1);
    let mut order: Vec<(crate::objects::PackPosition, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .chunks(chunk)
            .enumerate()
            .map(|(part, slice)| {
                scope.spawn(move || {
                    let mut reader = store.reader(ReadPattern::BlobsInPackOrder);
                    slice
                        .iter()
                        .enumerate()
                        .map(|(i, group)| (reader.position(group[0].new), part * chunk + i))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    if order.len() != groups.len() {
        // A thread died while sorting: read in the given order instead.
        order = (0..groups.len()).map(|i| ((0, 0, 0), i)).collect();
    }
    order.sort_unstable();
    crate::objects::pack_pages::release_now();

    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let stopped = AtomicBool::new(false);
    let results: Mutex<Vec<(usize, ScanReport)>> = Mutex::new(Vec::new());
    let worker = || {
        let mut reader = store.reader(ReadPattern::BlobsInPackOrder);
        let mut counts = ScanReport::default();
        loop {
            let start = next.fetch_add(BLOBS_PER_BATCH, Ordering::Relaxed);
            if start >= order.len() || stopped.load(Ordering::Relaxed) {
                break;
            }
            for &(_, index) in &order[start..(start + BLOBS_PER_BATCH).min(order.len())] {
                if limits.deadline.is_some_and(|d| Instant::now() > d) {
                    stopped.store(true, Ordering::Relaxed);
                    break;
                }
                let group = &groups[index];
                done.fetch_add(1, Ordering::Relaxed);
                let mut local = ScanReport::default();
                if let Err(error) = scan_group(scanner, &mut reader, group, &mut local) {
                    local.problem(&group[0].path, error);
                }
                counts.inputs += std::mem::take(&mut local.inputs);
                counts.bytes += std::mem::take(&mut local.bytes);
                if !local.findings.is_empty() || !local.problems.is_empty() || local.allowed > 0 {
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((index, local));
                }
            }
        }
        counts
    };
    let counted: Vec<Option<ScanReport>> = if workers == 1 {
        vec![Some(worker())]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers).map(|_| scope.spawn(worker)).collect();
            handles.into_iter().map(|h| h.join().ok()).collect()
        })
    };
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(index, _)| *index);
    for (_, local) in results {
        report.merge(local);
    }
    for counts in &counted {
        match counts {
            Some(counts) => {
                report.inputs += counts.inputs;
                report.bytes += counts.bytes;
            }
            None => report.problem("<repository>", CommitsError::WorkerPanicked),
        }
    }
    if stopped.load(Ordering::Relaxed) {
        let remaining = groups.len().saturating_sub(done.into_inner());
        report.problem(
            "<time budget>",
            CommitsError::TimeBudgetExceededScanning { remaining },
        );
    }
}

/// Scans the changes that share one blob.
fn scan_group(
    scanner: &Scanner,
    reader: &mut ObjectReader,
    group: &[&BlobChange],
    report: &mut ScanReport,
) -> Result<(), CommitsError> {
    let content = reader.read_kind(group[0].new, gix_object::Kind::Blob)?;
    PROGRESS_BYTES.fetch_add(content.len() as u64, Ordering::Relaxed);
    if !scanner.detector.has_candidate(content) {
        report.inputs += 1;
        report.bytes += content.len() as u64;
        return Ok(());
    }
    // Rare: a candidate. Rarer: a detection, which needs the lines each
    // change adds. Most candidates are words like "secret" in clean code.
    if !scanner.detects_anything(group.iter().map(|c| c.path.as_str()), content) {
        report.inputs += 1;
        report.bytes += content.len() as u64;
        return Ok(());
    }
    // The reader's buffer is needed for the old blobs.
    let content = content.to_vec();
    for change in group {
        let filter = match change.old {
            None => None,
            Some(old) => {
                let old_content = reader.read_kind(old, gix_object::Kind::Blob)?;
                Some(added_lines(old_content, &content).map_err(|source| {
                    CommitsError::DiffFailed {
                        path: change.path.clone(),
                        source,
                    }
                })?)
            }
        };
        let before = report.findings.len();
        scanner.scan(&change.path, &content, filter.as_ref(), report);
        if let Some(commit) = change.commit {
            for finding in &mut report.findings[before..] {
                finding.commit = Some(commit.to_string());
            }
        }
    }
    Ok(())
}
