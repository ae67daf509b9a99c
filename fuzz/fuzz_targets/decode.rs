//! `keygate::engine::decode::decoded_views`: credentials hidden behind an encoding
//! (base64 and base64url, percent, backslash escapes, UTF-16) turned back
//! into text for the detectors.
//!
//! The module promises bounded work and no panics whatever the input and
//! whatever the hits ("extra or wrong offsets are harmless"). Checked:
//! - no panic with the real trigger offsets, nor with the fuzzer's own
//!   (out of range, unsorted, duplicated, mid-character) added to them;
//! - every view's origin lies in the input, its decoded part starts inside
//!   its bytes, its depth is 1..=MAX_DEPTH, and it is at most MAX_VIEW_BYTES;
//! - all views together stay within the budget: MAX_TOTAL_BYTES and three
//!   times the input plus 4 KiB;
//! - views come in order of origin, and each one's line is at most the
//!   number of line breaks before its origin (exactly that number for views
//!   of the plain bytes; UTF-16 counts its own line breaks);
//! - `locate` puts any offset of a view inside its origin, on a line at or
//!   after the view's own.
#![no_main]

use keygate::engine::decode::{
    decoded_views, trigger_offsets, Decoded, Encoding, MAX_DEPTH, MAX_TOTAL_BYTES, MAX_VIEW_BYTES,
};
use libfuzzer_sys::fuzz_target;

/// Byte 0: how many extra hits follow (0-7), two bytes each (little-endian
/// offset, scaled over the content so most land inside and some past it).
fn split(data: &[u8]) -> (Vec<usize>, &[u8]) {
    let Some((&count, mut rest)) = data.split_first() else {
        return (Vec::new(), data);
    };
    let mut raw = Vec::new();
    for _ in 0..count % 8 {
        let [lo, hi, tail @ ..] = rest else { break };
        raw.push(usize::from(u16::from_le_bytes([*lo, *hi])));
        rest = tail;
    }
    let n = rest.len() + 8;
    (raw.into_iter().map(|r| r * n / 0xffff).collect(), rest)
}

fn check(input: &[u8], decoded: &Decoded, what: &str) {
    let budget = MAX_TOTAL_BYTES.min(input.len().saturating_mul(3).saturating_add(4096));
    let total: usize = decoded.views.iter().map(|v| v.bytes.len()).sum();
    assert!(
        total <= budget,
        "{what}: views hold {total} bytes, budget {budget} for {} input bytes",
        input.len()
    );
    let all_breaks = input.iter().filter(|&&b| b == b'\n').count();
    let mut previous = 0;
    for (i, v) in decoded.views.iter().enumerate() {
        let name = format!("{what}: view {i} ({:?}, depth {})", v.encoding, v.depth);
        assert!(
            v.origin.start <= v.origin.end && v.origin.end <= input.len(),
            "{name}: origin {:?} outside input of {} bytes",
            v.origin,
            input.len()
        );
        assert!(v.origin.start >= previous, "{name}: out of order");
        previous = v.origin.start;
        assert!((1..=MAX_DEPTH).contains(&v.depth), "{name}: depth");
        assert!(
            v.decoded_start <= v.bytes.len(),
            "{name}: decoded_start past its bytes"
        );
        assert!(
            v.bytes.len() <= MAX_VIEW_BYTES,
            "{name}: {} bytes",
            v.bytes.len()
        );
        let breaks = input[..v.origin.start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        assert!(
            v.line <= breaks,
            "{name}: line {} but only {breaks} line breaks before {:?}",
            v.line,
            v.origin
        );
        // `locate` places an offset of the view on a line of the input,
        // at an offset inside the origin.
        for offset in [
            0,
            v.decoded_start,
            v.bytes.len() / 2,
            v.bytes.len(),
            v.bytes.len() + 1,
        ] {
            let at = v.locate(input, offset);
            assert!(
                v.origin.start <= at.offset && at.offset <= v.origin.end,
                "{name}: locate({offset}) = {} outside origin {:?}",
                at.offset,
                v.origin
            );
            assert!(
                at.line >= v.line && at.line <= all_breaks,
                "{name}: locate({offset}) on line {} (view line {}, {all_breaks} breaks in input)",
                at.line,
                v.line
            );
        }
        let utf16 = matches!(v.encoding, Encoding::Utf16Le | Encoding::Utf16Be);
        if v.depth == 1 && !utf16 {
            assert_eq!(v.line, breaks, "{name}: line of {:?}", v.origin);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (extra, input) = split(data);
    let hits = trigger_offsets(input);
    let decoded = decoded_views(input, &hits);
    check(input, &decoded, "trigger hits");

    if !extra.is_empty() {
        // Wrong, unsorted and duplicate offsets after the real ones.
        let mut noisy = hits.clone();
        noisy.extend(&extra);
        noisy.extend(hits.iter().rev().take(2));
        let again = decoded_views(input, &noisy);
        check(input, &again, "noisy hits");
    }
});
