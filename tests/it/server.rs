//! Issue 15: push protection on a self-hosted server. Real bare repositories
//! with keygate's pre-receive hook, real `git push` (file transport, and
//! `git daemon` on a loopback port), push options for the bypass, the
//! hosting software's identity variables, and the JSON-lines audit log.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::util::*;

/// A bare repository with keygate's pre-receive hook, push options on, and a
/// server config with an audit log.
struct Server {
    dir: Test,
}

impl Server {
    fn new(policy: &str) -> Server {
        let dir = Test::dir();
        dir.git(&["init", "-q", "--bare", "-b", "main", "server.git"]);
        let s = Server { dir };
        install_hook(&s.bare().join("hooks"), "pre-receive");
        s.git_bare(&["config", "receive.advertisePushOptions", "true"]);
        s.configure(&format!("[server]\naudit_log = \"audit.jsonl\"\n{policy}"));
        s
    }

    /// A server config with exactly `text`.
    fn configure(&self, text: &str) {
        let path = self.dir.path().join("keygate-server.toml");
        std::fs::write(&path, text).unwrap();
        self.git_bare(&["config", "keygate.config", path.to_str().unwrap()]);
    }

    fn bare(&self) -> PathBuf {
        self.dir.path().join("server.git")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("audit.jsonl")
    }

    fn git_bare(&self, args: &[&str]) -> String {
        let run = self.dir.git_in(&self.bare(), args);
        assert_eq!(run.status, Some(0), "{args:?}: {run:?}");
        run.stdout
    }

    fn server_ref(&self, name: &str) -> Option<String> {
        let run = self
            .dir
            .git_in(&self.bare(), &["rev-parse", "--verify", "-q", name]);
        (run.status == Some(0)).then(|| run.stdout.trim().to_string())
    }

    /// A client repository whose `origin` is `url` (default: the bare path).
    fn client(&self, url: Option<&str>) -> Test {
        let client = Test::repo();
        let path = self.bare();
        client.git(&[
            "remote",
            "add",
            "origin",
            url.unwrap_or(path.to_str().unwrap()),
        ]);
        client
    }

    /// The audit log's records (every line must be a JSON object).
    fn records(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.log()).unwrap_or_default();
        assert!(
            !text.contains(&key_id()) && !text.contains(&secret()),
            "the audit log holds a key:\n{text}"
        );
        text.lines()
            .map(|line| {
                let value: Value =
                    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                assert!(value.is_object(), "{line}");
                value
            })
            .collect()
    }

    fn last_record(&self) -> Value {
        self.records().pop().expect("a record in the audit log")
    }
}

/// Commits `content` at `name` without the client's own hooks.
fn commit(client: &Test, name: &str, content: impl AsRef<[u8]>) -> String {
    client.stage(name, content);
    client.git(&["commit", "-q", "--no-verify", "-m", &format!("add {name}")]);
    client.git(&["rev-parse", "HEAD"]).trim().to_string()
}

fn env_file() -> String {
    format!(
        "AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}\n",
        key_id(),
        secret()
    )
}

/// Identity variables a test must not inherit.
const IDENTITY_VARS: &[&str] = &[
    "GL_USERNAME",
    "GITEA_PUSHER_NAME",
    "GL_USER",
    "REMOTE_USER",
    "GITHUB_USER_LOGIN",
    "KEYGATE_TEST_PUSHER",
];

