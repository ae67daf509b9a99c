//! Reads files and directories for `keygate scan`.
//!
//! Walks directories recursively (dotfiles included, `.git` skipped, symlinks
//! not followed so a link cannot loop or escape the tree), reads each file as
//! bytes whatever its encoding, and records every file it could not read: a
//! scan that skipped something never reports clean.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::engine::scanner::{ScanReport, Scanner};

#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("cannot read: {0}")]
    Unreadable(#[source] std::io::Error),
    #[error("cannot list directory: {0}")]
    DirectoryUnreadable(#[source] std::io::Error),
    #[error("{size} bytes, over the {limit}-byte limit: not scanned (raise --max-file-size)")]
    TooLarge { size: u64, limit: u64 },
    #[error("no such file or directory")]
    Missing,
    #[error("internal error: a scanning thread stopped; the scan is incomplete")]
    WorkerPanicked,
    #[error("cannot read standard input: {0}")]
    StdinUnreadable(#[source] std::io::Error),
}

/// Scans paths (files or directories); `-` is standard input. Files larger
/// than `max_file_bytes` are reported as not scanned rather than loaded.
pub fn scan_paths(
    scanner: &Scanner,
    paths: &[PathBuf],
    max_file_bytes: u64,
    report: &mut ScanReport,
) {
    let mut files = Vec::new();
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
        collect(path, &mut files, report);
    }
    scan_files(scanner, &files, max_file_bytes, report);
}

/// Lists the files under `path`, recording what cannot be listed.
fn collect(path: &Path, files: &mut Vec<PathBuf>, report: &mut ScanReport) {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            report.problem(display(path), FsError::Missing);
            return;
        }
        Err(e) => {
            report.problem(display(path), FsError::Unreadable(e));
            return;
        }
    };
    if metadata.is_file() {
        files.push(path.to_path_buf());
    } else if metadata.is_dir() {
        let entries = match std::fs::read_dir(path) {
            Ok(entries) => entries,
            Err(e) => {
                report.problem(display(path), FsError::DirectoryUnreadable(e));
                return;
            }
        };
        let mut children: Vec<PathBuf> = Vec::new();
        for entry in entries {
            match entry {
                Ok(entry) => children.push(entry.path()),
                Err(e) => report.problem(display(path), FsError::DirectoryUnreadable(e)),
            }
        }
        children.sort();
        for child in children {
            if child.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            collect(&child, files, report);
        }
    }
    // Symlinks, sockets, devices: not followed, not content of the tree.
}

/// Reads and scans files on all cores, keeping findings in path order.
fn scan_files(scanner: &Scanner, files: &[PathBuf], max_file_bytes: u64, report: &mut ScanReport) {
    let files: Vec<&PathBuf> = files
        .iter()
        .filter(|f| !scanner.allowlist.allows_path(f))
        .collect();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().max(1));
    let chunk = files.len().div_ceil(workers).max(1);
    let reports: Vec<ScanReport> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let mut local = ScanReport::default();
                    for file in part {
                        match read_capped(file, max_file_bytes) {
                            Ok(bytes) => scanner.scan(&display(file), &bytes, None, &mut local),
                            Err(e) => local.problem(display(file), e),
                        }
                    }
                    local
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    let mut failed = ScanReport::default();
                    failed.problem("<scan>", FsError::WorkerPanicked);
                    failed
                })
            })
            .collect()
    });
    for r in reports {
        report.merge(r);
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

/// A path as the user would type it.
fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}
