//! The pre-receive and pre-push standard-input parsers
//! (`keygate::sources::git::push::parse_pre_receive`, `parse_pre_push`).
//!
//! What git writes there is trusted in shape but the parsers see raw bytes;
//! they must never panic, must name a line that exists when they refuse, must
//! turn every non-blank line into exactly one update, and what they return
//! must survive a round trip through git's own format.
#![no_main]

use keygate::sources::git::push::{parse_pre_push, parse_pre_receive, PushError, RefUpdate};
use libfuzzer_sys::fuzz_target;

const ZERO: &str = "0000000000000000000000000000000000000000";

/// Lines as the parsers count them (split on `\n`), and the non-blank ones.
fn line_counts(input: &[u8]) -> (usize, usize) {
    let lines = input.split(|&b| b == b'\n').count();
    let non_blank = input
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .count();
    (lines, non_blank)
}

fn check(input: &[u8], result: &Result<Vec<RefUpdate>, PushError>, name: &str) {
    let (lines, non_blank) = line_counts(input);
    match result {
        Ok(updates) => {
            assert_eq!(
                updates.len(),
                non_blank,
                "{name}: {} updates from {non_blank} non-blank lines",
                updates.len()
            );
            for u in updates {
                assert!(!u.refname.is_empty(), "{name}: empty ref name");
                assert!(
                    !u.refname.chars().any(char::is_whitespace),
                    "{name}: ref name with whitespace: {:?}",
                    u.refname
                );
                for oid in [u.old, u.new].into_iter().flatten() {
                    assert!(!oid.is_zero(), "{name}: the zero id is not `None`");
                }
            }
        }
        Err(PushError::InputMalformed { line, .. } | PushError::ObjectIdInvalid { line }) => {
            assert!(
                *line >= 1 && *line <= lines,
                "{name}: error names line {line} of {lines}"
            );
        }
        Err(other) => panic!("{name}: unexpected error kind from a parser: {other}"),
    }
}

fn hex(oid: Option<impl std::fmt::Display>) -> String {
    oid.map_or_else(|| ZERO.to_string(), |o| o.to_string())
}

fuzz_target!(|data: &[u8]| {
    let receive = parse_pre_receive(data);
    check(data, &receive, "pre-receive");
    if let Ok(updates) = &receive {
        let text: String = updates
            .iter()
            .map(|u| format!("{} {} {}\n", hex(u.old), hex(u.new), u.refname))
            .collect();
        let again = parse_pre_receive(text.as_bytes()).expect("pre-receive round trip parses");
        assert_eq!(&again, updates, "pre-receive round trip differs");
    }

    let push = parse_pre_push(data);
    check(data, &push, "pre-push");
    if let Ok(updates) = &push {
        // Local ref and remote ref: the parser keeps the remote one.
        let text: String = updates
            .iter()
            .map(|u| format!("refs/heads/x {} {} {}\n", hex(u.new), u.refname, hex(u.old)))
            .collect();
        let again = parse_pre_push(text.as_bytes()).expect("pre-push round trip parses");
        assert_eq!(&again, updates, "pre-push round trip differs");
    }
});
