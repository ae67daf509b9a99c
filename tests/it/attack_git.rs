//! Issue 12, what a change brings besides file contents: commit messages,
//! paths and ref names, and content that a rename or copy moves out of an
//! allowlisted path. Each test is a hole that once let a key in with exit 0.

use std::path::{Path, PathBuf};

use crate::util::*;

fn env_pair() -> String {
    format!(
        "AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}\n",
        key_id(),
        secret()
    )
}

/// `git mv`, creating the target's directory as `git mv` needs.
fn git_mv(t: &Test, from: &str, to: &str) {
    if let Some(parent) = Path::new(to).parent() {
        std::fs::create_dir_all(t.path().join(parent)).unwrap();
    }
    t.git(&["mv", from, to]);
}

const FIXTURES_ALLOWED: &str = "[allowlist]\npaths = [\"tests/fixtures/**\"]\n";

/// Copies hooks/`name` into `dir` (git runs it with `KEYGATE_BIN` set by
/// `Test::git_run`).
fn install_hook(dir: &Path, name: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let target = dir.join(name);
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("hooks")
            .join(name),
        &target,
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// A bare server repository with keygate's pre-receive hook (and, when
/// given, a server config) and a client whose origin it is.
struct Server {
    server: Test,
    client: Test,
}

impl Server {
    fn new(config: Option<&str>) -> Server {
        let server = Test::dir();
        server.git(&["init", "-q", "--bare", "-b", "main", "server.git"]);
        let bare = server.path().join("server.git");
        install_hook(&bare.join("hooks"), "pre-receive");
        if let Some(text) = config {
            let path = server.path().join("keygate-server.toml");
            std::fs::write(&path, text).unwrap();
            server.git_in(&bare, &["config", "keygate.config", path.to_str().unwrap()]);
        }
        let client = Test::repo();
        client.git(&["remote", "add", "origin", bare.to_str().unwrap()]);
        Server { server, client }
    }

    fn bare(&self) -> PathBuf {
        self.server.path().join("server.git")
    }

    fn commit(&self, message: &str) -> String {
        self.client.git(&[
            "commit",
            "-q",
            "--no-verify",
            "--allow-empty",
            "-m",
            message,
        ]);
        self.client.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    fn push(&self, refspec: &str) -> Run {
        self.client.git_run(&["push", "-q", "origin", refspec])
    }
}

// --- 12.6: content moved out of an allowlisted path -------------------------

/// A repository with keygate's pre-commit hook, `tests/fixtures/**`
/// allowlisted and a key committed there (through the hook: allowed).
fn repo_with_allowed_fixture() -> Test {
    let t = Test::repo();
    t.install_pre_commit_hook();
    t.stage(".keygate.toml", FIXTURES_ALLOWED);
    t.stage("tests/fixtures/creds.env", env_pair());
    t.stage("README.md", "# project\n");
    t.commit("fixtures").status(0);
    t
}

#[test]
fn issue12_6_rename_out_of_an_allowlisted_path_is_blocked_by_the_commit_hook() {
    let t = repo_with_allowed_fixture();
    git_mv(&t, "tests/fixtures/creds.env", "src/prod.env");
    t.commit("move config")
        .status(1)
        .output_has("src/prod.env:1:19")
        .output_has("commit blocked")
        .never_shows(&key_id())
        .never_shows(&secret());
    assert_eq!(t.commit_count(), 1);
}

#[test]
fn issue12_6_copy_out_of_an_allowlisted_path_is_blocked_by_the_commit_hook() {
    let t = repo_with_allowed_fixture();
    std::fs::create_dir_all(t.path().join("src")).unwrap();
    std::fs::copy(
        t.path().join("tests/fixtures/creds.env"),
        t.path().join("src/copy.env"),
    )
    .unwrap();
    t.git(&["add", "src/copy.env"]);
    t.commit("copy config")
        .status(1)
        .output_has("src/copy.env:1:19")
        .never_shows(&secret());
    assert_eq!(t.commit_count(), 1);
}

#[test]
fn issue12_6_rename_with_an_edit_is_blocked_by_the_commit_hook() {
    let t = repo_with_allowed_fixture();
    git_mv(&t, "tests/fixtures/creds.env", "src/prod.env");
    let edited = format!("{}AWS_REGION=eu-west-1\n", env_pair());
    t.stage("src/prod.env", edited);
    t.commit("move and edit")
        .status(1)
        .output_has("src/prod.env:1:19")
        .never_shows(&secret());
    assert_eq!(t.commit_count(), 1);
}

#[test]
fn issue12_6_rename_out_of_an_allowlisted_path_is_rejected_by_pre_receive() {
    let s = Server::new(Some(FIXTURES_ALLOWED));
    s.client.stage("tests/fixtures/creds.env", env_pair());
    s.commit("fixtures");
    s.push("main").status(0);
    git_mv(&s.client, "tests/fixtures/creds.env", "src/prod.env");
    let renamed = s.commit("move config");
    let run = s.push("main");
    assert_ne!(run.status, Some(0), "{run:?}");
    run.stderr_has("src/prod.env:1:19")
        .stderr_has(&renamed)
        .never_shows(&key_id())
        .never_shows(&secret());
    // A copy, and a rename with an edit, likewise.
    s.client.git(&["reset", "-q", "--hard", "origin/main"]);
    std::fs::create_dir_all(s.client.path().join("src")).unwrap();
    std::fs::copy(
        s.client.path().join("tests/fixtures/creds.env"),
        s.client.path().join("src/copy.env"),
    )
    .unwrap();
    s.client.git(&["add", "src/copy.env"]);
    s.commit("copy");
    let run = s.push("main");
    assert_ne!(run.status, Some(0), "{run:?}");
    run.stderr_has("src/copy.env:1:19").never_shows(&secret());
}

#[test]
fn issue12_6_history_reports_a_key_renamed_out_of_an_allowlisted_path() {
    let t = repo_with_allowed_fixture();
    t.keygate(&["history"]).status(0);
    git_mv(&t, "tests/fixtures/creds.env", "src/prod.env");
    t.git(&["commit", "-q", "--no-verify", "-m", "move"]);
    let renamed = t.git(&["rev-parse", "HEAD"]).trim().to_string();
    t.keygate(&["history"])
        .status(1)
        .stdout_has("src/prod.env:1:19")
        .stdout_has(&renamed)
        .never_shows(&key_id())
        .never_shows(&secret());
}

#[test]
fn issue12_6_renames_of_clean_files_and_of_inline_allowed_keys_stay_allowed() {
    let s = Server::new(None);
    s.client.install_pre_commit_hook();
    let marked = format!(
        "AWS_ACCESS_KEY_ID={} # keygate:allow\nAWS_SECRET_ACCESS_KEY={} # keygate:allow\n",
        key_id(),
        secret()
    );
    s.client.stage("docs/example.env", &marked);
    let many: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    s.client.stage("src/big.txt", &many);
    s.client.commit("docs").status(0);
    s.push("main").status(0);
    git_mv(&s.client, "docs/example.env", "examples/example.env");
    git_mv(&s.client, "src/big.txt", "src/renamed.txt");
    let started = std::time::Instant::now();
    s.client.commit("move").status(0);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "a clean rename took {:?}",
        started.elapsed()
    );
    s.push("main").status(0);
    s.client.keygate(&["history"]).status(0);
}
