//! Issue 12, the ways a config or the user's own keys open the gate by
//! accident: allowlists that allow a pair by its ID, allow-everything
//! configs, hostile config files, missed spellings, own keys, and scrubbing.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

/// A repository with the pre-commit hook and `config` committed as
/// `.keygate.toml` (through the hook: the config itself must pass).
fn hooked_repo_with_config(config: &str) -> Test {
    let test = Test::repo();
    test.install_pre_commit_hook();
    test.stage(".keygate.toml", config);
    test.commit("config").status(0);
    test
}

/// `git commit` through the installed hook, killed (and the test failed) if
/// it runs longer than `limit`: a hook that hangs must fail the test, not
/// hang it.
fn commit_within(test: &Test, message: &str, limit: Duration) -> Run {
    let child = Command::new("git")
        .args(["commit", "-q", "-m", message])
        .current_dir(test.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", test.path())
        .env("KEYGATE_BIN", KEYGATE)
        .env_remove("GIT_DIR")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_WORK_TREE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run git commit");
    let output = wait_or_kill(child, limit);
    Run {
        status: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[track_caller]
fn assert_blocked(test: &Test, run: &Run, commits_before: usize) {
    assert_ne!(run.status, Some(0), "commit went through:\n{run:?}");
    assert_eq!(test.commit_count(), commits_before, "{run:?}");
}

/// The README's own example allowlist regex: fake test IDs end in `TEST`.
const TEST_ID_REGEX: &str = "^AKIA[A-Z2-7]{12}TEST$";

fn test_key_id() -> String {
    format!("{}TEST", &key_id()[..16])
}

// ---------------------------------------------------------------- item 5

#[test]
fn issue12_5_allowlisted_test_id_does_not_allow_the_real_secret_next_to_it() {
    let test = hooked_repo_with_config(&format!("[allowlist]\nregexes = [\"{TEST_ID_REGEX}\"]\n"));
    // The test ID alone is allowed, as the README promises.
    test.stage(
        "tests/env.sh",
        format!("AWS_ACCESS_KEY_ID={}\n", test_key_id()),
    );
    test.commit("test id").status(0);
    // A real secret next to it is not: it is reported as what it is.
    test.stage(
        "tests/env.sh",
        format!(
            "AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}\n",
            test_key_id(),
            secret()
        ),
    );
    let run = test.commit("real secret");
    assert_blocked(&test, &run, 2);
    run.never_shows(&secret()).output_has("tests/env.sh:2");
    let scan = test.keygate(&["scan", "--format", "json", "tests/env.sh"]);
    scan.status(1).never_shows(&secret());
    let findings = scan.findings();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["rule_id"], "aws-secret-access-key");
    assert_eq!(findings[0]["line"], 2);
    // The secret's own fingerprint allows it (and it alone).
    let fingerprint = findings[0]["fingerprint"].as_str().unwrap().to_string();
    test.stage(
        ".keygate.toml",
        format!(
            "[allowlist]\nregexes = [\"{TEST_ID_REGEX}\"]\nfingerprints = [\"{fingerprint}\"]\n"
        ),
    );
    test.commit("allow that secret").status(0);
}

#[test]
fn issue12_5_marker_on_the_id_line_does_not_allow_a_secret_three_lines_below() {
    let test = hooked_repo_with_config("[allowlist]\n");
    test.stage(
        "config/app.ini",
        format!(
            "aws_access_key_id = {} # keygate:allow\nregion = us-east-1\noutput = json\n\
             aws_secret_access_key = {}\n",
            key_id(),
            secret()
        ),
    );
    let run = test.commit("marker on the ID line");
    assert_blocked(&test, &run, 1);
    run.never_shows(&secret())
        .never_shows(&key_id())
        .output_has("config/app.ini:4");
    // A marker on the secret's line names the secret; the ID line's marker
    // names the ID: together they allow the pair.
    test.stage(
        "config/app.ini",
        format!(
            "aws_access_key_id = {} # keygate:allow\nregion = us-east-1\noutput = json\n\
             aws_secret_access_key = {} # keygate:allow\n",
            key_id(),
            secret()
        ),
    );
    test.commit("both marked").status(0);
}

#[test]
fn issue12_5_marker_on_the_secret_line_alone_still_reports_the_key_id() {
    let test = Test::dir();
    test.write(
        "a.env",
        format!(
            "AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={} # keygate:allow\n",
            key_id(),
            secret()
        ),
    );
    let run = test.keygate(&["scan", "--format", "json", "a.env"]);
    run.status(1).never_shows(&key_id()).never_shows(&secret());
    let findings = run.findings();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["rule_id"], "aws-access-key-id");
}

// ---------------------------------------------------------------- item 7

#[test]
fn issue12_7_configs_that_allow_everything_say_so_on_every_run() {
    let test = Test::dir();
    test.write("a.txt", "nothing here\n");
    let all_rules = "\"aws-access-key-id\", \"aws-secret-access-key\", \"aws-session-token\", \
                     \"aws-session-token-assignment\", \"aws-bedrock-api-key\", \
                     \"aws-bedrock-short-lived-api-key\"";
    let everything = [
        ("[allowlist]\npaths = [\"**\"]\n", "paths[0]"),
        ("[allowlist]\npaths = [\"*\"]\n", "paths[0]"),
        ("[allowlist]\npaths = [\"**/*\"]\n", "paths[0]"),
        ("[allowlist]\npaths = [\"/**\"]\n", "paths[0]"),
        (
            "[allowlist]\npaths = [\"docs/**\", \"{**,x}\"]\n",
            "paths[1]",
        ),
        ("[allowlist]\nregexes = [\".*\"]\n", "regexes[0]"),
        ("[allowlist]\nregexes = [\"\"]\n", "regexes[0]"),
        ("[allowlist]\nregexes = [\"TEST$\", \"^\"]\n", "regexes[1]"),
        ("[allowlist]\nregexes = [\"(?s).?\"]\n", "regexes[0]"),
        ("[allowlist]\nregexes = [\"[A-Za-z0-9]\"]\n", "regexes[0]"),
        ("[allowlist]\nregexes = [\"x*\"]\n", "regexes[0]"),
        (
            &format!("[detect]\ndisable = [{all_rules}]\nown_keys = false\n"),
            "detect.disable",
        ),
        (
            "[detect]\ndisable = [\"aws-secret-access-key\", \"aws-access-key-id\"]\n",
            "detect.disable",
        ),
    ];
    for (config, entry) in everything {
        test.write(".keygate.toml", config);
        let run = test.keygate(&["scan", "a.txt"]);
        run.status(0);
        assert!(
            run.stderr.contains("warning") && run.stderr.contains(entry),
            "no warning naming {entry} for {config:?}: {run:?}"
        );
    }
    // Narrow configs stay quiet.
    for config in [
        "[allowlist]\npaths = [\"tests/fixtures/**\", \"*.pem\"]\n".to_string(),
        format!("[allowlist]\nregexes = [\"{TEST_ID_REGEX}\", \"^ASIA\"]\n"),
        "[detect]\ndisable = [\"aws-session-token-assignment\"]\n".to_string(),
    ] {
        test.write(".keygate.toml", &config);
        let run = test.keygate(&["scan", "a.txt"]);
        run.status(0);
        assert!(!run.stderr.contains("warning"), "{config:?}: {run:?}");
    }
}

#[test]
fn issue12_7_allow_everything_config_warns_on_a_real_commit_and_keeps_the_exit_code() {
    let test = Test::repo();
    test.install_pre_commit_hook();
    test.stage(".keygate.toml", "[allowlist]\npaths = [\"**\"]\n");
    let run = test.commit("allow all");
    run.status(0).output_has("allows every path");
    test.stage("app.env", format!("AWS_SECRET_ACCESS_KEY={}\n", secret()));
    let run = test.commit("a key, allowed by the config");
    run.status(0)
        .output_has("allows every path")
        .never_shows(&secret());
    assert_eq!(test.commit_count(), 2);
}

// ---------------------------------------------------------------- item 8

/// Spellings of the secret's label from consoles, docs and config files.
fn secret_spellings() -> Vec<String> {
    let s = secret();
    let pad = " ".repeat(40);
    vec![
        format!("AWS Secret Access Key: {s}"),
        format!("Secret access key: {s}"),
        format!("{{\"AWS Secret Access Key\": \"{s}\"}}"),
        format!("| AWS Secret Access Key | {s} |"),
        format!("| `AWS_SECRET_ACCESS_KEY` | `{s}` |"),
        format!("aws_secret_access_key ={pad}{s}"),
        format!("aws_secret_access_key{pad}={pad}{s}"),
        format!("aws_secret_access_key\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t= {s}"),
        format!("<add key=\"AWSSecretKey\" value=\"{s}\"/>"),
        format!("<add key=\"AWSSecretKey\"   value=\"{s}\" />"),
        format!("<add name=\"aws.secretKey\" value=\"{s}\"/>"),
        format!("<setting name=\"AWSSecretKey\" serializeAs=\"String\">\n  <value>{s}</value>"),
        format!("secret-access-key: {s}"),
        format!("secretAccessKey = \"{s}\""),
        format!("SecretKey={s}"),
        format!("aws.secretKey = {s}"),
        format!("AWS Secret Key = {s}"),
        format!("aws secret access key:\n    {s}"),
    ]
}

#[test]
fn issue12_8_console_docs_aligned_and_dotnet_spellings_of_the_secret_are_found() {
    let test = Test::dir();
    let mut missed = Vec::new();
    for (i, text) in secret_spellings().iter().enumerate() {
        let name = format!("f{i}.txt");
        test.write(&name, format!("{text}\n"));
        let run = test.keygate(&["scan", "--format", "json", &name]);
        run.never_shows(&secret());
        if run.status != Some(1) {
            missed.push(text.replace(&secret(), "<secret>"));
        }
    }
    assert!(missed.is_empty(), "missed spellings: {missed:#?}");
}

#[test]
fn issue12_8_near_misses_of_the_new_spellings_stay_quiet() {
    let test = Test::dir();
    let s = secret();
    let near_misses = [
        // Somebody else's secret, spelled the new ways.
        format!("<add key=\"ClientSecret\" value=\"{s}\"/>"),
        format!("| Client Secret | {s} |"),
        format!("my secret santa list: {s}"),
        // Placeholders and digests, column-aligned.
        format!("aws_secret_access_key ={}<your secret key>", " ".repeat(30)),
        format!(
            "aws_secret_access_key ={}{}",
            " ".repeat(30),
            "356a192b7913b04c54574d18c28d46e6395428ab"
        ),
        "| AWS Secret Access Key | wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY |".to_string(),
    ];
    for (i, text) in near_misses.iter().enumerate() {
        let name = format!("n{i}.txt");
        test.write(&name, format!("{text}\n"));
        test.keygate(&["scan", &name]).status(0);
    }
}

// ---------------------------------------------------------------- item 9

fn write_credentials(test: &Test, content: &[u8]) {
    test.write(".aws/credentials", content);
}

#[test]
fn issue12_9_own_key_id_glued_to_other_characters_is_found() {
    let test = hooked_repo_with_config("[allowlist]\n");
    write_credentials(
        &test,
        format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            key_id(),
            secret()
        )
        .as_bytes(),
    );
    test.stage("notes.txt", format!("token=x{}y\n", key_id()));
    let run = test.commit("glued ID");
    assert_blocked(&test, &run, 1);
    run.never_shows(&key_id());
    test.stage("notes.txt", format!("blob=q{}z\n", secret()));
    let run = test.commit("glued secret");
    assert_blocked(&test, &run, 1);
    run.never_shows(&secret());
}

