//! Refs, whichever backend stores them: `files` (loose refs and
//! `packed-refs`, which libgit2 reads) or `reftable` (git 2.45+, the default
//! of git 3.0, which libgit2 cannot read).
//!
//! In a reftable repository libgit2 opens the repository (the extension is
//! declared to it, see `git::open_repository`) and reads its config, index
//! and objects, but sees only the placeholder git leaves for older tools
//! (`HEAD` -> `refs/heads/.invalid`). There, `HEAD` (all the pre-commit
//! path needs) is read in-process by `reftable`; everything else (every
//! ref for `--all` and `--not --all`, revision arguments of `history`)
//! comes from the `git` that runs the hook (`git for-each-ref`,
//! `git rev-parse`): one process of about 1-2 ms per question, only in
//! reftable repositories, reading the stack of tables, per-worktree refs
//! and a hook's quarantine exactly as git does. A files repository never
//! starts a process here: its refs stay with libgit2, as before.

use std::path::Path;
use std::process::{Command, Stdio};

use git2::{ErrorCode, Oid, Repository, Revwalk};

use crate::sources::git::GitError;

/// Why the refs, or a revision, could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RefsError {
    /// A reftable repository's refs are read by running `git`, and that failed:
    /// git could not start, exited with an error, or found no such revision.
    #[error(
        "this repository keeps its refs in reftable, which keygate reads through `git`; \
         running `git {args}` failed: {message}"
    )]
    GitFailed {
        /// The arguments given to `git`.
        args: String,
        /// git's first line of stderr, or why it could not run.
        message: String,
    },
    /// `git` printed a line that is not an object id.
    #[error("`git {args}` printed something that is not an object id: {line}")]
    GitOutputUnexpected {
        /// The arguments given to `git`.
        args: String,
        /// The line.
        line: String,
    },
    /// libgit2 could not list the refs.
    #[error("cannot list the refs: {0}")]
    ListFailed(#[source] git2::Error),
}

/// Where a repository keeps its refs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RefStorage {
    /// Loose ref files and `packed-refs`: read by libgit2.
    Files,
    /// The reftable format: read by running `git`, which libgit2 cannot.
    Reftable,
}

/// The ref backend of `repo`: reftable when its common directory has the
/// `reftable/` stack git creates (`extensions.refStorage = reftable`).
pub(crate) fn storage(repo: &Repository) -> RefStorage {
    if repo.commondir().join("reftable").is_dir() || repo.path().join("reftable").is_dir() {
        RefStorage::Reftable
    } else {
        RefStorage::Files
    }
}

/// The commit `HEAD` points at; `None` before the first commit.
pub(crate) fn head_commit(repo: &Repository) -> Result<Option<Oid>, GitError> {
    match storage(repo) {
        RefStorage::Files => match repo.head() {
            Ok(head) => Ok(Some(
                head.peel_to_commit()
                    .map_err(GitError::HeadUnreadable)?
                    .id(),
            )),
            Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => Ok(None),
            Err(e) => Err(GitError::HeadUnreadable(e)),
        },
        RefStorage::Reftable => {
            let hash_len = match repo.object_format() {
                git2::ObjectFormat::Sha256 => 32,
                _ => 20,
            };
            if let Some(head) =
                crate::sources::git::reftable::head(repo.path(), repo.commondir(), hash_len)
            {
                let Some(oid) = head else {
                    return Ok(None);
                };
                // Usually a commit; else (a tag) peeled like git would.
                let commit = repo
                    .find_object(oid, None)
                    .and_then(|o| o.peel_to_commit())
                    .map_err(GitError::HeadUnreadable)?;
                return Ok(Some(commit.id()));
            }
            // Unborn: `rev-parse -q --verify` prints nothing and exits 1.
            let lines = git_lines(
                repo,
                &["rev-parse", "-q", "--verify", "HEAD^{commit}"],
                true,
            )?;
            Ok(lines.first().copied())
        }
    }
}

/// The tree of `HEAD`; `None` before the first commit.
pub(crate) fn head_tree(repo: &Repository) -> Result<Option<git2::Tree<'_>>, GitError> {
    let Some(commit) = head_commit(repo)? else {
        return Ok(None);
    };
    let commit = repo.find_commit(commit).map_err(GitError::HeadUnreadable)?;
    commit.tree().map(Some).map_err(GitError::HeadUnreadable)
}

/// The objects the refs under `prefix` (e.g. `refs/`, `refs/remotes/origin/`)
/// point at, unpeeled.
pub fn tips(repo: &Repository, prefix: &str) -> Result<Vec<Oid>, GitError> {
    match storage(repo) {
        RefStorage::Files => {
            let references = repo
                .references_glob(&format!("{prefix}*"))
                .map_err(RefsError::ListFailed)?;
            Ok(references
                .flatten()
                .filter_map(|r| r.resolve().ok()?.target())
                .collect())
        }
        RefStorage::Reftable => git_lines(
            repo,
            &["for-each-ref", "--format=%(objectname)", prefix],
            false,
        ),
    }
}

