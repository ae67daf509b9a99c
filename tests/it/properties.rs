//! Property tests (stable Rust, a seeded generator, no extra crate): for many
//! random texts, a key inserted anywhere is found at the right line and
//! column, and fingerprints do not move when unrelated lines do.

use keygate::engine::allowlist::Allowlist;
use keygate::engine::detect::Detector;
use keygate::engine::scanner::{ScanReport, Scanner};

use crate::util::base64;

/// xorshift64*: deterministic, good enough to shuffle test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_key_id(rng: &mut Rng) -> String {
    let prefix = rng.pick(&["AKIA", "ASIA", "ABIA", "ACCA"]).to_string();
    prefix
        + &(0..16)
            .map(|_| BASE32[rng.below(32)] as char)
            .collect::<String>()
}

fn random_secret(rng: &mut Rng) -> String {
    (0..40).map(|_| BASE64[rng.below(64)] as char).collect()
}

/// Random lines of code-like text that hold no credential.
fn random_line(rng: &mut Rng) -> String {
    let words = [
        "let",
        "x",
        "=",
        "fn",
        "return",
        "the",
        "secret",
        "token",
        "config",
        "{",
        "}",
        "(",
        ")",
        "\"value\"",
        "é",
        "数据",
        "//",
        "#",
        "0x1f",
        "ASIA",
        "akia",
        "region",
        "us-east-1",
        ";",
    ];
    let n = rng.below(12);
    let mut line: Vec<&str> = (0..n).map(|_| rng.pick(&words)).collect();
    if rng.below(10) == 0 {
        line.push("\r");
    }
    line.join(" ")
}

fn scanner() -> Scanner {
    Scanner::new(Detector::builtin(), Allowlist::default())
}

#[test]
fn a_key_id_inserted_anywhere_is_found_at_its_line_and_column() {
    let scanner = scanner();
    let mut rng = Rng(0x5EED_0001);
    for _ in 0..500 {
        let mut lines: Vec<String> = (0..rng.below(30) + 1)
            .map(|_| random_line(&mut rng))
            .collect();
        let id = random_key_id(&mut rng);
        let target = rng.below(lines.len());
        let line = &lines[target];
        // Insert at a character boundary, separated from neighbouring text.
        let chars: Vec<char> = line.chars().collect();
        let at = rng.below(chars.len() + 1);
        let before: String = chars[..at].iter().collect();
        let after: String = chars[at..].iter().collect();
        let separator = |s: &str| if s.is_empty() { "" } else { " " };
        let prefix = format!("{before}{}", separator(&before));
        lines[target] = format!("{prefix}{id}{}{after}", separator(&after));
        let text = lines.join(if rng.below(2) == 0 { "\n" } else { "\r\n" });
        let mut report = ScanReport::default();
        scanner.scan("t", text.as_bytes(), None, &mut report);
        let found: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.values[0] == id)
            .collect();
        assert_eq!(found.len(), 1, "{id} in {text:?}: {:?}", report.findings);
        assert_eq!(found[0].location.line, target + 1, "{text:?}");
        assert_eq!(
            found[0].location.column,
            prefix.chars().count() + 1,
            "{text:?}"
        );
    }
}

#[test]
fn a_keyword_secret_inserted_anywhere_is_found_at_its_line() {
    let scanner = scanner();
    let mut rng = Rng(0x5EED_0002);
    let forms = [
        "aws_secret_access_key = {}",
        "AWS_SECRET_ACCESS_KEY=\"{}\"",
        "\"SecretAccessKey\": \"{}\",",
        "secret_key: '{}'",
        "aws.secretKey={}",
    ];
    for _ in 0..500 {
        let mut lines: Vec<String> = (0..rng.below(30) + 1)
            .map(|_| random_line(&mut rng))
            .collect();
        let secret = random_secret(&mut rng);
        let line = rng.pick(&forms).replace("{}", &secret);
        let target = rng.below(lines.len() + 1);
        lines.insert(target, line);
        let text = lines.join("\n");
        let mut report = ScanReport::default();
        scanner.scan("t", text.as_bytes(), None, &mut report);
        let found: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.values.contains(&secret))
            .collect();
        assert_eq!(found.len(), 1, "{text:?}: {:?}", report.findings);
        assert_eq!(found[0].location.line, target + 1, "{text:?}");
    }
}

#[test]
fn fingerprints_do_not_move_with_unrelated_lines() {
    let scanner = scanner();
    let mut rng = Rng(0x5EED_0003);
    for _ in 0..200 {
        let id = random_key_id(&mut rng);
        let secret = random_secret(&mut rng);
        let pair = format!("AWS_ACCESS_KEY_ID={id}\nAWS_SECRET_ACCESS_KEY={secret}\n");
        let fingerprint = |text: &str| {
            let mut report = ScanReport::default();
            scanner.scan("conf/app.env", text.as_bytes(), None, &mut report);
            assert_eq!(report.findings.len(), 1, "{text:?}");
            report.findings[0].fingerprint.clone()
        };
        let padding = |rng: &mut Rng| -> String {
            (0..rng.below(20))
                .map(|_| format!("{}\n", random_line(rng)))
                .collect()
        };
        let a = format!("{}{pair}{}", padding(&mut rng), padding(&mut rng));
        let b = format!("{}{pair}{}", padding(&mut rng), padding(&mut rng));
        let fp = fingerprint(&a);
        assert_eq!(fp, fingerprint(&b));
        assert!(!fp.contains(&id) && !fp.contains(&secret));
    }
}

