//! Offsets to lines and columns: one notion of line for every finding
//! (`\n` bytes, as git's diff counts them), so the added-lines filter and
//! the report agree.

use std::ops::Range;

use super::Location;

/// Line starts of an input, for offset → line/column.
pub(crate) struct LineIndex {
    starts: Vec<usize>,
    len: usize,
    /// Offsets `location` has counted to → characters from their line's
    /// start (`None`: the prefix holds an invalid UTF-8 sequence). Counting
    /// on from the nearest one keeps many detections on one long line
    /// (minified code, a one-line CloudTrail JSON) linear, not quadratic.
    counted: std::cell::RefCell<std::collections::BTreeMap<usize, Option<usize>>>,
}

impl LineIndex {
    /// Indexes the line starts of `input`.
    pub fn new(input: &[u8]) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', input).map(|i| i + 1));
        LineIndex {
            starts,
            len: input.len(),
            counted: Default::default(),
        }
    }

    /// 0-based line of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset) - 1
    }

    /// 1-based line and column of a byte offset.
    pub fn location(&self, input: &[u8], offset: usize) -> Location {
        let line = self.line_of(offset);
        let start = self.starts[line];
        let mut counted = self.counted.borrow_mut();
        let (from, chars) = counted
            .range(start..=offset)
            .next_back()
            .map_or((start, Some(0)), |(&o, &c)| (o, c));
        // A valid prefix ends on a character boundary, so the prefix up to
        // `offset` is valid exactly when the rest from `from` is; after an
        // invalid sequence no longer prefix is valid. A sequence cut short by
        // `offset` may still complete: that prefix is not remembered.
        let chars = match chars.map(|c| (c, std::str::from_utf8(&input[from..offset]))) {
            None => None,
            Some((c, Ok(text))) => {
                let c = c + text.chars().count();
                counted.insert(offset, Some(c));
                Some(c)
            }
            Some((_, Err(e))) => {
                if e.error_len().is_some() {
                    counted.insert(offset, None);
                }
                None
            }
        };
        let column = chars.unwrap_or(offset - start) + 1;
        Location {
            line: line + 1,
            column,
        }
    }

    /// Bytes of 0-based lines `first..=last`, clipped to `reach` bytes around `center`.
    pub(super) fn region(
        &self,
        first: usize,
        last: usize,
        center: usize,
        reach: usize,
    ) -> Range<usize> {
        let start = self.starts.get(first).copied().unwrap_or(self.len);
        let end = self.starts.get(last + 1).copied().unwrap_or(self.len);
        let start = start.max(center.saturating_sub(reach)).min(self.len);
        let end = end.min(center + reach).min(self.len);
        start..end.max(start)
    }
}
