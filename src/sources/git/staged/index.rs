//! The common pre-commit case, fast: files modified in place.
//!
//! libgit2 reads the whole index (checksum, path validation of every entry)
//! and every tree of `HEAD` to diff them, which dominates a small commit in
//! a large repository. Like git itself, this reads the index file directly
//! and uses its cache-tree extension: a directory whose cached tree id
//! equals `HEAD`'s is skipped whole, so a 3-line change reads the index and
//! the handful of trees on the changed file's path.
//!
//! It handles only what it can prove: index versions 2, 3 and 4 (SHA-1 or
//! SHA-256 ids, `index.skipHash`'s zero checksum; untracked-cache, fsmonitor
//! and other optional extensions ignored; sparse checkouts and sparse
//! indexes, whose directory entries are compared with `HEAD`'s trees by id;
//! a split index, merged with its shared index as git does) without
//! conflicts, intent-to-add entries or unknown mandatory extensions, and
//! commits that only modify existing paths. Anything else (a new path, which
//! may be a rename; `GIT_INDEX_FILE`; an unborn `HEAD`) returns `None` and
//! the caller uses libgit2's diff, or `git` itself for what libgit2 cannot
//! read (`diff_cached`).

use std::borrow::Cow;

use git2::{ObjectType, Oid, Repository, Tree};

use crate::sources::git::blobs::BlobChange;

/// One index entry: path, blob id and mode.
struct Entry<'a> {
    path: Cow<'a, [u8]>,
    /// Raw id bytes: an `Oid` is made only for the few entries that changed.
    oid: &'a [u8],
    mode: u32,
}

/// A node of the cache-tree extension: a directory and, when still valid,
/// the id of the tree its entries make.
struct CacheNode<'a> {
    name: &'a [u8],
    oid: Option<Oid>,
    children: Vec<CacheNode<'a>>,
}

const SUBMODULE_MODE: u32 = 0o160000;
/// A sparse index's directory entries (`dir/`, naming a tree).
const TREE_MODE: u32 = 0o040000;
/// The extended flag of entries outside a sparse checkout.
const SKIP_WORKTREE: u16 = 0x4000;

/// Bounds the cache-tree recursion (a corrupt index must not overflow the stack).
const MAX_CACHE_TREE_DEPTH: usize = 256;

/// The staged changes, when the fast path can prove them; `None` to fall
/// back to libgit2.
pub(crate) fn modified_in_place(repo: &Repository) -> Option<Vec<BlobChange>> {
    if std::env::var_os("GIT_INDEX_FILE").is_some() || repo.is_bare() {
        return None;
    }
    let bytes = std::fs::read(repo.path().join("index")).ok()?;
    let hash_len = match repo.object_format() {
        git2::ObjectFormat::Sha256 => 32,
        _ => 20,
    };
    let (mut entries, mut cache, link) = parse(&bytes, hash_len)?;
    // Split index: most entries live in the shared index it names.
    let shared_bytes;
    if let Some(link) = link {
        if link.shared.iter().any(|&b| b != 0) {
            let hex: String = link.shared.iter().map(|b| format!("{b:02x}")).collect();
            shared_bytes = std::fs::read(repo.path().join(format!("sharedindex.{hex}"))).ok()?;
            let (shared, shared_cache, nested) = parse(&shared_bytes, hash_len)?;
            if nested.is_some() {
                return None;
            }
            entries = apply_split(shared, entries, &link)?;
            cache = cache.or(shared_cache);
        }
    }
    let head = crate::sources::git::refs::head_tree(repo).ok()??;
    let mut out = Vec::new();
    compare(repo, &entries, 0, cache.as_ref(), &head, &mut out)?;
    Some(out)
}

