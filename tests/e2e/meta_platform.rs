//! Meta clients against the simulated Graph API: being written.
