//! The pre-push record of verified tips (`.git/keygate/pre-push-verified`):
//! a branch new on the remote is scanned down to what an earlier clean push
//! (or `keygate history`) verified, not to its roots; and nothing that was
//! not scanned clean under the same detection is ever taken as verified.
//!
//! What was scanned is observed through `--max-file-size`: history holds a
//! blob larger than the limit given to the second run, so a run that walks
//! that old commit cannot read it (exit 2), and one that stops at a recorded
//! tip never meets it (exit 0).

use std::path::{Path, PathBuf};

use crate::util::*;

const ZERO: &str = "0000000000000000000000000000000000000000";
/// The blob in old history: larger than `SMALL_LIMIT`.
const BIG: usize = 4096;
const SMALL_LIMIT: &str = "1000";

/// A bare server and a client repository with keygate's pre-push hook.
struct Client {
    server: Test,
    client: Test,
}

impl Client {
    fn new() -> Client {
        let server = Test::dir();
        server.git(&["init", "-q", "--bare", "-b", "main", "s.git"]);
        let client = Test::repo();
        let url = format!("file://{}", server.path().join("s.git").display());
        client.git(&["remote", "add", "origin", &url]);
        install_hook(&client.path().join(".git/hooks"), "pre-push");
        Client { server, client }
    }

    fn commit(&self, name: &str, content: impl AsRef<[u8]>) -> String {
        self.client.stage(name, content);
        self.client
            .git(&["commit", "-q", "--no-verify", "-m", name]);
        self.head()
    }

