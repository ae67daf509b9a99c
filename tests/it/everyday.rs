//! Everyday use (issue 16): the README as Markdown, scans that respect
//! `.gitignore`, one fingerprint per finding, the pre-commit framework,
//! plain messages, advice that fits, keygate's own repository through its
//! own gates.

use std::path::{Path, PathBuf};

use crate::util::{install_hook, key_id, secret, Test};

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md")
}

/// The README parsed as Markdown: every code fence closes where it should,
/// and no heading or text is swallowed by a code block (a closing fence
/// with text after it is no closing fence: the rest renders as code).
#[test]
fn readme_markdown_has_balanced_fences_and_no_heading_inside_code() {
    use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag};
    let text = readme();
    let line_of = |offset: usize| text[..offset].matches('\n').count();
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut headings = Vec::new();
    for (event, range) in Parser::new(&text).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(_))) => {
                let first = line_of(range.start);
                let last = line_of(range.end.saturating_sub(1));
                blocks.push(first..=last);
            }
            Event::Start(Tag::Heading { .. }) => headings.push(line_of(range.start)),
            _ => {}
        }
    }
    assert!(
        blocks.len() >= 10,
        "only {} code blocks parsed",
        blocks.len()
    );
    for block in &blocks {
        let closing = lines.get(*block.end()).map_or("", |l| l.trim());
        assert!(
            block.start() < block.end() && closing.starts_with("```") && closing.trim_matches('`').is_empty(),
            "the code block at README.md line {} does not end with a closing fence (line {}: {closing:?})",
            block.start() + 1,
            block.end() + 1
        );
        for n in block.clone() {
            assert!(
                !lines[n].starts_with("## "),
                "a heading inside the code block at README.md line {}: line {}",
                block.start() + 1,
                n + 1
            );
        }
    }
    for (n, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("```") {
            assert!(
                blocks.iter().any(|b| *b.start() == n || *b.end() == n),
                "README.md line {}: a fence that opens or closes no code block: {line:?}",
                n + 1
            );
        }
        if line.starts_with("## ") || line.starts_with("### ") {
            assert!(
                headings.contains(&n),
                "README.md line {}: {line:?} does not render as a heading",
                n + 1
            );
        }
    }
}

fn key_line() -> String {
    format!(
        "aws_access_key_id = {}\naws_secret_access_key = {}\n",
        key_id(),
        secret()
    )
}

fn paths_of(run: &crate::util::Run) -> Vec<String> {
    let mut paths: Vec<String> = run
        .findings()
        .iter()
        .map(|f| f["path"].as_str().unwrap_or_default().to_string())
        .collect();
    paths.sort();
    paths
}

/// Issue 16.1: in a repository, `scan` skips what git ignores (.gitignore,
/// .git/info/exclude, the global excludes file), reads untracked files that
/// are not ignored and tracked files even where a rule matches them, reads a
/// file named on the command line whatever ignores it, and `--no-ignore`
/// reads everything.
#[test]
fn scan_skips_what_git_ignores_unless_told_otherwise() {
    let t = Test::repo();
    t.write(".gitignore", "/target\n*.log\n");
    t.write("target/debug/build.txt", key_line());
    t.write("sub/run.log", key_line());
    t.write("excluded.txt", key_line());
    t.write(".git/info/exclude", "excluded.txt\n");
    t.write("global-ignored.txt", key_line());
    t.write("home-ignore", "global-ignored.txt\n");
    t.git(&[
        "config",
        "core.excludesFile",
        &t.path().join("home-ignore").to_string_lossy(),
    ]);
    t.write("untracked.txt", key_line());
    t.write("forced.log", key_line());
    t.git(&["add", "-f", "forced.log"]);
    // `.git` itself is never read.
    t.write(".git/stray.txt", key_line());

    let run = t.keygate(&["scan", "--format", "json", "."]);
    run.status(1);
    assert_eq!(paths_of(&run), ["forced.log", "untracked.txt"]);

    let all = t.keygate(&["scan", "--no-ignore", "--format", "json", "."]);
    all.status(1);
    assert_eq!(
        paths_of(&all),
        [
            "excluded.txt",
            "forced.log",
            "global-ignored.txt",
            "sub/run.log",
            "target/debug/build.txt",
            "untracked.txt"
        ]
    );

    // From a subdirectory, the root's anchored rules still apply.
    t.write(".gitignore", "/target\n*.log\n/sub/anchored.txt\n");
    t.write("sub/anchored.txt", key_line());
    let sub = t.path().join("sub");
    let from_sub = t.keygate_in(&sub, &["scan", "--format", "json", "."], None);
    from_sub.status(0);
    t.keygate_in(
        &sub,
        &["scan", "--no-ignore", "--format", "json", "."],
        None,
    )
    .status(1);

    // Named on the command line: read, ignored or not.
    let named = t.keygate(&["scan", "--format", "json", "sub/run.log"]);
    named.status(1);
    assert_eq!(paths_of(&named), ["sub/run.log"]);

    // Outside a repository nothing is ignored: git ignores nothing there.
    let plain = Test::dir();
    plain.write(".gitignore", "*.log\n");
    plain.write("a.log", key_line());
    plain.keygate(&["scan", "--format", "json", "."]).status(1);
}

