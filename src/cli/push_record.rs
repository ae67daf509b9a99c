//! The pre-push record of verified tips (`sources::git::verified`), from the
//! side that knows what decides detection: the digest the record is keyed
//! by, and when a run may use or add to it.
//!
//! The digest covers everything that changes what a scan finds on this
//! machine: keygate's version; the config file's bytes, or that there is
//! none; the baseline file it names; the user's own key values (hashed into
//! the digest, never stored); and git's grafts file, which changes the
//! parents a walk sees. Disabled and custom rules are in the config's bytes.
//! Other settings only make a scan read less and say so (`--max-file-size`
//! leaves a problem, exit 2), and a run that says so records nothing.
//!
//! Each input is read once before the config is loaded and the scanner
//! built, and again after the scan: a record is written only if both give
//! the same digest, so an edit made while a scan ran cannot lend its digest
//! to what an older config found.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository};

use crate::engine::config::{
    read_regular_file, Config, CONFIG_FILE_NAME, MAX_BASELINE_BYTES, MAX_CONFIG_BYTES,
};
use crate::engine::scanner::ScanReport;
use crate::sources::git::push::Known;
use crate::sources::git::verified;

/// The config file as read before `Config::discover`: where, and its bytes
/// (`None`: there is none).
pub struct ConfigBytes {
    path: PathBuf,
    bytes: Option<Vec<u8>>,
    /// It could not be read: no digest.
    unreadable: bool,
}

impl ConfigBytes {
    /// Reads the file `Config::discover(explicit, dir)` is about to read.
    pub fn read(explicit: Option<&Path>, dir: &Path) -> ConfigBytes {
        let path = explicit.map_or_else(|| dir.join(CONFIG_FILE_NAME), Path::to_path_buf);
        match read_regular_file(&path, MAX_CONFIG_BYTES) {
            Ok(bytes) => ConfigBytes {
                path,
                bytes: Some(bytes),
                unreadable: false,
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
                ConfigBytes {
                    path,
                    bytes: None,
                    unreadable: false,
                }
            }
            Err(_) => ConfigBytes {
                path,
                bytes: None,
                unreadable: true,
            },
        }
    }
}

/// The digest of what decides detection, as a record key; `None` when an
/// input cannot be read, or the config loaded is not the file read.
pub fn digest(
    before: &ConfigBytes,
    config: &Config,
    own_keys: &[String],
    repo: &Repository,
) -> Option<String> {
    if before.unreadable
        || config.source.as_deref() != before.bytes.as_ref().map(|_| before.path.as_path())
    {
        return None;
    }
    let mut material = Vec::new();
    let mut part = |name: &str, bytes: Option<&[u8]>| {
        material.extend_from_slice(name.as_bytes());
        match bytes {
            Some(bytes) => {
                material.extend_from_slice(format!(" {}\n", bytes.len()).as_bytes());
                material.extend_from_slice(bytes);
            }
            None => material.extend_from_slice(b" none\n"),
        }
    };
    part("keygate", Some(env!("CARGO_PKG_VERSION").as_bytes()));
    part("config", before.bytes.as_deref());
    let baseline = match config.baseline_path() {
        Some(path) => Some(read_regular_file(&path, MAX_BASELINE_BYTES).ok()?),
        None => None,
    };
    part("baseline", baseline.as_deref());
    part("own-keys", Some(own_keys.len().to_string().as_bytes()));
    for key in own_keys {
        part("own-key", Some(key.as_bytes()));
    }
    let grafts = repo.commondir().join("info").join("grafts");
    let grafts = match read_regular_file(&grafts, MAX_CONFIG_BYTES) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(_) => return None,
    };
    part("grafts", grafts.as_deref());
    let mut hasher = sha1dc::Hasher::default();
    hasher.update(&material);
    hasher.finalize().ok().map(|d| format!("{d:x}"))
}