/// Compares the entries of one directory (all sharing its prefix, which is
/// `prefix_len` bytes long) with its tree in `HEAD`.
fn compare(
    repo: &Repository,
    entries: &[Entry<'_>],
    prefix_len: usize,
    cache: Option<&CacheNode<'_>>,
    head: &Tree<'_>,
    out: &mut Vec<BlobChange>,
) -> Option<()> {
    if cache.and_then(|c| c.oid) == Some(head.id()) {
        return Some(()); // the whole directory is as in HEAD
    }
    let mut i = 0;
    while i < entries.len() {
        let rest = entries[i].path.get(prefix_len..)?;
        match rest.iter().position(|&b| b == b'/') {
            None => {
                let entry = &entries[i];
                i += 1;
                if entry.mode == SUBMODULE_MODE {
                    continue;
                }
                let before = head.get_name_bytes(rest)?; // a new path: fall back
                if before.kind() != Some(ObjectType::Blob) {
                    return None;
                }
                if before.id().as_bytes() != entry.oid {
                    out.push(BlobChange {
                        path: String::from_utf8_lossy(&entry.path).into_owned(),
                        old: Some(before.id()),
                        new: Oid::from_bytes(entry.oid).ok()?,
                        commit: None,
                    });
                }
            }
            Some(slash) => {
                let name = &rest[..slash];
                let dir_len = prefix_len + slash + 1;
                let dir = &entries[i].path[..dir_len];
                let end = i + entries[i..]
                    .iter()
                    .position(|e| !e.path.starts_with(dir))
                    .unwrap_or(entries.len() - i);
                let subtree = head.get_name_bytes(name)?; // a new directory: fall back
                if subtree.kind() != Some(ObjectType::Tree) {
                    return None;
                }
                // Sparse index: the directory is one entry naming its tree.
                let entry = &entries[i];
                if entry.mode & 0o170000 == TREE_MODE && entry.path.len() == dir_len {
                    if end != i + 1 || entry.oid != subtree.id().as_bytes() {
                        return None; // changed outside the cone: git compares it
                    }
                    i = end;
                    continue;
                }
                let subtree = repo.find_tree(subtree.id()).ok()?;
                let child = cache.and_then(|c| c.children.iter().find(|n| n.name == name));
                compare(repo, &entries[i..end], dir_len, child, &subtree, out)?;
                i = end;
            }
        }
    }
    Some(())
}

/// A split index's `link` extension: the shared index, and which of its
/// entries this file deletes and replaces (entry positions).
struct Link {
    shared: Vec<u8>,
    delete: Vec<usize>,
    replace: Vec<usize>,
}

/// What an index file holds: entries, cache-tree, split-index link.
type Parsed<'a> = (Vec<Entry<'a>>, Option<CacheNode<'a>>, Option<Link>);

/// The entries of a split index: the shared index's, with the replaced ones
/// (the first entries of the split file, in order; an empty path keeps the
/// shared entry's) and deleted ones applied, merged with the rest of the
/// split file's entries (additions), in path order.
fn apply_split<'a>(
    shared: Vec<Entry<'a>>,
    split: Vec<Entry<'a>>,
    link: &Link,
) -> Option<Vec<Entry<'a>>> {
    let mut base: Vec<Option<Entry<'a>>> = shared.into_iter().map(Some).collect();
    let mut split = split.into_iter();
    for &position in &link.replace {
        let slot = base.get_mut(position)?;
        let old = slot.take()?;
        let mut entry = split.next()?;
        if entry.path.is_empty() {
            entry.path = old.path;
        }
        *slot = Some(entry);
    }
    for &position in &link.delete {
        *base.get_mut(position)? = None;
    }
    let mut out = Vec::with_capacity(base.len() + split.len());
    let mut kept = base.into_iter().flatten().peekable();
    let mut added = split.peekable();
    loop {
        let take_kept = match (kept.peek(), added.peek()) {
            (Some(a), Some(b)) => a.path <= b.path,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        out.push(if take_kept {
            kept.next()?
        } else {
            added.next()?
        });
    }
    Some(out)
}

