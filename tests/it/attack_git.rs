//! Issue 12, what a change brings besides file contents: commit messages,
//! paths and ref names, and content that a rename or copy moves out of an
//! allowlisted path. Each test is a hole that once let a key in with exit 0.