/// Issue 16.2: one finding, one fingerprint and one path, however the path
/// was typed and whichever command found it.
#[test]
fn one_fingerprint_per_finding_whatever_the_spelling_and_the_command() {
    let t = Test::repo();
    t.write("README.md", "# x\n");
    t.git(&["add", "README.md"]);
    t.git(&["commit", "-q", "-m", "init"]);
    t.write("conf/token.txt", key_line());
    t.write("conf/sub/.keep", "");
    let absolute = t.path().join("conf/token.txt");
    let absolute = absolute.to_string_lossy();
    let conf = t.path().join("conf");
    let sub = t.path().join("conf/sub");
    let fingerprint = |run: &crate::util::Run| -> (String, String) {
        let findings = run.findings();
        assert_eq!(findings.len(), 1, "{}", run.stdout);
        (
            findings[0]["path"].as_str().unwrap_or_default().to_string(),
            findings[0]["fingerprint"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };
    let json = ["scan", "--format", "json"];
    let mut seen = Vec::new();
    for (dir, path) in [
        (t.path(), "."),
        (t.path(), "./conf/token.txt"),
        (t.path(), "conf/token.txt"),
        (t.path(), "conf/sub/../token.txt"),
        (t.path(), &absolute),
        (conf.as_path(), "token.txt"),
        (conf.as_path(), "."),
        (sub.as_path(), "../token.txt"),
        (sub.as_path(), ".."),
    ] {
        let mut args: Vec<&str> = json.to_vec();
        args.push(path);
        let run = t.keygate_in(dir, &args, None);
        run.status(1);
        seen.push((
            format!("scan {path} in {}", dir.display()),
            fingerprint(&run),
        ));
    }
    t.git(&["add", "conf/token.txt"]);
    let staged = t.keygate_in(&sub, &["--staged", "--format", "json"], None);
    staged.status(1);
    seen.push(("--staged".into(), fingerprint(&staged)));
    let hook = t.keygate(&["hook", "pre-commit", "--format", "json"]);
    hook.status(1);
    seen.push(("hook pre-commit".into(), fingerprint(&hook)));
    t.git(&["commit", "-q", "--no-verify", "-m", "key"]);
    let history = t.keygate(&["history", "--format", "json"]);
    history.status(1);
    seen.push(("history".into(), fingerprint(&history)));
    let head = t.git(&["rev-parse", "HEAD"]);
    let init = t.git(&["rev-parse", "HEAD~1"]);
    let stdin = format!(
        "refs/heads/main {} refs/heads/main {}\n",
        head.trim(),
        init.trim()
    );
    let push = t.keygate_stdin(
        &[
            "hook",
            "pre-push",
            "origin",
            "file:///x",
            "--format",
            "json",
        ],
        stdin.as_bytes(),
    );
    push.status(1);
    seen.push(("hook pre-push".into(), fingerprint(&push)));
    let expected = seen[0].1.clone();
    assert_eq!(expected.0, "conf/token.txt");
    for (how, got) in &seen {
        assert_eq!(got, &expected, "{how}");
    }
    // Allowlisting the one fingerprint silences every spelling.
    t.write(
        ".keygate.toml",
        format!("[allowlist]\nfingerprints = [\"{}\"]\n", expected.1),
    );
    for (dir, path) in [(t.path(), "."), (sub.as_path(), "../token.txt")] {
        t.keygate_in(dir, &["scan", path], None).status(0);
    }
    t.keygate(&["history"]).status(0);
}

/// Issue 16.6: what a user sees speaks plain words; the git library's error
/// classes and codes appear only with `--verbose`.
#[test]
fn messages_outside_a_repository_are_plain_words() {
    let t = Test::dir();
    for args in [
        vec!["--staged"],
        vec!["history"],
        vec!["hook", "pre-commit"],
        vec!["hook", "commit-msg", "MSG"],
    ] {
        let run = t.keygate(&args);
        run.status(2)
            .stderr_has("is not in a git repository")
            .stderr_has("keygate scan PATH")
            .never_shows("class=")
            .never_shows("code=")
            .never_shows("could not find repository");
    }
    let verbose = t.keygate(&["--staged", "--verbose"]);
    verbose
        .status(2)
        .stderr_has("is not in a git repository")
        .stderr_has("class=Repository");
}

/// Issue 16.6: `keygate help` and `keygate help COMMAND` (and `COMMAND
/// --help`) work.
#[test]
fn help_and_help_command() {
    let t = Test::dir();
    t.keygate(&["help"])
        .status(0)
        .stdout_has("Usage:")
        .stdout_has("keygate help [COMMAND]");
    for (args, needle) in [
        (vec!["help", "scan"], "--no-ignore"),
        (vec!["scan", "--help"], "--no-ignore"),
        (vec!["help", "history"], "--write-baseline FILE"),
        (vec!["history", "--help"], "--write-baseline FILE"),
        (vec!["help", "staged"], "GIT_INDEX_FILE"),
        (vec!["--staged", "--help"], "GIT_INDEX_FILE"),
        (vec!["help", "hook"], "pre-commit-framework"),
        (vec!["help", "pre-receive"], "keygate.config"),
    ] {
        t.keygate(&args).status(0).stdout_has(needle);
    }
    t.keygate(&["help", "frobnicate"])
        .status(2)
        .stderr_has("no help for \"frobnicate\"");
    t.keygate(&["frobnicate"])
        .status(2)
        .stderr_has("`keygate help` lists the commands");
    t.keygate(&["scan", "--frobnicate", "."])
        .status(2)
        .stderr_has("`keygate help` lists the options");
}

/// Issue 16.7: temporary credentials get advice that applies to them
/// (revoke the sessions, deactivate the minting key), not the
/// update-access-key rotation of a long-term key.
#[test]
fn temporary_credentials_get_session_advice_not_key_rotation() {
    let t = Test::dir();
    t.write(
        "temp.env",
        format!("AWS_ACCESS_KEY_ID={}\n", crate::util::key_id2()),
    );
    let run = t.keygate(&["scan", "temp.env"]);
    run.status(1)
        .stdout_has("Temporary credentials")
        .stdout_has("Revoke active sessions")
        .stdout_has("AWSRevokeOlderSessions")
        .stdout_has("expire on their own")
        .never_shows("aws iam create-access-key")
        .never_shows("aws iam delete-access-key");
    // A long-term key gets the rotation; both kinds, both.
    t.write("long.env", format!("AWS_ACCESS_KEY_ID={}\n", key_id()));
    t.keygate(&["scan", "long.env"])
        .status(1)
        .stdout_has("aws iam create-access-key")
        .never_shows("AWSRevokeOlderSessions");
    t.keygate(&["scan", "."])
        .status(1)
        .stdout_has("aws iam create-access-key")
        .stdout_has("AWSRevokeOlderSessions");
}

/// Issue 16.7: at pre-commit the key has not left the machine, and the
/// report says so first; a push or the history says to act now.
#[test]
fn advice_fits_the_moment() {
    let t = Test::repo();
    t.stage("app.env", key_line());
    let commit = t.keygate(&["hook", "pre-commit"]);
    commit.status(1);
    let advice = commit
        .stdout
        .split("What to do now:")
        .nth(1)
        .unwrap_or_default();
    let first = advice
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    assert!(
        first.contains("has not left this machine"),
        "first line of the advice: {first:?}\n{}",
        commit.stdout
    );
    assert!(advice.contains("Only if it was ever committed, pushed or shared"));
    assert!(!advice.contains("revoke it now"), "{advice}");

    t.git(&["commit", "-q", "--no-verify", "-m", "key"]);
    let head = t.git(&["rev-parse", "HEAD"]);
    let zero = "0".repeat(40);
    let stdin = format!("refs/heads/main {} refs/heads/main {zero}\n", head.trim());
    let push = t.keygate_stdin(
        &["hook", "pre-push", "origin", "file:///x"],
        stdin.as_bytes(),
    );
    push.status(1)
        .stdout_has("rotate or revoke it now")
        .never_shows("has not left this machine");
    t.keygate(&["history"])
        .status(1)
        .stdout_has("rotate or revoke it now")
        .never_shows("has not left this machine");
}

/// Issue 16.8: a key allowed where it is in the tree now (a marker added
/// since) is not "in the tree now: rotate it and remove it"; its earlier
/// commits still count.
#[test]
fn history_does_not_call_an_allowed_key_in_the_tree_now() {
    let t = Test::repo();
    t.stage("test.rs", format!("let id = \"{}\";\n", key_id()));
    t.git(&["commit", "-q", "--no-verify", "-m", "test id"]);
    t.stage(
        "test.rs",
        format!("let id = \"{}\"; // keygate:allow (a fake ID)\n", key_id()),
    );
    t.git(&["commit", "-q", "-m", "mark it"]);
    let run = t.keygate(&["history", "--format", "json"]);
    run.status(1);
    let findings = run.findings();
    assert_eq!(findings.len(), 1, "{}", run.stdout);
    assert_eq!(findings[0]["in_tree_now"], false, "{}", run.stdout);
    let text = t.keygate(&["history"]);
    text.status(1)
        .stdout_has("only in history")
        .stdout_has("allowed where it is in the tree now")
        .never_shows("in the tree now: rotate it");
    // Not allowed at HEAD: in the tree now.
    t.stage("other.rs", format!("let id = \"{}\";\n", key_id()));
    t.git(&["commit", "-q", "--no-verify", "-m", "again"]);
    t.keygate(&["history"])
        .status(1)
        .stdout_has("in the tree now: rotate it");
}

/// A clone of keygate's own repository (its committed HEAD, one branch, as
/// a user clones it), or `None` with a message when the tests do not run in
/// a git checkout.
fn own_clone(t: &Test) -> Option<std::path::PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let inside = t.git_in(manifest, &["rev-parse", "--is-shallow-repository"]);
    if inside.status != Some(0) || inside.stdout.trim() != "false" {
        eprintln!("skipped: keygate's own sources are not a whole git clone here");
        return None;
    }
    let clone = t.path().join("keygate");
    t.git(&[
        "clone",
        "-q",
        "--single-branch",
        &manifest.to_string_lossy(),
        &clone.to_string_lossy(),
    ]);
    Some(clone)
}

/// Issue 16.8: keygate's own repository passes its own gates with its own
/// `.keygate.toml`: `keygate history` in a clone exits 0, and a push of the
/// whole history to a server gated with that config is accepted.
#[test]
fn keygate_passes_its_own_gates() {
    let t = Test::dir();
    let Some(clone) = own_clone(&t) else { return };
    let history = t.keygate_in(&clone, &["history"], None);
    history.status(0);

    let server = t.path().join("server.git");
    t.git(&[
        "init",
        "-q",
        "--bare",
        "-b",
        "main",
        &server.to_string_lossy(),
    ]);
    install_hook(&server.join("hooks"), "pre-receive");
    // `.keygate.toml` as it is, plus a time budget: the binary under test is
    // a debug build, several times slower than a release build (which takes
    // well under a second for this push), on a machine running the other
    // tests; the budget is not what this test is about.
    let own = std::fs::read_to_string(clone.join(".keygate.toml")).expect(".keygate.toml");
    assert!(!own.contains("[server]"), "the test would override it");
    let config = clone.join("server.toml");
    std::fs::write(
        &config,
        format!("{own}\n[server]\ntime_budget_seconds = 300\n"),
    )
    .expect("server config");
    t.git_in(
        &server,
        &["config", "keygate.config", &config.to_string_lossy()],
    );
    let push = t.git_in(
        &clone,
        &[
            "push",
            "-q",
            &server.to_string_lossy(),
            "HEAD:refs/heads/main",
        ],
    );
    push.status(0);
    let pushed = t.git_in(&server, &["rev-parse", "main"]);
    let head = t.git_in(&clone, &["rev-parse", "HEAD"]);
    assert_eq!(pushed.stdout, head.stdout);
}

/// The real `pre-commit` package, installed once per build directory in a
/// virtualenv of its own (`python3 -m venv`, `pip install pre-commit`), or
/// `None` with a message when it cannot be installed here.
fn pre_commit() -> Option<PathBuf> {
    static VENV: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    VENV.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pre-commit-venv");
        let exe = dir.join("bin/pre-commit");
        let ready = dir.join("keygate-ready");
        if ready.exists() && exe.exists() {
            return Some(exe);
        }
        let _ = std::fs::remove_dir_all(&dir);
        let run = |program: &Path, args: &[&str]| {
            std::process::Command::new(program)
                .args(args)
                .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
                .stdin(std::process::Stdio::null())
                .output()
        };
        let venv = run(
            Path::new("python3"),
            &["-m", "venv", &dir.to_string_lossy()],
        );
        if !venv.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("skipped: cannot make a virtualenv (python3 -m venv): {venv:?}");
            return None;
        }
        let pip = run(
            &dir.join("bin/pip"),
            &[
                "install",
                "-q",
                "--retries",
                "2",
                "--timeout",
                "30",
                "pre-commit",
            ],
        );
        if !pip.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("skipped: cannot install pre-commit with pip: {pip:?}");
            return None;
        }
        std::fs::write(&ready, "").ok()?;
        Some(exe)
    })
    .clone()
}

