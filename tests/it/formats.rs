//! Every repository format git 2.45+ writes (issue 14): refs in files or
//! reftable, objects in SHA-1 or SHA-256, split, sparse and v4 indexes,
//! index extensions, partial clones, linked worktrees. Each format in each
//! mode: commits through the hook install.sh installs, pre-push and
//! pre-receive through real pushes to a bare repository of the same format,
//! and `history`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::*;

fn env_file() -> String {
    format!(
        "AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}\n",
        key_id(),
        secret()
    )
}

/// `git init` with the given formats in `dir` (relative to the test's),
/// with an identity; `false` when this git cannot make such a repository.
fn init(test: &Test, dir: &str, refs: &str, objects: &str, bare: bool) -> bool {
    let ref_format = format!("--ref-format={refs}");
    let object_format = format!("--object-format={objects}");
    let mut args = vec!["init", "-q", "-b", "main", &ref_format, &object_format];
    if bare {
        args.push("--bare");
    }
    args.push(dir);
    if test.git_run(&args).status != Some(0) {
        eprintln!("skipped: this git cannot make {refs} + {objects} repositories");
        return false;
    }
    let path = test.path().join(dir);
    for (key, value) in [
        ("user.email", "dev@example.com"),
        ("user.name", "Dev"),
        ("commit.gpgsign", "false"),
    ] {
        test.git_in(&path, &["config", key, value]);
    }
    true
}

