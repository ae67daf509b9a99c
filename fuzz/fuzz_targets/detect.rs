//! `Detector::builtin().detect` over arbitrary bytes.
//!
//! Besides "never panics, never hangs", every detection must describe the
//! input it came from:
//! - found in the bytes as they are: its span lies inside the input and is
//!   not empty, its value is exactly those bytes (lossily decoded), its
//!   1-based line and column point at the span's start, and no two such
//!   credentials claim the same bytes;
//! - found in a decoded view (`decode`: base64, percent, escapes, UTF-16):
//!   its span (empty: an offset on its line, see `DecodedView::locate`) lies
//!   inside the input, its value is not empty, and its line is one of the
//!   input's;
//! - all: in input order, and `has_candidate` (which lets git skip a blob)
//!   is true for every input with a detection;
//! - windowed detection (what `detect_all` does past 4.5 MiB, here with
//!   windows of 512 bytes to 4 KiB and margins of 4 KiB) finds what one pass
//!   finds: the same values at the same places. The input, repeated until
//!   it spans several windows, puts every kind of text across a window's
//!   edge. Plain values are compared always; decoded ones when no encoded
//!   region reaches further than a margin (see `check_windows`).
#![no_main]

use std::ops::Range;
use std::sync::OnceLock;

use keygate::engine::decode::{decoded_views, trigger_offsets, Encoding};
use keygate::engine::detect::{Detection, Detector, Location};
use keygate::engine::rules::CredentialKind;
use libfuzzer_sys::fuzz_target;

fn detector() -> &'static Detector {
    static DETECTOR: OnceLock<Detector> = OnceLock::new();
    DETECTOR.get_or_init(Detector::builtin)
}

/// The location `detect` should report for byte `offset`: 1-based line, and
/// 1-based column counted in characters when the line's prefix is UTF-8,
/// else in bytes.
fn expected_location(input: &[u8], offset: usize) -> Location {
    let line_start = input[..offset]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = 1 + input[..offset].iter().filter(|&&b| b == b'\n').count();
    let prefix = &input[line_start..offset];
    let column = match std::str::from_utf8(prefix) {
        Ok(text) => text.chars().count(),
        Err(_) => prefix.len(),
    } + 1;
    Location { line, column }
}

/// Whether a detection was found in the bytes as they are (its value is the
/// input at its span) rather than in a decoded view (its span is then the
/// encoded region, and its value the decoded text).
fn is_plain(input: &[u8], span: &Range<usize>, value: &str) -> bool {
    input
        .get(span.clone())
        .is_some_and(|bytes| String::from_utf8_lossy(bytes) == value)
}

fn check_decoded(
    input: &[u8],
    lines: usize,
    what: &str,
    span: &Range<usize>,
    value: &str,
    location: Location,
) {
    assert!(
        span.start <= span.end && span.end <= input.len(),
        "{what}: decoded, placed at {span:?}, outside input of {} bytes",
        input.len()
    );
    assert!(!value.is_empty(), "{what}: empty value");
    assert!(
        location.line >= 1 && location.line <= lines && location.column >= 1,
        "{what}: decoded at {location:?}, input has {lines} lines"
    );
}

fn check_span(input: &[u8], what: &str, span: &Range<usize>, value: &str, location: Location) {
    assert!(
        span.start < span.end && span.end <= input.len(),
        "{what}: span {span:?} outside input of {} bytes",
        input.len()
    );
    let bytes = &input[span.clone()];
    assert_eq!(
        value,
        String::from_utf8_lossy(bytes),
        "{what}: value differs from the input at {span:?}"
    );
    assert!(
        location.line >= 1 && location.column >= 1,
        "{what}: {location:?}"
    );
    assert_eq!(
        location,
        expected_location(input, span.start),
        "{what}: location of {span:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let detector = detector();
    check_windows(detector, data);
    let detections = detector.detect(data);
    if detections.is_empty() {
        return;
    }
    assert!(
        detector.has_candidate(data),
        "detections without a prefilter candidate"
    );

    let lines = 1 + data.iter().filter(|&&b| b == b'\n').count();
    let mut claimed: Vec<Range<usize>> = Vec::new();
    let mut previous_start = 0;
    for (i, d) in detections.iter().enumerate() {
        let what = format!("detection {i} ({})", d.rule_id);
        let plain = is_plain(data, &d.span, &d.value);
        if plain {
            check_span(data, &what, &d.span, &d.value, d.location);
            claimed.push(d.span.clone());
        } else {
            check_decoded(data, lines, &what, &d.span, &d.value, d.location);
        }
        assert!(d.span.start >= previous_start, "{what}: out of input order");
        previous_start = d.span.start;

        match (&d.secret, d.kind) {
            (Some((secret, location, span)), CredentialKind::CredentialPair) => {
                let what = format!("{what} secret");
                if plain {
                    check_span(data, &what, span, secret, *location);
                    claimed.push(span.clone());
                } else {
                    check_decoded(data, lines, &what, span, secret, *location);
                }
                assert_eq!(secret.len(), 40, "{what}: pair secret is not 40 characters");
            }
            (None, CredentialKind::CredentialPair) => panic!("{what}: a pair without a secret"),
            (Some(_), kind) => panic!("{what}: {kind:?} carries a secret"),
            (None, _) => {}
        }
        // The line numbers the line filter sees are the locations' lines.
        assert!(d.lines().all(|l| l >= 1), "{what}: line 0");
    }

    claimed.sort_by_key(|s| s.start);
    for pair in claimed.windows(2) {
        assert!(
            pair[0].end <= pair[1].start,
            "two detections claim the same bytes: {:?} and {:?}",
            pair[0],
            pair[1]
        );
    }
});

