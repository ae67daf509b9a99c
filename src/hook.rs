//! The git hook modes: the same engine as the commands, with the inputs a
//! hook gets from git and the wording it needs.
//!
//! `pre-commit` scans the index; `pre-receive` and `pre-push` scan the
//! commits a push brings (`push`). The server takes its config only from the
//! server (`--config`, or `keygate.config` in the repository's git config),
//! never from the pushed content: a `.keygate.toml` inside a push must not
//! loosen the gate.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use git2::Oid;

use crate::blobs::{BlobsError, ReadLimits};
use crate::cli::{Args, HookName};
use crate::commits::CommitsError;
use crate::config::{Config, OnTimeout};
use crate::error::Error;
use crate::git::{self, GitError};
use crate::push::{self, Known, PushError};
use crate::report::Audience;
use crate::scan::{ScanReport, Scanner};
use crate::{finish, run_staged, Outcome};

/// Runs the named hook.
pub fn run_hook(
    name: HookName,
    args: &Args,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome, Error> {
    match name {
        HookName::PreCommit => run_staged(args, Audience::PreCommit, out, err),
        HookName::PreReceive => run_push_hook(args, Side::Server, out, err),
        HookName::PrePush => run_push_hook(args, Side::Client, out, err),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Server,
    Client,
}

fn run_push_hook(
    args: &Args,
    side: Side,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome, Error> {
    let started = Instant::now();
    let mut input = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut input)
        .map_err(PushError::InputUnreadable)?;
    let repo = git::open_repository()?;
    let (config, updates, known, own_keys) = match side {
        Side::Server => {
            let config = match server_config_path(args, &repo)? {
                Some(path) => Config::load(&path)?,
                None => Config::default(),
            };
            // A server has no "own" keys: the pusher's are not on it.
            let updates = push::parse_pre_receive(&input)?;
            (config, updates, Known::AllRefs, Vec::new())
        }
        Side::Client => {
            let root = repo.workdir().unwrap_or_else(|| repo.path()).to_path_buf();
            let config = Config::discover(args.config.as_deref(), &root)?;
            let own_keys = crate::local_keys::for_config(&config);
            let updates = push::parse_pre_push(&input)?;
            (config, updates, Known::RemoteTips, own_keys)
        }
    };
    let scanner = Scanner::from_config(&config, &own_keys)?;
    let deadline = (side == Side::Server)
        .then(|| started + Duration::from_secs_f64(config.server.time_budget_seconds.max(0.0)));
    let limits = ReadLimits {
        max_blob_bytes: args.max_file_size,
        deadline,
    };
    let mut report = ScanReport::default();
    match push::scan_push(&scanner, &repo, &updates, &known, limits, &mut report) {
        Ok(()) => {}
        Err(PushError::Commits(CommitsError::TimeBudgetExceeded)) => {
            report.problem("<time budget>", CommitsError::TimeBudgetExceeded)
        }
        Err(e) => return Err(e.into()),
    }
    let timed_out = !report.problems.is_empty()
        && report.problems.iter().all(|p| {
            matches!(
                p.error.downcast_ref::<CommitsError>(),
                Some(CommitsError::TimeBudgetExceeded)
            ) || matches!(
                p.error.downcast_ref::<BlobsError>(),
                Some(BlobsError::TimeBudgetExceeded { .. })
            )
        });
    if timed_out && config.server.on_timeout == OnTimeout::Accept && report.findings.is_empty() {
        writeln!(
            err,
            "keygate: WARNING: the {:.1} s time budget ran out before every pushed commit was \
             scanned; accepting anyway because the server is configured with \
             on_timeout = \"accept\". This push was NOT fully checked.",
            config.server.time_budget_seconds
        )?;
        return Ok(Outcome::Clean);
    }
    if timed_out {
        writeln!(
            err,
            "keygate: the {:.1} s time budget ran out before every pushed commit was scanned; \
             rejecting (fail closed). Push fewer commits at a time, or ask the server admin \
             to raise [server] time_budget_seconds.",
            config.server.time_budget_seconds
        )?;
    }
    let audience = match side {
        Side::Server => Audience::Push,
        Side::Client => Audience::PrePush,
    };
    let outcome = finish(args, audience, &report, out, err)?;
    if side == Side::Client {
        let remote = args.hook_args.first().map_or("origin", String::as_str);
        note_commits_seen_on_the_remote(&repo, remote, &report, err)?;
    }
    Ok(outcome)
}

/// Commits of the remote-tracking refs looked through for the note below.
const NOTE_WALK_COMMITS: usize = 200_000;

/// pre-push: findings in commits that the remote's tracking refs reach. They
/// are scanned because those refs can be stale (`push::Known::RemoteTips`);
/// if the remote does still have them, the key is already there, and the
/// way forward is rotating it and a baseline, not rewriting the push.
fn note_commits_seen_on_the_remote(
    repo: &git2::Repository,
    remote: &str,
    report: &ScanReport,
    err: &mut dyn Write,
) -> std::io::Result<()> {
    let mut wanted: HashSet<Oid> = report
        .findings
        .iter()
        .filter_map(|f| crate::objects::oid_from_hex(f.commit.as_deref()?))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let Ok(mut walk) = repo.revwalk() else {
        return Ok(());
    };
    let Ok(tips) = crate::refs::tips(repo, &format!("refs/remotes/{remote}/")) else {
        return Ok(());
    };
    for tip in tips {
        if let Ok(commit) = repo.find_object(tip, None).and_then(|o| o.peel_to_commit()) {
            let _ = walk.push(commit.id());
        }
    }
    let mut seen = Vec::new();
    // Advice only, on a push already stopped: bounded, not exhaustive.
    for oid in walk.flatten().take(NOTE_WALK_COMMITS) {
        if wanted.remove(&oid) {
            seen.push(oid);
            if wanted.is_empty() {
                break;
            }
        }
    }
    if seen.is_empty() {
        return Ok(());
    }
    const LISTED: usize = 3;
    let mut commits: Vec<String> = seen.iter().take(LISTED).map(Oid::to_string).collect();
    if seen.len() > LISTED {
        commits.push(format!("and {} more", seen.len() - LISTED));
    }
    writeln!(
        err,
        "keygate: commit(s) {} are in {remote}'s remote-tracking refs as of the last fetch, but \
         no remote tip git reported for this push reaches them: those refs can be stale (a \
         branch deleted or rewritten on the server), so they were scanned as new. If {remote} \
         does still have them, the key is already there: rotate it; `keygate history \
         --write-baseline FILE` and `baseline = \"FILE\"` under [allowlist] let the gate pass \
         keys already in history.",
        commits.join(", ")
    )
}

/// `--config`, else the `keygate.config` path in the repository's git config.
fn server_config_path(args: &Args, repo: &git2::Repository) -> Result<Option<PathBuf>, Error> {
    if let Some(path) = &args.config {
        return Ok(Some(path.clone()));
    }
    let config = repo.config().map_err(GitError::ConfigUnreadable)?;
    match config.get_path("keygate.config") {
        Ok(path) => Ok(Some(path)),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(GitError::ConfigUnreadable(e).into()),
    }
}
