//! Issue 12, the walks: `history` across its rounds and in shallow clones,
//! and pre-push with stale remote-tracking refs. Each test is a hole that
//! once let a key in, or refused a scan it could do.
