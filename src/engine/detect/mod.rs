//! Finds AWS credentials in bytes.
//!
//! One pass of an Aho-Corasick automaton over the whole input finds every
//! prefilter literal of every rule; only a bounded window around each hit is
//! handed to that rule's regex. Input with no literal never reaches a regex,
//! which is what keeps a pre-commit hook in the millisecond range.
//!
//! A confirmed value then has to look like a credential (right length,
//! boundaries, not a placeholder or a hash); an access key ID with a secret a
//! few lines away becomes one credential pair.
//!
//! This module knows nothing about files, git or the allowlist: it takes bytes
//! and returns `Detection`s with byte offsets, lines and columns.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::{Range, RangeInclusive};
use std::sync::OnceLock;
use std::time::Instant;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex::bytes::Regex;

use crate::engine::decode;

mod lines;
mod plausible;

use crate::engine::rules::{
    Boundary, Confirmation, CredentialKind, Rule, PAIR_DISTANCE_LINES, PAIR_RULE_ID, RULES,
};
pub(crate) use lines::LineIndex;
pub use plausible::plausible;
pub(crate) use plausible::shannon_entropy;

/// A problem building the detectors (only custom rules can cause one).
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// A rule's pattern does not compile.
    #[error("rule `{id}`: invalid pattern: {source}")]
    PatternInvalid {
        /// The rule.
        id: String,
        /// What the regex compiler said.
        #[source]
        source: Box<regex::Error>,
    },
    /// The pattern has no group named `value`, nor the numbered group asked
    /// for (a custom rule's `secret_group`).
    #[error("rule `{id}`: the pattern has no capture group {group}")]
    ValueGroupMissing {
        /// The rule.
        id: String,
        /// The group asked for.
        group: usize,
    },
    /// A rule has no non-empty literal, so the prefilter could never lead to it.
    #[error("rule `{id}`: has no prefilter literal")]
    RuleWithoutLiterals {
        /// The rule.
        id: String,
    },
    /// The prefilter automaton is too large (too many or too long literals).
    #[error("prefilter could not be built: {0}")]
    Prefilter(#[from] aho_corasick::BuildError),
}

/// How far, in bytes, a rule's window reaches around a prefilter hit on one
/// line. Bounds the regex work on minified single-line files.
const WINDOW_BEFORE: usize = 256;
const WINDOW_AFTER: usize = 1024;
/// How far, in bytes, a secret may be from its key ID on the same long line.
const PAIR_DISTANCE_BYTES: usize = 2048;

/// Inputs longer than a window are scanned in windows: each detection is
/// owned by the window whose core holds its start, and the margins either
/// side are read with it, so that nothing a detection depends on is cut
/// (a rule's window, a pair's distance, the AWS hint, an escape view's
/// lines, a UTF-16 view's start, a base64 pair's reach are all a few KiB).
/// Memory and decoding budget are those of one window, whatever the input.
const WINDOW_CORE: usize = 4 << 20;
const WINDOW_MARGIN: usize = 256 << 10;
const _: () = assert!(WINDOW_CORE + 2 * WINDOW_MARGIN <= decode::MAX_WINDOW_BYTES);
// Windows start on even offsets: on a UTF-16 unit of a UTF-16 input.
const _: () = assert!(WINDOW_CORE.is_multiple_of(2) && WINDOW_MARGIN.is_multiple_of(2));

/// A position in the scanned input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, in characters when the line is UTF-8, else in bytes.
    pub column: usize,
}

/// One credential found in the input, before the allowlist is consulted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detection {
    /// The rule that found it.
    pub rule_id: String,
    /// What kind of credential it is.
    pub kind: CredentialKind,
    /// Where the credential starts (the key ID for a pair).
    pub location: Location,
    /// Byte range of the main value in the input.
    pub span: Range<usize>,
    /// The value (the key ID for a pair). Never printed in full.
    pub value: String,
    /// For a pair: the secret access key, its location and span.
    pub secret: Option<(String, Location, Range<usize>)>,
    /// For a credential found in decoded text: every line (1-based) of the
    /// input its value (and its pair's secret) was decoded from. A base64
    /// value wrapped over two lines comes from both; a line filter counts
    /// it when any of them counts. Empty for credentials found as they are.
    pub source_lines: Vec<RangeInclusive<usize>>,
    /// Why this is a credential, in words.
    pub evidence: String,
    /// How sure the rule is.
    pub confidence: Confidence,
}

/// How sure a detection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Confidence {
    /// Evidence beyond the shape of the value is weak (a generic `secret`
    /// name in AWS context, a token by its keyword only).
    Medium,
    /// The value's own format, an AWS keyword, or its pair proves it.
    High,
}

impl std::fmt::Display for Confidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Confidence::Medium => "medium",
            Confidence::High => "high",
        })
    }
}

impl Detection {
    /// Every line the detection touches: its own, its pair's, and for a
    /// decoded credential every line it was decoded from.
    pub fn lines(&self) -> impl Iterator<Item = usize> + '_ {
        std::iter::once(self.location.line)
            .chain(self.secret.as_ref().map(|s| s.1.line))
            .chain(self.source_lines.iter().flat_map(|r| r.clone()))
    }
}

/// Detections of a whole input, and whether it was scanned whole.
#[derive(Clone, Debug, Default)]
pub struct Detected {
    /// What was found, in input order.
    pub detections: Vec<Detection>,
    /// Why the input was not scanned whole (`None`: it was).
    pub incomplete: Option<Incomplete>,
}

/// Why an input was not scanned whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Incomplete {
    /// Encoded text was left undecoded (nested too deep, or more views than
    /// the budget holds).
    NotFullyDecoded,
    /// The deadline passed before the last window.
    OutOfTime,
}

/// A rule ready to run.
#[derive(Debug)]
struct CompiledRule {
    id: String,
    kind: CredentialKind,
    pattern: String,
    wanted_group: usize,
    /// The regex and the index of its value group, compiled on the first
    /// prefilter hit: most runs of a hook never need a regex at all, and
    /// compiling them all costs more than the whole scan of a small commit.
    regex: OnceLock<(Regex, usize)>,
    confirmation: Confirmation,
    boundary: Option<Boundary>,
    min_entropy: Option<f64>,
    description: String,
}

