//! `keygate --staged` and the pre-commit hook: exactly what the commit will
//! contain, read from the index, with real git and real commits.

use std::process::{Command, Stdio};

use crate::util::*;

fn env_file() -> String {
    format!(
        "AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}\n",
        key_id(),
        secret()
    )
}

/// A repository with the pre-commit hook and one clean commit.
fn hooked_repo() -> Test {
    let test = Test::repo();
    test.install_pre_commit_hook();
    test.stage("README.md", "# project\n");
    test.commit("initial").status(0);
    test
}

#[test]
fn first_commit_with_a_key_is_blocked_and_history_unchanged() {
    let test = Test::repo();
    test.install_pre_commit_hook();
    test.stage("config/app.env", env_file());
    test.keygate(&["--staged"])
        .status(1)
        .stdout_has("config/app.env:1:19");
    let run = test.commit("add config");
    assert_ne!(run.status, Some(0), "commit went through:\n{run:?}");
    run.never_shows(&key_id()).never_shows(&secret());
    assert!(
        run.stderr.contains("config/app.env:1:19") || run.stdout.contains("config/app.env:1:19"),
        "{run:?}"
    );
    assert_eq!(test.commit_count(), 0);
    // Fixed: the clean commit goes through.
    test.stage("config/app.env", "AWS_REGION=us-east-1\n");
    test.commit("add config").status(0);
    assert_eq!(test.commit_count(), 1);
}

#[test]
fn hook_output_says_what_where_why_and_how_to_fix_or_allow() {
    let test = hooked_repo();
    test.stage(
        "deploy.sh",
        format!("#!/bin/sh\nexport AWS_ACCESS_KEY_ID={}\n", key_id()),
    );
    let run = test.keygate(&["hook", "pre-commit"]);
    run.status(1)
        .stdout_has("commit blocked")
        .stdout_has("deploy.sh:2:26")
        .stdout_has("git add")
        .stdout_has("update-access-key")
        .stdout_has("keygate:allow")
        .never_shows(&key_id());
}

#[test]
fn only_added_lines_count_old_secrets_and_removals_pass() {
    let test = Test::repo();
    test.stage(
        "legacy.ini",
        format!("[default]\naws_access_key_id = {}\n", key_id()),
    );
    test.git(&["commit", "-q", "--no-verify", "-m", "legacy"]);
    test.install_pre_commit_hook();
    // Untouched old secret: an edit elsewhere in the same file passes.
    test.stage(
        "legacy.ini",
        format!(
            "# comment\n[default]\naws_access_key_id = {}\nregion = eu-west-1\n",
            key_id()
        ),
    );
    test.keygate(&["--staged"]).status(0);
    test.commit("edit").status(0);
    // Removing it passes.
    test.stage("legacy.ini", "[default]\nregion = eu-west-1\n");
    test.commit("remove key").status(0);
    // Adding one is blocked, at the staged file's line number.
    test.stage(
        "legacy.ini",
        format!(
            "[default]\nregion = eu-west-1\n\naws_access_key_id = {}\n",
            key_id2()
        ),
    );
    test.keygate(&["--staged"])
        .status(1)
        .stdout_has("legacy.ini:4:21");
}

#[test]
fn a_secret_added_next_to_an_old_key_id_is_a_pair() {
    let test = Test::repo();
    test.stage("a.env", format!("AWS_ACCESS_KEY_ID={}\n", key_id()));
    test.git(&["commit", "-q", "--no-verify", "-m", "id"]);
    test.stage("a.env", env_file());
    let run = test.keygate(&["--staged", "--format", "json"]);
    run.status(1);
    assert_eq!(run.findings()[0]["rule_id"], "aws-credential-pair");
}

#[test]
fn the_index_not_the_work_tree_is_scanned() {
    let test = hooked_repo();
    // Staged clean, key only in the work tree: passes.
    test.stage("a.txt", "clean\n");
    test.write("a.txt", format!("clean\nkey = {}\n", key_id()));
    test.keygate(&["--staged"]).status(0);
    test.commit("clean").status(0);
    // Staged with key, work tree cleaned afterwards: blocked.
    test.stage("b.txt", format!("key = {}\n", key_id()));
    test.write("b.txt", "clean\n");
    test.keygate(&["--staged"])
        .status(1)
        .stdout_has("b.txt:1:7");
}

