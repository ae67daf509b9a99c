//! The `Test` builder: a temp directory (optionally a real git repository),
//! files written and staged with the real `git`, the real `keygate` binary
//! run in it, and assertions on status, stdout and stderr.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const KEYGATE: &str = env!("CARGO_BIN_EXE_keygate");

/// A fake but well-formed long-term key ID and secret (random base32/base64,
/// not a real credential). Tests assemble them at run time so the literal
/// never sits in this file in one piece.
pub fn key_id() -> String {
    format!("{}{}", "AKIA", "QYLPMN5HHHFPZAM2")
}
pub fn key_id2() -> String {
    format!("{}{}", "ASIA", "Y34FZKBOKMUTVV7A")
}
pub fn secret() -> String {
    format!("{}{}", "Zr4nK2pQ9sVw7xYb3cDe", "5fGh1jKl6mNo8pQr0sTu")
}

/// Standard base64 with padding, as `base64` (the command) writes it: the
/// encoded forms keys are committed in.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A temporary directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!(
            "keygate-test-{}-{}-{n}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test directory, usually a git repository.
pub struct Test {
    pub dir: TempDir,
}

/// The result of running a command, with assertion helpers.
#[derive(Debug)]
pub struct Run {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            status: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn status(&self, code: i32) -> &Run {
        assert_eq!(
            self.status,
            Some(code),
            "expected exit {code}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Run {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// `needle` in stdout or stderr (hooks' output reaches the user either way).
    #[track_caller]
    pub fn output_has(&self, needle: &str) -> &Run {
        assert!(
            self.stdout.contains(needle) || self.stderr.contains(needle),
            "output lacks {needle:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Fails if `needle` appears anywhere in the output.
    #[track_caller]
    pub fn never_shows(&self, needle: &str) -> &Run {
        assert!(
            !self.stdout.contains(needle) && !self.stderr.contains(needle),
            "output shows {needle:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Parses stdout as the JSON report.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// The findings of a JSON report.
    #[track_caller]
    pub fn findings(&self) -> Vec<serde_json::Value> {
        self.json()["findings"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// A run that takes longer than this has hung: a hang is a failure, not a
/// wait for CI's own timeout.
pub const KEYGATE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Reads `pipe` to its end on a thread of its own.
fn drain(pipe: Option<impl std::io::Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// `wait_with_output`, but a child still running after `timeout` is killed
/// and the test fails.
pub fn wait_or_kill(
    mut child: std::process::Child,
    timeout: std::time::Duration,
) -> std::process::Output {
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for keygate") {
            break status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("keygate hung: still running after {timeout:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    std::process::Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

impl Test {
    /// An empty directory (not a repository).
    pub fn dir() -> Test {
        Test {
            dir: TempDir::new(),
        }
    }

    /// A fresh git repository with an identity and no commits.
    pub fn repo() -> Test {
        let test = Test::dir();
        test.git(&["init", "-q", "-b", "main"]);
        test.git(&["config", "user.email", "dev@example.com"]);
        test.git(&["config", "user.name", "Dev"]);
        test.git(&["config", "commit.gpgsign", "false"]);
        test
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (creating parent directories).
    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> &Test {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(path, content).expect("write file");
        self
    }

    /// Writes and stages a file.
    pub fn stage(&self, name: &str, content: impl AsRef<[u8]>) -> &Test {
        self.write(name, content);
        self.git(&["add", "--", name]);
        self
    }

    /// Runs git in the test directory and asserts success; returns stdout.
    #[track_caller]
    pub fn git(&self, args: &[&str]) -> String {
        let run = self.git_run(args);
        assert_eq!(
            run.status,
            Some(0),
            "git {args:?} failed: {}{}",
            run.stdout,
            run.stderr
        );
        run.stdout
    }

    /// Runs git and returns whatever happened.
    pub fn git_run(&self, args: &[&str]) -> Run {
        self.git_in(self.path(), args)
    }

    pub fn git_in(&self, dir: &Path, args: &[&str]) -> Run {
        let output = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", self.path())
            .env("KEYGATE_BIN", KEYGATE)
            .env_remove("GIT_DIR")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_WORK_TREE")
            .stdin(Stdio::null())
            .output()
            .expect("run git");
        Run::from(output)
    }

    /// Commits what is staged (hooks run); returns the run.
    pub fn commit(&self, message: &str) -> Run {
        self.git_run(&["commit", "-q", "-m", message])
    }

    /// Number of commits on HEAD (0 before the first).
    pub fn commit_count(&self) -> usize {
        let run = self.git_run(&["rev-list", "--count", "HEAD"]);
        run.stdout.trim().parse().unwrap_or(0)
    }

    /// Runs keygate with `args` in the test directory.
    pub fn keygate(&self, args: &[&str]) -> Run {
        self.keygate_in(self.path(), args, None)
    }

    /// Runs keygate with `stdin` as standard input.
    pub fn keygate_stdin(&self, args: &[&str], stdin: &[u8]) -> Run {
        self.keygate_in(self.path(), args, Some(stdin))
    }

    pub fn keygate_in(&self, dir: &Path, args: &[impl AsRef<OsStr>], stdin: Option<&[u8]>) -> Run {
        use std::io::Write;
        let mut child = Command::new(KEYGATE)
            .args(args)
            .current_dir(dir)
            .env("HOME", self.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove("GIT_DIR")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_WORK_TREE")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run keygate");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("stdin");
            let _ = pipe.write_all(input);
        }
        Run::from(wait_or_kill(child, KEYGATE_TIMEOUT))
    }

    /// Installs the repository's `hooks/pre-commit` script into this repo,
    /// pointing it at the built binary through `KEYGATE_BIN`.
    pub fn install_pre_commit_hook(&self) -> &Test {
        let hooks = self.path().join(".git/hooks");
        std::fs::create_dir_all(&hooks).expect("hooks dir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks/pre-commit");
        let target = hooks.join("pre-commit");
        std::fs::copy(&script, &target).expect("copy hook");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        self
    }
}

/// A bare "server" repository with keygate's pre-receive hook, and a client
/// clone of it.
pub struct Push {
    pub server: Test,
    pub client: Test,
}

impl Push {
    pub fn new() -> Push {
        let server = Test::dir();
        server.git(&["init", "-q", "--bare", "-b", "main", "server.git"]);
        install_hook(&server.path().join("server.git/hooks"), "pre-receive");
        let client = Test::repo();
        client.git(&[
            "remote",
            "add",
            "origin",
            server.path().join("server.git").to_str().unwrap(),
        ]);
        Push { server, client }
    }

    pub fn bare(&self) -> PathBuf {
        self.server.path().join("server.git")
    }

    /// Commits `content` at `name` in the client without its own hook.
    pub fn commit(&self, name: &str, content: impl AsRef<[u8]>, message: &str) {
        self.client.stage(name, content);
        self.client
            .git(&["commit", "-q", "--no-verify", "-m", message]);
    }

    pub fn push(&self, args: &[&str]) -> Run {
        let mut all = vec!["push", "-q", "origin"];
        all.extend_from_slice(args);
        self.client.git_run(&all)
    }

    /// The server's value of a ref, if it exists.
    pub fn server_ref(&self, name: &str) -> Option<String> {
        let run = self
            .server
            .git_in(&self.bare(), &["rev-parse", "--verify", "-q", name]);
        (run.status == Some(0)).then(|| run.stdout.trim().to_string())
    }

    pub fn server_config(&self, text: &str) {
        let path = self.server.path().join("keygate-server.toml");
        std::fs::write(&path, text).unwrap();
        self.server.git_in(
            &self.bare(),
            &["config", "keygate.config", path.to_str().unwrap()],
        );
    }
}

/// Installs the shipped hook script `name` into the hooks folder `dir`.
pub fn install_hook(dir: &Path, name: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("hooks")
        .join(name);
    let target = dir.join(name);
    std::fs::copy(script, &target).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// A bare repository `s.git` (branch `main`, no hook) in a temporary
/// directory: the directory, the repository's path and its `file://` URL.
pub fn bare_server() -> (Test, PathBuf, String) {
    let server = Test::dir();
    server.git(&["init", "-q", "--bare", "-b", "main", "s.git"]);
    let bare = server.path().join("s.git");
    let url = format!("file://{}", bare.display());
    (server, bare, url)
}

/// Another developer's repository pushing to `url` without keygate, with
/// one clean commit already on the server's `main`.
pub fn other_developer(url: &str) -> Test {
    let other = Test::repo();
    other.git(&["remote", "add", "origin", url]);
    other.stage("README.md", "# x\n");
    other.git(&["commit", "-q", "-m", "init"]);
    other.git(&["push", "-q", "origin", "main"]);
    other
}
