//! `keygate history`: every AWS credential already in a repository's past.
//!
//! The same engine as the push gate, over a whole history: each commit's
//! changes against its parents (merges: only what differs from every parent),
//! each distinct blob read once on all cores, line diffs only where the
//! prefilter found a candidate. Findings are then told apart by whether the
//! secret is still in the tree at `HEAD`, and the same secret brought by many
//! commits becomes one entry with a count, so one leaked key committed in 300
//! revisions is one thing to fix.

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use git2::{Oid, Repository, Sort};

use crate::sources::git::blobs::{scan_changes, ReadLimits};
use crate::sources::git::tree_diff::{changes_of_commits, CommitsError};

use memchr::memmem;

use crate::engine::scanner::{
    is_credential_file, CommitInfo, Finding, Origin, ScanReport, Scanner, Seen,
};
use crate::sources::git::odb::{ObjectStore, ObjectsError};

/// Why `keygate history` could not walk or read the commits.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// A revision given names nothing in the repository.
    #[error("revision `{revision}`: not found in this repository (give a branch, a tag, a commit id or a range such as main..feature): {source}")]
    RevisionUnknown {
        /// As the user gave it.
        revision: String,
        /// What libgit2 said.
        #[source]
        source: git2::Error,
    },
    /// libgit2 could not walk the commits.
    #[error("cannot walk the history: {0}")]
    WalkFailed(#[source] git2::Error),
    /// The commits' trees could not be compared.
    #[error(transparent)]
    Commits(#[from] CommitsError),
    /// An object could not be read.
    #[error(transparent)]
    Objects(#[from] ObjectsError),
    /// The repository or its refs could not be read.
    #[error(transparent)]
    Git(#[from] crate::sources::git::GitError),
}

/// What the walk covered, for the summary line.
#[derive(Debug, Default)]
pub(crate) struct HistoryStats {
    /// Commits walked.
    pub commits: usize,
    /// Shallow clone: the walked commits at its boundary, scanned as roots
    /// (none: the walk did not reach one, or the clone is whole).
    pub boundary: usize,
    /// The commits walked, when no revision hid any (`^rev`, `a..b`): then
    /// all that each of them reaches was walked too.
    pub whole: Option<Vec<Oid>>,
}

/// Scans the commits of `revisions` (`git log` syntax: `main`, `a..b`,
/// `^old`; none means every ref, like `git log --all`).
pub(crate) fn scan_history(
    scanner: &Scanner,
    repo: &Repository,
    revisions: &[String],
    limits: ReadLimits,
    report: &mut ScanReport,
) -> Result<HistoryStats, HistoryError> {
    let mut walk = repo.revwalk().map_err(HistoryError::WalkFailed)?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)
        .map_err(HistoryError::WalkFailed)?;
    if revisions.is_empty() {
        crate::sources::git::refs::walk_all_refs(repo, &mut walk, false)?;
        // A detached HEAD counts too; an unborn one has nothing.
        if let Ok(Some(head)) = crate::sources::git::refs::head_commit(repo) {
            walk.push(head).map_err(HistoryError::WalkFailed)?;
        }
    }
    for revision in revisions {
        let unknown = |source| HistoryError::RevisionUnknown {
            revision: revision.clone(),
            source,
        };
        // Reftable: git parses the revision, libgit2 walks.
        if let Some(parsed) = crate::sources::git::refs::parse_revision(repo, revision)? {
            for (include, oid) in parsed {
                let commit = repo
                    .find_object(oid, None)
                    .and_then(|o| o.peel_to_commit())
                    .map_err(unknown)?;
                if include {
                    walk.push(commit.id()).map_err(unknown)?;
                } else {
                    walk.hide(commit.id()).map_err(unknown)?;
                }
            }
        } else if revision.contains("..") {
            walk.push_range(revision).map_err(unknown)?;
        } else if let Some(hidden) = revision.strip_prefix('^') {
            let commit = repo
                .revparse_single(hidden)
                .and_then(|o| o.peel_to_commit())
                .map_err(unknown)?;
            walk.hide(commit.id()).map_err(unknown)?;
        } else {
            let commit = repo
                .revparse_single(revision)
                .and_then(|o| o.peel_to_commit())
                .map_err(unknown)?;
            walk.push(commit.id()).map_err(unknown)?;
        }
    }
    let progress = Progress::start(std::io::stderr().is_terminal());
    let mut stats = HistoryStats::default();
    let commits = walk
        .collect::<Result<Vec<Oid>, _>>()
        .map_err(HistoryError::WalkFailed)?;
    stats.commits = commits.len();
    PROGRESS_COMMITS.store(stats.commits as u64, Ordering::Relaxed);
    let store = ObjectStore::open(repo, limits.max_blob_bytes)?;
    let boundary = store.shallow_boundary();
    stats.boundary = commits.iter().filter(|c| boundary.contains(c)).count();
    // In rounds of commits, so memory does not grow with the history: only
    // the ids of blobs in which nothing at all was detected are kept from
    // round to round. A blob with a detection is scanned again where another
    // commit brings it (which is how the same key in many commits is
    // counted), even if its key line was not an added line where it was first
    // seen: at a new path it is. A credentials file is one by its name, so a
    // clean blob arriving at such a path is scanned there too.
    let mut clean: HashSet<Oid> = HashSet::new();
    for round in commits.chunks(COMMITS_PER_ROUND) {
        let mut changes = changes_of_commits(&store, round, limits.deadline, scanner, report)?;
        crate::sources::git::names::scan_new_paths(scanner, &changes, report);
        changes.retain(|change| !clean.contains(&change.new) || is_credential_file(&change.path));
        clean.extend(scan_changes(scanner, &store, &changes, limits, report));
        PROGRESS_DONE.fetch_add(round.len() as u64, Ordering::Relaxed);
    }
    progress.stop();
    let hides = revisions
        .iter()
        .any(|r| r.contains("..") || r.starts_with('^'));
    if !hides {
        stats.whole = Some(commits);
    }
    if revisions.is_empty() {
        crate::sources::git::names::scan_refs(scanner, repo, report);
    }
    describe_findings(scanner, repo, &mut report.findings);
    report.findings = group_by_fingerprint(std::mem::take(&mut report.findings));
    Ok(stats)
}

/// Author, date and "still in the tree" for each finding.
fn describe_findings(scanner: &Scanner, repo: &Repository, findings: &mut [Finding]) {
    let head_tree = super::refs::head_tree(repo).ok().flatten();
    let mut commits: HashMap<String, (String, String)> = HashMap::new();
    // For findings in a path's name: every path at HEAD, listed once if needed.
    let mut head_paths: Option<Vec<String>> = None;
    for finding in findings.iter_mut() {
        let origin = finding.origin.clone();
        if let Some(commit) = origin.commit() {
            let id = &commit.id;
            let (author, date) = commits
                .entry(id.clone())
                .or_insert_with(|| {
                    crate::sources::git::odb::oid_from_hex(id)
                        .and_then(|oid| repo.find_commit(oid).ok())
                        .map(|c| {
                            let author = c.author();
                            let name = format!(
                                "{} <{}>",
                                String::from_utf8_lossy(author.name_bytes()),
                                String::from_utf8_lossy(author.email_bytes())
                            );
                            (
                                // A key in a name is reported, never printed.
                                crate::engine::redact::redacted_name(&scanner.detector, &name),
                                civil_date(author.when().seconds()),
                            )
                        })
                        .unwrap_or_default()
                })
                .clone();
            finding.origin = origin.with_commit(CommitInfo {
                id: id.clone(),
                author: Some(author),
                date: Some(date),
            });
        }
        let values = &finding.values;
        let in_tree_now = if origin.is_a_ref() {
            true // read from the refs as they are now
        } else if matches!(origin, Origin::PathName(_)) {
            let paths = head_paths.get_or_insert_with(|| all_paths(head_tree.as_ref()));
            paths.iter().any(|path| {
                values
                    .iter()
                    .all(|v| memmem::find(path.as_bytes(), v.as_bytes()).is_some())
            })
        } else {
            let head_blob = head_tree.as_ref().and_then(|tree| {
                tree.get_path(std::path::Path::new(&finding.path))
                    .ok()
                    .and_then(|entry| repo.find_blob(entry.id()).ok())
            });
            let in_tree = head_blob.as_ref().is_some_and(|blob| {
                values
                    .iter()
                    .all(|v| memmem::find(blob.content(), v.as_bytes()).is_some())
            });
            // In the tree but allowed there now (a `keygate:allow` marker
            // added since, an allowlist entry): nothing to remove; only the
            // commits before count.
            let allowed_now = in_tree
                && head_blob.as_ref().is_some_and(|blob| {
                    let mut now = ScanReport::default();
                    scanner.scan(&finding.path, blob.content(), None, &mut now);
                    // Not even half of a pair left to report there.
                    !now.findings
                        .iter()
                        .any(|f| f.values.iter().any(|v| values.contains(v)))
                });
            if allowed_now {
                finding.evidence.push_str(
                    "; allowed where it is in the tree now (keygate:allow or the allowlist): \
                     only the commits before that count",
                );
            }
            in_tree && !allowed_now
        };
        finding.seen = Some(Seen {
            occurrences: 1,
            last_commit: None,
            in_tree_now,
        });
    }
}

/// Every path in `tree` (directories included), for findings in names.
fn all_paths(tree: Option<&git2::Tree<'_>>) -> Vec<String> {
    let mut paths = Vec::new();
    if let Some(tree) = tree {
        let _ = tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            paths.push(format!(
                "{dir}{}",
                String::from_utf8_lossy(entry.name_bytes())
            ));
            git2::TreeWalkResult::Ok
        });
    }
    paths
}

