//! Peer conformance: the AWS test samples that other secret scanners ship
//! (`tests/peers/`; origin, licences and file format in its README.md), each
//! run through the real binary on standard input
//! (`keygate scan --format json -`). A positive must give at least one
//! finding, a negative none, except the deliberate disagreements listed in
//! `DISAGREEMENTS` and `BEDROCK_PREFIXES`, each with its reason.
//!
//! The test fails if a sample that is not listed disagrees, or if a listed
//! sample no longer disagrees (so the list stays honest: a fix shows up as a
//! failure that asks for the entry to be removed).
//!
//! `cargo test --test it peers -- --nocapture` prints the conformance table
//! (Markdown, ready to quote) and the disagreements grouped by reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::util::Test;

// Reasons shared by several entries.

/// The AWS documentation's example secret key.
const DOCS_EXAMPLE: &str = "the AWS documentation example secret \
     (wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY): allowed by design";
const ZZZZ: &str = "placeholder (ZZZZ…), not a credential";
const AAAA: &str = "placeholder (aaaa…), not a credential";
const S3_URL: &str = "S3 bucket URL: not a credential (keygate is an AWS credential gate)";
const ARN: &str = "ARN: names a resource, not a credential; an account ID in it doesn't block";
const PLACEHOLDER_ID_AND_SHA1: &str = "placeholder key ID (sequential A3T0ABCDEFGH…, which also \
     holds a 0) and a 40-char hex string, which is a SHA-1, not a secret";
const BEDROCK_PREFIX_ONLY: &str = "truncated short-lived Bedrock key: only the fixed \
     prefix (bedrock-api-key- + base64 of \"bedrock.amazonaws.com\"), none of the presigned \
     request that follows it in a real token; keygate's short-lived Bedrock rule wants that \
     body (src/rules.rs lists this bare prefix as a negative)";

