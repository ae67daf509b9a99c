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