#[test]
fn git_add_patch_stages_only_some_hunks() {
    let test = Test::repo();
    let base: String = (1..=40).map(|i| format!("line {i}\n")).collect();
    test.stage("notes.txt", &base);
    test.git(&["commit", "-q", "-m", "base"]);
    test.install_pre_commit_hook();
    // Two distant hunks: a clean one at the top and a key at the bottom.
    let changed = format!("line 0 (new)\n{base}key = {}\n", key_id());
    test.write("notes.txt", &changed);
    add_patch(&test, "y\nn\n"); // stage the first hunk only
    test.keygate(&["--staged"]).status(0);
    test.commit("top").status(0);
    add_patch(&test, "y\n"); // now the key
    test.keygate(&["--staged"])
        .status(1)
        .stdout_has("notes.txt:42:7");
    assert_ne!(test.commit("key").status, Some(0));
    assert_eq!(test.commit_count(), 2);
}

fn add_patch(test: &Test, answers: &str) {
    use std::io::Write;
    let mut child = Command::new("git")
        .args(["add", "-p", "notes.txt"])
        .current_dir(test.path())
        .env("HOME", test.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answers.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn commit_all_and_commit_with_paths_scan_the_temporary_index() {
    let test = hooked_repo();
    test.stage("a.txt", "clean\n");
    test.commit("a").status(0);
    test.write("a.txt", format!("key = {}\n", key_id()));
    // Nothing staged, so `--staged` alone is clean; `commit -a` must still block.
    test.keygate(&["--staged"]).status(0);
    assert_ne!(
        test.git_run(&["commit", "-q", "-a", "-m", "all"]).status,
        Some(0)
    );
    assert_ne!(
        test.git_run(&["commit", "-q", "-m", "path", "--", "a.txt"])
            .status,
        Some(0)
    );
    assert_eq!(test.commit_count(), 2);
}

#[test]
fn works_from_a_subdirectory_and_reports_repository_paths() {
    let test = Test::repo();
    test.stage("deep/er/x.txt", key_id());
    let sub = test.path().join("deep/er");
    test.keygate_in(&sub, &["--staged"], None)
        .status(1)
        .stdout_has("deep/er/x.txt:1:1");
}

#[test]
fn linked_worktree_commits_are_gated() {
    let test = hooked_repo();
    let worktree = test.path().join("wt");
    test.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "side",
        worktree.to_str().unwrap(),
    ]);
    std::fs::write(worktree.join("k.txt"), key_id()).unwrap();
    test.git_in(&worktree, &["add", "k.txt"]);
    test.keygate_in(&worktree, &["--staged"], None)
        .status(1)
        .stdout_has("k.txt:1:1");
    let run = test.git_in(&worktree, &["commit", "-q", "-m", "k"]);
    assert_ne!(run.status, Some(0), "{run:?}");
}

#[test]
fn git_dir_and_work_tree_environment_are_honoured() {
    let test = Test::repo();
    test.stage("k.txt", key_id());
    let other = Test::dir();
    let run = Command::new(KEYGATE)
        .arg("--staged")
        .current_dir(other.path())
        .env("GIT_DIR", test.path().join(".git"))
        .env("GIT_WORK_TREE", test.path())
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
fn binary_files_keys_are_found_and_noise_is_quiet() {
    let test = hooked_repo();
    let mut db = vec![0u8; 8192];
    db.extend_from_slice(b"SQLite format 3\0");
    db.extend_from_slice(format!("\x01{}\x02{}\x00", key_id(), secret()).as_bytes());
    db.extend(vec![0u8; 8192]);
    test.stage("data/app.sqlite", &db);
    test.keygate(&["--staged"])
        .status(1)
        .stdout_has("data/app.sqlite:1:");
    test.git(&["rm", "-q", "--cached", "data/app.sqlite"]);
    let noise: Vec<u8> = (0u32..200_000)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    test.stage("noise.bin", &noise);
    test.keygate(&["--staged"]).status(0);
}

#[test]
fn deletions_renames_mode_changes_and_symlinks() {
    let test = Test::repo();
    test.stage("old/name.env", format!("AWS_ACCESS_KEY_ID={}\n", key_id()));
    test.stage("run.sh", "echo hi\n");
    test.git(&["commit", "-q", "--no-verify", "-m", "base"]);
    // Rename of a file with an old key: the key arrives at a new path, where
    // it counts in full (issue 12.6: a rename adds no line, but a rename out
    // of an allowlisted path must not carry a key out unchecked).
    test.git(&["mv", "old/name.env", "new name.env"]);
    test.keygate(&["--staged"])
        .status(1)
        .stdout_has("new name.env:1:");
    test.git(&["commit", "-q", "-m", "rename"]);
    // Mode-only change.
    test.git(&["update-index", "--chmod=+x", "run.sh"]);
    test.keygate(&["--staged"]).status(0);
    test.git(&["commit", "-q", "-m", "chmod"]);
    // Deletion.
    test.git(&["rm", "-q", "new name.env"]);
    test.keygate(&["--staged"]).status(0);
    test.git(&["commit", "-q", "-m", "delete"]);
    // A symlink's target is its content.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("somewhere", test.path().join("link")).unwrap();
        test.git(&["add", "link"]);
        test.keygate(&["--staged"]).status(0);
    }
}

