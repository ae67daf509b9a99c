//! What a change brings besides file contents: commit messages, the names
//! of the paths it adds, and the ref names a push creates or updates.
//!
//! People paste `env` output or a failing command into a commit message,
//! and a file, directory or branch can be named by a key ID; all of these
//! land in history as surely as file contents do. They go through the same
//! `Scanner` (detectors, then allowlist) as files, under names of their own
//! that say where the text is and never hold the value in clear (a
//! finding's name is printed, and is part of its fingerprint):
//!
//! - `commit-message`: the message of a commit (the finding carries the
//!   commit id); `commit-header` for the rest of the commit object (author
//!   and committer names, extra headers such as `mergetag`).
//! - `<path> (path)`: a component of a path a change adds, the key in the
//!   name redacted, e.g. `src/AKIA…ZAM2 (path)`.
//! - `<ref> (ref name)`: a ref a push creates or updates, likewise.
//!
//! The config's path globs apply to paths (a file under an allowlisted
//! directory is allowed, whatever its name) but not to messages or ref
//! names: those are allowed by the inline marker on their line, a regex or a
//! fingerprint, like any finding.

use std::collections::HashSet;

use git2::Oid;

use crate::engine::redact::{hide, redact, redacted_name, values_in};
use crate::engine::scanner::{CommitInfo, Origin, ScanReport, Scanner};
use crate::sources::git::blobs::BlobChange;

/// The name under which commit message findings are reported and
/// fingerprinted: the same key in two messages is one fingerprint.
pub const COMMIT_MESSAGE: &str = "commit-message";
/// The name for the header of a commit object (everything but the message).
pub const COMMIT_HEADER: &str = "commit-header";

/// Scans a raw commit object (`git cat-file commit` form): its message as
/// `commit-message`, its header lines (names, extra headers) as
/// `commit-header`; findings carry `commit`. Cheap when there is nothing:
/// the prefilter alone runs over the few hundred bytes of a commit.
pub fn scan_commit_object(scanner: &Scanner, commit: Oid, data: &[u8], report: &mut ScanReport) {
    let (header, message) = match memchr::memmem::find(data, b"\n\n") {
        Some(end) => (&data[..end], &data[end + 2..]),
        None => (data, &[][..]),
    };
    scan_text(
        scanner,
        COMMIT_HEADER,
        header,
        &Origin::CommitHeader(info(commit)),
        report,
    );
    scan_commit_message(scanner, Some(commit), message, report);
}

fn info(commit: Oid) -> CommitInfo {
    CommitInfo::id(commit.to_string())
}

/// Scans one commit message (`None`: a commit not made yet, for the
/// `commit-msg` hook).
pub fn scan_commit_message(
    scanner: &Scanner,
    commit: Option<Oid>,
    message: &[u8],
    report: &mut ScanReport,
) {
    let origin = Origin::CommitMessage(commit.map(info));
    scan_text(scanner, COMMIT_MESSAGE, message, &origin, report);
}

fn scan_text(scanner: &Scanner, name: &str, text: &[u8], origin: &Origin, report: &mut ScanReport) {
    if !scanner.detector.has_candidate(text) {
        return;
    }
    let before = report.mark();
    // `inputs_scanned` counts files: messages and names are not.
    let counts = (report.inputs, report.bytes);
    scanner.scan(name, text, None, report);
    (report.inputs, report.bytes) = counts;
    report.set_origin(before, origin);
}

