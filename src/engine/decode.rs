//! Decoded views: credentials committed in an encoded form.
//!
//! People commit AWS keys in forms a plain scan cannot see: base64 values of
//! a Kubernetes Secret, a JWT payload, a `data:` URL, base64 inside base64
//! (a JWT whose payload holds a base64 config), `%2F` in a URL or form body,
//! `\/` and `\u002F` in JSON and code, a PowerShell or Windows file in
//! UTF-16. This module turns such regions back into text, a
//! [`DecodedView`], which `detect` then scans like any other input. It finds
//! no credential itself and knows nothing of the rules beyond [`TRIGGERS`].
//!
//! What it must not do is unbounded work, whatever the input (it runs in a
//! pre-commit hook, on every file, and on hostile pushes):
//!
//! - It decodes only around trigger hits: the base64 run, the few lines or
//!   the UTF-16 text a hit sits in. No hit (and no UTF-16 byte-order mark at
//!   offset 0) means no decoding at all; it never decodes on speculation.
//! - Every view is capped at [`MAX_VIEW_BYTES`], all views of one input at
//!   a budget proportional to the input ([`budget_for`], at most
//!   [`MAX_TOTAL_BYTES`]: callers decode big inputs in windows of at most
//!   [`MAX_WINDOW_BYTES`], so the budget never binds ordinary text), and
//!   views are decoded again down to [`MAX_DEPTH`]. An input that reaches the
//!   budget, or that still holds encoded text at `MAX_DEPTH`, is marked
//!   [`Decoded::capped`] rather than passed off as fully decoded: the caller
//!   must report the scan as incomplete.
//! - Work is linear in the input: each base64 run, line and UTF-16 stretch is
//!   decoded once (a run at most once per candidate alignment, so four times).
//! - It never panics: every index into the input is checked.
//!
//! Places: every byte of a view maps back to the bytes it was decoded from
//! ([`Decoded::to_input`]): a base64 byte to the character that encodes it
//! (so a finding in a block wrapped over many lines lands on the lines its
//! characters are on), a UTF-16 character to its unit, a percent or escape
//! view's line *n* to line *n* of its origin (an encoded line break decodes
//! to a space, so those views keep every line 1:1). Line numbers are then
//! the input's own: `\n` bytes, as git's diff counts them, also in UTF-16.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind, Anchored, Input, MatchKind, StartKind};

use crate::engine::rules::PAIR_DISTANCE_LINES;

/// Largest view, in bytes. A longer base64 run or UTF-16 text is decoded in
/// windows of this size around its hits.
pub const MAX_VIEW_BYTES: usize = 1 << 20;

/// Largest input callers should decode at once: `detect` cuts longer ones
/// into overlapping windows of at most this size.
pub const MAX_WINDOW_BYTES: usize = (4 << 20) + (512 << 10);

/// Bytes the views of an input may hold for each input byte. Ordinary text
/// needs at most about one (decoded text is never longer than its encoding,
/// bar UTF-16 of CJK at 1.5); tiny views (a 16-character base64 word each)
/// cost their overhead too, about ten per byte. The budget bounds memory and
/// work on hostile input, not the decoding of ordinary files.
const BUDGET_PER_BYTE: usize = 16;

/// Most bytes all views of one input may hold together: the budget of the
/// largest window.
pub const MAX_TOTAL_BYTES: usize = MAX_WINDOW_BYTES * BUDGET_PER_BYTE + (64 << 10);

/// How deep decoding goes: 1 is a view of the input, 2 a view of a view (the
/// base64 config inside a JWT payload, the UTF-16 script inside base64), 3
/// one more (base64 inside a JSON string inside base64). Encoded text that
/// is still found at this depth makes the input [`Decoded::capped`].
pub const MAX_DEPTH: u8 = 3;

/// Bytes of the line before a base64 run that its view keeps: the name a
/// value is assigned to (`AWS_SECRET_ACCESS_KEY: <base64>`) is evidence the
/// detector needs.
const CONTEXT_BEFORE: usize = 128;

/// Longest base64 run decoded in one view, in characters: its decoded bytes
/// and context fit in [`MAX_VIEW_BYTES`].
const MAX_RUN_CHARS: usize = (MAX_VIEW_BYTES - CONTEXT_BEFORE) / 3 * 4;

/// Shorter runs hold at most 11 bytes: no credential and too little text to
/// tell it from noise.
const MIN_RUN_CHARS: usize = 16;

/// How far a keyword's identifier (`secret_access_key`) may reach, and how
/// much glue (`": "`, ` = `) may separate it from its value, as in the
/// secret rule's pattern.
const IDENTIFIER_REACH: usize = 64;
const GLUE_REACH: usize = 16;

/// How far around a percent or escape hit its view reaches: its line and
/// `PAIR_DISTANCE_LINES` lines either side (a key ID in plain text pairs
/// with the escaped secret below it), but no more than this many bytes each
/// way (minified files are one long line).
const ESCAPE_REACH: usize = 8 << 10;

/// Without a byte-order mark, a UTF-16 view starts at most `UTF16_BEFORE`
/// bytes before its hit (at a line start when there is one) and ends at the
/// first line break `UTF16_AFTER` bytes past it, or `UTF16_AFTER` bytes
/// after that at the latest: small files are decoded whole, UTF-16 strings
/// in a large binary in windows.
const UTF16_BEFORE: usize = 8 << 10;
const UTF16_AFTER: usize = 64 << 10;

/// What each view costs the total budget beyond its bytes (its own size
/// and its map), so that a flood of tiny views is bounded too.
const VIEW_OVERHEAD: usize = 160;

/// The budget of an input of `len` bytes.
pub fn budget_for(len: usize) -> usize {
    MAX_TOTAL_BYTES.min(len.saturating_mul(BUDGET_PER_BYTE).saturating_add(64 << 10))
}

/// The encoding a view was decoded from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Base64 with the standard alphabet (`+`, `/`), padded or not.
    Base64,
    /// Base64 with the URL-safe alphabet (`-`, `_`): JWTs, URLs.
    Base64Url,
    /// Percent-encoding (`%2F`), double encoding (`%252F`) included.
    Percent,
    /// Backslash escapes of JSON and code: `\/`, `\"`, `\u002F`, `\x2F`.
    Escaped,
    /// UTF-16, little-endian (Windows, PowerShell).
    Utf16Le,
    /// UTF-16, big-endian.
    Utf16Be,
}

impl Encoding {
    /// Short name for reports: "found in {name}-decoded text".
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Base64 => "base64",
            Encoding::Base64Url => "base64url",
            Encoding::Percent => "percent",
            Encoding::Escaped => "escape",
            Encoding::Utf16Le => "UTF-16LE",
            Encoding::Utf16Be => "UTF-16BE",
        }
    }

    fn is_utf16(self) -> bool {
        matches!(self, Encoding::Utf16Le | Encoding::Utf16Be)
    }
}

/// Decoded text to scan, and where in the input it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedView {
    /// The last encoding undone (a view of a view names its own).
    pub encoding: Encoding,
    /// Bytes of the original input this view decodes: the base64 run (with
    /// its padding, over several lines when wrapped), the lines around
    /// percent or escape sequences (`PAIR_DISTANCE_LINES` either side), the
    /// UTF-16 text. At depth 2 and below, the input bytes its origin in its
    /// parent maps to.
    pub origin: Range<usize>,
    /// The decoded text: for base64, up to [`CONTEXT_BEFORE`] bytes of the
    /// run's line before it (undecoded), then the decoded bytes.
    pub bytes: Vec<u8>,
    /// Where the decoded part of `bytes` starts (0 unless base64 context
    /// precedes it). A finding entirely before it is one of the plain input.
    pub decoded_start: usize,
    /// 1 for a view of the input, 2 for a view of a view, and so on.
    pub depth: u8,
    /// The view (index in [`Decoded::views`]) this one was decoded from.
    pub parent: Option<usize>,
    /// What this view decodes, in the text it was decoded from (the input,
    /// or its parent's bytes).
    local: Range<usize>,
    map: Map,
}

/// How the bytes of a view map back to the text it was decoded from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Map {
    /// `bytes[..decoded_start]` is the text right before `local.start` as
    /// it is; decoded byte `d` is encoded by the run's character
    /// `skip + d / 3 * 4 + d % 3`, the characters being those of
    /// `segments` (one per line of a wrapped run) in order.
    Base64 {
        segments: Vec<Range<usize>>,
        /// Characters in the segments before each one.
        before: Vec<usize>,
        skip: usize,
    },
    /// Percent and escapes: line *n* of the view is line *n* of `local`.
    Lines,
    /// UTF-16 decoded from `from`: character by character.
    Utf16 { big: bool, from: usize },
}

impl DecodedView {
    /// The decoded part of the view, without base64 context.
    pub fn decoded(&self) -> &[u8] {
        self.bytes.get(self.decoded_start..).unwrap_or_default()
    }

    /// Where each of `points` (offsets in `bytes`, ascending) comes from in
    /// `text`, the text this view was decoded from: one pass over both.
    fn map_points(&self, text: &[u8], points: &[usize]) -> Vec<usize> {
        let local = self.local.start.min(text.len())..self.local.end.min(text.len());
        match &self.map {
            Map::Base64 {
                segments,
                before,
                skip,
            } => points
                .iter()
                .map(|&o| {
                    if o < self.decoded_start {
                        return (local.start + o).saturating_sub(self.decoded_start);
                    }
                    let d = o - self.decoded_start;
                    let c = skip + d / 3 * 4 + d % 3;
                    let k = before.partition_point(|&b| b <= c).saturating_sub(1);
                    match (segments.get(k), before.get(k)) {
                        (Some(segment), Some(&b)) if c - b < segment.len() => {
                            segment.start + (c - b)
                        }
                        _ => local.end,
                    }
                })
                .collect(),
            Map::Lines => {
                // (view offset, text offset) of the current line's start.
                let (mut view_line, mut text_line) = (0, local.start);
                let mut out = Vec::with_capacity(points.len());
                for &o in points {
                    let o = o.min(self.bytes.len());
                    while let Some(i) = memchr::memchr(b'\n', &self.bytes[view_line.min(o)..o]) {
                        view_line += i + 1;
                        text_line = match memchr::memchr(b'\n', &text[text_line..local.end]) {
                            Some(j) => text_line + j + 1,
                            None => local.end,
                        };
                    }
                    let line_end = memchr::memchr(b'\n', &text[text_line..local.end])
                        .map_or(local.end, |j| text_line + j);
                    out.push((text_line + (o - view_line)).min(line_end));
                }
                out
            }
            &Map::Utf16 { big, from } => {
                let (mut at, mut decoded) = (from.min(text.len()), 0);
                let mut out = Vec::with_capacity(points.len());
                for &o in points {
                    while decoded < o && at < local.end {
                        let Some((c, next)) = utf16_char(text, at, big) else {
                            break;
                        };
                        if decoded + c.len_utf8() > o {
                            break;
                        }
                        decoded += c.len_utf8();
                        at = next;
                    }
                    out.push(at.min(local.end));
                }
                out
            }
        }
    }
}

