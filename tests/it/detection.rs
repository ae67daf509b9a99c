//! Detection beyond the basic rules: credential files by name, the user's
//! own keys, decoded account IDs, custom rules, disabling rules, SARIF.

use crate::util::*;

#[test]
fn sarif_report_has_the_required_structure_and_no_secret() {
    let test = Test::dir();
    test.write(
        "app.env",
        format!(
            "AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}\n",
            key_id(),
            secret()
        ),
    );
    let run = test.keygate(&["scan", "--format", "sarif", "app.env"]);
    run.status(1).never_shows(&key_id()).never_shows(&secret());
    let sarif = run.json();
    assert_eq!(sarif["version"], "2.1.0");
    assert!(sarif["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let run0 = &sarif["runs"][0];
    assert_eq!(run0["tool"]["driver"]["name"], "keygate");
    let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(rules.iter().all(|r| r["id"].is_string()));
    let results = run0["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    let result = &results[0];
    // SARIF requires a message with text; locations as physical locations.
    assert!(result["message"]["text"]
        .as_str()
        .unwrap()
        .contains("AKIA…ZAM2"));
    assert_eq!(result["ruleId"], "aws-credential-pair");
    assert_eq!(
        rules[result["ruleIndex"].as_u64().unwrap() as usize]["id"],
        "aws-credential-pair"
    );
    let location = &result["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "app.env");
    assert_eq!(location["region"]["startLine"], 1);
    assert_eq!(location["region"]["startColumn"], 19);
    assert!(result["partialFingerprints"]["keygate/v1"].is_string());
    assert_eq!(run0["invocations"][0]["executionSuccessful"], true);
}

#[test]
fn severity_confidence_and_account_are_reported() {
    let test = Test::dir();
    test.write("a.txt", format!("id = {}\n", key_id()));
    let run = test.keygate(&["scan", "--format", "json", "a.txt"]);
    let f = &run.findings()[0];
    assert_eq!(f["severity"], "high");
    assert_eq!(f["confidence"], "high");
    assert_eq!(f["account_id"], "052310077262");
    test.keygate(&["scan", "a.txt"])
        .status(1)
        .stdout_has("[high, high confidence]")
        .stdout_has("account:     052310077262");
}

#[test]
fn own_keys_from_the_credentials_file_are_found_in_any_context() {
    let test = Test::repo();
    // keygate reads $HOME/.aws/credentials; tests run with HOME = the test dir.
    test.write(
        ".aws-home/.aws/credentials",
        format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            key_id(),
            secret()
        ),
    );
    // The secret alone, with no keyword and no key ID near it.
    test.stage("notes.md", format!("ping {} pong\n", secret()));
    let home = test.path().join(".aws-home");
    let run = std::process::Command::new(KEYGATE)
        .args(["--staged", "--format", "json"])
        .current_dir(test.path())
        .env("HOME", &home)
        .env_remove("AWS_SHARED_CREDENTIALS_FILE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("aws-own-key"), "{stdout}");
    assert!(!stdout.contains(&secret()), "{stdout}");
    // Turned off by config.
    test.write(".keygate.toml", "[detect]\nown_keys = false\n");
    let run = std::process::Command::new(KEYGATE)
        .args(["--staged"])
        .current_dir(test.path())
        .env("HOME", &home)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0));
}

#[test]
fn own_keys_from_the_environment_are_found() {
    let test = Test::dir();
    test.write("x.txt", format!("token={}\n", secret()));
    let run = std::process::Command::new(KEYGATE)
        .args(["scan", "x.txt"])
        .current_dir(test.path())
        .env("HOME", test.path())
        .env("AWS_SECRET_ACCESS_KEY", secret())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("one of your own AWS keys"), "{stdout}");
}

#[test]
fn credential_files_by_name_even_with_unusual_content() {
    let test = Test::dir();
    test.write(
        ".aws/credentials",
        "[default]\nkey-one: something-we-do-not-recognise\n",
    );
    let run = test.keygate(&["scan", "--format", "json", ".aws/credentials"]);
    run.status(1);
    let f = &run.findings()[0];
    assert_eq!(f["rule_id"], "aws-credential-file");
    assert!(f["description"].as_str().unwrap().contains(".gitignore"));
    // With a recognised key inside, one finding, with the .gitignore advice.
    test.write(
        "rootkey.csv",
        format!("AWSAccessKeyId={}\nAWSSecretKey={}\n", key_id(), secret()),
    );
    let run = test.keygate(&["scan", "--format", "json", "rootkey.csv"]);
    let findings = run.findings();
    assert_eq!(findings.len(), 1, "{}", run.stdout);
    assert!(findings[0]["description"]
        .as_str()
        .unwrap()
        .contains(".gitignore"));
    for name in ["prod_accessKeys.csv", "credentials.csv", ".boto", ".s3cfg"] {
        test.write(name, "whatever is inside\n");
        test.keygate(&["scan", name])
            .status(1)
            .stdout_has("aws-credential-file");
    }
    // Empty or a similarly named ordinary file: nothing.
    test.write("empty/.aws/credentials", "\n");
    test.keygate(&["scan", "empty"]).status(0);
    test.write("docs/credentials.md", "how to set up credentials\n");
    test.keygate(&["scan", "docs"]).status(0);
}

#[test]
fn custom_rules_find_their_format_and_are_checked_at_load() {
    let test = Test::dir();
    let config = r#"
[[rules]]
id = "corp-vault-token"
description = "Corp vault token"
regex = "cvt_([A-Za-z0-9]{32})"
keywords = ["cvt_"]
secret_group = 1
min_entropy = 3.0
examples = ["token = cvt_q8ZfK2mX7pL0aB9wR4tY6uE1iO3sD5gH"]
negatives = ["cvt_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]
"#;
    test.write(".keygate.toml", config);
    test.write("a.txt", "x = cvt_Zq8fK2mX7pL0aB9wR4tY6uE1iO3sD5gH\n");
    let run = test.keygate(&["scan", "--format", "json", "a.txt"]);
    run.status(1);
    assert_eq!(run.findings()[0]["rule_id"], "corp-vault-token");
    // An example the rule does not find is a config error naming the rule.
    test.write(
        ".keygate.toml",
        config.replace("token = cvt_", "token = xyz_"),
    );
    test.keygate(&["scan", "a.txt"])
        .status(2)
        .stderr_has("rules[0] `corp-vault-token`")
        .stderr_has("examples[0]");
    // A bad regex names the rule.
    test.write(
        ".keygate.toml",
        config.replace("cvt_([A-Za-z0-9]{32})", "cvt_(["),
    );
    test.keygate(&["scan", "a.txt"])
        .status(2)
        .stderr_has("corp-vault-token")
        .stderr_has("invalid pattern");
    // A missing capture group.
    test.write(
        ".keygate.toml",
        config.replace("secret_group = 1", "secret_group = 3"),
    );
    test.keygate(&["scan", "a.txt"])
        .status(2)
        .stderr_has("capture group 3");
    // Reusing a built-in id.
    test.write(
        ".keygate.toml",
        config.replace("id = \"corp-vault-token\"", "id = \"aws-access-key-id\""),
    );
    test.keygate(&["scan", "a.txt"])
        .status(2)
        .stderr_has("rules[0]");
}

#[test]
fn built_in_rules_can_be_disabled_by_id_and_typos_are_errors() {
    let test = Test::dir();
    test.write("a.txt", format!("id = {}\n", key_id()));
    test.write(
        ".keygate.toml",
        "[detect]\ndisable = [\"aws-access-key-id\"]\n",
    );
    test.keygate(&["scan", "a.txt"]).status(0);
    test.write(
        ".keygate.toml",
        "[detect]\ndisable = [\"aws-acess-key-id\"]\n",
    );
    test.keygate(&["scan", "a.txt"])
        .status(2)
        .stderr_has("no built-in rule `aws-acess-key-id`");
}

/// A secret with the characters that encodings change.
fn slashy_secret() -> String {
    format!("{}{}", "Zr4nK2pQ9s/w7xYb3cDe", "+fGh1jKl6mNo8pQr0sTu")
}

fn scan_one(test: &Test, name: &str, content: &[u8]) -> Run {
    test.write(name, content);
    test.keygate(&["scan", "--format", "json", name])
}

#[test]
fn encoded_credentials_are_found_at_the_line_of_their_encoding() {
    let test = Test::dir();
    let config = format!(
        "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        key_id(),
        slashy_secret()
    );
    // A Kubernetes Secret: base64 values.
    let manifest = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: aws\ndata:\n  credentials: {}\n",
        base64(config.as_bytes())
    );
    let run = scan_one(&test, "secret.yaml", manifest.as_bytes());
    run.status(1)
        .never_shows(&key_id())
        .never_shows(&slashy_secret());
    let f = &run.findings()[0];
    assert_eq!(f["rule_id"], "aws-credential-pair");
    assert_eq!(f["line"], 6);
    assert!(f["description"].as_str().unwrap().contains("base64"));
    // URL-encoded.
    let url = format!(
        "callback = \"https://x.example/cb?aws_secret_access_key={}&r=1\"\n",
        slashy_secret().replace('/', "%2F").replace('+', "%2B")
    );
    let run = scan_one(&test, "url.txt", url.as_bytes());
    run.status(1);
    assert_eq!(run.findings()[0]["rule_id"], "aws-secret-access-key");
    // JSON-escaped slashes and \u002F.
    let json = format!(
        "{{\n  \"SecretAccessKey\": \"{}\"\n}}\n",
        slashy_secret().replace('/', "\\u002F")
    );
    let run = scan_one(&test, "escaped.json", json.as_bytes());
    run.status(1);
    assert_eq!(run.findings()[0]["line"], 2);
    let json = format!(
        "{{\"SecretAccessKey\":\"{}\"}}\n",
        slashy_secret().replace('/', "\\/")
    );
    scan_one(&test, "escaped2.json", json.as_bytes()).status(1);
    // UTF-16, little-endian with a BOM and big-endian without.
    let text = format!("# deploy\r\n$env:AWS_ACCESS_KEY_ID = '{}'\r\n", key_id());
    let mut le = vec![0xFF, 0xFE];
    le.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let run = scan_one(&test, "deploy.ps1", &le);
    run.status(1);
    assert_eq!(run.findings()[0]["line"], 2);
    let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    scan_one(&test, "deploy-be.txt", &be).status(1);
    // A JWT whose payload holds the config.
    let payload = format!(
        "{{\"sub\":\"1\",\"config\":\"{}\"}}",
        base64(config.as_bytes())
    );
    let jwt = format!(
        "token = {}.{}.c2lnbmF0dXJl\n",
        base64(b"{\"alg\":\"HS256\",\"typ\":\"JWT\"}").trim_end_matches('='),
        base64(payload.as_bytes())
            .trim_end_matches('=')
            .replace('+', "-")
            .replace('/', "_")
    );
    scan_one(&test, "jwt.txt", jwt.as_bytes()).status(1);
}

#[test]
fn encoded_noise_stays_quiet() {
    let test = Test::dir();
    // Base64 of binary data, URLs full of %2F, JSON full of \/: no finding.
    let binary: Vec<u8> = (0u32..3000)
        .map(|i| (i.wrapping_mul(2654435761) >> 7) as u8)
        .collect();
    let mut text = format!("blob: {}\n", base64(&binary));
    for i in 0..200 {
        text.push_str(&format!(
            "url{i} = \"https:%2F%2Fexample.com%2Fpath%2F{i}\" {{\"p\":\"a\\/b\\/{i}\"}}\n"
        ));
    }
    scan_one(&test, "noise.txt", text.as_bytes()).status(0);
}
