//! The server gate (`pre-receive`) and the client gate (`pre-push`): real
//! bare repositories, real `git push`, objects checked in git's quarantine.

use crate::util::*;

fn env_file() -> String {
    format!(
        "AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}\n",
        key_id(),
        secret()
    )
}

#[test]
fn push_with_a_key_is_rejected_and_server_refs_are_unchanged() {
    let p = Push::new();
    p.commit("README.md", "# x\n", "init");
    p.push(&["main"]).status(0);
    let before = p.server_ref("main");
    p.commit("deploy/app.env", env_file(), "add config");
    let commit = p.client.git(&["rev-parse", "HEAD"]).trim().to_string();
    let run = p.push(&["main"]);
    assert_ne!(run.status, Some(0), "{run:?}");
    run.stderr_has("remote:")
        .stderr_has("deploy/app.env:1:19")
        .stderr_has(&commit)
        .stderr_has("aws-credential-pair")
        .stderr_has("rotate")
        .never_shows(&key_id())
        .never_shows(&secret());
    assert_eq!(p.server_ref("main"), before);
}

#[test]
fn clean_push_of_many_commits_is_accepted() {
    let p = Push::new();
    for i in 0..60 {
        p.commit(
            &format!("src/file{}.txt", i % 7),
            format!("line {i}\nsecret_key_name = \"{i}\"\n"),
            &format!("c{i}"),
        );
    }
    p.push(&["main"]).status(0);
    assert!(p.server_ref("main").is_some());
}

#[test]
fn key_added_then_removed_in_the_same_push_is_rejected() {
    let p = Push::new();
    p.commit("README.md", "# x\n", "init");
    p.push(&["main"]).status(0);
    p.commit("a.env", env_file(), "oops");
    p.commit("a.env", "AWS_REGION=eu-west-1\n", "remove the key");
    p.commit("b.txt", "more\n", "later");
    let run = p.push(&["main"]);
    assert_ne!(run.status, Some(0), "{run:?}");
    run.stderr_has("a.env:1:19");
}

#[test]
fn new_branch_with_no_new_commits_is_accepted_and_old_history_is_not_rescanned() {
    let p = Push::new();
    // History with a key that reached the server before the gate existed.
    let hook = p.bare().join("hooks/pre-receive");
    std::fs::rename(&hook, p.server.path().join("held")).unwrap();
    p.commit("old.env", env_file(), "old key");
    p.push(&["main"]).status(0);
    std::fs::rename(p.server.path().join("held"), &hook).unwrap();
    p.client.git(&["branch", "feature"]);
    p.push(&["feature"]).status(0);
    // A new branch with one clean commit on top: only that commit is scanned.
    p.client.git(&["checkout", "-q", "-b", "topic"]);
    p.commit("t.txt", "clean\n", "topic");
    p.push(&["topic"]).status(0);
}

#[test]
fn tags_are_covered_lightweight_annotated_and_their_messages() {
    let p = Push::new();
    p.commit("README.md", "# x\n", "init");
    p.push(&["main"]).status(0);
    // An annotated tag whose message holds a key, on an old commit.
    let message = format!("release notes\nAWS_ACCESS_KEY_ID={}\n", key_id());
    p.client.git(&["tag", "-a", "v1", "-m", &message]);
    let run = p.push(&["v1"]);
    assert_ne!(run.status, Some(0), "{run:?}");
    run.stderr_has("refs/tags/v1 (tag message)");
    assert_eq!(p.server_ref("refs/tags/v1"), None);
    // A lightweight tag on a new commit with a key.
    p.client.git(&["checkout", "-q", "--detach"]);
    p.commit("k.txt", key_id(), "tagged key");
    p.client.git(&["tag", "v2"]);
    assert_ne!(p.push(&["v2"]).status, Some(0));
    assert_eq!(p.server_ref("refs/tags/v2"), None);
}

#[test]
fn branch_deletion_is_accepted() {
    let p = Push::new();
    p.commit("README.md", "# x\n", "init");
    p.client.git(&["branch", "gone"]);
    p.push(&["main", "gone"]).status(0);
    p.push(&["--delete", "gone"]).status(0);
    assert_eq!(p.server_ref("refs/heads/gone"), None);
}

