//! Command-line arguments: what the user asked for, parsed by `lexopt`
//! (no start-up cost). Only parsing lives here; `run` does the work.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::cli::error::Error;
use crate::report::Format;

/// The `--help` text: every command, option and exit code.
pub(crate) const USAGE: &str = "\
keygate: stops AWS credentials from entering git history

Usage:
  keygate --staged [OPTIONS]          scan what is staged for the next commit
  keygate scan [OPTIONS] PATH...      scan files and directories (`-` reads stdin)
  keygate history [REVISION...]       every credential already in history (default: all refs);
                                      --write-baseline FILE records them for [allowlist] baseline
  keygate hook pre-commit             the pre-commit hook (what hooks/pre-commit runs)
  keygate hook commit-msg FILE        the commit-msg hook: the message of the commit being made
  keygate hook pre-receive            the server hook: every commit a push brings (stdin as git gives it)
  keygate hook pre-push REMOTE [URL]  the client hook: commits the remote does not have yet
  keygate hook pre-commit-framework [FILE...]
                                      the pre-commit framework's hook (.pre-commit-hooks.yaml)
  keygate help [COMMAND]              this help, or one command's
  keygate audit-log [FILE]            the server's audit log as a table (default FILE: [server]
                                      audit_log of --config); --pusher NAME, --fingerprint FP
                                      (whole or its hash), --event EVENT filter; --format json
                                      prints the matching records as JSON lines

Options:
  --format text|json|sarif  report format (default: text)
  --config FILE          config file (default: .keygate.toml at the repository root,
                         or in the current directory for `scan`)
  --max-file-size BYTES  larger files are reported as not scanned (default: 512 MiB)
  --show-secrets         print full values in the report (never the default)
  --no-ignore            scan: read what git ignores too (.gitignore, .git/info/exclude)
  --verbose              error messages with the git library's own error codes
  -h, --help             this help
  -V, --version          version

Exit codes: 0 nothing found, 1 credentials found, 2 usage, config or internal
error, or a scan that could not read everything.";

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `scan PATH...`: files and directories (`-`: standard input).
    Scan(Vec<PathBuf>),
    /// `--staged`: what is staged for the next commit.
    Staged,
    /// `history [REVISION...]`: every credential already in history (none given: all refs).
    History(Vec<String>),
    /// `hook NAME`: run as one of git's hooks.
    Hook(HookName),
    /// `audit-log [FILE]`: the server's audit log.
    AuditLog(Option<PathBuf>),
    /// `help`, `-h`, `--help`: the usage text.
    Help,
    /// `help COMMAND`, `COMMAND --help`.
    HelpOn(String),
    /// `-V`, `--version`.
    Version,
}

/// The git hooks keygate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookName {
    /// `pre-commit`: the changes staged for the commit being made.
    PreCommit,
    /// `commit-msg FILE`: the message of the commit being made.
    CommitMsg,
    /// `pre-receive`: on the server, every commit a push brings.
    PreReceive,
    /// `pre-push REMOTE [URL]`: on the client, the commits the remote does not have yet.
    PrePush,
    /// The pre-commit framework's hook: what it checks depends on how the
    /// framework runs it (`framework`).
    PreCommitFramework,
}

/// Parsed arguments.
#[derive(Debug, Clone)]
pub struct Args {
    /// What to do.
    pub command: Command,
    /// `--format`: how the report is printed.
    pub format: Format,
    /// `--config FILE` (`None`: `.keygate.toml` where it is looked for).
    pub config: Option<PathBuf>,
    /// `--show-secrets`: full values in the report.
    pub show_secrets: bool,
    /// `--max-file-size`: larger inputs are reported as not scanned.
    pub max_file_size: u64,
    /// Arguments git passes to a hook (pre-push: remote name and URL).
    pub hook_args: Vec<String>,
    /// `history --write-baseline FILE`.
    pub write_baseline: Option<PathBuf>,
    /// `scan --no-ignore`: read what git ignores too.
    pub no_ignore: bool,
    /// Library error codes in error messages.
    pub verbose: bool,
    /// `audit-log --pusher/--fingerprint/--event`.
    pub audit_filters: crate::cli::audit::Filters,
}

