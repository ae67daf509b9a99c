//! Where bytes come from: files and standard input ([`fs`]), and git
//! ([`git`]: the staged index, the commits a push brings, a history).
//!
//! Every source follows one contract: it reads its inputs, hands each to
//! the engine's `Scanner::scan` with the lines that count, and records on
//! the `ScanReport` every input it could not read in full, so that a partial
//! read never passes for clean. It decides nothing about credentials.

pub mod fs;
pub mod git;
pub mod queue;