#[test]
fn a_pushed_allowlist_does_not_loosen_the_server() {
    let p = Push::new();
    p.commit(
        ".keygate.toml",
        "[allowlist]\npaths = [\"**\"]\n",
        "allow all",
    );
    p.commit("a.env", env_file(), "key");
    assert_ne!(p.push(&["main"]).status, Some(0));
    assert_eq!(p.server_ref("main"), None);
}

#[test]
fn server_config_from_git_config_applies() {
    let p = Push::new();
    p.server_config("[allowlist]\npaths = [\"fixtures/**\"]\n");
    p.commit("fixtures/a.env", env_file(), "fixture");
    p.push(&["main"]).status(0);
    p.commit("src/a.env", env_file(), "real");
    assert_ne!(p.push(&["main"]).status, Some(0));
}

#[test]
fn multiple_refs_in_one_push_are_all_checked() {
    let p = Push::new();
    p.commit("README.md", "# x\n", "init");
    p.client.git(&["checkout", "-q", "-b", "side"]);
    p.commit("side.txt", key_id(), "key on side");
    p.client.git(&["checkout", "-q", "main"]);
    p.commit("main.txt", "clean\n", "clean on main");
    let run = p.push(&["main", "side"]);
    assert_ne!(run.status, Some(0), "{run:?}");
    run.stderr_has("side.txt:1:1");
    assert_eq!(p.server_ref("main"), None);
}

#[test]
fn merge_commits_count_only_what_the_merge_adds() {
    let p = Push::new();
    p.commit("README.md", "# x\n", "init");
    p.client.git(&["checkout", "-q", "-b", "side"]);
    p.commit("side.txt", "side work\n", "side");
    p.client.git(&["checkout", "-q", "main"]);
    p.commit("main.txt", "main work\n", "main");
    p.client.git(&["merge", "-q", "--no-edit", "side"]);
    p.push(&["main"]).status(0);
    // An "evil" merge: content that neither parent has.
    p.client.git(&["checkout", "-q", "-b", "side2"]);
    p.commit("s2.txt", "s2\n", "s2");
    p.client.git(&["checkout", "-q", "main"]);
    p.commit("m2.txt", "m2\n", "m2");
    p.client.git(&["merge", "-q", "--no-commit", "side2"]);
    p.client.stage("evil.txt", key_id());
    p.client
        .git(&["commit", "-q", "--no-verify", "-m", "merge"]);
    let run = p.push(&["main"]);
    assert_ne!(run.status, Some(0), "{run:?}");
    run.stderr_has("evil.txt:1:1");
}

#[test]
fn time_budget_fails_closed_by_default_and_says_so_when_open() {
    let p = Push::new();
    p.server_config("[server]\ntime_budget_seconds = 0.0\n");
    p.commit("a.txt", "clean\n", "a");
    let run = p.push(&["main"]);
    assert_ne!(run.status, Some(0), "{run:?}");
    run.stderr_has("time budget");
    p.server_config("[server]\ntime_budget_seconds = 0.0\non_timeout = \"accept\"\n");
    p.push(&["main"]).status(0).stderr_has("NOT fully checked");
}

#[test]
fn garbage_on_stdin_is_an_error_not_clean() {
    let test = Test::dir();
    test.git(&["init", "-q", "--bare", "b.git"]);
    let bare = test.path().join("b.git");
    test.keygate_in(
        &bare,
        &["hook", "pre-receive"],
        Some(b"this is not a ref update\n"),
    )
    .status(2)
    .stderr_has("line 1");
    // Closed/empty stdin: nothing pushed, nothing to check.
    test.keygate_in(&bare, &["hook", "pre-receive"], Some(b""))
        .status(0);
}

#[test]
fn pre_push_blocks_before_anything_is_sent() {
    let server = Test::dir();
    server.git(&["init", "-q", "--bare", "s.git"]);
    let client = Test::repo();
    client.git(&[
        "remote",
        "add",
        "origin",
        server.path().join("s.git").to_str().unwrap(),
    ]);
    install_hook(&client.path().join(".git/hooks"), "pre-push");
    client.stage("README.md", "# x\n");
    client.git(&["commit", "-q", "-m", "init"]);
    client.git_run(&["push", "-q", "origin", "main"]).status(0);
    client.stage("k.env", env_file());
    client.git(&["commit", "-q", "--no-verify", "-m", "key"]);
    let run = client.git_run(&["push", "-q", "origin", "main"]);
    assert_ne!(run.status, Some(0), "{run:?}");
    run.output_has("k.env:1:19")
        .output_has("before anything was sent")
        .never_shows(&secret());
    // The server still has only the first commit.
    let count = server.git_in(
        &server.path().join("s.git"),
        &["rev-list", "--count", "main"],
    );
    assert_eq!(count.stdout.trim(), "1");
}

