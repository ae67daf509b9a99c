//! Which files `keygate scan` reads, and the one name each is reported by.
//!
//! Directories are walked by the `ignore` crate (ripgrep's walker), skipping
//! what git ignores: `.gitignore` files, `.git/info/exclude` and the global
//! excludes file, inside a git repository only. Dotfiles are read, `.git` is
//! skipped, symlinks are not followed. A file that git tracks is read even
//! where an ignore rule matches it (`git add -f`): it is in history all the
//! same. A path named on the command line is read whatever ignores it.
//! `--no-ignore` reads everything.
//!
//! Names: when the current directory is inside a git repository, a file in
//! that repository is named by its path from the repository's root,
//! whatever way it was reached (`.`, `./x`, `$PWD/x`, `sub/../x`, from a
//! subdirectory), which is the path `--staged`, the hooks and `history` give
//! it, so one finding has one fingerprint everywhere (and the config's
//! allowlist paths, from that root, match it). Any other file is named by
//! its path from the current directory, else by its absolute path.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use crate::engine::scanner::ScanReport;
use crate::sources::fs::FsError;

/// How to walk.
#[derive(Clone, Copy, Debug, Default)]
pub struct WalkOptions {
    /// Read what git ignores too.
    pub no_ignore: bool,
}

/// A file to read: where it is, and the name it is reported by.
#[derive(Clone, Debug)]
pub struct FileInput {
    /// Where to read it.
    pub disk: PathBuf,
    /// What the report calls it.
    pub name: String,
}

/// What a walk did not read because git ignores it, for the summary line.
#[derive(Clone, Copy, Debug, Default)]
pub struct WalkStats {
    /// Whether any directory walked is in a git repository whose ignore
    /// rules applied.
    pub ignores_applied: bool,
}

/// The files under `paths` (files or directories), each once, in a stable
/// order. What cannot be listed is a problem in `report`.
pub fn files(
    paths: &[PathBuf],
    options: WalkOptions,
    report: &mut ScanReport,
) -> (Vec<FileInput>, WalkStats) {
    let namer = Namer::here();
    let cwd = namer.cwd.clone();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut out = Vec::new();
    let mut stats = WalkStats::default();
    for path in paths {
        let metadata = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                report.problem(display(path), FsError::Missing);
                continue;
            }
            Err(e) => {
                report.problem(display(path), FsError::Unreadable(e));
                continue;
            }
        };
        let absolute = normalize(&cwd.join(path));
        // The repository this path is in, whose ignore rules apply to it.
        let root = repository_root(&absolute);
        let push = |disk: PathBuf, seen: &mut HashSet<PathBuf>, out: &mut Vec<FileInput>| {
            if seen.insert(disk.clone()) {
                let name = namer.name(&disk);
                out.push(FileInput { disk, name });
            }
        };
        if metadata.is_file() {
            push(absolute, &mut seen, &mut out);
            continue;
        }
        if !metadata.is_dir() {
            continue; // symlinks, sockets, devices: not followed, not content
        }
        // Tracked files, read even where an ignore rule matches them; when
        // the index cannot be read, nothing is ignored.
        let tracked = match (&root, options.no_ignore) {
            (Some(root), false) => tracked_files(root, &absolute),
            _ => None,
        };
        let (tracked, excludes_file) = match tracked {
            Some((files, excludes)) => (Some(files), excludes),
            None => (None, None),
        };
        let ignoring = tracked.is_some();
        stats.ignores_applied |= ignoring;
        let mut builder = ignore::WalkBuilder::new(&absolute);
        builder
            .standard_filters(ignoring)
            .hidden(false)
            .ignore(false)
            .parents(ignoring)
            .git_ignore(ignoring)
            .git_exclude(ignoring)
            .git_global(ignoring)
            .require_git(true)
            .follow_links(false)
            .sort_by_file_name(|a, b| a.cmp(b))
            .filter_entry(|entry| entry.file_name() != ".git");
        // `core.excludesFile` set in the repository's own config (the walker
        // reads only the global one).
        if let Some(file) = excludes_file {
            let _ = builder.add_ignore(file);
        }
        for entry in builder.build() {
            match entry {
                Ok(entry) => {
                    if entry.file_type().is_some_and(|t| t.is_file()) {
                        push(entry.into_path(), &mut seen, &mut out);
                    }
                }
                Err(error) => {
                    let path = error_path(&error).unwrap_or(&absolute).to_path_buf();
                    let io = match error.into_io_error() {
                        Some(io) => io,
                        None => std::io::Error::other("cannot list"),
                    };
                    report.problem(namer.name(&path), FsError::DirectoryUnreadable(io));
                }
            }
        }
        for file in tracked.unwrap_or_default() {
            if !seen.contains(&file) && std::fs::symlink_metadata(&file).is_ok_and(|m| m.is_file())
            {
                push(file, &mut seen, &mut out);
            }
        }
    }
    (out, stats)
}