/// Margin of the fuzzed windows: more than anything a value found as it is
/// depends on (a rule's window: 256 bytes back, the next line up to 1 KiB
/// on; a pair's secret within 2 KiB; the AWS hint within 512 bytes).
const MARGIN: usize = 4096;

/// `detect_in_windows` with small windows finds what one pass finds.
fn check_windows(detector: &Detector, data: &[u8]) {
    if data.is_empty() || data.len() > 16 * 1024 || !detector.has_candidate(data) {
        return;
    }
    // Core: an even 512..=4096 bytes, chosen by the input (smaller cores
    // make many more windows, each reading its margins: slow).
    let seed = data
        .iter()
        .fold(data.len(), |h, &b| h.wrapping_mul(31) ^ usize::from(b));
    let core = 2 * (256 + seed % 1793);
    let mut input = data.to_vec();
    while input.len() <= core + 2 * MARGIN + core / 2 {
        input.extend_from_slice(data);
    }
    let whole = detector.detect_in_windows(&input, None, usize::MAX / 4, 0);
    let windowed = detector.detect_in_windows(&input, None, core, MARGIN);
    if whole.incomplete.is_some() || windowed.incomplete.is_some() {
        return; // each window has a decode budget of its own
    }
    // No credential is lost at a window edge: every value one pass finds (a
    // pair's halves on their own: which secret a key ID pairs with may
    // differ, as pairing is greedy and a window does not see the key IDs
    // far above it) is found by the windows too, on the same line: the
    // line is what the gate's added-lines filter and the report go by.
    // What may differ, and is not checked: the column on a line that is not
    // valid UTF-8 (counted in bytes by one pass, partly in characters by a
    // later window), whether a value also found in a decoded view is
    // reported as found plainly or as the decoded pair (same value, same
    // line, its offset mapped back from the view, a byte off where an escape
    // view's origin starts inside the value's run), and values a window finds
    // that one pass does not (a base64 run cut at a window edge decodes where whole it
    // does not): reporting more is not a hole.
    let halves = |found: &[Detection], plain: Option<bool>| {
        let mut all: Vec<(String, usize)> = found
            .iter()
            .filter(|d| plain.is_none_or(|p| is_plain(&input, &d.span, &d.value) == p))
            .flat_map(|d| {
                std::iter::once((d.value.clone(), d.location.line))
                    .chain(d.secret.as_ref().map(|s| (s.0.clone(), s.1.line)))
            })
            .collect();
        all.sort();
        all.dedup();
        all
    };
    let windowed_all = halves(&windowed.detections, None);
    let lost = |kind: &str, one_pass: Vec<(String, usize)>| {
        let lost: Vec<_> = one_pass
            .into_iter()
            .filter(|h| windowed_all.binary_search(h).is_err())
            .collect();
        assert!(
            lost.is_empty(),
            "windows of {core} bytes (margin {MARGIN}) over {} bytes lose {kind} values one \
             pass finds: {lost:?}",
            input.len()
        );
    };
    lost("plain", halves(&whole.detections, Some(true)));
    // Decoded values depend on their encoded region and the trigger that
    // opened it, which may lie further away than a margin (a UTF-16 view
    // reads 64 KiB on, an escape view 8 KiB of lines): compared only when
    // every region is short.
    let views = decoded_views(&input, &trigger_offsets(&input)).views;
    let short = views.iter().all(|v| {
        !matches!(v.encoding, Encoding::Utf16Le | Encoding::Utf16Be) && v.origin.len() <= 512
    });
    if short {
        lost("decoded", halves(&whole.detections, Some(false)));
    }
}