impl AsRef<[u8]> for DecodedView {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// All views of one input.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    /// In order of their origin.
    pub views: Vec<DecodedView>,
    /// Some encoded text was left undecoded: the total budget ran out, or
    /// views at [`MAX_DEPTH`] still hold encoded text. A scan of this input
    /// is incomplete.
    pub capped: bool,
}

impl Decoded {
    /// Where each `(view, offset in its bytes)` comes from in `input` (the
    /// input these views were made from): the input offset of the byte,
    /// character or unit that encodes it; for percent and escape views, the
    /// same line and about the same column. Linear in the views touched,
    /// however many requests (views of views are mapped through their
    /// parents, each view in one pass).
    pub fn to_input(&self, input: &[u8], requests: &[(usize, usize)]) -> Vec<usize> {
        let mut out = vec![0; requests.len()];
        let mut pending: Vec<Vec<(usize, usize)>> = vec![Vec::new(); self.views.len()];
        for (slot, &(view, offset)) in requests.iter().enumerate() {
            match pending.get_mut(view) {
                Some(list) => list.push((offset, slot)),
                None => out[slot] = input.len(),
            }
        }
        let mut order: Vec<usize> = (0..self.views.len()).collect();
        order.sort_by_key(|&v| std::cmp::Reverse(self.views[v].depth));
        for v in order {
            let mut points = std::mem::take(&mut pending[v]);
            if points.is_empty() {
                continue;
            }
            points.sort_unstable();
            let view = &self.views[v];
            let text = match view.parent.and_then(|p| self.views.get(p)) {
                Some(parent) => &parent.bytes[..],
                None => input,
            };
            let offsets: Vec<usize> = points.iter().map(|p| p.0).collect();
            let mapped = view.map_points(text, &offsets);
            for (&(_, slot), at) in points.iter().zip(mapped) {
                match view.parent {
                    Some(p) if p < pending.len() => pending[p].push((at, slot)),
                    _ => out[slot] = at.min(input.len()),
                }
            }
        }
        out
    }
}

/// A literal whose presence means decoding may pay, and what it stands for.
#[derive(Clone, Copy, Debug)]
pub struct Trigger {
    /// Matched case-sensitively: feed these to the prefilter.
    pub literal: &'static [u8],
    kind: Kind,
}

impl Trigger {
    /// Whether this is a keyword in plain text (`secret`) rather than an
    /// encoded form: a rule's prefilter may already look for it.
    pub(crate) fn is_keyword(&self) -> bool {
        self.kind == Kind::Keyword
    }

    /// Whether this is base64 text (prefilters group triggers by kind).
    pub fn is_base64(&self) -> bool {
        matches!(self.kind, Kind::Base64(_))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Base64 text of an AWS literal; its first character sits at this
    /// position (0-3) of its four-character quantum, which gives the run's
    /// alignment even when the run starts with something else (`token-eyJ…`).
    Base64(u8),
    /// A secret keyword in plain text: the value assigned to it may be base64
    /// (`AWS_SECRET_ACCESS_KEY: <base64>` in a Kubernetes Secret).
    Keyword,
    /// A percent or backslash escape of a character of a secret.
    Escape(Encoding),
    /// ASCII text in UTF-16, either byte order.
    Utf16,
}

const fn base64(literal: &'static [u8], phase: u8) -> Trigger {
    Trigger {
        literal,
        kind: Kind::Base64(phase),
    }
}

const fn keyword(literal: &'static [u8]) -> Trigger {
    Trigger {
        literal,
        kind: Kind::Keyword,
    }
}

const fn escape(literal: &'static [u8], encoding: Encoding) -> Trigger {
    Trigger {
        literal,
        kind: Kind::Escape(encoding),
    }
}

const fn utf16(literal: &'static [u8]) -> Trigger {
    Trigger {
        literal,
        kind: Kind::Utf16,
    }
}

/// Every trigger literal. The base64 ones are the characters that encode an
/// AWS literal whatever surrounds it, at each of the three byte alignments
/// (the test `base64_triggers_are_the_encodings_of_their_literals` derives
/// them again).
pub const TRIGGERS: &[Trigger] = &[
    // Base64 of the key ID prefixes, `aws_`, `AWS_` and `ecret` (`secret`,
    // `Secret`), `ECRET`, at byte offsets 0, 1 and 2 of a 3-byte group.
    base64(b"QUtJQ", 0),
    base64(b"FLSU", 2),
    base64(b"BS0lB", 3),
    base64(b"QVNJQ", 0),
    base64(b"FTSU", 2),
    base64(b"BU0lB", 3),
    base64(b"QUJJQ", 0),
    base64(b"FCSU", 2),
    base64(b"BQklB", 3),
    base64(b"QUNDQ", 0),
    base64(b"FDQ0", 2),
    base64(b"BQ0NB", 3),
    base64(b"YXdzX", 0),
    base64(b"F3c1", 2),
    base64(b"hd3Nf", 3),
    base64(b"QVdTX", 0),
    base64(b"FXU1", 2),
    base64(b"BV1Nf", 3),
    base64(b"ZWNyZX", 0),
    base64(b"VjcmV0", 2),
    base64(b"lY3Jld", 3),
    base64(b"RUNSRV", 0),
    base64(b"VDUkVU", 2),
    base64(b"FQ1JFV", 3),
    // Base64 of the same in UTF-16LE (PowerShell `-EncodedCommand`).
    base64(b"QQBLAEkAQQ", 0),
    base64(b"EASwBJAEEA", 2),
    base64(b"BAEsASQBBA", 3),
    base64(b"QQBTAEkAQQ", 0),
    base64(b"EAUwBJAEEA", 2),
    base64(b"BAFMASQBBA", 3),
    base64(b"YQB3AHMAXw", 0),
    base64(b"EAdwBzAF8A", 2),
    base64(b"hAHcAcwBfA", 3),
    base64(b"QQBXAFMAXw", 0),
    base64(b"EAVwBTAF8A", 2),
    base64(b"BAFcAUwBfA", 3),
    base64(b"ZQBjAHIAZQB0A", 0),
    base64(b"UAYwByAGUAdA", 2),
    base64(b"lAGMAcgBlAHQA", 3),
    base64(b"RQBDAFIARQBUA", 0),
    base64(b"UAQwBSAEUAVA", 2),
    base64(b"FAEMAUgBFAFQA", 3),
    // Base64 of an STS session token (itself base64, by its two headers),
    // as a whole value: a Kubernetes Secret's AWS_SESSION_TOKEN.
    base64(b"RndvR1pYSXZZWGR6", 0),
    base64(b"SVFvSmIzSnBaMmx1WDJWa", 0),
    // Base64 of `{"` and a name: a JWT segment or any base64 JSON object,
    // which may hold base64 in turn (the config inside a JWT payload).
    base64(b"eyJ", 0),
    // Secret keywords in plain text, for values assigned to them in base64.
    // The secret rule's prefilter literal `secret` finds these too: its hits
    // may be passed as trigger hits (every hit is verified).
    keyword(b"secret"),
    keyword(b"Secret"),
    keyword(b"SECRET"),
    // Percent-encoded `/`, `+`, `=`, once or twice.
    escape(b"%2F", Encoding::Percent),
    escape(b"%2f", Encoding::Percent),
    escape(b"%2B", Encoding::Percent),
    escape(b"%2b", Encoding::Percent),
    escape(b"%3D", Encoding::Percent),
    escape(b"%3d", Encoding::Percent),
    escape(b"%252F", Encoding::Percent),
    escape(b"%252f", Encoding::Percent),
    escape(b"%252B", Encoding::Percent),
    escape(b"%252b", Encoding::Percent),
    // Escaped `/` (JSON, PHP's json_encode), and `\u002F`, `\u002B`,
    // `\u0022`, `\x2F`, `\x2B`, `\x22` … by their common prefix.
    escape(b"\\/", Encoding::Escaped),
    escape(b"\\u002", Encoding::Escaped),
    escape(b"\\x2", Encoding::Escaped),
    // ASCII in UTF-16, without the outer zero bytes so that one literal
    // matches both byte orders (the hit's parity tells them apart).
    utf16(b"A\0K\0I\0A"),
    utf16(b"A\0S\0I\0A"),
    utf16(b"A\0B\0I\0A"),
    utf16(b"A\0C\0C\0A"),
    utf16(b"a\0w\0s\0_"),
    utf16(b"A\0W\0S\0_"),
    utf16(b"e\0c\0r\0e\0t"),
    utf16(b"E\0C\0R\0E\0T"),
];

/// The trigger automaton: anchored searches verify the hits we are given,
/// unanchored ones find hits in decoded views. A contiguous NFA: it builds
/// in a fraction of a millisecond (a DFA takes several, paid by every hook
/// run that meets a trigger) and only ever reads hits and views, not whole
/// inputs.
fn automaton() -> &'static AhoCorasick {
    static AUTOMATON: OnceLock<AhoCorasick> = OnceLock::new();
    AUTOMATON.get_or_init(|| {
        AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .start_kind(StartKind::Both)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(TRIGGERS.iter().map(|t| t.literal))
            .expect("the trigger literals build an automaton (checked by tests)")
    })
}

/// Start offsets of every trigger in `input`: for a caller that has no
/// prefilter pass of its own to take them from.
pub fn trigger_offsets(input: &[u8]) -> Vec<usize> {
    automaton()
        .try_find_iter(Input::new(input))
        .map(|matches| matches.map(|m| m.start()).collect())
        .unwrap_or_default()
}

/// Every decoded view of `input` worth scanning.
///
/// `trigger_hits` are the start offsets where a [`TRIGGERS`] literal
/// matched (extra or wrong offsets are harmless: each is verified, and those
/// that start no trigger are ignored). Views of views are included, down to
/// [`MAX_DEPTH`]. Cheap to call on every input: with no trigger among the
/// hits and no UTF-16 byte-order mark at offset 0 it returns at once.
pub fn decoded_views(input: &[u8], trigger_hits: &[usize]) -> Decoded {
    decoded_window(input, trigger_hits, None)
}

