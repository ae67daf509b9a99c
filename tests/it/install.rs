//! install.sh and the hook scripts (hooks/pre-commit, pre-push, pre-receive):
//! real repositories, real commits and pushes through the installed hooks.
//! install.sh always gets KEYGATE_BIN, so no test runs cargo.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::*;

const MARKER: &str = "# keygate-managed-hook";

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(command: &mut Command) -> Run {
    let output = command.stdin(Stdio::null()).output().expect("run command");
    Run {
        status: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A command isolated like `Test::git_run`: HOME is the test directory, no
/// system config, no repository from the environment.
fn isolated(t: &Test, program: &str, dir: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .current_dir(dir)
        .env("HOME", t.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("GIT_DIR")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_WORK_TREE");
    command
}

/// Runs install.sh with `args` in `dir`, using the binary `bin`.
fn install_in(t: &Test, dir: &Path, bin: &str, args: &[&str]) -> Run {
    let mut command = isolated(t, "bash", dir);
    command
        .arg(manifest_dir().join("install.sh"))
        .args(args)
        .env("KEYGATE_BIN", bin)
        .env_remove("CARGO_HOME");
    run(&mut command)
}

/// Runs install.sh with `args` in the test directory, using the built binary.
fn install(t: &Test, args: &[&str]) -> Run {
    install_in(t, t.path(), KEYGATE, args)
}

/// Runs git in `dir` with extra environment; `KEYGATE_BIN` unset unless given.
fn git_env(t: &Test, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = isolated(t, "git", dir);
    command.args(args).env_remove("KEYGATE_BIN");
    for (key, value) in env {
        command.env(key, value);
    }
    run(&mut command)
}

/// A PATH with git on it but not keygate, like a GUI client's minimal one.
fn minimal_path() -> String {
    let dir = ["/usr/bin", "/bin", "/usr/local/bin"]
        .into_iter()
        .find(|dir| Path::new(dir).join("git").exists())
        .expect("git in /usr/bin, /bin or /usr/local/bin");
    assert!(
        !Path::new(dir).join("keygate").exists(),
        "{dir} holds a keygate: the minimal-PATH tests would prove nothing"
    );
    format!("{dir}:/bin")
}

fn env_file() -> String {
    format!(
        "AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}\n",
        key_id(),
        secret()
    )
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn write_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A pre-existing hook that appends "<tag> ran" to `hook.log` in the
/// repository's top directory (where git runs hooks).
fn logging_hook(tag: &str) -> String {
    format!("#!/bin/sh\necho '{tag} ran' >> hook.log\n")
}

fn log_lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("hook.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The binary's path as install.sh bakes it (its directory resolved).
fn baked_bin() -> String {
    let bin = Path::new(KEYGATE);
    let dir = std::fs::canonicalize(bin.parent().unwrap()).unwrap();
    dir.join(bin.file_name().unwrap())
        .to_str()
        .unwrap()
        .to_string()
}

fn hooks(t: &Test) -> PathBuf {
    t.path().join(".git/hooks")
}

/// The hook files in `dir`, without git's samples, sorted.
fn hook_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".sample"))
        .collect();
    names.sort();
    names
}

fn count_in(t: &Test, dir: &Path) -> usize {
    let run = git_env(t, dir, &["rev-list", "--count", "HEAD"], &[]);
    run.stdout.trim().parse().unwrap_or(0)
}

/// Stages a key in the repository `dir`, checks the commit is refused and
/// nothing recorded, then unstages it.
#[track_caller]
fn key_commit_is_refused(t: &Test, dir: &Path, env: &[(&str, &str)]) -> Run {
    let before = count_in(t, dir);
    std::fs::write(dir.join("app.env"), env_file()).unwrap();
    git_env(t, dir, &["add", "app.env"], &[]).status(0);
    let run = git_env(t, dir, &["commit", "-q", "-m", "add config"], env);
    assert_ne!(
        run.status,
        Some(0),
        "a commit with a key went through: {run:?}"
    );
    run.output_has("app.env")
        .never_shows(&key_id())
        .never_shows(&secret());
    assert_eq!(count_in(t, dir), before, "a refused commit was recorded");
    git_env(t, dir, &["rm", "-q", "--cached", "app.env"], &[]).status(0);
    std::fs::remove_file(dir.join("app.env")).unwrap();
    run
}

/// Commits a clean change in the repository `dir` and checks it is recorded.
#[track_caller]
fn clean_commit_succeeds(t: &Test, dir: &Path, env: &[(&str, &str)]) -> Run {
    let before = count_in(t, dir);
    let name = format!("notes{before}.txt");
    std::fs::write(dir.join(&name), format!("note {before}\n")).unwrap();
    git_env(t, dir, &["add", &name], &[]).status(0);
    let run = git_env(t, dir, &["commit", "-q", "-m", "notes"], env);
    run.status(0);
    assert_eq!(count_in(t, dir), before + 1);
    run
}

// --- install.sh into a repository -------------------------------------------

#[test]
fn installed_hook_refuses_a_staged_key_then_allows_a_clean_commit() {
    let t = Test::repo();
    install(&t, &[])
        .status(0)
        .stdout_has("installed keygate's pre-commit hook")
        .stdout_has(".git/hooks/pre-commit");
    let hook = hooks(&t).join("pre-commit");
    assert!(is_executable(&hook));
    assert_eq!(hook_files(&hooks(&t)), ["commit-msg", "pre-commit"]);
    assert!(is_executable(&hooks(&t).join("commit-msg")));

    t.stage("README.md", "# project\n");
    t.commit("init").status(0);
    t.stage("app.env", env_file());
    let run = t.commit("add config");
    run.status(1)
        .output_has("app.env:1:19")
        .output_has("commit blocked")
        .never_shows(&key_id())
        .never_shows(&secret());
    assert_eq!(t.commit_count(), 1);

    t.git(&["rm", "-q", "--cached", "app.env"]);
    t.stage("src/config.rs", "let region = \"eu-west-1\";\n");
    t.commit("config").status(0);
    assert_eq!(t.commit_count(), 2);
}

#[test]
fn installed_hook_calls_the_binary_by_its_absolute_path_with_a_minimal_path() {
    let t = Test::repo();
    install(&t, &[]).status(0);
    let hook = read(&hooks(&t).join("pre-commit"));
    assert!(
        hook.contains(&format!("keygate_bin='{}'", baked_bin())),
        "the binary's path is not baked in:\n{hook}"
    );
    // A GUI client's PATH: git, but no keygate; no KEYGATE_BIN either.
    let path = minimal_path();
    let env = [("PATH", path.as_str())];
    key_commit_is_refused(&t, t.path(), &env).status(1);
    clean_commit_succeeds(&t, t.path(), &env);
    key_commit_is_refused(&t, t.path(), &env).status(1);
}

#[test]
fn install_twice_keeps_one_hook_and_the_original_once() {
    let t = Test::repo();
    let original = logging_hook("original");
    write_script(&hooks(&t).join("pre-commit"), &original);
    install(&t, &[])
        .status(0)
        .stdout_has("kept as")
        .stdout_has("pre-commit.keygate-previous");
    install(&t, &[])
        .status(0)
        .stdout_has("updated keygate's pre-commit hook");

    let hook = read(&hooks(&t).join("pre-commit"));
    assert_eq!(hook.matches(MARKER).count(), 1, "{hook}");
    assert_eq!(
        hook_files(&hooks(&t)),
        ["commit-msg", "pre-commit", "pre-commit.keygate-previous"]
    );
    assert_eq!(
        read(&hooks(&t).join("pre-commit.keygate-previous")),
        original
    );

    // The original runs once per commit: keygate is not chained to itself.
    clean_commit_succeeds(&t, t.path(), &[]);
    assert_eq!(log_lines(t.path()), ["original ran"]);
}

#[test]
fn existing_hook_is_kept_and_still_runs_before_keygate() {
    let t = Test::repo();
    write_script(&hooks(&t).join("pre-commit"), &logging_hook("original"));
    install(&t, &[]).status(0);

    // Its side effect happens on a clean commit...
    clean_commit_succeeds(&t, t.path(), &[]);
    assert_eq!(log_lines(t.path()), ["original ran"]);
    // ...and first, when keygate then refuses.
    key_commit_is_refused(&t, t.path(), &[]).status(1);
    assert_eq!(log_lines(t.path()), ["original ran", "original ran"]);
}

#[test]
fn existing_hook_that_refuses_still_refuses() {
    let t = Test::repo();
    write_script(
        &hooks(&t).join("pre-commit"),
        "#!/bin/sh\necho 'local policy: no commits today' >&2\nexit 3\n",
    );
    install(&t, &[]).status(0);
    t.stage("notes.txt", "clean\n");
    let run = t.commit("notes");
    run.status(1)
        .stderr_has("local policy: no commits today")
        .stderr_has("pre-commit.keygate-previous (exit 3)");
    assert_eq!(t.commit_count(), 0);
}

#[test]
fn core_hooks_path_is_honoured_and_both_hooks_run() {
    let t = Test::repo();
    t.git(&["config", "core.hooksPath", ".githooks"]);
    write_script(
        &t.path().join(".githooks/pre-commit"),
        &logging_hook("githooks"),
    );
    install(&t, &[])
        .status(0)
        .stdout_has(".githooks/pre-commit");

    let dir = t.path().join(".githooks");
    assert_eq!(
        hook_files(&dir),
        ["commit-msg", "pre-commit", "pre-commit.keygate-previous"]
    );
    assert!(read(&dir.join("pre-commit")).contains(MARKER));
    assert!(!hooks(&t).join("pre-commit").exists());

    key_commit_is_refused(&t, t.path(), &[]).status(1);
    assert_eq!(log_lines(t.path()), ["githooks ran"]);
    clean_commit_succeeds(&t, t.path(), &[]);
    assert_eq!(log_lines(t.path()), ["githooks ran", "githooks ran"]);
}

#[test]
fn install_with_repo_from_elsewhere() {
    let t = Test::dir();
    t.git(&["init", "-q", "-b", "main", "project"]);
    let elsewhere = t.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    install_in(&t, &elsewhere, KEYGATE, &["--repo", "../project"])
        .status(0)
        .stdout_has("project/.git/hooks/pre-commit");
    assert!(read(&t.path().join("project/.git/hooks/pre-commit")).contains(MARKER));
}

#[test]
fn installed_commit_msg_hook_checks_the_message_an_existing_hook_wrote() {
    let t = Test::repo();
    // A hook like Gerrit's, which edits the message in place.
    let id = key_id();
    let editing = "#!/bin/sh\nprintf 'Trailer: %s\\n' \"$(cat trailer)\" >> \"$1\"\n".to_string();
    write_script(&hooks(&t).join("commit-msg"), &editing);
    install(&t, &[])
        .status(0)
        .stdout_has("installed keygate's commit-msg hook")
        .stdout_has("commit-msg.keygate-previous");
    t.write("trailer", "clean\n");
    t.stage("README.md", "# x\n");
    t.commit("init").status(0);
    // What the kept hook writes is what keygate checks.
    t.write("trailer", format!("{id}\n"));
    t.stage("notes.txt", "n\n");
    t.commit("notes")
        .status(1)
        .output_has("in the commit message")
        .never_shows(&id);
    assert_eq!(t.commit_count(), 1);
    // Uninstall puts the kept hook back.
    install(&t, &["--uninstall"])
        .status(0)
        .stdout_has("removed keygate's commit-msg hook");
    assert_eq!(read(&hooks(&t).join("commit-msg")), editing);
}

#[test]
fn uninstall_restores_the_original_hook() {
    let t = Test::repo();
    let original = "#!/bin/sh\necho original >&2\n";
    write_script(&hooks(&t).join("pre-commit"), original);
    install(&t, &[]).status(0);
    install(&t, &["--uninstall"])
        .status(0)
        .stdout_has("removed keygate's pre-commit hook")
        .stdout_has("put back");
    assert_eq!(hook_files(&hooks(&t)), ["pre-commit"]);
    assert_eq!(read(&hooks(&t).join("pre-commit")), original);
    assert!(is_executable(&hooks(&t).join("pre-commit")));

    // Without a kept hook, uninstall leaves no hook at all.
    let u = Test::repo();
    install(&u, &[]).status(0);
    install(&u, &["--uninstall"]).status(0);
    assert!(hook_files(&hooks(&u)).is_empty());
    u.stage("app.env", env_file());
    u.commit("no gate any more").status(0);
}

#[test]
fn uninstall_leaves_a_hook_that_is_not_keygates_alone() {
    let t = Test::repo();
    let foreign = "#!/bin/sh\nexit 0\n";
    write_script(&hooks(&t).join("pre-commit"), foreign);
    install(&t, &["--uninstall"])
        .status(0)
        .stdout_has("not keygate's: left alone");
    assert_eq!(read(&hooks(&t).join("pre-commit")), foreign);
}

#[test]
fn never_overwrites_when_a_kept_hook_is_already_there() {
    let t = Test::repo();
    write_script(&hooks(&t).join("pre-commit"), "#!/bin/sh\n# new\n");
    write_script(
        &hooks(&t).join("pre-commit.keygate-previous"),
        "#!/bin/sh\n# old\n",
    );
    install(&t, &[])
        .status(1)
        .stderr_has("move one of them away");
    assert_eq!(read(&hooks(&t).join("pre-commit")), "#!/bin/sh\n# new\n");
    assert_eq!(
        read(&hooks(&t).join("pre-commit.keygate-previous")),
        "#!/bin/sh\n# old\n"
    );
}

#[test]
fn husky_hooks_directory_is_refused_with_advice() {
    let t = Test::repo();
    t.git(&["config", "core.hooksPath", ".husky/_"]);
    write_script(
        &t.path().join(".husky/_/pre-commit"),
        "#!/bin/sh\n. \"${0%/*}/h\"\n",
    );
    install(&t, &[])
        .status(1)
        .stderr_has("husky")
        .stderr_has("keygate hook pre-commit");
    assert_eq!(hook_files(&t.path().join(".husky/_")), ["pre-commit"]);
}

#[test]
fn outside_a_repository_installs_no_hook() {
    let t = Test::dir();
    install(&t, &[])
        .status(0)
        .stdout_has("keygate 0.1.0")
        .stdout_has("no hook was installed");
    assert!(!t.path().join(".git").exists());
    install(&t, &["--uninstall"])
        .status(1)
        .stderr_has("not in a git repository");
}

#[test]
fn bad_arguments_and_bad_binaries_are_clear_errors() {
    let t = Test::repo();
    install(&t, &["--help"])
        .status(0)
        .stdout_has("--global")
        .stdout_has("--server")
        .stdout_has("--uninstall");
    install(&t, &["--frobnicate"])
        .status(1)
        .stderr_has("unknown argument");
    install(&t, &["--global", "--server", "x"])
        .status(1)
        .stderr_has("cannot be combined");
    let missing = t.path().join("no-such-keygate");
    install_in(&t, t.path(), missing.to_str().unwrap(), &[])
        .status(1)
        .stderr_has("not an executable file");
    assert!(!hooks(&t).join("pre-commit").exists());
    t.git(&["init", "-q", "--bare", "bare.git"]);
    install(&t, &["--repo", "bare.git"])
        .status(1)
        .stderr_has("--server");
}

// --- failing closed ----------------------------------------------------------

#[test]
fn installed_hook_fails_closed_when_the_binary_is_gone() {
    let t = Test::repo();
    let link = t.path().join("tools/keygate");
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(KEYGATE, &link).unwrap();
    install_in(&t, t.path(), link.to_str().unwrap(), &[]).status(0);
    std::fs::remove_file(&link).unwrap();

    t.stage("notes.txt", "clean\n");
    // Even with a working keygate in KEYGATE_BIN: the baked path is the one.
    let run = git_env(
        &t,
        t.path(),
        &["commit", "-q", "-m", "notes"],
        &[("KEYGATE_BIN", KEYGATE)],
    );
    assert_ne!(run.status, Some(0), "{run:?}");
    run.stderr_has("does not exist")
        .stderr_has("tools/keygate")
        .stderr_has("commit refused")
        .stderr_has("install.sh");
    assert_eq!(t.commit_count(), 0);
}

/// The hook copied by hand, run by a commit with `env`; returns the run.
fn hand_copied_hook_commit(env: &[(&str, &str)]) -> Run {
    let t = Test::repo();
    t.install_pre_commit_hook();
    t.stage("notes.txt", "clean\n");
    let run = git_env(&t, t.path(), &["commit", "-q", "-m", "notes"], env);
    if run.status == Some(0) {
        assert_eq!(t.commit_count(), 1);
    } else {
        assert_eq!(t.commit_count(), 0, "a refused commit was recorded");
    }
    run
}

#[test]
fn hook_fails_closed_when_keygate_is_not_found() {
    let path = minimal_path();
    let run = hand_copied_hook_commit(&[("PATH", path.as_str())]);
    assert_ne!(run.status, Some(0), "{run:?}");
    run.stderr_has("not found on PATH")
        .stderr_has("commit refused")
        .stderr_has("install.sh")
        .stderr_has("KEYGATE_BIN");

    let run = hand_copied_hook_commit(&[("KEYGATE_BIN", "/nonexistent/keygate")]);
    assert_ne!(run.status, Some(0), "{run:?}");
    run.stderr_has("/nonexistent/keygate, which does not exist")
        .stderr_has("install.sh");
}

#[test]
fn hook_fails_closed_when_keygate_misbehaves() {
    let fakes = Test::dir();
    let cases = [
        ("killed", "kill -9 $$", "killed by signal 9"),
        ("odd-exit", "exit 3", "exited with status 3"),
        ("not-executable", "", "not executable"),
    ];
    for (name, body, message) in cases {
        let fake = fakes.path().join(name);
        write_script(&fake, &format!("#!/bin/sh\n{body}\n"));
        if name == "not-executable" {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let run = hand_copied_hook_commit(&[("KEYGATE_BIN", fake.to_str().unwrap())]);
        assert_ne!(run.status, Some(0), "{name}: {run:?}");
        run.stderr_has(message).stderr_has("install.sh");
    }
    // keygate's own error (exit 2) refuses too, and says so.
    let fake = fakes.path().join("error");
    write_script(
        &fake,
        "#!/bin/sh\necho 'keygate: error: broken config' >&2\nexit 2\n",
    );
    let run = hand_copied_hook_commit(&[("KEYGATE_BIN", fake.to_str().unwrap())]);
    run.status(1)
        .stderr_has("broken config")
        .stderr_has("could not complete its check");
    // And 0 from keygate lets the commit through.
    let fake = fakes.path().join("clean");
    write_script(&fake, "#!/bin/sh\nexit 0\n");
    hand_copied_hook_commit(&[("KEYGATE_BIN", fake.to_str().unwrap())]).status(0);
}

// --- the hook scripts ---------------------------------------------------------

#[test]
fn hook_scripts_are_one_posix_script() {
    let text = |name: &str| read(&manifest_dir().join("hooks").join(name));
    let pre_commit = text("pre-commit");
    for (name, stdin) in [
        ("pre-commit", "no"),
        ("commit-msg", "no"),
        ("pre-push", "yes"),
        ("pre-receive", "yes"),
    ] {
        let path = manifest_dir().join("hooks").join(name);
        assert!(is_executable(&path), "hooks/{name} is not executable");
        let script = text(name);
        assert!(script.starts_with("#!/bin/sh\n# keygate-managed-hook\n"));
        assert!(script.contains(&format!("\nkeygate_hook={name}\n")));
        assert!(script.contains(&format!("\nkeygate_stdin={stdin}\n")));
        assert!(script.contains("\nkeygate_bin=''\n"));
        assert!(script.contains("\nkeygate_repo_hooks=no\n"));
        // The same script but for the title line, keygate_hook and keygate_stdin.
        assert_eq!(
            pre_commit.lines().count(),
            script.lines().count(),
            "hooks/{name}"
        );
        let differing: Vec<(&str, &str)> = pre_commit
            .lines()
            .zip(script.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert!(
            differing
                .iter()
                .all(|(a, _)| a.starts_with("# keygate's pre-commit hook:")
                    || a.starts_with("keygate_hook=")
                    || a.starts_with("keygate_stdin=")),
            "hooks/{name} differs from hooks/pre-commit beyond its name: {differing:?}"
        );
        for shell in ["sh", "dash", "bash"] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {shell}")])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if found {
                let check = run(Command::new(shell).arg("-n").arg(&path));
                assert_eq!(check.status, Some(0), "{shell} -n hooks/{name}: {check:?}");
            }
        }
    }
}

#[test]
fn push_hooks_pass_arguments_and_stdin_to_the_kept_hook_and_keygate() {
    let t = Test::dir();
    let dir = t.path().join("hooks");
    let hook = dir.join("pre-push");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(manifest_dir().join("hooks/pre-push"), &hook).unwrap();
    let record = |file: &str| {
        format!(
            "#!/bin/sh\n{{ printf '%s|' \"$@\"; echo; cat; }} > '{}'\n",
            t.path().join(file).display()
        )
    };
    write_script(
        &dir.join("pre-push.keygate-previous"),
        &record("previous.txt"),
    );
    let fake = t.path().join("fake-keygate");
    write_script(&fake, &format!("{}exit 1\n", record("keygate.txt")));

    let input = "refs/heads/main 1111 refs/heads/main 2222\nrefs/tags/v1 3333 refs/tags/v1 4444\n";
    let mut child = isolated(&t, "sh", t.path())
        .arg(&hook)
        .args(["origin", "https://example.com/repo.git"])
        .env("KEYGATE_BIN", &fake)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).unwrap();
    }
    let output = child.wait_with_output().unwrap();
    // keygate's status is the hook's.
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let args = "origin|https://example.com/repo.git|\n";
    assert_eq!(
        read(&t.path().join("previous.txt")),
        format!("{args}{input}")
    );
    assert_eq!(
        read(&t.path().join("keygate.txt")),
        format!("hook|pre-push|{args}{input}")
    );
}

