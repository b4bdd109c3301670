//! The operator's tools for the rights people exercise by contacting the operator (policy
//! 7 and 9): one person's export or erasure by `PLATFORM:ID`, and the security log. The
//! binary's `export`, `erase` and `audit` commands only parse, call these and print.
//! Nothing here creates a person: an unknown one is an error that changes nothing.

use std::fmt;
use std::io::{Seek, Write};
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};

use crate::app::App;
use crate::domain::{ChatPlatform, UserId};
use crate::export::{ExportError, Requester};
use crate::privacy::{Erasure, PrivacyError};
use crate::store::{AuditKind, LoggedEvent, StoreError};

/// Why an operator's request could not be done. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// `--user` is not `PLATFORM:ID`.
    #[error("--user `{given}` is not PLATFORM:ID, such as telegram:42 or discord:81234")]
    BadPerson {
        /// What was given.
        given: String,
    },
    /// `--since` is neither an instant nor a date.
    #[error(
        "--since `{given}` is neither an RFC 3339 instant such as 2026-12-01T09:00:00Z nor a date such as 2026-12-01"
    )]
    BadSince {
        /// What was given.
        given: String,
    },
    /// Nobody by that id has used autopost (or they were erased).
    #[error("autopost knows no person {person}; check the platform and the id")]
    UnknownPerson {
        /// The person asked about, as `PLATFORM:ID`.
        person: PersonRef,
    },
    /// The export failed.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// The erasure failed.
    #[error(transparent)]
    Privacy(#[from] PrivacyError),
    /// The database failed.
    #[error("autopost could not read the database")]
    Store(#[from] StoreError),
}

/// A person as the operator names them: `telegram:42`, `discord:81234`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRef {
    /// Their chat platform.
    pub platform: ChatPlatform,
    /// Their id there.
    pub id: String,
}

impl FromStr for PersonRef {
    type Err = OperatorError;

    fn from_str(text: &str) -> Result<Self, OperatorError> {
        let bad = || OperatorError::BadPerson {
            given: text.to_owned(),
        };
        let (platform, id) = text.split_once(':').ok_or_else(bad)?;
        let platform = platform.parse().map_err(|_| bad())?;
        // Platform ids are numbers (Discord snowflakes fit in 20 digits); 64 leaves room
        // without letting a pasted paragraph through.
        if id.is_empty()
            || id.len() > 64
            || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(bad());
        }
        Ok(PersonRef {
            platform,
            id: id.to_owned(),
        })
    }
}

impl fmt::Display for PersonRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.platform, self.id)
    }
}

/// `--since`: an RFC 3339 instant, or a date meaning its start in UTC.
pub fn parse_since(text: &str) -> Result<DateTime<Utc>, OperatorError> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|midnight| midnight.and_utc())
        .ok_or_else(|| OperatorError::BadSince {
            given: text.to_owned(),
        })
}

/// One event of the security log as `autopost audit` prints it: time, kind, person,
/// account and detail, separated by tabs, `-` where there is none. Control characters
/// (a name with a line break) become spaces, so that every event stays one line.
pub fn log_line(event: &LoggedEvent) -> String {
    let field = |text: Option<&str>| -> String {
        match text {
            Some(text) if !text.is_empty() => text
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect(),
            _ => "-".to_owned(),
        }
    };
    format!(
        "{}\t{}\t{}\t{}\t{}",
        event.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        event.kind.as_str(),
        field(event.user.as_deref()),
        field(event.account.as_deref()),
        field(Some(&event.detail)),
    )
}

impl App {
    /// The person known as `person`, or [`OperatorError::UnknownPerson`]; creates nobody.
    pub async fn find_person(&self, person: &PersonRef) -> Result<UserId, OperatorError> {
        match self.store().find_user(person.platform, &person.id).await? {
            Some(user) => Ok(user.id),
            None => Err(OperatorError::UnknownPerson {
                person: person.clone(),
            }),
        }
    }