/// [`decoded_views`] of a window of a longer input. `utf16`: the whole
/// input is UTF-16 of this byte order (it starts with a byte-order mark, and
/// the window starts on a unit), so the window is decoded whole as UTF-16
/// as the first window is.
pub fn decoded_window(input: &[u8], trigger_hits: &[usize], utf16: Option<bool>) -> Decoded {
    decode_within(
        input,
        trigger_hits,
        utf16,
        Budget::of(budget_for(input.len())),
    )
}

fn decode_within(
    input: &[u8],
    trigger_hits: &[usize],
    utf16: Option<bool>,
    mut budget: Budget,
) -> Decoded {
    let bom = match utf16 {
        Some(big) => Utf16Text::Whole { big, from: 0 },
        None => Utf16Text::Detect,
    };
    let mut views = decode_level(input, 0, trigger_hits, bom, &mut budget);
    for view in &mut views {
        view.origin = view.local.clone();
    }
    // Decoded content → origins: a view of a view that only repeats a view
    // already made from the same place (a JWT on a line that also has `\/`)
    // is dropped.
    let mut seen: HashMap<u64, BTreeMap<usize, usize>> = HashMap::new();
    for view in &views {
        remember(&mut seen, view);
    }
    let mut level = 0..views.len();
    // One level past the deepest: what it would decode is what was left.
    for depth in 2..=MAX_DEPTH + 1 {
        let mut children: Vec<(usize, DecodedView)> = Vec::new();
        for p in level.clone() {
            if budget.capped {
                break;
            }
            let parent = &views[p];
            let offset = parent.decoded_start;
            let hits: Vec<usize> = trigger_offsets(parent.decoded())
                .into_iter()
                .map(|h| h + offset)
                .collect();
            let utf16 = if parent.encoding.is_utf16() {
                Utf16Text::No
            } else {
                Utf16Text::Detect
            };
            let found = decode_level(&parent.bytes, offset, &hits, utf16, &mut budget);
            children.extend(found.into_iter().map(|child| (p, child)));
        }
        if children.is_empty() {
            break;
        }
        let requests: Vec<(usize, usize)> = children
            .iter()
            .flat_map(|(p, child)| [(*p, child.local.start), (*p, child.local.end)])
            .collect();
        let scratch = Decoded {
            views,
            capped: false,
        };
        let places = scratch.to_input(input, &requests);
        views = scratch.views;
        let first = views.len();
        for (i, (p, mut child)) in children.into_iter().enumerate() {
            let start = places[2 * i];
            child.origin = start..places[2 * i + 1].max(start);
            child.depth = depth;
            child.parent = Some(p);
            let repeated = seen
                .get(&content_key(child.decoded()))
                .is_some_and(|origins| overlaps(origins, &child.origin));
            if repeated {
                budget.refund(child.bytes.len());
            } else if usize::from(depth) > usize::from(MAX_DEPTH) {
                // Encoded text below the deepest level decoded.
                budget.capped = true;
            } else {
                remember(&mut seen, &child);
                views.push(child);
            }
        }
        level = first..views.len();
    }
    // In order of origin; parents renumbered.
    let mut order: Vec<usize> = (0..views.len()).collect();
    order.sort_by_key(|&v| (views[v].origin.start, views[v].depth, v));
    let mut new_index = vec![0; views.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new;
    }
    let mut slots: Vec<Option<DecodedView>> = views.into_iter().map(Some).collect();
    let views = order
        .iter()
        .filter_map(|&old| slots[old].take())
        .map(|mut view| {
            view.parent = view.parent.map(|p| new_index[p]);
            view
        })
        .collect();
    Decoded {
        views,
        capped: budget.capped,
    }
}

/// Whether (and how) text may be UTF-16 as a whole.
#[derive(Clone, Copy, Debug)]
enum Utf16Text {
    /// UTF-16 views only where hits are, or of all of it after a
    /// byte-order mark.
    Detect,
    /// All of it, from `from`, in this byte order.
    Whole { big: bool, from: usize },
    /// Never (it was decoded from UTF-16 already).
    No,
}

/// The total budget of one input.
struct Budget {
    left: usize,
    capped: bool,
}

impl Budget {
    fn of(bytes: usize) -> Budget {
        Budget {
            left: bytes,
            capped: false,
        }
    }

    /// Pays for a view of `bytes` bytes; once one does not fit, nothing
    /// more is decoded.
    fn charge(&mut self, bytes: usize) -> bool {
        let cost = bytes.saturating_add(VIEW_OVERHEAD);
        if self.capped || cost > self.left {
            self.capped = true;
            self.left = 0;
            return false;
        }
        self.left -= cost;
        true
    }

    fn refund(&mut self, bytes: usize) {
        if !self.capped {
            self.left += bytes + VIEW_OVERHEAD;
        }
    }
}

