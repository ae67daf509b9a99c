//! What a list of commits changes: the walk that the push gate and the
//! history audit share.
//!
//! Each commit's tree is compared with its parents' (merges: only what
//! differs from every parent, like git's combined diff), descending only
//! into subtrees whose ids differ. The result is a list of blob changes
//! with their commit, which `blobs` then reads and scans. Each commit's
//! message is scanned here, from the read that finds its tree (`names`):
//! a message is content that lands in history too.

use std::time::Instant;

use git2::Oid;

use crate::engine::scanner::{ScanReport, Scanner, Stop};
use crate::sources::git::blobs::BlobChange;
use crate::sources::git::odb::{
    EntryKind, ObjectReader, ObjectStore, ObjectsError, ReadPattern, Tree, TreeEntry,
};
use crate::sources::queue::{self, Step};

/// Why the changes of commits could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum CommitsError {
    /// A thread comparing trees panicked: its commits were not all compared.
    #[error("internal error: a thread comparing trees stopped; the scan is incomplete")]
    WorkerPanicked,
    /// An object could not be read.
    #[error(transparent)]
    Objects(#[from] ObjectsError),
}

/// Below this many commits, one thread compares their trees.
const COMMITS_PER_THREAD: usize = 64;
/// Commits a thread takes at a time: enough that a batch's newest-first
/// walk reuses its delta bases, few enough that threads stay balanced.
const COMMITS_PER_BATCH: usize = 256;

/// The changes of `commits`, in their order, computed on all cores. The
/// commits' messages are scanned with `scanner` on the way, their findings
/// added to `report` in the commits' order. Past `deadline`, the report is
/// marked stopped ([`Stop::TimeBudget`]) and no change is returned.
pub(crate) fn changes_of_commits(
    store: &ObjectStore,
    commits: &[Oid],
    deadline: Option<Instant>,
    scanner: &Scanner,
    report: &mut ScanReport,
) -> Result<Vec<BlobChange>, CommitsError> {
    // Newest first within a batch: packs store the newest version of a file
    // whole and older ones as deltas against it, so this order finds delta
    // bases in the cache.
    type Part = (Vec<BlobChange>, ScanReport);
    // `None`: out of time.
    let walk_part =
        |reader: &mut ObjectReader, part: &[Oid]| -> Result<Option<Part>, CommitsError> {
            let mut per_commit: Vec<Vec<BlobChange>> = Vec::with_capacity(part.len());
            let mut messages: Vec<ScanReport> = Vec::new();
            for &oid in part.iter().rev() {
                if deadline.is_some_and(|d| Instant::now() > d) {
                    return Ok(None);
                }
                let mut changes = Vec::new();
                let mut message = ScanReport::default();
                commit_changes(reader, oid, scanner, &mut message, &mut changes)?;
                per_commit.push(changes);
                messages.push(message);
            }
            let mut report = ScanReport::default();
            messages.into_iter().rev().for_each(|m| report.merge(m));
            Ok(Some((
                per_commit.into_iter().rev().flatten().collect(),
                report,
            )))
        };
    type Done = Vec<(usize, Result<Option<Part>, CommitsError>)>;
    let workers = queue::worker_count(commits.len(), COMMITS_PER_THREAD);
    let states = queue::run(
        commits.len(),
        COMMITS_PER_BATCH,
        workers,
        || (store.reader(ReadPattern::TreeWalk), Done::new()),
        |(reader, done), batch| {
            let start = batch.start;
            let part = walk_part(reader, &commits[batch]);
            let step = match part {
                Ok(Some(_)) => Step::Continue,
                Ok(None) | Err(_) => Step::Stop,
            };
            done.push((start, part));
            step
        },
    );
    let mut parts: Done = Vec::new();
    for state in states {
        match state {
            Some((_, done)) => parts.extend(done),
            None => return Err(CommitsError::WorkerPanicked),
        }
    }
    parts.sort_unstable_by_key(|(start, _)| *start);
    let mut changes = Vec::new();
    let mut found = ScanReport::default();
    for (_, part) in parts {
        let Some((part, messages)) = part? else {
            report.stop(Stop::TimeBudget { unscanned: None });
            return Ok(Vec::new());
        };
        changes.extend(part);
        found.merge(messages);
    }
    report.merge(found);
    Ok(changes)
}

/// What commit `oid` adds, and its message scanned. For a merge, only files
/// that differ from every parent: content that one side already had is not
/// new in the merge.
fn commit_changes(
    reader: &mut ObjectReader,
    oid: Oid,
    scanner: &Scanner,
    report: &mut ScanReport,
    out: &mut Vec<BlobChange>,
) -> Result<(), CommitsError> {
    let (tree, parents, data) = reader.commit(oid)?;
    crate::sources::git::names::scan_commit_object(scanner, oid, data, report);
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
pub(crate) fn tree_changes(
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