/// `git push` from `client` with extra environment.
fn push(client: &Test, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new("git");
    command
        .arg("push")
        .args(args)
        .current_dir(client.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", client.path())
        .env("KEYGATE_BIN", KEYGATE)
        .env_remove("GIT_DIR")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_WORK_TREE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in IDENTITY_VARS {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    let output = wait_or_kill(command.spawn().expect("git push"), KEYGATE_TIMEOUT);
    Run {
        status: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A server with a clean `main`, and a client with a key committed on top.
fn keyed_push(policy: &str) -> (Server, Test, String) {
    let s = Server::new(policy);
    let client = s.client(None);
    commit(&client, "README.md", "# x\n");
    push(&client, &["origin", "main"], &[]).status(0);
    let commit = commit(&client, "deploy/app.env", env_file());
    (s, client, commit)
}

#[test]
fn rejection_tells_the_bypass_command_and_is_logged() {
    let (s, client, commit) = keyed_push("");
    let before = s.server_ref("main");
    push(&client, &["origin", "main"], &[("GL_USERNAME", "alice")])
        .status(1)
        .stderr_has("push rejected")
        .stderr_has("git push -o keygate.bypass=\"<why this is safe>\" <remote> main")
        .stderr_has("`alice`")
        .never_shows(&key_id())
        .never_shows(&secret());
    assert_eq!(s.server_ref("main"), before);
    let record = s.last_record();
    assert_eq!(record["event"], "rejected");
    assert_eq!(record["verdict"], "rejected");
    assert_eq!(record["pusher"], "alice");
    assert_eq!(record["pusher_source"], "GL_USERNAME");
    assert_eq!(record["refs"][0]["ref"], "refs/heads/main");
    assert!(record["repository"]
        .as_str()
        .unwrap()
        .ends_with("server.git"));
    assert!(record["time"].as_str().unwrap().ends_with('Z'));
    let finding = &record["findings"][0];
    assert_eq!(finding["status"], "blocked");
    assert_eq!(finding["commit"], commit.as_str());
    assert_eq!(finding["path"], "deploy/app.env");
    assert_eq!(finding["rule"], "aws-credential-pair");
    assert!(finding["fingerprint"].as_str().unwrap().len() > 20);
}

#[test]
fn bypass_with_a_reason_is_accepted_and_logged() {
    let (s, client, commit) = keyed_push("");
    push(
        &client,
        &[
            "-o",
            "keygate.bypass=test fixture, key revoked",
            "origin",
            "main",
        ],
        &[("GITEA_PUSHER_NAME", "bob")],
    )
    .status(0)
    .stderr_has("push accepted by a bypass")
    .stderr_has("ACCEPTED by bypass, reason \"test fixture, key revoked\"")
    .stderr_has("deploy/app.env")
    .stderr_has("`bob`")
    .never_shows(&key_id())
    .never_shows(&secret());
    assert_eq!(s.server_ref("main").as_deref(), Some(commit.as_str()));
    let record = s.last_record();
    assert_eq!(record["event"], "bypass");
    assert_eq!(record["verdict"], "accepted");
    assert_eq!(record["reason"], "test fixture, key revoked");
    assert_eq!(record["pusher"], "bob");
    assert_eq!(record["pusher_source"], "GITEA_PUSHER_NAME");
    assert_eq!(record["findings"][0]["status"], "bypassed");
    assert_eq!(record["findings"][0]["commit"], commit.as_str());
}

#[test]
fn bypass_without_a_reason_is_refused() {
    let (s, client, _) = keyed_push("");
    for option in ["keygate.bypass", "keygate.bypass=", "keygate.bypass=   "] {
        push(&client, &["-o", option, "origin", "main"], &[])
            .status(1)
            .stderr_has("bypass refused: a bypass needs a reason");
    }
    let records = s.records();
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|r| r["event"] == "bypass-refused"));
}

#[test]
fn bypass_off_refuses_and_does_not_advertise_it() {
    let (s, client, _) = keyed_push("bypass = \"off\"\n");
    let run = push(&client, &["origin", "main"], &[]);
    run.status(1);
    assert!(!run.stderr.contains("keygate.bypass="), "{run:?}");
    push(
        &client,
        &["-o", "keygate.bypass=please", "origin", "main"],
        &[],
    )
    .status(1)
    .stderr_has("bypass refused: bypass is off on this server");
    let record = s.last_record();
    assert_eq!(record["event"], "bypass-refused");
    assert_eq!(record["reason"], "please");
}

#[test]
fn bypass_users_limit_who_may_bypass() {
    let (s, client, commit) = keyed_push("bypass_users = [\"alice\"]\n");
    let option = ["-o", "keygate.bypass=fixture", "origin", "main"];
    // The commit's author is not the pusher: a commit says what it likes.
    push(&client, &option, &[("GL_USERNAME", "mallory")])
        .status(1)
        .stderr_has("pusher `mallory` (from GL_USERNAME) is not in this server's bypass_users");
    // Not told to bypass either.
    let run = push(&client, &["origin", "main"], &[("GL_USERNAME", "mallory")]);
    run.status(1);
    assert!(!run.stderr.contains("keygate.bypass="), "{run:?}");
    push(&client, &option, &[("GL_USERNAME", "alice")]).status(0);
    assert_eq!(s.server_ref("main").as_deref(), Some(commit.as_str()));
    let events: Vec<(String, String)> = s
        .records()
        .iter()
        .map(|r| {
            (
                r["event"].as_str().unwrap().to_string(),
                r["pusher"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("bypass-refused".into(), "mallory".into()),
            ("rejected".into(), "mallory".into()),
            ("bypass".into(), "alice".into())
        ]
    );
}

#[test]
fn bypass_is_refused_when_it_cannot_be_recorded() {
    // No audit log configured: nowhere to record it.
    let (s, client, _) = keyed_push("");
    s.configure("[server]\n");
    push(
        &client,
        &["-o", "keygate.bypass=fixture", "origin", "main"],
        &[],
    )
    .status(1)
    .stderr_has("keeps no audit log");
    // A log that cannot be written: refused too, and the rejection says so.
    s.configure("[server]\naudit_log = \"no/such/dir/audit.jsonl\"\n");
    push(
        &client,
        &["-o", "keygate.bypass=fixture", "origin", "main"],
        &[],
    )
    .status(1)
    .stderr_has("bypass refused: it cannot be recorded")
    .stderr_has("no/such/dir/audit.jsonl");
    push(&client, &["origin", "main"], &[])
        .status(1)
        .stderr_has("could not record this rejection in the audit log")
        .never_shows(&key_id());
}

#[test]
fn a_bypass_reason_holding_a_key_is_refused_and_not_logged() {
    let (s, client, _) = keyed_push("");
    let reason = format!("fixture {}", key_id());
    push(
        &client,
        &["-o", &format!("keygate.bypass={reason}"), "origin", "main"],
        &[],
    )
    .status(1)
    .stderr_has("the bypass reason itself holds a credential")
    .never_shows(&key_id());
    let record = s.last_record(); // asserts no key in the file
    assert_eq!(record["event"], "bypass-refused");
    assert!(record.get("reason").is_none(), "{record}");
}

#[test]
fn pusher_comes_from_each_hosting_variable_in_order_then_the_os_user() {
    let (s, client, _) = keyed_push("");
    for (env, name, source) in [
        (vec![("GL_USERNAME", "gl")], "gl", "GL_USERNAME"),
        (
            vec![("GITEA_PUSHER_NAME", "gitea")],
            "gitea",
            "GITEA_PUSHER_NAME",
        ),
        (vec![("GL_USER", "gitolite")], "gitolite", "GL_USER"),
        (vec![("REMOTE_USER", "web")], "web", "REMOTE_USER"),
        (
            vec![("GITHUB_USER_LOGIN", "octo")],
            "octo",
            "GITHUB_USER_LOGIN",
        ),
        (
            vec![("REMOTE_USER", "web"), ("GL_USERNAME", "first")],
            "first",
            "GL_USERNAME",
        ),
        (vec![("GL_USERNAME", "  ")], "", "os-user"),
    ] {
        push(&client, &["origin", "main"], &env).status(1);
        let record = s.last_record();
        assert_eq!(record["pusher_source"], source, "{env:?}");
        if !name.is_empty() {
            assert_eq!(record["pusher"], name, "{env:?}");
        } else {
            assert!(!record["pusher"].as_str().unwrap().is_empty());
        }
    }
    // Configurable.
    s.configure("[server]\naudit_log = \"audit.jsonl\"\npusher_env = [\"KEYGATE_TEST_PUSHER\"]\n");
    push(
        &client,
        &["origin", "main"],
        &[("KEYGATE_TEST_PUSHER", "custom"), ("GL_USERNAME", "gl")],
    )
    .status(1);
    let record = s.last_record();
    assert_eq!(record["pusher"], "custom");
    assert_eq!(record["pusher_source"], "KEYGATE_TEST_PUSHER");
    // None trusted: only the OS user counts.
    s.configure("[server]\naudit_log = \"audit.jsonl\"\npusher_env = []\n");
    push(&client, &["origin", "main"], &[("GL_USERNAME", "forged")]).status(1);
    assert_eq!(s.last_record()["pusher_source"], "os-user");
}

fn marked_env() -> String {
    format!(
        "AWS_ACCESS_KEY_ID={} # keygate:allow\nAWS_SECRET_ACCESS_KEY={} # keygate:allow\n",
        key_id(),
        secret()
    )
}

#[test]
fn an_inline_marker_is_recorded_by_default() {
    let s = Server::new("");
    let client = s.client(None);
    let commit = commit(&client, "docs/example.env", marked_env());
    push(&client, &["origin", "main"], &[("GL_USERNAME", "carol")])
        .status(0)
        .stderr_has("let in by `keygate:allow` markers")
        .stderr_has("docs/example.env:1")
        .stderr_has("recorded in the server's audit log")
        .never_shows(&key_id())
        .never_shows(&secret());
    let record = s.last_record();
    assert_eq!(record["event"], "inline-allowed");
    assert_eq!(record["verdict"], "accepted");
    assert_eq!(record["pusher"], "carol");
    assert_eq!(record["findings"][0]["status"], "inline-allowed");
    assert_eq!(record["findings"][0]["commit"], commit.as_str());
    assert_eq!(record["findings"][0]["path"], "docs/example.env");
}

#[test]
fn an_inline_marker_is_ignored_under_inline_allow_ignore() {
    let s = Server::new("inline_allow = \"ignore\"\n");
    let client = s.client(None);
    commit(&client, "docs/example.env", marked_env());
    push(&client, &["origin", "main"], &[])
        .status(1)
        .stderr_has("push rejected")
        .stderr_has("docs/example.env")
        .stderr_has("this server ignores `keygate:allow` markers");
    assert_eq!(s.server_ref("main"), None);
    assert_eq!(s.last_record()["event"], "rejected");
}

#[test]
fn an_inline_marker_that_cannot_be_recorded_is_refused() {
    let s = Server::new("");
    s.configure("[server]\naudit_log = \"no/such/dir/audit.jsonl\"\n");
    let client = s.client(None);
    commit(&client, "docs/example.env", marked_env());
    push(&client, &["origin", "main"], &[])
        .status(1)
        .stderr_has("only once they are recorded");
    assert_eq!(s.server_ref("main"), None);
}

#[test]
fn a_time_out_rejected_is_logged() {
    let (s, client, _) = keyed_push("");
    s.configure("[server]\naudit_log = \"audit.jsonl\"\ntime_budget_seconds = 0\n");
    push(&client, &["origin", "main"], &[])
        .status(1)
        .stderr_has("time budget ran out")
        .stderr_has("could not complete its check (exit 2");
    assert_eq!(s.last_record()["event"], "timeout-rejected");
    // A bypass covers findings, not what was never read.
    push(
        &client,
        &["-o", "keygate.bypass=fixture", "origin", "main"],
        &[],
    )
    .status(1)
    .stderr_has("not what could not be checked");
    assert_eq!(s.last_record()["event"], "timeout-rejected");
}

#[test]
fn a_clean_push_timing_out_under_accept_is_logged_as_accepted() {
    let s = Server::new("time_budget_seconds = 0\non_timeout = \"accept\"\n");
    let client = s.client(None);
    commit(&client, "README.md", "# x\n");
    push(&client, &["origin", "main"], &[])
        .status(0)
        .stderr_has("NOT fully checked")
        .stderr_has("recorded in the audit log");
    assert_eq!(s.last_record()["event"], "timeout-accepted");
}

#[test]
fn eight_concurrent_pushes_get_their_verdicts_and_every_rejection_is_logged() {
    let s = Server::new("");
    let seed = s.client(None);
    commit(&seed, "README.md", "# x\n");
    push(&seed, &["origin", "main"], &[]).status(0);
    let clients: Vec<(Test, bool)> = (0..8)
        .map(|i| {
            let client = s.client(None);
            client.git(&["fetch", "-q", "origin", "main"]);
            client.git(&["checkout", "-q", "-b", &format!("b{i}"), "FETCH_HEAD"]);
            let keyed = i % 2 == 0;
            let content = if keyed {
                env_file()
            } else {
                format!("clean {i}\n")
            };
            commit(&client, &format!("f{i}.txt"), content);
            (client, keyed)
        })
        .collect();
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(i, (client, _))| {
                scope.spawn(move || {
                    let user = format!("user{i}");
                    push(
                        client,
                        &["origin", &format!("b{i}")],
                        &[("GL_USERNAME", &user)],
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, ((_, keyed), run)) in clients.iter().zip(&runs).enumerate() {
        let branch = format!("refs/heads/b{i}");
        if *keyed {
            run.status(1).never_shows(&secret());
            assert_eq!(s.server_ref(&branch), None, "{run:?}");
        } else {
            run.status(0);
            assert!(s.server_ref(&branch).is_some(), "{run:?}");
        }
    }
    let records = s.records();
    assert_eq!(records.len(), 4, "{records:?}");
    let mut refs: Vec<String> = records
        .iter()
        .map(|r| {
            assert_eq!(r["event"], "rejected");
            let name = r["refs"][0]["ref"].as_str().unwrap().to_string();
            let user = format!("user{}", name.trim_start_matches("refs/heads/b"));
            assert_eq!(r["pusher"], user.as_str());
            name
        })
        .collect();
    refs.sort();
    assert_eq!(
        refs,
        [
            "refs/heads/b0",
            "refs/heads/b2",
            "refs/heads/b4",
            "refs/heads/b6"
        ]
    );
}

/// A server process (`git daemon`, a web server) listening on a free
/// loopback port; killed by its pid on drop. Started without a wrapper
/// process in between (`git-daemon` itself, `setpriv` which execs), so that
/// the pid killed is the server's.
struct Daemon {
    child: std::process::Child,
    port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `git-daemon` from git's exec path.
fn git_daemon_program() -> PathBuf {
    let exec_path = Command::new("git").arg("--exec-path").output().unwrap();
    PathBuf::from(String::from_utf8_lossy(&exec_path.stdout).trim()).join("git-daemon")
}

impl Daemon {
    /// Runs `program args` (as `user`, when given) in `dir`, and waits for `port`.
    fn spawn(user: Option<&str>, program: &Path, args: &[String], dir: &Path, port: u16) -> Daemon {
        let mut command = match user {
            Some(user) => {
                let gid = Command::new("id").args(["-g", user]).output().unwrap();
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={user}"))
                    .arg(format!(
                        "--regid={}",
                        String::from_utf8_lossy(&gid.stdout).trim()
                    ))
                    .args(["--init-groups", "--"])
                    .arg(program);
                c
            }
            None => Command::new(program),
        };
        let child = command
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("KEYGATE_BIN", KEYGATE)
            .env_remove("GL_USERNAME")
            .env_remove("REMOTE_USER")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server");
        let daemon = Daemon { child, port };
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "{program:?} did not start on port {port}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        daemon
    }

    /// `git daemon` serving the repositories under `base`, pushes allowed.
    fn git(user: Option<&str>, base: &Path) -> Daemon {
        let port = free_port();
        let args = [
            "--reuseaddr".to_string(),
            "--export-all".to_string(),
            "--enable=receive-pack".to_string(),
            "--listen=127.0.0.1".to_string(),
            format!("--port={port}"),
            format!("--base-path={}", base.display()),
            base.display().to_string(),
        ];
        Daemon::spawn(user, &git_daemon_program(), &args, base, port)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn git_daemon_push_is_gated_logged_and_bypassable() {
    let s = Server::new("");
    let daemon = Daemon::git(None, s.dir.path());
    let url = format!("git://127.0.0.1:{}/server.git", daemon.port);
    let client = s.client(Some(&url));
    commit(&client, "README.md", "# x\n");
    push(&client, &["origin", "main"], &[]).status(0);
    let keyed = commit(&client, "deploy/app.env", env_file());
    push(&client, &["origin", "main"], &[])
        .status(1)
        .stderr_has("push rejected")
        .stderr_has("keygate.bypass=")
        .never_shows(&key_id())
        .never_shows(&secret());
    let record = s.last_record();
    assert_eq!(record["event"], "rejected");
    // git daemon passes no identity: the OS user the daemon runs as.
    assert_eq!(record["pusher_source"], "os-user");
    push(
        &client,
        &["-o", "keygate.bypass=revoked key", "origin", "main"],
        &[],
    )
    .status(0)
    .stderr_has("ACCEPTED by bypass");
    assert_eq!(s.server_ref("main").as_deref(), Some(keyed.as_str()));
    assert_eq!(s.last_record()["event"], "bypass");
    drop(daemon);
}

// --- keygate audit-log ---------------------------------------------------------

#[test]
fn audit_log_reader_prints_a_table_and_filters() {
    let (s, client, _) = keyed_push("");
    push(&client, &["origin", "main"], &[("GL_USERNAME", "alice")]).status(1);
    push(
        &client,
        &[
            "-o",
            "keygate.bypass=fixture \u{1b}[31mred",
            "origin",
            "main",
        ],
        &[("GL_USERNAME", "bob")],
    )
    .status(0);
    let log = s.log();
    let log = log.to_str().unwrap();
    let records = s.records();
    let fingerprint = records[0]["findings"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let hash = fingerprint.rsplit(':').next().unwrap().to_string();
    let t = Test::dir();
    let table = t.keygate(&["audit-log", log]);
    table
        .status(0)
        .stdout_has("TIME")
        .stdout_has("PUSHER")
        .stdout_has("rejected")
        .stdout_has("bypass")
        .stdout_has("alice")
        .stdout_has("bob")
        .stdout_has("deploy/app.env:1")
        .stdout_has(&hash)
        .stdout_has("2 record(s)")
        .never_shows(&key_id())
        .never_shows(&secret());
    // A terminal escape in the reason is not passed to the terminal.
    assert!(!table.stdout.contains('\u{1b}'), "{}", table.stdout);
    t.keygate(&["audit-log", log, "--pusher", "alice"])
        .status(0)
        .stdout_has("1 record(s)")
        .stdout_has("alice");
    let json = t.keygate(&["audit-log", log, "--event", "bypass", "--format", "json"]);
    json.status(0);
    let lines: Vec<Value> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["pusher"], "bob");
    t.keygate(&["audit-log", log, "--fingerprint", &hash])
        .status(0)
        .stdout_has("2 record(s)");
    t.keygate(&["audit-log", log, "--fingerprint", &fingerprint])
        .status(0)
        .stdout_has("2 record(s)");
    t.keygate(&["audit-log", log, "--fingerprint", "0000000000000000"])
        .status(0)
        .stdout_has("0 record(s)");
    // The default FILE: the server config's audit_log.
    let config = s.dir.path().join("keygate-server.toml");
    t.keygate(&["audit-log", "--config", config.to_str().unwrap()])
        .status(0)
        .stdout_has("2 record(s)");
    // A line that is not a record: reported, exit 2, the rest still shown.
    let mut text = std::fs::read_to_string(s.log()).unwrap();
    text.push_str("{\"truncated\n");
    std::fs::write(s.log(), text).unwrap();
    t.keygate(&["audit-log", log])
        .status(2)
        .stderr_has(":3: not JSON")
        .stdout_has("2 record(s)");
    t.keygate(&["audit-log", "/no/such/log"])
        .status(2)
        .stderr_has("cannot read the audit log");
    t.keygate(&["audit-log"]).status(2).stderr_has("no FILE");
}

// --- install.sh --server under a real service user ------------------------------

/// The service user that owns the repositories (a daemon's or web server's
/// user), and another non-root user; created once (root only). `None` when
/// users cannot be created here: the tests that need them say so and pass.
fn service_users() -> Option<(&'static str, &'static str)> {
    static USERS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *USERS.get_or_init(|| {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        root && ["kgsvc15", "kgadm15"].iter().all(|user| {
            let exists = Command::new("id")
                .arg(user)
                .output()
                .is_ok_and(|o| o.status.success());
            exists
                || Command::new("useradd")
                    .args([
                        "--system",
                        "--no-create-home",
                        "--shell",
                        "/usr/sbin/nologin",
                    ])
                    .arg(user)
                    .status()
                    .is_ok_and(|s| s.success())
        })
    });
    if !ok {
        eprintln!("SKIPPED: needs root and useradd to create service users");
    }
    ok.then_some(("kgsvc15", "kgadm15"))
}

fn chown(user: &str, path: &Path) {
    let status = Command::new("chown")
        .args(["-R", user])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

fn chmod(mode: u32, path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// install.sh with `KEYGATE_BIN=bin`, run by root or (with `user`) by that user.
fn install_sh(t: &Test, user: Option<&str>, bin: &Path, args: &[&str]) -> Run {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("install.sh");
    let mut command = match user {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--", "bash"]).arg(&script);
            c
        }
        None => {
            let mut c = Command::new("bash");
            c.arg(&script);
            c
        }
    };
    command
        .args(args)
        .current_dir(t.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("KEYGATE_BIN", bin)
        .env_remove("GIT_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if user.is_none() {
        command.env("HOME", t.path());
    }
    let output = wait_or_kill(command.spawn().unwrap(), KEYGATE_TIMEOUT);
    Run {
        status: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn install_server_as_root_for_a_service_user_copies_the_binary_it_cannot_reach() {
    let Some((service, _)) = service_users() else {
        return;
    };
    let t = Test::dir();
    chmod(0o755, t.path());
    // The administrator's binary, in a home only root can enter.
    let home = t.path().join("roothome");
    std::fs::create_dir_all(home.join(".cargo/bin")).unwrap();
    let private_bin = home.join(".cargo/bin/keygate");
    std::fs::copy(KEYGATE, &private_bin).unwrap();
    chmod(0o700, &home);
    // The repository and the audit log's directory belong to the service user.
    t.git(&["init", "-q", "--bare", "-b", "main", "srv/repo.git"]);
    std::fs::create_dir_all(t.path().join("log")).unwrap();
    let config = t.path().join("server.toml");
    let log = t.path().join("log/audit.jsonl");
    std::fs::write(
        &config,
        format!("[server]\naudit_log = \"{}\"\n", log.display()),
    )
    .unwrap();
    chown(service, &t.path().join("srv"));
    chown(service, &t.path().join("log"));
    let repo = t.path().join("srv/repo.git");
    let shared = t.path().join("shared");
    let run = install_sh(
        &t,
        None,
        &private_bin,
        &[
            "--server",
            "srv/repo.git",
            "--prefix",
            shared.to_str().unwrap(),
        ],
    );
    run.status(0)
        .stdout_has(&format!("owned by {service}: git runs there as {service}"))
        .stdout_has("copied the keygate binary to")
        .stdout_has("receive.advertisePushOptions is on");
    let hook = std::fs::read_to_string(repo.join("hooks/pre-receive")).unwrap();
    let shared_bin = shared.join("bin/keygate");
    assert!(
        hook.contains(&format!("keygate_bin='{}'", shared_bin.display())),
        "{hook}"
    );
    let repo_config = std::fs::read_to_string(repo.join("config")).unwrap();
    assert!(
        repo_config.contains("advertisePushOptions = true"),
        "{repo_config}"
    );
    // The repository's config is still the service user's.
    let owner = Command::new("stat")
        .args(["-c", "%U"])
        .arg(repo.join("config"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&owner.stdout).trim(), service);
    t.git(&[
        "config",
        "-f",
        repo.join("config").to_str().unwrap(),
        "keygate.config",
        config.to_str().unwrap(),
    ]);

    // A real push through git daemon running as the service user.
    let daemon = Daemon::git(Some(service), &t.path().join("srv"));
    let port = daemon.port;
    let client = Test::repo();
    client.git(&[
        "remote",
        "add",
        "origin",
        &format!("git://127.0.0.1:{port}/repo.git"),
    ]);
    commit(&client, "README.md", "# x\n");
    push(&client, &["origin", "main"], &[]).status(0);
    commit(&client, "deploy/app.env", env_file());
    push(&client, &["origin", "main"], &[])
        .status(1)
        .stderr_has("push rejected")
        .stderr_has("deploy/app.env")
        .never_shows("keygate is missing")
        .never_shows(&key_id());
    push(
        &client,
        &["-o", "keygate.bypass=revoked test key", "origin", "main"],
        &[],
    )
    .status(0)
    .stderr_has("ACCEPTED by bypass");
    drop(daemon);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(&key_id()) && !text.contains(&secret()));
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2, "{text}");
    assert_eq!(records[0]["event"], "rejected");
    assert_eq!(records[1]["event"], "bypass");
    assert_eq!(records[1]["pusher"], service);
    assert_eq!(records[1]["pusher_source"], "os-user");
}

#[test]
fn install_server_reports_a_safe_directory_refusal_with_the_fix() {
    let Some((service, admin)) = service_users() else {
        return;
    };
    let t = Test::dir();
    chmod(0o755, t.path());
    t.git(&["init", "-q", "--bare", "-b", "main", "repo.git"]);
    chown(service, &t.path().join("repo.git"));
    // Another (non-root) user: git's safe.directory check stops it.
    install_sh(
        &t,
        Some(admin),
        Path::new(KEYGATE),
        &["--server", "repo.git"],
    )
    .status(1)
    .stderr_has("git refuses to work in")
    .stderr_has(&format!("owned by {service}"))
    .stderr_has("dubious ownership")
    .stderr_has("git config --global --add safe.directory")
    .never_shows("is not a bare git repository");
    assert!(!t.path().join("repo.git/hooks/pre-receive").exists());
}

#[test]
fn install_server_refuses_when_the_owner_cannot_run_the_shared_copy_either() {
    let Some((service, _)) = service_users() else {
        return;
    };
    let t = Test::dir();
    chmod(0o755, t.path());
    t.git(&["init", "-q", "--bare", "-b", "main", "repo.git"]);
    chown(service, &t.path().join("repo.git"));
    let closed = t.path().join("closed");
    std::fs::create_dir_all(closed.join("bin")).unwrap();
    let bin = closed.join("bin/keygate");
    std::fs::copy(KEYGATE, &bin).unwrap();
    chmod(0o700, &closed);
    // --prefix is where the binary already is: nothing to copy to.
    install_sh(
        &t,
        None,
        &bin,
        &["--server", "repo.git", "--prefix", closed.to_str().unwrap()],
    )
    .status(1)
    .stderr_has(&format!("{service}, who owns"))
    .stderr_has(&format!("cannot run {}", bin.display()));
    assert!(!t.path().join("repo.git/hooks/pre-receive").exists());
}

#[test]
fn smart_http_through_git_http_backend_as_a_web_server_user_names_the_remote_user() {
    // A CGI web server (Python's, the system one) running as the service
    // user; git http-backend gets REMOTE_USER from its Basic authentication.
    let Some((service, _)) = service_users() else {
        return;
    };
    let python = Path::new("/usr/bin/python3");
    if !python.exists() {
        eprintln!("SKIPPED: no /usr/bin/python3 for the CGI web server");
        return;
    }
    let t = Test::dir();
    chmod(0o755, t.path());
    let srv = t.path().join("srv");
    t.git(&["init", "-q", "--bare", "-b", "main", "srv/repo.git"]);
    let repo = srv.join("repo.git");
    install_hook(&repo.join("hooks"), "pre-receive");
    let hook = repo.join("hooks/pre-receive");
    let text = std::fs::read_to_string(&hook)
        .unwrap()
        .replace("keygate_bin=''", &format!("keygate_bin='{KEYGATE}'"));
    std::fs::write(&hook, text).unwrap();
    let config = srv.join("server.toml");
    let log = srv.join("audit.jsonl");
    std::fs::write(
        &config,
        format!("[server]\naudit_log = \"{}\"\n", log.display()),
    )
    .unwrap();
    let repo_config = repo.join("config");
    let set = |key: &str, value: &str| {
        t.git(&["config", "-f", repo_config.to_str().unwrap(), key, value]);
    };
    set("receive.advertisePushOptions", "true");
    set("keygate.config", config.to_str().unwrap());
    let cgi = t.path().join("web/cgi-bin");
    std::fs::create_dir_all(&cgi).unwrap();
    std::fs::write(
        cgi.join("git"),
        format!(
            "#!/bin/sh\nGIT_PROJECT_ROOT='{}' GIT_HTTP_EXPORT_ALL=1 exec git http-backend\n",
            srv.display()
        ),
    )
    .unwrap();
    chmod(0o755, &cgi.join("git"));
    chown(service, &srv);
    let port = free_port();
    let args: Vec<String> = ["-m", "http.server", "--cgi", "--bind", "127.0.0.1"]
        .iter()
        .map(|a| a.to_string())
        .chain([port.to_string()])
        .collect();
    let server = Daemon::spawn(Some(service), python, &args, &t.path().join("web"), port);
    let client = Test::repo();
    client.git(&[
        "remote",
        "add",
        "origin",
        &format!("http://127.0.0.1:{port}/cgi-bin/git/repo.git"),
    ]);
    // "alice:x", preemptively: this test server never asks.
    client.git(&[
        "config",
        "http.extraHeader",
        "Authorization: Basic YWxpY2U6eA==",
    ]);
    commit(&client, "README.md", "# x\n");
    push(&client, &["origin", "main"], &[]).status(0);
    commit(&client, "deploy/app.env", env_file());
    push(&client, &["origin", "main"], &[])
        .status(1)
        .stderr_has("push rejected")
        .stderr_has("(`alice`)")
        .never_shows(&key_id());
    push(
        &client,
        &["-o", "keygate.bypass=fixture", "origin", "main"],
        &[],
    )
    .status(0)
    .stderr_has("ACCEPTED by bypass");
    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(&key_id()) && !text.contains(&secret()));
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2, "{text}");
    for record in &records {
        assert_eq!(record["pusher"], "alice");
        assert_eq!(record["pusher_source"], "REMOTE_USER");
    }
    assert_eq!(records[1]["event"], "bypass");
}

// --- the static binary in an empty chroot ---------------------------------------

/// The binary `install.sh --static` builds (`KEYGATE_STATIC_BIN`, else
/// `<target>/<host>/release/keygate` next to the test binary's target).
fn static_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("KEYGATE_STATIC_BIN") {
        return Some(PathBuf::from(path));
    }
    let target = Path::new(KEYGATE).parent()?.parent()?;
    let host = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let path = target.join(host).join("release/keygate");
    path.exists().then_some(path)
}

#[test]
fn the_static_binary_gates_a_push_in_an_empty_chroot() {
    let Some(binary) = static_binary() else {
        eprintln!("SKIPPED: no static binary; build it with ./install.sh --static --no-hook");
        return;
    };
    if service_users().is_none() {
        return; // not root: no chroot
    }
    // Static: no interpreter, no shared library.
    let ldd = Command::new("ldd").arg(&binary).output();
    if let Ok(ldd) = ldd {
        let text = String::from_utf8_lossy(&ldd.stdout);
        assert!(!text.contains("=>"), "not static:\n{text}");
    }
    let t = Test::dir();
    let root = t.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::copy(&binary, root.join("keygate")).unwrap();
    chmod(0o755, &root.join("keygate"));
    t.git(&["init", "-q", "--bare", "-b", "main", "root/repo.git"]);
    std::fs::write(
        root.join("server.toml"),
        "[server]\naudit_log = \"/audit.jsonl\"\n",
    )
    .unwrap();
    // The pushed objects are in the repository, no ref points at them yet:
    // as in git's quarantine during pre-receive.
    let client = Test::repo();
    let clean = commit(&client, "README.md", "# x\n");
    let keyed = commit(&client, "deploy/app.env", env_file());
    let bare = root.join("repo.git");
    client.git(&["push", "-q", bare.to_str().unwrap(), "HEAD:refs/tmp/x"]);
    t.git_in(&bare, &["update-ref", "-d", "refs/tmp/x"]);
    let zero = "0".repeat(40);
    // Found before the environment is cleared.
    let chroot = Command::new("sh")
        .args(["-c", "command -v chroot"])
        .output()
        .unwrap();
    let chroot = String::from_utf8_lossy(&chroot.stdout).trim().to_string();
    let check = |program: &str, new: &str, env: &[(&str, &str)]| -> Run {
        use std::io::Write;
        let mut child = Command::new(&chroot)
            .arg(&root)
            .arg(program)
            .args(["--config", "/server.toml"])
            .env_clear()
            .env("GIT_DIR", "/repo.git")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let line = format!("{zero} {new} refs/heads/main\n");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(line.as_bytes())
            .unwrap();
        let output = wait_or_kill(child, KEYGATE_TIMEOUT);
        Run {
            status: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    };
    // `keygate hook pre-receive`, through a link named like the hook.
    std::os::unix::fs::symlink("/keygate", root.join("repo.git/hooks/pre-receive")).unwrap();
    check("/repo.git/hooks/pre-receive", &clean, &[]).status(0);
    check(
        "/repo.git/hooks/pre-receive",
        &keyed,
        &[("GITHUB_USER_LOGIN", "octo")],
    )
    .status(1)
    .stdout_has("push rejected")
    .stdout_has("deploy/app.env")
    .never_shows(&key_id())
    .never_shows(&secret());
    check(
        "/repo.git/hooks/pre-receive",
        &keyed,
        &[
            ("GITHUB_USER_LOGIN", "octo"),
            ("GIT_PUSH_OPTION_COUNT", "1"),
            ("GIT_PUSH_OPTION_0", "keygate.bypass=fixture"),
        ],
    )
    .status(0)
    .stderr_has("ACCEPTED by bypass");
    // No /etc/passwd in the chroot: the OS user is a uid.
    check("/repo.git/hooks/pre-receive", &keyed, &[]).status(1);
    let text = std::fs::read_to_string(root.join("audit.jsonl")).unwrap();
    assert!(!text.contains(&key_id()) && !text.contains(&secret()));
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 3, "{text}");
    assert_eq!(records[0]["pusher"], "octo");
    assert_eq!(records[1]["event"], "bypass");
    assert_eq!(records[2]["pusher"], "uid 0");
}

#[test]
fn a_push_with_many_findings_is_one_bounded_record() {
    let s = Server::new("");
    let client = s.client(None);
    for i in 0..130 {
        client.write(&format!("keys/k{i:03}.env"), env_file());
    }
    client.git(&["add", "."]);
    client.git(&["commit", "-q", "--no-verify", "-m", "many"]);
    push(&client, &["origin", "main"], &[]).status(1);
    let records = s.records();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record["findings_total"], 130);
    assert_eq!(record["findings"].as_array().unwrap().len(), 100);
    assert_eq!(record["findings_omitted"], 30);
    let table = s.dir.keygate(&["audit-log", s.log().to_str().unwrap()]);
    table.status(0).stdout_has("(+30 not listed)");
}

#[test]
fn a_fifo_in_place_of_the_log_does_not_hang_the_push() {
    let (s, client, _) = keyed_push("");
    let status = Command::new("mkfifo").arg(s.log()).status().unwrap();
    assert!(status.success());
    push(&client, &["origin", "main"], &[])
        .status(1)
        .stderr_has("could not record this rejection in the audit log");
}

// --- ssh --------------------------------------------------------------------------

/// A user for git over ssh: login shell git-shell, no password, not locked.
fn ssh_user() -> Option<&'static str> {
    static USER: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *USER.get_or_init(|| {
        if service_users().is_none() {
            return false;
        }
        let shell = Command::new("sh")
            .args(["-c", "command -v git-shell"])
            .output()
            .unwrap();
        let shell = String::from_utf8_lossy(&shell.stdout).trim().to_string();
        let exists = Command::new("id")
            .arg("kggit15")
            .output()
            .is_ok_and(|o| o.status.success());
        !shell.is_empty()
            && (exists
                || Command::new("useradd")
                    .args(["--system", "--no-create-home", "-p", "*", "--shell", &shell])
                    .arg("kggit15")
                    .status()
                    .is_ok_and(|s| s.success()))
    });
    ok.then_some("kggit15")
}

#[test]
fn ssh_push_through_a_real_sshd_runs_the_gate_as_the_account() {
    let sshd = Path::new("/usr/sbin/sshd");
    let Some(user) = ssh_user().filter(|_| sshd.exists()) else {
        eprintln!("SKIPPED: needs root, useradd, git-shell and /usr/sbin/sshd");
        return;
    };
    let t = Test::dir();
    chmod(0o755, t.path());
    let keygen = |path: &Path| {
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    };
    keygen(&t.path().join("host_key"));
    keygen(&t.path().join("client_key"));
    let public = std::fs::read_to_string(t.path().join("client_key.pub")).unwrap();
    // One shared account; the key says who it is (OpenSSH's environment=).
    std::fs::write(
        t.path().join("authorized_keys"),
        format!("environment=\"KEYGATE_PUSHER=alice\" {public}"),
    )
    .unwrap();
    let port = free_port();
    let config = t.path().join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile none\nUsePAM no\n\
             StrictModes no\nAuthorizedKeysFile {}\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitUserEnvironment KEYGATE_PUSHER\n\
             AllowUsers {user}\n",
            t.path().join("host_key").display(),
            t.path().join("authorized_keys").display()
        ),
    )
    .unwrap();
    std::fs::create_dir_all("/run/sshd").unwrap();
    let server = Daemon::spawn(
        None,
        sshd,
        &[
            "-D".to_string(),
            "-e".to_string(),
            "-f".to_string(),
            config.display().to_string(),
        ],
        t.path(),
        port,
    );
    // The repository, the account's; the policy names the pusher by the key.
    t.git(&["init", "-q", "--bare", "-b", "main", "srv/repo.git"]);
    std::fs::create_dir_all(t.path().join("log")).unwrap();
    let policy = t.path().join("server.toml");
    std::fs::write(
        &policy,
        format!(
            "[server]\naudit_log = \"{}\"\npusher_env = [\"KEYGATE_PUSHER\"]\n",
            t.path().join("log/audit.jsonl").display()
        ),
    )
    .unwrap();
    chown(user, &t.path().join("srv"));
    chown(user, &t.path().join("log"));
    let repo = t.path().join("srv/repo.git");
    install_sh(&t, None, Path::new(KEYGATE), &["--server", "srv/repo.git"]).status(0);
    t.git(&[
        "config",
        "-f",
        repo.join("config").to_str().unwrap(),
        "keygate.config",
        policy.to_str().unwrap(),
    ]);
    let client = Test::repo();
    client.git(&[
        "remote",
        "add",
        "origin",
        &format!("ssh://{user}@127.0.0.1:{port}{}", repo.display()),
    ]);
    let ssh = format!(
        "ssh -i {} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no \
         -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
        t.path().join("client_key").display()
    );
    let ssh_env = [("GIT_SSH_COMMAND", ssh.as_str())];
    commit(&client, "README.md", "# x\n");
    push(&client, &["origin", "main"], &ssh_env).status(0);
    commit(&client, "deploy/app.env", env_file());
    push(&client, &["origin", "main"], &ssh_env)
        .status(1)
        .stderr_has("push rejected")
        .stderr_has("(`alice`)")
        .never_shows(&key_id());
    push(
        &client,
        &["-o", "keygate.bypass=revoked", "origin", "main"],
        &ssh_env,
    )
    .status(0)
    .stderr_has("ACCEPTED by bypass");
    drop(server);
    let text = std::fs::read_to_string(t.path().join("log/audit.jsonl")).unwrap();
    assert!(!text.contains(&key_id()) && !text.contains(&secret()));
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2, "{text}");
    assert_eq!(records[1]["event"], "bypass");
    assert_eq!(records[1]["pusher"], "alice");
    assert_eq!(records[1]["pusher_source"], "KEYGATE_PUSHER");
}

#[test]
fn a_hook_whose_binary_the_server_user_cannot_reach_fails_closed_naming_the_user() {
    // What install.sh --server now prevents, done by hand: the message says
    // whose view of the path is missing.
    let Some((service, _)) = service_users() else {
        return;
    };
    let t = Test::dir();
    chmod(0o755, t.path());
    let home = t.path().join("roothome");
    std::fs::create_dir_all(&home).unwrap();
    let private_bin = home.join("keygate");
    std::fs::copy(KEYGATE, &private_bin).unwrap();
    chmod(0o700, &home);
    t.git(&["init", "-q", "--bare", "-b", "main", "srv/repo.git"]);
    let hook = t.path().join("srv/repo.git/hooks/pre-receive");
    install_hook(hook.parent().unwrap(), "pre-receive");
    let text = std::fs::read_to_string(&hook).unwrap().replace(
        "keygate_bin=''",
        &format!("keygate_bin='{}'", private_bin.display()),
    );
    std::fs::write(&hook, text).unwrap();
    chown(service, &t.path().join("srv"));
    let daemon = Daemon::git(Some(service), &t.path().join("srv"));
    let client = Test::repo();
    client.git(&[
        "remote",
        "add",
        "origin",
        &format!("git://127.0.0.1:{}/repo.git", daemon.port),
    ]);
    commit(&client, "README.md", "# x\n");
    push(&client, &["origin", "main"], &[])
        .status(1)
        .stderr_has(&format!("which does not exist for user {service}"))
        .stderr_has("closed to that user");
}