#[test]
fn random_noise_gives_no_finding() {
    let scanner = scanner();
    let mut rng = Rng(0x5EED_0004);
    for _ in 0..50 {
        let bytes: Vec<u8> = (0..64 * 1024).map(|_| rng.next() as u8).collect();
        let mut report = ScanReport::default();
        scanner.scan("noise", &bytes, None, &mut report);
        assert!(report.findings.is_empty(), "{:?}", report.findings);
    }
}

// ------------------------------------- issue 12.2, 12.3: decoded lines

/// A YAML document holding `text` in base64, wrapped at `width` columns.
fn wrapped_yaml(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::from("kind: Secret\ndata:\n  config: >-\n");
    for line in base64(text.as_bytes()).as_bytes().chunks(width) {
        out.push_str(indent);
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out
}

/// Scans `new` as a change from `old`: only the lines git's diff adds count.
fn scan_change(old: &[u8], new: &[u8]) -> ScanReport {
    let filter = keygate::sources::git::blobs::added_lines(old, new).expect("a line diff");
    let mut report = ScanReport::default();
    scanner().scan("t", new, Some(&filter), &mut report);
    report
}

#[test]
fn a_key_added_inside_a_wrapped_base64_block_counts_by_the_lines_it_changes() {
    let mut rng = Rng(0x5EED_0012);
    for round in 0..300 {
        let mut lines: Vec<String> = (0..rng.below(40) + 2)
            .map(|_| random_line(&mut rng))
            .collect();
        let id = random_key_id(&mut rng);
        let target = rng.below(lines.len() + 1);
        let old_lines = if round % 3 == 0 {
            // The same place held another key with the same first 12
            // characters: the value's first encoded line may not change.
            let mut old = lines.clone();
            let other = format!("{}{}", &id[..12], &random_key_id(&mut rng)[12..]);
            old.insert(target, format!("aws_access_key_id = {other}"));
            old
        } else {
            lines.clone()
        };
        lines.insert(target, format!("aws_access_key_id = {id}"));
        let width = [76, 64, 60][rng.below(3)];
        let indent = ["    ", "  ", "\t"][rng.below(3)];
        let old = wrapped_yaml(&(old_lines.join("\n") + "\n"), width, indent);
        let new = wrapped_yaml(&(lines.join("\n") + "\n"), width, indent);
        let report = scan_change(old.as_bytes(), new.as_bytes());
        let found: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.values[0] == id)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "round {round}: {new}\n{:?}",
            report.findings
        );
        // Placed on the line where the key's first character is encoded.
        let encoded = new.lines().nth(found[0].location.line - 1).unwrap();
        assert!(encoded.starts_with(indent), "{encoded:?}");
    }
}

#[test]
fn a_utf16_key_counts_on_the_line_git_diff_adds_whatever_text_precedes_it() {
    let mut rng = Rng(0x5EED_0013);
    let words = ["上", "《", "数据", "a", " ", "\u{0A0A}", "\u{2E80}", "é"];
    for round in 0..200 {
        let mut lines: Vec<String> = (0..rng.below(30) + 1)
            .map(|_| (0..rng.below(12)).map(|_| rng.pick(&words)).collect())
            .collect();
        let old = lines.join("\r\n") + "\r\n";
        let id = random_key_id(&mut rng);
        let target = rng.below(lines.len() + 1);
        lines.insert(target, format!("AccessKeyId: {id}"));
        let new = lines.join("\r\n") + "\r\n";
        let big = round % 2 == 1;
        let utf16 = |text: &str| -> Vec<u8> {
            let mut bytes = if big {
                vec![0xFE, 0xFF]
            } else {
                vec![0xFF, 0xFE]
            };
            for unit in text.encode_utf16() {
                bytes.extend(if big {
                    unit.to_be_bytes()
                } else {
                    unit.to_le_bytes()
                });
            }
            bytes
        };
        let (old, new) = (utf16(&old), utf16(&new));
        let report = scan_change(&old, &new);
        let found: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.values[0] == id)
            .collect();
        assert_eq!(found.len(), 1, "round {round}: {:?}", report.findings);
        // Its line is git's: `\n` bytes before the key's first unit.
        let units = utf16(&id);
        let key_at = new
            .windows(units.len() - 2)
            .enumerate()
            .position(|(i, w)| i % 2 == 0 && w == &units[2..])
            .expect("the key's units");
        let line = 1 + new[..key_at].iter().filter(|&&b| b == b'\n').count();
        assert_eq!(found[0].location.line, line, "round {round}");
    }
}
