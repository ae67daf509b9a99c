//! Reads what a push brings: every new commit of every ref it updates.
//!
//! On the server (`pre-receive`) the pushed objects are still in git's
//! quarantine directory, named by `GIT_OBJECT_DIRECTORY` and
//! `GIT_ALTERNATE_OBJECT_DIRECTORIES`, which git sets for the hook: libgit2's
//! `open_from_env` lists the commits there and `objects` reads them. On the
//! client (`pre-push`) the same walk covers the commits the remote does not
//! have yet.
//!
//! Every new commit counts, not only the tips: a key added in one commit and
//! removed in the next still lives in history. `commits` lists what each new
//! commit changes (and scans its message) and `blobs` reads each new blob
//! once, however many commits and refs bring it. What a push brings besides
//! contents counts too (`names`): the names of the refs it creates or
//! updates, the paths its commits add, and annotated tags' messages.

use git2::{ObjectType, Oid, Repository, Sort};

use crate::engine::scanner::{is_credential_file, ScanReport, Scanner};
use crate::sources::git::blobs::{scan_changes, BlobChange, ReadLimits};
use crate::sources::git::odb::{ObjectStore, ObjectsError, ReadPattern};
use crate::sources::git::scanned::ScannedClean;
use crate::sources::git::tree_diff::{changes_of_commits, tree_changes, CommitsError};
use crate::sources::git::verified::Walked;
use crate::sources::git::GitError;

