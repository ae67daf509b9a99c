//! Redaction: what of a credential may be printed, and the fingerprint
//! that names a finding without holding its value.
//!
//! Every place that prints — a report, an error message, a panic, the name
//! of a path or ref that holds a key — goes through here, so what counts as
//! secret-like has one source of truth: the detector itself, with its
//! decoded views ([`Detector::secret_regions`]), plus, for error text that
//! has no context to judge by, any plausible 40-character secret.

use std::ops::Range;

use crate::engine::detect::{Detection, Detector};
use crate::engine::rules::CredentialKind;

/// First and last four characters, the rest hidden; short values are hidden whole.
pub fn redact(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < 16 {
        return "*".repeat(chars.len().max(4));
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// `rule:path:hash`, where the hash covers rule, path and the values. Stable
/// when unrelated lines move; never holds a value in clear.
pub fn fingerprint(detection: &Detection, path: &str) -> String {
    let mut material = Vec::new();
    for part in [
        "keygate-fingerprint-v1",
        detection.rule_id.as_str(),
        path,
        detection.value.as_str(),
        detection.secret.as_ref().map_or("", |s| s.0.as_str()),
    ] {
        material.extend_from_slice(part.as_bytes());
        material.push(0);
    }
    // git's blob hash of the material (what fingerprints have always been,
    // so allowlists and baselines keep working), computed here: the engine
    // links no git library.
    let mut hasher = sha1dc::Hasher::default();
    hasher.update(format!("blob {}\0", material.len()).as_bytes());
    hasher.update(&material);
    let digest = match hasher.finalize() {
        Ok(digest) => format!("{digest:x}"),
        Err(_) => fnv_hex(&material),
    };
    format!("{}:{}:{}", detection.rule_id, path, &digest[..16])
}

/// Fallback should the collision-detecting SHA-1 refuse the material (only
/// a crafted SHA-1 collision makes it, and the material is ours).
fn fnv_hex(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf29ce484222325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    format!("{hash:016x}")
}

static VERBOSE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--verbose`: messages keep the library's own error classes and codes.
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether `--verbose` is on (see [`set_verbose`]).
pub fn verbose() -> bool {
    VERBOSE.load(std::sync::atomic::Ordering::Relaxed)
}

/// The message without libgit2's `; class=Repository (6); code=NotFound (-3)`
/// tails (unless `--verbose`): what went wrong and where is in the words
/// before them.
pub fn plain(text: &str) -> String {
    if verbose() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = [rest.find("; class="), rest.find("; code=")]
        .into_iter()
        .flatten()
        .min()
    {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 2..];
        let end = library_code_len(tail);
        if end == 0 {
            out.push_str("; ");
            rest = tail;
        } else {
            rest = &tail[end..];
        }
    }
    out.push_str(rest);
    out
}

/// The length of `class=Word (6)` or `code=Word (-3)` at the start of `text`
/// (0 if it is not one).
fn library_code_len(text: &str) -> usize {
    let Some(eq) = text.find('=') else { return 0 };
    if !matches!(&text[..eq], "class" | "code") {
        return 0;
    }
    let after = &text[eq + 1..];
    let word = after
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(after.len());
    let Some(number) = after[word..].strip_prefix(" (") else {
        return 0;
    };
    let Some(close) = number.find(')') else {
        return 0;
    };
    let digits = number[..close].trim_start_matches('-');
    if word == 0 || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    eq + 1 + word + 2 + close + 1
}

/// Replaces every credential in `text` with its redacted form: whatever the
/// detectors would find in it, as it is or in its decoded views (one source
/// of truth: `Detector::secret_regions`), and, since an error message has no
/// context to judge by, any run of 40 base64 characters that could be a
/// secret.
pub fn scrub(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut spans = Detector::builtin().secret_regions(bytes);
    spans.extend(possible_secrets(bytes));
    if spans.is_empty() {
        return text.to_string();
    }
    // A region may start or end inside a character (a decoded view's
    // origin is cut at a byte count): widened to whole characters, never
    // skipped.
    for span in &mut spans {
        span.start = text.floor_char_boundary(span.start.min(text.len()));
        span.end = text.ceil_char_boundary(span.end.min(text.len()));
    }
    // Overlapping spans become one: dropping the later of two would leave
    // its tail in clear.
    spans.sort_by_key(|s| s.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start < last.end => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    let mut out = text.to_string();
    for span in merged.into_iter().rev() {
        let hidden = redact(&out[span.clone()]);
        out.replace_range(span, &hidden);
    }
    out
}

/// Runs of exactly 40 base64 characters that pass the secret plausibility checks.
fn possible_secrets(bytes: &[u8]) -> Vec<Range<usize>> {
    crate::engine::detect::base64_runs(bytes, 0..bytes.len(), 40)
        .into_iter()
        .filter(|run| {
            crate::engine::detect::plausible(CredentialKind::SecretAccessKey, &bytes[run.clone()])
        })
        .collect()
}

/// A name (a ref, an author, a path) as it may be printed: any key in it
/// redacted.
pub(crate) fn redacted_name(detector: &Detector, name: &str) -> String {
    match values_in(detector, name) {
        Some(values) => hide(name, &values),
        None => redact(name),
    }
}

/// The values the detectors find in `name`, looked at whole and, for a
/// path, component by component (as the git source does for the paths a change adds: detection
/// depends on the text around a value). `None` when a value is not in
/// `name` as such (found in a decoded view): then all of it is to be hidden.
pub(crate) fn values_in(detector: &Detector, name: &str) -> Option<Vec<String>> {
    if !detector.has_candidate(name.as_bytes()) {
        return Some(Vec::new());
    }
    let mut detections = detector.detect(name.as_bytes());
    if name.contains('/') {
        for component in name.split('/') {
            detections.extend(detector.detect(component.as_bytes()));
        }
    }
    let mut values = Vec::new();
    for detection in detections {
        values.push(detection.value);
        values.extend(detection.secret.map(|(secret, _, _)| secret));
    }
    if values
        .iter()
        .any(|v| v.is_empty() || !name.contains(v.as_str()))
    {
        return None;
    }
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    values.dedup();
    Some(values)
}

/// `name` with every occurrence of every value replaced by its redacted
/// form: a value found once is hidden wherever it is, even glued to other
/// text.
pub fn hide(name: &str, values: &[String]) -> String {
    let mut shown = name.to_string();
    for value in values {
        shown = shown.replace(value.as_str(), &redact(value));
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fingerprints are what allowlists and baselines hold: these were
    /// computed by libgit2's blob hash before the engine dropped it, and
    /// must never change.
    #[test]
    fn fingerprints_are_the_ones_users_already_hold() {
        let id = format!("{}{}", "AKIA", "QYLPMN5HHHFPZAM2");
        let secret = format!("{}{}", "Zr4nK2pQ9sVw7xYb3cDe", "5fGh1jKl6mNo8pQr0sTu");
        let detector = Detector::builtin();
        let only_id = detector.detect(format!("id: {id}\n").as_bytes());
        assert_eq!(
            fingerprint(&only_id[0], "id.txt"),
            "aws-access-key-id:id.txt:3333a946d9f76d6d"
        );
        let pair = detector.detect(
            format!("aws_access_key_id = {id}\naws_secret_access_key = {secret}\n").as_bytes(),
        );
        assert_eq!(
            fingerprint(&pair[0], "creds.ini"),
            "aws-credential-pair:creds.ini:fba40f428098d8e1"
        );
    }

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() >> 33) as usize % n
        }
        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[self.below(from.len())]
        }
    }

    const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    fn base64(bytes: &[u8]) -> String {
        crate::engine::decode::encode_base64(bytes, false, true)
    }

    /// Percent-encodes what a URL must (`=`, `+`, `/`) and every other
    /// symbol; letters and digits stay.
    fn percent(text: &str) -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    /// The ways a secret reaches an error message: as it is, percent-encoded
    /// (a URL), base64 (a header), UTF-16LE base64 (PowerShell's
    /// `-EncodedCommand`).
    fn encodings(secret: &str) -> Vec<String> {
        let assignment = format!("aws_secret_access_key={secret}");
        let command = format!("$env:AWS_SECRET_ACCESS_KEY='{secret}'");
        let utf16: Vec<u8> = command
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        vec![
            assignment.clone(),
            format!("https://example.com/cb?{}", percent(&assignment)),
            format!("Authorization: Basic {}", base64(assignment.as_bytes())),
            format!("powershell -EncodedCommand {}", base64(&utf16)),
        ]
    }

    /// For random text with a key inserted, `scrub` never leaves the secret
    /// in clear, and the detector finds nothing in its output that it found
    /// in its input (covers the encoded forms, where the value is not in the
    /// text as it is).
    #[test]
    fn scrub_hides_keys_in_every_form_whatever_surrounds_them() {
        let detector = Detector::builtin();
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let filler = [
            "\u{4e0a}", "\u{300a}", "é", "a", " ", "\n", "x=1; ", "ü", "%", "\\", "\t",
        ];
        let mut checked = 0;
        for round in 0..240 {
            let secret: String = loop {
                let s: String = (0..40).map(|_| BASE64[rng.below(64)] as char).collect();
                if crate::engine::detect::plausible(CredentialKind::SecretAccessKey, s.as_bytes()) {
                    break s;
                }
            };
            let forms = encodings(&secret);
            let form = &forms[round % forms.len()];
            // Short and long prefixes: past 8 KB of multibyte text, a view's
            // origin can fall inside a character.
            let before = if round % 3 == 0 { 7000 } else { rng.below(200) };
            // Long prefixes on one line (a view's origin is cut at a byte
            // count there, not at a line start), short ones over several.
            let prefix_filler: &[&str] = if before > 1000 { &filler[..4] } else { &filler };
            let mut text = String::new();
            for _ in 0..before {
                text.push_str(rng.pick(prefix_filler));
            }
            text.push_str(form);
            // A key glued to more base64 is a longer run, not a key, for
            // the detector and for scrub alike.
            text.push(' ');
            for _ in 0..rng.below(50) {
                text.push_str(rng.pick(&filler));
            }
            let scrubbed = scrub(&text);
            assert!(
                !scrubbed.contains(&secret),
                "round {round}: secret in clear after scrub of form {form:?}"
            );
            let found_before = detector
                .detect(text.as_bytes())
                .iter()
                .any(|d| d.value == secret || d.secret.as_ref().is_some_and(|s| s.0 == secret));
            if found_before {
                checked += 1;
                let found_after = detector.detect(scrubbed.as_bytes());
                assert!(
                    !found_after
                        .iter()
                        .any(|d| d.value == secret
                            || d.secret.as_ref().is_some_and(|s| s.0 == secret)),
                    "round {round}: still detectable after scrub, form {form:?}"
                );
            }
        }
        // The detector must have found most inserted keys, or the test
        // checks little.
        assert!(checked > 200, "only {checked} keys were detectable at all");
    }

    #[test]
    fn percent_encoded_secret_after_8_kb_of_multibyte_text_is_hidden() {
        let secret = format!("{}{}", "Zr4nK2pQ9sVw7xYb3cDe", "5fGh1jKl6mNo8pQr0sTu");
        let text = format!(
            "{}aws_secret_access_key%3D{}",
            "\u{4e0a}".repeat(4000),
            secret
        );
        let scrubbed = scrub(&text);
        assert!(!scrubbed.contains(&secret));
        assert!(Detector::builtin().detect(scrubbed.as_bytes()).is_empty());
    }

    #[test]
    fn library_codes_are_dropped_from_messages() {
        assert_eq!(
            plain("could not find repository at '.'; class=Repository (6); code=NotFound (-3)"),
            "could not find repository at '.'"
        );
        assert_eq!(
            plain("cannot read HEAD: bad; class=Reference (4): more"),
            "cannot read HEAD: bad: more"
        );
        assert_eq!(plain("a; code=x; b"), "a; code=x; b");
    }

    #[test]
    fn text_with_nothing_to_hide_is_unchanged() {
        let text = "上上上 cannot read config: permission denied\n";
        assert_eq!(scrub(text), text);
    }
}
