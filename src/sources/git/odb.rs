//! Reads git objects: every blob keygate scans, and the trees and commits of
//! a push or a history.
//!
//! libgit2 stays in charge of finding the repository, its refs, the index and
//! the commit walk; but reading tens of thousands of deltified objects is
//! bounded by inflating them, and there gix's object store (zlib-rs, a
//! delta-base cache we can size) is what fits a pre-receive hook into a
//! server's few seconds: the bench push took 37 s through libgit2 and takes
//! under 5 s through it. For the loose objects of the index it is nearly as
//! fast, and it fails cleanly on a truncated loose object, where libgit2 1.9
//! loops forever.
//!
//! git hands a pre-receive hook the pushed objects in a quarantine directory
//! (`GIT_OBJECT_DIRECTORY`) with the repository's own objects as an alternate
//! (`GIT_ALTERNATE_OBJECT_DIRECTORIES`). gix does not read those variables, so
//! this module does: every directory they name is searched in order, each with
//! the alternates its own `info/alternates` lists.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use git2::Oid;
use gix_pack::Find as _;

/// Memory one blob reader may spend on delta bases it has reconstructed:
/// blobs are read in pack order, so a base is usually asked for again soon.
const BLOB_DELTA_BASE_CACHE_BYTES: usize = 8 << 20;
/// A tree walk's readers: trees are small, and a commit's tree is read again
/// as its child's parent tree, so whole trees are worth keeping too.
const TREE_DELTA_BASE_CACHE_BYTES: usize = 8 << 20;
const TREE_OBJECT_CACHE_BYTES: usize = 8 << 20;

/// No tree or commit is refused below this size, whatever --max-file-size
/// says about blobs.
const TREE_BYTES_LIMIT: u64 = 64 << 20;

/// What a reader will be used for, which decides its caches.
#[derive(Clone, Copy, Debug)]
pub enum ReadPattern {
    /// Commits and trees, in history order.
    TreeWalk,
    /// Blobs, in pack order, each once.
    BlobsInPackOrder,
}

/// Why an object could not be read from the object store.
#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    /// An object directory exists but gix cannot open it as a store.
    #[error("cannot open the object database {path}: {source}")]
    StoreUnopenable {
        /// The object directory.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// No object directory has the object.
    #[error("object {oid} is missing from the repository")]
    ObjectMissing {
        /// The object looked for.
        oid: Oid,
    },
    /// No object directory has the object, and the repository is a partial
    /// clone: it was never fetched.
    #[error("object {oid} is not in this partial clone (cloned with --filter, it was never fetched): not scanned; run keygate in a full clone (one made without --filter) to scan everything")]
    ObjectNotFetched {
        /// The object looked for.
        oid: Oid,
    },
    /// The object is of another kind than the one asked for (a blob where a
    /// tree should be, say).
    #[error("object {oid} is a {actual}, expected a {expected}")]
    ObjectKindUnexpected {
        /// The object read.
        oid: Oid,
        /// The kind it is.
        actual: gix_object::Kind,
        /// The kind asked for.
        expected: gix_object::Kind,
    },
    /// The object is there but cannot be read (a damaged pack or loose
    /// object).
    #[error("cannot read object {oid}: {message}")]
    ObjectUnreadable {
        /// The object read.
        oid: Oid,
        /// What gix said.
        message: String,
    },
    /// The object is larger than keygate reads (`--max-file-size`, for
    /// blobs), so it was not inflated.
    #[error("object {oid} is {size} bytes, over the {limit}-byte limit: not scanned (allowlist the path or raise --max-file-size)")]
    ObjectTooLarge {
        /// The object read.
        oid: Oid,
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes it is over.
        limit: u64,
    },
    /// A commit or tree was read but its bytes do not parse as one.
    #[error("object {oid} cannot be parsed: {message}")]
    ObjectMalformed {
        /// The object read.
        oid: Oid,
        /// What gix said.
        message: String,
    },
}