/// Why a push could not be scanned: its hook input is not what git writes,
/// or its objects cannot be read. The hook exits 2: the push is not let in.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// A line of standard input does not have the fields git writes.
    #[error("standard input line {line}: expected {expected}")]
    InputMalformed {
        /// 1-based line of standard input.
        line: usize,
        /// What the line should hold.
        expected: &'static str,
    },
    /// A line's id is not a whole hex object id.
    #[error("standard input line {line}: not an object id")]
    ObjectIdInvalid {
        /// 1-based line of standard input.
        line: usize,
    },
    /// Standard input could not be read.
    #[error("cannot read standard input: {0}")]
    InputUnreadable(#[source] std::io::Error),
    /// libgit2 could not list the commits the push brings.
    #[error("cannot list the pushed commits: {0}")]
    WalkFailed(#[source] git2::Error),
    /// A pushed commit, tag or tree could not be read.
    #[error("cannot read pushed object {oid}: {source}")]
    ObjectUnreadable {
        /// The object's id.
        oid: Oid,
        /// What libgit2 said.
        #[source]
        source: git2::Error,
    },
    /// The pushed commits' trees could not be compared.
    #[error(transparent)]
    Commits(#[from] CommitsError),
    /// An object could not be read.
    #[error(transparent)]
    Objects(#[from] ObjectsError),
    /// The repository or its refs could not be read.
    #[error(transparent)]
    Git(#[from] GitError),
}

/// One ref a push changes. `None` is git's all-zero id: creation (`old`) or
/// deletion (`new`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefUpdate {
    /// The ref's id before the push.
    pub old: Option<Oid>,
    /// The id the push sets it to.
    pub new: Option<Oid>,
    /// Full name, such as `refs/heads/main`.
    pub refname: String,
}

/// Which commits are already known, so only the new ones are scanned.
#[derive(Clone, Debug)]
pub enum Known {
    /// Server side: everything reachable from the repository's refs (which the
    /// push has not updated yet).
    AllRefs,
    /// Client side: only what the remote tips git reports for this push
    /// reach. Remote-tracking refs are not used: they say what the remote had
    /// at the last fetch, and a branch deleted or rewritten on the server
    /// since (often to get rid of a key) would hide its commits from the scan
    /// while the push sends them again. The cost: a branch new on the remote
    /// is scanned down to its roots, like `keygate history BRANCH`, except
    /// what another updated ref's remote tip reaches.
    RemoteTips,
    /// `RemoteTips`, and also these commits, which this machine verified:
    /// all below them was scanned clean under the same detection
    /// (`verified`).
    RemoteTipsAndVerified(Vec<Oid>),
}

/// Parses pre-receive standard input: `<old> <new> <ref>` per line.
pub fn parse_pre_receive(input: &[u8]) -> Result<Vec<RefUpdate>, PushError> {
    parse_lines(input, 3, "`<old-id> <new-id> <ref>`", |fields, line| {
        Ok(RefUpdate {
            old: parse_oid(fields[0], line)?,
            new: parse_oid(fields[1], line)?,
            refname: fields[2].to_string(),
        })
    })
}

/// Parses pre-push standard input: `<local ref> <local id> <remote ref> <remote id>`.
pub fn parse_pre_push(input: &[u8]) -> Result<Vec<RefUpdate>, PushError> {
    parse_lines(
        input,
        4,
        "`<local-ref> <local-id> <remote-ref> <remote-id>`",
        |fields, line| {
            Ok(RefUpdate {
                old: parse_oid(fields[3], line)?,
                new: parse_oid(fields[1], line)?,
                refname: fields[2].to_string(),
            })
        },
    )
}

fn parse_lines(
    input: &[u8],
    count: usize,
    expected: &'static str,
    build: impl Fn(&[&str], usize) -> Result<RefUpdate, PushError>,
) -> Result<Vec<RefUpdate>, PushError> {
    let mut updates = Vec::new();
    for (index, raw) in input.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let text =
            std::str::from_utf8(raw).map_err(|_| PushError::InputMalformed { line, expected })?;
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != count {
            return Err(PushError::InputMalformed { line, expected });
        }
        updates.push(build(&fields, line)?);
    }
    Ok(updates)
}

/// An object id in hex; all zeros (of either length) is `None`.
fn parse_oid(text: &str, line: usize) -> Result<Option<Oid>, PushError> {
    let hex = text.len() == 40 || text.len() == 64;
    if !hex || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(PushError::ObjectIdInvalid { line });
    }
    if text.bytes().all(|b| b == b'0') {
        return Ok(None);
    }
    crate::sources::git::odb::oid_from_hex(text)
        .map(Some)
        .ok_or(PushError::ObjectIdInvalid { line })
}

/// Blobs a push did not read because an earlier attempt had scanned them
/// clean (`scanned`), and blobs it found clean and remembered.
#[derive(Clone, Copy, Debug, Default)]
pub struct Resumed {
    pub(crate) skipped: usize,
    pub(crate) remembered: usize,
    /// Blob ids remembered in all, after this push.
    pub kept: usize,
}

/// What a push's scan covered: the walk (for `verified`) and what the
/// server's memory of clean blobs saved (for `scanned`).
#[derive(Debug, Default)]
pub(crate) struct PushScan {
    /// The tips and commits the walk covered.
    pub walked: Walked,
    /// Blobs skipped and remembered.
    pub resumed: Resumed,
}

/// Scans everything the updates bring that `known` does not already have,
/// and says what the walk covered (for `verified`). With `scanned` (the server's memory of blobs scanned clean under the
/// same rules and config), blobs in it are not read again, and the blobs
/// this scan finds clean are added to it, also when it stops early: pushed
/// again, the push continues where it stopped.
pub(crate) fn scan_push(
    scanner: &Scanner,
    repo: &Repository,
    updates: &[RefUpdate],
    known: &Known,
    limits: ReadLimits,
    scanned: Option<&mut ScannedClean>,
    report: &mut ScanReport,
) -> Result<PushScan, PushError> {
    let mut walked = Walked::default();
    let phases = Phases::start();
    // libgit2 keeps every object it reads in a cache (up to 256 MiB): the
    // walk below reads each commit once, and the tens of thousands of a
    // large push would stay in memory for nothing.
    git2::opts::enable_caching(false);
    let store = ObjectStore::open(repo, limits.max_blob_bytes)?;
    let mut walk = repo.revwalk().map_err(PushError::WalkFailed)?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)
        .map_err(PushError::WalkFailed)?;
    let mut changes = Vec::new();
    let mut any_tip = false;
    for update in updates {
        let Some(new) = update.new else {
            continue; // deletion: nothing arrives
        };
        crate::sources::git::names::scan_ref_name(scanner, &update.refname, report);
        let object = repo
            .find_object(new, None)
            .map_err(|source| PushError::ObjectUnreadable { oid: new, source })?;
        // Annotated tags: the message is content too; then the tagged object.
        let mut target = object;
        while let Some(tag) = target.as_tag() {
            crate::sources::git::names::scan_tag_message(scanner, &update.refname, tag, report);
            target = tag.target().map_err(|source| PushError::ObjectUnreadable {
                oid: tag.id(),
                source,
            })?;
        }
        match target.kind() {
            Some(ObjectType::Commit) => {
                walk.push(target.id()).map_err(PushError::WalkFailed)?;
                walked.tips.push(target.id());
                any_tip = true;
            }
            Some(ObjectType::Blob) => changes.push(BlobChange {
                path: update.refname.clone(),
                old: None,
                new: target.id(),
                commit: None,
            }),
            Some(ObjectType::Tree) => {
                tree_changes(
                    &mut store.reader(ReadPattern::TreeWalk),
                    &[],
                    target.id(),
                    "",
                    None,
                    &mut changes,
                )?;
            }
            _ => {}
        }
    }
    if any_tip {
        if let Known::AllRefs = known {
            crate::sources::git::refs::walk_all_refs(repo, &mut walk, true)?;
        }
        if let Known::RemoteTipsAndVerified(verified) = known {
            for tip in verified {
                walk.hide(*tip).map_err(PushError::WalkFailed)?;
            }
        }
        for update in updates {
            if let Some(old) = update.old {
                // The remote's (or the server's) current tip, when we have
                // it: git read it from the remote for this push, so all that
                // it reaches is there. (An annotated tag: what it tags.) A tip
                // we do not have proves nothing here: more is scanned.
                let commit = repo
                    .find_object(old, None)
                    .and_then(|object| object.peel_to_commit());
                if let Ok(commit) = commit {
                    walk.hide(commit.id()).map_err(PushError::WalkFailed)?;
                    walked.remote_hidden = true;
                }
            }
        }
        let commits = walk
            .collect::<Result<Vec<Oid>, _>>()
            .map_err(PushError::WalkFailed)?;
        phases.mark("list the new commits (revwalk)", commits.len());
        changes.extend(changes_of_commits(
            &store,
            &commits,
            limits.deadline,
            scanner,
            report,
        )?);
        walked.commits = commits;
    }
    phases.mark("compare their trees (blob changes)", changes.len());
    crate::sources::git::names::scan_new_paths(scanner, &changes, report);
    let mut resumed = Resumed::default();
    if let Some(scanned) = scanned.as_deref().filter(|s| !s.is_empty()) {
        let before = changes.len();
        // A credentials file is one by its name: scanned wherever it arrives.
        changes.retain(|c| !scanned.contains(c.new) || is_credential_file(&c.path));
        resumed.skipped = before - changes.len();
    }
    let clean = scan_changes(scanner, &store, &changes, limits, report);
    phases.mark("read and scan the blobs", report.inputs);
    if let Some(scanned) = scanned {
        // Only a cost if it fails: the next attempt reads these again.
        resumed.remembered = scanned.add_and_save(&clean).unwrap_or(0);
        resumed.kept = scanned.len();
    }
    Ok(PushScan { walked, resumed })
}