/// Scans the names of the paths that `changes` add (a change with no old
/// blob: a new path, or content that arrived there by a rename or copy),
/// each component once per commit, so a directory named by a key is one
/// finding however many files it holds. Changes at allowlisted paths are
/// skipped, as their content is.
pub(crate) fn scan_new_paths(scanner: &Scanner, changes: &[BlobChange], report: &mut ScanReport) {
    let mut seen: HashSet<(Option<Oid>, &str)> = HashSet::new();
    for change in changes {
        if change.old.is_some()
            || scanner
                .allowlist
                .allows_path(std::path::Path::new(&change.path))
        {
            continue;
        }
        let mut start = 0;
        for component in change.path.split('/') {
            let end = start + component.len();
            let prefix = &change.path[..end];
            start = end + 1;
            if !seen.insert((change.commit, prefix))
                || !scanner.detector.has_candidate(component.as_bytes())
            {
                continue;
            }
            if scanner.detector.detect(component.as_bytes()).is_empty() {
                continue;
            }
            // What the whole path holds is hidden too: detection there can
            // see a value (a pair's secret) in another component.
            let values = values_in(&scanner.detector, &change.path)
                .zip(values_in(&scanner.detector, prefix));
            let shown = match values {
                Some((mut values, more)) => {
                    values.extend(more);
                    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
                    hide(prefix, &values)
                }
                None => redact(prefix),
            } + " (path)";
            let origin = Origin::PathName(change.commit.map(info));
            scan_text(scanner, &shown, component.as_bytes(), &origin, report);
        }
    }
}

/// Scans a ref name that a push creates or updates (`refs/heads/…`), or
/// that `history` finds.
pub(crate) fn scan_ref_name(scanner: &Scanner, refname: &str, report: &mut ScanReport) {
    if !scanner.detector.has_candidate(refname.as_bytes()) {
        return;
    }
    let shown = format!("{} (ref name)", redacted_name(&scanner.detector, refname));
    scan_text(
        scanner,
        &shown,
        refname.as_bytes(),
        &Origin::RefName,
        report,
    );
}

/// For `history`: the names of the repository's refs, and the messages of
/// the annotated tags they point at (tags of tags included). A ref that
/// cannot be read is a problem (exit 2), not a silent skip.
pub(crate) fn scan_refs(scanner: &Scanner, repo: &git2::Repository, report: &mut ScanReport) {
    // Reftable: libgit2 cannot list the refs; git does.
    match crate::sources::git::refs::named_refs(repo) {
        Ok(None) => {}
        Ok(Some(refs)) => {
            for (refname, mut oid) in refs {
                scan_ref_name(scanner, &refname, report);
                while let Ok(tag) = repo.find_tag(oid) {
                    scan_tag_message(scanner, &refname, &tag, report);
                    oid = tag.target_id();
                }
            }
            return;
        }
        Err(error) => return report.problem("<refs>", error),
    }
    let references = match repo.references_glob("refs/*") {
        Ok(references) => references,
        Err(error) => return report.problem("<refs>", error),
    };
    for reference in references {
        let reference = match reference {
            Ok(reference) => reference,
            Err(error) => {
                report.problem("<refs>", error);
                continue;
            }
        };
        let refname = String::from_utf8_lossy(reference.name_bytes()).into_owned();
        scan_ref_name(scanner, &refname, report);
        let Some(mut oid) = reference.target() else {
            continue; // symbolic: its target is a ref of its own
        };
        // Only tags are read here: the commits are the walk's.
        while let Ok(tag) = repo.find_tag(oid) {
            scan_tag_message(scanner, &refname, &tag, report);
            oid = tag.target_id();
        }
    }
}

/// Scans the message of an annotated tag that `refname` brings, as
/// `<ref> (tag message)`; findings carry the tag's id.
pub(crate) fn scan_tag_message(
    scanner: &Scanner,
    refname: &str,
    tag: &git2::Tag<'_>,
    report: &mut ScanReport,
) {
    let name = format!(
        "{} (tag message)",
        redacted_name(&scanner.detector, refname)
    );
    let message = tag.message_bytes().unwrap_or_default();
    let origin = Origin::TagMessage(info(tag.id()));
    scan_text(scanner, &name, message, &origin, report);
}

/// For the `commit-msg` hook: the message as git will record it, without
/// what `git commit --verbose` appends below its scissors line (the staged
/// diff, which the pre-commit hook checks under each file's own allowlist).
/// Comment lines are kept: with `-m` or `--cleanup=verbatim` git keeps them
/// in the message, and the server scans what was recorded anyway.
pub fn message_for_hook(file: &[u8]) -> &[u8] {
    let mut at = 0;
    for line in file.split_inclusive(|&b| b == b'\n') {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.len() > 1 && text[1..] == *SCISSORS {
            return &file[..at];
        }
        at += line.len();
    }
    file
}