// --- --pre-push, --server, --global -------------------------------------------

/// A bare "server" repository in `t` and a client repository (`client/`)
/// whose origin it is.
fn server_and_client(t: &Test) -> (PathBuf, PathBuf) {
    t.git(&["init", "-q", "--bare", "-b", "main", "server.git"]);
    t.git(&["init", "-q", "-b", "main", "client"]);
    let client = t.path().join("client");
    let setup: [&[&str]; 3] = [
        &["config", "user.email", "dev@example.com"],
        &["config", "user.name", "Dev"],
        &["remote", "add", "origin", "../server.git"],
    ];
    for args in setup {
        git_env(t, &client, args, &[]).status(0);
    }
    (t.path().join("server.git"), client)
}

fn commit_no_verify(t: &Test, dir: &Path, name: &str, content: &str) {
    std::fs::write(dir.join(name), content).unwrap();
    git_env(t, dir, &["add", name], &[]).status(0);
    git_env(t, dir, &["commit", "-q", "--no-verify", "-m", name], &[]).status(0);
}

/// From `client`, a clean commit is pushed to `server`; a commit with a key
/// is refused and leaves the server's ref where it was. Returns the refused
/// push, for what it says.
fn clean_push_passes_keyed_push_is_refused(t: &Test, server: &Path, client: &Path) -> Run {
    commit_no_verify(t, client, "README.md", "# x\n");
    git_env(t, client, &["push", "-q", "origin", "main"], &[]).status(0);
    let before = server_ref(t, server);
    assert!(before.is_some());
    commit_no_verify(t, client, "app.env", &env_file());
    let run = git_env(t, client, &["push", "-q", "origin", "main"], &[]);
    assert_ne!(run.status, Some(0), "{run:?}");
    assert_eq!(server_ref(t, server), before);
    run
}