/// The positions of the set bits of an EWAH bitmap (git's `ewah/`), below
/// `limit`; the bytes used. Words are big-endian: a run-length word (bit 0:
/// the running bit, bits 1-32: how many words of it, bits 33-63: how many
/// literal words follow), then its literal words.
fn ewah(data: &[u8], limit: usize) -> Option<(Vec<usize>, usize)> {
    let word_count = be32(data, 4)? as usize;
    let words_end = word_count.checked_mul(8)?.checked_add(8)?;
    let words = data.get(8..words_end)?;
    let used = words_end + 4; // and the position of the last run-length word
    data.get(..used)?;
    let word = |i: usize| -> Option<u64> {
        Some(u64::from_be_bytes(
            words.get(i * 8..i * 8 + 8)?.try_into().ok()?,
        ))
    };
    let mut bits = Vec::new();
    let mut position: usize = 0;
    let mut i = 0;
    while i < word_count && position < limit {
        let marker = word(i)?;
        i += 1;
        let run = usize::try_from((marker >> 1) & 0xffff_ffff).ok()?;
        let literals = usize::try_from(marker >> 33).ok()?;
        let run_bits = run.checked_mul(64)?;
        if marker & 1 == 1 {
            bits.extend(position..position.saturating_add(run_bits).min(limit));
        }
        position = position.saturating_add(run_bits);
        for _ in 0..literals {
            let literal = word(i)?;
            i += 1;
            for bit in 0..64 {
                if literal & (1 << bit) != 0 && position + bit < limit {
                    bits.push(position + bit);
                }
            }
            position = position.saturating_add(64);
        }
    }
    Some((bits, used))
}

/// Parses an index file of version 2, 3 or 4 with `hash_len`-byte object
/// ids: its entries, cache-tree and split-index link.
fn parse(bytes: &[u8], hash_len: usize) -> Option<Parsed<'_>> {
    if bytes.get(..4)? != b"DIRC" {
        return None;
    }
    let version = be32(bytes, 4)?;
    if !(2..=4).contains(&version) {
        return None;
    }
    let count = be32(bytes, 8)? as usize;
    // The trailing checksum (all zeros with index.skipHash: not checked here).
    let end = bytes.len().checked_sub(hash_len)?;
    let mut at = 12;
    // The count comes from the file: never reserve more than it could hold.
    let mut entries: Vec<Entry<'_>> = Vec::with_capacity(count.min(end / 62));
    let flags_at = 40 + hash_len;
    for _ in 0..count {
        let mode = be32(bytes, at + 24)?;
        let oid = bytes.get(at + 40..at + flags_at)?;
        let flags = be16(bytes, at + flags_at)?;
        if flags & 0x3000 != 0 {
            return None; // a merge conflict
        }
        let mut header = flags_at + 2;
        if flags & 0x4000 != 0 {
            // Extended flags: skip-worktree (sparse checkout) is fine, the
            // entry is what will be committed; intent-to-add is not.
            if version < 3 || be16(bytes, at + header)? & !SKIP_WORKTREE != 0 {
                return None;
            }
            header += 2;
        }
        let path_start = at + header;
        if version == 4 {
            // The path is the previous one minus `strip` bytes, then a suffix.
            let (strip, used) = varint(bytes.get(path_start..end)?)?;
            let suffix_start = path_start + used;
            let nul = bytes.get(suffix_start..end)?.iter().position(|&b| b == 0)?;
            let previous: &[u8] = entries.last().map_or(&[], |e| &e.path);
            let keep = previous.len().checked_sub(usize::try_from(strip).ok()?)?;
            let mut path = Vec::with_capacity(keep + nul);
            path.extend_from_slice(&previous[..keep]);
            path.extend_from_slice(&bytes[suffix_start..suffix_start + nul]);
            entries.push(Entry {
                path: Cow::Owned(path),
                oid,
                mode,
            });
            at = suffix_start + nul + 1; // no padding in version 4
            continue;
        }
        let nul = bytes.get(path_start..end)?.iter().position(|&b| b == 0)?;
        let path = &bytes[path_start..path_start + nul];
        entries.push(Entry {
            path: Cow::Borrowed(path),
            oid,
            mode,
        });
        // Entries are padded with 1-8 NULs to a multiple of 8 bytes.
        let length = header + nul;
        at += (length + 8) & !7;
    }
    let mut cache = None;
    let mut link = None;
    while at + 8 <= end {
        let signature = bytes.get(at..at + 4)?;
        let size = be32(bytes, at + 4)? as usize;
        let data = bytes.get(at + 8..(at + 8).checked_add(size)?)?;
        match signature {
            b"TREE" => cache = parse_cache_tree(data, &mut 0, 0, hash_len),
            b"link" => {
                let shared = data.get(..hash_len)?.to_vec();
                let mut delete = Vec::new();
                let mut replace = Vec::new();
                if data.len() > hash_len {
                    // A bound no shared index can exceed: its size in entries.
                    let limit = 1 << 31;
                    let (bits, used) = ewah(&data[hash_len..], limit)?;
                    delete = bits;
                    replace = ewah(data.get(hash_len + used..)?, limit)?.0;
                }
                link = Some(Link {
                    shared,
                    delete,
                    replace,
                });
            }
            // Sparse index: its directory entries are read like the others.
            b"sdir" => {}
            // Another mandatory extension (lower-case signature): unknown here.
            [first, ..] if first.is_ascii_lowercase() => return None,
            _ => {}
        }
        at += 8 + size;
    }
    Some((entries, cache, link))
}

