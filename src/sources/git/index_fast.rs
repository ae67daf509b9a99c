//! The common pre-commit case, fast: files modified in place.
//!
//! libgit2 reads the whole index (checksum, path validation of every entry)
//! and every tree of `HEAD` to diff them, which dominates a small commit in
//! a large repository. Like git itself, this reads the index file directly
//! and uses its cache-tree extension: a directory whose cached tree id
//! equals `HEAD`'s is skipped whole, so a 3-line change reads the index and
//! the handful of trees on the changed file's path.
//!
//! It handles only what it can prove: index versions 2 and 3 without split
//! index, conflicts, skip-worktree or intent-to-add entries, and commits
//! that only modify existing paths. Anything else (a new path, which may be
//! a rename; `GIT_INDEX_FILE`; an unborn `HEAD`) returns `None` and the
//! caller uses libgit2's diff, which handles everything.

use git2::{ObjectType, Oid, Repository, Tree};

use crate::sources::git::blobs::BlobChange;

/// One index entry: path, blob id and mode.
struct Entry<'a> {
    path: &'a [u8],
    oid: Oid,
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

/// Bounds the cache-tree recursion (a corrupt index must not overflow the stack).
const MAX_CACHE_TREE_DEPTH: usize = 256;

/// The staged changes, when the fast path can prove them; `None` to fall
/// back to libgit2.
pub fn modified_in_place(repo: &Repository) -> Option<Vec<BlobChange>> {
    if std::env::var_os("GIT_INDEX_FILE").is_some() || repo.is_bare() {
        return None;
    }
    let bytes = std::fs::read(repo.path().join("index")).ok()?;
    let (entries, cache) = parse(&bytes)?;
    let head = repo.head().ok()?.peel_to_tree().ok()?;
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
                if before.id() != entry.oid {
                    out.push(BlobChange {
                        path: String::from_utf8_lossy(entry.path).into_owned(),
                        old: Some(before.id()),
                        new: entry.oid,
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
                let subtree = repo.find_tree(subtree.id()).ok()?;
                let child = cache.and_then(|c| c.children.iter().find(|n| n.name == name));
                compare(repo, &entries[i..end], dir_len, child, &subtree, out)?;
                i = end;
            }
        }
    }
    Some(())
}

/// Parses an index file of version 2 or 3: its entries and cache-tree.
fn parse(bytes: &[u8]) -> Option<(Vec<Entry<'_>>, Option<CacheNode<'_>>)> {
    if bytes.get(..4)? != b"DIRC" {
        return None;
    }
    let version = be32(bytes, 4)?;
    if version != 2 && version != 3 {
        return None;
    }
    let count = be32(bytes, 8)? as usize;
    let end = bytes.len().checked_sub(20)?; // trailing checksum
    let mut at = 12;
    // The count comes from the file: never reserve more than it could hold.
    let mut entries = Vec::with_capacity(count.min(end / 62));
    for _ in 0..count {
        let mode = be32(bytes, at + 24)?;
        let oid = Oid::from_bytes(bytes.get(at + 40..at + 60)?).ok()?;
        let flags = be16(bytes, at + 60)?;
        if flags & 0x3000 != 0 {
            return None; // a merge conflict
        }
        let mut header = 62;
        if flags & 0x4000 != 0 {
            if version < 3 || be16(bytes, at + 62)? != 0 {
                return None; // skip-worktree or intent-to-add
            }
            header = 64;
        }
        let path_start = at + header;
        let nul = bytes.get(path_start..end)?.iter().position(|&b| b == 0)?;
        let path = &bytes[path_start..path_start + nul];
        entries.push(Entry { path, oid, mode });
        // Entries are padded with 1-8 NULs to a multiple of 8 bytes.
        let length = header + nul;
        at += (length + 8) & !7;
    }
    let mut cache = None;
    while at + 8 <= end {
        let signature = bytes.get(at..at + 4)?;
        let size = be32(bytes, at + 4)? as usize;
        let data = bytes.get(at + 8..at + 8 + size)?;
        match signature {
            b"TREE" => cache = parse_cache_tree(data, &mut 0, 0),
            b"link" => return None, // split index: entries live elsewhere
            _ => {}
        }
        at += 8 + size;
    }
    Some((entries, cache))
}

/// One cache-tree node and, recursively, its children:
/// `name NUL entry_count SP subtree_count LF [oid if entry_count >= 0]`.
fn parse_cache_tree<'a>(data: &'a [u8], at: &mut usize, depth: usize) -> Option<CacheNode<'a>> {
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
        let oid = Oid::from_bytes(data.get(*at..*at + 20)?).ok()?;
        *at += 20;
        Some(oid)
    } else {
        None
    };
    let mut children = Vec::with_capacity(subtrees.min(1024));
    for _ in 0..subtrees {
        children.push(parse_cache_tree(data, at, depth + 1)?);
    }
    Some(CacheNode {
        name,
        oid,
        children,
    })
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}
