//! Push protection on a server: what the pre-receive gate decides once the
//! push is scanned, under the policy in the server's `[server]` config.
//!
//! - `inline_allow`: whether `keygate:allow` markers in pushed content count
//!   (`record`, the default: they do, the pusher is told, the audit log gets
//!   a line) or not (`ignore`).
//! - `bypass`: `git push -o keygate.bypass="<reason>"` lets a push with
//!   findings in (`reason`, the default) or not (`off`); `bypass_users`
//!   limits it to named pushers.
//! - `audit_log`: every rejection, bypass, inline allow and time-out, one JSON
//!   line each (`audit`).
//!
//! Only the server's config sets the policy; what the pusher controls is the
//! pushed content (markers, honoured only under `record`) and the push
//! options (the bypass reason, always logged). Who pushed comes from the
//! hosting software's environment, never from the commits.
//!
//! Failing closed: whatever lets in a push the gate would otherwise stop (a
//! bypass, an inline allow, a time-out accepted) is let in only once its
//! record is written when a log is configured; a bypass also needs a log
//! configured at all. A rejection whose record cannot be written is still a
//! rejection, and the pusher is told the log failed.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::args::Args;
use crate::cli::audit::{self, Event, Record};
use crate::cli::error::Error;
use crate::cli::{finish, Outcome};
use crate::engine::config::{Bypass, Config, InlineAllow, OnTimeout};
use crate::engine::scanner::ScanReport;
use crate::report::Audience;
use crate::sources::git::push::RefUpdate;

/// The push option that asks for a bypass.
pub(crate) const BYPASS_OPTION: &str = "keygate.bypass";

/// The environment variables that name the pusher, in the order tried: GitLab,
/// Gitea and Forgejo, gitolite, GitHub Enterprise Server, then a web
/// server's authenticated user (git http-backend). Set by the hosting
/// software, not by the pusher (git's protocols carry no environment).
pub(crate) const DEFAULT_PUSHER_ENV: &[&str] = &[
    "GL_USERNAME",
    "GITEA_PUSHER_NAME",
    "GL_USER",
    "GITHUB_USER_LOGIN",
    "REMOTE_USER",
];

/// The longest bypass reason kept; a longer one is cut (marked with `…`).
const MAX_REASON_CHARS: usize = 500;
/// The longest pusher name kept.
const MAX_PUSHER_CHARS: usize = 200;

/// Who pushed, and where that came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pusher {
    /// The name, cut to 200 characters.
    pub name: String,
    /// The environment variable, or `os-user`.
    pub source: String,
}

impl Pusher {
    /// The first of `names` (default [`DEFAULT_PUSHER_ENV`]) set to a
    /// non-empty value, else the user the hook runs as.
    pub(crate) fn from_env(names: Option<&[String]>) -> Pusher {
        let default: Vec<String> = DEFAULT_PUSHER_ENV.iter().map(|s| s.to_string()).collect();
        for name in names.unwrap_or(&default) {
            if let Some(value) = std::env::var_os(name) {
                let value = value.to_string_lossy();
                let value = value.trim();
                if !value.is_empty() {
                    return Pusher {
                        name: clip(value, MAX_PUSHER_CHARS),
                        source: name.clone(),
                    };
                }
            }
        }
        Pusher {
            name: os_user(),
            source: "os-user".to_string(),
        }
    }
}

/// A server hook often runs with a `HOME` that is not its user's (a daemon
/// started by `sudo` or `runuser` keeps root's): libgit2 then fails to open
/// any repository, on the global git config it may not even stat. git
/// itself carries on without that file; so does the server hook, saying so.
/// Call before the first repository is opened (one thread).
pub(crate) fn skip_unreadable_global_config(err: &mut dyn Write) -> std::io::Result<()> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".config")));
    let files = [
        home.map(|h| h.join(".gitconfig")),
        xdg.map(|x| x.join("git/config")),
    ];
    for file in files.into_iter().flatten() {
        if let Err(e) = std::fs::metadata(&file) {
            if e.kind() == std::io::ErrorKind::PermissionDenied {
                writeln!(
                    err,
                    "keygate: warning: cannot read {} ({e}): HOME is not this user's; the \
                     global git config is ignored, as git does",
                    file.display()
                )?;
                for level in [git2::ConfigLevel::Global, git2::ConfigLevel::XDG] {
                    // SAFETY: called before any other libgit2 use, on one thread.
                    let _ = unsafe { git2::opts::set_search_path(level, "") };
                }
                break;
            }
        }
    }
    Ok(())
}