/// The compiled detectors: one prefilter and the rules behind it.
#[derive(Debug)]
pub struct Detector {
    prefilter: AhoCorasick,
    /// Prefilter pattern index → rule index.
    literal_rule: Vec<usize>,
    /// The literals of exact rules (the user's own keys, custom rules),
    /// searched on their own with every overlapping match: in the shared
    /// prefilter a built-in literal at the same place (`AKIA` at the start
    /// of the user's own `x<ID>y`) or overlapping it would shadow them.
    exact_prefilter: Option<AhoCorasick>,
    exact_literal_rule: Vec<usize>,
    rules: Vec<CompiledRule>,
    /// Literals that mention AWS, for generic `secret` names.
    aws_hint: AhoCorasick,
    /// The `decode` triggers: where an encoded credential may hide. All but
    /// `keyword_triggers`, in two automata (see `Detector::new`).
    triggers: Vec<AhoCorasick>,
    /// Trigger keywords that are prefilter literals too, left out of
    /// `triggers` (see `Detector::new`).
    keyword_triggers: Vec<memchr::memmem::Finder<'static>>,
}

/// A rule given as owned data: built-in rules, custom rules from the config,
/// and the user's own keys are all turned into this.
#[derive(Clone, Debug)]
pub struct RuleSpec {
    /// Names the rule in reports and fingerprints.
    pub id: String,
    /// What kind of credential it finds.
    pub kind: CredentialKind,
    /// One sentence: why a match is a credential.
    pub description: String,
    /// Prefilter literals: input without one of them never reaches the pattern.
    pub literals: Vec<String>,
    /// Match the literals in their usual spellings too (lower, UPPER,
    /// Capitalized): keywords are written all three ways.
    pub literal_spellings: bool,
    /// Regex over bytes; a group named `value` is the credential.
    pub pattern: String,
    /// The capture group holding the credential when the pattern has no
    /// group named `value` (0: the whole match).
    pub value_group: usize,
    /// How the pattern is used once a literal is found.
    pub confirmation: Confirmation,
    /// Characters that may not touch the value on either side (`None`: any may).
    pub boundary: Option<Boundary>,
    /// Custom rules: the value's Shannon entropy (bits per character) must reach this.
    pub min_entropy: Option<f64>,
    /// Compile when the detector is built (custom rules: errors surface at
    /// load); built-in rules compile on their first prefilter hit.
    pub eager: bool,
}

impl From<&Rule> for RuleSpec {
    fn from(rule: &Rule) -> Self {
        RuleSpec {
            id: rule.id.to_string(),
            kind: rule.kind,
            description: rule.description.to_string(),
            literals: rule.literals.iter().map(|l| l.to_string()).collect(),
            literal_spellings: rule.confirmation == Confirmation::Assignment,
            pattern: rule.pattern.to_string(),
            value_group: 0,
            confirmation: rule.confirmation,
            boundary: Some(rule.boundary),
            min_entropy: None,
            eager: false,
        }
    }
}

impl RuleSpec {
    /// A rule that finds the exact `values` (the user's own keys) anywhere.
    pub(crate) fn known_values(values: &[String]) -> Option<RuleSpec> {
        let values: Vec<&String> = values.iter().filter(|v| v.len() >= 16).collect();
        if values.is_empty() {
            return None;
        }
        let alternatives: Vec<String> = values.iter().map(|v| regex::escape(v)).collect();
        Some(RuleSpec {
            id: "aws-own-key".to_string(),
            kind: CredentialKind::KnownKey,
            description: "the exact value of one of your own AWS keys (from ~/.aws/credentials \
                          or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
                .to_string(),
            literals: values.iter().map(|v| v.to_string()).collect(),
            literal_spellings: false,
            pattern: format!("(?-i)(?P<value>{})", alternatives.join("|")),
            value_group: 0,
            confirmation: Confirmation::Exact,
            boundary: None,
            min_entropy: None,
            eager: true,
        })
    }

    /// The built-in rules except those whose id is in `disabled`.
    pub(crate) fn builtin_except(disabled: &[String]) -> Vec<RuleSpec> {
        RULES
            .iter()
            .filter(|r| !disabled.iter().any(|d| d == r.id))
            .map(RuleSpec::from)
            .collect()
    }
}

impl Detector {
    /// The built-in rules.
    pub fn builtin() -> Detector {
        Detector::new(RULES.iter().map(RuleSpec::from).collect())
            .expect("built-in rules compile (checked by tests)")
    }