/// Deliberate disagreements with the peers' samples:
/// (file, sample, reason). `sample` is the exact sample text, or, when it ends
/// with `…`, a prefix of it; either way it must match exactly one sample of
/// that file. Each entry must still disagree, or the test fails.
const DISAGREEMENTS: &[(&str, &str, &str)] = &[
    // --- bedrock_positive.txt (and BEDROCK_PREFIXES, below).
    (
        "bedrock_positive.txt",
        "ABSKQmVkcm9ja0FQSUtleS1EXAMPLEEXAMPLE…",
        "placeholder (holds EXAMPLE), not a credential; Bedrock detection should still \
         ignore it, as it ignores the near-identical EXAMPLE strings of \
         bedrock_negative.txt",
    ),
    // --- detect-secrets_positive.txt
    ("detect-secrets_positive.txt", "AKIAZZZZZZZZZZZZZZZZ", ZZZZ),
    ("detect-secrets_positive.txt", "A3T0ZZZZZZZZZZZZZZZZ", ZZZZ),
    ("detect-secrets_positive.txt", "ABIAZZZZZZZZZZZZZZZZ", ZZZZ),
    ("detect-secrets_positive.txt", "ACCAZZZZZZZZZZZZZZZZ", ZZZZ),
    ("detect-secrets_positive.txt", "ASIAZZZZZZZZZZZZZZZZ", ZZZZ),
    (
        "detect-secrets_positive.txt",
        r#"aws_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY""#,
        DOCS_EXAMPLE,
    ),
    // --- noseyparker_aws_misc_positive.txt: mostly not credentials.
    (
        "noseyparker_aws_misc_positive.txt",
        "example-bucket.s3.amazonaws.com",
        S3_URL,
    ),
    (
        "noseyparker_aws_misc_positive.txt",
        "http://bucket.s3-us-east-2.amazonaws.com",
        S3_URL,
    ),
    (
        "noseyparker_aws_misc_positive.txt",
        "http%2F%2Fsome-bucket.s3.amazonaws.com",
        S3_URL,
    ),
    (
        "noseyparker_aws_misc_positive.txt",
        "s3.amazonaws.com/example-bucket",
        S3_URL,
    ),
    (
        "noseyparker_aws_misc_positive.txt",
        "http://s3-us-east-2.amazonaws.com/example-bucket",
        S3_URL,
    ),
    (
        "noseyparker_aws_misc_positive.txt",
        "arn:aws:s3:::my_corporate_bucket/*",
        ARN,
    ),
    (
        "noseyparker_aws_misc_positive.txt",
        "arn:aws:s3:::my_corporate_bucket/Development/*",
        ARN,
    ),
    (
        "noseyparker_aws_misc_positive.txt",
        "arn:aws:iam::123456789012:user/Development/product_1234/*",
        ARN,
    ),
    (
        "noseyparker_aws_misc_positive.txt",
        r#"alerts: "arn:aws:sns:us-west-2:123456789023:CloudwatchMetricAlarm""#,
        ARN,
    ),
    (
        "noseyparker_aws_misc_positive.txt",
        r#""Principal":{"Federated":["arn:aws:iam:::oidc-provider/…"#,
        ARN,
    ),
    (
        "noseyparker_aws_misc_positive.txt",
        r#""KeyId": "arn:aws:kms:us-west-2:111122223333:key/…"#,
        ARN,
    ),
    (
        "noseyparker_aws_misc_positive.txt",
        r#""aws-kms://arn:aws:kms:us-east-1:003084325827:key/…"#,
        ARN,
    ),
    (
        "noseyparker_aws_misc_positive.txt",
        r#"return f"arn:aws:s3:::{bucket_name}""#,
        ARN,
    ),
    (
        "noseyparker_aws_misc_positive.txt",
        r#"return f"arn:aws:s3:::${bucket_name}""#,
        ARN,
    ),
    (
        "noseyparker_aws_misc_positive.txt",
        "  aws_appsync_apiKey: 'da2-nmaqhbb63zabjactesiydcfuvu',",
        "AppSync API key (da2-…): an API-level key, not an AWS (IAM) credential; out of \
         scope for keygate's AWS credential gate",
    ),
    (
        "noseyparker_aws_misc_positive.txt",
        "KeyMetadata: {\n…",
        "KMS key metadata (account ID, ARN, key ID): no credential; an account ID alone \
         doesn't block",
    ),
    (
        "noseyparker_aws_misc_positive.txt",
        "4. login into ecr\n…",
        "account ID in an ECR login snippet: an account ID alone doesn't block",
    ),
    // --- noseyparker_positive.txt
    (
        "noseyparker_positive.txt",
        "A3T0ABCDEFGHIJKLMNOP",
        "placeholder (sequential ABCDEFGH…; also holds a 0), not a credential",
    ),
    (
        "noseyparker_positive.txt",
        "AKIADEADBEEFDEADBEEF",
        "placeholder (DEADBEEF hex words), not a credential",
    ),
    (
        "noseyparker_positive.txt",
        "aws_secret_access_key:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        AAAA,
    ),
    (
        "noseyparker_positive.txt",
        "aws_secret_access_key => aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        AAAA,
    ),
    (
        "noseyparker_positive.txt",
        "export AWS_API_KEY='A3T0ABCDEFGHIJKLMNOP''…",
        PLACEHOLDER_ID_AND_SHA1,
    ),
    (
        "noseyparker_positive.txt",
        "export AWS_API_KEY='A3T0ABCDEFGHIJKLMNOP'\n…",
        PLACEHOLDER_ID_AND_SHA1,
    ),
    // --- ripsecrets_positive.txt
    (
        "ripsecrets_positive.txt",
        "HTTP/1.1 200 OK\n…",
        "not a real key ID: AKIAN95B87AWHT6U0699 holds 9, 8 and 0, and real IDs are a \
         4-letter prefix + 16 base32 characters (A-Z, 2-7)",
    ),
    // --- secretlint_positive.txt
    (
        "secretlint_positive.txt",
        r#""AWS_ACCOUNT_ID"=>0000-0000-0000"#,
        "account ID (a zero placeholder at that): an account ID alone doesn't block",
    ),
];