#[test]
fn server_config_rules_apply_custom_rules_and_disabled_ones() {
    let p = Push::new();
    p.server_config(
        "[detect]\ndisable = [\"aws-access-key-id\"]\n\n[[rules]]\nid = \"corp-token\"\n\
         regex = \"corp_[a-z0-9]{24}\"\nkeywords = [\"corp_\"]\n",
    );
    p.commit(
        "lone-id.txt",
        key_id(),
        "an ID alone, disabled on this server",
    );
    p.push(&["main"]).status(0);
    p.commit("t.txt", "token = corp_q8zfk2mx7pl0ab9wr4ty6ue1\n", "custom");
    let run = p.push(&["main"]);
    assert_ne!(run.status, Some(0), "{run:?}");
    run.stderr_has("corp-token");
}

/// `files` clean text files of `bytes` each, different enough that git
/// cannot make them small (inflating them is what takes the time).
fn commit_many_files(p: &Push, dir: &str, files: usize, bytes: usize, seed: u64) {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    for i in 0..files {
        let mut text = String::with_capacity(bytes + 64);
        while text.len() < bytes {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            text.push_str(&format!("let value_{i} = {:x};\n", state >> 11));
        }
        p.client.write(&format!("{dir}/f{i:04}.rs"), text);
    }
    p.client.git(&["add", "-A"]);
    p.client
        .git(&["commit", "-q", "--no-verify", "-m", &format!("add {dir}")]);
}

/// Pushes `main` until the server stops rejecting it for time (at most
/// `tries`); returns every attempt.
fn push_until_not_out_of_time(p: &Push, tries: usize) -> Vec<Run> {
    let mut runs = Vec::new();
    for _ in 0..tries {
        let run = p.push(&["main"]);
        let timed_out = run.stderr.contains("time budget ran out");
        runs.push(run);
        if !timed_out {
            break;
        }
    }
    runs
}

const RETRY_CONFIG: &str = "[server]\ntime_budget_seconds = 0.25\n";

#[test]
fn issue17_a_push_out_of_time_continues_when_pushed_again() {
    let p = Push::new();
    p.commit("README.md", "# x\n", "init");
    p.push(&["main"]).status(0);
    p.server_config(RETRY_CONFIG);
    commit_many_files(&p, "big", 120, 50_000, 1);
    let runs = push_until_not_out_of_time(&p, 80);
    let first = &runs[0];
    assert_ne!(first.status, Some(0), "{first:?}");
    first.stderr_has("time budget ran out");
    first.stderr_has("Retrying continues where this attempt stopped");
    assert!(
        p.bare().join("keygate/clean-blobs").is_file(),
        "the server keeps what it scanned clean in its git dir"
    );
    let last = runs.last().unwrap();
    assert!(runs.len() > 1, "the first push was rejected for time");
    last.status(0);
    assert_eq!(
        p.server_ref("refs/heads/main"),
        Some(p.client.git(&["rev-parse", "HEAD"]).trim().to_string())
    );
}

#[test]
fn issue17_a_key_behind_blobs_scanned_clean_is_still_rejected() {
    let p = Push::new();
    p.commit("README.md", "# x\n", "init");
    p.push(&["main"]).status(0);
    p.server_config(RETRY_CONFIG);
    commit_many_files(&p, "big", 120, 50_000, 2);
    // The key comes in the second half: a later commit, after the clean files.
    p.commit(
        "late/settings.py",
        format!("# deploy\n{}", env_file()),
        "settings",
    );
    let before = p.server_ref("refs/heads/main");
    let runs = push_until_not_out_of_time(&p, 80);
    assert!(runs.len() > 1, "the first push was rejected for time");
    for run in &runs {
        assert_ne!(run.status, Some(0), "never accepted: {run:?}");
    }
    let last = runs.last().unwrap();
    last.stderr_has("late/settings.py");
    assert_eq!(p.server_ref("refs/heads/main"), before);
}
