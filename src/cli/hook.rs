//! The git hook modes: the same engine as the commands, with the inputs a
//! hook gets from git and the wording it needs.
//!
//! `pre-commit` scans the index; `commit-msg` the message of the commit
//! being made (the file git passes it); `pre-receive` and `pre-push` scan
//! the commits a push brings (`push`), their messages included. The server takes its config only from the
//! server (`--config`, or `keygate.config` in the repository's git config),
//! never from the pushed content: a `.keygate.toml` inside a push must not
//! loosen the gate.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use git2::Oid;

use crate::cli::args::{Args, HookName};
use crate::cli::error::Error;
use crate::cli::push_record;
use crate::cli::{finish, run_staged, Outcome};
use crate::engine::config::Config;
use crate::engine::scanner::{ScanReport, Scanner};
use crate::report::Audience;
use crate::sources::git::blobs::ReadLimits;
use crate::sources::git::push::{self, Known, PushError};
use crate::sources::git::scanned::ScannedClean;
use crate::sources::git::{self, GitError};

/// Runs the named hook.
pub(crate) fn run_hook(
    name: HookName,
    args: &Args,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome, Error> {
    match name {
        HookName::PreCommit => run_staged(args, Audience::PreCommit, out, err),
        HookName::CommitMsg => run_commit_msg(args, out, err),
        HookName::PreReceive => run_push_hook(args, Side::Server, out, err),
        HookName::PrePush => run_push_hook(args, Side::Client, out, err),
        HookName::PreCommitFramework => crate::cli::framework::run(args, out, err),
    }
}

/// `commit-msg FILE`: the message git is about to record, with the
/// repository's config (allowlist, own keys) like the pre-commit hook.
fn run_commit_msg(args: &Args, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome, Error> {
    let repo = git::open_repository()?;
    let root = git::config_dir(&repo).to_path_buf();
    let scanner = crate::cli::build_scanner(args, &root, err)?;
    let mut report = ScanReport::default();
    // The CLI refuses commit-msg without its FILE argument.
    let file = PathBuf::from(args.hook_args.first().cloned().unwrap_or_default());
    match std::fs::read(&file) {
        Ok(bytes) => crate::sources::git::names::scan_commit_message(
            &scanner,
            None,
            crate::sources::git::names::message_for_hook(&bytes),
            &mut report,
        ),
        Err(error) => report.problem(file.display().to_string(), error),
    }
    finish(args, Audience::CommitMsg, &report, out, err)
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
    if side == Side::Server {
        crate::cli::policy::skip_unreadable_global_config(err)?;
    }
    let repo = git::open_repository()?;
    let root = git::config_dir(&repo).to_path_buf();
    // pre-push: the record of what this machine already verified, under the
    // digest of what decides detection (`push_record`).
    let mut digest = None;
    let (config, updates, mut known, own_keys) = match side {
        Side::Server => {
            let config = match server_config_path(args, &repo)? {
                Some(path) => Config::load(&path)?,
                None => Config::default(),
            };
            // A server has no "own" keys: the pusher's are not on it.
            let updates = push::parse_pre_receive(&input)?;
            (config, updates, Known::AllRefs, Default::default())
        }
        Side::Client => {
            let config_bytes = push_record::ConfigBytes::read(args.config.as_deref(), &root);
            let config = Config::discover(args.config.as_deref(), &root)?;
            let own_keys = crate::cli::local_keys::for_config(&config);
            let updates = push::parse_pre_push(&input)?;
            digest = push_record::digest(&config_bytes, &config, &own_keys.values, &repo);
            let known = push_record::known(&repo, digest.as_deref());
            (config, updates, known, own_keys)
        }
    };
    let own_keys: crate::cli::local_keys::OwnKeys = own_keys;
    let mut scanner =
        Scanner::from_config(&config, &own_keys.values)?.with_warnings(own_keys.warnings);
    scanner.write_warnings(err)?;
    if side == Side::Server
        && config.server.inline_allow == crate::engine::config::InlineAllow::Ignore
    {
        scanner.allowlist.ignore_inline_markers();
    }
    let deadline = (side == Side::Server)
        .then(|| started + Duration::from_secs_f64(config.server.time_budget_seconds.max(0.0)));
    let limits = ReadLimits {
        max_blob_bytes: args.max_file_size,
        deadline,
    };
    let mut report = ScanReport::default();
    // The server remembers blobs scanned clean, so a push that runs out of
    // time continues where it stopped when pushed again.
    let mut scanned = (side == Side::Server).then(|| {
        ScannedClean::load(
            ScannedClean::path_in(repo.commondir()),
            scan_digest(&config, args.max_file_size),
        )
    });
    let scan = match push::scan_push(
        &scanner,
        &repo,
        &updates,
        &known,
        limits,
        scanned.as_mut(),
        &mut report,
    ) {
        // A recorded commit the walk cannot go below (its history no longer
        // whole here): the record is ignored, as any it cannot use.
        Err(PushError::WalkFailed(_)) if matches!(known, Known::RemoteTipsAndVerified(_)) => {
            known = Known::RemoteTips;
            report = ScanReport::default();
            push::scan_push(&scanner, &repo, &updates, &known, limits, None, &mut report)?
        }
        scan => scan?,
    };
    let timed_out = report.only_out_of_time();
    if side == Side::Server {
        let push = crate::cli::policy::ServerPush {
            config: &config,
            repo: &repo,
            updates: &updates,
            timed_out,
            resumed: scan.resumed,
        };
        return crate::cli::policy::finish_server(args, &push, &report, &scanner, out, err);
    }
    let outcome = finish(args, Audience::PrePush, &report, out, err)?;
    if outcome == Outcome::Clean {
        let digest = push_record::digest_unchanged(
            digest.as_deref(),
            args.config.as_deref(),
            &root,
            &config,
            &own_keys.values,
            &repo,
        );
        push_record::after_clean_push(
            &repo,
            digest.as_deref(),
            &report,
            &scan.walked,
            &known,
            err,
        )?;
    }
    let remote = args.hook_args.first().map_or("origin", String::as_str);
    note_commits_seen_on_the_remote(&repo, remote, &report, err)?;
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
        .filter_map(|f| crate::sources::git::odb::oid_from_hex(&f.origin.commit()?.id))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let Ok(mut walk) = repo.revwalk() else {
        return Ok(());
    };
    let Ok(tips) = crate::sources::git::refs::tips(repo, &format!("refs/remotes/{remote}/")) else {
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

/// What "scanned clean" depends on: the rules (built in: this binary;
/// custom, disabled, decoding: the config), the allowlist and the largest
/// blob read. The time budget and the rest of the server policy are not in
/// it: raising the budget keeps what was scanned.
fn scan_digest(config: &Config, max_file_size: u64) -> crate::sources::git::scanned::Digest {
    let binary = std::env::current_exe()
        .and_then(std::fs::metadata)
        .map(|m| {
            let modified = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{} {modified}", m.len())
        })
        .unwrap_or_default();
    crate::sources::git::scanned::digest(&[
        env!("CARGO_PKG_VERSION").as_bytes(),
        binary.as_bytes(),
        format!("{:?}", config.detect).as_bytes(),
        format!("{:?}", config.rules).as_bytes(),
        format!("{:?}", config.allowlist).as_bytes(),
        &max_file_size.to_le_bytes(),
    ])
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