/// Reftable: every ref under `refs/` with the object it points at
/// (unpeeled), symbolic refs left out; `None` in a files repository, where
/// libgit2 lists them.
pub(crate) fn named_refs(repo: &Repository) -> Result<Option<Vec<(String, Oid)>>, GitError> {
    if storage(repo) == RefStorage::Files {
        return Ok(None);
    }
    let args = [
        "for-each-ref",
        "--format=%(objectname)%00%(symref)%00%(refname)",
        "refs/",
    ];
    let output = run_git(repo, &args, false)?;
    let mut out = Vec::new();
    for line in output.lines().filter(|l| !l.is_empty()) {
        let mut fields = line.splitn(3, '\0');
        let (Some(hex), Some(symref), Some(name)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(RefsError::GitOutputUnexpected {
                args: args.join(" "),
                line: line.to_string(),
            }
            .into());
        };
        if !symref.is_empty() {
            continue; // its target is a ref of its own
        }
        let oid = crate::sources::git::odb::oid_from_hex(hex).ok_or_else(|| {
            RefsError::GitOutputUnexpected {
                args: args.join(" "),
                line: line.to_string(),
            }
        })?;
        out.push((name.to_string(), oid));
    }
    Ok(Some(out))
}

/// Adds every commit the refs under `refs/` reach to `walk` (`--all`);
/// refs to other objects (a tagged blob) are left out, like libgit2's
/// `push_glob`. `hide` hides them instead (`--not --all`).
pub(crate) fn walk_all_refs(
    repo: &Repository,
    walk: &mut Revwalk<'_>,
    hide: bool,
) -> Result<(), GitError> {
    if storage(repo) == RefStorage::Files {
        let result = if hide {
            walk.hide_glob("refs/*")
        } else {
            walk.push_glob("refs/*")
        };
        return Ok(result.map_err(RefsError::ListFailed)?);
    }
    for oid in tips(repo, "refs/")? {
        let Ok(commit) = repo.find_object(oid, None).and_then(|o| o.peel_to_commit()) else {
            continue;
        };
        let result = if hide {
            walk.hide(commit.id())
        } else {
            walk.push(commit.id())
        };
        result.map_err(RefsError::ListFailed)?;
    }
    Ok(())
}

/// A reftable repository: the commits a revision argument (`main`, `a..b`,
/// `^old`, `a...b`) includes and excludes, as `git rev-parse` says.
/// `None` in a files repository, where libgit2 parses revisions itself.
pub(crate) fn parse_revision(
    repo: &Repository,
    revision: &str,
) -> Result<Option<Vec<(bool, Oid)>>, GitError> {
    if storage(repo) == RefStorage::Files {
        return Ok(None);
    }
    let output = run_git(
        repo,
        &["rev-parse", "--revs-only", "--end-of-options", revision],
        false,
    )?;
    let mut out = Vec::new();
    for line in output.lines().filter(|l| !l.is_empty()) {
        let (include, hex) = match line.strip_prefix('^') {
            Some(hex) => (false, hex),
            None => (true, line),
        };
        let oid = crate::sources::git::odb::oid_from_hex(hex).ok_or_else(|| {
            RefsError::GitOutputUnexpected {
                args: format!("rev-parse {revision}"),
                line: line.to_string(),
            }
        })?;
        out.push((include, oid));
    }
    if out.is_empty() {
        return Err(RefsError::GitFailed {
            args: format!("rev-parse {revision}"),
            message: "not a revision".into(),
        }
        .into());
    }
    Ok(Some(out))
}

/// Object ids, one a line, from `git args`.
fn git_lines(repo: &Repository, args: &[&str], quiet_failure: bool) -> Result<Vec<Oid>, GitError> {
    let output = run_git(repo, args, quiet_failure)?;
    output
        .lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            crate::sources::git::odb::oid_from_hex(line.trim()).ok_or_else(|| {
                RefsError::GitOutputUnexpected {
                    args: args.join(" "),
                    line: line.to_string(),
                }
                .into()
            })
        })
        .collect()
}

/// Runs `git --git-dir=<repo> args` and returns its standard output. With
/// `quiet_failure`, exit status 1 with no output is an empty answer (what
/// `rev-parse -q --verify` says for a ref that does not exist).
pub(crate) fn run_git(
    repo: &Repository,
    args: &[&str],
    quiet_failure: bool,
) -> Result<String, GitError> {
    let output = git_command(repo.path())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| RefsError::GitFailed {
            args: args.join(" "),
            message: format!("cannot run git: {e}"),
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() || (quiet_failure && output.status.code() == Some(1)) {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let message = stderr.lines().next().unwrap_or("").trim().to_string();
    Err(RefsError::GitFailed {
        args: args.join(" "),
        message: if message.is_empty() {
            format!("exit status {}", output.status)
        } else {
            crate::engine::redact::scrub(&message)
        },
    }
    .into())
}

/// `git` for the repository at `git_dir` (a linked worktree's own directory
/// for its `HEAD`), with the hook's environment (quarantine included).
pub(crate) fn git_command(git_dir: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .arg("--git-dir")
        .arg(git_dir)
        // A ref name is data here, never a pager or a prompt.
        .env("GIT_PAGER", "cat")
        .env("GIT_TERMINAL_PROMPT", "0");
    command
}
