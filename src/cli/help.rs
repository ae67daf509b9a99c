//! `keygate help COMMAND` (and `keygate COMMAND --help`): one command's
//! help, in the words of the README.

/// The help of one command, by the name a user types.
pub fn topic(name: &str) -> Option<&'static str> {
    Some(match name.trim_start_matches('-') {
        "scan" => SCAN,
        "staged" => STAGED,
        "history" => HISTORY,
        "hook"
        | "hooks"
        | "pre-commit"
        | "commit-msg"
        | "pre-receive"
        | "pre-push"
        | "pre-commit-framework" => HOOK,
        "audit-log" => AUDIT_LOG,
        "help" => crate::cli::args::USAGE,
        _ => return None,
    })
}

const SCAN: &str = "\
keygate scan [OPTIONS] PATH...

Scans files and directories (`-` reads standard input) for AWS credentials.
Directories are read recursively, dotfiles included, `.git` skipped, symlinks
not followed. In a git repository, what git ignores (.gitignore,
.git/info/exclude, the global excludes file) is skipped, except files git
tracks; a file named on the command line is always read.

Paths in the report and in fingerprints are relative to the repository root
(outside a repository: to the current directory), however they were typed:
the same finding has the same fingerprint in `scan`, `--staged`, the hooks
and `history`. The config is .keygate.toml at the repository root (outside a
repository: in the current directory), or --config FILE.

Options:
  --no-ignore            read what git ignores too
  --format text|json|sarif
  --config FILE
  --max-file-size BYTES  larger files are reported as not scanned (exit 2)
  --show-secrets         print full values (never the default)

On a terminal, a clean scan says on standard error what it read.
Exit codes: 0 nothing found, 1 found, 2 error or something not read.";

const STAGED: &str = "\
keygate --staged [OPTIONS]

Scans what the next commit would add: the index compared with HEAD. Only
lines the change adds count; a file that arrives at a new path counts in
full there. Honours GIT_DIR, GIT_WORK_TREE and GIT_INDEX_FILE. This is what
the pre-commit hook runs (`keygate hook pre-commit`).

Options: --format text|json|sarif, --config FILE, --max-file-size BYTES,
--show-secrets. Exit codes: 0 nothing found, 1 found, 2 error.";

const HISTORY: &str = "\
keygate history [REVISION...] [--write-baseline FILE]

Every credential already in the repository's history: each blob any commit
in the range introduced, and every commit message; without a range, every
ref (and ref names and tag messages). REVISION is git syntax: `main`,
`main..feature`, `^old`. Each finding says whether it is in the tree now
(rotate and remove it) or only in history (rotate it).

--write-baseline FILE writes the fingerprints (no secrets) of everything
found; `baseline = \"FILE\"` under [allowlist] in .keygate.toml then lets the
gate pass them and report only new keys.

Exit codes: 0 nothing found, 1 found, 2 error.";

const HOOK: &str = "\
keygate hook NAME [ARGS]

  pre-commit             the staged changes (what hooks/pre-commit runs)
  commit-msg FILE        the message of the commit being made
  pre-push REMOTE [URL]  the commits the remote does not have yet (refs on stdin)
  pre-receive            server side: every commit a push brings (refs on stdin);
                         the config comes from --config or the repository's
                         `keygate.config` git setting, never from the push
  pre-commit-framework [FILE...]
                         the pre-commit framework's hook: on a commit, the staged
                         changes; with `pre-commit run --all-files` or --files,
                         the files it passes, in full; with --from-ref/--to-ref
                         (PRE_COMMIT_FROM_REF/PRE_COMMIT_TO_REF), the commits in
                         that range

install.sh installs the git hooks. Exit codes: 0 pass, 1 blocked, 2 error
(the commit or push is refused: fail closed).";

const AUDIT_LOG: &str = "\
keygate audit-log [FILE] [--pusher NAME] [--fingerprint FP] [--event EVENT]

The server's audit log (JSON lines, written by the pre-receive hook when
[server] audit_log is set) as a table: who pushed what, which findings, which
bypasses and why. FILE defaults to [server] audit_log of --config. Filters:
--pusher NAME, --fingerprint FP (whole, or its hash), --event EVENT.
--format json prints the matching records as JSON lines.";