    /// Built-in rules minus the disabled ids, plus custom rules.
    pub fn new(specs: Vec<RuleSpec>) -> Result<Detector, DetectError> {
        let mut literals = Vec::new();
        let mut literal_rule = Vec::new();
        let mut exact_literals = Vec::new();
        let mut exact_literal_rule = Vec::new();
        let mut rules = Vec::new();
        for (index, spec) in specs.into_iter().enumerate() {
            if spec.literals.iter().all(|l| l.is_empty()) {
                return Err(DetectError::RuleWithoutLiterals { id: spec.id });
            }
            let regex = OnceLock::new();
            if spec.eager {
                let _ = regex.set(compile(&spec.id, &spec.pattern, spec.value_group)?);
            }
            for literal in spec.literals.iter().filter(|l| !l.is_empty()) {
                let mut forms = vec![literal.clone()];
                if spec.literal_spellings {
                    forms.extend(spellings(literal));
                }
                forms.sort();
                forms.dedup();
                for form in forms {
                    if spec.confirmation == Confirmation::Exact {
                        exact_literals.push(form);
                        exact_literal_rule.push(index);
                    } else {
                        literals.push(form);
                        literal_rule.push(index);
                    }
                }
            }
            rules.push(CompiledRule {
                id: spec.id,
                kind: spec.kind,
                pattern: spec.pattern,
                wanted_group: spec.value_group,
                regex,
                confirmation: spec.confirmation,
                boundary: spec.boundary,
                min_entropy: spec.min_entropy,
                description: spec.description,
            });
        }
        // Case-sensitive literals (keywords in their usual spellings) keep
        // aho-corasick's SIMD prefilter in play: several GB/s on clean text,
        // where an ASCII-case-insensitive automaton crawls byte by byte. With
        // the prefilter doing the scanning, a contiguous NFA is as fast as a
        // DFA and a third of the build cost, which every hook run pays.
        let prefilter = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostFirst)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(&literals)?;
        let exact_prefilter = if exact_literals.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::Standard)
                    .build(&exact_literals)?,
            )
        };
        let aws_hint = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .build(["aws", "amazon", "s3", "akia", "asia"])?;
        // Trigger keywords the prefilter looks for anyway need no pass of
        // their own to tell a candidate input (they are common words, which
        // makes them the costliest literals of a pass); `detect` finds them
        // where a candidate needs their offsets.
        let (keywords, gated): (Vec<&decode::Trigger>, Vec<_>) = decode::TRIGGERS
            .iter()
            .partition(|t| t.is_keyword() && literals.iter().any(|l| l.as_bytes() == t.literal));
        let keyword_triggers = keywords
            .iter()
            .map(|t| memchr::memmem::Finder::new(t.literal))
            .collect();
        // In groups small enough for the SIMD (Teddy) prefilter, which stops
        // applying past 64 literals: two fast passes beat one automaton that
        // reads every byte. Grouped by kind, the base64 literals in one, the
        // escapes and UTF-16 literals in the other: on 50 MB of source code
        // (bench staged-tree, callgrind) that takes fewer instructions than
        // three groups of 24 in list order.
        let (base64, others): (Vec<&decode::Trigger>, Vec<_>) =
            gated.into_iter().partition(|t| t.is_base64());
        let triggers = [base64, others]
            .iter()
            .filter(|group| !group.is_empty())
            .map(|group| {
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::LeftmostFirst)
                    .kind(Some(AhoCorasickKind::ContiguousNFA))
                    .build(group.iter().map(|t| t.literal))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Detector {
            prefilter,
            literal_rule,
            exact_prefilter,
            exact_literal_rule,
            rules,
            aws_hint,
            triggers,
            keyword_triggers,
        })
    }

    /// Whether the input holds any prefilter literal at all: the cheap test
    /// that lets callers skip work (line diffs, attribution) for clean input.
    pub fn has_candidate(&self, input: &[u8]) -> bool {
        self.prefilter.is_match(input)
            || self
                .exact_prefilter
                .as_ref()
                .is_some_and(|p| p.is_match(input))
            || self.triggers.iter().any(|t| t.is_match(input))
            || starts_with_utf16_bom(input)
    }

    /// Every credential in `input`, in input order: in the bytes as they
    /// are, and in the decoded views (`decode`) of encoded regions, which are
    /// only made where a trigger literal says they may pay. Whatever could
    /// not be decoded is left out: see [`Detector::detect_all`].
    pub fn detect(&self, input: &[u8]) -> Vec<Detection> {
        self.detect_all(input, None).detections
    }

    /// Every credential in `input`, and whether all of it was read and
    /// decoded. A long input is scanned in windows (bounded memory, a decode
    /// budget per window, linear work); `deadline` is checked between them.
    pub fn detect_all(&self, input: &[u8], deadline: Option<Instant>) -> Detected {
        self.detect_in_windows(input, deadline, WINDOW_CORE, WINDOW_MARGIN)
    }

    /// [`Detector::detect_all`] with windows of `core` bytes, read with
    /// `margin` bytes either side (both even). Public for the fuzz targets
    /// (windows of a few KiB over inputs of a few KiB), not an API.
    #[doc(hidden)]
    pub fn detect_in_windows(
        &self,
        input: &[u8],
        deadline: Option<Instant>,
        core: usize,
        margin: usize,
    ) -> Detected {
        let (window_core, window_margin) = (core, margin);
        let mut found = Found::default();
        let mut incomplete = None;
        if input.len() <= window_core.saturating_add(2 * window_margin) {
            if self.detect_window(input, None, &Paired::default(), &mut found) {
                incomplete = Some(Incomplete::NotFullyDecoded);
            }
            return Detected {
                detections: found.finish(),
                incomplete,
            };
        }
        let utf16 = utf16_bom(input);
        // '\n' bytes before `counted`, and characters on its line before it.
        let (mut counted, mut lines_before, mut column_before) = (0, 0, 0);
        // How the windows before paired the key IDs in their cores: key ID
        // start → its secret's start (input offsets).
        let mut decided: BTreeMap<usize, Option<usize>> = BTreeMap::new();
        let mut core = 0;
        while core < input.len() && window_core > 0 {
            if deadline.is_some_and(|d| Instant::now() > d) {
                incomplete = Some(Incomplete::OutOfTime);
                break;
            }
            let core_end = (core + window_core).min(input.len());
            let start = core.saturating_sub(window_margin);
            let end = (core_end + window_margin).min(input.len());
            let skipped = &input[counted..start];
            match memchr::memrchr(b'\n', skipped) {
                Some(last) => {
                    lines_before += memchr::memchr_iter(b'\n', skipped).count();
                    column_before = chars(&skipped[last + 1..]);
                }
                None => column_before += chars(skipped),
            }
            counted = start;
            let mut window = Found::default();
            let utf16 = if start > 0 { utf16 } else { None };
            decided = decided.split_off(&start);
            let paired = Paired {
                core: core - start,
                decided: decided
                    .iter()
                    .map(|(&id, &secret)| (id - start, secret.and_then(|s| s.checked_sub(start))))
                    .collect(),
            };
            if self.detect_window(&input[start..end], utf16, &paired, &mut window) {
                incomplete.get_or_insert(Incomplete::NotFullyDecoded);
            }
            let shift = |d: &mut Detection| {
                d.span = d.span.start + start..d.span.end + start;
                let move_location = |l: &mut Location| {
                    if l.line == 1 {
                        l.column += column_before;
                    }
                    l.line += lines_before;
                };
                move_location(&mut d.location);
                if let Some((_, location, span)) = d.secret.as_mut() {
                    *span = span.start + start..span.end + start;
                    move_location(location);
                }
                for lines in d.source_lines.iter_mut() {
                    *lines = lines.start() + lines_before..=lines.end() + lines_before;
                }
            };
            for mut d in window.plain {
                shift(&mut d);
                // Owned by the window whose core holds its start.
                if (core..core_end).contains(&d.span.start) {
                    match (&d.secret, d.kind) {
                        (Some((_, _, secret)), _) => {
                            decided.insert(d.span.start, Some(secret.start));
                        }
                        (None, CredentialKind::AccessKeyId) => {
                            decided.insert(d.span.start, None);
                        }
                        _ => {}
                    }
                    found.plain.push(d);
                }
            }
            for mut d in window.decoded {
                shift(&mut d);
                found.decoded.push(d);
            }
            core = core_end;
        }
        Detected {
            detections: found.finish(),
            incomplete,
        }
    }

    /// Detections in one window, plain and decoded, into `found` (spans
    /// and lines of the window). True when decoding was not complete.
    /// `utf16`: the window is part of a UTF-16 input of this byte order.
    /// `paired`: how the windows before paired the key IDs before this
    /// window's core.
    fn detect_window(
        &self,
        input: &[u8],
        utf16: Option<bool>,
        paired: &Paired,
        found: &mut Found,
    ) -> bool {
        found.plain = self.detect_paired(input, paired);
        let hits = self.trigger_hits(input);
        if hits.is_empty() && !starts_with_utf16_bom(input) && utf16.is_none() {
            return false;
        }
        let decoded = decode::decoded_window(input, &hits, utf16);
        if decoded.views.is_empty() {
            return decoded.capped;
        }
        // Plain detections come sorted by start, their spans do not overlap.
        let plain: Vec<Range<usize>> = found.plain.iter().map(|d| d.span.clone()).collect();
        let mut in_views: Vec<(usize, Detection)> = Vec::new();
        for (index, view) in decoded.views.iter().enumerate() {
            // A credential found as it is that the encoded region is part of
            // (a Bedrock key's presigned request names its ASIA key).
            let i = plain.partition_point(|s| s.start <= view.origin.start);
            if i > 0 && view.origin.end <= plain[i - 1].end {
                continue;
            }
            for detection in self.detect_plain(&view.bytes) {
                let ends = std::iter::once(detection.span.end)
                    .chain(detection.secret.as_ref().map(|s| s.2.end));
                if ends.into_iter().all(|end| end <= view.decoded_start) {
                    continue; // undecoded context: already seen in the input
                }
                in_views.push((index, detection));
            }
        }
        // Each value's first and last byte, mapped to the input at once.
        let mut requests = Vec::with_capacity(4 * in_views.len());
        for (view, d) in &in_views {
            let spans = std::iter::once(&d.span).chain(d.secret.as_ref().map(|s| &s.2));
            for span in spans {
                requests.push((*view, span.start));
                requests.push((*view, span.end.saturating_sub(1).max(span.start)));
            }
        }
        let places = decoded.to_input(input, &requests);
        let lines = LineIndex::new(input);
        let mut places = places.into_iter();
        let mut place = || {
            let first = places.next().unwrap_or(input.len()).min(input.len());
            let last = places.next().unwrap_or(first).clamp(first, input.len());
            let range = lines.line_of(first) + 1..=lines.line_of(last) + 1;
            (lines.location(input, first), first..first, range)
        };
        for (view, mut d) in in_views {
            let (location, span, range) = place();
            (d.location, d.span) = (location, span);
            d.source_lines = vec![range];
            if let Some((_, location, span)) = d.secret.as_mut() {
                let (at, secret_span, range) = place();
                (*location, *span) = (at, secret_span);
                d.source_lines.push(range);
            }
            d.evidence = format!(
                "{} (found in {}-decoded text)",
                d.evidence,
                decoded.views[view].encoding.name()
            );
            found.decoded.push(d);
        }
        decoded.capped
    }

    /// Where a `decode` trigger starts in `input`, sorted.
    fn trigger_hits(&self, input: &[u8]) -> Vec<usize> {
        let mut hits: Vec<usize> = self
            .triggers
            .iter()
            .flat_map(|t| t.find_iter(input).map(|m| m.start()))
            .chain(
                self.keyword_triggers
                    .iter()
                    .flat_map(|k| k.find_iter(input)),
            )
            .collect();
        hits.sort_unstable();
        hits
    }

    /// The byte ranges of `input` that give away a credential `detect`
    /// finds: each value found as it is, and the whole encoded region of
    /// every decoded view with a finding in it (which `detect` places at an
    /// offset, not a range). For hiding credentials in text (`error::scrub`):
    /// the same triggers, views and rules as `detect`, so the two cannot
    /// disagree; a region may hide more than the credential.
    pub fn secret_regions(&self, input: &[u8]) -> Vec<Range<usize>> {
        let spans = |detections: Vec<Detection>| {
            detections
                .into_iter()
                .flat_map(|d| std::iter::once(d.span).chain(d.secret.map(|(_, _, span)| span)))
        };
        let mut regions: Vec<Range<usize>> = spans(self.detect_plain(input)).collect();
        let hits = self.trigger_hits(input);
        if !hits.is_empty() || starts_with_utf16_bom(input) {
            for view in decode::decoded_views(input, &hits).views {
                if !self.detect_plain(&view.bytes).is_empty() {
                    regions.push(view.origin);
                }
            }
        }
        regions.retain(|r| !r.is_empty());
        regions
    }

    /// Detections in the bytes as they are.
    fn detect_plain(&self, input: &[u8]) -> Vec<Detection> {
        self.detect_paired(input, &Paired::default())
    }

    /// [`Detector::detect_plain`], the key IDs before `paired.core` paired
    /// as `paired` says.
    fn detect_paired(&self, input: &[u8], paired: &Paired) -> Vec<Detection> {
        // Windows per rule, from prefilter hits.
        let mut windows: Vec<Vec<Range<usize>>> = vec![Vec::new(); self.rules.len()];
        let shared = self
            .prefilter
            .find_iter(input)
            .map(|hit| (self.literal_rule[hit.pattern().as_usize()], hit));
        let exact = self.exact_prefilter.iter().flat_map(|p| {
            p.find_overlapping_iter(input)
                .map(|hit| (self.exact_literal_rule[hit.pattern().as_usize()], hit))
        });
        for (rule, hit) in shared.chain(exact) {
            windows[rule].push(window_around(input, hit.start(), hit.end()));
        }
        for list in &mut windows {
            // Overlapping matches come ordered by their end, not their start.
            list.sort_unstable_by_key(|w| w.start);
            list.dedup_by(|next, last| {
                let overlaps = next.start <= last.end;
                if overlaps {
                    last.end = last.end.max(next.end);
                }
                overlaps
            });
        }
        if windows.iter().all(|w| w.is_empty()) {
            return Vec::new();
        }
        let lines = LineIndex::new(input);

        let mut values: Vec<Candidate> = Vec::new();
        for (rule_index, rule) in self.rules.iter().enumerate() {
            for window in &windows[rule_index] {
                self.confirm(rule_index, rule, input, window.clone(), &lines, &mut values);
            }
        }
        // One value, one candidate: two rules (or overlapping windows) may confirm it.
        values.sort_by_key(|c| (c.span.start, c.rule));
        values.dedup_by(|b, a| b.span.start < a.span.end);

        self.pair_and_finish(input, &lines, values, paired)
    }

    fn confirm(
        &self,
        rule_index: usize,
        rule: &CompiledRule,
        input: &[u8],
        window: Range<usize>,
        lines: &LineIndex,
        out: &mut Vec<Candidate>,
    ) {
        let text = &input[window.clone()];
        let (regex, value_group) = rule.regex.get_or_init(|| {
            compile(&rule.id, &rule.pattern, rule.wanted_group)
                .expect("built-in rules compile (checked by tests); custom rules compile eagerly")
        });
        for caps in regex.captures_iter(text) {
            let Some(value) = caps.get(*value_group) else {
                continue;
            };
            let span = window.start + value.start()..window.start + value.end();
            if span.is_empty() || rule.boundary.is_some_and(|b| !bounded(input, &span, b)) {
                continue;
            }
            let bytes = &input[span.clone()];
            let plausible = match rule.confirmation {
                Confirmation::Exact => rule
                    .min_entropy
                    .is_none_or(|floor| shannon_entropy(bytes) >= floor),
                _ => plausible(rule.kind, bytes),
            };
            if !plausible {
                continue;
            }
            let strength = match rule.confirmation {
                Confirmation::Value | Confirmation::Exact => Strength::Value,
                Confirmation::Assignment => {
                    let name = caps.name("name").map(|m| m.as_bytes()).unwrap_or(b"");
                    if aws_keyword(name) {
                        Strength::Keyword
                    } else if self.aws_mentioned_near(input, lines, span.start) {
                        Strength::GenericKeyword
                    } else {
                        Strength::PairOnly
                    }
                }
            };
            out.push(Candidate {
                rule: rule_index,
                span,
                strength,
            });
        }
    }

    fn aws_mentioned_near(&self, input: &[u8], lines: &LineIndex, offset: usize) -> bool {
        let line = lines.line_of(offset);
        let region = lines.region(line.saturating_sub(3), line + 3, offset, 512);
        self.aws_hint.is_match(&input[region])
    }

    /// Joins key IDs with nearby secrets, then turns candidates into detections.
    fn pair_and_finish(
        &self,
        input: &[u8],
        lines: &LineIndex,
        mut values: Vec<Candidate>,
        paired: &Paired,
    ) -> Vec<Detection> {
        let mut out = Vec::new();
        let mut used = vec![false; values.len()];
        // Secrets that no keyword confirmed but that sit next to a key ID.
        let id_indices: Vec<usize> = (0..values.len())
            .filter(|&i| self.rules[values[i].rule].kind == CredentialKind::AccessKeyId)
            .collect();
        let mut bare_secrets = Vec::new();
        let mut bare_starts = std::collections::HashSet::new();
        for &i in &id_indices {
            let id_line = lines.line_of(values[i].span.start);
            let region = lines.region(
                id_line.saturating_sub(PAIR_DISTANCE_LINES),
                id_line + PAIR_DISTANCE_LINES,
                values[i].span.start,
                PAIR_DISTANCE_BYTES,
            );
            for span in base64_runs(input, region, 40) {
                // `values` is sorted and its spans do not overlap: the only
                // one that can overlap `span` is the first that ends after its start.
                let first = values.partition_point(|c| c.span.end <= span.start);
                let known = values.get(first).is_some_and(|c| c.span.start < span.end)
                    || !bare_starts.insert(span.start);
                if !known && plausible(CredentialKind::SecretAccessKey, &input[span.clone()]) {
                    bare_secrets.push(Candidate {
                        rule: usize::MAX,
                        span,
                        strength: Strength::PairOnly,
                    });
                }
            }
        }
        let secret_rule = self
            .rules
            .iter()
            .position(|r| r.kind == CredentialKind::SecretAccessKey);
        for mut c in bare_secrets {
            if let Some(rule) = secret_rule {
                c.rule = rule;
                values.push(c);
                used.push(false);
            }
        }

        // Pair each key ID with the nearest unused secret in reach.
        let mut pairs: HashMap<usize, usize> = HashMap::new();
        // Secrets by position, so each key ID looks only at those within
        // PAIR_DISTANCE_BYTES instead of at every value (quadratic).
        let mut secrets: Vec<usize> = (0..values.len())
            .filter(|&j| self.rules[values[j].rule].kind == CredentialKind::SecretAccessKey)
            .collect();
        secrets.sort_by_key(|&j| values[j].span.start);
        // The secrets that key IDs before the window's core took.
        let secret_at = |start: usize| {
            let k = secrets.partition_point(|&j| values[j].span.start < start);
            secrets
                .get(k)
                .copied()
                .filter(|&j| values[j].span.start == start)
        };
        for secret in paired.decided.values().flatten() {
            if let Some(j) = secret_at(*secret) {
                used[j] = true;
            }
        }
        let mut near: Vec<usize> = Vec::new();
        for &i in &id_indices {
            let id_start = values[i].span.start;
            if id_start < paired.core {
                // Paired by the window that owns it, as one pass pairs it.
                if let Some(j) = paired
                    .decided
                    .get(&id_start)
                    .copied()
                    .flatten()
                    .and_then(secret_at)
                {
                    used[i] = true;
                    pairs.insert(i, j);
                }
                continue;
            }
            let id_line = lines.line_of(id_start);
            let from = secrets.partition_point(|&j| {
                values[j].span.start < id_start.saturating_sub(PAIR_DISTANCE_BYTES)
            });
            let to = secrets
                .partition_point(|&j| values[j].span.start <= id_start + PAIR_DISTANCE_BYTES);
            near.clear();
            near.extend_from_slice(&secrets[from..to]);
            near.sort_unstable(); // value order, as before: the first nearest wins
            let mut best: Option<(usize, usize)> = None;
            for &j in &near {
                let c = &values[j];
                if used[j] {
                    continue;
                }
                let line = lines.line_of(c.span.start);
                let distance = line.abs_diff(id_line);
                let bytes = c.span.start.abs_diff(values[i].span.start);
                if distance <= PAIR_DISTANCE_LINES
                    && bytes <= PAIR_DISTANCE_BYTES
                    && best.is_none_or(|(_, d)| distance < d)
                {
                    best = Some((j, distance));
                }
            }
            if let Some((j, _)) = best {
                used[i] = true;
                used[j] = true;
                pairs.insert(i, j);
            }
        }

        for (i, c) in values.iter().enumerate() {
            if let Some(&j) = pairs.get(&i) {
                let secret = &values[j];
                let id_value = lossy(&input[c.span.clone()]);
                let secret_value = lossy(&input[secret.span.clone()]);
                let secret_location = lines.location(input, secret.span.start);
                let location = lines.location(input, c.span.start);
                let distance = secret_location.line.abs_diff(location.line);
                let evidence = format!(
                    "{} with a 40-character secret access key {}",
                    key_id_description(&id_value),
                    match distance {
                        0 => "on the same line".to_string(),
                        1 => "1 line away".to_string(),
                        n => format!("{n} lines away"),
                    }
                );
                out.push(Detection {
                    source_lines: Vec::new(),
                    rule_id: PAIR_RULE_ID.to_string(),
                    kind: CredentialKind::CredentialPair,
                    location,
                    span: c.span.clone(),
                    value: id_value,
                    secret: Some((secret_value, secret_location, secret.span.clone())),
                    evidence,
                    confidence: Confidence::High,
                });
                continue;
            }
            if used[i] || c.strength == Strength::PairOnly {
                continue;
            }
            let rule = &self.rules[c.rule];
            let value = lossy(&input[c.span.clone()]);
            let evidence = match (rule.kind, c.strength) {
                (CredentialKind::AccessKeyId, _) => format!(
                    "{}; an access key ID alone means its secret is likely nearby or already exposed",
                    key_id_description(&value)
                ),
                (CredentialKind::SecretAccessKey, Strength::Keyword) => {
                    "40-character secret access key assigned to an AWS secret keyword".to_string()
                }
                (CredentialKind::SecretAccessKey, _) => {
                    "40-character secret assigned to a `secret` name in AWS context".to_string()
                }
                (CredentialKind::SessionToken, Strength::Value) => {
                    "STS session token (recognised by its header)".to_string()
                }
                (CredentialKind::SessionToken, _) => {
                    "long token assigned to a session-token keyword".to_string()
                }
                (CredentialKind::BedrockApiKey, _) => {
                    "Amazon Bedrock API key (recognised by its prefix)".to_string()
                }
                (CredentialKind::KnownKey, _) => {
                    "exact value of one of your own AWS keys (from your local AWS credentials)"
                        .to_string()
                }
                _ => rule.description.clone(),
            };
            let confidence = match c.strength {
                Strength::GenericKeyword => Confidence::Medium,
                Strength::Keyword | Strength::PairOnly => Confidence::High,
                Strength::Value if rule.kind == CredentialKind::Custom => Confidence::Medium,
                Strength::Value if rule.confirmation == Confirmation::Assignment => {
                    Confidence::Medium
                }
                Strength::Value => Confidence::High,
            };
            out.push(Detection {
                source_lines: Vec::new(),
                rule_id: rule.id.clone(),
                kind: rule.kind,
                location: lines.location(input, c.span.start),
                span: c.span.clone(),
                value,
                secret: None,
                evidence,
                confidence,
            });
        }
        out.sort_by_key(|d| d.span.start);
        out
    }
}

