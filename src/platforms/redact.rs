//! Known secrets taken out of what platforms say. An error body may echo the token, code or
//! client secret a request carried, and a platform's words end up in chat replies, logs and
//! the database (`last_error`). Clients redact what their request carried before they cut the
//! words to length; callers that know a whole grant ([`crate::scheduler`], [`crate::tokens`])
//! redact every secret of it again before they store, log or show anything.

use std::fmt;

use crate::crypto::Secret;

use super::{AuthError, PublishError};

/// What a secret becomes.
pub const REDACTED: &str = "[redacted]";

/// Values shorter than this are not searched for: no real token, code or secret is this
/// short, and a stray short value would cut ordinary words apart.
const MIN_LEN: usize = 8;

/// The secrets to take out of platform text. Shows only how many it holds.
#[derive(Clone, Default)]
pub struct Redactor<'a> {
    secrets: Vec<&'a str>,
}

impl fmt::Debug for Redactor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl<'a> Redactor<'a> {
    /// Redacts nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also redacts `secret`.
    #[must_use]
    pub fn with(self, secret: &'a Secret) -> Self {
        // Reading the value is the point: it is searched for, never shown.
        self.with_value(secret.expose())
    }

    /// Also redacts `secret`, if there is one.
    #[must_use]
    pub fn with_optional(self, secret: Option<&'a Secret>) -> Self {
        match secret {
            Some(secret) => self.with(secret),
            None => self,
        }
    }

    /// Also redacts every one of `secrets`.
    #[must_use]
    pub fn with_all(self, secrets: impl IntoIterator<Item = &'a Secret>) -> Self {
        secrets.into_iter().fold(self, Redactor::with)
    }

    /// Also redacts a value already read from a secret (a form field of a token request).
    #[must_use]
    pub fn with_value(mut self, value: &'a str) -> Self {
        if value.len() >= MIN_LEN && !self.secrets.contains(&value) {
            self.secrets.push(value);
            // Longest first, so that a secret containing another is taken out whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
        self
    }

    /// `text` with every secret, as sent or percent-encoded, replaced by [`REDACTED`]; a text
    /// that was cut to length and ends in the first part of a secret loses that part too.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            out = out.replace(secret, REDACTED);
            let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            if encoded != *secret {
                out = out.replace(&encoded, REDACTED);
            }
        }
        for secret in &self.secrets {
            let cut_at = (MIN_LEN..secret.len())
                .rev()
                .filter(|end| secret.is_char_boundary(*end))
                .find(|end| out.ends_with(&secret[..*end]));
            if let Some(end) = cut_at {
                out.truncate(out.len() - end);
                out.push_str(REDACTED);
            }
        }
        out
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
}

impl PublishError {
    /// The same error with `redactor`'s secrets taken out of the platform's words.
    #[must_use]
    pub fn redacted(self, redactor: &Redactor<'_>) -> Self {
        if redactor.is_empty() {
            return self;
        }
        match self {
            PublishError::ServerError { status, message } => PublishError::ServerError {
                status,
                message: redactor.redact(&message),
            },
            PublishError::Unauthorized { message } => PublishError::Unauthorized {
                message: redactor.redact(&message),
            },
            PublishError::Rejected { reason } => PublishError::Rejected {
                reason: redactor.redact(&reason),
            },
            PublishError::Ambiguous { detail } => PublishError::Ambiguous {
                detail: redactor.redact(&detail),
            },
            // No platform words: the URL is stripped, and a reset time is a number.
            other @ (PublishError::Unreachable(_) | PublishError::RateLimited { .. }) => other,
        }
    }
}

impl AuthError {
    /// The same error with `redactor`'s secrets taken out of the platform's words.
    #[must_use]
    pub fn redacted(self, redactor: &Redactor<'_>) -> Self {
        match self {
            AuthError::Revoked { message } => AuthError::Revoked {
                message: redactor.redact(&message),
            },
            AuthError::Transient(inner) => AuthError::Transient(inner.redacted(redactor)),
            AuthError::NotRefreshable => AuthError::NotRefreshable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_secret_is_taken_out_as_sent_encoded_or_cut_short() {
        let token = Secret::new("AAAA+token/with=odd-characters");
        let other = Secret::new("refresh-abcdefgh");
        let redactor = Redactor::new().with(&token).with(&other).with_value("s");
        assert_eq!(
            redactor.redact("bad token AAAA+token/with=odd-characters (refresh-abcdefgh)"),
            "bad token [redacted] ([redacted])"
        );
        assert_eq!(
            redactor.redact("token=AAAA%2Btoken%2Fwith%3Dodd-characters rejected"),
            "token=[redacted] rejected"
        );
        assert_eq!(
            redactor.redact("the words were cut here: AAAA+token/wi"),
            "the words were cut here: [redacted]"
        );
        assert_eq!(
            redactor.redact("short values such as s are left alone"),
            "short values such as s are left alone",
        );
    }

    #[test]
    fn an_error_keeps_its_kind_and_loses_the_secret() {
        let token = Secret::new("live-token-123456");
        let redactor = Redactor::new().with(&token);
        let rejected = PublishError::Rejected {
            reason: "token live-token-123456 is not allowed".to_owned(),
        }
        .redacted(&redactor);
        assert!(
            matches!(&rejected, PublishError::Rejected { reason } if reason == "token [redacted] is not allowed"),
            "{rejected:?}"
        );
        let revoked = AuthError::Transient(PublishError::ServerError {
            status: 500,
            message: "live-token-123456".to_owned(),
        })
        .redacted(&redactor);
        assert!(
            !format!("{revoked:?}").contains("live-token"),
            "{revoked:?}"
        );
        assert!(!format!("{redactor:?}").contains("live-token"));
    }
}