/// `KEYGATE_TIMINGS=1`: how long each step of a push took, on standard
/// error (for profiling a server's pushes; nothing else changes).
struct Phases(Option<std::cell::Cell<std::time::Instant>>);

impl Phases {
    fn start() -> Phases {
        Phases(
            std::env::var_os("KEYGATE_TIMINGS")
                .is_some_and(|v| v != "0")
                .then(|| std::cell::Cell::new(std::time::Instant::now())),
        )
    }

    fn mark(&self, what: &str, count: usize) {
        if let Some(last) = &self.0 {
            let now = std::time::Instant::now();
            eprintln!(
                "keygate: timing: {what}: {:.3} s ({count})",
                (now - last.get()).as_secs_f64()
            );
            last.set(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_ids_of_both_lengths_mean_creation_and_deletion() {
        let sha1_zero = "0".repeat(40);
        let sha256_zero = "0".repeat(64);
        let id = "a".repeat(40);
        let input = format!("{sha1_zero} {id} refs/heads/new\n{id} {sha1_zero} refs/heads/gone\n");
        let updates = parse_pre_receive(input.as_bytes()).unwrap();
        assert_eq!(updates[0].old, None);
        assert!(updates[0].new.is_some());
        assert_eq!(updates[1].new, None);
        let input = format!("{sha256_zero} {sha256_zero} refs/heads/x\n");
        assert_eq!(parse_pre_receive(input.as_bytes()).unwrap()[0].new, None);
    }

    #[test]
    fn garbage_is_an_error_naming_the_line() {
        let err = parse_pre_receive(b"\nnot-a-ref-update\n").unwrap_err();
        assert!(
            matches!(err, PushError::InputMalformed { line: 2, .. }),
            "{err}"
        );
        let err = parse_pre_receive(b"xyz abc refs/heads/x\n").unwrap_err();
        assert!(
            matches!(err, PushError::ObjectIdInvalid { line: 1 }),
            "{err}"
        );
        assert!(parse_pre_receive(b"").unwrap().is_empty());
        assert!(parse_pre_receive(&[0xff, 0xfe, b'\n']).is_err());
    }

    #[test]
    fn pre_push_maps_local_to_new_and_remote_to_old() {
        let local = "b".repeat(40);
        let zero = "0".repeat(40);
        let input = format!("refs/heads/main {local} refs/heads/main {zero}\n");
        let updates = parse_pre_push(input.as_bytes()).unwrap();
        assert_eq!(updates[0].old, None);
        assert_eq!(updates[0].new, Oid::from_str(&local).ok());
        assert_eq!(updates[0].refname, "refs/heads/main");
    }
}