#[test]
fn issue12_9_credentials_with_a_non_utf8_byte_or_colon_lines_still_give_own_keys() {
    let mut non_utf8 = b"[default]\n# caf\xe9\n".to_vec();
    non_utf8.extend(format!("aws_secret_access_key = {}\n", secret()).as_bytes());
    let colon = format!("[default]\naws_secret_access_key: {}\n", secret()).into_bytes();
    let tabs_and_bom = format!(
        "\u{feff}[default]\n\tAWS_SECRET_ACCESS_KEY\t:\t{}\r\n",
        secret()
    )
    .into_bytes();
    for content in [non_utf8, colon, tabs_and_bom] {
        let test = hooked_repo_with_config("[allowlist]\n");
        write_credentials(&test, &content);
        test.stage("notes.txt", format!("blob=q{}z\n", secret()));
        let run = test.commit("glued secret");
        assert_blocked(&test, &run, 1);
        run.never_shows(&secret());
    }
}

#[test]
fn issue12_9_unparseable_credentials_file_is_a_warning_not_silence() {
    let test = hooked_repo_with_config("[allowlist]\n");
    // A key setting keygate cannot read a value from.
    write_credentials(
        &test,
        format!("[default]\naws_secret_access_key {}\n", secret()).as_bytes(),
    );
    test.stage("notes.txt", "hello\n");
    let run = test.commit("clean");
    run.status(0)
        .output_has("warning")
        .output_has(".aws/credentials")
        .never_shows(&secret());
    // A credentials file that is a FIFO: a warning, not a hang.
    let fifo = test.path().join(".aws/credentials");
    std::fs::remove_file(&fifo).unwrap();
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    test.stage("notes.txt", "hello again\n");
    let run = commit_within(&test, "clean", Duration::from_secs(30));
    run.status(0)
        .output_has("warning")
        .output_has(".aws/credentials");
}

