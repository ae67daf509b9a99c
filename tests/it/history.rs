//! `keygate history`: what is already in a repository's past, grouped, with
//! "in the tree now" or "only in history", and a baseline for adoption.

use crate::util::*;

fn env_line() -> String {
    format!("AWS_ACCESS_KEY_ID={}\n", key_id())
}

fn commit(test: &Test, name: &str, content: impl AsRef<[u8]>, message: &str) {
    test.stage(name, content);
    test.git(&["commit", "-q", "--no-verify", "-m", message]);
}

#[test]
fn key_removed_long_ago_is_only_in_history_and_names_its_commit() {
    let test = Test::repo();
    commit(&test, "README.md", "# x\n", "init");
    commit(&test, "old.env", env_line(), "add key");
    let introduced = test.git(&["rev-parse", "HEAD"]).trim().to_string();
    commit(&test, "old.env", "AWS_REGION=eu-west-1\n", "remove key");
    commit(&test, "later.txt", "more\n", "later");
    let run = test.keygate(&["history"]);
    run.status(1)
        .stdout_has("old.env:1:19")
        .stdout_has(&introduced)
        .stdout_has("Dev <dev@example.com>")
        .stdout_has("only in history")
        .never_shows(&key_id());
    let json = test.keygate(&["history", "--format", "json"]).findings();
    assert_eq!(json.len(), 1);
    assert_eq!(json[0]["in_tree_now"], false);
    assert_eq!(json[0]["commit"], introduced.as_str());
}

#[test]
fn key_still_in_the_tree_is_reported_as_such() {
    let test = Test::repo();
    commit(&test, "app.env", env_line(), "key");
    commit(&test, "other.txt", "x\n", "other");
    test.keygate(&["history"])
        .status(1)
        .stdout_has("in the tree now");
}

#[test]
fn the_same_key_in_many_commits_is_one_entry() {
    let test = Test::repo();
    for i in 0..4 {
        commit(&test, "flip.env", env_line(), &format!("add {i}"));
        commit(
            &test,
            "flip.env",
            "AWS_REGION=eu-west-1\n",
            &format!("remove {i}"),
        );
    }
    let run = test.keygate(&["history", "--format", "json"]);
    run.status(1);
    let findings = run.findings();
    assert_eq!(findings.len(), 1, "{}", run.stdout);
    assert_eq!(findings[0]["occurrences"], 4);
    assert!(findings[0]["last_commit"].is_string());
    test.keygate(&["history"])
        .stdout_has("seen in:     4 commits");
}

#[test]
fn keys_on_side_branches_and_tags_are_found_by_default_not_with_head_alone() {
    let test = Test::repo();
    commit(&test, "README.md", "# x\n", "init");
    test.git(&["checkout", "-q", "-b", "side"]);
    commit(&test, "side.env", env_line(), "side key");
    test.git(&["checkout", "-q", "main"]);
    test.git(&["checkout", "-q", "--detach"]);
    commit(
        &test,
        "tagged.env",
        format!("AWS_ACCESS_KEY_ID={}\n", key_id2()),
        "tagged key",
    );
    test.git(&["tag", "v1"]);
    test.git(&["checkout", "-q", "main"]);
    let findings = test.keygate(&["history", "--format", "json"]).findings();
    let paths: Vec<&str> = findings
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"side.env") && paths.contains(&"tagged.env"),
        "{paths:?}"
    );
    test.keygate(&["history", "HEAD"]).status(0);
    test.keygate(&["history", "main..side"])
        .status(1)
        .stdout_has("side.env");
}

#[test]
fn works_on_a_bare_repository_and_reports_unknown_revisions() {
    let test = Test::repo();
    commit(&test, "a.env", env_line(), "key");
    let bare = Test::dir();
    bare.git(&[
        "clone",
        "-q",
        "--bare",
        test.path().to_str().unwrap(),
        "b.git",
    ]);
    bare.keygate_in(&bare.path().join("b.git"), &["history"], None)
        .status(1)
        .stdout_has("a.env:1:19");
    test.keygate(&["history", "no-such-branch"])
        .status(2)
        .stderr_has("no-such-branch");
}