/// The same digest again, from inputs read now: `Some` only if it is still
/// `digest`, so the record may be written under it.
pub(crate) fn digest_unchanged(
    digest_before: Option<&str>,
    explicit: Option<&Path>,
    dir: &Path,
    config: &Config,
    own_keys: &[String],
    repo: &Repository,
) -> Option<String> {
    let before = digest_before?;
    let now = digest(&ConfigBytes::read(explicit, dir), config, own_keys, repo)?;
    (now == before).then_some(now)
}

/// After a clean, complete scan: adds `tips` to the record, unless the
/// repository is shallow (what was scanned stops at its boundary, and
/// deepening it later brings older commits under the same tips). A record
/// that cannot be written is said, not fatal: the push was checked.
pub fn add(
    repo: &Repository,
    digest: &str,
    tips: &[Oid],
    err: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    if tips.is_empty() || repo.is_shallow() {
        return Ok(());
    }
    if let Err(e) = verified::add(repo, digest, tips) {
        writeln!(
            err,
            "keygate: note: cannot record the verified commits in {} ({e}): the next push of a \
             new branch scans its whole history again",
            verified::record_path(repo).display()
        )?;
    }
    Ok(())
}

/// What the pre-push walk may take as known: the remote's tips, and the
/// recorded tips that are commits here if the record is `digest`'s.
pub fn known(repo: &Repository, digest: Option<&str>) -> Known {
    let tips = digest.map_or_else(Vec::new, |digest| verified::usable_tips(repo, digest));
    if tips.is_empty() {
        Known::RemoteTips
    } else {
        Known::RemoteTipsAndVerified(tips)
    }
}

/// After a pre-push scan: records its tips whose whole history is now
/// verified, if the scan read everything and found nothing and `digest`
/// (read again after it) is the one it ran under.
pub(crate) fn after_clean_push(
    repo: &Repository,
    digest: Option<&str>,
    report: &ScanReport,
    walked: &verified::Walked,
    known: &Known,
    err: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let Some(digest) = digest else {
        return Ok(());
    };
    if !report.complete() || !report.findings.is_empty() {
        return Ok(());
    }
    let hidden = match known {
        Known::RemoteTipsAndVerified(tips) => tips.as_slice(),
        _ => &[],
    };
    add(
        repo,
        digest,
        &verified::fully_verified(repo, walked, hidden),
        err,
    )
}

/// After a clean `keygate history`: the commits to record, of those it
/// walked (`walked`: all that each reaches was walked): the revisions named,
/// else HEAD and the refs (branches first, then remote-tracking refs, then
/// the rest), at most `verified::MAX_TIPS`. Each is resolved again now and
/// kept only if the walk had it: a ref that moved meanwhile is left out.
pub(crate) fn history_tips(repo: &Repository, revisions: &[String], walked: &[Oid]) -> Vec<Oid> {
    let walked: std::collections::HashSet<Oid> = walked.iter().copied().collect();
    let mut candidates: Vec<Oid> = Vec::new();
    let commit_of = |object: git2::Object<'_>| object.peel_to_commit().ok().map(|c| c.id());
    if revisions.is_empty() {
        if let Some(head) = repo.head().ok().and_then(|h| h.peel_to_commit().ok()) {
            candidates.push(head.id());
        }
        let mut refs: Vec<(u8, Oid)> = Vec::new();
        if let Ok(references) = repo.references() {
            for reference in references.flatten() {
                let rank = match reference.name_bytes() {
                    name if name.starts_with(b"refs/heads/") => 0,
                    name if name.starts_with(b"refs/remotes/") => 1,
                    name if name.starts_with(b"refs/tags/") => 2,
                    _ => 3,
                };
                if let Some(id) = reference
                    .peel(git2::ObjectType::Any)
                    .ok()
                    .and_then(commit_of)
                {
                    refs.push((rank, id));
                }
            }
        }
        refs.sort_by_key(|(rank, _)| *rank);
        candidates.extend(refs.into_iter().map(|(_, id)| id));
    } else {
        for revision in revisions {
            if let Some(id) = repo.revparse_single(revision).ok().and_then(commit_of) {
                candidates.push(id);
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    candidates
        .into_iter()
        .filter(|id| walked.contains(id) && seen.insert(*id))
        .take(verified::MAX_TIPS)
        .collect()
}