/// Pairing is greedy, in input order: which secret a key ID takes depends
/// on every key ID before it, however far back the chain of nearest secrets
/// goes. A window does not see that chain whole, so each window pairs the
/// key IDs before its core as the windows that own them did (and those
/// secrets are taken), and only its own key IDs anew: the windows then pair
/// as one pass does.
#[derive(Debug, Default)]
struct Paired {
    /// Key IDs that start before this offset are not paired anew.
    core: usize,
    /// Key ID start → the start of its secret, or `None` (no secret, or
    /// one before the window).
    decided: HashMap<usize, Option<usize>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Strength {
    /// The pattern alone identifies the credential.
    Value,
    /// Assigned to an AWS secret keyword.
    Keyword,
    /// Assigned to a generic `secret` name with AWS mentioned nearby.
    GenericKeyword,
    /// Counts only as the secret half of a pair.
    PairOnly,
}

#[derive(Clone, Debug)]
struct Candidate {
    rule: usize,
    span: Range<usize>,
    strength: Strength,
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Describes a key ID by its prefix.
pub(crate) fn key_id_description(id: &str) -> String {
    let kind = match id.get(..4) {
        Some("AKIA") => "long-term access key ID (AKIA)",
        Some("ASIA") => "temporary access key ID (ASIA, from STS)",
        Some("ABIA") => "STS service bearer token key ID (ABIA)",
        Some("ACCA") => "context-specific credential key ID (ACCA)",
        _ => "access key ID (legacy A3T prefix)",
    };
    kind.to_string()
}

/// A UTF-16 byte-order mark: the whole input may be UTF-16 text.
fn starts_with_utf16_bom(input: &[u8]) -> bool {
    input.starts_with(&[0xFF, 0xFE]) || input.starts_with(&[0xFE, 0xFF])
}

/// Detections of one window or of a whole input: those found as they are,
/// and those found in decoded text.
#[derive(Debug, Default)]
struct Found {
    plain: Vec<Detection>,
    decoded: Vec<Detection>,
}

impl Found {
    /// All of them, in input order, each credential once: a decoded one is
    /// dropped when the same credential is found on the same line already
    /// (as it is, or in another view or window), and a decoded pair
    /// replaces its halves found on their own there.
    fn finish(self) -> Vec<Detection> {
        let key = |d: &Detection| {
            let secret = d.secret.as_ref().map(|s| s.0.clone());
            (d.value.clone(), secret, d.location.line)
        };
        let mut seen: HashSet<_> = self.plain.iter().map(key).collect();
        let mut replaced: HashSet<(String, usize)> = HashSet::new();
        let mut found = self.plain;
        for d in self.decoded {
            if !seen.insert(key(&d)) {
                continue;
            }
            if let Some((secret, at, _)) = &d.secret {
                replaced.insert((d.value.clone(), d.location.line));
                replaced.insert((secret.clone(), at.line));
            }
            found.push(d);
        }
        if !replaced.is_empty() {
            found.retain(|d| {
                d.secret.is_some() || !replaced.contains(&(d.value.clone(), d.location.line))
            });
        }
        found.sort_by_key(|d| (d.span.start, d.location));
        found
    }
}

/// Characters in UTF-8 text (bytes that start one).
fn chars(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| (b as i8) >= -0x40).count()
}

/// The byte order of a UTF-16 byte-order mark at the start of `input`.
fn utf16_bom(input: &[u8]) -> Option<bool> {
    match input.get(..2)? {
        [0xFF, 0xFE] => Some(false),
        [0xFE, 0xFF] => Some(true),
        _ => None,
    }
}

/// The usual spellings of a keyword: lower, UPPER and Capitalized.
fn spellings(literal: &str) -> [String; 3] {
    let lower = literal.to_ascii_lowercase();
    let mut capitalized = lower.clone();
    if let Some(first) = capitalized.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    [lower, literal.to_ascii_uppercase(), capitalized]
}

/// The 12-digit AWS account an access key ID belongs to, for IDs that encode
/// it (those created since 2019: the fifth character is `Q`-`Z` or `2`-`7`).
/// Older IDs (`AKIAI…`, `AKIAJ…`) do not carry it.
pub fn account_id(key_id: &str) -> Option<String> {
    let tail = key_id.as_bytes().get(4..20)?;
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(u64::from(c - b'A')),
        b'2'..=b'7' => Some(u64::from(c - b'2') + 26),
        _ => None,
    };
    if value(tail[0])? < 16 {
        return None;
    }
    // The first 48 bits of the base32-decoded tail: ten characters hold 50.
    let mut bits: u64 = 0;
    for &c in &tail[..10] {
        bits = (bits << 5) | value(c)?;
    }
    let first_48 = bits >> 2;
    let account = (first_48 & 0x7fff_ffff_ff80) >> 7;
    Some(format!("{account:012}"))
}