#[test]
fn issue12_9_keys_in_the_aws_config_file_are_own_keys_too() {
    let test = hooked_repo_with_config("[allowlist]\n");
    test.write(
        ".aws/config",
        format!(
            "[profile ci]\nregion = eu-west-1\naws_secret_access_key = {}\n",
            secret()
        ),
    );
    test.stage("notes.txt", format!("blob=q{}z\n", secret()));
    let run = test.commit("glued secret");
    assert_blocked(&test, &run, 1);
    run.never_shows(&secret());
}

// ---------------------------------------------------------------- item 11

fn mkfifo(path: &std::path::Path) {
    let made = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(made.success());
}

#[test]
fn issue12_11_config_that_is_dev_zero_or_a_fifo_fails_the_commit_quickly() {
    let test = Test::repo();
    test.install_pre_commit_hook();
    test.stage("README.md", "# project\n");
    test.commit("initial").status(0);
    let config = test.path().join(".keygate.toml");
    std::os::unix::fs::symlink("/dev/zero", &config).unwrap();
    test.stage("a.txt", "clean\n");
    let started = Instant::now();
    let run = commit_within(&test, "zero config", Duration::from_secs(30));
    assert_blocked(&test, &run, 1);
    run.output_has(".keygate.toml").output_has("regular file");
    assert!(started.elapsed() < Duration::from_secs(10), "{run:?}");

    std::fs::remove_file(&config).unwrap();
    mkfifo(&config);
    let run = commit_within(&test, "fifo config", Duration::from_secs(30));
    assert_blocked(&test, &run, 1);
    run.output_has(".keygate.toml").output_has("regular file");

    // Too big: named, with the limit.
    std::fs::remove_file(&config).unwrap();
    test.write(".keygate.toml", format!("# {}\n", "x".repeat(2 << 20)));
    let run = commit_within(&test, "big config", Duration::from_secs(30));
    assert_blocked(&test, &run, 1);
    run.output_has(".keygate.toml").output_has("1 MiB");

    // A symlink to a regular config is fine.
    std::fs::remove_file(&config).unwrap();
    test.write("conf/keygate.toml", "[allowlist]\n");
    std::os::unix::fs::symlink("conf/keygate.toml", &config).unwrap();
    let run = commit_within(&test, "linked config", Duration::from_secs(30));
    run.status(0);
}

