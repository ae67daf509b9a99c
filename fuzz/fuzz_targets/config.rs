//! `.keygate.toml` parsing and everything compiled from it.
//!
//! Arbitrary text goes through `Config::parse`; a config that parses is
//! compiled into an `Allowlist` (globs and regexes) and into a whole
//! `Scanner` (custom `[[rules]]`: regexes, keywords, value groups, entropy
//! floors, examples and negatives checked at load). Any bad entry must come
//! back as an `Err` naming it, never as a panic, a hang or a runaway
//! allocation.
#![no_main]

use std::path::Path;
use std::time::{Duration, Instant};

use keygate::engine::allowlist::{read_baseline, Allowlist};
use keygate::engine::config::{Config, ConfigError};
use keygate::engine::scanner::Scanner;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.toml");

    // The baseline reader is pure text processing: any text is a baseline.
    for fingerprint in read_baseline(text) {
        assert!(!fingerprint.is_empty() && !fingerprint.starts_with('#'));
        assert_eq!(fingerprint, fingerprint.trim());
    }

    let mut config = match Config::parse(text, path) {
        Ok(config) => config,
        Err(error) => {
            check_error(&error, text);
            return;
        }
    };
    assert_eq!(config.source.as_deref(), Some(path));
    check_time_budget(config.server.time_budget_seconds);
    // `baseline` names a file to read. Reading whatever path the fuzzer
    // writes (`/dev/zero`, a FIFO, /proc) tests the machine, not keygate.
    config.allowlist.baseline = None;

    match Allowlist::from_config(&config) {
        Ok(_) => {}
        Err(error) => check_error(&error, text),
    }
    // The whole scanner: built-in rules minus `[detect] disable`, custom
    // rules (compiled eagerly and checked against their examples), the
    // allowlist. No own keys: they come from the machine, not the config.
    match Scanner::from_config(&config, &[]) {
        Ok(scanner) => {
            // A scanner that built must scan: run it over the config text
            // itself (custom rules see their own examples here too).
            let mut report = keygate::engine::scanner::ScanReport::default();
            scanner.scan("fuzz.toml", text.as_bytes(), None, &mut report);
            assert_eq!(report.inputs, 1);
        }
        Err(error) => check_error(&error, text),
    }
});

/// The pre-receive hook turns `[server] time_budget_seconds` into a deadline
/// (`started + Duration::from_secs_f64(budget.max(0.0))`, src/hook.rs): a
/// config that parses must give a usable one, or the hook panics instead of
/// reporting a config error. (Fuzzing found `inf` and `1e19` did; config
/// validation now refuses them: seeds `regression-time-budget-*`.)
fn check_time_budget(budget: f64) {
    let deadline = Duration::try_from_secs_f64(budget.max(0.0))
        .ok()
        .and_then(|d| Instant::now().checked_add(d));
    assert!(
        deadline.is_some(),
        "time_budget_seconds = {budget} parses but gives no deadline (src/hook.rs panics on it)"
    );
}

/// Errors name the file, and a syntax error's position lies inside the text.
fn check_error(error: &ConfigError, text: &str) {
    let message = error.to_string();
    assert!(
        message.starts_with("fuzz.toml"),
        "error does not name the file: {message}"
    );
    if let ConfigError::Invalid { line, column, .. } = error {
        let lines = text.split('\n').count().max(1);
        assert!(
            *line >= 1 && *line <= lines,
            "error line {line} outside a text of {lines} lines: {message}"
        );
        assert!(*column >= 1, "error column 0: {message}");
    }
}
