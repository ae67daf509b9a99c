//! The staged changes as `git` itself computes them, for the indexes libgit2
//! cannot read: a split index (`link` extension, `core.splitIndex`) and a
//! sparse index (`sdir` extension, `index.sparse`). `index` takes the
//! common case of those repositories (files modified in place); this is the
//! rest (new paths, renames, a sparse directory changed outside the cone):
//! one `git diff --cached --raw` (a few ms), with renames paired like
//! libgit2's diff does elsewhere.

use git2::Repository;

use crate::sources::git::blobs::BlobChange;
use crate::sources::git::refs::RefsError;
use crate::sources::git::GitError;

const SUBMODULE_MODE: &str = "160000";

/// Whether libgit2's refusal to read the index means "ask git".
pub(crate) fn needs_git(error: &git2::Error) -> bool {
    error.message().contains("unsupported mandatory extension")
}

/// `git diff --cached` of the repository, as blob changes.
pub(crate) fn staged_changes(repo: &Repository) -> Result<Vec<BlobChange>, GitError> {
    let args = [
        "diff",
        "--cached",
        "--raw",
        "-z",
        "-M",
        "--no-abbrev",
        "--no-ext-diff",
        "--no-textconv",
        "--ignore-submodules=all",
    ];
    let mut command = crate::sources::git::refs::git_command(repo.path());
    if let Some(workdir) = repo.workdir() {
        command.arg("--work-tree").arg(workdir);
    }
    let output = command
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| RefsError::GitFailed {
            args: args.join(" "),
            message: format!("cannot run git: {e}"),
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(RefsError::GitFailed {
            args: args.join(" "),
            message: crate::engine::redact::scrub(stderr.lines().next().unwrap_or("").trim()),
        }
        .into());
    }
    parse_raw(&output.stdout).ok_or_else(|| {
        RefsError::GitOutputUnexpected {
            args: args.join(" "),
            line: String::from_utf8_lossy(&output.stdout[..output.stdout.len().min(120)])
                .into_owned(),
        }
        .into()
    })
}

/// Parses `--raw -z` output: `:old_mode new_mode old new STATUS NUL path NUL`
/// (two paths for renames and copies).
fn parse_raw(bytes: &[u8]) -> Option<Vec<BlobChange>> {
    let mut fields = bytes.split(|&b| b == 0);
    let mut changes = Vec::new();
    while let Some(header) = fields.next() {
        if header.is_empty() {
            continue; // the final NUL
        }
        let header = std::str::from_utf8(header.strip_prefix(b":")?).ok()?;
        let parts: Vec<&str> = header.split(' ').collect();
        let [old_mode, new_mode, old, new, status] = parts[..] else {
            return None;
        };
        let kind = status.chars().next()?;
        let mut path = fields.next()?;
        if matches!(kind, 'R' | 'C') {
            path = fields.next()?; // the destination
        }
        if !matches!(kind, 'A' | 'M' | 'R' | 'C' | 'T') || new_mode == SUBMODULE_MODE {
            continue;
        }
        let new = crate::sources::git::odb::oid_from_hex(new)?;
        let old = crate::sources::git::odb::oid_from_hex(old)
            .filter(|o| !o.is_zero() && old_mode != SUBMODULE_MODE && kind != 'A');
        if new.is_zero() || old == Some(new) {
            continue;
        }
        changes.push(BlobChange {
            path: String::from_utf8_lossy(path).into_owned(),
            old,
            new,
            commit: None,
        });
    }
    Some(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_output_with_renames() {
        let a = "a".repeat(40);
        let b = "b".repeat(64);
        let z = "0".repeat(40);
        let text = format!(
            ":100644 100644 {a} {a} R100\0old\0new\0:000000 100644 {z} {a} A\0added\0\
             :100644 100644 {a} {b} M\0mod\0:160000 160000 {a} {a} M\0sub\0:100644 000000 {a} {z} D\0gone\0"
        );
        let changes = parse_raw(text.as_bytes()).unwrap();
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["added", "mod"]);
        assert_eq!(changes[0].old, None);
        assert_eq!(changes[1].new.to_string(), b);
        assert!(parse_raw(b":garbage\0x\0").is_none());
    }
}
