//! The pre-push hook's record of what it already verified, so that a branch
//! new on the remote is not scanned down to its roots on every push.
//!
//! `push::Known::RemoteTips` trusts only the remote tips git reports for a
//! push, never remote-tracking refs (they can be stale). The price is that a
//! new branch is scanned down to its roots. This record brings the common
//! case back to the new commits only: after a pre-push scan that read
//! everything and found nothing, its commit tips whose *whole* history this
//! machine has now scanned clean (this run, or an earlier run recorded here)
//! are written down; the next pre-push hides them from its walk, as it hides
//! the remote's tips.
//!
//! Why that is safe where a remote-tracking ref is not: a tracking ref says
//! "the remote had this", which can stop being true; a recorded tip says
//! "every commit below this was scanned and nothing was found", which stays
//! true, since commits are immutable, for as long as detection is the same.
//! So the record is keyed by a digest of all that decides detection
//! (computed by the caller: keygate's version, the config, the baseline, the
//! user's own keys, git's grafts); under another digest it is not used. And
//! a tip is recorded only if no commit below it was skipped because a
//! *remote* tip reached it (`fully_verified`): what the remote had is not
//! what this machine scanned.
//!
//! The file, `<git common dir>/keygate/pre-push-verified`, is local only:
//! never fetched, never pushed, never read by `pre-receive`. Its text:
//!
//! ```text
//! keygate pre-push verified 1
//! digest <40 hex digits>
//! <commit id>        (newest first, at most MAX_TIPS)
//! ```
//!
//! Whatever goes wrong with it means scanning more, never less: a missing,
//! unreadable, oversized, malformed or foreign-digest record, or one that is
//! not a regular file, is ignored; ids that are not commits of this
//! repository are skipped. It is written atomically (a temporary file, then
//! a rename) with mode 0600 in a 0700 directory.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use git2::{Oid, Repository, Sort};

/// The first line of the record: its format.
const HEADER: &str = "keygate pre-push verified 1";
/// The most tips kept: the most recently verified.
pub(crate) const MAX_TIPS: usize = 256;
/// A record larger than this is not read (256 ids take some 17 KB).
const MAX_RECORD_BYTES: u64 = 64 << 10;
/// How many commits below the recorded tips `fully_verified` looks through
/// for the commits a remote tip hid, before giving up (not recording).
const COVER_WALK_COMMITS: usize = 100_000;
/// Commit dates can be skewed: how much older than the oldest commit looked
/// for the walk goes before it stops looking.
const COVER_WALK_SLOP_SECONDS: i64 = 7 * 24 * 3600;

/// The directory of the record: keygate's, in the repository's common git
/// directory (shared by its worktrees, like the objects).
fn record_dir(repo: &Repository) -> PathBuf {
    repo.commondir().join("keygate")
}

/// Where the record lives.
pub(crate) fn record_path(repo: &Repository) -> PathBuf {
    record_dir(repo).join("pre-push-verified")
}

/// A record as read: its digest and its tips, newest first.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Record {
    /// The digest the record was written under: of everything that decides detection.
    pub digest: String,
    /// The tips verified clean, newest first.
    pub tips: Vec<Oid>,
}

impl Record {
    /// Parses the record's text; `None` if it is not one, whole.
    pub fn parse(bytes: &[u8]) -> Option<Record> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.lines();
        if lines.next()? != HEADER {
            return None;
        }
        let digest = lines.next()?.strip_prefix("digest ")?;
        if digest.len() != 40
            || !digest
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return None;
        }
        let mut tips = Vec::new();
        for line in lines {
            let hex = line.len() == 40 || line.len() == 64;
            if !hex || !line.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return None;
            }
            // The id it names, whole: never a prefix of a longer one.
            let tip = Oid::from_str(line).ok()?;
            if tip.to_string() != line {
                return None;
            }
            tips.push(tip);
        }
        if tips.len() > MAX_TIPS {
            return None;
        }
        Some(Record {
            digest: digest.to_string(),
            tips,
        })
    }

    /// The record's text.
    pub fn text(&self) -> String {
        let mut text = format!("{HEADER}\ndigest {}\n", self.digest);
        for tip in &self.tips {
            text.push_str(&tip.to_string());
            text.push('\n');
        }
        text
    }

    /// `tips` first (the newest), then the ones recorded before, each once,
    /// at most [`MAX_TIPS`].
    pub(crate) fn with_newest(&self, tips: &[Oid]) -> Record {
        let mut seen = HashSet::new();
        let tips = tips
            .iter()
            .chain(&self.tips)
            .filter(|tip| seen.insert(**tip))
            .take(MAX_TIPS)
            .copied()
            .collect();
        Record {
            digest: self.digest.clone(),
            tips,
        }
    }
}