/// `bedrock_positive.txt` samples that disagree for one reason,
/// `BEDROCK_PREFIX_ONLY`. Keys as in `DISAGREEMENTS`.
const BEDROCK_PREFIXES: &[&str] = &[
    r#"AmazonBedrockAPIKeyShortLivedToken="bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t""#,
    r#"AmazonBedrockAPIKeyShortLivedToken = "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t""#,
    r#"AmazonBedrockAPIKeyShortLivedToken=bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t"#,
    r#"AmazonBedrockAPIKeyShortLivedToken = bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t"#,
    r#"{"config.ini": "AMAZONBEDROCKAPIKEYSHORTLIVED_TOKEN=bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t\nBACKUP_ENABLED=true"}"#,
    r#"AmazonBedrockAPIKeyShortLived_token: bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t"#,
    r#"AmazonBedrockAPIKeyShortLived_token: 'bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t'"#,
    r#"AmazonBedrockAPIKeyShortLived_token: "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t""#,
    r#"string AmazonBedrockAPIKeyShortLivedToken = "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t";"#,
    r#"var AmazonBedrockAPIKeyShortLivedToken string = "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t""#,
    r#"AmazonBedrockAPIKeyShortLivedToken := "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t""#,
    r#"AmazonBedrockAPIKeyShortLivedToken := `bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t`"#,
    r#"String AmazonBedrockAPIKeyShortLivedToken = "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t";"#,
    r#"var AmazonBedrockAPIKeyShortLivedToken = "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t""#,
    r#"$AmazonBedrockAPIKeyShortLivedToken .= "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t""#,
    r#"AmazonBedrockAPIKeyShortLivedToken = 'bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t'"#,
    r#"System.setProperty("AMAZONBEDROCKAPIKEYSHORTLIVED_TOKEN", "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t")"#,
    r#"  "AmazonBedrockAPIKeyShortLivedToken" => "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t""#,
    r#"AmazonBedrockAPIKeyShortLived_TOKEN = "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t""#,
    r#"AmazonBedrockAPIKeyShortLived_TOKEN := "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t""#,
    r#"AmazonBedrockAPIKeyShortLived_TOKEN ::= "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t""#,
    r#"AmazonBedrockAPIKeyShortLived_TOKEN :::= "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t""#,
    r#"AmazonBedrockAPIKeyShortLived_TOKEN ?= "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t""#,
    "{\n    \"AmazonBedrockAPIKeyShortLived_token\"…",
    "<AmazonBedrockAPIKeyShortLivedToken>…",
];

/// Every listed disagreement as (file, key, reason).
fn disagreements() -> Vec<(&'static str, &'static str, &'static str)> {
    let bedrock = BEDROCK_PREFIXES
        .iter()
        .map(|key| ("bedrock_positive.txt", *key, BEDROCK_PREFIX_ONLY));
    DISAGREEMENTS.iter().copied().chain(bedrock).collect()
}

/// One sample of a peer file.
struct Sample {
    file: String,
    /// Line of the file where the sample starts (1-based).
    line: usize,
    text: String,
    positive: bool,
}

/// What keygate said about one sample.
struct Outcome {
    findings: usize,
    rules: Vec<String>,
    /// Set when the run itself was wrong (bad exit code, no JSON, ...).
    error: Option<String>,
}

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

/// Splits a peer file into samples: before the first line that is exactly
/// `---`, one sample per non-empty line; after it, multi-line samples
/// separated by lines that are exactly `---`. Returns (start line, text).
fn parse(content: &str) -> Vec<(usize, String)> {
    let mut lines: Vec<&str> = content.split('\n').collect();
    if lines.last() == Some(&"") {
        lines.pop();
    }
    let mut samples = Vec::new();
    let mut i = 0;
    while i < lines.len() && lines[i] != "---" {
        if !lines[i].is_empty() {
            samples.push((i + 1, lines[i].to_string()));
        }
        i += 1;
    }
    if i < lines.len() {
        let mut start = i + 2;
        let mut current: Vec<&str> = Vec::new();
        for (j, line) in lines.iter().enumerate().skip(i + 1) {
            if *line == "---" {
                samples.push((start, current.join("\n")));
                current.clear();
                start = j + 2;
            } else {
                current.push(line);
            }
        }
        samples.push((start, current.join("\n")));
    }
    samples.retain(|(_, text)| !text.is_empty());
    samples
}

/// The sample files (`*.txt` but the licence text), sorted by name.
fn sample_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(peers_dir())
        .expect("read tests/peers")
        .map(|entry| {
            entry
                .expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".txt") && !name.starts_with("LICENSE"))
        .collect();
    names.sort();
    names
}

fn load_samples() -> (Vec<String>, Vec<Sample>) {
    let files = sample_files();
    let mut samples = Vec::new();
    for file in &files {
        let positive = file.contains("_positive");
        assert!(
            positive != file.contains("_negative"),
            "tests/peers/{file}: name must say _positive or _negative"
        );
        let bytes = std::fs::read(peers_dir().join(file)).expect("read sample file");
        let content = String::from_utf8(bytes)
            .unwrap_or_else(|e| panic!("tests/peers/{file} is not UTF-8: {e}"));
        for (line, text) in parse(&content) {
            samples.push(Sample {
                file: file.clone(),
                line,
                text,
                positive,
            });
        }
    }
    (files, samples)
}

