//! `keygate scan`: fixtures, output formats, exit codes, config errors.

use std::path::{Path, PathBuf};

use crate::util::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every line of `one_per_line.txt`, scanned on its own, is exactly one finding, on line 1.
#[test]
fn each_line_of_one_per_line_is_exactly_one_finding() {
    let text = std::fs::read_to_string(fixtures().join("one_per_line.txt")).unwrap();
    let test = Test::dir();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let run = test.keygate_stdin(&["scan", "--format", "json", "-"], line.as_bytes());
        run.status(1);
        let findings = run.findings();
        assert_eq!(findings.len(), 1, "{line}\n{}", run.stdout);
        assert_eq!(findings[0]["line"], 1);
    }
}

/// Every line of `none.txt`, scanned on its own, gives nothing.
#[test]
fn no_line_of_none_is_a_finding() {
    let text = std::fs::read_to_string(fixtures().join("none.txt")).unwrap();
    let test = Test::dir();
    for line in text.lines() {
        let run = test.keygate_stdin(&["scan", "--format", "json", "-"], line.as_bytes());
        assert_eq!(run.findings().len(), 0, "{line}\n{}", run.stdout);
        run.status(0);
    }
}

/// Every file in `one_credential_per_file/` holds one credential (usually an
/// ID and its secret, reported as one pair) in a format people commit.
#[test]
fn each_real_world_format_gives_exactly_one_finding() {
    let dir = fixtures().join("one_credential_per_file");
    let test = Test::dir();
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let run = test.keygate(&["scan", "--format", "json", path.to_str().unwrap()]);
        run.status(1);
        let findings = run.findings();
        assert_eq!(findings.len(), 1, "{}\n{}", path.display(), run.stdout);
        count += 1;
    }
    assert!(count >= 19, "fixtures missing: {count}");
}

#[test]
fn pair_is_one_critical_finding_with_both_locations() {
    let test = Test::dir();
    test.write(
        "app.env",
        format!(
            "# app\nAWS_ACCESS_KEY_ID={}\r\nAWS_SECRET_ACCESS_KEY={}\r\n",
            key_id(),
            secret()
        ),
    );
    let run = test.keygate(&["scan", "--format", "json", "app.env"]);
    run.status(1).never_shows(&key_id()).never_shows(&secret());
    let findings = run.findings();
    assert_eq!(findings.len(), 1, "{}", run.stdout);
    let f = &findings[0];
    assert_eq!(f["rule_id"], "aws-credential-pair");
    assert_eq!(f["severity"], "critical");
    assert_eq!(
        (f["line"].as_u64(), f["column"].as_u64()),
        (Some(2), Some(19))
    );
    assert_eq!(
        (f["secret_line"].as_u64(), f["secret_column"].as_u64()),
        (Some(3), Some(23))
    );
    assert_eq!(f["path"], "app.env");
}

#[test]
fn text_report_says_what_where_why_and_what_to_do_without_the_secret() {
    let test = Test::dir();
    test.write(
        "deploy/settings.py",
        format!("KEY = '{}'\nSECRET = '{}'\n", key_id(), secret()),
    );
    let run = test.keygate(&["scan", "deploy"]);
    run.status(1)
        .stdout_has("deploy/settings.py:1:8")
        .stdout_has("aws-credential-pair")
        .stdout_has("AKIA…ZAM2")
        .stdout_has("long-term access key ID (AKIA)")
        .stdout_has("update-access-key")
        .stdout_has("IAM roles")
        .never_shows(&key_id())
        .never_shows(&secret());
}

#[test]
fn show_secrets_prints_full_values_only_when_asked() {
    let test = Test::dir();
    test.write("a.txt", key_id());
    test.keygate(&["scan", "--show-secrets", "a.txt"])
        .status(1)
        .stdout_has(&key_id());
    test.keygate(&["scan", "--format", "json", "--show-secrets", "a.txt"])
        .status(1)
        .stdout_has(&key_id());
}

#[test]
fn fingerprint_is_stable_when_other_lines_move_and_hides_the_value() {
    let test = Test::dir();
    test.write("a.env", format!("AWS_ACCESS_KEY_ID={}\n", key_id()));
    let before = test
        .keygate(&["scan", "--format", "json", "a.env"])
        .findings();
    test.write(
        "a.env",
        format!("# moved\n\n\nAWS_ACCESS_KEY_ID={}\n", key_id()),
    );
    let after = test
        .keygate(&["scan", "--format", "json", "a.env"])
        .findings();
    assert_eq!(before[0]["fingerprint"], after[0]["fingerprint"]);
    assert_ne!(before[0]["line"], after[0]["line"]);
    let fp = before[0]["fingerprint"].as_str().unwrap();
    assert!(
        !fp.contains(&key_id()) && !fp.contains(&key_id()[4..]),
        "{fp}"
    );
}

#[test]
fn clean_tree_exits_zero_and_skips_dot_git() {
    let test = Test::repo();
    test.write("src/main.rs", "fn main() { println!(\"hello\"); }\n");
    test.write(
        ".env.example",
        "AWS_ACCESS_KEY_ID=\nAWS_SECRET_ACCESS_KEY=\n",
    );
    // A key inside .git (say, in an old object or a hook) is not the tree's content.
    test.write(".git/keygate-test", key_id());
    test.keygate(&["scan", "."]).status(0);
}

#[test]
fn dotfiles_are_scanned() {
    let test = Test::dir();
    test.write("project/.env", format!("AWS_ACCESS_KEY_ID={}\n", key_id()));
    test.keygate(&["scan", "project"])
        .status(1)
        .stdout_has(".env:1:19");
}