#[test]
fn issue12_11_baseline_that_is_dev_zero_or_a_fifo_fails_the_commit_quickly() {
    let test = hooked_repo_with_config("[allowlist]\n");
    test.stage(
        ".keygate.toml",
        "[allowlist]\nbaseline = \".keygate-baseline\"\n",
    );
    let baseline = test.path().join(".keygate-baseline");
    std::os::unix::fs::symlink("/dev/zero", &baseline).unwrap();
    let run = commit_within(&test, "zero baseline", Duration::from_secs(30));
    assert_blocked(&test, &run, 1);
    run.output_has(".keygate-baseline")
        .output_has("regular file");

    std::fs::remove_file(&baseline).unwrap();
    mkfifo(&baseline);
    let run = commit_within(&test, "fifo baseline", Duration::from_secs(30));
    assert_blocked(&test, &run, 1);
    run.output_has(".keygate-baseline")
        .output_has("regular file");
}

#[test]
fn issue12_11_a_thousand_allowlist_regexes_are_fast_and_huge_ones_are_refused() {
    let regexes: Vec<String> = (0..1000)
        .map(|i| format!("\"\\\\w{{16}}{i:04}\""))
        .collect();
    let config = format!("[allowlist]\nregexes = [\n{}\n]\n", regexes.join(",\n"));
    let test = hooked_repo_with_config(&config);
    test.stage("app.env", format!("AWS_SECRET_ACCESS_KEY={}\n", secret()));
    let started = Instant::now();
    let run = commit_within(&test, "a key", Duration::from_secs(60));
    assert_blocked(&test, &run, 1);
    run.never_shows(&secret());
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "1,000 regexes took {:?}",
        started.elapsed()
    );
    // One regex too big to compile is refused, naming it, quickly.
    test.write(
        ".keygate.toml",
        "[allowlist]\nregexes = [\"ok\", \"\\\\w{1000}{1000}\"]\n",
    );
    let started = Instant::now();
    let run = test.keygate(&["scan", "app.env"]);
    run.status(2).stderr_has("regexes[1]");
    assert!(started.elapsed() < Duration::from_secs(8), "{run:?}");
    // Many regexes each under the limit, too big together: refused.
    let big: Vec<String> = (0..400).map(|i| format!("\"[a-z]{{4000}}{i}\"")).collect();
    test.write(
        ".keygate.toml",
        format!("[allowlist]\nregexes = [{}]\n", big.join(", ")),
    );
    let started = Instant::now();
    let run = test.keygate(&["scan", "app.env"]);
    run.status(2).stderr_has("allowlist.regexes");
    assert!(started.elapsed() < Duration::from_secs(8), "{run:?}");
}