/// The object directories of a repository, opened once and shared by the
/// readers of all threads.
#[derive(Clone)]
pub struct ObjectStore {
    databases: Vec<Arc<gix_odb::Store>>,
    /// SHA-1 or SHA-256, as the repository declares.
    kind: gix_hash::Kind,
    max_object_bytes: u64,
    /// A shallow clone's boundary: commits whose parents it does not have.
    shallow: Arc<HashSet<Oid>>,
    /// A partial clone (`extensions.partialClone`): objects it never
    /// fetched are missing by design, and said so. Found out at the first
    /// missing object (reading the config costs the pre-commit path).
    partial: Arc<Partial>,
}

impl ObjectStore {
    /// The object directories git itself would read for `repo`: the
    /// environment's (a hook's quarantine) first, then the repository's own,
    /// then `GIT_ALTERNATE_OBJECT_DIRECTORIES`. Objects larger than
    /// `max_object_bytes` are never inflated.
    pub fn open(repo: &git2::Repository, max_object_bytes: u64) -> Result<Self, ObjectsError> {
        let mut directories: Vec<PathBuf> = Vec::new();
        if let Some(dir) = std::env::var_os("GIT_OBJECT_DIRECTORY") {
            directories.push(PathBuf::from(dir));
        }
        directories.push(repo.commondir().join("objects"));
        if let Some(list) = std::env::var_os("GIT_ALTERNATE_OBJECT_DIRECTORIES") {
            let list = list.to_string_lossy().into_owned();
            directories.extend(split_alternates(&list).into_iter().map(PathBuf::from));
        }
        let kind = hash_kind(repo);
        let mut seen: Vec<PathBuf> = Vec::new();
        let mut databases = Vec::new();
        for dir in directories {
            let key = dir.canonicalize().unwrap_or_else(|_| dir.clone());
            if seen.contains(&key) || !dir.is_dir() {
                continue;
            }
            seen.push(key);
            databases.push(open_database(&dir, kind, max_object_bytes)?);
        }
        Ok(ObjectStore {
            databases,
            kind,
            max_object_bytes,
            shallow: Arc::new(shallow_boundary(repo)),
            partial: Arc::new(Partial {
                config: repo.commondir().join("config"),
                known: std::sync::OnceLock::new(),
            }),
        })
    }

    /// The commits at a shallow clone's boundary (none in a full one): read
    /// as roots, like git does, their whole tree being what they add.
    pub fn shallow_boundary(&self) -> &HashSet<Oid> {
        &self.shallow
    }

    /// A reader for one thread, with caches of its own.
    pub fn reader(&self, pattern: ReadPattern) -> ObjectReader {
        let (delta_bases, objects) = match pattern {
            ReadPattern::TreeWalk => (TREE_DELTA_BASE_CACHE_BYTES, TREE_OBJECT_CACHE_BYTES),
            ReadPattern::BlobsInPackOrder => (BLOB_DELTA_BASE_CACHE_BYTES, 0),
        };
        let mut databases = Vec::with_capacity(self.databases.len());
        for store in &self.databases {
            let mut db = gix_odb::Cache::from(store.to_handle_arc());
            // Pack locations (for reading in pack order) need packs that stay put.
            db.prevent_pack_unload();
            // An object missing from the packs is looked for among loose
            // objects, not by listing the pack directory again: a hook runs
            // after git wrote the packs, and every staged blob is such a miss.
            db.refresh_never();
            db.set_pack_cache(move || {
                Box::new(gix_pack::cache::lru::MemoryCappedHashmap::new(delta_bases))
            });
            if objects > 0 {
                db.set_object_cache(move || {
                    Box::new(gix_pack::cache::object::MemoryCappedHashmap::new(objects))
                });
            }
            databases.push(db);
        }
        ObjectReader {
            databases,
            kind: self.kind,
            max_object_bytes: self.max_object_bytes,
            shallow: self.shallow.clone(),
            partial: self.partial.clone(),
            buffer: Vec::new(),
            spare: Vec::new(),
        }
    }
}