/// One cache-tree node and, recursively, its children:
/// `name NUL entry_count SP subtree_count LF [oid if entry_count >= 0]`.
fn parse_cache_tree<'a>(
    data: &'a [u8],
    at: &mut usize,
    depth: usize,
    hash_len: usize,
) -> Option<CacheNode<'a>> {
    if depth > MAX_CACHE_TREE_DEPTH {
        return None; // deeper than any real tree: fall back to libgit2
    }
    let nul = data.get(*at..)?.iter().position(|&b| b == 0)?;
    let name = &data[*at..*at + nul];
    *at += nul + 1;
    let newline = data.get(*at..)?.iter().position(|&b| b == b'\n')?;
    let header = std::str::from_utf8(&data[*at..*at + newline]).ok()?;
    *at += newline + 1;
    let (entry_count, subtrees) = header.split_once(' ')?;
    let entry_count: i64 = entry_count.parse().ok()?;
    let subtrees: usize = subtrees.parse().ok()?;
    let oid = if entry_count >= 0 {
        let oid = Oid::from_bytes(data.get(*at..*at + hash_len)?).ok()?;
        *at += hash_len;
        Some(oid)
    } else {
        None
    };
    let mut children = Vec::with_capacity(subtrees.min(1024));
    for _ in 0..subtrees {
        children.push(parse_cache_tree(data, at, depth + 1, hash_len)?);
    }
    Some(CacheNode {
        name,
        oid,
        children,
    })
}

/// git's offset varint (index v4 path prefixes): 7 bits a byte, high bit
/// set on all but the last, each continuation adding one. Returns the value
/// and the bytes used.
fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut used = 0;
    let mut byte = *bytes.first()?;
    let mut value = u64::from(byte & 0x7f);
    while byte & 0x80 != 0 {
        used += 1;
        byte = *bytes.get(used)?;
        value = value.checked_add(1)?.checked_mul(128)? | u64::from(byte & 0x7f);
    }
    Some((value, used + 1))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ewah_bytes(words: &[u64]) -> Vec<u8> {
        let mut data = Vec::new();
        data.extend_from_slice(&1000u32.to_be_bytes());
        data.extend_from_slice(&(words.len() as u32).to_be_bytes());
        for word in words {
            data.extend_from_slice(&word.to_be_bytes());
        }
        data.extend_from_slice(&0u32.to_be_bytes());
        data
    }

    #[test]
    fn ewah_literals_and_runs() {
        // Two literal words: bits 0 and 3, then bit 64 + 1.
        let data = ewah_bytes(&[2 << 33, 0b1001, 0b10]);
        assert_eq!(ewah(&data, 1000), Some((vec![0, 3, 65], data.len())));
        // A run of one word of ones, then one literal word with bit 2.
        let data = ewah_bytes(&[(1 << 33) | (1 << 1) | 1, 0b100]);
        let (bits, _) = ewah(&data, 1000).unwrap();
        assert_eq!(bits.len(), 65);
        assert_eq!(bits.last(), Some(&66));
        // Clamped to the limit; truncated input is None, never a panic.
        assert_eq!(ewah(&data, 10).unwrap().0.len(), 10);
        assert!(ewah(&data[..data.len() - 6], 1000).is_none());
        assert!(ewah(&[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff], 1000).is_none());
    }

    #[test]
    fn varint_as_git_writes_it() {
        assert_eq!(varint(&[0x05]), Some((5, 1)));
        assert_eq!(varint(&[0x80, 0x00]), Some((128, 2)));
        assert_eq!(varint(&[0x81, 0x7f]), Some((383, 2)));
        assert_eq!(varint(&[0x80]), None);
    }
}
