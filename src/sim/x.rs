//! X (Twitter): being written.