#[test]
fn issue12_11_huge_glob_lists_are_refused_quickly_naming_the_list() {
    let test = Test::dir();
    test.write("a.txt", "clean\n");
    let many: Vec<String> = (0..5000).map(|i| format!("\"d{i}*x/**\"")).collect();
    let one_huge = (0..60_000)
        .map(|i| format!("d{i}*x"))
        .collect::<Vec<_>>()
        .join(",");
    for config in [
        format!("[allowlist]\npaths = [{}]\n", many.join(", ")),
        format!("[allowlist]\npaths = [\"{{{one_huge}}}/**\"]\n"),
    ] {
        test.write(".keygate.toml", &config);
        let started = Instant::now();
        let run = test.keygate(&["scan", "a.txt"]);
        run.status(2).stderr_has("allowlist.paths");
        assert!(started.elapsed() < Duration::from_secs(5), "{run:?}");
    }
}

#[test]
fn issue12_11_too_many_custom_rules_are_refused() {
    let test = Test::dir();
    test.write("a.txt", "clean\n");
    let rule = |i: usize| {
        format!(
            "[[rules]]\nid = \"r{i}\"\nregex = \"tok{i}_[a-z]{{8}}\"\nkeywords = [\"tok{i}_\"]\n"
        )
    };
    test.write(".keygate.toml", (0..64).map(rule).collect::<String>());
    test.keygate(&["scan", "a.txt"]).status(0);
    test.write(".keygate.toml", (0..65).map(rule).collect::<String>());
    test.keygate(&["scan", "a.txt"])
        .status(2)
        .stderr_has(".keygate.toml: rules: 65 custom rules, over the limit of 64");
}

// ---------------------------------------------------------------- item 15

#[test]
fn issue12_15_percent_encoded_secret_after_multibyte_text_is_scrubbed_from_an_error() {
    let test = Test::dir();
    let text = format!(
        "{}aws_secret_access_key%3D{}",
        "\u{4e0a}".repeat(4000),
        secret().replace('+', "%2B").replace('/', "%2F")
    );
    let run = test.keygate(&["--format", &text, "scan", "."]);
    run.status(2)
        .stderr_has("unknown format")
        .never_shows(&secret());
}

#[test]
fn issue12_15_powershell_encoded_command_is_scrubbed_from_an_error() {
    let test = Test::dir();
    // `powershell -EncodedCommand`: base64 of UTF-16LE text.
    let command = format!("$env:AWS_SECRET_ACCESS_KEY='{}'", secret());
    let utf16: Vec<u8> = command
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let text = format!("powershell -EncodedCommand {}", base64(&utf16));
    // The detector finds it in a file...
    test.write("run.ps1", format!("{text}\n"));
    test.keygate(&["scan", "run.ps1"]).status(1);
    // ...so an error quoting it must not print it either.
    let run = test.keygate(&["--format", &text, "scan", "."]);
    run.status(2).stderr_has("unknown format");
    let after = run.stderr.clone();
    test.write("stderr.txt", &after);
    test.keygate(&["scan", "stderr.txt"]).status(0);
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
        for _ in chunk.len()..3 {
            out.push('=');
        }
    }
    out
}
