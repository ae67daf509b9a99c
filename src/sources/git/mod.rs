//! git as a source: opening the repository (discovery, hook environment,
//! the formats it may be in), then each input git has: what is staged
//! ([`staged`]), what a push brings ([`push`], [`names`] for messages and
//! names), a whole history ([`history`]). They all end in one blob engine
//! ([`blobs`]) over gix's object store ([`odb`]), with commits compared
//! with their parents by [`tree_diff`] and refs read by [`refs`].
//!
//! In-process, no `git` subprocess on the pre-commit path; quarantine and
//! alternates are honoured as git sets them for hooks.

pub mod blobs;
pub mod history;
pub mod names;
pub mod odb;
pub mod push;
pub mod refs;
pub mod reftable;
pub mod scanned;
pub mod staged;
pub mod tree_diff;
pub mod verified;

use std::path::{Path, PathBuf};

use git2::Repository;

use crate::sources::git::odb::ObjectsError;

/// Blobs larger than this are not read into memory; the scan reports them as
/// not scanned (exit 2) unless their path is allowlisted.
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 512 * 1024 * 1024;

/// Why a git input could not be read: the repository, its index, HEAD,
/// config, objects or refs.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// No repository was found from the current directory (or `GIT_DIR`).
    #[error("{path} is not in a git repository: run this inside one (`keygate scan PATH` reads files anywhere)")]
    NotARepository {
        /// The directory searched from.
        path: PathBuf,
        /// What libgit2 said.
        #[source]
        source: git2::Error,
    },
    /// The repository's object format is neither SHA-1 nor SHA-256.
    #[error("{path}: the repository uses an object format (extensions.objectFormat) that keygate cannot read (it reads SHA-1 and SHA-256); nothing was scanned")]
    ObjectFormatUnsupported {
        /// The directory searched from.
        path: PathBuf,
    },
    /// The repository's config declares an extension keygate does not know.
    #[error("{path}: the repository's config declares `extensions.{name}`, a repository format this version of keygate does not know how to read; nothing was scanned (update keygate)")]
    ExtensionUnsupported {
        /// The directory searched from.
        path: PathBuf,
        /// The extension, after `extensions.` (redacted).
        name: String,
    },
    /// A work tree was needed (for `--staged`) but the repository is bare.
    #[error("{path} is a bare repository: --staged needs a work tree and an index")]
    BareRepository {
        /// The bare repository's git directory.
        path: PathBuf,
    },
    /// libgit2 could not read the index.
    #[error("cannot read the index: {0}")]
    IndexUnreadable(#[source] git2::Error),
    /// libgit2 could not read HEAD.
    #[error("cannot read HEAD: {0}")]
    HeadUnreadable(#[source] git2::Error),
    /// libgit2 could not diff the index against HEAD.
    #[error("cannot compare the index with HEAD: {0}")]
    DiffFailed(#[source] git2::Error),
    /// libgit2 could not read the git config.
    #[error("cannot read git config: {0}")]
    ConfigUnreadable(#[source] git2::Error),
    /// An object could not be read.
    #[error(transparent)]
    Objects(#[from] ObjectsError),
    /// The refs could not be read.
    #[error(transparent)]
    Refs(#[from] crate::sources::git::refs::RefsError),
}

/// Opens the repository the way git's own commands find it: `GIT_DIR` and
/// friends first, else by searching up from the current directory.
pub fn open_repository() -> Result<Repository, GitError> {
    configure_libgit2();
    let path = std::env::current_dir().unwrap_or_default();
    Repository::open_from_env().map_err(|source| {
        if let Some(name) = source
            .message()
            .strip_prefix("unsupported extension name extensions.")
        {
            GitError::ExtensionUnsupported {
                path,
                name: crate::engine::redact::scrub(name.trim()),
            }
        } else if source.message().contains("object format") {
            GitError::ObjectFormatUnsupported { path }
        } else {
            GitError::NotARepository { path, source }
        }
    })
}

/// Process-wide libgit2 settings, applied once, before any repository is
/// opened (the first `open_repository` runs before any worker thread).
fn configure_libgit2() {
    static CONFIGURED: std::sync::Once = std::sync::Once::new();
    CONFIGURED.call_once(|| {
        // Re-hashing each object libgit2 reads (the commits of a walk, the
        // trees of an index diff) costs time and protects against nothing a
        // local attacker could not do anyway.
        git2::opts::strict_hash_verification(false);
        // Repository formats git 2.45+ writes that keygate reads, beyond
        // libgit2's own (objectformat, worktreeconfig, preciousobjects):
        // reftable refs are read by `refs`, never by libgit2; a partial
        // clone's missing objects are errors where they are needed (exit
        // 2); relative worktree paths and a compatibility object format
        // change nothing for reading. Any other extension is refused
        // (`GitError::ExtensionUnsupported`).
        // SAFETY: called once, before any repository is opened.
        unsafe {
            let _ = git2::opts::set_extensions(&[
                "refstorage",
                "partialclone",
                "relativeworktrees",
                "compatobjectformat",
            ]);
        }
        // Memory must not grow with the size of a history: cap the pack
        // windows libgit2 maps for the commit walk, and its object cache.
        // SAFETY: called once, before any other libgit2 use in this process.
        unsafe {
            let _ = git2::opts::set_mwindow_mapped_limit(96 << 20);
            let _ = git2::opts::set_cache_max_size(32 << 20);
        }
    });
}

/// Where the repository's config (`.keygate.toml`) is looked for: its work
/// tree, or the git directory of a bare repository.
pub fn config_dir(repo: &Repository) -> &Path {
    repo.workdir().unwrap_or_else(|| repo.path())
}

/// The work tree root, where `.keygate.toml` lives; an error for a bare
/// repository, which has none.
pub(crate) fn work_tree(repo: &Repository) -> Result<&Path, GitError> {
    repo.workdir().ok_or_else(|| GitError::BareRepository {
        path: repo.path().to_path_buf(),
    })
}