/// Runs keygate on one sample (followed by a newline) on standard input.
fn run_one(test: &Test, text: &str) -> Outcome {
    let mut input = text.as_bytes().to_vec();
    input.push(b'\n');
    let run = test.keygate_stdin(&["scan", "--format", "json", "-"], &input);
    let fail = |why: String| Outcome {
        findings: 0,
        rules: Vec::new(),
        error: Some(format!("{why}; stderr: {}", run.stderr.trim())),
    };
    let report: serde_json::Value = match serde_json::from_str(&run.stdout) {
        Ok(report) => report,
        Err(e) => return fail(format!("stdout is not JSON ({e}), exit {:?}", run.status)),
    };
    let Some(findings) = report["findings"].as_array() else {
        return fail("report has no findings array".to_string());
    };
    let expected_status = if findings.is_empty() { 0 } else { 1 };
    if run.status != Some(expected_status) {
        return fail(format!(
            "exit {:?} with {} finding(s)",
            run.status,
            findings.len()
        ));
    }
    if report["complete"] != serde_json::Value::Bool(true) {
        return fail("report says the scan was not complete".to_string());
    }
    let mut rules: Vec<String> = findings
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap_or("?").to_string())
        .collect();
    rules.dedup();
    Outcome {
        findings: findings.len(),
        rules,
        error: None,
    }
}

/// Runs every sample, in parallel; outcomes in sample order.
fn run_all(samples: &[Sample]) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> =
        Mutex::new((0..samples.len()).map(|_| None).collect());
    let workers = std::thread::available_parallelism()
        .map_or(4, |n| n.get())
        .min(16);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let test = Test::dir();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(sample) = samples.get(i) else { break };
                    let outcome = run_one(&test, &sample.text);
                    results.lock().unwrap()[i] = Some(outcome);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|o| o.expect("every sample ran"))
        .collect()
}

/// A short, one-line rendering of a sample for messages and the table:
/// newlines and other control characters escaped, cut after `max` characters.
fn show(text: &str, max: usize) -> String {
    let mut escaped = String::new();
    for c in text.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            c if c.is_control() => escaped.extend(c.escape_default()),
            c => escaped.push(c),
        }
    }
    if escaped.chars().count() <= max {
        format!("\"{escaped}\"")
    } else {
        let cut: String = escaped.chars().take(max).collect();
        format!("\"{cut}…\"")
    }
}

/// Does a disagreement key select this sample?
fn key_matches(key: &str, text: &str) -> bool {
    match key.strip_suffix('…') {
        Some(prefix) => text.starts_with(prefix),
        None => text == key,
    }
}

/// The shortest key (at least 24 characters, or the whole sample) that
/// selects only this sample in its file: for a ready-to-paste entry.
fn suggest_key(sample: &Sample, samples: &[Sample]) -> String {
    let chars: Vec<char> = sample.text.chars().collect();
    let mut len = 24.min(chars.len());
    loop {
        let prefix: String = chars[..len].iter().collect();
        if len == chars.len() {
            return prefix;
        }
        let clashes = samples
            .iter()
            .filter(|s| s.file == sample.file && s.text.starts_with(&prefix))
            .count();
        if clashes == 1 {
            return format!("{prefix}…");
        }
        len += 1;
    }
}

#[derive(Default)]
struct Row {
    pos_found: usize,
    pos_total: usize,
    neg_ignored: usize,
    neg_total: usize,
    disagreements: usize,
}

