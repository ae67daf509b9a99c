//! Issue 12, what a change brings besides file contents: commit messages,
//! paths and ref names, and content that a rename or copy moves out of an
//! allowlisted path. Each test is a hole that once let a key in with exit 0.

use std::path::{Path, PathBuf};

use keygate::engine::allowlist::Allowlist;
use keygate::engine::detect::Detector;
use keygate::engine::scanner::{ScanReport, Scanner};

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

    /// Whether the server has commit `name` (a ref or an id).
    fn server_has(&self, name: &str) -> bool {
        let object = format!("{name}^{{commit}}");
        self.server
            .git_in(&self.bare(), &["cat-file", "-e", &object])
            .status
            == Some(0)
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

// --- 12.4: commit messages, paths and ref names ----------------------------

fn pasted_env() -> String {
    format!("fix deploy\n\nfailing command:\n  AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={} aws s3 ls\n",
        key_id(), secret())
}

#[test]
fn issue12_4_a_key_in_a_commit_message_is_rejected_by_pre_receive() {
    let s = Server::new(None);
    s.commit("init");
    s.push("main").status(0);
    let bad = s.commit(&pasted_env());
    s.commit("later, clean");
    let run = s.push("main");
    assert_ne!(run.status, Some(0), "{run:?}");
    run.stderr_has("commit-message:4:")
        .stderr_has(&bad)
        .stderr_has("aws-credential-pair")
        .never_shows(&key_id())
        .never_shows(&secret());
    assert!(!s.server_has(&bad));
    // The inline marker on the message's line allows it, as in a file.
    s.client.git(&["reset", "-q", "--hard", "origin/main"]);
    s.commit(&format!(
        "docs: the sample key\n\nAWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={} # keygate:allow\n",
        key_id(),
        secret()
    ));
    s.push("main").status(0);
}

#[test]
fn issue12_4_a_key_in_a_commit_message_is_stopped_by_pre_push() {
    let s = Server::new(None);
    install_hook(&s.client.path().join(".git/hooks"), "pre-push");
    s.commit("init");
    s.push("main").status(0);
    let bad = s.commit(&pasted_env());
    let run = s.push("main");
    assert_ne!(run.status, Some(0), "{run:?}");
    run.output_has("push stopped before anything was sent")
        .output_has("commit-message:4:")
        .output_has(&bad)
        .never_shows(&secret());
    assert!(!s.server_has(&bad));
}

#[test]
fn issue12_4_history_finds_a_key_in_an_old_commit_message() {
    let t = Test::repo();
    t.git(&["commit", "-q", "--allow-empty", "-m", &pasted_env()]);
    let bad = t.git(&["rev-parse", "HEAD"]).trim().to_string();
    for i in 0..3 {
        t.git(&["commit", "-q", "--allow-empty", "-m", &format!("c{i}")]);
    }
    let run = t.keygate(&["history", "--format", "json"]);
    run.status(1).never_shows(&secret());
    let findings = run.findings();
    assert_eq!(findings.len(), 1, "{}", run.stdout);
    assert_eq!(findings[0]["path"], "commit-message");
    assert_eq!(findings[0]["commit"], bad.as_str());
    t.keygate(&["history"])
        .status(1)
        .stdout_has("commit-message:4:")
        .stdout_has(&bad)
        .never_shows(&key_id());
}

#[test]
fn issue12_4_the_commit_msg_hook_blocks_a_key_in_the_message() {
    let t = Test::repo();
    install_hook(&t.path().join(".git/hooks"), "commit-msg");
    t.stage("README.md", "# x\n");
    t.commit(&pasted_env())
        .status(1)
        .output_has("commit blocked")
        .output_has("in the commit message")
        .output_has("commit-message:4:")
        .output_has("COMMIT_EDITMSG")
        .never_shows("--no-verify")
        .never_shows(&key_id())
        .never_shows(&secret());
    assert_eq!(t.commit_count(), 0);
    // A key ID alone, on the subject line, likewise.
    t.commit(&format!("rotate {}", key_id())).status(1);
    assert_eq!(t.commit_count(), 0);
    // Clean messages and marked lines pass.
    t.commit("add readme").status(0);
    t.stage("notes.txt", "n\n");
    t.commit(&format!("sample id {} keygate:allow", key_id()))
        .status(0);
    assert_eq!(t.commit_count(), 2);
}

#[test]
fn issue12_4_a_file_or_directory_named_by_a_key_id_is_blocked() {
    // Through the pre-commit hook.
    let t = Test::repo();
    t.install_pre_commit_hook();
    t.stage(&format!("keys/{}.txt", key_id()), "nothing here\n");
    t.commit("add")
        .status(1)
        .output_has("(path)")
        .never_shows(&key_id());
    assert_eq!(t.commit_count(), 0);

    // Through pre-receive, one finding for a directory of files.
    let s = Server::new(None);
    s.commit("init");
    s.push("main").status(0);
    for name in ["a.txt", "b.txt", "c.txt"] {
        s.client
            .stage(&format!("cfg/{}/{name}", key_id()), "plain\n");
    }
    let bad = s.commit("add dir");
    let run = s.push("main");
    assert_ne!(run.status, Some(0), "{run:?}");
    run.stderr_has("(path)")
        .stderr_has(&bad)
        .stderr_has("1 AWS credential in the pushed commits")
        .never_shows(&key_id());

    // And history.
    let run = s.client.keygate(&["history", "--format", "json"]);
    run.status(1).never_shows(&key_id());
    let findings = run.findings();
    assert_eq!(findings.len(), 1, "{}", run.stdout);
    assert!(findings[0]["path"]
        .as_str()
        .is_some_and(|p| p.starts_with("cfg/AKIA") && p.ends_with(" (path)")));
    assert_eq!(findings[0]["in_tree_now"], true, "{}", run.stdout);
}

#[test]
fn issue12_4_a_key_in_a_file_under_a_key_named_directory_never_prints_the_name() {
    let t = Test::repo();
    t.stage(&format!("{}/app.env", key_id()), env_pair());
    let run = t.keygate(&["--staged", "--format", "json"]);
    run.status(1).never_shows(&key_id()).never_shows(&secret());
    let paths: Vec<String> = run
        .findings()
        .iter()
        .map(|f| f["path"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(paths.contains(&"AKIA…ZAM2 (path)".to_string()), "{paths:?}");
    assert!(
        paths.contains(&"AKIA…ZAM2/app.env".to_string()),
        "{paths:?}"
    );
    t.keygate(&["--staged"])
        .status(1)
        .never_shows(&key_id())
        .never_shows(&secret());
}

#[test]
fn issue12_4_a_key_named_file_under_an_allowlisted_path_is_allowed() {
    let t = Test::repo();
    t.install_pre_commit_hook();
    t.stage(".keygate.toml", FIXTURES_ALLOWED);
    t.stage(&format!("tests/fixtures/{}.json", key_id()), "{}\n");
    t.commit("fixture").status(0);
}

#[test]
fn issue12_4_a_ref_named_by_a_key_id_is_rejected_by_pre_receive() {
    let s = Server::new(None);
    s.commit("init");
    s.push("main").status(0);
    let branch = format!("refs/heads/fix-{}", key_id());
    let run = s.push(&format!("main:{branch}"));
    assert_ne!(run.status, Some(0), "{run:?}");
    run.stderr_has("(ref name)").never_shows(&secret());
    // git itself names the rejected ref; keygate's lines never do.
    let keygate_lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("remote:"))
        .collect();
    assert!(
        keygate_lines.iter().all(|l| !l.contains(&key_id())),
        "{keygate_lines:?}"
    );
    assert!(!s.server_has(&branch));
    let tag = format!("refs/tags/{}", key_id());
    let run = s.push(&format!("main:{tag}"));
    assert_ne!(run.status, Some(0), "{run:?}");
    assert!(!s.server_has(&tag));
}

#[test]
fn issue12_4_history_finds_keys_in_ref_names_tag_messages_and_author_names() {
    let t = Test::repo();
    t.git(&["commit", "-q", "--allow-empty", "-m", "init"]);
    t.git(&["branch", &format!("fix-{}", key_id())]);
    t.git(&[
        "tag",
        "-a",
        "v1",
        "-m",
        &format!("release\n\n{}", pasted_env()),
    ]);
    let author = format!("Dev {} <dev@example.com>", key_id());
    t.git(&[
        "commit",
        "-q",
        "--allow-empty",
        "--author",
        &author,
        "-m",
        "clean",
    ]);
    let by_author = t.git(&["rev-parse", "HEAD"]).trim().to_string();
    let run = t.keygate(&["history", "--format", "json"]);
    run.status(1).never_shows(&key_id()).never_shows(&secret());
    let findings = run.findings();
    let at = |path: &str| {
        findings
            .iter()
            .find(|f| f["path"] == path)
            .unwrap_or_else(|| panic!("no finding at {path}: {}", run.stdout))
    };
    at("refs/heads/fix-AKIA…ZAM2 (ref name)");
    assert_eq!(
        at("refs/tags/v1 (tag message)")["rule_id"],
        "aws-credential-pair"
    );
    assert_eq!(at("commit-header")["commit"], by_author.as_str());
    // Naming revisions scans what they reach, not every ref's name.
    t.keygate(&["history", "--format", "json", "main~1"])
        .status(0);
}

/// Property: a key ID, or a pair, placed anywhere in a random commit
/// message (any line, any position between words, any separator) is found
/// in the message by the same path the gates use.
#[test]
fn issue12_4_a_key_anywhere_in_a_commit_message_is_found() {
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545F4914F6CDD1D) % n as u64) as usize
        }
    }
    const WORDS: &[&str] = &[
        "fix",
        "deploy",
        "the",
        "config",
        "$",
        "aws",
        "s3",
        "ls",
        "--profile",
        "prod",
        "Signed-off-by:",
        "Dev",
        "<dev@example.com>",
        "é",
        "数据",
        "#",
        "*",
        "-",
        "(#42)",
        "`",
    ];
    const SEPARATORS: &[&str] = &[" ", "=", ": ", "\"", "'", "(", "`", "\t", ","];
    let scanner = Scanner::new(Detector::builtin(), Allowlist::default());
    let mut rng = Rng(0x5EED_0412);
    for round in 0..600 {
        let mut lines: Vec<String> = (0..rng.below(12) + 1)
            .map(|_| {
                (0..rng.below(10))
                    .map(|_| WORDS[rng.below(WORDS.len())])
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let pair = round % 3 == 0;
        let needle = if pair {
            format!(
                "AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={}",
                key_id(),
                secret()
            )
        } else {
            key_id()
        };
        let target = rng.below(lines.len());
        let words: Vec<String> = lines[target].split(' ').map(str::to_string).collect();
        let at = rng.below(words.len() + 1);
        let left = SEPARATORS[rng.below(SEPARATORS.len())];
        let right = SEPARATORS[rng.below(SEPARATORS.len())];
        let mut placed = words[..at].join(" ");
        placed.push_str(left);
        placed.push_str(&needle);
        placed.push_str(right);
        placed.push_str(&words[at..].join(" "));
        lines[target] = placed;
        let message = lines.join(if rng.below(2) == 0 { "\n" } else { "\r\n" });
        let commit = git2::Oid::from_str(&"ab".repeat(20)).unwrap();
        let mut report = ScanReport::default();
        keygate::sources::git::names::scan_commit_message(
            &scanner,
            Some(commit),
            message.as_bytes(),
            &mut report,
        );
        let found = report
            .findings
            .iter()
            .find(|f| f.values.first() == Some(&key_id()));
        let finding = found.unwrap_or_else(|| panic!("not found in {message:?}"));
        assert_eq!(finding.path, "commit-message");
        assert_eq!(finding.location.line, target + 1, "{message:?}");
        assert_eq!(
            finding.origin.commit().map(|c| c.id.as_str()),
            Some(commit.to_string().as_str())
        );
        if pair {
            assert_eq!(finding.values.get(1), Some(&secret()), "{message:?}");
        }
    }
}
