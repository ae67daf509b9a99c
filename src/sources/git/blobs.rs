//! Reads and scans blob changes: the last step of every git input (the
//! staged index, a push, a history).
//!
//! Each distinct blob is read once, however many paths or commits bring
//! it, in the order the packs store blobs (so delta bases are still cached
//! when their deltas come), in batches handed out to all cores, and the
//! prefilter runs over its whole content. Only for a blob in which the
//! detector finds something are the changes that bring it scanned one by
//! one, each against its own old blob, so that a line counts exactly where
//! it is added.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use git2::Oid;

use crate::engine::detect::{Detected, Incomplete};
use crate::engine::scanner::{
    is_credential_file, CommitInfo, LineFilter, Origin, ScanReport, Scanner, Stop,
};
use crate::sources::git::odb::{
    ObjectReader, ObjectStore, ObjectsError, PackPosition, ReadPattern,
};

#[derive(Debug, thiserror::Error)]
pub enum BlobsError {
    #[error("internal error: a reading thread stopped; the scan is incomplete")]
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

/// Bounds on reading: per blob, and for the whole run.
#[derive(Clone, Copy, Debug)]
pub struct ReadLimits {
    pub max_blob_bytes: u64,
    /// Past this instant, the remaining blobs are reported as not scanned.
    pub deadline: Option<Instant>,
}

/// Bytes of blob content read so far, for `history`'s progress line.
pub static PROGRESS_BYTES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Below this many blobs, one thread reads them all.
const BLOBS_PER_THREAD: usize = 64;
/// Blobs a worker claims at a time, in pack order: large enough that most
/// delta bases are in the same batch, small enough to share the work evenly.
const BLOBS_PER_BATCH: usize = 64;

/// Threads for `items` units of work, at least `per_thread` each.
pub fn worker_count(items: usize, per_thread: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.div_ceil(per_thread))
        .max(1)
}