#[test]
fn peer_samples_conform() {
    let (files, samples) = load_samples();
    assert!(!samples.is_empty(), "no samples under tests/peers");

    let mut problems: Vec<String> = Vec::new();

    // Every sample file is attributed in the README.
    let readme =
        std::fs::read_to_string(peers_dir().join("README.md")).expect("tests/peers/README.md");
    for file in &files {
        if !readme.contains(file.as_str()) {
            problems.push(format!(
                "tests/peers/{file} is not attributed in tests/peers/README.md"
            ));
        }
    }

    // Resolve each listed disagreement to exactly one sample.
    let mut listed: Vec<Option<&str>> = vec![None; samples.len()];
    for (file, key, reason) in disagreements() {
        let hits: Vec<usize> = (0..samples.len())
            .filter(|&i| samples[i].file == file && key_matches(key, &samples[i].text))
            .collect();
        match hits.as_slice() {
            [i] if listed[*i].is_some() => {
                problems.push(format!("{file} {} is listed twice", show(key, 60)))
            }
            [i] => listed[*i] = Some(reason),
            [] => problems.push(format!(
                "disagreement entry {file} {} matches no sample (stale entry?)",
                show(key, 60)
            )),
            many => problems.push(format!(
                "disagreement entry {file} {} matches {} samples; make it unique",
                show(key, 60),
                many.len()
            )),
        }
    }

    let outcomes = run_all(&samples);

    let mut rows: BTreeMap<&str, Row> =
        files.iter().map(|f| (f.as_str(), Row::default())).collect();
    let mut by_reason: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut agree = 0;

    for ((sample, outcome), reason) in samples.iter().zip(&outcomes).zip(&listed) {
        let at = format!("{}:{}", sample.file, sample.line);
        if let Some(error) = &outcome.error {
            problems.push(format!(
                "{at} {}: keygate run failed: {error}",
                show(&sample.text, 60)
            ));
            continue;
        }
        let found = outcome.findings > 0;
        let row = rows.get_mut(sample.file.as_str()).expect("row");
        if sample.positive {
            row.pos_total += 1;
            row.pos_found += usize::from(found);
        } else {
            row.neg_total += 1;
            row.neg_ignored += usize::from(!found);
        }
        let agrees = found == sample.positive;
        let said = if found {
            format!("found ({})", outcome.rules.join(", "))
        } else {
            "nothing found".to_string()
        };
        match (agrees, reason) {
            (true, None) => agree += 1,
            (false, Some(reason)) => {
                row.disagreements += 1;
                by_reason
                    .entry(reason)
                    .or_default()
                    .push(format!("{at} {}", show(&sample.text, 70)));
            }
            (true, Some(reason)) => problems.push(format!(
                "{at} {}: listed as a disagreement ({reason}) but keygate now agrees with the \
                 peer ({said}): remove its entry",
                show(&sample.text, 60)
            )),
            (false, None) => problems.push(format!(
                "{at} {}: peer says {}, keygate: {said}. Fix the detector, or list it:\n    \
                 ({:?}, {:?}, \"REASON\"),",
                show(&sample.text, 60),
                if sample.positive {
                    "positive"
                } else {
                    "negative"
                },
                sample.file,
                suggest_key(sample, &samples),
            )),
        }
    }

    // The conformance table, in Markdown, ready to quote.
    let ratio = |n: usize, of: usize, relevant: bool| {
        if relevant {
            format!("{n}/{of}")
        } else {
            "-".to_string()
        }
    };
    let mut out = String::new();
    out.push_str(
        "\nPeer conformance: keygate vs the AWS samples other scanners ship (tests/peers)\n\n",
    );
    out.push_str("| file | positives found | negatives ignored | deliberate disagreements |\n");
    out.push_str("|---|---:|---:|---:|\n");
    let mut total = Row::default();
    for (file, row) in &rows {
        let positive = file.contains("_positive");
        out.push_str(&format!(
            "| {file} | {} | {} | {} |\n",
            ratio(row.pos_found, row.pos_total, positive),
            ratio(row.neg_ignored, row.neg_total, !positive),
            row.disagreements
        ));
        total.pos_found += row.pos_found;
        total.pos_total += row.pos_total;
        total.neg_ignored += row.neg_ignored;
        total.neg_total += row.neg_total;
        total.disagreements += row.disagreements;
    }
    out.push_str(&format!(
        "| **total** | {}/{} | {}/{} | {} |\n",
        total.pos_found, total.pos_total, total.neg_ignored, total.neg_total, total.disagreements
    ));
    out.push_str(&format!(
        "\n{} samples in {} files: {agree} agree with their scanner, {} deliberate \
         disagreements, {} problems.\n",
        samples.len(),
        files.len(),
        total.disagreements,
        problems.len()
    ));
    out.push_str("\nDeliberate disagreements, by reason:\n");
    for (reason, entries) in &by_reason {
        out.push_str(&format!("\n- {reason} ({}):\n", entries.len()));
        for entry in entries {
            out.push_str(&format!("    - {entry}\n"));
        }
    }
    println!("{out}");

    assert!(
        problems.is_empty(),
        "{} peer conformance problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