impl Args {
    /// Parses the process arguments (without the program name).
    pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Args, Error> {
        use lexopt::prelude::*;
        let mut parser = lexopt::Parser::from_args(args);
        let mut command: Option<Command> = None;
        let mut paths = Vec::new();
        let mut format = Format::Text;
        let mut config = None;
        let mut show_secrets = false;
        let mut max_file_size = crate::sources::git::DEFAULT_MAX_BLOB_BYTES;
        let mut hook_args = Vec::new();
        let mut revisions = Vec::new();
        let mut write_baseline = None;
        let mut no_ignore = false;
        let mut verbose = false;
        let mut help = false;
        let mut help_topic: Option<String> = None;
        let mut audit_filters = crate::cli::audit::Filters::default();
        let usage =
            |e: lexopt::Error| Error::Usage(format!("{e}; `keygate help` lists the options"));
        while let Some(arg) = parser.next().map_err(usage)? {
            match arg {
                Short('h') | Long("help") => help = true,
                Long("no-ignore") => no_ignore = true,
                Short('v') | Long("verbose") => verbose = true,
                Short('V') | Long("version") => command = Some(Command::Version),
                Long("staged") => command = Some(Command::Staged),
                Long("format") => {
                    let value = parser.value().map_err(usage)?;
                    format = match value.to_str() {
                        Some("text") => Format::Text,
                        Some("json") => Format::Json,
                        Some("sarif") => Format::Sarif,
                        _ => {
                            return Err(Error::Usage(format!(
                                "unknown format {value:?} (expected text, json or sarif)"
                            )))
                        }
                    };
                }
                Long("config") => config = Some(PathBuf::from(parser.value().map_err(usage)?)),
                Long("show-secrets") => show_secrets = true,
                Long("max-file-size") => {
                    let value = parser.value().map_err(usage)?;
                    max_file_size =
                        value.to_str().and_then(|v| v.parse().ok()).ok_or_else(|| {
                            Error::Usage(format!("--max-file-size: not a number: {value:?}"))
                        })?;
                }
                Value(value) if command.is_none() => {
                    command = Some(match value.to_str() {
                        Some("scan") => Command::Scan(Vec::new()),
                        Some("staged") => Command::Staged,
                        Some("history") => Command::History(Vec::new()),
                        Some("help") => Command::Help,
                        Some("audit-log") => Command::AuditLog(None),
                        Some("hook") => {
                            let name = parser.value().map_err(usage)?;
                            Command::Hook(match name.to_str() {
                                Some("pre-commit") => HookName::PreCommit,
                                Some("commit-msg") => HookName::CommitMsg,
                                Some("pre-receive") => HookName::PreReceive,
                                Some("pre-push") => HookName::PrePush,
                                Some("pre-commit-framework") => HookName::PreCommitFramework,
                                _ => {
                                    return Err(Error::Usage(format!(
                                        "unknown hook {name:?} (expected pre-commit, commit-msg, pre-receive, pre-push or pre-commit-framework)"
                                    )))
                                }
                            })
                        }
                        _ => {
                            return Err(Error::Usage(format!(
                                "unknown command {value:?}; `keygate help` lists the commands"
                            )))
                        }
                    });
                }
                // `help COMMAND`
                Value(value) if command == Some(Command::Help) && help_topic.is_none() => {
                    help_topic = Some(value.to_string_lossy().into_owned());
                }
                // The framework passes the files it selected.
                Value(value) if command == Some(Command::Hook(HookName::PreCommitFramework)) => {
                    hook_args.push(value.to_string_lossy().into_owned());
                }
                Value(value) if matches!(command, Some(Command::Scan(_))) => {
                    paths.push(PathBuf::from(value));
                }
                Value(value) if matches!(command, Some(Command::History(_))) => {
                    revisions.push(value.to_string_lossy().into_owned());
                }
                Value(value) if command == Some(Command::AuditLog(None)) => {
                    command = Some(Command::AuditLog(Some(PathBuf::from(value))));
                }
                Long(filter @ ("pusher" | "fingerprint" | "event"))
                    if matches!(command, Some(Command::AuditLog(_))) =>
                {
                    let filter = filter.to_string();
                    let value = parser
                        .value()
                        .map_err(usage)?
                        .to_string_lossy()
                        .into_owned();
                    match filter.as_str() {
                        "pusher" => audit_filters.pusher = Some(value),
                        "fingerprint" => audit_filters.fingerprint = Some(value),
                        _ => audit_filters.event = Some(value),
                    }
                }
                Long("write-baseline") => {
                    write_baseline = Some(PathBuf::from(parser.value().map_err(usage)?));
                }
                // git passes pre-push the remote's name and URL.
                Value(value)
                    if command == Some(Command::Hook(HookName::PrePush)) && hook_args.len() < 2 =>
                {
                    hook_args.push(value.to_string_lossy().into_owned());
                }
                // git passes commit-msg the file holding the message.
                Value(value)
                    if command == Some(Command::Hook(HookName::CommitMsg))
                        && hook_args.is_empty() =>
                {
                    hook_args.push(value.to_string_lossy().into_owned());
                }
                other => return Err(usage(other.unexpected())),
            }
        }
        // `--help` anywhere: the help of the command given, if any.
        if help || command == Some(Command::Help) {
            let topic = help_topic.or_else(|| match &command {
                Some(Command::Scan(_)) => Some("scan".into()),
                Some(Command::Staged) => Some("staged".into()),
                Some(Command::History(_)) => Some("history".into()),
                Some(Command::Hook(_)) => Some("hook".into()),
                Some(Command::AuditLog(_)) => Some("audit-log".into()),
                _ => None,
            });
            command = Some(match topic {
                Some(topic) => Command::HelpOn(topic),
                None => Command::Help,
            });
        }
        let command = match command {
            Some(Command::Scan(_)) if paths.is_empty() => {
                return Err(Error::Usage(
                    "scan: no PATH given (use `-` for standard input)".into(),
                ))
            }
            Some(Command::Scan(_)) => Command::Scan(paths),
            Some(Command::History(_)) => Command::History(revisions),
            Some(Command::Hook(HookName::CommitMsg)) if hook_args.is_empty() => {
                return Err(Error::Usage(
                    "hook commit-msg: no FILE given (git passes the file holding the message)"
                        .into(),
                ))
            }
            Some(other) => other,
            None => return Err(Error::Usage(format!("no command given\n\n{USAGE}"))),
        };
        Ok(Args {
            command,
            format,
            config,
            show_secrets,
            max_file_size,
            hook_args,
            write_baseline,
            no_ignore,
            verbose,
            audit_filters,
        })
    }
}
