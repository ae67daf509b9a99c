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
use std::sync::atomic::Ordering;
use std::time::Instant;

use git2::Oid;

use crate::engine::detect::{Detected, Incomplete};
use crate::engine::scanner::{
    is_credential_file, CommitInfo, LineFilter, Origin, ScanReport, Scanner, Stop,
};
use crate::sources::git::odb::{
    ObjectReader, ObjectStore, ObjectsError, PackPosition, ReadPattern,
};
use crate::sources::queue::{self, Step};

/// Why reading and scanning the blobs of a change stopped.
#[derive(Debug, thiserror::Error)]
pub enum BlobsError {
    /// A reading thread panicked, so some blobs were not scanned.
    #[error("internal error: a reading thread stopped; the scan is incomplete")]
    WorkerPanicked,
    /// The line diff of a blob against its old blob failed.
    #[error("cannot compare the lines of {path}: {source}")]
    DiffFailed {
        /// The path the blob is at.
        path: String,
        /// What libgit2 said.
        #[source]
        source: git2::Error,
    },
    /// A blob could not be read.
    #[error(transparent)]
    Objects(#[from] ObjectsError),
}

/// One file whose content a commit (or the index) changes: the unit of
/// reading. `old` is the blob it replaces, for computing the added lines.
#[derive(Clone, Debug)]
pub struct BlobChange {
    pub(crate) path: String,
    pub(crate) old: Option<Oid>,
    pub(crate) new: Oid,
    /// The commit that makes the change (none for staged changes).
    pub commit: Option<Oid>,
}

/// Bounds on reading: per blob, and for the whole run.
#[derive(Clone, Copy, Debug)]
pub struct ReadLimits {
    pub(crate) max_blob_bytes: u64,
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

/// What one reading thread keeps: its reader (with its delta-base cache),
/// its counts, the groups it reports on and the groups it found clean.
struct Worker {
    reader: ObjectReader,
    counts: ScanReport,
    /// Groups with something to report (or a reason not to count as clean).
    reported: Vec<(usize, ScanReport)>,
    /// Groups read whole in which nothing at all was detected.
    clean: Vec<usize>,
    /// This worker stopped the queue: out of time.
    out_of_time: bool,
}

/// Reads and scans `changes` on all cores, each distinct blob once, in pack
/// order. The report lists findings in the order of `changes`. Returns the
/// blobs that were read whole and in which the detector found nothing at all
/// (also when the scan stopped early: those it did read), so a caller
/// scanning in rounds, or a push that is tried again, can skip them later.
/// A blob whose detection was only left out by a line filter is not among
/// them: where it arrives next, that line may count. (Rules that go by the
/// path alone, `scan::is_credential_file`, are the caller's to apply where
/// such a blob arrives.)
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
    let workers = queue::worker_count(groups.len(), BLOBS_PER_THREAD);

    let order = if workers == 1 {
        // A few blobs: the order they come in is as good as any.
        (0..groups.len()).map(|i| ((0, 0, 0), i)).collect()
    } else {
        pack_order(store, &groups)
    };
    crate::sources::git::odb::pack_pages::release_now();

    let states = queue::run(
        order.len(),
        BLOBS_PER_BATCH,
        workers,
        || Worker {
            reader: store.reader(ReadPattern::BlobsInPackOrder),
            counts: ScanReport::default(),
            reported: Vec::new(),
            clean: Vec::new(),
            out_of_time: false,
        },
        |worker, batch| {
            for &(_, index) in &order[batch] {
                if limits.deadline.is_some_and(|d| Instant::now() > d) {
                    worker.out_of_time = true;
                    return Step::Stop;
                }
                let group = &groups[index];
                let mut local = ScanReport::default();
                let scanned = scan_group(
                    scanner,
                    &mut worker.reader,
                    group,
                    limits.deadline,
                    &mut local,
                )
                .unwrap_or_else(|error| {
                    local.problem(&group[0].path, error);
                    GroupScan::Reported
                });
                if scanned == GroupScan::OutOfTime {
                    // Out of time inside this blob: it counts as not scanned.
                    worker.out_of_time = true;
                    return Step::Stop;
                }
                worker.counts.inputs += std::mem::take(&mut local.inputs);
                worker.counts.bytes += std::mem::take(&mut local.bytes);
                // Listed, even with nothing to report, so it is not returned as clean.
                if scanned == GroupScan::Filtered
                    || !local.findings.is_empty()
                    || !local.problems.is_empty()
                    || local.stopped.is_some()
                    || local.allowed > 0
                {
                    worker.reported.push((index, local));
                } else {
                    worker.clean.push(index);
                }
            }
            Step::Continue
        },
    );
    let mut results: Vec<(usize, ScanReport)> = Vec::new();
    let mut clean_groups: Vec<usize> = Vec::new();
    let mut out_of_time = false;
    for state in &states {
        match state {
            Some(worker) => {
                report.inputs += worker.counts.inputs;
                report.bytes += worker.counts.bytes;
                out_of_time |= worker.out_of_time;
            }
            None => report.problem("<repository>", BlobsError::WorkerPanicked),
        }
    }
    for worker in states.into_iter().flatten() {
        results.extend(worker.reported);
        clean_groups.extend(worker.clean);
    }
    let done = results.len() + clean_groups.len();
    results.sort_by_key(|(index, _)| *index);
    for (_, local) in results {
        report.merge(local);
    }
    if out_of_time {
        let remaining = groups.len().saturating_sub(done);
        report.stop(Stop::TimeBudget {
            unscanned: Some(remaining),
        });
    }
    clean_groups.sort_unstable();
    clean_groups.into_iter().map(|i| groups[i][0].new).collect()
}

/// `groups` (by index) in the order their blobs are stored, from the pack
/// indexes alone (no object is read); loose objects come last.
fn pack_order(store: &ObjectStore, groups: &[Vec<&BlobChange>]) -> Vec<(PackPosition, usize)> {
    let indexes = store.pack_indexes();
    let mut order: Vec<(PackPosition, usize)> = groups
        .iter()
        .enumerate()
        .map(|(i, group)| (indexes.position(group[0].new), i))
        .collect();
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