/// Whether an identifier names an AWS secret access key (as opposed to some
/// other service's secret).
fn aws_keyword(name: &[u8]) -> bool {
    let folded: Vec<u8> = name
        .iter()
        .filter(|b| b.is_ascii_alphanumeric())
        .map(|b| b.to_ascii_lowercase())
        .collect();
    const STRONG: &[&[u8]] = &[b"secretaccess", b"secretkey", b"awssecret", b"secretaws"];
    STRONG
        .iter()
        .any(|k| folded.windows(k.len()).any(|w| w == *k))
}

/// The window a rule's regex sees for a prefilter hit at `start..end`: from
/// the start of the hit's line (at most `WINDOW_BEFORE` back) to the end of
/// the next line (at most `WINDOW_AFTER` on), so `name:\n  value` is seen.
fn window_around(input: &[u8], start: usize, end: usize) -> Range<usize> {
    let floor = start.saturating_sub(WINDOW_BEFORE);
    let from = memchr::memrchr(b'\n', &input[floor..start]).map_or(floor, |i| floor + i + 1);
    let ceiling = (end + WINDOW_AFTER).min(input.len());
    let to = match memchr::memchr(b'\n', &input[end..ceiling]) {
        Some(i) => {
            let next = end + i + 1;
            memchr::memchr(b'\n', &input[next..ceiling]).map_or(ceiling, |j| next + j)
        }
        None => ceiling,
    };
    from..to
}