#[test]
fn odd_paths_are_reported_readably() {
    let test = Test::repo();
    test.stage(
        "dir with spaces/naïve café.env",
        format!("id={}\n", key_id()),
    );
    test.keygate(&["--staged"])
        .status(1)
        .stdout_has("dir with spaces/naïve café.env:1:4");
}

#[test]
fn crlf_files_report_the_right_line() {
    let test = Test::repo();
    test.git(&["config", "core.autocrlf", "false"]);
    test.stage(
        "w.env",
        format!("A=1\r\nB=2\r\nAWS_ACCESS_KEY_ID={}\r\n", key_id()),
    );
    test.keygate(&["--staged"])
        .status(1)
        .stdout_has("w.env:3:19");
}

#[test]
fn submodule_entries_are_not_content() {
    let test = Test::repo();
    let sub = Test::repo();
    sub.stage("x", "x");
    sub.git(&["commit", "-q", "-m", "x"]);
    let head = sub.git(&["rev-parse", "HEAD"]);
    test.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{},vendor/sub", head.trim()),
    ]);
    test.keygate(&["--staged"]).status(0);
}

#[test]
fn files_over_the_size_limit_are_never_skipped_silently() {
    let test = Test::repo();
    let mut big = vec![b'a'; 2000];
    big.extend_from_slice(format!("\n{}\n", key_id()).as_bytes());
    test.stage("big.txt", &big);
    test.keygate(&["--staged", "--max-file-size", "1000"])
        .status(2)
        .stderr_has("big.txt")
        .stderr_has("not scanned");
    test.keygate(&["--staged"]).status(1);
    // An allowlisted path is not read at all.
    test.write(".keygate.toml", "[allowlist]\npaths = [\"big.txt\"]\n");
    test.keygate(&["--staged", "--max-file-size", "1000"])
        .status(0);
}

#[test]
fn a_file_over_64_mib_is_scanned_whole() {
    let test = Test::repo();
    let mut big = Vec::with_capacity(70 << 20);
    let line = b"lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod\n";
    while big.len() < 70 << 20 {
        big.extend_from_slice(line);
    }
    let lines = big.len() / line.len();
    big.extend_from_slice(format!("id = {}\n", key_id()).as_bytes());
    test.stage("huge.log", &big);
    test.keygate(&["--staged"])
        .status(1)
        .stdout_has(&format!("huge.log:{}:6", lines + 1));
}

#[test]
fn not_a_repository_and_bare_repository_are_errors() {
    let test = Test::dir();
    test.keygate(&["--staged"])
        .status(2)
        .stderr_has("not in a git repository");
    test.git(&["init", "-q", "--bare", "b.git"]);
    test.keygate_in(&test.path().join("b.git"), &["--staged"], None)
        .status(2)
        .stderr_has("bare repository");
}

#[test]
fn empty_repository_with_nothing_staged_is_clean() {
    let test = Test::repo();
    test.keygate(&["--staged"]).status(0);
    test.stage("empty.txt", "");
    test.keygate(&["--staged"]).status(0);
}

#[test]
fn project_config_at_the_root_allows_fixtures() {
    let test = Test::repo();
    test.stage(
        ".keygate.toml",
        "[allowlist]\npaths = [\"tests/fixtures/**\"]\n",
    );
    test.stage("tests/fixtures/keys.txt", key_id());
    test.keygate(&["--staged"]).status(0);
    let sub = test.path().join("tests");
    test.keygate_in(&sub, &["--staged"], None).status(0);
}