/// A repository whose `.pre-commit-config.yaml` declares keygate's hooks
/// exactly as `.pre-commit-hooks.yaml` does (as a `repo: local` hook with
/// `language: system`, so the framework runs the binary under test from
/// PATH instead of building keygate with cargo).
struct Framework {
    repo: Test,
    exe: PathBuf,
    home: crate::util::TempDir,
}

impl Framework {
    fn new(exe: PathBuf) -> Framework {
        let manifest = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(".pre-commit-hooks.yaml"),
        )
        .expect(".pre-commit-hooks.yaml");
        let mut config = String::from("repos:\n  - repo: local\n    hooks:\n");
        for line in manifest.lines() {
            let line = line.replace("language: rust", "language: system");
            config.push_str(&format!("      {line}\n"));
        }
        assert!(config.contains("language: system"));
        let repo = Test::repo();
        repo.write(".pre-commit-config.yaml", config);
        repo.write("README.md", "# x\n");
        repo.git(&["add", "."]);
        repo.git(&["commit", "-q", "-m", "init"]);
        Framework {
            repo,
            exe,
            home: crate::util::TempDir::new(),
        }
    }

    fn command(&self, program: &Path, args: &[&str]) -> crate::util::Run {
        let bin = Path::new(crate::util::KEYGATE).parent().expect("bin dir");
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let output = std::process::Command::new(program)
            .args(args)
            .current_dir(self.repo.path())
            .env("PATH", path)
            .env("HOME", self.repo.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("PRE_COMMIT_HOME", self.home.path())
            .env("PRE_COMMIT_COLOR", "never")
            .env_remove("GIT_DIR")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_WORK_TREE")
            .env_remove("PRE_COMMIT_FROM_REF")
            .env_remove("PRE_COMMIT_TO_REF")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run");
        crate::util::Run {
            status: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn run(&self, args: &[&str]) -> crate::util::Run {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        self.command(&self.exe, &all)
    }

    fn git(&self, args: &[&str]) -> crate::util::Run {
        self.command(Path::new("git"), args)
    }

    fn commit_unchecked(&self, name: &str, content: &str, message: &str) -> String {
        self.repo.stage(name, content);
        self.repo
            .git(&["commit", "-q", "--no-verify", "-m", message]);
        self.repo.git(&["rev-parse", "HEAD"]).trim().to_string()
    }
}

/// Issue 16.3: the pre-commit framework's hook, through the real
/// `pre-commit` package, does the useful thing in each way the framework
/// runs it: a commit checks the staged changes, `--all-files` and `--files`
/// the files in full, `--from-ref/--to-ref` the commits in the range.
#[test]
fn pre_commit_framework_checks_what_each_mode_means() {
    let Some(exe) = pre_commit() else { return };
    let f = Framework::new(exe);
    let old = f.commit_unchecked("old.env", &key_line(), "an old key");

    // CI: `pre-commit run --all-files` on a tree with a key fails.
    let all = f.run(&["--all-files"]);
    all.status(1).stdout_has("old.env").stdout_has("Failed");
    f.run(&["--files", "old.env"])
        .status(1)
        .stdout_has("old.env");
    f.run(&["--files", "README.md"])
        .status(0)
        .stdout_has("Passed");

    // A commit: only what is staged. An old key elsewhere in a staged file
    // does not block; a new one does, worded for a commit.
    let installed = f.command(&f.exe, &["install", "--hook-type", "pre-commit"]);
    installed.status(0);
    f.repo
        .stage("old.env", format!("{}region = eu-west-1\n", key_line()));
    let commit = f.git(&["commit", "-q", "-m", "edit around the old key"]);
    commit.status(0);
    f.repo.stage(
        "new.env",
        format!("AWS_ACCESS_KEY_ID={}\n", crate::util::key_id2()),
    );
    let blocked = f.git(&["commit", "-q", "-m", "a new key"]);
    blocked
        .status(1)
        .output_has("commit blocked")
        .output_has("new.env")
        .output_has("has not left this machine");
    // `pre-commit run` by hand with no file arguments: the staged changes too.
    f.run(&[])
        .status(1)
        .stdout_has("new.env")
        .never_shows("old.env:");
    f.repo.git(&["rm", "-q", "--cached", "new.env"]);
    std::fs::remove_file(f.repo.path().join("new.env")).unwrap();

    // A range: every commit in it, even one whose key a later commit removed.
    let base = f.repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    let added = f.commit_unchecked("tmp.env", &key_line(), "add a key");
    f.repo.git(&["rm", "-q", "tmp.env"]);
    f.repo
        .git(&["commit", "-q", "--no-verify", "-m", "remove it"]);
    let head = f.repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    let range = f.run(&["--from-ref", &base, "--to-ref", &head]);
    range
        .status(1)
        .stdout_has("tmp.env")
        .stdout_has(&added[..12]);
    let clean = f.commit_unchecked("clean.txt", "nothing here\n", "clean");
    f.run(&["--from-ref", &head, "--to-ref", &clean])
        .status(0)
        .stdout_has("Passed");
    assert_ne!(old, clean);
}

/// The hook ids and entries a `.pre-commit-hooks.yaml` declares.
fn manifest_hooks(text: &str) -> Vec<(String, String)> {
    let mut hooks = Vec::new();
    for line in text.lines() {
        if let Some(id) = line.strip_prefix("- id:") {
            hooks.push((id.trim().to_string(), String::new()));
        } else if let (Some(entry), Some(last)) =
            (line.trim().strip_prefix("entry:"), hooks.last_mut())
        {
            last.1 = entry.trim().to_string();
        }
    }
    hooks
}

/// Issue 16.4: the README's pre-commit snippet works: the framework
/// accepts it, its `rev` is a commit in this repository's history, and the
/// manifest at that commit declares the hooks it names, with the entries
/// they have today.
#[test]
fn readme_pre_commit_snippet_names_a_rev_that_works() {
    let text = readme();
    let section = text
        .split("### With the pre-commit framework")
        .nth(1)
        .expect("the README's pre-commit section");
    let snippet = section
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a yaml block in the pre-commit section");
    let rev = snippet
        .lines()
        .find_map(|l| l.trim().strip_prefix("rev:"))
        .map(|r| r.split('#').next().unwrap_or_default().trim().to_string())
        .expect("a rev in the snippet");
    assert!(
        rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit()),
        "the snippet's rev {rev:?} is not a full commit id"
    );
    let ids: Vec<String> = snippet
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- id:"))
        .map(|id| id.split('#').next().unwrap_or_default().trim().to_string())
        .collect();
    let current = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(".pre-commit-hooks.yaml"),
    )
    .expect(".pre-commit-hooks.yaml");
    let current = manifest_hooks(&current);
    for id in &ids {
        assert!(
            current.iter().any(|(have, _)| have == id),
            "the snippet names hook {id:?}, which .pre-commit-hooks.yaml does not declare"
        );
    }

    let t = Test::dir();
    if let Some(exe) = pre_commit() {
        t.write("snippet.yaml", snippet);
        let run = std::process::Command::new(&exe)
            .args(["validate-config", "snippet.yaml"])
            .current_dir(t.path())
            .output()
            .expect("pre-commit validate-config");
        assert!(
            run.status.success(),
            "pre-commit rejects the README's snippet: {}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
    }

    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shallow = t.git_in(manifest_dir, &["rev-parse", "--is-shallow-repository"]);
    if shallow.status != Some(0) || shallow.stdout.trim() != "false" {
        eprintln!("skipped the rev check: keygate's sources are not a whole git clone here");
        return;
    }
    let ancestor = t.git_in(manifest_dir, &["merge-base", "--is-ancestor", &rev, "HEAD"]);
    assert_eq!(
        ancestor.status,
        Some(0),
        "the README's pre-commit rev {rev} is not a commit in this repository's history \
         (was the branch that made it squashed or rebased? point rev at a commit that has \
         .pre-commit-hooks.yaml as it is now): {}",
        ancestor.stderr
    );
    let then = t.git_in(
        manifest_dir,
        &["show", &format!("{rev}:.pre-commit-hooks.yaml")],
    );
    then.status(0);
    let then = manifest_hooks(&then.stdout);
    for id in &ids {
        let at_rev = then.iter().find(|(have, _)| have == id);
        let now = current.iter().find(|(have, _)| have == id);
        assert_eq!(
            at_rev, now,
            "hook {id:?} at the README's rev {rev} differs from .pre-commit-hooks.yaml now: \
             commit the manifest, then point the README's rev at that commit"
        );
    }
}

/// Runs `command` (a shell command line) on a pseudo-terminal with
/// util-linux `script`, or `None` with a message where there is none.
fn on_a_terminal(dir: &Path, command: &str) -> Option<crate::util::Run> {
    let output = std::process::Command::new("script")
        .args(["-qec", command, "/dev/null"])
        .current_dir(dir)
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(std::process::Stdio::null())
        .output();
    match output {
        Ok(output) if output.status.code().is_some() => Some(crate::util::Run {
            status: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }),
        other => {
            eprintln!("skipped: no `script` to run keygate on a terminal: {other:?}");
            None
        }
    }
}

/// Issue 16.9: a clean `scan` on a terminal says in one line what it read;
/// piped, and in hooks, it says nothing.
#[test]
fn clean_scan_on_a_terminal_prints_a_summary_and_nothing_when_piped() {
    let t = Test::repo();
    t.write(".gitignore", "/build\n");
    t.write("a.txt", "hello\n");
    t.write("src/b.rs", "fn main() {}\n");
    t.write("build/out.txt", key_line());
    let scan = format!("'{}' scan .", crate::util::KEYGATE);
    let Some(run) = on_a_terminal(t.path(), &scan) else {
        return;
    };
    run.status(0)
        .stdout_has("keygate: no AWS credentials in 3 file(s), 26 bytes, read in ")
        .stdout_has("what git ignores was skipped (--no-ignore reads it)");
    assert_eq!(run.stdout.trim().lines().count(), 1, "{}", run.stdout);
    // Piped: silent.
    let piped = t.keygate(&["scan", "."]);
    piped.status(0);
    assert_eq!(piped.stdout, "");
    assert_eq!(piped.stderr, "");
    // A hook on a terminal: silent when clean.
    t.git(&["add", "a.txt"]);
    let hook = format!("'{}' hook pre-commit", crate::util::KEYGATE);
    let hook = on_a_terminal(t.path(), &hook).expect("script ran once already");
    hook.status(0);
    assert_eq!(hook.stdout.trim(), "", "{}", hook.stdout);
    // Findings: the report, no summary.
    let found = format!("'{}' scan --no-ignore .", crate::util::KEYGATE);
    let found = on_a_terminal(t.path(), &found).expect("script");
    found.status(1).never_shows("no AWS credentials in");
}

/// Issue 16.2: from outside a repository, paths are named from the current
/// directory: two repositories scanned together keep their files apart.
#[test]
fn outside_a_repository_paths_are_named_from_the_current_directory() {
    let t = Test::dir();
    for repo in ["one", "two"] {
        t.git(&["init", "-q", repo]);
        t.write(&format!("{repo}/app.env"), key_line());
    }
    let run = t.keygate(&["scan", "--format", "json", "one", "./two/"]);
    run.status(1);
    assert_eq!(paths_of(&run), ["one/app.env", "two/app.env"]);
}
