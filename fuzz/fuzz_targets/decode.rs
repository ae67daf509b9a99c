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
//! - all views together stay within the budget: [`budget_for`] the input;
//! - views come in order of origin, and a view of a view has a parent
//!   before it in depth;
//! - `to_input` places any offset of a view inside the input, inside the
//!   view's origin for a view of the input (without base64 context, which
//!   comes before it), and in ascending order for
//!   ascending offsets of one view (a finding's lines are a range).
#![no_main]

use keygate::engine::decode::{
    budget_for, decoded_views, decoded_window, trigger_offsets, Decoded, MAX_DEPTH, MAX_VIEW_BYTES,
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
    let budget = budget_for(input.len());
    let total: usize = decoded.views.iter().map(|v| v.bytes.len()).sum();
    assert!(
        total <= budget,
        "{what}: views hold {total} bytes, budget {budget} for {} input bytes",
        input.len()
    );
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
        match v.parent {
            None => assert_eq!(v.depth, 1, "{name}: no parent"),
            Some(p) => assert_eq!(
                decoded.views.get(p).map(|p| p.depth + 1),
                Some(v.depth),
                "{name}: parent {p}"
            ),
        }
        assert!(
            v.decoded_start <= v.bytes.len(),
            "{name}: decoded_start past its bytes"
        );
        assert!(
            v.bytes.len() <= MAX_VIEW_BYTES,
            "{name}: {} bytes",
            v.bytes.len()
        );
        let mut offsets = [
            0,
            v.decoded_start,
            v.bytes.len() / 2,
            v.bytes.len().saturating_sub(1),
            v.bytes.len(),
            v.bytes.len() + 1,
        ];
        offsets.sort_unstable();
        let requests: Vec<(usize, usize)> = offsets.iter().map(|&o| (i, o)).collect();
        let places = decoded.to_input(input, &requests);
        for (offset, at) in offsets.iter().zip(&places) {
            assert!(*at <= input.len(), "{name}: to_input({offset}) = {at}");
            if v.depth == 1 && v.decoded_start == 0 {
                assert!(
                    v.origin.start <= *at && *at <= v.origin.end,
                    "{name}: to_input({offset}) = {at} outside origin {:?}",
                    v.origin
                );
            }
        }
        assert!(
            places.windows(2).all(|w| w[0] <= w[1]),
            "{name}: places {places:?} of ascending offsets {offsets:?} not ascending"
        );
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
    // A window of a longer UTF-16 text: decoded whole, from its start.
    if input.len() % 2 == 0 {
        let big = extra.len() % 2 == 1;
        let window = decoded_window(input, &hits, Some(big));
        check(input, &window, "UTF-16 window");
    }
});