#[test]
fn stdin_is_scanned_with_dash() {
    let test = Test::dir();
    test.keygate_stdin(&["scan", "-"], format!("x = {}\n", key_id()).as_bytes())
        .status(1)
        .stdout_has("<stdin>:1:5");
}

#[test]
fn missing_file_is_reported_scanning_goes_on_and_the_run_exits_2() {
    let test = Test::dir();
    test.write("found.txt", key_id());
    let run = test.keygate(&["scan", "nope.txt", "found.txt"]);
    run.status(2)
        .stderr_has("nope.txt")
        .stderr_has("incomplete")
        .stdout_has("found.txt:1:1");
}

#[cfg(unix)]
#[test]
fn unreadable_file_is_never_clean() {
    use std::os::unix::fs::PermissionsExt;
    let test = Test::dir();
    test.write("secret.txt", "nothing");
    let path = test.path().join("secret.txt");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&path).is_ok() {
        return; // running as root: permissions do not stop reads
    }
    test.keygate(&["scan", "."])
        .status(2)
        .stderr_has("secret.txt");
}

#[test]
fn invalid_utf8_and_binary_content_is_scanned_as_bytes() {
    let test = Test::dir();
    let mut bytes = vec![0xff, 0xfe, 0x00, 0x80, b'\n'];
    bytes.extend_from_slice(format!("\u{e9}id={}\n", key_id()).as_bytes());
    bytes.extend((0..=255u8).cycle().take(100_000));
    test.write("blob.bin", &bytes);
    test.keygate(&["scan", "blob.bin"])
        .status(1)
        .stdout_has("blob.bin:2:");
}

#[test]
fn random_binary_data_makes_no_noise() {
    let test = Test::dir();
    // xorshift noise, 4 MiB: no literal survives the prefilter plus confirmation.
    let mut state: u64 = 0x9E3779B97F4A7C15;
    let bytes: Vec<u8> = (0..4 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    test.write("noise.bin", &bytes);
    test.keygate(&["scan", "noise.bin"]).status(0);
}

#[test]
fn documentation_examples_never_block() {
    let test = Test::dir();
    test.write(
        "README.md",
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
    );
    let run = test.keygate(&["scan", "--format", "json", "README.md"]);
    run.status(0);
    assert_eq!(run.json()["allowed"], 1);
}

#[test]
fn inline_marker_allows_its_line_only() {
    let test = Test::dir();
    test.write(
        "a.txt",
        format!(
            "id = {} # keygate:allow\n\n\n\n\n\nother = {}\n",
            key_id(),
            key_id2()
        ),
    );
    let run = test.keygate(&["scan", "--format", "json", "a.txt"]);
    run.status(1);
    let findings = run.findings();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0]["line"], 7);
}

#[test]
fn allowlist_paths_regexes_and_fingerprints() {
    let test = Test::dir();
    test.write("tests/fixtures/keys.txt", key_id());
    test.write("docs/a.md", format!("{}TEST\n", &key_id()[..16]));
    test.write("src/b.txt", key_id2());
    let fingerprint = test
        .keygate(&["scan", "--format", "json", "src/b.txt"])
        .findings()[0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    test.write(
        ".keygate.toml",
        format!(
            "[allowlist]\npaths = [\"tests/fixtures/**\"]\nregexes = [\"^AKIA[A-Z2-7]{{12}}TEST$\"]\nfingerprints = [\"{fingerprint}\"]\n"
        ),
    );
    test.keygate(&["scan", "tests", "docs", "src"]).status(0);
    // Without the config everything is found.
    test.keygate(&["scan", "--config", "/dev/null", "tests", "docs", "src"])
        .status(1);
}

#[test]
fn broken_toml_names_file_line_and_column_and_scans_nothing() {
    let test = Test::dir();
    test.write("a.txt", key_id());
    test.write(".keygate.toml", "[allowlist]\npaths = [\"a\",\n  oops\n]\n");
    test.keygate(&["scan", "a.txt"])
        .status(2)
        .stderr_has(".keygate.toml:3:");
}

#[test]
fn unknown_key_in_config_is_an_error_naming_it() {
    let test = Test::dir();
    test.write(".keygate.toml", "[allowlist]\npath = [\"tests/**\"]\n");
    test.write("a.txt", "clean");
    test.keygate(&["scan", "a.txt"])
        .status(2)
        .stderr_has("unknown field `path`");
}

#[test]
fn bad_regex_and_bad_glob_name_the_entry() {
    let test = Test::dir();
    test.write("a.txt", "clean");
    test.write(
        ".keygate.toml",
        "[allowlist]\nregexes = [\"ok\", \"(unclosed\"]\n",
    );
    test.keygate(&["scan", "a.txt"])
        .status(2)
        .stderr_has("regexes[1]");
    test.write(".keygate.toml", "[allowlist]\npaths = [\"a/{b\"]\n");
    test.keygate(&["scan", "a.txt"])
        .status(2)
        .stderr_has("paths[0]");
}

#[test]
fn usage_errors_exit_2() {
    let test = Test::dir();
    test.keygate(&["scan"]).status(2).stderr_has("no PATH");
    test.keygate(&["--format", "xml", "scan", "."])
        .status(2)
        .stderr_has("unknown format");
    test.keygate(&["frobnicate"])
        .status(2)
        .stderr_has("unknown command");
    test.keygate(&[]).status(2);
    test.keygate(&["--help"]).status(0).stdout_has("Exit codes");
    test.keygate(&["--version"])
        .status(0)
        .stdout_has("keygate ");
}