/// The name of the user this process runs as, from /etc/passwd (no NSS: a
/// static binary in a bare chroot has none), else `uid <n>`.
fn os_user() -> String {
    // SAFETY: getuid cannot fail and touches no memory.
    let uid = unsafe { libc::getuid() };
    if let Ok(passwd) = std::fs::read_to_string("/etc/passwd") {
        for line in passwd.lines() {
            let mut fields = line.split(':');
            let (Some(name), _, Some(id)) = (fields.next(), fields.next(), fields.next()) else {
                continue;
            };
            if id.parse::<u32>() == Ok(uid) && !name.is_empty() {
                return clip(name, MAX_PUSHER_CHARS);
            }
        }
    }
    format!("uid {uid}")
}

/// At most `max` characters of `text`.
pub(crate) fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// The push options git gives the hook (`GIT_PUSH_OPTION_COUNT`,
/// `GIT_PUSH_OPTION_<i>`): set only when the client sent some and the
/// repository has `receive.advertisePushOptions` on.
pub(crate) fn push_options() -> Vec<String> {
    let count: usize = std::env::var("GIT_PUSH_OPTION_COUNT")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(0);
    (0..count.min(1000))
        .filter_map(|i| std::env::var_os(format!("GIT_PUSH_OPTION_{i}")))
        .map(|v| v.to_string_lossy().into_owned())
        .collect()
}

/// The reason of the last `keygate.bypass[=<reason>]` option, if any (an
/// option without `=` gives an empty reason).
pub(crate) fn bypass_request(options: &[String]) -> Option<String> {
    options.iter().rev().find_map(|option| {
        if option == BYPASS_OPTION {
            Some(String::new())
        } else {
            option
                .strip_prefix(BYPASS_OPTION)
                .and_then(|rest| rest.strip_prefix('='))
                .map(|reason| reason.trim().to_string())
        }
    })
}

/// Why a requested bypass was refused.
fn bypass_refusal(
    config: &Config,
    pusher: &Pusher,
    reason: &str,
    reason_has_credential: bool,
    log: Option<&Path>,
) -> Option<String> {
    let server = &config.server;
    if server.bypass == Bypass::Off {
        return Some("bypass is off on this server ([server] bypass = \"off\")".into());
    }
    if reason.is_empty() {
        return Some(format!(
            "a bypass needs a reason: git push -o {BYPASS_OPTION}=\"<why this is safe>\""
        ));
    }
    if reason_has_credential {
        return Some("the bypass reason itself holds a credential; it was not recorded".into());
    }
    if !server.bypass_users.is_empty() && !server.bypass_users.contains(&pusher.name) {
        return Some(format!(
            "pusher `{}` (from {}) is not in this server's bypass_users",
            pusher.name, pusher.source
        ));
    }
    if log.is_none() {
        return Some(
            "this server keeps no audit log ([server] audit_log), and a bypass is only let \
             in once it is recorded"
                .into(),
        );
    }
    None
}

/// Everything the server decision needs besides the scan report.
pub(crate) struct ServerPush<'a> {
    /// The config: `[server]` decides the policy.
    pub config: &'a Config,
    /// The repository pushed to.
    pub repo: &'a git2::Repository,
    /// The refs the push changes.
    pub updates: &'a [RefUpdate],
    /// The scan stopped at the time budget (and nothing else went wrong).
    pub timed_out: bool,
    /// What the server's memory of clean blobs saved and kept.
    pub resumed: crate::sources::git::push::Resumed,
}

/// The audit log's path: `[server] audit_log`, relative to the config file.
pub(crate) fn audit_log_path(config: &Config) -> Option<PathBuf> {
    let log = config.server.audit_log.as_ref()?;
    Some(match config.source.as_ref().and_then(|s| s.parent()) {
        Some(dir) if log.is_relative() => dir.join(log),
        _ => log.clone(),
    })
}

