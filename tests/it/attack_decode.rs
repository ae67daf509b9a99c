//! Issue 12, decoding and big inputs: a decode budget that runs out, keys
//! inside wrapped base64, UTF-16 line numbers, and bounded memory and time
//! on huge blobs. Each test is a hole that once let a key in with exit 0.