fn server_ref(t: &Test, server: &Path) -> Option<String> {
    let run = git_env(
        t,
        server,
        &["rev-parse", "--verify", "-q", "refs/heads/main"],
        &[],
    );
    (run.status == Some(0)).then(|| run.stdout.trim().to_string())
}

fn identity(t: &Test, dir: &Path) {
    git_env(t, dir, &["config", "user.email", "dev@example.com"], &[]).status(0);
    git_env(t, dir, &["config", "user.name", "Dev"], &[]).status(0);
}

#[test]
fn server_install_puts_pre_receive_in_a_bare_repository() {
    let t = Test::dir();
    let (server, client) = server_and_client(&t);
    install(&t, &["--server", "server.git"])
        .status(0)
        .stdout_has("installed keygate's pre-receive hook");
    let hook = server.join("hooks/pre-receive");
    assert!(is_executable(&hook));
    let text = read(&hook);
    assert!(text.contains(MARKER));
    assert!(
        text.contains(&format!("keygate_bin='{}'", baked_bin())),
        "{text}"
    );
    assert!(text.contains("\nkeygate_hook=pre-receive\n"));

    // A real push: the key is rejected, a clean push goes through.
    let run = clean_push_passes_keyed_push_is_refused(&t, &server, &client);
    run.stderr_has("app.env")
        .never_shows(&key_id())
        .never_shows(&secret());

    install(&t, &["--server", "server.git", "--uninstall"]).status(0);
    assert!(!hook.exists());
    install(&t, &["--server", "client"])
        .status(1)
        .stderr_has("not a bare git repository");
}