/// The repository root `path` is in: the nearest directory, `path` itself
/// included, that holds a `.git` (a directory, or a linked worktree's file).
pub(crate) fn repository_root(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .find(|dir| dir.join(".git").exists())
        .map(Path::to_path_buf)
}

/// Names files as described in the module comment.
#[derive(Clone, Debug)]
pub(crate) struct Namer {
    root: Option<PathBuf>,
    cwd: PathBuf,
}

impl Namer {
    /// Names from the current directory and the repository it is in.
    pub fn here() -> Namer {
        let cwd = std::env::current_dir().unwrap_or_default();
        Namer {
            root: repository_root(&cwd),
            cwd,
        }
    }

    /// The name `path` is reported by: relative to the repository's root when
    /// it is inside it, else to the current directory, else absolute.
    pub fn name(&self, path: &Path) -> String {
        let absolute = normalize(&self.cwd.join(path));
        let relative = self
            .root
            .as_deref()
            .and_then(|root| absolute.strip_prefix(root).ok())
            .or_else(|| absolute.strip_prefix(&self.cwd).ok())
            .filter(|p| !p.as_os_str().is_empty());
        match relative {
            Some(relative) => slashed(relative),
            None => display(&absolute),
        }
    }
}

/// The files the index of the repository at `root` lists under `under`,
/// and its `core.excludesFile`.
fn tracked_files(root: &Path, under: &Path) -> Option<(Vec<PathBuf>, Option<PathBuf>)> {
    let repo = git2::Repository::open(root).ok()?;
    let excludes = repo
        .config()
        .ok()
        .and_then(|c| c.get_path("core.excludesFile").ok());
    let index = repo.index().ok()?;
    let mut files = Vec::new();
    for entry in index.iter() {
        let Ok(relative) = std::str::from_utf8(&entry.path) else {
            continue;
        };
        let path = root.join(relative);
        if path.starts_with(under) {
            files.push(path);
        }
    }
    Some((files, excludes))
}

fn error_path(error: &ignore::Error) -> Option<&Path> {
    match error {
        ignore::Error::WithPath { path, .. } => Some(path),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        ignore::Error::Loop { child, .. } => Some(child),
        ignore::Error::Partial(errors) => errors.iter().find_map(error_path),
        _ => None,
    }
}

/// `.` and `..` resolved by the text alone (a symlink is not followed).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A relative path with `/` between its parts, as git writes paths.
fn slashed(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_resolves_dots_by_text() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("/a/b/")), PathBuf::from("/a/b"));
    }

    #[test]
    fn names_are_relative_to_the_root_whatever_the_spelling() {
        let namer = Namer {
            root: Some(PathBuf::from("/r")),
            cwd: PathBuf::from("/r/sub"),
        };
        for spelling in ["../x.txt", "/r/x.txt", "/r/sub/../x.txt", "./../x.txt"] {
            assert_eq!(namer.name(Path::new(spelling)), "x.txt", "{spelling}");
        }
        assert_eq!(namer.name(Path::new("y/z")), "sub/y/z");
        let outside = Namer {
            root: None,
            cwd: PathBuf::from("/home/u"),
        };
        assert_eq!(outside.name(Path::new("./a/b")), "a/b");
        assert_eq!(outside.name(Path::new("/etc/x")), "/etc/x");
    }
}
