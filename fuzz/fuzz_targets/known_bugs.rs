//! Shared by the fuzz targets (not a target itself): which already reported
//! bugs a run tolerates, so fuzzing can go on past them.

/// Bugs already reported and not fixed yet can be tolerated to keep fuzzing
/// past them: `KEYGATE_FUZZ_KNOWN=scrub-encoded,time-budget fuzz/run ...`.
pub fn known(bug: &str) -> bool {
    static KNOWN: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    KNOWN
        .get_or_init(|| {
            std::env::var("KEYGATE_FUZZ_KNOWN")
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_string())
                .collect()
        })
        .iter()
        .any(|k| k == bug)
}