    fn head(&self) -> String {
        self.client.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    /// A history with a big blob in an old commit, then a few more.
    fn old_history(&self) {
        self.commit("README.md", "# x\n");
        self.commit("big.txt", "x".repeat(BIG));
        for i in 0..3 {
            self.commit(&format!("f{i}.txt"), format!("{i}\n"));
        }
    }

    /// `git push origin ARGS` through the installed hook.
    fn push(&self, args: &[&str]) -> Run {
        let mut all = vec!["push", "-q", "origin"];
        all.extend_from_slice(args);
        self.client.git_run(&all)
    }

    /// The pre-push hook run directly, as git would for pushing HEAD to a
    /// branch `branch` the remote does not have, with `options` first.
    fn hook_new_branch(&self, branch: &str, options: &[&str]) -> Run {
        let line = format!(
            "refs/heads/{branch} {} refs/heads/{branch} {ZERO}\n",
            self.head()
        );
        let mut args: Vec<&str> = options.to_vec();
        args.extend_from_slice(&["hook", "pre-push", "origin", "url"]);
        self.client.keygate_stdin(&args, line.as_bytes())
    }

    /// The hook with a small `--max-file-size`: 0 if it stopped above the
    /// big blob's commit, 2 if it walked down to it.
    fn hook_new_branch_small_limit(&self, branch: &str) -> Run {
        self.hook_new_branch(branch, &["--max-file-size", SMALL_LIMIT])
    }

    fn record(&self) -> PathBuf {
        self.client.path().join(".git/keygate/pre-push-verified")
    }

    fn record_text(&self) -> Option<String> {
        std::fs::read_to_string(self.record()).ok()
    }

    fn server_has(&self, name: &str) -> bool {
        self.server
            .git_in(
                &self.server.path().join("s.git"),
                &["rev-parse", "-q", "--verify", name],
            )
            .status
            == Some(0)
    }
}

fn env_file() -> String {
    format!(
        "AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}\n",
        key_id(),
        secret()
    )
}

#[test]
fn a_new_branch_after_a_clean_push_is_scanned_only_down_to_the_verified_tip() {
    let c = Client::new();
    c.old_history();
    // Without a record, a new branch is walked to its roots: the big blob.
    c.hook_new_branch_small_limit("probe")
        .status(2)
        .stderr_has("big.txt");
    assert_eq!(c.record_text(), None, "a run with problems records nothing");

    c.push(&["main"]).status(0);
    let main = c.head();
    let text = c.record_text().expect("a clean push writes the record");
    assert!(
        text.starts_with("keygate pre-push verified 1\ndigest "),
        "{text}"
    );
    assert!(text.lines().any(|l| l == main), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(c.record()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir = std::fs::metadata(c.record().parent().unwrap()).unwrap();
        assert_eq!(dir.permissions().mode() & 0o777, 0o700);
    }

    // A new branch with one commit on main: only that commit is walked.
    c.client.git(&["checkout", "-q", "-b", "topic"]);
    c.commit("t.txt", "topic\n");
    c.hook_new_branch_small_limit("topic").status(0);
    c.push(&["topic"]).status(0);
    let topic = c.head();
    let text = c.record_text().unwrap();
    let tips: Vec<&str> = text.lines().skip(2).collect();
    assert_eq!(tips, [topic.as_str(), main.as_str()], "newest first");

    // Deleting the record brings the whole walk back.
    std::fs::remove_file(c.record()).unwrap();
    c.client.git(&["checkout", "-q", "-b", "next"]);
    c.commit("n.txt", "next\n");
    c.hook_new_branch_small_limit("next")
        .status(2)
        .stderr_has("big.txt");
}

#[test]
fn a_key_still_blocks_after_a_clean_push_with_a_record() {
    let c = Client::new();
    c.old_history();
    c.push(&["main"]).status(0);
    c.client.git(&["checkout", "-q", "-b", "topic"]);
    c.commit("a.env", env_file());
    let run = c.push(&["topic"]);
    assert_eq!(run.status, Some(1), "{run:?}");
    run.output_has("a.env")
        .never_shows(&secret())
        .never_shows(&key_id());
    assert!(!c.server_has("refs/heads/topic"));
    // Nor is the key's commit taken as verified for the next branch.
    c.commit("more.txt", "more\n");
    let run = c.push(&["HEAD:refs/heads/other"]);
    assert_eq!(run.status, Some(1), "{run:?}");
    run.output_has("a.env");
}

#[test]
fn a_push_with_findings_or_problems_writes_no_record() {
    let c = Client::new();
    c.commit("README.md", "# x\n");
    c.commit("a.env", env_file());
    let run = c.push(&["main"]);
    assert_eq!(run.status, Some(1), "{run:?}");
    assert_eq!(c.record_text(), None);
    assert!(!c.record().parent().unwrap().exists());

    // Clean now (the key allowed), but not read whole: still no record.
    std::fs::write(
        c.client.path().join(".keygate.toml"),
        "[allowlist]\npaths = [\"a.env\"]\n",
    )
    .unwrap();
    c.commit("big.txt", "x".repeat(BIG));
    c.hook_new_branch_small_limit("main").status(2);
    assert_eq!(c.record_text(), None);
    c.push(&["main"]).status(0);
    assert!(c.record_text().is_some());
}

#[test]
fn issue12_14_stale_tracking_ref_still_blocks_with_a_record() {
    // A server without a gate, where someone pushed a key on `feature`.
    let (server, bare, url) = bare_server();
    let other = other_developer(&url);
    other.git(&["checkout", "-q", "-b", "feature"]);
    other.stage("k.env", env_file());
    other.git(&["commit", "-q", "--no-verify", "-m", "key"]);
    other.git(&["push", "-q", "origin", "feature"]);

    // A developer's clone with the hook fetches it; the server then deletes
    // the branch, and the clone keeps refs/remotes/origin/feature.
    let dev = Test::dir();
    dev.git(&["clone", "-q", &url, "c"]);
    let clone = dev.path().join("c");
    install_hook(&clone.join(".git/hooks"), "pre-push");
    server.git_in(&bare, &["branch", "-q", "-D", "feature"]);

    // Clean pushes of new branches from main fill the record...
    commit_in(
        &dev,
        &clone,
        &["checkout", "-q", "-b", "fix", "origin/main"],
    );
    std::fs::write(clone.join("fix.txt"), "fix\n").unwrap();
    commit_in(&dev, &clone, &["add", "fix.txt"]);
    commit_in(&dev, &clone, &["commit", "-q", "-m", "fix"]);
    commit_in(&dev, &clone, &["push", "-q", "origin", "fix"]).status(0);
    assert!(clone.join(".git/keygate/pre-push-verified").is_file());

    // ...and none of it reaches the key: a branch on the stale ref is
    // scanned down to it.
    commit_in(
        &dev,
        &clone,
        &["checkout", "-q", "-b", "topic", "origin/feature"],
    );
    std::fs::write(clone.join("notes.txt"), "more\n").unwrap();
    commit_in(&dev, &clone, &["add", "notes.txt"]);
    commit_in(&dev, &clone, &["commit", "-q", "-m", "more"]);
    let run = commit_in(&dev, &clone, &["push", "-q", "origin", "topic"]);
    assert_eq!(run.status, Some(1), "{run:?}");
    run.output_has("k.env")
        .never_shows(&secret())
        .never_shows(&key_id());
    let on_server = server.git_in(&bare, &["rev-parse", "-q", "--verify", "refs/heads/topic"]);
    assert_ne!(on_server.status, Some(0), "the push reached the server");
}

#[test]
fn what_a_remote_tip_hid_is_never_recorded_as_verified() {
    // The server's main has a key on top (pushed without a gate); a
    // developer clones it and pushes a clean commit on main: git reports the
    // server's tip, so only the new commit is scanned. That push is clean,
    // but what is below it was not scanned here: it must not be recorded.
    let (server, bare, url) = bare_server();
    let other = other_developer(&url);
    let clean_tip = other.git(&["rev-parse", "HEAD"]).trim().to_string();
    other.stage("k.env", env_file());
    other.git(&["commit", "-q", "--no-verify", "-m", "key"]);
    other.git(&["push", "-q", "origin", "main"]);

    let dev = Test::dir();
    dev.git(&["clone", "-q", &url, "c"]);
    let clone = dev.path().join("c");
    install_hook(&clone.join(".git/hooks"), "pre-push");
    // A clean new branch below the key first: the record is not empty, and
    // what it holds does not reach the key.
    commit_in(&dev, &clone, &["branch", "fix", &clean_tip]);
    commit_in(&dev, &clone, &["push", "-q", "origin", "fix"]).status(0);
    let record = clone.join(".git/keygate/pre-push-verified");
    let recorded = std::fs::read_to_string(&record).unwrap();
    assert!(recorded.contains(&clean_tip), "{recorded}");
    std::fs::write(clone.join("more.txt"), "more\n").unwrap();
    commit_in(&dev, &clone, &["add", "more.txt"]);
    commit_in(&dev, &clone, &["commit", "-q", "-m", "more"]);
    commit_in(&dev, &clone, &["push", "-q", "origin", "main"]).status(0);
    let pushed = commit_in(&dev, &clone, &["rev-parse", "HEAD"]);
    let recorded = std::fs::read_to_string(&record).unwrap_or_default();
    assert!(!recorded.contains(pushed.stdout.trim()), "{recorded}");

    // The server rewrites main to get rid of the key; a new branch from the
    // developer's main brings it back, and is stopped.
    server.git_in(&bare, &["update-ref", "refs/heads/main", &clean_tip]);
    commit_in(&dev, &clone, &["checkout", "-q", "-b", "topic"]);
    std::fs::write(clone.join("t.txt"), "t\n").unwrap();
    commit_in(&dev, &clone, &["add", "t.txt"]);
    commit_in(&dev, &clone, &["commit", "-q", "-m", "t"]);
    let run = commit_in(&dev, &clone, &["push", "-q", "origin", "topic"]);
    assert_eq!(run.status, Some(1), "{run:?}");
    run.output_has("k.env").never_shows(&key_id());
}

#[test]
fn an_update_on_a_remote_tip_this_machine_verified_is_recorded() {
    let c = Client::new();
    c.old_history();
    c.push(&["main"]).status(0);
    // Updates of main: the remote's tip is one the record has.
    c.commit("u1.txt", "1\n");
    c.push(&["main"]).status(0);
    c.commit("u2.txt", "2\n");
    c.push(&["main"]).status(0);
    let text = c.record_text().unwrap();
    assert_eq!(text.lines().nth(2), Some(c.head().as_str()), "{text}");
    c.client.git(&["checkout", "-q", "-b", "topic"]);
    c.commit("t.txt", "t\n");
    c.hook_new_branch_small_limit("topic").status(0);
}

#[test]
fn an_update_on_a_remote_tip_below_a_verified_one_is_recorded() {
    let c = Client::new();
    c.old_history();
    c.push(&["main"]).status(0);
    // The server has a branch on an older commit of main, which this
    // machine never pushed itself: only the recorded main reaches it.
    let bare = c.server.path().join("s.git");
    let below = c.client.git(&["rev-parse", "HEAD~2"]).trim().to_string();
    c.server
        .git_in(&bare, &["update-ref", "refs/heads/old", &below])
        .status(0);
    c.client.git(&["fetch", "-q", "origin"]);
    c.client.git(&["checkout", "-q", "-b", "old", "origin/old"]);
    c.commit("o.txt", "o\n");
    c.push(&["old"]).status(0);
    let text = c.record_text().unwrap();
    assert_eq!(text.lines().nth(2), Some(c.head().as_str()), "{text}");
    c.client.git(&["checkout", "-q", "-b", "topic"]);
    c.commit("t.txt", "t\n");
    c.hook_new_branch_small_limit("topic").status(0);
}

#[test]
fn a_changed_config_invalidates_the_record() {
    let c = Client::new();
    let config = c.client.path().join(".keygate.toml");
    std::fs::write(&config, "[allowlist]\npaths = [\"fixtures/**\"]\n").unwrap();
    c.commit("README.md", "# x\n");
    c.commit("fixtures/a.env", env_file());
    c.commit("b.txt", "b\n");
    c.push(&["main"]).status(0);
    let before = c.record_text().unwrap();

    // The allowlist entry is removed: the key allowed before is found on the
    // next new branch, below the tip recorded under the old config.
    std::fs::write(&config, "# no allowlist\n").unwrap();
    c.client.git(&["checkout", "-q", "-b", "topic"]);
    c.commit("t.txt", "t\n");
    let run = c.push(&["topic"]);
    assert_eq!(run.status, Some(1), "{run:?}");
    run.output_has("fixtures/a.env").never_shows(&key_id());
    assert_eq!(c.record_text().unwrap(), before, "findings: no write");

    // Allowed again (the same bytes): the old record counts again.
    std::fs::write(&config, "[allowlist]\npaths = [\"fixtures/**\"]\n").unwrap();
    c.push(&["topic"]).status(0);
    let after = c.record_text().unwrap();
    assert_eq!(after.lines().nth(1), before.lines().nth(1), "same digest");
    assert_eq!(after.lines().nth(2), Some(c.head().as_str()));

    // Any other config (here a rule disabled): another digest, the record
    // is ignored, and rewritten after the next clean push.
    std::fs::write(
        &config,
        "[allowlist]\npaths = [\"fixtures/**\"]\n[detect]\ndisable = [\"aws-session-token\"]\n",
    )
    .unwrap();
    c.commit("big.txt", "x".repeat(BIG));
    c.hook_new_branch_small_limit("more").status(2);
    c.push(&["HEAD:refs/heads/more"]).status(0);
    let rewritten = c.record_text().unwrap();
    assert_ne!(rewritten.lines().nth(1), before.lines().nth(1));
    assert_eq!(rewritten.lines().skip(2).collect::<Vec<_>>(), [c.head()]);
}

#[test]
fn own_keys_and_the_baseline_are_part_of_the_digest() {
    let c = Client::new();
    // A value no rule finds on its own, unless it is one of the user's keys.
    let own = secret();
    c.commit("README.md", "# x\n");
    c.commit("notes.txt", format!("{own}\n"));
    c.commit("b.txt", "b\n");
    c.push(&["main"]).status(0);
    assert!(c.record_text().is_some());

    let aws = c.client.path().join(".aws");
    std::fs::create_dir_all(&aws).unwrap();
    std::fs::write(
        aws.join("credentials"),
        format!("[default]\naws_secret_access_key = {own}\n"),
    )
    .unwrap();
    c.client.git(&["checkout", "-q", "-b", "topic"]);
    c.commit("t.txt", "t\n");
    let run = c.push(&["topic"]);
    assert_eq!(run.status, Some(1), "{run:?}");
    run.output_has("notes.txt").never_shows(&own);
    let text = c.record_text().unwrap();
    assert!(!text.contains(&own) && !text.contains(&own[..8]), "{text}");
    std::fs::remove_dir_all(&aws).unwrap();

    // A baseline's contents count, not only its name in the config.
    std::fs::write(
        c.client.path().join(".keygate.toml"),
        "[allowlist]\nbaseline = \"base.txt\"\n",
    )
    .unwrap();
    std::fs::write(c.client.path().join("base.txt"), "# none\n").unwrap();
    c.commit("big.txt", "x".repeat(BIG));
    c.push(&["topic"]).status(0);
    c.commit("t2.txt", "t\n");
    c.hook_new_branch_small_limit("x").status(0);
    std::fs::write(c.client.path().join("base.txt"), "# changed\n").unwrap();
    c.hook_new_branch_small_limit("x").status(2);
}

#[test]
fn a_record_that_is_corrupt_foreign_or_not_a_file_is_ignored() {
    let c = Client::new();
    c.old_history();
    c.push(&["main"]).status(0);
    let good = c.record_text().unwrap();
    let digest = good.lines().nth(1).unwrap().to_string();
    c.client.git(&["checkout", "-q", "-b", "topic"]);
    c.commit("t.txt", "t\n");
    c.hook_new_branch_small_limit("topic").status(0);

    let unknown = "1234567890abcdef1234567890abcdef12345678";
    let blob = c
        .client
        .git(&["rev-parse", "HEAD:t.txt"])
        .trim()
        .to_string();
    let main = good.lines().nth(2).unwrap();
    let other_digest = format!("digest {}", "0".repeat(40));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("garbage", b"\xff\xfe garbage\n".to_vec()),
        (
            "truncated id",
            format!("keygate pre-push verified 1\n{digest}\n{}\n", &main[..20]).into_bytes(),
        ),
        (
            "unknown ids",
            format!("keygate pre-push verified 1\n{digest}\n{unknown}\n{blob}\n").into_bytes(),
        ),
        (
            "another digest",
            format!("keygate pre-push verified 1\n{other_digest}\n{main}\n").into_bytes(),
        ),
        (
            "another format",
            format!("keygate pre-push verified 9\n{digest}\n{main}\n").into_bytes(),
        ),
        (
            "huge",
            format!("{good}{}", format!("{main}\n").repeat(3000)).into_bytes(),
        ),
    ];
    for (what, bytes) in cases {
        std::fs::write(c.record(), &bytes).unwrap();
        let run = c.hook_new_branch_small_limit("topic");
        assert_eq!(run.status, Some(2), "{what}: {run:?}");
        run.stderr_has("big.txt");
        // A clean, whole run replaces it with a good one.
        c.hook_new_branch("topic", &[]).status(0);
        let text = c.record_text().unwrap();
        assert!(
            text.lines().nth(2) == Some(c.head().as_str()),
            "{what}: {text}"
        );
        c.hook_new_branch_small_limit("topic").status(0);
    }

    // A recorded commit whose parent is not here: the walk cannot go below
    // it, so the record is set aside, not the push refused.
    let tree = c
        .client
        .git(&["rev-parse", "HEAD^{tree}"])
        .trim()
        .to_string();
    let object = format!(
        "tree {tree}\nparent {unknown}\nauthor A <a@b> 1700000000 +0000\n\
         committer A <a@b> 1700000000 +0000\n\nbroken\n"
    );
    std::fs::write(c.client.path().join("broken.txt"), object).unwrap();
    let broken = c
        .client
        .git(&[
            "hash-object",
            "-t",
            "commit",
            "-w",
            "--literally",
            "broken.txt",
        ])
        .trim()
        .to_string();
    std::fs::write(
        c.record(),
        format!("keygate pre-push verified 1\n{digest}\n{broken}\n"),
    )
    .unwrap();
    c.hook_new_branch_small_limit("topic")
        .status(2)
        .stderr_has("big.txt");
    c.hook_new_branch("topic", &[]).status(0);

    // Not a regular file: a directory, a FIFO (never waited on), a symlink.
    std::fs::remove_file(c.record()).unwrap();
    std::fs::create_dir(c.record()).unwrap();
    c.hook_new_branch_small_limit("topic").status(2);
    c.hook_new_branch("topic", &[])
        .status(0)
        .stderr_has("cannot record");
    std::fs::remove_dir(c.record()).unwrap();
    #[cfg(unix)]
    {
        let made = std::process::Command::new("mkfifo")
            .arg(c.record())
            .status()
            .unwrap();
        assert!(made.success());
        c.hook_new_branch_small_limit("topic").status(2);
        std::fs::remove_file(c.record()).unwrap();

        let elsewhere = c.client.path().join("elsewhere");
        std::fs::write(&elsewhere, &good).unwrap();
        std::os::unix::fs::symlink(&elsewhere, c.record()).unwrap();
        c.hook_new_branch_small_limit("topic").status(2);
    }
}

#[test]
fn a_clean_history_run_seeds_the_record() {
    let c = Client::new();
    c.old_history();
    c.client.git(&["branch", "side"]);
    c.client.keygate(&["history"]).status(0);
    let text = c
        .record_text()
        .expect("a clean history run seeds the record");
    assert_eq!(text.lines().nth(2), Some(c.head().as_str()), "{text}");
    c.client.git(&["checkout", "-q", "-b", "topic"]);
    c.commit("t.txt", "t\n");
    c.hook_new_branch_small_limit("topic").status(0);

    // A range hides commits from the walk: nothing is recorded from it.
    std::fs::remove_file(c.record()).unwrap();
    c.client.keygate(&["history", "main..topic"]).status(0);
    assert_eq!(c.record_text(), None);

    // A history with a key: nothing recorded either.
    c.commit("a.env", env_file());
    c.client.keygate(&["history"]).status(1);
    assert_eq!(c.record_text(), None);
}

#[test]
fn a_shallow_clone_records_nothing() {
    let c = Client::new();
    c.old_history();
    c.push(&["main"]).status(0);
    let dev = Test::dir();
    let url = format!("file://{}", c.server.path().join("s.git").display());
    dev.git(&["clone", "-q", "--depth", "2", &url, "c"]);
    let clone = dev.path().join("c");
    install_hook(&clone.join(".git/hooks"), "pre-push");
    commit_in(&dev, &clone, &["checkout", "-q", "-b", "topic"]);
    std::fs::write(clone.join("t.txt"), "t\n").unwrap();
    commit_in(&dev, &clone, &["add", "t.txt"]);
    commit_in(&dev, &clone, &["commit", "-q", "-m", "t"]);
    commit_in(&dev, &clone, &["push", "-q", "origin", "topic"]).status(0);
    assert!(!clone.join(".git/keygate/pre-push-verified").exists());
}

/// Runs git in `dir` with an identity (a clone made by the tests has none).
fn commit_in(test: &Test, dir: &Path, args: &[&str]) -> Run {
    let mut all = vec!["-c", "user.name=Dev", "-c", "user.email=dev@example.com"];
    all.extend_from_slice(args);
    test.git_in(dir, &all)
}
