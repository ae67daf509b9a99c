//! The `keygate` binary: parse, run, print, exit. Everything else is the library.

use std::io::Write;
use std::process::ExitCode;

use keygate::cli::args::Args;
use keygate::cli::error::EXIT_ERROR;
use keygate::engine::redact::scrub;

fn main() -> ExitCode {
    // A bug must never look like "clean", nor print what it was scanning.
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!(
            "keygate: internal error{location}: {}; the scan is incomplete",
            scrub(&message)
        );
        std::process::exit(i32::from(EXIT_ERROR));
    }));

    // Installed as the hook itself (hooks/pre-receive a copy of or a link to
    // this binary, where a pre-receive environment has no shell to run
    // hooks/pre-receive's script): `keygate hook pre-receive`.
    let mut argv = std::env::args_os();
    let name = argv.next().unwrap_or_default();
    let as_hook = std::path::Path::new(&name).file_name() == Some("pre-receive".as_ref());
    let prefix: &[&str] = if as_hook {
        &["hook", "pre-receive"]
    } else {
        &[]
    };
    let argv = prefix.iter().map(std::ffi::OsString::from).chain(argv);
    let args = match Args::parse(argv) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("keygate: {}", e.scrubbed_message());
            return ExitCode::from(e.exit_code());
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    // Not locked for the whole run: the history progress line and the panic
    // hook write from other threads while the main thread waits for them.
    let mut err = std::io::stderr();
    let code = match keygate::run(&args, &mut out, &mut err) {
        Ok(outcome) => outcome.exit_code(),
        Err(e) => {
            let _ = writeln!(err, "keygate: error: {}", e.scrubbed_message());
            e.exit_code()
        }
    };
    let _ = out.flush();
    ExitCode::from(code)
}
