//! Issue 12, the ways a config or the user's own keys open the gate by
//! accident: allowlists that allow a pair by its ID, allow-everything
//! configs, hostile config files, missed spellings, own keys, and scrubbing.