#[test]
fn pre_push_option_installs_a_pre_push_gate_that_keeps_the_own_hook() {
    let t = Test::dir();
    let (server, client) = server_and_client(&t);
    let own = client.join(".git/hooks/pre-push");
    write_script(&own, &logging_hook("own pre-push"));
    install_in(&t, &client, KEYGATE, &["--pre-push"])
        .status(0)
        .stdout_has("installed keygate's pre-push hook");

    let run = clean_push_passes_keyed_push_is_refused(&t, &server, &client);
    run.output_has("app.env")
        .never_shows(&key_id())
        .never_shows(&secret());
    assert_eq!(log_lines(&client), ["own pre-push ran", "own pre-push ran"]);

    // A later run without --pre-push keeps it; --uninstall removes both.
    install_in(&t, &client, KEYGATE, &[])
        .status(0)
        .stdout_has("updated keygate's pre-push hook");
    install_in(&t, &client, KEYGATE, &["--uninstall"]).status(0);
    assert_eq!(hook_files(&client.join(".git/hooks")), ["pre-push"]);
    assert_eq!(read(&own), logging_hook("own pre-push"));
}

#[test]
fn global_install_covers_every_repository_and_keeps_their_own_hooks() {
    let t = Test::dir();
    install(&t, &["--global"])
        .status(0)
        .stdout_has("set core.hooksPath in your global git config");
    let global_dir = std::fs::canonicalize(t.path())
        .unwrap()
        .join(".config/keygate/hooks");
    let configured = t.git(&["config", "--global", "--get", "core.hooksPath"]);
    assert_eq!(configured.trim(), global_dir.to_str().unwrap());
    assert!(read(&global_dir.join("pre-commit")).contains("keygate_repo_hooks=yes"));

    // A repository created afterwards, with its own hooks.
    t.git(&["init", "-q", "-b", "main", "fresh"]);
    let fresh = t.path().join("fresh");
    identity(&t, &fresh);
    write_script(
        &fresh.join(".git/hooks/pre-commit"),
        &logging_hook("own pre-commit"),
    );
    write_script(
        &fresh.join(".git/hooks/commit-msg"),
        &logging_hook("own commit-msg"),
    );

    key_commit_is_refused(&t, &fresh, &[]).status(1);
    assert_eq!(log_lines(&fresh), ["own pre-commit ran"]);
    clean_commit_succeeds(&t, &fresh, &[]);
    assert_eq!(
        log_lines(&fresh),
        [
            "own pre-commit ran",
            "own pre-commit ran",
            "own commit-msg ran"
        ]
    );

    // Installing in a covered repository changes nothing.
    install_in(&t, &fresh, KEYGATE, &[])
        .status(0)
        .stdout_has("already protected");
    assert_eq!(
        hook_files(&fresh.join(".git/hooks")),
        ["commit-msg", "pre-commit"]
    );

    // Idempotent, then undone.
    install(&t, &["--global"]).status(0);
    let hook = read(&global_dir.join("pre-commit"));
    assert_eq!(hook.matches(MARKER).count(), 1);
    assert!(!global_dir.join("pre-commit.keygate-previous").exists());
    install(&t, &["--global", "--uninstall"])
        .status(0)
        .stdout_has("unset core.hooksPath");
    let after = git_env(
        &t,
        t.path(),
        &["config", "--global", "--get", "core.hooksPath"],
        &[],
    );
    assert_eq!(after.status, Some(1), "core.hooksPath still set: {after:?}");
    assert!(!global_dir.exists());
}

#[test]
fn global_install_into_an_existing_global_hooks_path_keeps_its_hook() {
    let t = Test::dir();
    let mine = t.path().join("my-hooks");
    write_script(&mine.join("pre-commit"), &logging_hook("my global"));
    t.git(&[
        "config",
        "--global",
        "core.hooksPath",
        mine.to_str().unwrap(),
    ]);
    install(&t, &["--global"])
        .status(0)
        .stdout_has("already set in your global git config");
    assert_eq!(
        hook_files(&mine),
        ["commit-msg", "pre-commit", "pre-commit.keygate-previous"]
    );

    t.git(&["init", "-q", "-b", "main", "repo"]);
    let repo = t.path().join("repo");
    identity(&t, &repo);
    key_commit_is_refused(&t, &repo, &[]).status(1);
    assert_eq!(log_lines(&repo), ["my global ran"]);

    install(&t, &["--global", "--uninstall"])
        .status(0)
        .stdout_has("left set");
    assert_eq!(hook_files(&mine), ["pre-commit"]);
    assert_eq!(read(&mine.join("pre-commit")), logging_hook("my global"));
    let configured = t.git(&["config", "--global", "--get", "core.hooksPath"]);
    assert_eq!(configured.trim(), mine.to_str().unwrap());
}