/// The record, if there is a readable one.
pub fn read(repo: &Repository) -> Option<Record> {
    let dir = record_dir(repo);
    // A directory on the way that is a symlink is not keygate's.
    if !std::fs::symlink_metadata(&dir).ok()?.is_dir() {
        return None;
    }
    Record::parse(&read_regular_file_nofollow(&record_path(repo)).ok()?)
}

/// The recorded tips that are commits here, if the record was made under
/// `digest`; else none. These are what the pre-push walk may hide.
pub(crate) fn usable_tips(repo: &Repository, digest: &str) -> Vec<Oid> {
    match read(repo) {
        Some(record) if record.digest == digest => record
            .tips
            .into_iter()
            .filter(|tip| repo.find_commit(*tip).is_ok())
            .collect(),
        _ => Vec::new(),
    }
}

/// Adds `tips` as the newest verified tips under `digest` (replacing a
/// record made under another digest).
pub fn add(repo: &Repository, digest: &str, tips: &[Oid]) -> std::io::Result<()> {
    if tips.is_empty() {
        return Ok(());
    }
    let old = match read(repo) {
        Some(record) if record.digest == digest => record,
        _ => Record {
            digest: digest.to_string(),
            tips: Vec::new(),
        },
    };
    write(repo, &old.with_newest(tips))
}

/// Writes the record atomically: a new file beside it, then a rename.
fn write(repo: &Repository, record: &Record) -> std::io::Result<()> {
    let dir = record_dir(repo);
    match std::fs::symlink_metadata(&dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{} is not a directory", dir.display()),
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut builder = std::fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(&dir)?;
        }
        Err(e) => return Err(e),
    }
    let path = record_path(repo);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let temp = dir.join(format!(
        "pre-push-verified.{}.{nanos}.tmp",
        std::process::id()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = options.open(&temp).and_then(|mut file| {
        file.write_all(record.text().as_bytes())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, &path)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Reads a regular file, never following a symlink at its last component,
/// never waiting on a FIFO, at most [`MAX_RECORD_BYTES`].
fn read_regular_file_nofollow(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        libc::O_NONBLOCK | libc::O_NOFOLLOW,
    );
    let file = options.open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() || metadata.len() > MAX_RECORD_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file of at most 64 KiB",
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_RECORD_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_RECORD_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "larger than 64 KiB",
        ));
    }
    Ok(bytes)
}

/// What a pre-push walk did, for [`fully_verified`].
#[derive(Debug, Default)]
pub(crate) struct Walked {
    /// The commits the push's refs point at (annotated tags peeled).
    pub tips: Vec<Oid>,
    /// The commits scanned.
    pub commits: Vec<Oid>,
    /// Whether a remote tip was hidden from the walk (beside `hidden`).
    pub remote_hidden: bool,
}

/// The tips of a clean, complete push scan whose whole history is now
/// verified: each commit below them was scanned by this run or is reachable
/// from `hidden`, the recorded tips the walk hid. All of `walked.tips`, or
/// none (when what a remote tip hid cannot be shown to be under `hidden`).
pub(crate) fn fully_verified(repo: &Repository, walked: &Walked, hidden: &[Oid]) -> Vec<Oid> {
    if !walked.remote_hidden {
        // Only recorded tips were hidden: all the rest was scanned.
        return walked.tips.clone();
    }
    if covered(repo, walked, hidden).unwrap_or(false) {
        walked.tips.clone()
    } else {
        Vec::new()
    }
}