fn content_key(bytes: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

fn remember(seen: &mut HashMap<u64, BTreeMap<usize, usize>>, view: &DecodedView) {
    let origins = seen.entry(content_key(view.decoded())).or_default();
    let end = origins.entry(view.origin.start).or_default();
    *end = (*end).max(view.origin.end);
}

/// Whether `range` overlaps one of `origins` (start → end). Views of the
/// same content have disjoint origins (one blob repeated in a file), so the
/// last one starting before the end of `range` is the only candidate: a
/// logarithmic test, where comparing with each would be quadratic.
fn overlaps(origins: &BTreeMap<usize, usize>, range: &Range<usize>) -> bool {
    origins
        .range(..range.end.max(range.start + 1))
        .next_back()
        .is_some_and(|(_, &end)| end > range.start)
}

/// Views of `text` (origins in `text`, depth unset), from the hits at or
/// after `floor`. At depth 2, `text` is a view and `floor` its decoded part.
fn decode_level(
    text: &[u8],
    floor: usize,
    hits: &[usize],
    utf16: Utf16Text,
    budget: &mut Budget,
) -> Vec<DecodedView> {
    let hits = classify(text, floor, hits);
    let utf16 = match utf16 {
        Utf16Text::Detect => match utf16_bom(text.get(floor..).unwrap_or_default()) {
            Some(big) => Utf16Text::Whole {
                big,
                from: floor + 2,
            },
            None => Utf16Text::Detect,
        },
        other => other,
    };
    let mut out = Vec::new();
    if hits.is_empty() && !matches!(utf16, Utf16Text::Whole { .. }) {
        return out;
    }
    base64_views(text, floor, &hits, budget, &mut out);
    escape_views(text, floor, &hits, budget, &mut out);
    if !matches!(utf16, Utf16Text::No) {
        utf16_views(text, floor, &hits, utf16, budget, &mut out);
    }
    out
}

/// The hits that really start a trigger, sorted, with what each stands for.
fn classify(text: &[u8], floor: usize, hits: &[usize]) -> Vec<(usize, Kind)> {
    let mut offsets: Vec<usize> = hits
        .iter()
        .copied()
        .filter(|&h| h >= floor && h < text.len())
        .collect();
    offsets.sort_unstable();
    offsets.dedup();
    offsets
        .into_iter()
        .filter_map(|h| {
            let input = Input::new(text).range(h..).anchored(Anchored::Yes);
            let found = automaton().try_find(input).ok()??;
            Some((h, TRIGGERS.get(found.pattern().as_usize())?.kind))
        })
        .collect()
}

/// A view of depth 1 of `local`: `decode_within` sets its origin, depth
/// and parent.
fn view(
    encoding: Encoding,
    local: Range<usize>,
    bytes: Vec<u8>,
    start: usize,
    map: Map,
) -> DecodedView {
    DecodedView {
        encoding,
        origin: local.clone(),
        bytes,
        decoded_start: start,
        depth: 1,
        parent: None,
        local,
        map,
    }
}

// ---------------------------------------------------------------- base64

/// Base64 value of each character (both alphabets), 0xFF for the others.
const SEXTETS: [u8; 256] = {
    let mut table = [0xFF; 256];
    let mut i = 0;
    while i < 26 {
        table[b'A' as usize + i] = i as u8;
        table[b'a' as usize + i] = 26 + i as u8;
        if i < 10 {
            table[b'0' as usize + i] = 52 + i as u8;
        }
        i += 1;
    }
    table[b'+' as usize] = 62;
    table[b'-' as usize] = 62;
    table[b'/' as usize] = 63;
    table[b'_' as usize] = 63;
    table
};

fn is_base64_char(b: u8) -> bool {
    SEXTETS[usize::from(b)] != 0xFF
}

fn base64_at(text: &[u8], i: usize) -> bool {
    text.get(i).copied().is_some_and(is_base64_char)
}

/// Decodes base64 characters (either alphabet, no padding) leniently: a
/// trailing partial quantum gives the bytes it holds, a lone character none.
fn decode_base64(chars: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(chars.len() / 4 * 3 + 2);
    for quantum in chars.chunks(4) {
        let mut bits: u32 = 0;
        for (i, &c) in quantum.iter().enumerate() {
            bits |= u32::from(SEXTETS[usize::from(c)] & 0x3F) << (18 - 6 * i);
        }
        let bytes = bits.to_be_bytes();
        let whole = quantum.len().saturating_sub(1);
        out.extend_from_slice(bytes.get(1..1 + whole).unwrap_or_default());
    }
    out
}

/// A base64 run: one segment, or several when it is wrapped over lines
/// (`base64` wraps at 76 columns, PEM-style tools at 64).
struct Run {
    segments: Vec<Range<usize>>,
    /// Characters in the segments before each segment.
    before: Vec<usize>,
    chars: usize,
    /// After the padding of the last segment.
    end: usize,
}

impl Run {
    fn start(&self) -> usize {
        self.segments.first().map_or(self.end, |s| s.start)
    }

    fn chars(&self, text: &[u8]) -> Vec<u8> {
        let mut chars = Vec::with_capacity(self.chars);
        for segment in &self.segments {
            chars.extend_from_slice(text.get(segment.clone()).unwrap_or_default());
        }
        chars
    }

    /// The position of `offset` among the run's characters.
    fn index_of(&self, offset: usize) -> Option<usize> {
        let k = self.segments.partition_point(|s| s.end <= offset);
        let segment = self.segments.get(k).filter(|s| s.start <= offset)?;
        Some(self.before.get(k)? + (offset - segment.start))
    }

    fn url_safe(&self, text: &[u8]) -> bool {
        self.segments.iter().any(|s| {
            text.get(s.clone())
                .is_some_and(|t| t.iter().any(|&b| b == b'-' || b == b'_'))
        })
    }
}

/// The base64 run around `at`, within `lo..hi`, joined with the lines it
/// wraps over.
fn run_around(text: &[u8], at: usize, lo: usize, hi: usize) -> Run {
    let hi = hi.min(text.len());
    let at = at.clamp(lo.min(hi), hi);
    let (mut start, mut end) = (at, at);
    while start > lo && base64_at(text, start - 1) {
        start -= 1;
    }
    while end < hi && base64_at(text, end) {
        end += 1;
    }
    let mut earlier = Vec::new();
    let mut first = start..end;
    while let Some(previous) = wrapped_line_before(text, &first, lo) {
        earlier.push(previous.clone());
        first = previous;
    }
    let mut segments: Vec<Range<usize>> = earlier.into_iter().rev().collect();
    segments.push(start..end);
    while let Some(next) = segments
        .last()
        .and_then(|last| wrapped_line_after(text, last, hi))
    {
        segments.push(next);
    }
    let mut before = Vec::with_capacity(segments.len());
    let mut chars = 0;
    for segment in &segments {
        before.push(chars);
        chars += segment.len();
    }
    let last_end = segments.last().map_or(end, |s| s.end);
    let padding = text
        .get(last_end..)
        .unwrap_or_default()
        .iter()
        .take(2)
        .take_while(|&&b| b == b'=')
        .count();
    Run {
        segments,
        before,
        chars,
        end: last_end + padding,
    }
}

/// Whether a run ending at `at` ends its line (after its padding).
fn ends_line(text: &[u8], at: usize) -> bool {
    let mut i = at;
    while i < at + 2 && text.get(i) == Some(&b'=') {
        i += 1;
    }
    if text.get(i) == Some(&b'\r') {
        i += 1;
    }
    matches!(text.get(i), None | Some(b'\n'))
}

/// Whether a segment ending a line can be continued on the next: whole
/// quanta (so joining does not shift the alignment) and no padding.
fn continues(segment: &Range<usize>) -> bool {
    segment.len() >= MIN_RUN_CHARS && segment.len().is_multiple_of(4)
}

/// The segment on the line above that `segment` continues, when `segment`
/// is a whole (indented) line.
fn wrapped_line_before(text: &[u8], segment: &Range<usize>, lo: usize) -> Option<Range<usize>> {
    if !ends_line(text, segment.end) {
        return None;
    }
    let mut i = segment.start;
    while i > lo && matches!(text.get(i - 1), Some(b' ' | b'\t')) {
        i -= 1;
    }
    if i <= lo || text.get(i - 1) != Some(&b'\n') {
        return None;
    }
    let mut end = i - 1;
    if end > lo && text.get(end - 1) == Some(&b'\r') {
        end -= 1;
    }
    let mut start = end;
    while start > lo && base64_at(text, start - 1) {
        start -= 1;
    }
    Some(start..end).filter(continues)
}

/// The segment on the line below that continues `last`: a whole (indented)
/// line of base64.
fn wrapped_line_after(text: &[u8], last: &Range<usize>, hi: usize) -> Option<Range<usize>> {
    if !continues(last) {
        return None;
    }
    let mut i = last.end;
    if text.get(i) == Some(&b'\r') {
        i += 1;
    }
    if text.get(i) != Some(&b'\n') {
        return None;
    }
    i += 1;
    while i < hi && matches!(text.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    let start = i;
    while i < hi && base64_at(text, i) {
        i += 1;
    }
    (i > start && ends_line(text, i)).then_some(start..i)
}

fn is_identifier_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// Where the value assigned to the keyword at `at` starts: past the rest of
/// its identifier and at most `GLUE_REACH` bytes of glue, with at most one
/// line break (`name:\n  value`).
fn value_after_keyword(text: &[u8], at: usize) -> Option<usize> {
    let mut i = at;
    let reach = at + IDENTIFIER_REACH;
    while text.get(i).copied().is_some_and(is_identifier_char) {
        i += 1;
        if i > reach {
            return None;
        }
    }
    let (mut glue, mut line_break) = (0, false);
    loop {
        let b = *text.get(i)?;
        if is_base64_char(b) {
            return Some(i);
        }
        if b == b'\n' {
            if line_break {
                return None;
            }
            line_break = true;
            glue = 0;
        } else {
            glue += 1;
            if glue > GLUE_REACH {
                return None;
            }
        }
        i += 1;
    }
}

/// Start of the line holding `at`, but not before `floor`.
fn line_start(text: &[u8], at: usize, floor: usize) -> usize {
    let floor = floor.min(at);
    text.get(floor..at)
        .and_then(|s| memchr::memrchr(b'\n', s))
        .map_or(floor, |i| floor + i + 1)
}

/// Views of the base64 runs that the hits point into (or that a keyword is
/// assigned), each run decoded once.
fn base64_views(
    text: &[u8],
    floor: usize,
    hits: &[(usize, Kind)],
    budget: &mut Budget,
    out: &mut Vec<DecodedView>,
) {
    // End of the last run decoded: no run is decoded twice, and no context
    // is repeated, which keeps all of this linear.
    let mut done = floor;
    for (i, &(hit, kind)) in hits.iter().enumerate() {
        if budget.capped {
            return;
        }
        if hit < done {
            continue;
        }
        let (run, anchor) = match kind {
            Kind::Base64(_) => {
                let lo = done.max(hit.saturating_sub(MAX_RUN_CHARS / 2));
                (run_around(text, hit, lo, hit + MAX_RUN_CHARS / 2), None)
            }
            Kind::Keyword => match value_after_keyword(text, hit) {
                Some(value) => (
                    run_around(text, value, value, value + MAX_RUN_CHARS),
                    Some(hit),
                ),
                None => continue,
            },
            _ => continue,
        };
        let context_floor = done;
        done = run.end.max(hit + 1);
        if run.chars < MIN_RUN_CHARS {
            continue;
        }
        // Alignments: those the base64 triggers in the run imply, then the
        // run's own start.
        let mut skips: Vec<usize> = Vec::with_capacity(4);
        for &(other, other_kind) in hits.get(i..).unwrap_or_default() {
            if other >= run.end || skips.len() == 4 {
                break;
            }
            if let (Kind::Base64(phase), Some(index)) = (other_kind, run.index_of(other)) {
                let skip = (index % 4 + 4 - usize::from(phase % 4)) % 4;
                if !skips.contains(&skip) {
                    skips.push(skip);
                }
            }
        }
        if !skips.contains(&0) {
            skips.push(0);
        }
        let chars = run.chars(text);
        let start = run.start();
        let anchor = anchor.unwrap_or(start);
        let context_from = line_start(
            text,
            anchor,
            anchor.saturating_sub(CONTEXT_BEFORE).max(context_floor),
        )
        .min(start);
        for skip in skips {
            let decoded = decode_base64(chars.get(skip..).unwrap_or_default());
            if !looks_like_text(&decoded) {
                continue;
            }
            let context = text.get(context_from..start).unwrap_or_default();
            let map_bytes = run.segments.len() * 3 * std::mem::size_of::<usize>();
            if !budget.charge(context.len() + decoded.len() + map_bytes) {
                return;
            }
            let mut bytes = Vec::with_capacity(context.len() + decoded.len());
            bytes.extend_from_slice(context);
            bytes.extend_from_slice(&decoded);
            let encoding = if run.url_safe(text) {
                Encoding::Base64Url
            } else {
                Encoding::Base64
            };
            let map = Map::Base64 {
                segments: run.segments.clone(),
                before: run.before.clone(),
                skip,
            };
            out.push(view(encoding, start..run.end, bytes, context.len(), map));
            break;
        }
    }
}

/// Whether decoded bytes are text worth scanning (binary that merely
/// happened to be base64 is not): 90% printable UTF-8 or UTF-16, or an AWS
/// literal in any case.
fn looks_like_text(bytes: &[u8]) -> bool {
    if bytes.is_empty() {
        return false;
    }
    let printable: usize = bytes
        .utf8_chunks()
        .map(|chunk| {
            chunk
                .valid()
                .chars()
                .filter(|&c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
                .map(char::len_utf8)
                .sum::<usize>()
        })
        .sum();
    mostly(printable, bytes.len()) || utf16_text(bytes) || mentions_aws(bytes)
}

fn mostly(part: usize, whole: usize) -> bool {
    part.saturating_mul(10) >= whole.saturating_mul(9)
}

/// ASCII text as UTF-16 (PowerShell's `-EncodedCommand` is base64 of it).
fn utf16_text(bytes: &[u8]) -> bool {
    let units = bytes.len() / 2;
    if units < 4 {
        return false;
    }
    let text = |b: u8| b.is_ascii_graphic() || matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let pairs = bytes.chunks_exact(2);
    let le = pairs.clone().filter(|p| p[1] == 0 && text(p[0])).count();
    let be = pairs.filter(|p| p[0] == 0 && text(p[1])).count();
    mostly(le, units) || mostly(be, units)
}

fn mentions_aws(bytes: &[u8]) -> bool {
    let has = |needle: &[u8]| memchr::memmem::find(bytes, needle).is_some();
    let has_any_case = |needle: &[u8]| {
        bytes
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
    };
    has(b"AKIA") || has(b"ASIA") || has_any_case(b"aws_") || has_any_case(b"secret")
}

// ------------------------------------------------------ percent, escapes

/// Views of the lines around percent or escape hits: each hit's line and
/// `PAIR_DISTANCE_LINES` lines either side (at most `ESCAPE_REACH` bytes
/// each way), overlapping or touching stretches joined into one view.
fn escape_views(
    text: &[u8],
    floor: usize,
    hits: &[(usize, Kind)],
    budget: &mut Budget,
    out: &mut Vec<DecodedView>,
) {
    let mut pending: Option<(Range<usize>, Encoding)> = None;
    let mut covered = floor;
    for &(hit, kind) in hits {
        let Kind::Escape(encoding) = kind else {
            continue;
        };
        if hit < covered {
            continue;
        }
        let start = lines_before(text, hit, covered.max(hit.saturating_sub(ESCAPE_REACH)));
        let end = lines_after(text, hit, hit + ESCAPE_REACH);
        covered = end.max(hit + 1);
        match &mut pending {
            Some((region, _))
                if start <= region.end + 1 && end - region.start <= MAX_VIEW_BYTES =>
            {
                region.end = end;
            }
            _ => {
                if let Some((region, encoding)) = pending.take() {
                    if !push_unescaped(text, region, encoding, budget, out) {
                        return;
                    }
                }
                pending = Some((start..end, encoding));
            }
        }
    }
    if let Some((region, encoding)) = pending {
        push_unescaped(text, region, encoding, budget, out);
    }
}

/// Start of the line `PAIR_DISTANCE_LINES` lines above the one holding
/// `at`, but not before `floor`.
fn lines_before(text: &[u8], at: usize, floor: usize) -> usize {
    let floor = floor.min(at);
    text.get(floor..at)
        .and_then(|s| memchr::memrchr_iter(b'\n', s).nth(PAIR_DISTANCE_LINES))
        .map_or(floor, |i| floor + i + 1)
}

/// End (the `\n`) of the line `PAIR_DISTANCE_LINES` lines below the one
/// holding `at`, but not after `ceiling`.
fn lines_after(text: &[u8], at: usize, ceiling: usize) -> usize {
    let ceiling = ceiling.min(text.len()).max(at);
    text.get(at..ceiling)
        .and_then(|s| memchr::memchr_iter(b'\n', s).nth(PAIR_DISTANCE_LINES))
        .map_or(ceiling, |i| at + i)
}

/// Adds the view of `region` unescaped, if that changes it. False once the
/// budget is spent.
fn push_unescaped(
    text: &[u8],
    region: Range<usize>,
    encoding: Encoding,
    budget: &mut Budget,
    out: &mut Vec<DecodedView>,
) -> bool {
    let raw = text.get(region.clone()).unwrap_or_default();
    let decoded = unescape(raw);
    if decoded == raw {
        return true;
    }
    if !budget.charge(decoded.len()) {
        return false;
    }
    out.push(view(encoding, region, decoded, 0, Map::Lines));
    true
}

/// Undoes percent-encoding and backslash escapes, twice when the first pass
/// leaves some (`%252F`, JSON in a JSON string). Never longer than its
/// input, and never adds or drops a line break.
fn unescape(raw: &[u8]) -> Vec<u8> {
    let once = unescape_once(raw);
    let again = once != raw && (once.contains(&b'%') || once.contains(&b'\\'));
    if again {
        unescape_once(&once)
    } else {
        once
    }
}

fn unescape_once(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        match b {
            b'%' => match hex_value(s, i + 1, 2) {
                Some(v) => {
                    out.push(no_line_break(v as u8));
                    i += 3;
                }
                None => {
                    out.push(b);
                    i += 1;
                }
            },
            b'\\' => {
                // A run of backslashes is one escape whatever the nesting
                // depth: a backslash is never part of a credential, so
                // dropping it only rejoins what the escape split.
                while s.get(i) == Some(&b'\\') {
                    i += 1;
                }
                match s.get(i) {
                    Some(b'u') => {
                        if let Some(v) = hex_value(s, i + 1, 4) {
                            let c = char::from_u32(v).unwrap_or(char::REPLACEMENT_CHARACTER);
                            let c = if c == '\n' || c == '\r' { ' ' } else { c };
                            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                            i += 5;
                        }
                    }
                    Some(b'x') => {
                        if let Some(v) = hex_value(s, i + 1, 2) {
                            out.push(no_line_break(v as u8));
                            i += 3;
                        }
                    }
                    Some(b'n' | b'r' | b'b' | b'f' | b'v') => {
                        out.push(b' ');
                        i += 1;
                    }
                    Some(b't') => {
                        out.push(b'\t');
                        i += 1;
                    }
                    // The escaped character itself (`/`, `"`, a line
                    // break…) is copied on the next turn.
                    _ => {}
                }
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The value of `digits` hex digits at `at`.
fn hex_value(s: &[u8], at: usize, digits: usize) -> Option<u32> {
    let hex = s.get(at..at + digits)?;
    hex.iter()
        .try_fold(0u32, |acc, &b| Some(acc << 4 | char::from(b).to_digit(16)?))
}

/// An encoded line break decodes to a space: views keep lines 1:1.
fn no_line_break(b: u8) -> u8 {
    if b == b'\n' || b == b'\r' {
        b' '
    } else {
        b
    }
}

// ---------------------------------------------------------------- UTF-16

/// The byte order a UTF-16 byte-order mark at the start of `text` gives
/// (true: big-endian).
fn utf16_bom(text: &[u8]) -> Option<bool> {
    match text.get(..2)? {
        [0xFF, 0xFE] => Some(false),
        [0xFE, 0xFF] => Some(true),
        _ => None,
    }
}

/// UTF-16 views. With a byte-order mark the whole text is UTF-16: it is
/// decoded from the start in views of at most [`MAX_VIEW_BYTES`]. Without
/// one, each hit not yet covered starts a view a little before it.
fn utf16_views(
    text: &[u8],
    floor: usize,
    hits: &[(usize, Kind)],
    utf16: Utf16Text,
    budget: &mut Budget,
    out: &mut Vec<DecodedView>,
) {
    let encoding = |big: bool| {
        if big {
            Encoding::Utf16Be
        } else {
            Encoding::Utf16Le
        }
    };
    if let Utf16Text::Whole { big, from } = utf16 {
        let (mut origin, mut at) = (floor, from);
        while at < text.len() {
            let (bytes, end) = decode_utf16(text, at, big, usize::MAX);
            if end <= at || !budget.charge(bytes.len()) {
                return;
            }
            let map = Map::Utf16 { big, from: at };
            out.push(view(encoding(big), origin..end, bytes, 0, map));
            (origin, at) = (end, end);
        }
        return;
    }
    // Per byte order: where its views so far end, and whether it has one.
    let mut covered = [floor; 2];
    let mut started = [false; 2];
    for &(hit, kind) in hits {
        if kind != Kind::Utf16 || budget.capped {
            continue;
        }
        // Units start at even offsets from `floor`: ASCII at an even offset
        // is the low byte of a little-endian unit, at an odd one the low
        // byte of a big-endian unit. (Text at odd offsets in the other byte
        // order decodes to the same ASCII.)
        let big = (hit - floor) % 2 == 1;
        let order = usize::from(big);
        if hit < covered[order] {
            continue;
        }
        let unit = hit - usize::from(big);
        let start = if !started[order] && hit - floor < UTF16_BEFORE {
            floor
        } else {
            let lo = covered[order].max(unit.saturating_sub(UTF16_BEFORE).max(floor));
            let lo = lo + (lo - floor) % 2;
            unit_line_start(text, lo, unit, big)
        };
        started[order] = true;
        let (bytes, end) = decode_utf16(text, start, big, hit + UTF16_AFTER);
        covered[order] = end.max(hit + 1);
        if end <= start || !budget.charge(bytes.len()) {
            continue;
        }
        let map = Map::Utf16 { big, from: start };
        out.push(view(encoding(big), start..end, bytes, 0, map));
    }
}

fn unit_at(text: &[u8], at: usize, big: bool) -> Option<u16> {
    let pair = [*text.get(at)?, *text.get(at + 1)?];
    Some(if big {
        u16::from_be_bytes(pair)
    } else {
        u16::from_le_bytes(pair)
    })
}

/// The character at `at` (lossily: an unpaired surrogate is U+FFFD) and
/// where the next one starts.
fn utf16_char(text: &[u8], at: usize, big: bool) -> Option<(char, usize)> {
    let unit = unit_at(text, at, big)?;
    let mut next = at + 2;
    let c = match unit {
        0xD800..=0xDBFF => match unit_at(text, next, big) {
            Some(low @ 0xDC00..=0xDFFF) => {
                next += 2;
                let high = u32::from(unit - 0xD800) << 10;
                char::from_u32(0x10000 + high + u32::from(low - 0xDC00))
            }
            _ => None,
        },
        _ => char::from_u32(u32::from(unit)),
    };
    Some((c.unwrap_or(char::REPLACEMENT_CHARACTER), next))
}

/// The first unit after the last line break before `unit`, not before `lo`.
fn unit_line_start(text: &[u8], lo: usize, unit: usize, big: bool) -> usize {
    let mut at = unit;
    while at >= lo + 2 {
        if unit_at(text, at - 2, big) == Some(u16::from(b'\n')) {
            return at;
        }
        at -= 2;
    }
    lo
}

/// Decodes UTF-16 from `start` (lossily: unpaired surrogates become
/// U+FFFD) into at most [`MAX_VIEW_BYTES`]. It stops after a line break
/// once past `until` or near that size, and `UTF16_AFTER` past `until` in
/// any case. Returns the text and where decoding stopped.
fn decode_utf16(text: &[u8], start: usize, big: bool, until: usize) -> (Vec<u8>, usize) {
    let hard = MAX_VIEW_BYTES - 4;
    let soft = hard - hard / 16;
    let stop = until.saturating_add(UTF16_AFTER);
    let mut out = Vec::new();
    let mut at = start;
    while out.len() < hard && at < stop {
        let Some((c, next)) = utf16_char(text, at, big) else {
            // A trailing odd byte belongs to no unit: cover it all the same.
            at = at.max(text.len());
            break;
        };
        at = next;
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        if c == '\n' && (out.len() >= soft || at >= until) {
            break;
        }
    }
    (out, at)
}

/// Base64 of `data` (standard or URL-safe alphabet, padded or not), for
/// the tests of every module that meets encoded credentials.
#[cfg(test)]
pub(crate) fn encode_base64(data: &[u8], url_safe: bool, pad: bool) -> String {
    let alphabet: &[u8; 64] = if url_safe {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for group in data.chunks(3) {
        let mut bits = 0u32;
        for (i, &b) in group.iter().enumerate() {
            bits |= u32::from(b) << (16 - 8 * i);
        }
        for i in 0..=group.len() {
            out.push(char::from(alphabet[(bits >> (18 - 6 * i)) as usize & 63]));
        }
        if pad {
            out.push_str(&"=="[..3 - group.len()]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::detect::{Detection, Detector};
    use crate::engine::rules::CredentialKind;
    use std::time::{Duration, Instant};

    // Fake credentials, assembled so that this file holds none whole.
    fn key_id() -> String {
        format!("{}{}", "AKIA", "QYLPMN5HHHFPZAM2")
    }
    fn secret_key() -> String {
        format!("{}{}", "Zr4nK2pQ9sVw7xYb3cDe", "5fGh1jKl6mNo8pQr0sTu")
    }
    /// One with `/` and `+`, the characters that get escaped.
    fn slashed_secret() -> String {
        format!("{}{}", "Zr4nK2pQ9sVw7x/b3cDe", "5fGh1jK+6mNo8pQr0sTu")
    }
    fn credentials_file() -> String {
        format!(
            "[default]\nregion = eu-west-1\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            key_id(),
            slashed_secret()
        )
    }

    /// The gitleaks test JWT: its payload's `config` is a base64 AWS config
    /// (public test data; the key ID in it is not a real one).
    const GITLEAKS_JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwiY29uZmlnIjoiVzJSbFptRjFiSFJkQ25KbFoybHZiaUE5SUhWekxXVmhjM1F0TWdwaGQzTmZZV05qWlhOelgydGxlVjlwWkNBOUlFRlRTVUZKVDFOR1QwUk9UamRNV0UweE1FcEpDbUYzYzE5elpXTnlaWFJmWVdOalpYTnpYMnRsZVNBOUlIZEtZV3h5V0ZWMGJrWkZUVWt2U3pkTlJFVk9SeTlpVUhoU1ptbERXVVZHVlVORWJFVllNVUVLIiwiaWF0IjoxNTE2MjM5MDIyfQ.8gxviXEOuIBQk2LvTYHSf-wXVhnEKC3h4yM5nlOF4zA"; // keygate:allow (public test data)

    fn b64(data: impl AsRef<[u8]>) -> String {
        encode_base64(data.as_ref(), false, true)
    }
    fn utf16le(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }
    fn utf16be(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_be_bytes).collect()
    }
    fn percent(s: &str) -> String {
        s.replace('/', "%2F")
            .replace('+', "%2B")
            .replace('=', "%3D")
    }

    fn decode(input: &[u8]) -> Decoded {
        decoded_views(input, &trigger_offsets(input))
    }
    fn find(haystack: &[u8], needle: impl AsRef<[u8]>) -> Option<usize> {
        memchr::memmem::find(haystack, needle.as_ref())
    }
    fn range_of(haystack: &str, needle: &str) -> Range<usize> {
        let start = haystack.find(needle).expect("needle in haystack");
        start..start + needle.len()
    }
    /// The one view whose decoded text holds `needle`.
    fn view_with<'a>(decoded: &'a Decoded, needle: &str) -> &'a DecodedView {
        let found: Vec<&DecodedView> = decoded
            .views
            .iter()
            .filter(|v| find(v.decoded(), needle).is_some())
            .collect();
        assert_eq!(found.len(), 1, "views holding {needle:?}: {decoded:#?}");
        found[0]
    }
    fn detections(view: &DecodedView) -> Vec<Detection> {
        Detector::builtin().detect(&view.bytes)
    }
    fn lines(bytes: &[u8]) -> usize {
        memchr::memchr_iter(b'\n', bytes).count()
    }
    /// Where `offset` of `view` comes from in `input`: the offset, and its
    /// 0-based line (`\n` bytes before it).
    fn at(decoded: &Decoded, input: &[u8], view: &DecodedView, offset: usize) -> (usize, usize) {
        let index = decoded
            .views
            .iter()
            .position(|v| std::ptr::eq(v, view))
            .expect("a view of this result");
        let offset = decoded.to_input(input, &[(index, offset)])[0];
        (offset, lines(&input[..offset]))
    }
    fn total(decoded: &Decoded) -> usize {
        decoded.views.iter().map(|v| v.bytes.len()).sum()
    }

    /// xorshift: reproducible noise without a dependency.
    struct Noise(u64);
    impl Noise {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    // ------------------------------------------------------------ triggers

    #[test]
    fn base64_triggers_are_the_encodings_of_their_literals() {
        // For a literal at byte offset k of a 3-byte group, the characters
        // whose six bits all come from the literal.
        fn stable(literal: &[u8], k: usize) -> (String, u8) {
            let mut data = vec![0u8; k];
            data.extend_from_slice(literal);
            while !data.len().is_multiple_of(3) {
                data.push(0);
            }
            let encoded = b64(&data);
            let first = (8 * k).div_ceil(6);
            let last = 8 * (k + literal.len()) / 6;
            (encoded[first..last].to_string(), (first % 4) as u8)
        }
        let mut expected = Vec::new();
        let plain: [&str; 8] = [
            "AKIA", "ASIA", "ABIA", "ACCA", "aws_", "AWS_", "ecret", "ECRET",
        ];
        let wide: [&str; 6] = ["AKIA", "ASIA", "aws_", "AWS_", "ecret", "ECRET"];
        let literals = plain
            .iter()
            .map(|l| l.as_bytes().to_vec())
            .chain(wide.iter().map(|l| utf16le(l)));
        for literal in literals {
            for k in 0..3 {
                expected.push(stable(&literal, k));
            }
        }
        for header in ["FwoGZXIvYXdz", "IQoJb3JpZ2luX2Vj"] {
            expected.push(stable(header.as_bytes(), 0));
        }
        expected.push(("eyJ".to_string(), 0));
        let actual: Vec<(String, u8)> = TRIGGERS
            .iter()
            .filter_map(|t| match t.kind {
                Kind::Base64(phase) => Some((String::from_utf8_lossy(t.literal).into(), phase)),
                _ => None,
            })
            .collect();
        assert_eq!(actual, expected);
        assert!(expected.iter().all(|(s, _)| s.len() >= 3));
    }

    #[test]
    fn trigger_literals_are_distinct_and_verified_case_sensitively() {
        let mut literals: Vec<&[u8]> = TRIGGERS.iter().map(|t| t.literal).collect();
        literals.sort();
        literals.dedup();
        assert_eq!(literals.len(), TRIGGERS.len());
        let _ = automaton();
        // A case-folded hit (the detector's prefilter ignores case) is not one.
        let input = b"xx qutjq yy %2F";
        assert_eq!(
            classify(input, 0, &[3, 12]),
            vec![(12, Kind::Escape(Encoding::Percent))]
        );
    }

    // ------------------------------------------------------------ base64

    #[test]
    fn kubernetes_secret_values_are_decoded_with_their_names() {
        let id64 = b64(key_id());
        let secret64 = b64(secret_key());
        let manifest = format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: deploy\ntype: Opaque\ndata:\n  \
             AWS_ACCESS_KEY_ID: {id64}\n  AWS_SECRET_ACCESS_KEY: {secret64}\n  region: ZXUtd2VzdC0x\n"
        );
        let decoded = decode(manifest.as_bytes());
        assert!(!decoded.capped);

        let id_view = view_with(&decoded, &key_id());
        assert_eq!(id_view.origin, range_of(&manifest, &id64));
        // The last decoded byte comes from the run's last quantum.
        let last = id_view.bytes.len() - 1;
        let (offset, line) = at(&decoded, manifest.as_bytes(), id_view, last);
        assert_eq!(line, 6);
        assert!(id_view.origin.contains(&offset) && offset + 4 >= id_view.origin.end);
        // Its context is the name before it, as it is.
        let (offset, _) = at(&decoded, manifest.as_bytes(), id_view, 2);
        assert_eq!(offset, manifest.find("AWS_ACCESS_KEY_ID").unwrap());
        assert_eq!(id_view.encoding, Encoding::Base64);
        assert_eq!(id_view.depth, 1);

        // The secret's base64 holds no trigger: its name does.
        let secret_view = view_with(&decoded, &secret_key());
        assert_eq!(secret_view.origin, range_of(&manifest, &secret64));
        assert_eq!(
            secret_view.bytes,
            format!("  AWS_SECRET_ACCESS_KEY: {}", secret_key()).into_bytes()
        );
        let found = detections(secret_view);
        assert!(found.iter().any(|d| d.value == secret_key()), "{found:#?}");
        assert!(detections(id_view).iter().any(|d| d.value == key_id()));
    }

    #[test]
    fn wrapped_base64_of_a_credentials_file_is_one_view() {
        let text = credentials_file();
        let encoded = b64(&text);
        let wrapped: Vec<&str> = encoded
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        assert!(wrapped.len() >= 2);
        let input = format!("# base64 ~/.aws/credentials\n{}\n", wrapped.join("\n"));
        let decoded = decode(input.as_bytes());
        assert_eq!(decoded.views.len(), 1, "{decoded:#?}");
        let view = &decoded.views[0];
        assert_eq!(view.bytes, text.as_bytes());
        assert_eq!(view.decoded_start, 0);
        let first_line = input.find('\n').unwrap() + 1;
        assert_eq!(view.origin, first_line..input.len() - 1);
        let found = detections(view);
        assert!(
            found
                .iter()
                .any(|d| d.kind == CredentialKind::CredentialPair),
            "{found:#?}"
        );
    }

    #[test]
    fn data_url_payload_is_decoded() {
        let encoded = b64(credentials_file());
        let input = format!("<a href=\"data:text/plain;base64,{encoded}\">creds</a>\n");
        let decoded = decode(input.as_bytes());
        let view = view_with(&decoded, &key_id());
        assert_eq!(view.origin, range_of(&input, &encoded));
        assert!(find(view.decoded(), slashed_secret()).is_some());
    }

    #[test]
    fn jwt_payload_is_its_own_run() {
        let header = encode_base64(br#"{"alg":"HS256","typ":"JWT"}"#, true, false);
        let claims = format!(
            r#"{{"sub":"ci-bot","aws_access_key_id":"{}","aws_secret_access_key":"{}"}}"#,
            key_id(),
            slashed_secret()
        );
        let payload = encode_base64(claims.as_bytes(), true, false);
        let jwt = format!("{header}.{payload}.c2lnbmF0dXJl_-c2ln");
        let input = format!("Authorization: Bearer {jwt}\n");
        let decoded = decode(input.as_bytes());
        let view = view_with(&decoded, &key_id());
        assert_eq!(view.origin, range_of(&input, &payload));
        assert_eq!(view.decoded(), claims.as_bytes());
        assert!(matches!(
            view.encoding,
            Encoding::Base64 | Encoding::Base64Url
        ));
        assert!(detections(view)
            .iter()
            .any(|d| d.kind == CredentialKind::CredentialPair));
    }

    #[test]
    fn gitleaks_jwt_holds_an_aws_config_at_depth_two() {
        let input = format!("token: {GITLEAKS_JWT}\n");
        let decoded = decode(input.as_bytes());
        let view = view_with(&decoded, "aws_access_key_id");
        assert_eq!(view.depth, 2);
        assert!(find(view.decoded(), "aws_secret_access_key").is_some());
        // It comes from the part of the JWT payload that encodes it.
        let payload = range_of(&input, GITLEAKS_JWT.split('.').nth(1).unwrap());
        assert!(payload.start < view.origin.start && view.origin.end <= payload.end);
        // The payload itself is a depth-1 view.
        assert!(decoded
            .views
            .iter()
            .any(|v| v.depth == 1 && find(v.decoded(), "\"config\"").is_some()));
    }

    #[test]
    fn powershell_encoded_command_is_base64_of_utf16() {
        let script = format!(
            "$env:AWS_ACCESS_KEY_ID = '{}'\r\n$env:AWS_SECRET_ACCESS_KEY = '{}'\r\n",
            key_id(),
            secret_key()
        );
        let encoded = b64(utf16le(&script));
        let input = format!("powershell.exe -NoProfile -EncodedCommand {encoded}\n");
        let decoded = decode(input.as_bytes());
        let view = view_with(&decoded, &key_id());
        assert_eq!(view.depth, 2);
        assert_eq!(view.encoding, Encoding::Utf16Le);
        assert_eq!(view.bytes, script.as_bytes());
        let run = range_of(&input, &encoded);
        assert!(run.start <= view.origin.start && view.origin.end <= run.end);
        assert!(view.origin.start - run.start <= 4 && run.end - view.origin.end <= 4);
        assert!(detections(view)
            .iter()
            .any(|d| d.kind == CredentialKind::CredentialPair));
    }

    #[test]
    fn misaligned_run_start_is_realigned_by_the_trigger() {
        // `token-` is base64url too: the run starts six characters early.
        let encoded = encode_base64(credentials_file().as_bytes(), true, false);
        let input = format!("x = token-{encoded};\n");
        let decoded = decode(input.as_bytes());
        let view = view_with(&decoded, &key_id());
        assert!(find(view.decoded(), slashed_secret()).is_some());
    }

    #[test]
    fn base64_of_binary_is_not_a_view() {
        let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
        let mut blob = b"{\"a".to_vec();
        blob.extend(noise.bytes(3000));
        let input = format!(
            "blob: {}\nclient_secret: {}\n",
            b64(&blob),
            b64(noise.bytes(30))
        );
        let hits = trigger_offsets(input.as_bytes());
        assert!(hits.len() >= 2, "the test must reach the decoder");
        assert_eq!(decoded_views(input.as_bytes(), &hits), Decoded::default());
    }

    #[test]
    fn plain_secret_after_a_keyword_is_not_decoded() {
        let input = format!(
            "aws_secret_access_key = {}\nSECRET_NAME=prod-deploy-user-credentials\n",
            secret_key()
        );
        assert_eq!(decode(input.as_bytes()), Decoded::default());
    }

    // --------------------------------------------------- percent, escapes

    #[test]
    fn percent_encoded_secret_in_a_url_is_decoded_with_its_lines() {
        let line = format!(
            "https://example.com/hook?aws_access_key_id={}&aws_secret_access_key={}&x=1",
            key_id(),
            percent(&slashed_secret())
        );
        let before = "l\n".repeat(9);
        let input = format!("{before}{line}\nafter\n");
        let decoded = decode(input.as_bytes());
        assert_eq!(decoded.views.len(), 1, "{decoded:#?}");
        let view = &decoded.views[0];
        assert_eq!(view.encoding, Encoding::Percent);
        // The line and four lines either side, as far as there are any.
        assert_eq!(view.origin, before.len() - 8..input.len());
        assert_eq!(at(&decoded, input.as_bytes(), view, 0).1, 5);
        assert!(find(&view.bytes, slashed_secret()).is_some());
        assert!(detections(view)
            .iter()
            .any(|d| d.kind == CredentialKind::CredentialPair));
    }

    #[test]
    fn findings_on_later_lines_of_a_view_are_located_on_their_line() {
        let second = format!("secret_key={}&aws=1", percent(&slashed_secret()));
        let input = format!("# form\nid={}&x=%2F\n{second}\n", key_id());
        let decoded = decode(input.as_bytes());
        assert_eq!(decoded.views.len(), 1, "{decoded:#?}");
        let view = &decoded.views[0];
        assert_eq!(at(&decoded, input.as_bytes(), view, 0), (0, 0));
        let found = detections(view);
        let pair = found
            .iter()
            .find(|d| d.kind == CredentialKind::CredentialPair)
            .expect("the key ID and its secret, one line apart, make a pair");
        let (_, _, secret_span) = pair.secret.clone().unwrap();
        assert_eq!(
            at(&decoded, input.as_bytes(), view, secret_span.start),
            (input.find(&second).unwrap() + "secret_key=".len(), 2)
        );
        assert_eq!(at(&decoded, input.as_bytes(), view, pair.span.start).1, 1);
    }

    #[test]
    fn double_and_lower_case_percent_encoding_is_decoded() {
        for encoded in [
            slashed_secret().replace('/', "%252F").replace('+', "%252B"),
            slashed_secret().replace('/', "%2f").replace('+', "%2b"),
        ] {
            let input = format!("curl -d 'aws_secret_access_key={encoded}' https://x\n");
            let decoded = decode(input.as_bytes());
            let view = view_with(&decoded, &slashed_secret());
            assert_eq!(view.origin, 0..input.len());
        }
    }

    #[test]
    fn encoded_line_breaks_never_add_lines() {
        let input = b"a=%0A%0D%2F\\n\\u000A\\x0a%250A\nb=%2F\n\nc=\\/\n";
        let decoded = decode(input);
        assert_eq!(decoded.views.len(), 1, "{decoded:#?}");
        let view = &decoded.views[0];
        assert_eq!(view.bytes, b"a=  /    \nb=/\n\nc=/\n");
        assert_eq!(lines(&view.bytes), lines(input));
    }

    #[test]
    fn escaped_slashes_in_json_and_code_are_decoded() {
        let secret = slashed_secret();
        for (slash, plus) in [
            ("\\/", "+"),
            ("\\u002F", "\\u002B"),
            ("\\u002f", "\\u002b"),
            ("\\x2F", "\\x2B"),
            ("\\\\\\/", "+"),
        ] {
            let escaped = secret.replace('/', slash).replace('+', plus);
            let input = format!(
                "{{\"AccessKeyId\":\"{}\",\n \"SecretAccessKey\":\"{escaped}\"}}\n",
                key_id()
            );
            let decoded = decode(input.as_bytes());
            let view = view_with(&decoded, &secret);
            assert_eq!(view.encoding, Encoding::Escaped);
            assert_eq!(view.origin, 0..input.len());
            // With the key ID a line above: one pair.
            let found = detections(view);
            assert!(
                found
                    .iter()
                    .any(|d| d.secret.as_ref().is_some_and(|s| s.0 == secret)),
                "{slash}: {found:#?}"
            );
        }
    }

    #[test]
    fn json_in_a_json_string_is_unescaped() {
        let inner = format!(
            r#"{{\"aws_access_key_id\":\"{}\",\"aws_secret_access_key\":\"{}\"}}"#,
            key_id(),
            slashed_secret().replace('/', "\\/")
        );
        let input = format!("{{\"credentials\":\"{inner}\"}}\n");
        let decoded = decode(input.as_bytes());
        let view = view_with(&decoded, &slashed_secret());
        assert!(find(
            &view.bytes,
            format!("\"aws_secret_access_key\":\"{}\"", slashed_secret())
        )
        .is_some());
        assert!(detections(view)
            .iter()
            .any(|d| d.kind == CredentialKind::CredentialPair));
    }

    #[test]
    fn json_escaped_base64_is_decoded_at_depth_two() {
        // PHP's json_encode escapes every `/`, splitting the base64 run.
        let mut text = credentials_file();
        text.push_str("# ???>>>\n"); // forces `/` and `+` into the base64
        let encoded = b64(&text);
        assert!(encoded.contains('/'));
        let input = format!("{{\"blob\":\"{}\"}}\n", encoded.replace('/', "\\/"));
        let decoded = decode(input.as_bytes());
        let whole: Vec<&DecodedView> = decoded
            .views
            .iter()
            .filter(|v| v.decoded() == text.as_bytes())
            .collect();
        assert_eq!(whole.len(), 1, "{decoded:#?}");
        assert_eq!(whole[0].depth, 2);
        let value = input.find(":\"").unwrap() + 2..input.len() - 3;
        // An escape view maps back column for column: about its end.
        assert_eq!(whole[0].origin.start, value.start);
        assert!(whole[0].origin.end.abs_diff(value.end) <= 2);
    }

    // ------------------------------------------------------------ UTF-16

    #[test]
    fn utf16_text_is_decoded_whole_with_its_lines() {
        let text = format!(
            "# exported by Get-Credential\r\n\r\nAccessKey: {}\r\nSecretKey: {}\r\n",
            key_id(),
            secret_key()
        );
        let bom_le = [&[0xFF, 0xFE][..], &utf16le(&text)].concat();
        let bom_be = [&[0xFE, 0xFF][..], &utf16be(&text)].concat();
        for (input, encoding) in [
            (bom_le, Encoding::Utf16Le),
            (bom_be, Encoding::Utf16Be),
            (utf16le(&text), Encoding::Utf16Le),
            (utf16be(&text), Encoding::Utf16Be),
        ] {
            let decoded = decode(&input);
            assert_eq!(decoded.views.len(), 1, "{encoding:?}: {decoded:#?}");
            let view = &decoded.views[0];
            assert_eq!(view.encoding, encoding);
            assert_eq!(view.origin, 0..input.len());
            assert_eq!(view.bytes, text.as_bytes());
            // Line numbers: the key ID is on line 3 of the text and of the view.
            let found = detections(view);
            assert!(
                found
                    .iter()
                    .any(|d| d.value == key_id() && d.location.line == 3),
                "{encoding:?}: {found:#?}"
            );
        }
    }

    #[test]
    fn utf16_with_a_bom_is_decoded_without_hits() {
        // Base64 inside UTF-16 holds no trigger the prefilter could see.
        let text = format!("config = {}\r\n", b64(credentials_file()));
        let input = [&[0xFF, 0xFE][..], &utf16le(&text)].concat();
        assert!(trigger_offsets(&input).is_empty());
        let decoded = decoded_views(&input, &[]);
        let view = view_with(&decoded, &key_id());
        assert_eq!(view.depth, 2);
        assert_eq!(view.encoding, Encoding::Base64);
        // Mapped to where its base64 starts in the UTF-16 text.
        assert_eq!(view.origin.start, 2 + 2 * "config = ".len());
    }

    #[test]
    fn large_utf16_is_decoded_in_windows_with_exact_lines() {
        // No byte-order mark, 10,000 lines of CJK: `上` (U+4E0A) puts 0x0A
        // bytes that are no line break all over the raw text.
        let filler = "上海上空 filler text\r\n";
        let mut text = filler.repeat(5000);
        text.push_str(&format!("AccessKeyId: {}\r\n", key_id()));
        text.push_str(&filler.repeat(5000));
        let input = utf16le(&text);
        assert!(lines(&input) > 10_000);
        let decoded = decode(&input);
        assert_eq!(decoded.views.len(), 1, "{:?}", decoded.views.len());
        let view = &decoded.views[0];
        assert!(view.origin.start > 0 && view.origin.end < input.len());
        assert!(view.bytes.len() < 2 * (UTF16_BEFORE + UTF16_AFTER));
        let found = detections(view);
        assert_eq!(found.len(), 1, "{found:#?}");
        // Mapped to its own unit; its line is the input's, as git's diff
        // counts lines: `\n` bytes, `上` included.
        let line_start = 2 * filler.encode_utf16().count() * 5000;
        let key_at = line_start + 2 * "AccessKeyId: ".len();
        assert_eq!(
            at(&decoded, &input, view, found[0].span.start),
            (key_at, lines(&input[..key_at]))
        );
        assert!(lines(&input[..key_at]) > 10_000);
    }

    #[test]
    fn lines_of_views_of_line_keeping_views_map_back() {
        // A percent view inside UTF-16: its origin is the lines it is on.
        let text = format!(
            "line one\nline two\nurl=https://x/?aws_secret_access_key={}\nline four\n",
            percent(&slashed_secret())
        );
        let input = [&[0xFF, 0xFE][..], &utf16le(&text)].concat();
        let decoded = decoded_views(&input, &[]);
        let view = view_with(&decoded, &slashed_secret());
        assert_eq!(view.depth, 2);
        assert_eq!(view.encoding, Encoding::Percent);
        let line = |offset: usize| lines(&input[..offset]);
        assert_eq!(line(view.origin.start), 0);
        assert_eq!(view.origin.end, input.len());
        let found = detections(view);
        let place = at(&decoded, &input, view, found[0].span.start);
        let column = "url=https://x/?aws_secret_access_key=".len();
        assert_eq!(place.1, 2);
        assert_eq!(place.0, 2 + 2 * ("line one\nline two\n".len() + column));
    }

    // ---------------------------------------------------- bounds, no panics

    #[test]
    fn no_hits_no_views() {
        let input = credentials_file().replace("aws_", "").replace("secret", "");
        assert_eq!(decoded_views(input.as_bytes(), &[]), Decoded::default());
        // Offsets that start no trigger are ignored, out of range ones too.
        assert_eq!(
            decoded_views(input.as_bytes(), &[0, 5, usize::MAX]),
            Decoded::default()
        );
        assert_eq!(decoded_views(b"", &[0, 1]), Decoded::default());
    }

    #[test]
    fn clean_source_file_has_no_triggers_and_returns_quickly() {
        let mut source = String::new();
        for i in 0..40_000 {
            source.push_str(&format!(
                "    let value_{i} = compute(&items[{i}..], \"label {i}\")?; // step {i}\n"
            ));
        }
        assert!(source.len() > 2_000_000);
        let started = Instant::now();
        let hits = trigger_offsets(source.as_bytes());
        let decoded = decoded_views(source.as_bytes(), &hits);
        assert!(hits.is_empty());
        assert_eq!(decoded, Decoded::default());
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    fn assert_bounded(input: &[u8], decoded: &Decoded) {
        let total = total(decoded);
        assert!(total <= MAX_TOTAL_BYTES, "{total}");
        assert!(
            total <= budget_for(input.len()),
            "{total} from {}",
            input.len()
        );
        for view in &decoded.views {
            assert!(view.bytes.len() <= MAX_VIEW_BYTES, "{}", view.bytes.len());
            assert!(view.origin.start <= view.origin.end && view.origin.end <= input.len());
            assert!((1..=MAX_DEPTH).contains(&view.depth));
            assert!(view.decoded_start <= view.bytes.len());
            if view.depth == 1 && matches!(view.encoding, Encoding::Percent | Encoding::Escaped) {
                assert_eq!(lines(&view.bytes), lines(&input[view.origin.clone()]));
            }
        }
        // Every offset of every view maps into the input, in order, and a
        // view of the input maps its decoded bytes into its origin; the
        // line of a byte of a line-keeping view is the line of its place.
        let mut requests = Vec::new();
        for (i, view) in decoded.views.iter().enumerate() {
            let n = view.bytes.len();
            let mut offsets = [
                0,
                view.decoded_start,
                n / 3,
                n / 2,
                n.saturating_sub(1),
                n,
                n + 5,
            ];
            offsets.sort_unstable();
            requests.extend(offsets.iter().map(|&offset| (i, offset)));
        }
        let places = decoded.to_input(input, &requests);
        for (chunk, view) in places.chunks(7).zip(&decoded.views) {
            assert!(chunk.windows(2).all(|w| w[0] <= w[1]), "{chunk:?}");
            assert!(chunk.iter().all(|&at| at <= input.len()));
            if view.depth == 1 && view.decoded_start == 0 {
                for &at in chunk {
                    assert!(
                        view.origin.start <= at && at <= view.origin.end,
                        "{at} outside {:?}",
                        view.origin
                    );
                }
            }
        }
        for (i, view) in decoded.views.iter().enumerate() {
            if view.depth != 1 || !matches!(view.encoding, Encoding::Percent | Encoding::Escaped) {
                continue;
            }
            let breaks: Vec<usize> = memchr::memchr_iter(b'\n', &view.bytes).collect();
            let requests: Vec<(usize, usize)> = breaks.iter().map(|&b| (i, b)).collect();
            let (mut counted, mut from) = (0, view.origin.start);
            for (k, at) in decoded.to_input(input, &requests).into_iter().enumerate() {
                counted += lines(&input[from..at]);
                from = at;
                assert_eq!(counted, k, "line break {k}");
            }
        }
    }

    #[test]
    fn adversarial_inputs_stay_within_the_caps() {
        let (mib, quarter) = (1 << 20, 1 << 18);
        let text_b64 = b64("aws_secret AKIA text ".repeat(3));
        let inputs: Vec<Vec<u8>> = vec![
            // One line of percent escapes.
            "%2F".repeat(mib / 3).into_bytes(),
            // One base64 run of text, triggers everywhere: views of 1 MiB.
            text_b64.repeat(mib / text_b64.len()).into_bytes(),
            // Base64 triggers, no valid text.
            "QUtJQFLSUhd3NfeyJ".repeat(mib / 17).into_bytes(),
            // Many short lines, each a view.
            format!("k: {text_b64}\n")
                .repeat(quarter / (text_b64.len() + 4))
                .into_bytes(),
            // Keywords everywhere.
            "secret=".repeat(quarter / 7).into_bytes(),
            // Escapes on many lines.
            "\\/\\u002F\n".repeat(quarter / 11).into_bytes(),
            // UTF-16 triggers at both parities.
            [&b"A\0K\0I\0A\0\n\0"[..], b"xA\0S\0I\0A"]
                .concat()
                .repeat(quarter / 21),
        ];
        for input in &inputs {
            let started = Instant::now();
            let decoded = decode(input);
            assert_bounded(input, &decoded);
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{:?} for {:?}…",
                started.elapsed(),
                String::from_utf8_lossy(&input[..20])
            );
        }
    }

    #[test]
    fn total_budget_marks_the_result_capped() {
        // UTF-16 text with base64 on every line: more views than a budget
        // of 256 KiB holds (the real one, 16 MiB, works the same way).
        let line = format!(
            "data = {}\n",
            b64("aws_secret_access_key = not a real one at all")
        );
        let mut input = vec![0xFF, 0xFE];
        input.extend(utf16le(&line).repeat((1 << 20) / (2 * line.len())));
        let decoded = decode_within(&input, &[], None, Budget::of(256 << 10));
        assert!(decoded.capped);
        assert!(total(&decoded) <= 256 << 10);
        // Within the real budget the same input is decoded whole.
        let decoded = decoded_views(&input, &[]);
        assert!(!decoded.capped);
        assert_bounded(&input, &decoded);
        assert_eq!(
            decoded.views.iter().filter(|v| v.depth == 2).count(),
            (input.len() - 2) / (2 * line.len())
        );
    }

    #[test]
    fn budget_is_spent_once_and_stays_spent() {
        let mut budget = Budget::of(1000);
        assert!(budget.charge(900 - VIEW_OVERHEAD));
        assert!(!budget.charge(200));
        assert!(budget.capped);
        // Nothing fits after the first view that did not.
        assert!(!budget.charge(0));
        assert_eq!(budget_for(10), 160 + (64 << 10));
        assert_eq!(budget_for(usize::MAX), MAX_TOTAL_BYTES);
    }

    #[test]
    fn random_inputs_never_panic_and_stay_bounded() {
        const PIECES: &[&[u8]] = &[
            b"QUtJQ",
            b"hd3Nf",
            b"eyJ",
            b"secret",
            b"SECRET: ",
            b"%2F",
            b"%25",
            b"%0A",
            b"\\/",
            b"\\u002F",
            b"\\u00",
            b"\\x2",
            b"\\\\",
            b"A\0K\0I\0A",
            b"e\0c\0r\0e\0t",
            b"\xFF\xFE",
            b"\xFE\xFF",
            b"\0\n",
            b"\n",
            b"\r\n",
            b"=",
            b"==",
            b".",
            b"\"",
            b" ",
            b"\xD8\x00",
            b"\xDC\x00",
            b"abcd",
            b"ABCDEFGHabcdefgh",
            b"+/-_",
            b"\xF0\x9F",
        ];
        let mut noise = Noise(0x2545_F491_4F6C_DD1D);
        for round in 0..3000 {
            let mut input = Vec::new();
            let pieces = (noise.next() % 64) as usize;
            for _ in 0..pieces {
                if noise.next().is_multiple_of(4) {
                    let n = (noise.next() % 8) as usize;
                    input.extend(noise.bytes(n));
                } else {
                    input.extend_from_slice(PIECES[(noise.next() as usize) % PIECES.len()]);
                }
            }
            if round % 3 == 0 {
                // Base64 of the noise, nested once.
                let nested = b64(&input);
                input.extend_from_slice(b"\nv: ");
                input.extend_from_slice(nested.as_bytes());
            }
            let mut hits = trigger_offsets(&input);
            for _ in 0..(noise.next() % 4) {
                hits.push((noise.next() as usize) % (input.len() + 8));
            }
            let decoded = decoded_views(&input, &hits);
            assert_bounded(&input, &decoded);
        }
    }

    #[test]
    fn decoders_are_lenient_and_safe() {
        assert_eq!(decode_base64(b"QUtJQQ"), b"AKIA");
        assert_eq!(decode_base64(b"QUtJQQx"), b"AKIA\x0c");
        assert_eq!(decode_base64(b"QUtJQQ-_"), b"AKIA\x0f\xbf");
        assert_eq!(decode_base64(b""), b"");
        assert_eq!(unescape(b"%2"), b"%2");
        assert_eq!(unescape(b"\\u00"), b"u00");
        assert_eq!(unescape(b"\\"), b"");
        assert_eq!(unescape(b"\\uD83D"), "\u{FFFD}".as_bytes());
        assert_eq!(unescape(b"a%252Fb%2Bc"), b"a/b+c");
        let all = usize::MAX;
        let lone_surrogate = decode_utf16(b"a\0\0\xD8b", 0, false, all);
        assert_eq!(lone_surrogate.0, "a\u{FFFD}".as_bytes());
        assert_eq!(decode_utf16(b"a\0b", 0, false, all), (b"a".to_vec(), 3));
        assert_eq!(utf16_bom(b"\xFF"), None);
    }
}
