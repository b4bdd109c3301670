//! What a verb runs with, and how a failure is answered: a refusal says what to do; an
//! internal fault says "something went wrong" with a reference the log keeps its chain
//! under. Below the verbs and the runner alike.

use autopost::app::App;
use autopost::domain::{Actor, ChatPlatform};
use autopost::posting::PostingError;
use autopost::store::StoreError;
use chrono::{DateTime, Utc};

use super::reply::Reply;

/// What a verb runs with.
pub(crate) struct Context<'a> {
    pub(crate) app: &'a App,
    pub(crate) actor: &'a Actor,
    /// The chat platform, for what it allows (a file's size).
    pub(crate) platform: ChatPlatform,
    pub(crate) now: DateTime<Utc>,
}

/// A user error is shown as is; anything else is an internal fault.
pub(crate) fn posting_error(error: &PostingError) -> Reply {
    if error.is_user_error() {
        Reply::error(&error.to_string())
    } else {
        internal(error)
    }
}

/// An internal fault: logged with its whole chain under a short random reference, which is
/// all the person sees, so that an operator can find the cause from their screenshot. A full
/// disk is no mystery: the person is told nothing was taken, the operator what to do.
pub fn internal(error: &(dyn std::error::Error + 'static)) -> Reply {
    if StoreError::is_storage_full_in(error) {
        tracing::error!(
            error = %autopost::telemetry::chain(error),
            "the database cannot grow: the disk is full; free disk space on the data directory's \
             file system. Chat messages are answered \"cannot store\" and nothing is taken until then"
        );
        return Reply::cannot_store();
    }
    let reference = reference();
    tracing::error!(reference = %reference, error = %autopost::telemetry::chain(error), "command failed");
    Reply::internal_error(&reference)
}

/// Six hex digits that tell one incident's log line from the others. Not a secret: std's
/// randomly keyed hasher is random enough, and needs no dependency.
fn reference() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:06x}", hasher.finish() >> 40)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_six_hex_digits_and_differ() {
        let first = reference();
        assert_eq!(first.len(), 6);
        assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));
        let distinct: std::collections::HashSet<String> = (0..50).map(|_| reference()).collect();
        assert!(distinct.len() > 45, "{distinct:?}");
    }
}
