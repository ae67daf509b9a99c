//! The git hook modes: the same scans as the commands, with the wording and
//! the inputs a hook needs.

use std::io::Write;

use crate::cli::{Args, HookName};
use crate::error::Error;
use crate::report::Audience;
use crate::{run_staged, Outcome};

/// Runs the named hook.
pub fn run_hook(
    name: HookName,
    args: &Args,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome, Error> {
    match name {
        HookName::PreCommit => run_staged(args, Audience::PreCommit, out, err),
    }
}
