//! Plausibility: whether a value a rule's pattern confirmed looks like a
//! real credential, not a placeholder (`AKIAXXXXXXXXXXXXXXXX`), a hash, a
//! sequence or an identifier. Pure functions of the value: the checks that
//! decide false alarms, kept apart so they can be read, tuned and tested on
//! their own.

use crate::engine::rules::CredentialKind;

/// Whether a confirmed value looks like a real credential rather than a
/// placeholder, a hash or an identifier.
pub fn plausible(kind: CredentialKind, value: &[u8]) -> bool {
    match kind {
        CredentialKind::AccessKeyId => plausible_key_id(value),
        CredentialKind::SecretAccessKey | CredentialKind::CredentialPair => plausible_secret(value),
        CredentialKind::SessionToken | CredentialKind::BedrockApiKey => plausible_token(value),
        CredentialKind::KnownKey | CredentialKind::Custom | CredentialKind::CredentialFile => true,
    }
}

pub(super) fn plausible_key_id(id: &[u8]) -> bool {
    let Some(tail) = id.get(4..) else {
        return false;
    };
    distinct(tail) >= 6 && longest_repeat(tail) < 6 && sequential_steps(tail, 1) < 6
}

pub(super) fn plausible_secret(s: &[u8]) -> bool {
    if s.len() != 40 {
        return false;
    }
    let has_upper = s.iter().any(u8::is_ascii_uppercase);
    let has_lower = s.iter().any(u8::is_ascii_lowercase);
    if !has_upper || !has_lower {
        // Hex digests, SHA-1 object ids, upper- or lower-case words.
        return false;
    }
    if memchr::memmem::find(s, b"EXAMPLE").is_some() || longest_repeat(s) >= 5 {
        return false;
    }
    if sequential_steps(s, 1) >= 8 || sequential_steps(s, 2) >= 8 || periodic(s) {
        return false;
    }
    if distinct(s) < 16 || shannon_entropy(s) < 3.8 {
        return false;
    }
    // A path: several slashes between mostly lower-case words.
    let slashes = s.iter().filter(|&&b| b == b'/').count();
    let letters = s.iter().filter(|b| b.is_ascii_alphabetic()).count();
    let lower = s.iter().filter(|b| b.is_ascii_lowercase()).count();
    if slashes >= 4 && lower * 5 >= letters * 4 {
        return false;
    }
    // A camelCase identifier: only letters, few capitals, long lower-case
    // words. Random base64 of letters only has about 20 capitals.
    let symbols_or_digits = s.iter().any(|b| !b.is_ascii_alphabetic());
    let capitals = s.iter().filter(|b| b.is_ascii_uppercase()).count();
    if !symbols_or_digits && capitals <= 8 && longest_class_run(s, u8::is_ascii_lowercase) >= 6 {
        return false;
    }
    true
}

fn plausible_token(s: &[u8]) -> bool {
    memchr::memmem::find(s, b"EXAMPLE").is_none()
        && distinct(s) >= 20
        && s.iter().any(u8::is_ascii_digit)
        && s.iter().any(u8::is_ascii_uppercase)
        && s.iter().any(u8::is_ascii_lowercase)
}

fn distinct(s: &[u8]) -> usize {
    let mut seen = [false; 256];
    s.iter().for_each(|&b| seen[b as usize] = true);
    seen.iter().filter(|&&x| x).count()
}

fn longest_repeat(s: &[u8]) -> usize {
    longest_run_by(s, |a, b| a == b)
}

fn longest_class_run(s: &[u8], class: fn(&u8) -> bool) -> usize {
    let (mut best, mut current) = (0, 0);
    for b in s {
        current = if class(b) { current + 1 } else { 0 };
        best = best.max(current);
    }
    best
}

fn longest_run_by(s: &[u8], same: impl Fn(u8, u8) -> bool) -> usize {
    if s.is_empty() {
        return 0;
    }
    let (mut best, mut current) = (1, 1);
    for w in s.windows(2) {
        current = if same(w[0], w[1]) { current + 1 } else { 1 };
        best = best.max(current);
    }
    best
}

/// How many times a character is followed, `stride` places on, by the next
/// character of its alphabet (`ABCD…`, `AaBbCc…`).
fn sequential_steps(s: &[u8], stride: usize) -> usize {
    s.windows(stride + 1)
        .filter(|w| w[stride] == w[0].wrapping_add(1))
        .count()
}

/// Whether the value repeats a short unit (`abcdabcd…`).
fn periodic(s: &[u8]) -> bool {
    (1..=10).any(|p| {
        let same = s.iter().zip(&s[p..]).filter(|(a, b)| a == b).count();
        same * 10 >= (s.len() - p) * 8
    })
}

/// Shannon entropy of the bytes, in bits per byte.
pub(crate) fn shannon_entropy(s: &[u8]) -> f64 {
    let mut counts = [0usize; 256];
    s.iter().for_each(|&b| counts[b as usize] += 1);
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}