/// Compiles a rule's pattern and finds its value group: the group named
/// `value`, else `wanted` (0 is the whole match).
fn compile(id: &str, pattern: &str, wanted: usize) -> Result<(Regex, usize), DetectError> {
    // Byte-oriented: input is often not UTF-8, and `(?i)` stays ASCII.
    let regex = regex::bytes::RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(1 << 22)
        .build()
        .map_err(|e| DetectError::PatternInvalid {
            id: id.to_string(),
            source: Box::new(e),
        })?;
    let group = match regex.capture_names().position(|n| n == Some("value")) {
        Some(index) => index,
        None if wanted < regex.captures_len() => wanted,
        None => {
            return Err(DetectError::ValueGroupMissing {
                id: id.to_string(),
                group: wanted,
            })
        }
    };
    Ok((regex, group))
}

/// Whether the value at `span` is not part of a longer run of its class.
fn bounded(input: &[u8], span: &Range<usize>, boundary: Boundary) -> bool {
    let before_ok = span.start == 0 || !boundary.continues(input[span.start - 1]);
    let after_ok = span.end >= input.len() || !boundary.continues(input[span.end]);
    before_ok && after_ok
}

/// Runs of exactly `len` base64 characters (not part of a longer run) in `region`.
pub fn base64_runs(input: &[u8], region: Range<usize>, len: usize) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut i = region.start;
    while i < region.end {
        if Boundary::Base64.continues(input[i]) {
            let start = i;
            while i < input.len() && Boundary::Base64.continues(input[i]) {
                i += 1;
            }
            let starts_clean = start == 0 || !Boundary::Base64.continues(input[start - 1]);
            if i - start == len && starts_clean {
                runs.push(start..i);
            }
        } else {
            i += 1;
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::plausible::{plausible_key_id, plausible_secret};
    use super::*;

    // ------------------------------------------------ windowed scanning

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn from(&mut self, alphabet: &[u8], n: usize) -> String {
            (0..n)
                .map(|_| alphabet[self.below(alphabet.len())] as char)
                .collect()
        }
    }

    const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    fn b64(bytes: &[u8]) -> String {
        crate::engine::decode::encode_base64(bytes, false, true)
    }

    /// Random text with credentials in every form `decode` knows, some
    /// right at the window boundaries of `core`-byte windows.
    fn text_with_keys(rng: &mut Rng, len: usize, core: usize) -> String {
        let mut text = String::new();
        let mut boundary = core;
        while text.len() < len {
            let id = format!("AKIA{}", rng.from(BASE32, 16));
            let secret = rng.from(BASE64, 40);
            let piece = match rng.below(12) {
                0 => format!("aws_access_key_id = {id}\n"),
                1 => format!("aws_access_key_id = {id}\naws_secret_access_key = {secret}\n"),
                2 => format!(
                    "data:\n  creds: {}\n",
                    b64(format!("id={id}\naws_secret_access_key={secret}\n").as_bytes())
                ),
                3 => format!(
                    "{{\"id\":\"{id}\",\n\"aws_secret_access_key\":\"{}\\/\"}}\n",
                    secret.replace('/', "\\/")
                ),
                4 => format!(
                    "url=https://x/?secret_key={}%2F&id={id}\n",
                    secret.replace('/', "%2F")
                ),
                5 => format!("{} {}\n", rng.from(b"abc xyz_", 200), rng.from(BASE64, 30)),
                6 => "上海《数据》 ".repeat(rng.below(40)) + "\n",
                _ => format!(
                    "let value = compute({}); // secret\n",
                    rng.from(b"abcdefgh", 30)
                ),
            };
            // Now and then, a piece that straddles the next boundary.
            if text.len() + piece.len() > boundary && text.len() < boundary {
                boundary += core;
            }
            text.push_str(&piece);
        }
        text
    }

    #[test]
    fn windowed_detection_finds_what_one_pass_finds() {
        let detector = Detector::builtin();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let (core, margin) = (40_000, 20_000);
        for round in 0..6 {
            let text = text_with_keys(&mut rng, 130_000, core);
            let input: Vec<u8> = if round % 3 == 2 {
                // A UTF-16 file: the windows after the first have no BOM.
                let mut bytes = vec![0xFF, 0xFE];
                bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
                bytes
            } else {
                text.into_bytes()
            };
            let whole = detector.detect_in_windows(&input, None, usize::MAX / 4, 0);
            let windowed = detector.detect_in_windows(&input, None, core, margin);
            assert!(whole.incomplete.is_none() && windowed.incomplete.is_none());
            assert!(whole.detections.len() > 20, "{}", whole.detections.len());
            // Every value, at the same place, and every line it counts by.
            // (Which secret a key ID pairs with may differ: pairing is
            // greedy, and a window does not see key IDs far above it that
            // took the nearer secrets. The same values, paired otherwise.)
            let halves = |found: &[Detection]| {
                let mut all: Vec<(String, Location)> = found
                    .iter()
                    .flat_map(|d| {
                        std::iter::once((d.value.clone(), d.location))
                            .chain(d.secret.as_ref().map(|s| (s.0.clone(), s.1)))
                    })
                    .collect();
                all.sort();
                all.dedup();
                all
            };
            let lines = |found: &[Detection]| {
                let mut all: Vec<usize> = found.iter().flat_map(|d| d.lines()).collect();
                all.sort_unstable();
                all.dedup();
                all
            };
            assert_eq!(
                halves(&windowed.detections),
                halves(&whole.detections),
                "round {round}"
            );
            assert_eq!(
                lines(&windowed.detections),
                lines(&whole.detections),
                "round {round}"
            );
        }
    }

    /// Fuzzing found: pairing is greedy, so a window that started between
    /// a key ID and its secret paired all its lines one secret off, and at
    /// the edge of two windows' cores a secret was lost. Windows now pair
    /// the key IDs before their core as the windows owning them did. (Seed
    /// `fuzz/seeds/detect/regression-window-pairing`.)
    #[test]
    fn windows_pair_key_ids_as_one_pass_does() {
        let detector = Detector::builtin();
        let id = format!("{}{}", "AKIA", "BIYMSVD3J67DBQJR");
        let secret = format!("{}{}", "6TrCJE2LVSNvsDUh0CFv", "mxO+qTDbjFF/Xk42Mp6z");
        let shapes = [
            format!("key é — 🔑 {id}\nüber secret_key = «{secret}»\n"),
            // A bare secret between two key IDs, nearer the one before.
            format!("{secret}\nid {id}\n\n"),
        ];
        for shape in &shapes {
            let input = shape.repeat(200);
            let pairs = |found: &[Detection]| {
                found
                    .iter()
                    .map(|d| (d.span.clone(), d.secret.as_ref().map(|s| s.2.clone())))
                    .collect::<Vec<_>>()
            };
            let whole = detector.detect_in_windows(input.as_bytes(), None, usize::MAX / 4, 0);
            assert!(whole.detections.len() >= 199, "{}", whole.detections.len());
            for core in [66, 100, 1000, 4096] {
                let windowed = detector.detect_in_windows(input.as_bytes(), None, core, 4096);
                assert_eq!(
                    pairs(&windowed.detections),
                    pairs(&whole.detections),
                    "core {core}"
                );
            }
        }
    }

    #[test]
    fn windowed_detection_stops_at_the_deadline() {
        let detector = Detector::builtin();
        let input = "secret=\\/ QUtJQUFBQUFBQUFB\n".repeat(20_000);
        let past = Instant::now();
        let detected = detector.detect_in_windows(input.as_bytes(), Some(past), 40_000, 20_000);
        assert_eq!(detected.incomplete, Some(Incomplete::OutOfTime));
        let detected = detector.detect_in_windows(input.as_bytes(), None, 40_000, 20_000);
        assert_eq!(detected.incomplete, None);
    }

    #[test]
    fn account_id_is_decoded_from_new_style_key_ids() {
        // A published example of the encoding.
        assert_eq!(
            account_id("ASIAY34FZKBOKMUTVV7A").as_deref(), // keygate:allow (published example)
            Some("609629065308")
        );
        // Old-style IDs carry no account.
        assert_eq!(account_id("AKIAIOSFODNN7EXAMPLE"), None);
        assert_eq!(account_id("AKIA"), None);
    }

    #[test]
    fn random_secrets_pass_the_plausibility_checks() {
        // 20,000 xorshift-random 40-character base64 strings: a real key must
        // never be taken for a placeholder.
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut state: u64 = 0x2545F4914F6CDD1D;
        let mut rejected = Vec::new();
        for _ in 0..20_000 {
            let secret: Vec<u8> = (0..40)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    ALPHABET[(state >> 58) as usize]
                })
                .collect();
            if !plausible_secret(&secret) {
                rejected.push(String::from_utf8_lossy(&secret).into_owned());
            }
        }
        assert!(
            rejected.len() <= 2,
            "rejected real-looking secrets: {rejected:?}"
        );
    }

    #[test]
    fn random_key_ids_pass_the_plausibility_checks() {
        const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut state: u64 = 0x9E3779B97F4A7C15;
        for _ in 0..20_000 {
            let mut id = b"AKIA".to_vec();
            id.extend((0..16).map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                BASE32[(state >> 59) as usize]
            }));
            assert!(plausible_key_id(&id), "{}", String::from_utf8_lossy(&id));
        }
    }
}