    /// `autopost export --user`: the person's data as JSON, recorded as the operator's
    /// export.
    pub async fn operator_export_json(
        &self,
        person: &PersonRef,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, OperatorError> {
        let user = self.find_person(person).await?;
        Ok(self.export_json(user, Requester::Operator, now).await?)
    }

    /// `autopost export --user --images`: the zip written into `writer`, with no size
    /// limit, recorded as the operator's export.
    pub async fn operator_export_archive<W: Write + Seek + Send>(
        &self,
        person: &PersonRef,
        writer: W,
        now: DateTime<Utc>,
    ) -> Result<W, OperatorError> {
        let user = self.find_person(person).await?;
        Ok(self
            .export_archive(user, Requester::Operator, writer, None, now)
            .await?)
    }

    /// `autopost erase --user`: the same revoke-then-erase as `/deleteme`, then an
    /// anonymous `operator_erasure` event (the person's own events go with them).
    pub async fn operator_erase(
        &self,
        person: &PersonRef,
        now: DateTime<Utc>,
    ) -> Result<Erasure, OperatorError> {
        let user = self.find_person(person).await?;
        let erasure = self.erase_user(user, now).await?;
        self.store()
            .record_audit(
                AuditKind::OperatorErasure,
                None,
                None,
                "the operator erased a person on request",
                now,
            )
            .await?;
        Ok(erasure)
    }

    /// `autopost audit`: the security log, oldest first, narrowed to one person and to
    /// events at or after `since` when given.
    pub async fn security_log(
        &self,
        person: Option<&PersonRef>,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<LoggedEvent>, OperatorError> {
        let user = match person {
            Some(person) => Some(self.find_person(person).await?),
            None => None,
        };
        Ok(self.store().security_log(user, since).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_are_named_platform_colon_id() {
        let alice: PersonRef = "telegram:42".parse().unwrap();
        assert_eq!(alice.platform, ChatPlatform::Telegram);
        assert_eq!(alice.to_string(), "telegram:42");
        assert!("discord:812345678901234567".parse::<PersonRef>().is_ok());
        assert!("telegram:-1001".parse::<PersonRef>().is_ok());
        for bad in [
            "42",
            "tg:42",
            "telegram:",
            "telegram:4 2",
            "telegram:42;DROP",
            ":42",
        ] {
            let err = bad.parse::<PersonRef>().unwrap_err();
            assert!(
                err.to_string()
                    .contains(&format!("`{bad}` is not PLATFORM:ID")),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn since_takes_an_instant_or_a_day() {
        let instant = parse_since("2026-12-01T09:30:00+01:00").unwrap();
        assert_eq!(instant.to_rfc3339(), "2026-12-01T08:30:00+00:00");
        let day = parse_since("2026-12-01").unwrap();
        assert_eq!(day.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        for bad in ["yesterday", "2026-13-01", "2026-12-01 09:00", ""] {
            let err = parse_since(bad).unwrap_err();
            assert!(err.to_string().contains("--since"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_log_line_has_five_tab_separated_fields_on_one_line() {
        let event = LoggedEvent {
            at: parse_since("2026-12-01").unwrap(),
            kind: AuditKind::AccountLinked,
            user: Some("telegram:42".to_owned()),
            account: Some("@ali\nce".to_owned()),
            detail: "x @alice linked".to_owned(),
        };
        assert_eq!(
            log_line(&event),
            "2026-12-01T00:00:00Z\taccount_linked\ttelegram:42\t@ali ce\tx @alice linked"
        );
        let anonymous = LoggedEvent {
            user: None,
            account: None,
            kind: AuditKind::UserDeleted,
            ..event
        };
        assert!(
            log_line(&anonymous).contains("\tuser_deleted\t-\t-\t"),
            "{}",
            log_line(&anonymous)
        );
    }
}
