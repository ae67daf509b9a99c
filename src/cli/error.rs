//! The one error a run can end with, and the exit codes.
//!
//! Module errors travel here unchanged (`#[from]`), so `main` prints the
//! whole chain. Messages pass through `scrub` first: an error that quotes
//! input must never print a credential.

use crate::engine::config::ConfigError;
use crate::engine::detect::{DetectError, Detector};
use crate::engine::scanner::redact;
use crate::sources::git::push::PushError;
use crate::sources::git::GitError;

/// Exit code: nothing found.
pub const EXIT_CLEAN: u8 = 0;
/// Exit code: credentials found, the commit or push is blocked.
pub const EXIT_FOUND: u8 = 1;
/// Exit code: usage, config or internal error, or an incomplete scan.
pub const EXIT_ERROR: u8 = 2;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Detect(#[from] DetectError),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Push(#[from] PushError),
    #[error(transparent)]
    History(#[from] crate::sources::git::history::HistoryError),
    #[error("cannot write the baseline {path}: {source}")]
    BaselineUnwritable {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the report: {0}")]
    Output(#[from] std::io::Error),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        EXIT_ERROR
    }

    /// The message with its causes, credentials redacted.
    pub fn scrubbed_message(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !text.contains(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        scrub(&text)
    }
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
    let mut merged: Vec<std::ops::Range<usize>> = Vec::with_capacity(spans.len());
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
fn possible_secrets(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    crate::engine::detect::base64_runs(bytes, 0..bytes.len(), 40)
        .into_iter()
        .filter(|run| {
            crate::engine::detect::plausible(
                crate::engine::rules::CredentialKind::SecretAccessKey,
                &bytes[run.clone()],
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b))
                << (8 * (3 - chunk.len()));
            for i in 0..=chunk.len() {
                out.push(BASE64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
            out.extend(std::iter::repeat_n('=', 3 - chunk.len()));
        }
        out
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
                if crate::engine::detect::plausible(
                    crate::engine::rules::CredentialKind::SecretAccessKey,
                    s.as_bytes(),
                ) {
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
    fn text_with_nothing_to_hide_is_unchanged() {
        let text = "上上上 cannot read config: permission denied\n";
        assert_eq!(scrub(text), text);
    }
}
