//! Meta (Facebook Pages, Instagram): being written.
