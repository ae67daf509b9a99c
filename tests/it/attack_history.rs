//! Issue 12, the walks: `history` across its rounds and in shallow clones,
//! and pre-push with stale remote-tracking refs. Each test is a hole that
//! once let a key in, or refused a scan it could do.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::util::*;

/// One commit of a `git fast-import` stream: `files` are (path, content)
/// pairs written whole (`None`: deleted); no files is an empty commit.
fn fast_commit(stream: &mut Vec<u8>, branch: &str, files: &[(&str, Option<&str>)]) {
    stream.extend_from_slice(
        format!(
            "commit refs/heads/{branch}\ncommitter Dev <dev@example.com> 1700000000 +0000\n\
             data 2\nc\n"
        )
        .as_bytes(),
    );
    for (path, content) in files {
        match content {
            Some(content) => stream.extend_from_slice(
                format!(
                    "M 100644 inline {path}\ndata {}\n{content}\n",
                    content.len()
                )
                .as_bytes(),
            ),
            None => stream.extend_from_slice(format!("D {path}\n").as_bytes()),
        }
    }
    stream.push(b'\n');
}

/// Feeds `stream` to `git fast-import` in `test` (thousands of commits in
/// well under a second) and checks out `main`.
fn fast_import(test: &Test, stream: &[u8]) {
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(test.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", test.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("run git fast-import");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stream)
        .expect("feed fast-import");
    assert!(child.wait().expect("fast-import").success());
    test.git(&["checkout", "-q", "-f", "main"]);
}

/// More commits than `history` lists and scans in one round (4,096).
const PAST_ONE_ROUND: usize = 4_200;

#[test]
fn issue12_12_key_blob_seen_without_an_added_key_line_is_found_at_a_new_path_rounds_later() {
    let test = Test::repo();
    let id = key_id();
    let first = format!("AWS_ACCESS_KEY_ID={id}\nAWS_REGION=eu-west-1\n");
    // The same key, only another line changed: the key line is not added here.
    let second = format!("AWS_ACCESS_KEY_ID={id}\nAWS_REGION=us-east-1\n");
    // Nothing in it but by its name: a credentials file once it is there.
    let profile = "[default]\nregion = eu-west-1\n";
    let mut stream = Vec::new();
    fast_commit(&mut stream, "main", &[("a.env", Some(&first))]);
    fast_commit(&mut stream, "main", &[("a.env", Some(&second))]);
    fast_commit(&mut stream, "main", &[("notes/profile.txt", Some(profile))]);
    for _ in 0..PAST_ONE_ROUND {
        fast_commit(&mut stream, "main", &[]);
    }
    // Rounds later, the same blobs arrive at new paths.
    fast_commit(
        &mut stream,
        "main",
        &[
            ("b.env", Some(&second)),
            (".aws/credentials", Some(profile)),
        ],
    );
    fast_import(&test, &stream);
    let first_commit = test.git(&["rev-list", "--max-parents=0", "HEAD"]);

    let run = test.keygate(&["history", "--format", "json"]);
    run.status(1).never_shows(&id);
    let paths: Vec<String> = run
        .findings()
        .iter()
        .map(|f| f["path"].as_str().unwrap_or_default().to_string())
        .collect();
    for path in ["a.env", "b.env", ".aws/credentials"] {
        assert!(paths.iter().any(|p| p == path), "{path} not in {paths:?}");
    }
    // Without the commit that first added the key, only the new path is
    // a finding: the blob was seen, its key line not added, rounds before.
    let range = format!("{}..main", first_commit.trim());
    let run = test.keygate(&["history", &range, "--format", "json"]);
    run.status(1).never_shows(&id);
    let paths: Vec<String> = run
        .findings()
        .iter()
        .map(|f| f["path"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(paths.iter().any(|p| p == "b.env"), "{paths:?}");
    assert!(!paths.iter().any(|p| p == "a.env"), "{paths:?}");
}

/// A repository of `origin_commits` (one file written or removed per
/// commit, in order) and a `--depth 3` clone of it: the last three commits,
/// the third from the end grafted as a root.
fn shallow_clone_of(origin_commits: &[(&str, Option<String>)]) -> (Test, Test) {
    let origin = Test::repo();
    for (i, (path, content)) in origin_commits.iter().enumerate() {
        match content {
            Some(content) => {
                origin.stage(path, content);
            }
            None => {
                origin.git(&["rm", "-q", "--", path]);
            }
        }
        origin.git(&["commit", "-q", "--no-verify", "-m", &format!("c{i}")]);
    }
    let clone = Test::dir();
    let url = format!("file://{}", origin.path().display());
    clone.git(&["clone", "-q", "--depth", "3", &url, "shallow"]);
    (origin, clone)
}

#[test]
fn issue12_13_shallow_clone_is_scanned_to_its_boundary_and_says_how_deep() {
    let env = format!("AWS_ACCESS_KEY_ID={}\n", key_id());
    // A key added and removed before the clone's depth: not in it, clean.
    let (_origin, clone) = shallow_clone_of(&[
        ("old.env", Some(env.clone())),
        ("old.env", None),
        ("a.txt", Some("1\n".into())),
        ("a.txt", Some("2\n".into())),
        ("a.txt", Some("3\n".into())),
    ]);
    let dir = clone.path().join("shallow");
    let run = clone.keygate_in(&dir, &["history"], None);
    run.status(0)
        .stderr_has("shallow clone")
        .stderr_has("3 commits, down to 1 boundary commit")
        .never_shows(&key_id());
    // A range that stays above the boundary is whole: nothing to say.
    let run = clone.keygate_in(&dir, &["history", "HEAD~1..HEAD"], None);
    run.status(0);
    assert!(!run.stderr.contains("shallow"), "{}", run.stderr);

    // A key added before the clone's depth and still in the tree: the
    // boundary commit's whole tree is what it adds, so it is found there.
    let (_origin, clone) = shallow_clone_of(&[
        ("deep.env", Some(env.clone())),
        ("a.txt", Some("1\n".into())),
        ("a.txt", Some("2\n".into())),
        ("a.txt", Some("3\n".into())),
    ]);
    let dir = clone.path().join("shallow");
    let boundary = clone.git_in(&dir, &["rev-parse", "HEAD~2"]);
    let run = clone.keygate_in(&dir, &["history", "--format", "json"], None);
    run.status(1)
        .stderr_has("shallow clone")
        .never_shows(&key_id());
    let findings = run.findings();
    assert_eq!(findings.len(), 1, "{}", run.stdout);
    assert_eq!(findings[0]["path"], "deep.env");
    assert_eq!(findings[0]["commit"], boundary.stdout.trim());

    // A missing object that is not beyond the boundary is still an error.
    std::fs::write(dir.join("new.txt"), "local\n").unwrap();
    clone.git_in(&dir, &["add", "new.txt"]);
    let blob = clone.git_in(&dir, &["rev-parse", ":new.txt"]).stdout;
    let blob = blob.trim();
    let commit = clone.git_in(
        &dir,
        &[
            "-c",
            "user.name=Dev",
            "-c",
            "user.email=dev@example.com",
            "commit",
            "-q",
            "--no-verify",
            "-m",
            "local",
        ],
    );
    assert_eq!(commit.status, Some(0), "{commit:?}");
    std::fs::remove_file(dir.join(".git/objects").join(&blob[..2]).join(&blob[2..])).unwrap();
    clone
        .keygate_in(&dir, &["history"], None)
        .status(2)
        .stderr_has(blob);
}

/// Runs git in `dir` with an identity (a clone made by the tests has none).
fn git_as_dev(test: &Test, dir: &std::path::Path, args: &[&str]) -> Run {
    let mut all = vec!["-c", "user.name=Dev", "-c", "user.email=dev@example.com"];
    all.extend_from_slice(args);
    test.git_in(dir, &all)
}

#[test]
fn issue12_14_pre_push_does_not_trust_a_stale_remote_tracking_ref() {
    // A server without a gate, where someone pushed a key on `feature`.
    let (server, bare, url) = bare_server();
    let other = other_developer(&url);
    other.git(&["checkout", "-q", "-b", "feature"]);
    other.stage(
        "k.env",
        format!(
            "AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}\n",
            key_id(),
            secret()
        ),
    );
    other.git(&["commit", "-q", "--no-verify", "-m", "key"]);
    other.git(&["push", "-q", "origin", "feature"]);

    // A developer's clone, with keygate's pre-push hook, fetches it...
    let dev = Test::dir();
    dev.git(&["clone", "-q", &url, "c"]);
    let clone = dev.path().join("c");
    install_hook(&clone.join(".git/hooks"), "pre-push");
    // ...then the server deletes the branch (to get rid of the key); the
    // clone is not pruned: refs/remotes/origin/feature stays.
    server.git_in(&bare, &["branch", "-q", "-D", "feature"]);
    assert_eq!(
        dev.git_in(&clone, &["rev-parse", "-q", "--verify", "origin/feature"])
            .status,
        Some(0)
    );

    // A new branch on the deleted one would bring the key back.
    git_as_dev(
        &dev,
        &clone,
        &["checkout", "-q", "-b", "topic", "origin/feature"],
    );
    std::fs::write(clone.join("notes.txt"), "more\n").unwrap();
    git_as_dev(&dev, &clone, &["add", "notes.txt"]);
    git_as_dev(&dev, &clone, &["commit", "-q", "-m", "more"]);
    let run = git_as_dev(&dev, &clone, &["push", "-q", "origin", "topic"]);
    assert_eq!(run.status, Some(1), "{run:?}");
    run.output_has("k.env")
        .stderr_has("those refs can be stale")
        .never_shows(&secret())
        .never_shows(&key_id());
    let on_server = server.git_in(&bare, &["rev-parse", "-q", "--verify", "refs/heads/topic"]);
    assert_ne!(on_server.status, Some(0), "the push reached the server");

    // A new branch from main, which the server has: clean, it goes through.
    git_as_dev(
        &dev,
        &clone,
        &["checkout", "-q", "-b", "fix", "origin/main"],
    );
    std::fs::write(clone.join("fix.txt"), "fix\n").unwrap();
    git_as_dev(&dev, &clone, &["add", "fix.txt"]);
    git_as_dev(&dev, &clone, &["commit", "-q", "-m", "fix"]);
    git_as_dev(&dev, &clone, &["push", "-q", "origin", "fix"]).status(0);
}

#[test]
fn issue12_14_pre_push_scans_from_the_tip_the_remote_reports_after_a_rewrite() {
    // The server's main once had a key on top; it was rewritten away
    // (force-pushed back), after a developer had fetched it.
    let (server, bare, url) = bare_server();
    let other = other_developer(&url);
    let clean_tip = other.git(&["rev-parse", "HEAD"]).trim().to_string();
    other.stage(
        "k.env",
        format!(
            "AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}\n",
            key_id(),
            secret()
        ),
    );
    other.git(&["commit", "-q", "--no-verify", "-m", "key"]);
    other.git(&["push", "-q", "origin", "main"]);
    let dev = Test::dir();
    dev.git(&["clone", "-q", &url, "c"]);
    let clone = dev.path().join("c");
    install_hook(&clone.join(".git/hooks"), "pre-push");
    server.git_in(&bare, &["update-ref", "refs/heads/main", &clean_tip]);

    // The developer builds on the main they have and pushes: git reports
    // the server's tip (before the key), and the key commit is new again.
    std::fs::write(clone.join("more.txt"), "more\n").unwrap();
    git_as_dev(&dev, &clone, &["add", "more.txt"]);
    git_as_dev(&dev, &clone, &["commit", "-q", "-m", "more"]);
    let run = git_as_dev(&dev, &clone, &["push", "-q", "origin", "main"]);
    assert_eq!(run.status, Some(1), "{run:?}");
    run.output_has("k.env")
        .never_shows(&secret())
        .never_shows(&key_id());
    let main = server.git_in(&bare, &["rev-parse", "refs/heads/main"]);
    assert_eq!(main.stdout.trim(), clean_tip);
}

#[test]
fn issue12_14_key_already_on_the_remote_blocks_a_new_branch_until_baselined() {
    // The trade-off of not trusting remote-tracking refs: a key in history
    // the remote already has is scanned again when a new branch is pushed.
    // It blocks, says why, and a baseline (the way to adopt keygate on a
    // history with keys) lets it through; a new key still blocks.
    let (_server, _bare, url) = bare_server();
    let other = Test::repo();
    other.git(&["remote", "add", "origin", &url]);
    other.stage("old.env", format!("AWS_ACCESS_KEY_ID={}\n", key_id()));
    other.git(&["commit", "-q", "--no-verify", "-m", "old key"]);
    other.git(&["push", "-q", "origin", "main"]);
    let dev = Test::dir();
    dev.git(&["clone", "-q", &url, "c"]);
    let clone = dev.path().join("c");
    install_hook(&clone.join(".git/hooks"), "pre-push");
    git_as_dev(&dev, &clone, &["checkout", "-q", "-b", "topic"]);
    std::fs::write(clone.join("a.txt"), "a\n").unwrap();
    git_as_dev(&dev, &clone, &["add", "a.txt"]);
    git_as_dev(&dev, &clone, &["commit", "-q", "-m", "a"]);
    let run = git_as_dev(&dev, &clone, &["push", "-q", "origin", "topic"]);
    assert_eq!(run.status, Some(1), "{run:?}");
    run.output_has("old.env")
        .stderr_has("remote-tracking refs as of the last fetch")
        .stderr_has("--write-baseline")
        .never_shows(&key_id());

    dev.keygate_in(
        &clone,
        &["history", "--write-baseline", ".keygate-baseline"],
        None,
    )
    .status(0);
    std::fs::write(
        clone.join(".keygate.toml"),
        "[allowlist]\nbaseline = \".keygate-baseline\"\n",
    )
    .unwrap();
    git_as_dev(&dev, &clone, &["push", "-q", "origin", "topic"]).status(0);

    std::fs::write(
        clone.join("new.env"),
        format!("AWS_ACCESS_KEY_ID={}\n", key_id2()),
    )
    .unwrap();
    git_as_dev(&dev, &clone, &["add", "new.env"]);
    git_as_dev(
        &dev,
        &clone,
        &["commit", "-q", "--no-verify", "-m", "new key"],
    );
    let run = git_as_dev(
        &dev,
        &clone,
        &["push", "-q", "origin", "HEAD:refs/heads/other"],
    );
    assert_eq!(run.status, Some(1), "{run:?}");
    run.output_has("new.env").never_shows(&key_id2());
    assert!(!run.stdout.contains("old.env") && !run.stderr.contains("old.env"));
}

#[test]
fn issue12_14_new_branch_from_a_shallow_clone_is_scanned_to_its_boundary() {
    // With no tracking ref to stop at, a new branch's walk reaches the
    // clone's boundary: its commits are roots there, not missing parents.
    let (origin, clone) = shallow_clone_of(&[
        ("old.env", Some(format!("AWS_ACCESS_KEY_ID={}\n", key_id()))),
        ("old.env", None),
        ("a.txt", Some("1\n".into())),
        ("a.txt", Some("2\n".into())),
        ("a.txt", Some("3\n".into())),
    ]);
    // The clone's origin is the work tree repository: push to a bare copy.
    let server = Test::dir();
    let bare = server.path().join("s.git");
    server.git(&[
        "clone",
        "-q",
        "--bare",
        origin.path().to_str().unwrap(),
        "s.git",
    ]);
    let dir = clone.path().join("shallow");
    let url = format!("file://{}", bare.display());
    clone.git_in(&dir, &["remote", "set-url", "origin", &url]);
    install_hook(&dir.join(".git/hooks"), "pre-push");
    git_as_dev(&clone, &dir, &["checkout", "-q", "-b", "topic"]);
    std::fs::write(dir.join("b.txt"), "b\n").unwrap();
    git_as_dev(&clone, &dir, &["add", "b.txt"]);
    git_as_dev(&clone, &dir, &["commit", "-q", "-m", "b"]);
    git_as_dev(&clone, &dir, &["push", "-q", "origin", "topic"]).status(0);
    std::fs::write(
        dir.join("k.env"),
        format!("AWS_ACCESS_KEY_ID={}\n", key_id2()),
    )
    .unwrap();
    git_as_dev(&clone, &dir, &["add", "k.env"]);
    git_as_dev(&clone, &dir, &["commit", "-q", "--no-verify", "-m", "key"]);
    let run = git_as_dev(
        &clone,
        &dir,
        &["push", "-q", "origin", "HEAD:refs/heads/next"],
    );
    assert_eq!(run.status, Some(1), "{run:?}");
    run.output_has("k.env").never_shows(&key_id2());
}

#[test]
fn issue12_12_a_credentials_file_is_one_by_its_name_in_git_inputs_too() {
    // `scan` always reported it; the git inputs skipped it when nothing in
    // it looked like a key (the prefilter shortcut ran before the name rule).
    let test = Test::repo();
    test.stage(".aws/credentials", "[default]\nregion = eu-west-1\n");
    test.keygate(&["--staged"])
        .status(1)
        .stdout_has("aws-credential-file");
    test.git(&["commit", "-q", "--no-verify", "-m", "profile"]);
    test.keygate(&["history"])
        .status(1)
        .stdout_has("aws-credential-file");
}