#[test]
fn baseline_lets_old_keys_pass_and_still_catches_new_places() {
    let test = Test::repo();
    commit(
        &test,
        "legacy.env",
        format!("# old\n{}", env_line()),
        "legacy key",
    );
    test.keygate(&["history", "--write-baseline", "keygate-baseline.txt"])
        .status(0);
    let baseline = std::fs::read_to_string(test.path().join("keygate-baseline.txt")).unwrap();
    assert!(
        baseline.contains("aws-access-key-id:legacy.env:"),
        "{baseline}"
    );
    assert!(!baseline.contains(&key_id()) && !baseline.contains(&key_id()[4..]));
    // The key's line is edited (so it is an added line again): blocked
    // without the baseline...
    test.stage("legacy.env", format!("# old\nexport {}", env_line()));
    test.keygate(&["--staged"]).status(1);
    // ...and allowed with it.
    test.write(
        ".keygate.toml",
        "[allowlist]\nbaseline = \"keygate-baseline.txt\"\n",
    );
    test.keygate(&["--staged"]).status(0);
    // The same key in a new place is still blocked.
    test.stage("new-place.env", env_line());
    test.keygate(&["--staged"])
        .status(1)
        .stdout_has("new-place.env");
    // A missing baseline file is a config error.
    test.write(".keygate.toml", "[allowlist]\nbaseline = \"missing.txt\"\n");
    test.keygate(&["--staged"])
        .status(2)
        .stderr_has("missing.txt");
}

/// Packed and deltified (as after `git gc` or a clone), a key deep in a
/// delta chain is found on the right line, as in loose objects.
#[test]
fn packed_deltified_history_is_read_like_loose_objects() {
    let test = Test::repo();
    let mut text = String::new();
    for i in 0..200 {
        text.push_str(&format!("line {i} of a long configuration file\n"));
    }
    commit(&test, "config.ini", &text, "init");
    let keyed = format!("{text}aws_access_key_id = {}\n", key_id());
    commit(&test, "config.ini", &keyed, "add key at line 201");
    let introduced = test.git(&["rev-parse", "HEAD"]).trim().to_string();
    for i in 0..30 {
        text.push_str(&format!("edit {i}\n"));
        commit(&test, "config.ini", &text, &format!("edit {i}"));
    }
    let loose = test.keygate(&["history", "--format", "json"]).findings();
    test.git(&["gc", "-q", "--aggressive", "--prune=now"]);
    let objects = test.path().join(".git/objects");
    let loose_left = std::fs::read_dir(&objects)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().len() == 2)
        .count();
    assert_eq!(loose_left, 0, "gc should have packed every object");
    let run = test.keygate(&["history", "--format", "json"]);
    run.status(1);
    let packed = run.findings();
    assert_eq!(packed, loose);
    assert_eq!(packed.len(), 1);
    assert_eq!(packed[0]["line"], 201);
    assert_eq!(packed[0]["commit"], introduced.as_str());
}

/// `git clone --shared` borrows its objects through `objects/info/alternates`.
#[test]
fn objects_borrowed_through_alternates_are_read() {
    let origin = Test::repo();
    commit(&origin, "a.env", env_line(), "key");
    commit(&origin, "a.env", "AWS_REGION=eu-west-1\n", "remove key");
    let clone = Test::dir();
    clone.git(&[
        "clone",
        "-q",
        "--shared",
        origin.path().to_str().unwrap(),
        "c",
    ]);
    let repo = clone.path().join("c");
    assert!(repo.join(".git/objects/info/alternates").exists());
    clone
        .keygate_in(&repo, &["history"], None)
        .status(1)
        .stdout_has("a.env:1:19")
        .stdout_has("only in history");
}