impl ObjectStore {
    /// The pack indexes of the store's object directories, for finding
    /// where objects sit without reading them (gix's `location_by_oid`
    /// inflates the whole entry to learn its size).
    pub fn pack_indexes(&self) -> PackIndexes {
        let mut indexes = Vec::new();
        for (database, store) in self.databases.iter().enumerate() {
            let Ok(dir) = std::fs::read_dir(store.path().join("pack")) else {
                continue;
            };
            let mut paths: Vec<PathBuf> = dir
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|e| e == "idx"))
                .collect();
            paths.sort();
            for path in paths {
                // One that cannot be opened only leaves its objects unsorted.
                if let Ok(index) = gix_pack::index::File::at(&path, self.kind) {
                    indexes.push((database as u32, index));
                }
            }
        }
        PackIndexes { indexes }
    }
}

/// See [`ObjectStore::pack_indexes`].
pub struct PackIndexes {
    indexes: Vec<(u32, gix_pack::index::File)>,
}

impl PackIndexes {
    /// Where `oid` is stored, for sorting reads into pack order; objects in
    /// no pack (loose, or in an alternate's pack) sort last.
    pub fn position(&self, oid: Oid) -> PackPosition {
        let id = to_gix(oid);
        for (number, (database, index)) in self.indexes.iter().enumerate() {
            if let Some(entry) = index.lookup(id) {
                return (*database, number as u32, index.pack_offset_at_index(entry));
            }
        }
        (u32::MAX, u32::MAX, 0)
    }
}

/// The commits `.git/shallow` lists: the boundary of a shallow clone, whose
/// parents were never fetched. A line that is not an object id is left out,
/// and so is an unreadable file: a parent that is then missing makes the
/// walk fail (exit 2), never pass.
fn shallow_boundary(repo: &git2::Repository) -> HashSet<Oid> {
    let text = std::fs::read(repo.commondir().join("shallow")).unwrap_or_default();
    text.split(|&b| b == b'\n')
        .filter_map(|line| std::str::from_utf8(line).ok())
        .filter_map(|line| oid_from_hex(line.trim()))
        .collect()
}

/// Whether the repository is a partial clone, read once from its config.
pub struct Partial {
    config: PathBuf,
    known: std::sync::OnceLock<bool>,
}

impl Partial {
    /// `extensions.partialClone`, or (git 2.4x) a remote marked `promisor`.
    fn is_partial_clone(&self) -> bool {
        *self.known.get_or_init(|| {
            let Ok(config) = git2::Config::open(&self.config) else {
                return false;
            };
            if config.get_string("extensions.partialclone").is_ok() {
                return true;
            }
            let Ok(entries) = config.entries(Some(r"remote\..*\.promisor")) else {
                return false;
            };
            let mut promisor = false;
            let _ = entries.for_each(|entry| {
                promisor |= entry.value().is_ok_and(|v| {
                    matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1")
                });
            });
            promisor
        })
    }
}

/// The repository's object format.
fn hash_kind(repo: &git2::Repository) -> gix_hash::Kind {
    match repo.object_format() {
        git2::ObjectFormat::Sha256 => gix_hash::Kind::Sha256,
        _ => gix_hash::Kind::Sha1,
    }
}

/// An object id in hex, SHA-1 (40 digits) or SHA-256 (64); `None` for
/// anything else.
pub fn oid_from_hex(text: &str) -> Option<Oid> {
    let format = match text.len() {
        40 => git2::ObjectFormat::Sha1,
        64 => git2::ObjectFormat::Sha256,
        _ => return None,
    };
    if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Oid::from_str_ext(text, format).ok()
}

