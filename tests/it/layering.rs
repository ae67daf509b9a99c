//! The house rule of `src/lib.rs`, kept: data flows cli → sources → engine
//! ← report. The engine knows nothing of git (it links neither `git2` nor
//! `gix`) nor of the modules around it, the report depends only on the
//! engine, and nothing imports `cli`, the top of the flow.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ is readable") {
            let path = entry.expect("src/ is readable").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The paths a file names, outside comments: each `use` line and every
/// `crate::…`, `git2::…` or `gix…::` path written inline.
fn named_paths(text: &str) -> Vec<(usize, String)> {
    let mut named = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default().trim();
        if code.is_empty() {
            continue;
        }
        for word in code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
            let word = word.trim_start_matches(':');
            let root = word.split("::").next().unwrap_or_default();
            let is_path = word.contains("::") || code.starts_with("use ");
            if is_path && (root == "crate" || root == "git2" || root.starts_with("gix")) {
                named.push((n + 1, word.to_string()));
            }
        }
    }
    named
}

/// The top-level module a path of this crate names (`crate::engine::x` →
/// `engine`), or the external crate.
fn target(path: &str) -> &str {
    let mut parts = path.split("::");
    match parts.next() {
        Some("crate") => parts.next().unwrap_or_default(),
        Some(other) if other.starts_with("gix") => "gix",
        Some(other) => other,
        None => "",
    }
}

#[test]
fn engine_report_sources_and_cli_import_only_along_the_flow() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let forbidden: &[(&str, &[&str])] = &[
        ("engine", &["git2", "gix", "cli", "sources", "report"]),
        ("report", &["git2", "gix", "cli", "sources"]),
        ("sources", &["cli", "report"]),
    ];
    let mut broken = Vec::new();
    let mut files_checked = 0;
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).expect("under src/");
        let layer = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .unwrap_or_default()
            .trim_end_matches(".rs");
        let text = std::fs::read_to_string(&file).expect("a source file is UTF-8");
        files_checked += 1;
        for (line, path) in named_paths(&text) {
            let to = target(&path);
            let against_the_flow = forbidden
                .iter()
                .any(|(from, never)| *from == layer && never.contains(&to));
            let imports_cli = to == "cli" && !matches!(layer, "cli" | "lib" | "main");
            if against_the_flow || imports_cli {
                broken.push(format!(
                    "src/{}:{line}: {layer} names {path}",
                    relative.display()
                ));
            }
        }
    }
    assert!(
        files_checked > 20,
        "found only {files_checked} files under src/"
    );
    assert!(
        broken.is_empty(),
        "imports against the flow cli → sources → engine ← report:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_layering_check_sees_what_it_must_refuse() {
    // The checker itself: a test that cannot fail would prove nothing.
    let sample = "use git2::Oid;\nuse crate::cli::args::Args; // x\n// use crate::sources::fs;\n\
                  let x = crate::sources::git::names::hide(a, b);\nlet y = gix_hash::Kind::Sha1;\n";
    let named: Vec<String> = named_paths(sample).into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        named,
        [
            "git2::Oid",
            "crate::cli::args::Args",
            "crate::sources::git::names::hide",
            "gix_hash::Kind::Sha1"
        ]
    );
    assert_eq!(target("crate::sources::git::names::hide"), "sources");
    assert_eq!(target("gix_hash::Kind::Sha1"), "gix");
}
