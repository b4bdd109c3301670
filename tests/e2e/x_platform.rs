//! X client against the simulated X: being written.