fn open_database(
    dir: &Path,
    kind: gix_hash::Kind,
    max_object_bytes: u64,
) -> Result<Arc<gix_odb::Store>, ObjectsError> {
    let unopenable = |source| ObjectsError::StoreUnopenable {
        path: dir.to_path_buf(),
        source,
    };
    // The cap is for blobs; trees and commits get at least TREE_BYTES_LIMIT.
    let limit = max_object_bytes.max(TREE_BYTES_LIMIT);
    let options = gix_odb::store::init::Options {
        alloc_limit_bytes: Some(usize::try_from(limit).unwrap_or(usize::MAX)),
        ..Default::default()
    };
    let store = gix_odb::Store::at_opts(dir.to_path_buf(), kind, &mut std::iter::empty(), options)
        .map_err(unopenable)?;
    Ok(Arc::new(store))
}

/// `GIT_ALTERNATE_OBJECT_DIRECTORIES`: paths separated by `:`, each possibly
/// in double quotes with C-style escapes (git quotes paths that contain the
/// separator or a quote).
fn split_alternates(list: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = list;
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut path = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, 'n')) => path.push('\n'),
                        Some((_, 't')) => path.push('\t'),
                        Some((_, other)) => path.push(other),
                        None => {}
                    },
                    c => path.push(c),
                }
            }
            out.push(path);
            rest = quoted[end..].strip_prefix(':').unwrap_or(&quoted[end..]);
        } else {
            let (path, tail) = rest.split_once(':').unwrap_or((rest, ""));
            if !path.is_empty() {
                out.push(path.to_string());
            }
            rest = tail;
        }
    }
    out
}

/// Reads objects for one thread. Not shareable: its caches are its own.
pub struct ObjectReader {
    databases: Vec<gix_odb::HandleArc>,
    kind: gix_hash::Kind,
    max_object_bytes: u64,
    shallow: Arc<HashSet<Oid>>,
    partial: Arc<Partial>,
    buffer: Vec<u8>,
    /// Buffers of trees that were read and given back.
    spare: Vec<Vec<u8>>,
}

/// Where an object sits, for reading objects in the order of their packs
/// (so delta bases are still in the cache when their deltas come): database,
/// pack and offset; loose objects sort last.
pub type PackPosition = (u32, u32, u64);

impl ObjectReader {
    /// The object `oid` and its kind; the bytes live until the next read.
    pub fn read(&mut self, oid: Oid) -> Result<(gix_object::Kind, &[u8]), ObjectsError> {
        let id = to_gix(oid);
        for db in &self.databases {
            match gix_object::Find::try_find(db, &id, &mut self.buffer) {
                Ok(Some(data)) => {
                    let kind = data.kind;
                    pack_pages::count_read(self.buffer.len());
                    return Ok((kind, &self.buffer));
                }
                Ok(None) => {}
                Err(error) => return Err(self.read_error(oid, error)),
            }
        }
        if self.partial.is_partial_clone() {
            return Err(ObjectsError::ObjectNotFetched { oid });
        }
        Err(ObjectsError::ObjectMissing { oid })
    }

    /// Like `read`, but the object must be of kind `expected`.
    pub fn read_kind(
        &mut self,
        oid: Oid,
        expected: gix_object::Kind,
    ) -> Result<&[u8], ObjectsError> {
        let max_object_bytes = self.max_object_bytes;
        let (actual, data) = self.read(oid)?;
        if actual != expected {
            return Err(ObjectsError::ObjectKindUnexpected {
                oid,
                actual,
                expected,
            });
        }
        if actual == gix_object::Kind::Blob && data.len() as u64 > max_object_bytes {
            return Err(ObjectsError::ObjectTooLarge {
                oid,
                size: data.len() as u64,
                limit: max_object_bytes,
            });
        }
        Ok(data)
    }

    /// A failed read is either an object over the size limit (which gix
    /// refuses to inflate) or damage; the header tells which.
    fn read_error(&self, oid: Oid, error: impl std::fmt::Display) -> ObjectsError {
        let id = to_gix(oid);
        let size = self
            .databases
            .iter()
            .find_map(|db| gix_object::FindHeader::try_header(db, &id).ok().flatten())
            .map(|header| header.size);
        match size {
            Some(size) if size > self.max_object_bytes => ObjectsError::ObjectTooLarge {
                oid,
                size,
                limit: self.max_object_bytes,
            },
            _ => ObjectsError::ObjectUnreadable {
                oid,
                message: error.to_string(),
            },
        }
    }

