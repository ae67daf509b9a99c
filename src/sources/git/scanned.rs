//! The server's memory of blobs already scanned clean, so that a push which
//! ran out of time continues where it stopped when it is pushed again (and
//! the unchanged blobs of a force-pushed rebase are not read twice).
//!
//! Kept on the server only, in the repository's own git directory
//! (`keygate/clean-blobs`), never in anything a push brings: the pushed
//! objects sit in git's quarantine, and this file is only written by the
//! hook. A blob id names its content (git checked every pushed object's id
//! when it received it), so "blob X was scanned clean" holds for as long as
//! the rules and the config that scanned it do: the file is keyed by a
//! digest of both (and of the keygate binary), and another digest empties
//! it. Clean means nothing at all was detected in the whole blob, before
//! any allowlist; what a blob is by its path alone (a credentials file) is
//! checked wherever it arrives.
//!
//! Bounded: at most [`MAX_IDS`] ids (20 bytes each), the oldest dropped
//! first. Written to a temporary file and renamed, so a reader never sees
//! half a file; two pushes that finish together may lose one's additions,
//! which only costs a read next time.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use git2::Oid;

/// The most blob ids kept (20 MiB on disk, about twice that in memory).
pub const MAX_IDS: usize = 1 << 20;

const MAGIC: &[u8] = b"keygate clean blobs 1\n";
const ID_LEN: usize = 20;
const DIGEST_LEN: usize = 20;

/// What the ids were scanned under: rules, config, binary.
pub type Digest = [u8; DIGEST_LEN];

/// A digest of `parts` (each length-prefixed, so no two lists collide).
pub fn digest(parts: &[&[u8]]) -> Digest {
    let mut hasher = sha1dc::Hasher::default();
    for part in parts {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    // A collision refused (only crafted input does that): an all-zero key,
    // which a file of real ids is never written under.
    hasher
        .finalize()
        .map_or([0u8; DIGEST_LEN], <[u8; DIGEST_LEN]>::from)
}

/// The clean blob ids of one repository, under one digest.
pub struct ScannedClean {
    path: PathBuf,
    digest: Digest,
    /// In the order they were added (the oldest first).
    ids: Vec<[u8; ID_LEN]>,
    lookup: HashSet<[u8; ID_LEN]>,
}

impl ScannedClean {
    /// Where a repository keeps them.
    pub fn path_in(git_dir: &Path) -> PathBuf {
        git_dir.join("keygate").join("clean-blobs")
    }

    /// The ids kept at `path` under `digest`; none when the file is
    /// missing, unreadable, damaged or of another digest.
    pub fn load(path: PathBuf, digest: Digest) -> ScannedClean {
        let mut ids = Vec::new();
        if let Ok(bytes) = std::fs::read(&path) {
            if let Some(rest) = bytes.strip_prefix(MAGIC) {
                if rest.len() >= DIGEST_LEN
                    && rest[..DIGEST_LEN] == digest
                    && (rest.len() - DIGEST_LEN).is_multiple_of(ID_LEN)
                {
                    ids = rest[DIGEST_LEN..]
                        .chunks_exact(ID_LEN)
                        .map(|c| <[u8; ID_LEN]>::try_from(c).unwrap_or_default())
                        .collect();
                }
            }
        }
        let lookup = ids.iter().copied().collect();
        ScannedClean {
            path,
            digest,
            ids,
            lookup,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Was `oid` scanned clean under this digest?
    pub fn contains(&self, oid: Oid) -> bool {
        <[u8; ID_LEN]>::try_from(oid.as_bytes()).is_ok_and(|id| self.lookup.contains(&id))
    }

    /// Adds `clean` and writes the file (the oldest ids dropped past
    /// [`MAX_IDS`]). Returns how many ids were new.
    pub fn add_and_save(&mut self, clean: &[Oid]) -> std::io::Result<usize> {
        let before = self.ids.len();
        for oid in clean {
            if let Ok(id) = <[u8; ID_LEN]>::try_from(oid.as_bytes()) {
                if self.lookup.insert(id) {
                    self.ids.push(id);
                }
            }
        }
        let added = self.ids.len() - before;
        if added == 0 {
            return Ok(0);
        }
        if self.ids.len() > MAX_IDS {
            let drop = self.ids.len() - MAX_IDS;
            for id in self.ids.drain(..drop) {
                self.lookup.remove(&id);
            }
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let temp = dir.join(format!(".clean-blobs.{}.tmp", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut file = std::io::BufWriter::new(std::fs::File::create(&temp)?);
            file.write_all(MAGIC)?;
            file.write_all(&self.digest)?;
            for id in &self.ids {
                file.write_all(id)?;
            }
            file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&temp, &self.path)
        };
        write().inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })?;
        Ok(added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(n: u32) -> Oid {
        let mut bytes = [0u8; 20];
        bytes[..4].copy_from_slice(&n.to_be_bytes());
        bytes[19] = 1;
        Oid::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn kept_under_its_digest_only_and_damage_is_forgotten() {
        let dir = std::env::temp_dir().join(format!("keygate-scanned-{}", std::process::id()));
        let path = ScannedClean::path_in(&dir);
        let key = digest(&[b"rules", b"config"]);
        let mut clean = ScannedClean::load(path.clone(), key);
        assert!(clean.is_empty());
        assert_eq!(clean.add_and_save(&[oid(1), oid(2), oid(1)]).unwrap(), 2);
        let again = ScannedClean::load(path.clone(), key);
        assert!(again.contains(oid(1)) && again.contains(oid(2)) && !again.contains(oid(3)));
        // Other rules or config: nothing is trusted.
        let other = ScannedClean::load(path.clone(), digest(&[b"rules", b"config2"]));
        assert!(other.is_empty());
        assert_ne!(digest(&[b"ab", b"c"]), digest(&[b"a", b"bc"]));
        // A truncated file is no file.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(ScannedClean::load(path.clone(), key).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
