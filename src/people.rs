//! What autopost keeps about a person besides their posts, as calls the front ends make:
//! the time zone their times are read in, and where they stand with the privacy policy.
//! The consent rules live here: nobody uses autopost before confirming they are 18 or older
//! and agreeing to the policy, and each newer version is announced once.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::app::App;
use crate::domain::Actor;
use crate::front_end::FrontEndError;
use crate::store::{ConsentAction, StoreError};

/// Where a person stands with the privacy policy before their answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyStanding {
    /// They never confirmed their age and agreed: only the verbs that work before consent
    /// run, and every answer carries the notice with the button that agrees.
    MustAgree,
    /// They agreed to an older version; this answer tells them what changed (once: it is
    /// recorded as told).
    Changed,
    /// Nothing to say.
    Current,
}

/// The policy in force, as the notice shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `AUTOPOST_POLICY_VERSION`.
    pub version: u32,
    /// `AUTOPOST_POLICY_DATE`.
    pub date: NaiveDate,
    /// `AUTOPOST_POLICY_CHANGES`: what changed, in the operator's words.
    pub changes: Option<String>,
    /// Where it is published (`/privacy` of the web server).
    pub url: url::Url,
}

impl App {
    /// Sets the zone a person's times are read and shown in.
    pub async fn set_time_zone(&self, actor: &Actor, zone: Tz) -> Result<(), FrontEndError> {
        Ok(self.store().set_user_time_zone(actor.user, zone).await?)
    }

    /// The policy in force.
    pub fn policy(&self) -> Policy {
        let config = self.config();
        Policy {
            version: config.policy_version,
            date: config.policy_date,
            changes: config.policy_changes.clone(),
            url: self.privacy_url(),
        }
    }

    /// Where the actor stands with the policy. A newer version than the one they agreed to
    /// is recorded as told, so it is announced once; a person erased meanwhile (by
    /// `/deleteme`) has nothing to be told.
    pub async fn policy_standing(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<PolicyStanding, FrontEndError> {
        if !actor.consent.agreed {
            return Ok(PolicyStanding::MustAgree);
        }
        let current = self.config().policy_version;
        if actor.consent.policy_version.is_some_and(|v| v >= current) {
            return Ok(PolicyStanding::Current);
        }
        match self
            .store()
            .record_consent(actor.user, current, ConsentAction::Notified, now)
            .await
        {
            Ok(()) => Ok(PolicyStanding::Changed),
            Err(StoreError::NotFound { .. }) => Ok(PolicyStanding::Current),
            Err(e) => Err(e.into()),
        }
    }

    /// The actor confirmed they are 18 or older and agreed to the policy in force; recorded
    /// with the version and in the audit log.
    pub async fn agree_to_policy(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<(), FrontEndError> {
        let version = self.config().policy_version;
        Ok(self
            .store()
            .record_consent(actor.user, version, ConsentAction::Agreed, now)
            .await?)
    }

    /// Where the privacy policy is published (`/privacy` of the web server).
    pub fn privacy_url(&self) -> url::Url {
        self.public_link(&["privacy"])
    }
}