    /// The tree and parents of commit `oid` (none for a commit at a shallow
    /// clone's boundary).
    pub fn commit_tree_and_parents(&mut self, oid: Oid) -> Result<(Oid, Vec<Oid>), ObjectsError> {
        self.commit(oid).map(|(tree, parents, _)| (tree, parents))
    }

    /// Commit `oid`: its tree, its parents and its raw bytes (for its
    /// message, scanned from the same read).
    pub fn commit(&mut self, oid: Oid) -> Result<(Oid, Vec<Oid>, &[u8]), ObjectsError> {
        // Grafted: its parents are not in this clone.
        let grafted = self.shallow.contains(&oid);
        let kind = self.kind;
        let data = self.read_kind(oid, gix_object::Kind::Commit)?;
        let malformed = |e| malformed(oid, e);
        let mut iter = gix_object::CommitRefIter::from_bytes(data, kind);
        let tree = iter.tree_id().map_err(malformed)?;
        if grafted {
            return Ok((to_git2(&tree), Vec::new(), data));
        }
        let parents = iter.parent_ids().map(|id| to_git2(&id)).collect();
        Ok((to_git2(&tree), parents, data))
    }

    /// Tree `oid`, in a buffer of its own (give it back with `recycle`).
    pub fn read_tree(&mut self, oid: Oid) -> Result<Tree, ObjectsError> {
        let mut data = self.spare.pop().unwrap_or_default();
        data.clear();
        data.extend_from_slice(self.read_kind(oid, gix_object::Kind::Tree)?);
        Ok(Tree {
            oid,
            kind: self.kind,
            data,
        })
    }

    /// Keeps a tree's buffer for the next `read_tree`.
    pub fn recycle(&mut self, tree: Tree) {
        self.spare.push(tree.data);
    }

    /// Where `oid` is stored, for sorting reads into pack order.
    pub fn position(&mut self, oid: Oid) -> PackPosition {
        let id = to_gix(oid);
        for (index, db) in self.databases.iter().enumerate() {
            if let Ok(Some(location)) = db.location_by_oid(&id, &mut self.buffer) {
                return (index as u32, location.pack_id, location.pack_offset);
            }
        }
        (u32::MAX, u32::MAX, 0)
    }
}

/// What a tree entry names: blobs include symbolic links (their target is
/// content too); submodules are commits of another repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A file or a symbolic link.
    Blob,
    /// A subdirectory.
    Tree,
    /// A submodule: a commit of another repository, not read.
    Submodule,
}

/// The raw bytes of a tree object.
pub struct Tree {
    oid: Oid,
    kind: gix_hash::Kind,
    data: Vec<u8>,
}

impl Tree {
    /// The entries, in the tree's order, parsed as they are visited.
    pub fn entries(&self) -> impl Iterator<Item = Result<TreeEntry<'_>, ObjectsError>> {
        let oid = self.oid;
        gix_object::TreeRefIter::from_bytes(&self.data, self.kind).map(move |entry| {
            let entry = entry.map_err(|e| malformed(oid, e))?;
            let kind = if entry.mode.is_tree() {
                EntryKind::Tree
            } else if entry.mode.is_commit() {
                EntryKind::Submodule
            } else {
                EntryKind::Blob
            };
            Ok(TreeEntry {
                name: entry.filename,
                kind,
                oid: to_git2(entry.oid),
            })
        })
    }
}

/// One entry of a tree, borrowed from the tree's bytes.
#[derive(Clone, Copy, Debug)]
pub struct TreeEntry<'a> {
    pub(crate) name: &'a [u8],
    pub(crate) kind: EntryKind,
    pub(crate) oid: Oid,
}

