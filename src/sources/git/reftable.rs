//! A small reader of git's reftable format, for the one ref the pre-commit
//! path needs: `HEAD` (in a linked worktree, its own), followed through
//! symbolic refs. It reads the ref blocks of each table of the stack
//! (`reftable/tables.list`, newest last) in order, as the format allows
//! (`Documentation/technical/reftable.txt`): no index, obj or log blocks.
//!
//! It saves the pre-commit hook of a reftable repository a `git rev-parse`
//! process (about 2 ms). Anything it does not understand (a newer format
//! version, a damaged or vanishing table) returns `None`, and `refs` asks
//! `git` instead: never a wrong answer, at worst a slower one.

use std::path::Path;

use git2::Oid;

/// What a ref holds.
#[derive(Debug, PartialEq, Eq)]
enum Value {
    Object(Vec<u8>),
    Symbolic(Vec<u8>),
}

/// Follows `HEAD` of the repository (`git_dir`, its `common_dir`) to an
/// object id: `Some(None)` when it names a branch not yet born, `None`
/// when the tables cannot be read here (ask git).
pub fn head(git_dir: &Path, common_dir: &Path, hash_len: usize) -> Option<Option<Oid>> {
    let own = (!same_dir(git_dir, common_dir)).then_some(git_dir);
    let mut name: Vec<u8> = b"HEAD".to_vec();
    for _ in 0..5 {
        // Per-worktree refs (HEAD, refs/worktree/, refs/bisect/...) live in
        // the worktree's own stack; everything else is shared.
        let per_worktree = !name.starts_with(b"refs/")
            || name.starts_with(b"refs/worktree/")
            || name.starts_with(b"refs/bisect/")
            || name.starts_with(b"refs/rewritten/");
        let dir = match own {
            Some(own) if per_worktree => own.join("reftable"),
            _ => common_dir.join("reftable"),
        };
        match lookup(&dir, &name, hash_len)? {
            None => return Some(None),
            Some(Value::Object(id)) => return Some(Oid::from_bytes(&id).ok()),
            Some(Value::Symbolic(target)) => name = target,
        }
    }
    None // a loop of symbolic refs: let git say what it is
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b
        || a.canonicalize()
            .ok()
            .zip(b.canonicalize().ok())
            .is_some_and(|(a, b)| a == b)
}

/// The value of ref `name` in the stack at `dir`, newest table first.
fn lookup(dir: &Path, name: &[u8], hash_len: usize) -> Option<Option<Value>> {
    let list = std::fs::read_to_string(dir.join("tables.list")).ok()?;
    for table in list.lines().rev().filter(|l| !l.is_empty()) {
        if table.contains('/') || table.starts_with('.') {
            return None;
        }
        let bytes = std::fs::read(dir.join(table)).ok()?;
        match find_in_table(&bytes, name, hash_len)? {
            Found::Value(value) => return Some(Some(value)),
            Found::Deleted => return Some(None),
            Found::Absent => {}
        }
    }
    Some(None)
}

enum Found {
    Value(Value),
    Deleted,
    Absent,
}

/// Scans the ref blocks of one table for `name`.
fn find_in_table(bytes: &[u8], name: &[u8], hash_len: usize) -> Option<Found> {
    if bytes.get(..4)? != b"REFT" {
        return None;
    }
    let version = *bytes.get(4)?;
    let (header_len, footer_len) = match version {
        1 => (24, 68),
        2 => (28, 72),
        _ => return None,
    };
    if version == 2 {
        let expected: &[u8] = if hash_len == 32 { b"s256" } else { b"sha1" };
        if bytes.get(24..28)? != expected {
            return None;
        }
    } else if hash_len != 20 {
        return None;
    }
    let block_size = be24(bytes, 5)?;
    let end_of_blocks = bytes.len().checked_sub(footer_len)?;
    let mut block_start = 0;
    let mut type_at = header_len;
    while type_at < end_of_blocks && bytes[type_at] == b'r' {
        let block_len = be24(bytes, type_at + 1)?;
        let block_end = block_start + block_len;
        if block_end > end_of_blocks || block_end < type_at + 4 + 2 {
            return None;
        }
        let restarts = usize::from(u16::from_be_bytes(
            bytes.get(block_end - 2..block_end)?.try_into().ok()?,
        ));
        let records_end = block_end.checked_sub(2 + 3 * restarts)?;
        if records_end < type_at + 4 {
            return None;
        }
        let mut at = type_at + 4;
        let mut key: Vec<u8> = Vec::new();
        while at < records_end {
            let (prefix, used) = varint(&bytes[at..records_end])?;
            at += used;
            let (suffix_and_type, used) = varint(&bytes[at..records_end])?;
            at += used;
            let prefix = usize::try_from(prefix).ok()?;
            let suffix_len = usize::try_from(suffix_and_type >> 3).ok()?;
            let value_type = suffix_and_type & 7;
            if prefix > key.len() {
                return None;
            }
            key.truncate(prefix);
            key.extend_from_slice(bytes.get(at..at.checked_add(suffix_len)?)?);
            at += suffix_len;
            let (_update_index_delta, used) = varint(bytes.get(at..records_end)?)?;
            at += used;
            let value = match value_type {
                0 => None,
                1 | 2 => {
                    let id = bytes.get(at..at + hash_len)?.to_vec();
                    at += hash_len * value_type as usize;
                    Some(Value::Object(id))
                }
                3 => {
                    let (len, used) = varint(bytes.get(at..records_end)?)?;
                    at += used;
                    let len = usize::try_from(len).ok()?;
                    let target = bytes.get(at..at.checked_add(len)?)?.to_vec();
                    at += len;
                    Some(Value::Symbolic(target))
                }
                _ => return None,
            };
            match key.as_slice().cmp(name) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => {
                    return Some(value.map_or(Found::Deleted, Found::Value));
                }
                // Names are sorted: it is not in this table.
                std::cmp::Ordering::Greater => return Some(Found::Absent),
            }
        }
        if at != records_end {
            return None;
        }
        // The next block: right after this one, or (aligned files) at the
        // next multiple of the block size, after the padding.
        let mut next = block_end;
        if bytes.get(next) != Some(&b'r') && block_size > 0 {
            next = block_end.div_ceil(block_size) * block_size;
        }
        block_start = next;
        type_at = next;
    }
    Some(Found::Absent)
}

fn be24(bytes: &[u8], at: usize) -> Option<usize> {
    let b = bytes.get(at..at + 3)?;
    Some((usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
}

/// git's varint (as in ofs-delta): 7 bits a byte, high bit set on all but
/// the last, each continuation adding one.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_none_never_a_panic() {
        for bytes in [
            &b""[..],
            b"REFT",
            b"REFT\x01\x00\x10\x00",
            &[
                b'R', b'E', b'F', b'T', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                b'r', 0xff, 0xff, 0xff,
            ],
        ] {
            let _ = find_in_table(bytes, b"HEAD", 20);
        }
        assert!(find_in_table(b"XXXX", b"HEAD", 20).is_none());
    }
}