/// Whether every commit the walk reached but did not scan is reachable
/// from `hidden`. Those are, at their top, the boundary: tips not scanned
/// and parents of scanned commits not scanned. Each must be found walking
/// down from `hidden`, in date order, within a bound.
fn covered(repo: &Repository, walked: &Walked, hidden: &[Oid]) -> Result<bool, git2::Error> {
    let scanned: HashSet<Oid> = walked.commits.iter().copied().collect();
    let hidden_set: HashSet<Oid> = hidden.iter().copied().collect();
    let mut boundary: HashSet<Oid> = walked
        .tips
        .iter()
        .filter(|tip| !scanned.contains(tip))
        .copied()
        .collect();
    for commit in &walked.commits {
        for parent in repo.find_commit(*commit)?.parent_ids() {
            if !scanned.contains(&parent) {
                boundary.insert(parent);
            }
        }
    }
    boundary.retain(|oid| !hidden_set.contains(oid));
    if boundary.is_empty() {
        return Ok(true);
    }
    if hidden.is_empty() {
        return Ok(false);
    }
    let mut oldest = i64::MAX;
    for oid in &boundary {
        oldest = oldest.min(repo.find_commit(*oid)?.time().seconds());
    }
    let stop_below = oldest.saturating_sub(COVER_WALK_SLOP_SECONDS);
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TIME)?;
    for tip in hidden {
        walk.push(*tip)?;
    }
    for (count, oid) in walk.enumerate() {
        let oid = oid?;
        if boundary.remove(&oid) && boundary.is_empty() {
            return Ok(true);
        }
        if count >= COVER_WALK_COMMITS || repo.find_commit(oid)?.time().seconds() < stop_below {
            break;
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(c: char) -> Oid {
        Oid::from_str(&c.to_string().repeat(40)).unwrap()
    }

    #[test]
    fn text_round_trips_and_newest_come_first_once() {
        let record = Record {
            digest: "d".repeat(40),
            tips: vec![oid('a'), oid('b')],
        };
        let text = record.text();
        assert_eq!(Record::parse(text.as_bytes()), Some(record.clone()));
        let newer = record.with_newest(&[oid('b'), oid('c')]);
        assert_eq!(newer.tips, vec![oid('b'), oid('c'), oid('a')]);
    }

    #[test]
    fn at_most_max_tips_are_kept() {
        let record = Record {
            digest: "0".repeat(40),
            tips: Vec::new(),
        };
        let many: Vec<Oid> = (0..MAX_TIPS + 10)
            .map(|i| Oid::from_str(&format!("{i:040x}")).unwrap())
            .collect();
        let kept = record.with_newest(&many);
        assert_eq!(kept.tips.len(), MAX_TIPS);
        assert_eq!(kept.tips[0], many[0]);
        assert!(Record::parse(kept.text().as_bytes()).is_some());
    }

    #[test]
    fn anything_but_a_whole_record_is_none() {
        let good = format!("{HEADER}\ndigest {}\n{}\n", "a".repeat(40), "b".repeat(40));
        assert!(Record::parse(good.as_bytes()).is_some());
        for bad in [
            String::new(),
            "garbage".to_string(),
            format!("{HEADER}\n"),
            format!("{HEADER}\ndigest short\n"),
            format!("{HEADER}\ndigest {}\nnot-an-id\n", "a".repeat(40)),
            format!("{HEADER}\ndigest {}\n{}\n", "a".repeat(40), "B".repeat(40)),
            format!("keygate pre-push verified 2\ndigest {}\n", "a".repeat(40)),
            format!("{HEADER}\ndigest {}\n{}\n", "a".repeat(40), "c".repeat(64)),
        ] {
            assert_eq!(Record::parse(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(Record::parse(&[0xff, 0xfe]), None);
    }
}