/// One entry per fingerprint (rule, path, secret): the first commit that
/// brings it, how many do, and the last.
pub(crate) fn group_by_fingerprint(findings: Vec<Finding>) -> Vec<Finding> {
    let mut grouped: Vec<Finding> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for finding in findings {
        match index.get(&finding.fingerprint) {
            Some(&i) => {
                let first = &mut grouped[i];
                let commit = finding.origin.commit().map(|c| c.id.clone());
                let first_commit = first.origin.commit().map(|c| c.id.clone());
                let seen = first.seen.get_or_insert(Seen {
                    occurrences: 1,
                    last_commit: None,
                    in_tree_now: false,
                });
                seen.occurrences += 1;
                if commit != first_commit {
                    seen.last_commit = commit;
                }
            }
            None => {
                index.insert(finding.fingerprint.clone(), grouped.len());
                grouped.push(finding);
            }
        }
    }
    grouped
}

/// `YYYY-MM-DD` of a Unix time (UTC), without a date crate.
pub(crate) fn civil_date(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Commits to walk, and walked, for the progress line.
static PROGRESS_COMMITS: AtomicU64 = AtomicU64::new(0);
static PROGRESS_DONE: AtomicU64 = AtomicU64::new(0);

/// Commits whose changes are listed and scanned at a time.
const COMMITS_PER_ROUND: usize = 4096;

/// A progress line on standard error while the history is read, when it is
/// a terminal; nothing otherwise.
struct Progress {
    done: std::sync::Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    fn start(enabled: bool) -> Progress {
        let done = std::sync::Arc::new(AtomicBool::new(false));
        let thread = enabled.then(|| {
            let done = done.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                // At least once, however short the run: the line says it started.
                loop {
                    let total = PROGRESS_COMMITS.load(Ordering::Relaxed);
                    let walked = PROGRESS_DONE.load(Ordering::Relaxed);
                    let bytes = crate::sources::git::blobs::PROGRESS_BYTES.load(Ordering::Relaxed);
                    let seconds = started.elapsed().as_secs_f64().max(0.001);
                    let eta = if walked > 0 && walked < total {
                        let left = seconds * (total - walked) as f64 / walked as f64;
                        format!(", about {left:.0} s left")
                    } else {
                        String::new()
                    };
                    eprint!(
                        "\r\x1b[Kkeygate: {walked} of {total} commits, {:.0} MB scanned, {:.0} MB/s{eta}",
                        bytes as f64 / 1e6,
                        bytes as f64 / 1e6 / seconds
                    );
                    if done.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
                eprint!("\r\x1b[K");
            })
        });
        Progress { done, thread }
    }

    fn stop(mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Writes the fingerprints of `findings` as a baseline file's text.
pub(crate) fn baseline_text(findings: &[Finding]) -> String {
    let mut fingerprints: Vec<&str> = findings.iter().map(|f| f.fingerprint.as_str()).collect();
    fingerprints.sort();
    fingerprints.dedup();
    let mut text = crate::engine::allowlist::BASELINE_HEADER.to_string();
    for fingerprint in fingerprints {
        text.push_str(fingerprint);
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(951_782_400), "2000-02-29");
        assert_eq!(civil_date(1_795_564_800), "2026-11-25");
        assert_eq!(civil_date(-86_400), "1969-12-31");
    }
}
