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