impl TreeEntry<'_> {
    /// git's order of tree entries: names compared as bytes, a tree's name
    /// as if it ended in `/`.
    pub fn git_order(&self, other: &TreeEntry<'_>) -> std::cmp::Ordering {
        let common = self.name.len().min(other.name.len());
        self.name[..common]
            .cmp(&other.name[..common])
            .then_with(|| self.byte_after(common).cmp(&other.byte_after(common)))
    }

    fn byte_after(&self, index: usize) -> Option<u8> {
        self.name
            .get(index)
            .copied()
            .or((self.kind == EntryKind::Tree && index == self.name.len()).then_some(b'/'))
    }
}

fn malformed(oid: Oid, error: impl std::fmt::Display) -> ObjectsError {
    ObjectsError::ObjectMalformed {
        oid,
        message: error.to_string(),
    }
}

fn to_gix(oid: Oid) -> gix_hash::ObjectId {
    gix_hash::ObjectId::from_bytes_or_panic(oid.as_bytes())
}

fn to_git2(id: &gix_hash::oid) -> Oid {
    // gix ids are 20 or 32 bytes, both of which git2 (with SHA-256) takes.
    Oid::from_bytes(id.as_bytes()).unwrap_or(Oid::ZERO_SHA1)
}

/// Memory that mapped pack files hold. gix maps each pack whole, and every
/// page a read touches stays resident: a history of a few hundred megabytes
/// of packs would keep all of them, though reads in pack order never come
/// back to most. So, every so often, the pages of the mapped packs are given
/// back to the kernel (which keeps them in its page cache: a page needed
/// again, say a delta base, costs a minor fault). Memory then stays bounded
/// by the caches, not by the size of the repository.
pub mod pack_pages {
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Object bytes produced between two releases.
    const BYTES_BETWEEN_RELEASES: usize = 32 << 20;

    static SINCE_RELEASE: AtomicUsize = AtomicUsize::new(0);

    /// Gives back the pages of mapped packs now (after a pass that touched
    /// many, like finding where every object is).
    pub fn release_now() {
        release();
        SINCE_RELEASE.store(0, Ordering::Relaxed);
    }

    pub(super) fn count_read(bytes: usize) {
        let before = SINCE_RELEASE.fetch_add(bytes, Ordering::Relaxed);
        if before < BYTES_BETWEEN_RELEASES && before + bytes >= BYTES_BETWEEN_RELEASES {
            release();
            SINCE_RELEASE.store(0, Ordering::Relaxed);
        }
    }

    /// Drops the resident pages of every read-only mapping of a `.pack` file.
    #[cfg(target_os = "linux")]
    pub(super) fn release() {
        let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
            return;
        };
        for line in maps.lines().filter(|l| l.ends_with(".pack")) {
            // "start-end perms offset dev inode path"
            let mut fields = line.split_whitespace();
            let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
                continue;
            };
            if perms.as_bytes().get(1) != Some(&b'-') {
                continue; // writable: not a pack being read
            }
            let Some((start, end)) = range.split_once('-') else {
                continue;
            };
            let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            ) else {
                continue;
            };
            // SAFETY: the range is a read-only file mapping of a pack, which
            // git never changes in place. MADV_DONTNEED only unmaps its pages;
            // the next access reads the same bytes again from the file (or
            // the page cache). No Rust reference sees different data.
            unsafe {
                libc::madvise(
                    start as *mut libc::c_void,
                    end.saturating_sub(start),
                    libc::MADV_DONTNEED,
                );
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn release() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternates_split_on_colons_and_honour_quotes() {
        assert_eq!(split_alternates("/a:/b"), ["/a", "/b"]);
        assert_eq!(split_alternates("/a::/b:"), ["/a", "/b"]);
        assert_eq!(
            split_alternates("\"/with:colon\":/plain"),
            ["/with:colon", "/plain"]
        );
        assert_eq!(split_alternates("\"/q\\\"uote\""), ["/q\"uote"]);
        assert!(split_alternates("").is_empty());
    }
}