/// A merge adds only what differs from every parent: the side branch's key
/// is attributed to the side commit, not again to the merge.
#[test]
fn a_merge_is_not_blamed_for_what_a_parent_brought() {
    let test = Test::repo();
    commit(&test, "README.md", "# x\n", "init");
    test.git(&["checkout", "-q", "-b", "side"]);
    commit(&test, "side.env", env_line(), "side key");
    let side = test.git(&["rev-parse", "HEAD"]).trim().to_string();
    test.git(&["checkout", "-q", "-"]);
    commit(&test, "main.txt", "main work\n", "main work");
    test.git(&["merge", "-q", "--no-edit", "side"]);
    let run = test.keygate(&["history", "--format", "json"]);
    run.status(1);
    let findings = run.findings();
    assert_eq!(findings.len(), 1, "{}", run.stdout);
    assert_eq!(findings[0]["commit"], side.as_str());
    assert_eq!(findings[0]["occurrences"], 1);
}

/// --max-file-size caps blobs, loose or packed, and says so (exit 2, never
/// clean); trees and commits are not blobs and are still read.
#[test]
fn blobs_over_the_size_cap_are_reported_not_scanned_loose_or_packed() {
    let test = Test::repo();
    // The root tree of this commit is over 1000 bytes too.
    for i in 0..100 {
        test.write(&format!("many/file-with-a-long-name-{i:03}.txt"), "x\n");
    }
    test.git(&["add", "."]);
    commit(&test, "big.txt", "0123456789abcdef\n".repeat(200), "big");
    for packed in [false, true] {
        if packed {
            test.git(&["gc", "-q", "--prune=now"]);
        }
        test.keygate(&["history", "--max-file-size", "1000"])
            .status(2)
            .stderr_has("big.txt")
            .stderr_has("over the 1000-byte limit")
            .stderr_has("not reporting clean");
    }
}

/// On a terminal, a progress line runs on its own thread while the history
/// is read; it must neither block the run nor be left on the screen.
#[cfg(unix)]
#[test]
fn progress_on_a_terminal_does_not_block_the_run() {
    let test = Test::repo();
    commit(&test, "a.env", env_line(), "key");
    let exe = env!("CARGO_BIN_EXE_keygate");
    // util-linux `script` gives the command a pseudo-terminal.
    let child = std::process::Command::new("script")
        .args(["-qec", &format!("'{exe}' history"), "/dev/null"])
        .current_dir(test.path())
        .env("HOME", test.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux script (Debian: bsdutils, essential)");
    let output = wait_or_kill(child, KEYGATE_TIMEOUT);
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("of 1 commits"), "no progress line: {text}");
    assert!(text.contains("a.env:1:19"), "{text}");
    assert!(!text.contains(&key_id()), "{text}");
}

/// A long history is scanned in rounds of commits (memory does not grow with
/// it): a key brought again thousands of commits later is still counted, and
/// the first commit stays the one named.
#[test]
fn a_key_brought_again_in_a_later_round_is_still_counted() {
    use std::io::Write;
    let test = Test::repo();
    let mut stream = Vec::new();
    for i in 1..=4200u32 {
        write!(
            stream,
            "commit refs/heads/main\nmark :{i}\ncommitter Dev <dev@example.com> {} +0000\ndata 2\nc\n",
            1_700_000_000 + i
        )
        .unwrap();
        if i > 1 {
            writeln!(stream, "from :{}", i - 1).unwrap();
        }
        let text = format!("line {i}\n");
        write!(
            stream,
            "M 100644 inline file.txt\ndata {}\n{text}\n",
            text.len()
        )
        .unwrap();
        if i == 10 || i == 4150 {
            let key = env_line();
            write!(
                stream,
                "M 100644 inline key.env\ndata {}\n{key}\n",
                key.len()
            )
            .unwrap();
        }
        if i == 11 {
            writeln!(stream, "D key.env").unwrap();
        }
    }
    let mut import = std::process::Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(test.path())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    import.stdin.take().unwrap().write_all(&stream).unwrap();
    assert!(import.wait().unwrap().success());
    let first = test.git(&["rev-list", "--reverse", "main"]);
    let first = first.lines().nth(9).unwrap().to_string();
    let run = test.keygate(&["history", "main", "--format", "json"]);
    run.status(1);
    let findings = run.findings();
    assert_eq!(findings.len(), 1, "{}", run.stdout);
    assert_eq!(findings[0]["occurrences"], 2);
    assert_eq!(findings[0]["commit"], first.as_str());
    assert_eq!(run.json()["inputs_scanned"], 4202);
}
