//! Integration tests: the real `keygate` binary against real files and real
//! git repositories. One test binary (fast to link); one module per area.

mod util;

mod attack_config;
mod attack_decode;
mod attack_git;
mod attack_history;
mod detection;
mod everyday;
mod formats;
mod hardening;
mod history;
mod install;
mod layering;
mod peers;
mod prepush_verified;
mod properties;
mod push;
mod scan;
mod server;
mod staged;
