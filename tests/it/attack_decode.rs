//! Issue 12, decoding and big inputs: a decode budget that runs out, keys
//! inside wrapped base64, UTF-16 line numbers, and bounded memory and time
//! on huge blobs. Each test is a hole that once let a key in with exit 0.

use std::time::{Duration, Instant};

use crate::util::*;

/// `base64 -w76`, each line indented by `indent`.
fn wrapped(text: &str, indent: &str) -> String {
    let encoded = base64(text.as_bytes());
    let mut out = String::new();
    for line in encoded.as_bytes().chunks(76) {
        out.push_str(indent);
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out
}

fn utf16le(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    out
}

fn credentials() -> String {
    format!(
        "aws_access_key_id = {}\naws_secret_access_key = {}\n",
        key_id(),
        secret()
    )
}

/// A push that must not land: refused, the server's branch unchanged.
#[track_caller]
fn assert_refused(server: &Push, before: Option<String>) -> Run {
    let run = server.push(&["main"]);
    assert_ne!(run.status, Some(0), "push accepted: {run:?}");
    assert_eq!(
        server.server_ref("main"),
        before,
        "the server took the push"
    );
    run.never_shows(&key_id()).never_shows(&secret());
    run
}

// ------------------------------------------------------ 1: decode budget

/// Base64-looking filler: each word decodes to text that mentions `AKIA`,
/// a view of its own, which once spent the whole decode budget in a few KB.
fn filler(words: usize) -> String {
    let word = base64(b"AKIAAAAAAAAA");
    let mut out = String::new();
    for i in 0..words {
        out.push_str(&word);
        out.push(if i % 8 == 7 { '\n' } else { ' ' });
    }
    out
}

/// A file whose encoded key comes after the filler.
fn key_after_filler() -> String {
    format!(
        "{}\nsettings: {}\n",
        filler(2_000),
        base64(credentials().as_bytes())
    )
}

#[test]
fn issue12_1_encoded_key_after_base64_filler_is_found_by_commit_push_history_and_scan() {
    // Pre-commit, through the installed hook.
    let test = Test::repo();
    test.install_pre_commit_hook();
    test.stage("README.md", "# app\n");
    test.commit("init").status(0);
    test.stage("deploy/values.yaml", key_after_filler());
    let run = test.commit("values");
    assert_eq!(run.status, Some(1), "{run:?}");
    run.never_shows(&key_id()).never_shows(&secret());
    assert_eq!(test.commit_count(), 1);

    // `scan` of the same file.
    test.keygate(&["scan", "deploy/values.yaml"])
        .status(1)
        .stdout_has("deploy/values.yaml")
        .never_shows(&secret());

    // pre-receive, through a real push.
    let server = Push::new();
    server.commit("README.md", "# app\n", "init");
    server.push(&["main"]).status(0);
    let before = server.server_ref("main");
    server.commit("deploy/values.yaml", key_after_filler(), "values");
    assert_refused(&server, before).output_has("deploy/values.yaml");

    // `history` of the client that holds the commit.
    server
        .client
        .keygate(&["history"])
        .status(1)
        .stdout_has("deploy/values.yaml")
        .never_shows(&secret());
}

#[test]
fn issue12_1_decoding_that_cannot_finish_is_an_incomplete_scan_naming_the_file() {
    // Base64 JSON in base64 JSON in … five times (a JWT in a JWT …):
    // deeper than keygate decodes. It must not pass as clean.
    let mut text = credentials();
    for _ in 0..5 {
        text = format!("{{\"v\":\"{}\"}}", base64(text.as_bytes()));
    }
    let test = Test::repo();
    test.write("nested.yaml", &text);
    test.keygate(&["scan", "nested.yaml"])
        .status(2)
        .stderr_has("nested.yaml")
        .stderr_has("not fully decoded")
        .never_shows(&secret());

    // The commit is refused, as not fully checked.
    test.install_pre_commit_hook();
    test.stage("nested.yaml", &text);
    let run = test.commit("nested");
    assert_ne!(run.status, Some(0), "{run:?}");
    run.output_has("not fully decoded")
        .output_has("exit 2")
        .never_shows(&secret());
    assert_eq!(test.commit_count(), 0);

    // So is the push, and `history` does not call it clean.
    let server = Push::new();
    server.commit("README.md", "# app\n", "init");
    server.push(&["main"]).status(0);
    let before = server.server_ref("main");
    server.commit("nested.yaml", &text, "nested");
    assert_refused(&server, before).output_has("not fully decoded");
    server
        .client
        .keygate(&["history"])
        .status(2)
        .stderr_has("nested.yaml");
}

// ------------------------------------------------- 2: wrapped base64 block

fn app_config(with_key: bool) -> String {
    let mut lines: Vec<String> = (0..40)
        .map(|i| format!("setting_{i:02} = value number {i} of the service"))
        .collect();
    if with_key {
        lines.insert(20, format!("aws_secret_access_key = {}", secret()));
        lines.insert(20, format!("aws_access_key_id = {}", key_id()));
    }
    lines.join("\n") + "\n"
}

fn k8s_secret(with_key: bool) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\ntype: Opaque\ndata:\n  app.ini: >-\n{}",
        wrapped(&app_config(with_key), "    ")
    )
}