/// The pre-receive verdict: prints the report and what the policy did,
/// writes the audit record, and returns the outcome (0 lets the push in).
pub(crate) fn finish_server(
    args: &Args,
    push: &ServerPush,
    report: &ScanReport,
    scanner: &crate::engine::scanner::Scanner,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome, Error> {
    let config = push.config;
    let log = audit_log_path(config);
    let pusher = Pusher::from_env(config.server.pusher_env.as_deref());
    let options = push_options();
    let request = bypass_request(&options);
    let record = |event: Event, reason: Option<String>| Record {
        event,
        repository: repository_name(push.repo),
        pusher: pusher.clone(),
        updates: push.updates,
        reason,
        report,
    };
    let budget = config.server.time_budget_seconds;

    // Time-outs first: nothing found, but not everything read.
    if push.timed_out {
        if config.server.on_timeout == OnTimeout::Accept && report.findings.is_empty() {
            if let Err(e) = write_record(log.as_deref(), &record(Event::TimeoutAccepted, None)) {
                writeln!(
                    err,
                    "keygate: the {budget:.1} s time budget ran out, and the server accepts \
                     such pushes (on_timeout = \"accept\") only once they are recorded: {e}; \
                     rejecting."
                )?;
                return Ok(Outcome::Incomplete);
            }
            writeln!(
                err,
                "keygate: WARNING: the {budget:.1} s time budget ran out before every pushed \
                 commit was scanned; accepting anyway because the server is configured with \
                 on_timeout = \"accept\". This push was NOT fully checked{}.",
                if log.is_some() {
                    " (recorded in the audit log)"
                } else {
                    ""
                }
            )?;
            write_inline_allowed(report, err)?;
            return Ok(Outcome::Clean);
        }
        let resumed = &push.resumed;
        writeln!(
            err,
            "keygate: the {budget:.1} s time budget ran out before every pushed commit was \
             scanned; rejecting (fail closed). Retrying continues where this attempt stopped: \
             the server remembers the {} blob(s) scanned clean so far{} and does not read them \
             again, so pushing the same commits again gets further each time. Or push fewer \
             commits at a time, or ask the server admin to raise [server] time_budget_seconds.",
            resumed.kept,
            if resumed.skipped > 0 {
                format!(
                    " ({} file change(s) skipped in this attempt)",
                    resumed.skipped
                )
            } else {
                String::new()
            }
        )?;
        let outcome = finish(args, Audience::Push, report, out, err)?;
        if request.is_some() {
            writeln!(err, "keygate: {NOT_BYPASSABLE}")?;
        }
        log_rejection(log.as_deref(), &record(Event::TimeoutRejected, None), err)?;
        return Ok(outcome);
    }

    // Findings in a complete scan: a bypass may let them in.
    if !report.findings.is_empty() && report.complete() {
        if let Some(reason) = &request {
            let has_credential = !scanner.detector.detect(reason.as_bytes()).is_empty();
            let reason = clip(reason, MAX_REASON_CHARS);
            match bypass_refusal(config, &pusher, &reason, has_credential, log.as_deref()) {
                None => {
                    let bypass = record(Event::Bypass, Some(reason.clone()));
                    match write_record(log.as_deref(), &bypass) {
                        Ok(()) => {
                            finish(args, Audience::PushBypassed, report, out, err)?;
                            writeln!(
                                err,
                                "keygate: push ACCEPTED by bypass, reason \"{}\": {} \
                                 credential(s) let in, recorded in the audit log as pushed by \
                                 `{}`. The keys are in the server's history now: rotate them \
                                 unless they are not real.",
                                printable(&reason),
                                report.findings.len(),
                                printable(&pusher.name)
                            )?;
                            write_inline_allowed(report, err)?;
                            return Ok(Outcome::Clean);
                        }
                        Err(e) => {
                            let outcome = finish(args, Audience::Push, report, out, err)?;
                            writeln!(
                                err,
                                "keygate: bypass refused: it cannot be recorded ({e}); the \
                                 push is rejected. Tell the server's admin."
                            )?;
                            return Ok(outcome);
                        }
                    }
                }
                Some(why) => {
                    let outcome = finish(args, Audience::Push, report, out, err)?;
                    writeln!(err, "keygate: bypass refused: {}.", printable(&why))?;
                    let reason = (!has_credential).then_some(reason);
                    log_rejection(log.as_deref(), &record(Event::BypassRefused, reason), err)?;
                    return Ok(outcome);
                }
            }
        }
        let outcome = finish(args, Audience::Push, report, out, err)?;
        write_server_advice(config, &pusher, push, log.is_some(), err)?;
        log_rejection(log.as_deref(), &record(Event::Rejected, None), err)?;
        return Ok(outcome);
    }

    let outcome = finish(args, Audience::Push, report, out, err)?;
    match outcome {
        Outcome::Clean if !report.inline_allowed.is_empty() => {
            if let Err(e) = write_record(log.as_deref(), &record(Event::InlineAllowed, None)) {
                writeln!(
                    err,
                    "keygate: this push holds credentials allowed by `keygate:allow` markers, \
                     which this server lets in only once they are recorded: {e}; rejecting. \
                     Tell the server's admin."
                )?;
                return Ok(Outcome::Incomplete);
            }
            write_inline_allowed(report, err)?;
            if log.is_some() {
                writeln!(err, "keygate: recorded in the server's audit log.")?;
            }
        }
        Outcome::Clean => {}
        _ => {
            if request.is_some() {
                writeln!(err, "keygate: {NOT_BYPASSABLE}")?;
            }
            log_rejection(log.as_deref(), &record(Event::Incomplete, None), err)?
        }
    }
    if outcome == Outcome::Clean && request.is_some() {
        writeln!(
            err,
            "keygate: no bypass was needed: nothing in this push is blocked (nothing recorded)."
        )?;
    }
    Ok(outcome)
}

/// Why a bypass does not apply to a push that was not scanned whole.
const NOT_BYPASSABLE: &str = "a bypass lets in what was found, not what could not be \
                              checked: this push was not scanned completely, so it stays rejected";

/// Writes a rejection's record; a failure is reported, the push stays rejected.
fn log_rejection(log: Option<&Path>, record: &Record, err: &mut dyn Write) -> std::io::Result<()> {
    if let Err(e) = write_record(log, record) {
        writeln!(
            err,
            "keygate: could not record this rejection in the audit log: {e} (the push is \
             rejected all the same; tell the server's admin)"
        )?;
    }
    Ok(())
}

/// Appends `record` to `log`; no log configured is success.
fn write_record(log: Option<&Path>, record: &Record) -> Result<(), audit::AuditError> {
    match log {
        Some(path) => audit::append(path, record),
        None => Ok(()),
    }
}

/// Tells the pusher what the `keygate:allow` markers let in.
fn write_inline_allowed(report: &ScanReport, err: &mut dyn Write) -> std::io::Result<()> {
    if report.inline_allowed.is_empty() {
        return Ok(());
    }
    writeln!(
        err,
        "keygate: {} credential(s) let in by `keygate:allow` markers in the pushed content \
         (the server records these):",
        report.inline_allowed.len()
    )?;
    for f in report.inline_allowed.iter().take(20) {
        writeln!(
            err,
            "  {}:{}  {}  {}  commit {}  fingerprint {}",
            f.path,
            f.location.line,
            f.rule_id,
            f.redacted,
            f.origin.commit().map_or("-", |c| c.id.as_str()),
            f.fingerprint
        )?;
    }
    if report.inline_allowed.len() > 20 {
        writeln!(err, "  and {} more", report.inline_allowed.len() - 20)?;
    }
    Ok(())
}

/// What a rejected pusher can do on this server.
fn write_server_advice(
    config: &Config,
    pusher: &Pusher,
    push: &ServerPush,
    has_log: bool,
    err: &mut dyn Write,
) -> std::io::Result<()> {
    let repo = push.repo;
    let server = &config.server;
    if server.inline_allow == InlineAllow::Record {
        writeln!(
            err,
            "keygate: a `keygate:allow` comment on the line lets it in (recorded by the server)."
        )?;
    } else {
        writeln!(
            err,
            "keygate: this server ignores `keygate:allow` markers in pushed content."
        )?;
    }
    let may = server.bypass == Bypass::Reason
        && has_log
        && (server.bypass_users.is_empty() || server.bypass_users.contains(&pusher.name));
    if !may {
        return Ok(());
    }
    // The branch or tag, when the push updates one (a ref name may hold a key).
    let target = match push.updates {
        [update] => {
            let name = update.refname.as_str();
            let short = name.strip_prefix("refs/heads/").unwrap_or(name);
            crate::engine::redact::scrub(&printable(short))
        }
        _ => "<branch>...".to_string(),
    };
    writeln!(
        err,
        "keygate: if this is safe to push (a test fixture, a revoked key), you may bypass the \
         check with a reason, which is recorded with your name (`{}`):\n  git push -o \
         {BYPASS_OPTION}=\"<why this is safe>\" <remote> {target}",
        printable(&pusher.name)
    )?;
    let advertised = repo
        .config()
        .and_then(|c| c.get_bool("receive.advertisePushOptions"))
        .unwrap_or(false);
    if !advertised {
        writeln!(
            err,
            "keygate: (this repository does not accept push options yet: the admin must set \
             `git config receive.advertisePushOptions true`)"
        )?;
    }
    Ok(())
}

/// The repository's directory, as the log names it.
fn repository_name(repo: &git2::Repository) -> String {
    let path = repo.path();
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let text = path.to_string_lossy();
    text.trim_end_matches('/').to_string()
}

/// `text` with control characters (terminal escapes) shown as `?`.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bypass_option_forms() {
        let o = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(bypass_request(&o(&[])), None);
        assert_eq!(bypass_request(&o(&["ci.skip"])), None);
        assert_eq!(bypass_request(&o(&["keygate.bypass"])), Some(String::new()));
        assert_eq!(
            bypass_request(&o(&["keygate.bypass= test fixture "])),
            Some("test fixture".into())
        );
        assert_eq!(bypass_request(&o(&["keygate.bypassx=1"])), None);
    }

    #[test]
    fn clip_counts_characters() {
        assert_eq!(clip("abc", 5), "abc");
        assert_eq!(clip("ééééé", 2), "éé…");
    }
}
