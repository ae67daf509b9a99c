//! Reads files and directories for `keygate scan`.
//!
//! `walk` lists the files (what git ignores skipped, dotfiles included, `.git`
//! skipped, symlinks not followed so a link cannot loop or escape the tree)
//! and names them; this module reads each file as bytes whatever its
//! encoding, and records every file it could not read: a scan that skipped
//! something never reports clean.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::engine::scanner::{ScanReport, Scanner};
use crate::sources::queue::{self, Step};
use crate::sources::walk::{FileInput, WalkOptions, WalkStats};

/// Why a file, a directory or standard input was not scanned: recorded as
/// a problem on the report, which makes the run incomplete.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FsError {
    /// A file could not be opened or read.
    #[error("cannot read: {0}")]
    Unreadable(#[source] std::io::Error),
    /// A directory could not be listed.
    #[error("cannot list directory: {0}")]
    DirectoryUnreadable(#[source] std::io::Error),
    /// A file is larger than `--max-file-size`.
    #[error("{size} bytes, over the {limit}-byte limit: not scanned (raise --max-file-size)")]
    TooLarge {
        /// The file's size in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// A path given on the command line does not exist.
    #[error("no such file or directory")]
    Missing,
    /// A scanning thread panicked: its files were not all scanned.
    #[error("internal error: a scanning thread stopped; the scan is incomplete")]
    WorkerPanicked,
    /// `-` was given and standard input could not be read.
    #[error("cannot read standard input: {0}")]
    StdinUnreadable(#[source] std::io::Error),
}

/// Scans paths (files or directories); `-` is standard input. Files larger
/// than `max_file_bytes` are reported as not scanned rather than loaded.
pub(crate) fn scan_paths(
    scanner: &Scanner,
    paths: &[PathBuf],
    walk: WalkOptions,
    max_file_bytes: u64,
    report: &mut ScanReport,
) -> WalkStats {
    let mut roots = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut input = Vec::new();
            match std::io::stdin()
                .lock()
                .take(max_file_bytes + 1)
                .read_to_end(&mut input)
            {
                Ok(n) if n as u64 > max_file_bytes => report.problem(
                    "<stdin>",
                    FsError::TooLarge {
                        size: n as u64,
                        limit: max_file_bytes,
                    },
                ),
                Ok(_) => scanner.scan("<stdin>", &input, None, report),
                Err(e) => report.problem("<stdin>", FsError::StdinUnreadable(e)),
            }
            continue;
        }
        roots.push(path.clone());
    }
    let (files, stats) = crate::sources::walk::files(&roots, walk, report);
    scan_files(scanner, &files, max_file_bytes, report);
    stats
}

/// Files a thread takes at a time: few, so that one large file does not
/// leave the other cores idle.
const FILES_PER_BATCH: usize = 4;

/// Reads and scans files on all cores, keeping findings in path order.
pub(crate) fn scan_files(
    scanner: &Scanner,
    files: &[FileInput],
    max_file_bytes: u64,
    report: &mut ScanReport,
) {
    let files: Vec<&FileInput> = files
        .iter()
        .filter(|f| !scanner.allowlist.allows_path(Path::new(&f.name)))
        .collect();
    let workers = queue::worker_count(files.len(), FILES_PER_BATCH);
    // Each batch's report, by where the batch starts: merged in path order.
    let states = queue::run(
        files.len(),
        FILES_PER_BATCH,
        workers,
        Vec::new,
        |done: &mut Vec<(usize, ScanReport)>, batch| {
            let mut local = ScanReport::default();
            for file in &files[batch.clone()] {
                match read_capped(&file.disk, max_file_bytes) {
                    Ok(bytes) => scanner.scan(&file.name, &bytes, None, &mut local),
                    Err(e) => local.problem(file.name.clone(), e),
                }
            }
            done.push((batch.start, local));
            Step::Continue
        },
    );
    let mut done = Vec::new();
    for state in states {
        match state {
            Some(reports) => done.extend(reports),
            None => report.problem("<scan>", FsError::WorkerPanicked),
        }
    }
    done.sort_unstable_by_key(|(start, _)| *start);
    for (_, local) in done {
        report.merge(local);
    }
}

/// Reads a file unless it is larger than `limit` (checked before reading, and
/// again while reading, in case it grows).
fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, FsError> {
    let file = std::fs::File::open(path).map_err(FsError::Unreadable)?;
    let size = file.metadata().map_err(FsError::Unreadable)?.len();
    if size > limit {
        return Err(FsError::TooLarge { size, limit });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(FsError::Unreadable)?;
    if bytes.len() as u64 > limit {
        return Err(FsError::TooLarge {
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}