/// git's scissors line, after its comment character.
const SCISSORS: &[u8] = b" ------------------------ >8 ------------------------";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verbose_diff_below_the_scissors_line_is_not_the_message() {
        let file = b"subject\n\nbody\n# ------------------------ >8 ------------------------\n# Do not modify\ndiff --git a/x b/x\n";
        assert_eq!(message_for_hook(file), b"subject\n\nbody\n");
        assert_eq!(message_for_hook(b"only\n"), b"only\n");
        let semicolon = b"s\n; ------------------------ >8 ------------------------\nx";
        assert_eq!(message_for_hook(semicolon), b"s\n");
    }

    /// Random names (multibyte text, separators, several keys, keys in
    /// encoded form) never panic, and what is printed never holds a key.
    #[test]
    fn random_names_with_keys_never_print_them() {
        let id = format!("{}{}", "AKIA", "QYLPMN5HHHFPZAM2");
        let secret = format!("{}{}", "Zr4nK2pQ9sVw7xYb3cDe", "5fGh1jKl6mNo8pQr0sTu");
        let scanner = Scanner::new(
            crate::engine::detect::Detector::builtin(),
            crate::engine::allowlist::Allowlist::default(),
        );
        let pieces = [
            "src",
            "/",
            "-",
            "_",
            ".",
            " ",
            "é",
            "数据",
            "上",
            "=",
            ":",
            "AWS_SECRET_ACCESS_KEY=",
            "QUtJQV",
            "%41KIA",
            "\\u0041",
            "keygate",
        ];
        let mut state: u64 = 0x5EED_4412;
        let mut below = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..2000 {
            let mut name = String::new();
            for _ in 0..below(12) {
                match below(6) {
                    0 => name.push_str(&id),
                    1 => name.push_str(&secret),
                    _ => name.push_str(pieces[below(pieces.len())]),
                }
            }
            let mut report = ScanReport::default();
            let change = BlobChange {
                path: name.clone(),
                old: None,
                new: Oid::ZERO_SHA1,
                commit: None,
            };
            scan_new_paths(&scanner, std::slice::from_ref(&change), &mut report);
            scan_ref_name(&scanner, &name, &mut report);
            // What the detectors call a credential (a key glued to other
            // base32 text is not one) is never printed.
            let shown = redacted_name(&scanner.detector, &name);
            let detected = scanner.detector.detect(name.as_bytes());
            let values: Vec<&String> = detected
                .iter()
                .flat_map(|d| std::iter::once(&d.value).chain(d.secret.as_ref().map(|s| &s.0)))
                .chain(report.findings.iter().flat_map(|f| f.values.iter()))
                .collect();
            for text in std::iter::once(&shown)
                .chain(report.findings.iter().map(|f| &f.path))
                .chain(report.findings.iter().map(|f| &f.fingerprint))
            {
                for value in &values {
                    assert!(!text.contains(value.as_str()), "{name:?} shown as {text:?}");
                }
            }
            if !detected.is_empty() {
                assert!(!report.findings.is_empty(), "{name:?}");
            }
            if name.contains(&format!("/{id}/")) {
                assert!(!report.findings.is_empty(), "{name:?}");
            }
            let _ = message_for_hook(name.as_bytes());
        }
    }

    #[test]
    fn a_redacted_name_keeps_the_rest_and_hides_the_value() {
        let id = format!("{}{}", "AKIA", "QYLPMN5HHHFPZAM2");
        let scanner = Scanner::new(
            crate::engine::detect::Detector::builtin(),
            crate::engine::allowlist::Allowlist::default(),
        );
        let name = format!("feature-{id}.txt");
        let shown = redacted_name(&scanner.detector, &name);
        assert!(!shown.contains(&id), "{shown}");
        assert!(shown.starts_with("feature-AKIA"), "{shown}");
        assert!(shown.ends_with(".txt"), "{shown}");
    }
}