/// Runs install.sh with `args` in `dir`, with the built binary.
fn install_sh(test: &Test, dir: &Path, args: &[&str]) -> Run {
    let output = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("install.sh"))
        .args(args)
        .current_dir(dir)
        .env("HOME", test.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("KEYGATE_BIN", KEYGATE)
        .env_remove("CARGO_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("GIT_DIR")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_WORK_TREE")
        .stdin(Stdio::null())
        .output()
        .expect("run install.sh");
    let run = Run {
        status: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    run.status(0);
    run
}

fn rev(test: &Test, dir: &Path, name: &str) -> Option<String> {
    let run = test.git_in(dir, &["rev-parse", "--verify", "-q", name]);
    (run.status == Some(0)).then(|| run.stdout.trim().to_string())
}

#[track_caller]
fn ok(run: Run) -> Run {
    assert_eq!(run.status, Some(0), "{run:?}");
    run
}

/// Fails with the file named and no secret shown; never a panic.
#[track_caller]
fn blocked(run: &Run, file: &str) {
    assert!(
        run.status.is_some() && run.status != Some(0),
        "expected a refusal: {run:?}"
    );
    run.output_has(file)
        .never_shows(&key_id())
        .never_shows(&secret());
    assert!(!run.stderr.contains("panicked"), "{run:?}");
}

/// The whole matrix for one format: a client and a bare server of the same
/// format, hooks installed by install.sh.
fn every_mode(refs: &str, objects: &str) {
    let t = Test::dir();
    if !init(&t, "client", refs, objects, false) || !init(&t, "server.git", refs, objects, true) {
        return;
    }
    let client = t.path().join("client");
    let server = t.path().join("server.git");
    let id_len = if objects == "sha256" { 64 } else { 40 };
    install_sh(&t, &client, &["--pre-push"]);
    install_sh(&t, t.path(), &["--server", server.to_str().unwrap()]);
    t.git_in(
        &client,
        &["remote", "add", "origin", server.to_str().unwrap()],
    );
    let write = |name: &str, content: &str| {
        let path = client.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
        ok(t.git_in(&client, &["add", "--", name]));
    };
    let commit = |args: &[&str]| {
        let mut all = vec!["commit", "-q", "-m", "change"];
        all.extend_from_slice(args);
        t.git_in(&client, &all)
    };
    let push = |args: &[&str]| {
        let mut all = vec!["push", "-q", "origin", "main"];
        all.extend_from_slice(args);
        t.git_in(&client, &all)
    };

    // Clean: the installed pre-commit hook (first commit, then a change in
    // place), pre-push and pre-receive let everything through.
    write("README.md", "# app\n");
    write("src/main.rs", "fn main() {}\n");
    ok(commit(&[]));
    write("src/main.rs", "fn main() {\n    println!(\"hi\");\n}\n");
    ok(commit(&[]));
    ok(push(&[]));
    assert_eq!(rev(&t, &server, "main"), rev(&t, &client, "HEAD"));
    assert_eq!(rev(&t, &client, "HEAD").unwrap().len(), id_len);

    // A key: the pre-commit hook refuses the commit.
    write("deploy/app.env", &env_file());
    let run = commit(&[]);
    blocked(&run, "deploy/app.env");
    assert_eq!(
        t.git_in(&client, &["rev-list", "--count", "HEAD"])
            .stdout
            .trim(),
        "2"
    );
    // Committed anyway: pre-push refuses the push (on the client: no
    // `remote:` lines), and the server keeps its ref.
    ok(commit(&["--no-verify"]));
    let key_commit = rev(&t, &client, "HEAD").unwrap();
    let before = rev(&t, &server, "main");
    let run = push(&[]);
    blocked(&run, "deploy/app.env");
    assert!(!run.stderr.contains("remote:"), "{run:?}");
    run.output_has(&key_commit);
    assert_eq!(rev(&t, &server, "main"), before);
    // Pushed without the client hook: pre-receive refuses, in quarantine.
    let run = push(&["--no-verify"]);
    blocked(&run, "deploy/app.env");
    run.stderr_has("remote:").stderr_has(&key_commit);
    assert_eq!(rev(&t, &server, "main"), before);

    // history: the key, with its commit at full length; clean before it.
    let run = t.keygate_in(&client, &["history"], None);
    assert_eq!(run.status, Some(1), "{run:?}");
    blocked(&run, "deploy/app.env");
    run.output_has(&key_commit).output_has("scanned 3 commits");
    let run = t.keygate_in(&client, &["history", "HEAD~1"], None);
    assert_eq!(run.status, Some(0), "{run:?}");
    run.stderr_has("scanned 2 commits");
    let run = t.keygate_in(&client, &["history", "HEAD~1..HEAD"], None);
    assert_eq!(run.status, Some(1), "{run:?}");
    run.stderr_has("scanned 1 commits");
    // The server's history, bare: clean.
    ok(t.keygate_in(&server, &["history"], None)).stderr_has("scanned 2 commits");

    // Boundaries: once the server has the key commit (hook out of the way),
    // a clean commit on top passes both gates: only new commits count
    // (`--not --all` on the server, the remote tip on the client).
    let hook = server.join("hooks/pre-receive");
    let aside = server.join("hooks/pre-receive.off");
    std::fs::rename(&hook, &aside).unwrap();
    ok(push(&["--no-verify"]));
    std::fs::rename(&aside, &hook).unwrap();
    write("src/main.rs", "fn main() {}\n// more\n");
    ok(commit(&[]));
    ok(push(&[]));
    assert_eq!(rev(&t, &server, "main"), rev(&t, &client, "HEAD"));
    // A new branch from there: on the server, its other refs hide all but
    // the new commit. (pre-push scans a new branch down to its roots, and
    // would stop at the key: skipped here.)
    ok(t.git_in(&client, &["checkout", "-q", "-b", "topic"]));
    write("docs/notes.md", "notes\n");
    ok(commit(&[]));
    ok(t.git_in(&client, &["push", "-q", "--no-verify", "origin", "topic"]));
    assert_eq!(rev(&t, &server, "topic"), rev(&t, &client, "HEAD"));
}

#[test]
fn files_sha1_in_every_mode() {
    every_mode("files", "sha1");
}

#[test]
fn files_sha256_in_every_mode() {
    every_mode("files", "sha256");
}

#[test]
fn reftable_sha1_in_every_mode() {
    every_mode("reftable", "sha1");
}

#[test]
fn reftable_sha256_in_every_mode() {
    every_mode("reftable", "sha256");
}

/// A repository set up by `init` plus a first commit of `files`.
fn repo_with(refs: &str, objects: &str, files: &[(&str, &str)]) -> Option<(Test, PathBuf)> {
    let t = Test::dir();
    if !init(&t, "r", refs, objects, false) {
        return None;
    }
    let repo = t.path().join("r");
    for (name, content) in files {
        let path = repo.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    if !files.is_empty() {
        ok(t.git_in(&repo, &["add", "."]));
        ok(t.git_in(&repo, &["commit", "-q", "--no-verify", "-m", "first"]));
    }
    Some((t, repo))
}

fn stage(t: &Test, repo: &Path, name: &str, content: &str) {
    let path = repo.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
    ok(t.git_in(repo, &["add", "--", name]));
}

fn staged(t: &Test, repo: &Path) -> Run {
    t.keygate_in(repo, &["--staged"], None)
}

#[test]
fn first_commit_in_a_sha256_reftable_repository() {
    let Some((t, repo)) = repo_with("reftable", "sha256", &[]) else {
        return;
    };
    install_sh(&t, &repo, &[]);
    stage(&t, &repo, "config/app.env", &env_file());
    let run = t.git_in(&repo, &["commit", "-q", "-m", "first"]);
    blocked(&run, "config/app.env");
    assert_eq!(rev(&t, &repo, "HEAD"), None);
    ok(t.git_in(&repo, &["rm", "-q", "--cached", "config/app.env"]));
    stage(&t, &repo, "README.md", "# first\n");
    ok(staged(&t, &repo));
    ok(t.git_in(&repo, &["commit", "-q", "-m", "first"]));
    assert_eq!(rev(&t, &repo, "HEAD").unwrap().len(), 64);
}

#[test]
fn linked_worktree_of_a_reftable_repository() {
    let Some((t, repo)) = repo_with("reftable", "sha1", &[("a.txt", "a\n")]) else {
        return;
    };
    install_sh(&t, &repo, &[]);
    let tree = t.path().join("wt");
    ok(t.git_in(
        &repo,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "feat",
            tree.to_str().unwrap(),
        ],
    ));
    // feat (not main) has a key in notes.env, from before the hook.
    stage(&t, &tree, "notes.env", &format!("# notes\n{}", env_file()));
    ok(t.git_in(&tree, &["commit", "-q", "--no-verify", "-m", "key"]));
    // Changing another line of it adds no key: HEAD is the worktree's own
    // (against main's HEAD the whole file would be new).
    stage(
        &t,
        &tree,
        "notes.env",
        &format!("# notes, edited\n{}", env_file()),
    );
    ok(staged(&t, &tree));
    ok(t.git_in(&tree, &["commit", "-q", "-m", "edit"]));
    // A new key through the installed hook, in the worktree.
    stage(&t, &tree, "more/app.env", &env_file());
    let run = t.git_in(&tree, &["commit", "-q", "-m", "more"]);
    blocked(&run, "more/app.env");
    ok(t.git_in(&tree, &["rm", "-q", "--cached", "more/app.env"]));
    // history: every ref from the worktree; main alone is clean.
    let run = t.keygate_in(&tree, &["history"], None);
    blocked(&run, "notes.env");
    ok(t.keygate_in(&tree, &["history", "main"], None));
    ok(t.keygate_in(&repo, &["history", "main"], None));
    let run = t.keygate_in(&repo, &["history", "no-such-branch"], None);
    assert_eq!(run.status, Some(2), "{run:?}");
    run.stderr_has("no-such-branch");
}

/// --staged on a clean change and on a key, in place and in a new file.
#[track_caller]
fn staged_clean_and_key(t: &Test, repo: &Path, existing: &str) {
    let original = std::fs::read_to_string(repo.join(existing)).unwrap();
    stage(t, repo, existing, &format!("{original}one more line\n"));
    ok(staged(t, repo));
    stage(t, repo, existing, &format!("{original}{}", env_file()));
    blocked(&staged(t, repo), existing);
    stage(t, repo, existing, &original);
    stage(t, repo, "src/new/app.env", &env_file());
    blocked(&staged(t, repo), "src/new/app.env");
    ok(t.git_in(repo, &["rm", "-q", "--cached", "src/new/app.env"]));
    std::fs::remove_file(repo.join("src/new/app.env")).unwrap();
    ok(staged(t, repo));
}

const TREE: &[(&str, &str)] = &[
    ("README.md", "# r\n"),
    ("src/lib.rs", "pub fn f() {}\n"),
    ("src/deep/er/mod.rs", "// x\n"),
    ("docs/guide.md", "guide\n"),
];

fn index_has(repo: &Path, signature: &[u8]) -> bool {
    let index = std::fs::read(repo.join(".git/index")).unwrap();
    index.windows(signature.len()).any(|w| w == signature)
}

#[test]
fn split_index() {
    let Some((t, repo)) = repo_with("files", "sha1", TREE) else {
        return;
    };
    ok(t.git_in(&repo, &["config", "core.splitIndex", "true"]));
    ok(t.git_in(&repo, &["update-index", "--split-index"]));
    assert!(index_has(&repo, b"link"));
    staged_clean_and_key(&t, &repo, "src/lib.rs");
    // Entries of every kind: only in the shared index, replaced and deleted
    // by the split file, added by it; and a key already in HEAD.
    for i in 0..40 {
        stage(&t, &repo, &format!("many/f{i:02}.txt"), &format!("{i}\n"));
    }
    stage(&t, &repo, "old.env", &format!("# old\n{}", env_file()));
    ok(t.git_in(&repo, &["commit", "-q", "--no-verify", "-m", "many"]));
    ok(t.git_in(&repo, &["update-index", "--split-index"]));
    stage(&t, &repo, "many/f05.txt", "5\nfive\n");
    ok(t.git_in(&repo, &["rm", "-q", "many/f07.txt"]));
    stage(&t, &repo, "many/new.txt", "new\n");
    ok(t.git_in(&repo, &["commit", "-q", "-m", "split"]));
    let index = std::fs::read(repo.join(".git/index")).unwrap();
    let link = index.windows(4).position(|w| w == b"link").unwrap();
    let size = u32::from_be_bytes(index[link + 4..link + 8].try_into().unwrap());
    assert!(size > 20, "no delete or replace bitmaps");
    for file in ["many/f05.txt", "many/f20.txt", "many/new.txt"] {
        let original = std::fs::read_to_string(repo.join(file)).unwrap();
        stage(&t, &repo, file, &format!("{original}clean\n"));
        ok(staged(&t, &repo));
        stage(&t, &repo, file, &format!("{original}{}", env_file()));
        let run = staged(&t, &repo);
        blocked(&run, file);
        stage(&t, &repo, file, &original);
    }
    stage(
        &t,
        &repo,
        "old.env",
        &format!("# old, edited\n{}", env_file()),
    );
    ok(staged(&t, &repo));
    install_sh(&t, &repo, &[]);
    stage(&t, &repo, "app.env", &env_file());
    blocked(&t.git_in(&repo, &["commit", "-q", "-m", "k"]), "app.env");
}

#[test]
fn sparse_index() {
    let Some((t, repo)) = repo_with("files", "sha1", TREE) else {
        return;
    };
    // A key outside the cone, from before: not staged, never reported.
    stage(&t, &repo, "docs/old.env", &env_file());
    ok(t.git_in(&repo, &["commit", "-q", "--no-verify", "-m", "old"]));
    ok(t.git_in(
        &repo,
        &["sparse-checkout", "init", "--cone", "--sparse-index"],
    ));
    ok(t.git_in(&repo, &["sparse-checkout", "set", "src"]));
    assert!(index_has(&repo, b"sdir"), "no sparse index written");
    staged_clean_and_key(&t, &repo, "src/lib.rs");
    install_sh(&t, &repo, &[]);
    stage(&t, &repo, "src/app.env", &env_file());
    blocked(
        &t.git_in(&repo, &["commit", "-q", "-m", "k"]),
        "src/app.env",
    );
}

#[test]
fn index_version_4_and_optional_extensions() {
    for objects in ["sha1", "sha256"] {
        let Some((t, repo)) = repo_with("files", objects, TREE) else {
            return;
        };
        ok(t.git_in(&repo, &["update-index", "--index-version", "4"]));
        staged_clean_and_key(&t, &repo, "src/deep/er/mod.rs");
        // Untracked cache and fsmonitor extensions, and no index checksum.
        let monitor = t.path().join("fsmonitor.sh");
        std::fs::write(&monitor, "#!/bin/sh\nprintf 'token\\0/\\0'\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&monitor, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        for (key, value) in [
            ("core.untrackedCache", "true"),
            ("core.fsmonitor", monitor.to_str().unwrap()),
            ("core.fsmonitorHookVersion", "2"),
            ("index.skipHash", "true"),
        ] {
            ok(t.git_in(&repo, &["config", key, value]));
        }
        std::fs::write(repo.join("untracked.txt"), "u\n").unwrap();
        ok(t.git_in(&repo, &["update-index", "--untracked-cache"]));
        ok(t.git_in(&repo, &["status", "--porcelain"]));
        stage(&t, &repo, "src/lib.rs", "pub fn f() {}\npub fn g() {}\n");
        ok(t.git_in(&repo, &["status", "--porcelain"]));
        assert!(index_has(&repo, b"UNTR"), "no untracked cache written");
        assert!(index_has(&repo, b"FSMN"), "no fsmonitor extension written");
        staged_clean_and_key(&t, &repo, "src/deep/er/mod.rs");
    }
}

#[test]
fn partial_clone() {
    let Some((t, source)) = repo_with("files", "sha1", TREE) else {
        return;
    };
    ok(t.git_in(&source, &["config", "uploadpack.allowFilter", "true"]));
    stage(
        &t,
        &source,
        "old/app.env",
        &format!("# old\n{}", env_file()),
    );
    ok(t.git_in(&source, &["commit", "-q", "--no-verify", "-m", "key"]));
    ok(t.git_in(&source, &["rm", "-q", "old/app.env"]));
    ok(t.git_in(&source, &["commit", "-q", "-m", "gone"]));
    let url = format!("file://{}", source.display());
    ok(t.git_in(
        t.path(),
        &["clone", "-q", "--filter=blob:none", &url, "clone"],
    ));
    let clone = t.path().join("clone");
    for (key, value) in [("user.email", "dev@example.com"), ("user.name", "Dev")] {
        ok(t.git_in(&clone, &["config", key, value]));
    }
    // The staged path needs only what the checkout fetched.
    staged_clean_and_key(&t, &clone, "src/lib.rs");
    // history: the key's blob was never fetched: not clean, and it says why.
    let run = t.keygate_in(&clone, &["history"], None);
    assert_eq!(run.status, Some(2), "{run:?}");
    run.stderr_has("partial clone")
        .never_shows(&key_id())
        .never_shows(&secret());
    // The blob fetched (on demand, by git), the key is found.
    let blob = t
        .git_in(&clone, &["rev-parse", "HEAD~1:old/app.env"])
        .stdout;
    ok(t.git_in(&clone, &["cat-file", "-e", blob.trim()]));
    let run = t.keygate_in(&clone, &["history"], None);
    assert_eq!(run.status, Some(1), "{run:?}");
    run.output_has("old/app.env");
}

#[test]
fn unknown_repository_extension_is_a_plain_words_error() {
    let t = Test::repo();
    t.stage("a.txt", "x\n");
    t.git(&["config", "core.repositoryformatversion", "1"]);
    t.git(&["config", "extensions.futureThing", "yes"]);
    for args in [&["--staged"][..], &["history"], &["hook", "pre-receive"]] {
        let run = t.keygate_in(t.path(), args, Some(b""));
        assert_eq!(run.status, Some(2), "{run:?}");
        run.stderr_has("extensions.futurething")
            .stderr_has("nothing was scanned");
        assert!(!run.stderr.contains("class="), "{run:?}");
        assert!(!run.stderr.contains("panicked"), "{run:?}");
    }
}

/// `HEAD` read from the reftable stack in-process: many ref blocks (and an
/// index block), several tables, deletions, a detached `HEAD`. The key file
/// exists only on the branch checked out: resolving `HEAD` to anything else
/// would make its old key look added.
#[test]
fn reftable_head_in_a_large_stack() {
    for objects in ["sha1", "sha256"] {
        let Some((t, repo)) = repo_with("reftable", objects, &[("README.md", "# r\n")]) else {
            return;
        };
        ok(t.git_in(&repo, &["config", "reftable.autoCompaction", "false"]));
        let mut many = String::new();
        for i in 0..3000 {
            many.push_str(&format!("create refs/heads/branch-{i:05} HEAD\n"));
        }
        let run = Command::new("git")
            .args(["update-ref", "--stdin"])
            .current_dir(&repo)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", t.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(many.as_bytes())?;
                child.wait()
            })
            .unwrap();
        assert!(run.success());
        ok(t.git_in(&repo, &["checkout", "-q", "-b", "zz-topic"]));
        stage(&t, &repo, "notes.env", &format!("# notes\n{}", env_file()));
        ok(t.git_in(&repo, &["commit", "-q", "--no-verify", "-m", "key"]));
        // Newer tables on top: deletions and updates.
        for i in 0..5 {
            ok(t.git_in(&repo, &["branch", "-q", "-D", &format!("branch-{i:05}")]));
            ok(t.git_in(&repo, &["tag", &format!("t{i}")]));
        }
        let tables = std::fs::read_to_string(repo.join(".git/reftable/tables.list")).unwrap();
        assert!(tables.lines().count() > 1, "{tables}");
        stage(
            &t,
            &repo,
            "notes.env",
            &format!("# notes, edited\n{}", env_file()),
        );
        ok(staged(&t, &repo));
        stage(&t, &repo, "other.env", &env_file());
        blocked(&staged(&t, &repo), "other.env");
        ok(t.git_in(&repo, &["rm", "-q", "--cached", "other.env"]));
        // Detached: HEAD holds the id itself.
        ok(t.git_in(&repo, &["commit", "-q", "--no-verify", "-m", "edit"]));
        ok(t.git_in(&repo, &["checkout", "-q", "--detach"]));
        stage(
            &t,
            &repo,
            "notes.env",
            &format!("# notes, again\n{}", env_file()),
        );
        ok(staged(&t, &repo));
        // Compacted into one table: the same.
        ok(t.git_in(&repo, &["pack-refs"]));
        ok(staged(&t, &repo));
    }
}