/// Reads and scans `changes` on all cores, each distinct blob once, in pack
/// order. The report lists findings in the order of `changes`. Returns the
/// blobs that were read whole and in which the detector found nothing at all
/// (none when the scan stopped early), so a caller scanning in rounds can
/// skip them later. A blob whose detection was only left out by a line filter
/// is not among them: where it arrives next, that line may count. (Rules that
/// go by the path alone, `scan::is_credential_file`, are the caller's to
/// apply where such a blob arrives.)
pub fn scan_changes(
    scanner: &Scanner,
    store: &ObjectStore,
    changes: &[BlobChange],
    limits: ReadLimits,
    report: &mut ScanReport,
) -> Vec<Oid> {
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

    let order = if workers == 1 {
        // A few blobs: the order they come in is as good as any.
        (0..groups.len()).map(|i| ((0, 0, 0), i)).collect()
    } else {
        pack_order(store, &groups, workers)
    };
    crate::sources::git::odb::pack_pages::release_now();

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
                let mut local = ScanReport::default();
                let scanned = scan_group(scanner, &mut reader, group, limits.deadline, &mut local)
                    .unwrap_or_else(|error| {
                        local.problem(&group[0].path, error);
                        GroupScan::Reported
                    });
                if scanned == GroupScan::OutOfTime {
                    // Out of time inside this blob: it counts as not scanned.
                    stopped.store(true, Ordering::Relaxed);
                    break;
                }
                done.fetch_add(1, Ordering::Relaxed);
                counts.inputs += std::mem::take(&mut local.inputs);
                counts.bytes += std::mem::take(&mut local.bytes);
                // Listed, even with nothing to report, so it is not returned as clean.
                if scanned == GroupScan::Filtered
                    || !local.findings.is_empty()
                    || !local.problems.is_empty()
                    || local.allowed > 0
                {
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
    let complete = !stopped.load(Ordering::Relaxed) && counted.iter().all(Option::is_some);
    let mut clean = Vec::new();
    if complete {
        let mut reported = results.iter().map(|(index, _)| *index).peekable();
        for (index, group) in groups.iter().enumerate() {
            if reported.next_if_eq(&index).is_none() {
                clean.push(group[0].new);
            }
        }
    }
    for (_, local) in results {
        report.merge(local);
    }
    for counts in &counted {
        match counts {
            Some(counts) => {
                report.inputs += counts.inputs;
                report.bytes += counts.bytes;
            }
            None => report.problem("<repository>", BlobsError::WorkerPanicked),
        }
    }
    if stopped.load(Ordering::Relaxed) {
        let remaining = groups.len().saturating_sub(done.into_inner());
        report.stop(Stop::TimeBudget {
            unscanned: Some(remaining),
        });
    }
    clean
}

/// `groups` (by index) in the order their blobs are stored: each blob's
/// place is looked up on all cores (it touches every pack entry's header),
/// then sorted; loose objects come last.
fn pack_order(
    store: &ObjectStore,
    groups: &[Vec<&BlobChange>],
    workers: usize,
) -> Vec<(PackPosition, usize)> {
    let chunk = groups.len().div_ceil(workers).max(1);
    let mut order: Vec<(PackPosition, usize)> = std::thread::scope(|scope| {
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
    order
}

/// How the scan of the changes that share one blob ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GroupScan {
    /// Nothing at all was detected: the blob is clean wherever it goes.
    Clean,
    /// Every detection was reported or allowed here (or a problem was).
    Reported,
    /// A line filter may have left a detection out: the blob holds
    /// something, even with nothing reported here, and is scanned again
    /// where it arrives elsewhere.
    Filtered,
    /// The deadline passed inside the blob: it was not scanned whole, and
    /// nothing is reported for it.
    OutOfTime,
}

/// Scans the changes that share one blob.
fn scan_group(
    scanner: &Scanner,
    reader: &mut ObjectReader,
    group: &[&BlobChange],
    deadline: Option<Instant>,
    report: &mut ScanReport,
) -> Result<GroupScan, BlobsError> {
    let content = reader.read_kind(group[0].new, gix_object::Kind::Blob)?;
    PROGRESS_BYTES.fetch_add(content.len() as u64, Ordering::Relaxed);
    // A credentials file is one by its name, whatever its content.
    let by_name = group.iter().any(|c| is_credential_file(&c.path));
    if !by_name && !scanner.detector.has_candidate(content) {
        report.inputs += 1;
        report.bytes += content.len() as u64;
        return Ok(GroupScan::Clean);
    }
    // Rare: a candidate. Rarer: a detection, which needs the lines each
    // change adds. Most candidates are words like "secret" in clean code,
    // so the blob is scanned once, and only where that finds something
    // (or could not finish) are the changes that bring it compared.
    let detected = scanner.detector.detect_all(content, deadline);
    if detected.incomplete == Some(Incomplete::OutOfTime) {
        return Ok(GroupScan::OutOfTime);
    }
    if detected.detections.is_empty() && detected.incomplete.is_none() && !by_name {
        report.inputs += 1;
        report.bytes += content.len() as u64;
        return Ok(GroupScan::Clean);
    }
    if group.iter().all(|c| c.old.is_none()) {
        for change in group {
            record(scanner, change, content, &detected, None, report);
        }
        return Ok(GroupScan::Reported);
    }
    // The reader's buffer is needed for the old blobs.
    let content = content.to_vec();
    for change in group {
        let filter = match change.old {
            None => None,
            Some(old) => {
                let old_content = match reader.read_kind(old, gix_object::Kind::Blob) {
                    Ok(old_content) => old_content,
                    // A partial clone never fetched the old version: every
                    // line counts as added (more is reported, never less).
                    Err(crate::sources::git::odb::ObjectsError::ObjectNotFetched { .. }) => &[],
                    Err(e) => return Err(e.into()),
                };
                Some(added_lines(old_content, &content).map_err(|source| {
                    BlobsError::DiffFailed {
                        path: change.path.clone(),
                        source,
                    }
                })?)
            }
        };
        record(
            scanner,
            change,
            &content,
            &detected,
            filter.as_ref(),
            report,
        );
    }
    Ok(GroupScan::Filtered)
}

/// Records what was detected in one change's blob, for its path and commit.
fn record(
    scanner: &Scanner,
    change: &BlobChange,
    content: &[u8],
    detected: &Detected,
    filter: Option<&LineFilter>,
    report: &mut ScanReport,
) {
    let before = report.mark();
    scanner.record(&change.path, content, detected, filter, report);
    if let Some(commit) = change.commit {
        report.set_origin(before, &Origin::Blob(CommitInfo::id(commit.to_string())));
    }
}

/// The lines of `new` that are not in `old` (1-based, of `new`).
pub fn added_lines(old: &[u8], new: &[u8]) -> Result<LineFilter, git2::Error> {
    let mut options = git2::DiffOptions::new();
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