#[test]
fn issue12_2_key_inserted_mid_wrapped_base64_block_is_found_by_commit_and_push() {
    // The first encoded line is the same before and after: only lines in
    // the middle of the block change.
    let before = k8s_secret(false);
    let after = k8s_secret(true);
    let first_changed = before
        .lines()
        .zip(after.lines())
        .position(|(a, b)| a != b)
        .unwrap();
    assert!(first_changed > 10, "{first_changed}");

    let test = Test::repo();
    test.install_pre_commit_hook();
    test.stage("k8s/secret.yaml", &before);
    test.commit("secret").status(0);
    test.stage("k8s/secret.yaml", &after);
    let run = test.commit("add the key");
    assert_eq!(run.status, Some(1), "{run:?}");
    run.never_shows(&key_id()).never_shows(&secret());
    assert_eq!(test.commit_count(), 1);
    // Placed on a line that really changed, where the key's text is.
    let json = test.keygate(&["--staged", "--format", "json"]);
    json.status(1);
    let findings = json.findings();
    assert_eq!(findings.len(), 1, "{findings:?}");
    let line = findings[0]["line"].as_u64().unwrap() as usize;
    assert!(
        line > first_changed,
        "line {line}, first change {first_changed}"
    );

    let server = Push::new();
    server.commit("k8s/secret.yaml", &before, "secret");
    server.push(&["main"]).status(0);
    let main = server.server_ref("main");
    server.commit("k8s/secret.yaml", &after, "add the key");
    assert_refused(&server, main).output_has("k8s/secret.yaml");
    server.client.keygate(&["history"]).status(1);
}

// --------------------------------------------------- 3: UTF-16 line numbers

fn cjk_notes(with_key: bool) -> String {
    // 上 is U+4E0A and 《 U+300A: both hold a 0x0A byte in UTF-16.
    let mut lines: Vec<String> = (0..12)
        .map(|i| format!("上海《第{i}章》 上上上 notes line {i}"))
        .collect();
    if with_key {
        lines.insert(9, format!("AccessKeyId: {}", key_id()));
        lines.insert(10, format!("SecretAccessKey: {}", secret()));
    }
    lines.join("\r\n") + "\r\n"
}

#[test]
fn issue12_3_utf16_key_after_cjk_text_is_found_on_its_added_line() {
    let before = utf16le(&cjk_notes(false));
    let after = utf16le(&cjk_notes(true));

    let test = Test::repo();
    test.install_pre_commit_hook();
    test.stage("notes.txt", &before);
    test.commit("notes").status(0);
    test.stage("notes.txt", &after);
    let run = test.commit("add the key");
    assert_eq!(run.status, Some(1), "{run:?}");
    run.never_shows(&key_id()).never_shows(&secret());
    assert_eq!(test.commit_count(), 1);

    // The line reported is the one git's diff counts: `\n` bytes before it.
    let json = test.keygate(&["--staged", "--format", "json"]);
    json.status(1);
    let findings = json.findings();
    assert_eq!(findings.len(), 1, "{findings:?}");
    let key_at = after
        .windows(4)
        .position(|w| w == b"A\0K\0")
        .expect("the key in UTF-16");
    let byte_line = 1 + after[..key_at].iter().filter(|&&b| b == b'\n').count();
    assert_eq!(findings[0]["line"].as_u64(), Some(byte_line as u64));

    let server = Push::new();
    server.commit("notes.txt", &before, "notes");
    server.push(&["main"]).status(0);
    let main = server.server_ref("main");
    server.commit("notes.txt", &after, "add the key");
    assert_refused(&server, main).output_has("notes.txt");
    let history = server.client.keygate(&["history", "--format", "json"]);
    history.status(1);
    assert_eq!(
        history.findings()[0]["line"].as_u64(),
        Some(byte_line as u64)
    );
}

// ----------------------------------------------- 10: big blobs, bounded

/// About `mib` MiB of one-line JSON full of escaped slashes, the key pair
/// (escaped too) at the end: past what one decode budget once held.
fn big_json(mib: usize) -> Vec<u8> {
    let mut out = b"{\"assets\":[".to_vec();
    let item = b"\"https:\\/\\/cdn.example.com\\/static\\/js\\/chunk.0123456789abcdef.js\",";
    while out.len() < mib << 20 {
        out.extend_from_slice(item);
    }
    // Both halves escaped, so that neither is found as it is.
    let escaped = format!("\\u005A{}", &secret()[1..]);
    assert!(secret().starts_with('Z'));
    out.extend_from_slice(
        format!(
            "\"x\"],\n\"aws_access_key_id\":\"\\u0041{}\",\n\"aws_secret_access_key\":\"{escaped}\"}}\n",
            &key_id()[1..]
        )
        .as_bytes(),
    );
    out
}

#[test]
fn issue12_10_key_past_the_old_decode_cap_in_a_big_blob_is_found() {
    let content = big_json(20);
    let test = Test::dir();
    test.write("bundle.json", &content);
    let started = Instant::now();
    test.keygate(&["scan", "bundle.json"])
        .status(1)
        .stdout_has("bundle.json")
        .never_shows(&key_id());
    assert!(started.elapsed() < Duration::from_secs(60));

    // Through pre-receive, with a budget it can meet: found (or out of
    // time: refused either way, never accepted).
    let server = Push::new();
    server.server_config("[server]\ntime_budget_seconds = 60\n");
    server.commit("README.md", "# app\n", "init");
    server.push(&["main"]).status(0);
    let main = server.server_ref("main");
    server.commit("static/bundle.json", &content, "bundle");
    assert_refused(&server, main).output_has("static/bundle.json");
}

#[test]
fn issue12_10_the_time_budget_stops_inside_one_long_blob() {
    // One blob that takes much longer than the budget: the hook must stop
    // inside it and refuse, not scan it to the end and then decide.
    let mut content = Vec::new();
    while content.len() < 24 << 20 {
        content.extend_from_slice(b"secret=\\/%2F QUtJQUFBQUFBQUFB\n");
    }
    let server = Push::new();
    server.server_config("[server]\ntime_budget_seconds = 0.2\n");
    server.commit("README.md", "# app\n", "init");
    server.push(&["main"]).status(0);
    let main = server.server_ref("main");
    server.commit("big.txt", &content, "big");
    let started = Instant::now();
    let run = server.push(&["main"]);
    let took = started.elapsed();
    assert_ne!(run.status, Some(0), "{run:?}");
    assert_eq!(server.server_ref("main"), main);
    run.output_has("time budget");
    assert!(took < Duration::from_secs(30), "took {took:?}");
}
