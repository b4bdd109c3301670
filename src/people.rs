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

/// The zones that may apply to a person in a chat, most specific first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZones {
    /// Their own (`/timezone ZONE`).
    pub person: Option<Tz>,
    /// The chat's (`/timezone chat ZONE`), for people who set none.
    pub chat: Option<Tz>,
    /// `AUTOPOST_DEFAULT_TIME_ZONE`, for everyone else.
    pub default: Tz,
}

impl TimeZones {
    /// The zone the person's times are read and shown in.
    pub fn in_force(&self) -> Tz {
        self.person.or(self.chat).unwrap_or(self.default)
    }
}

impl App {
    /// Sets the zone a person's times are read and shown in.
    pub async fn set_time_zone(&self, actor: &Actor, zone: Tz) -> Result<(), FrontEndError> {
        Ok(self.store().set_user_time_zone(actor.user, zone).await?)
    }

    /// Whether to ask the actor for their time zone now: they have none of their own and were
    /// never asked. Recorded as asked, so the question comes once (after agreeing to the
    /// policy, or with the first post of someone who agreed before autopost asked).
    pub async fn ask_time_zone_once(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<bool, FrontEndError> {
        Ok(self
            .store()
            .claim_time_zone_question(actor.user, now)
            .await?)
    }

    /// Sets the zone of the actor's chat, used for its people who set none. Only for a chat
    /// admin: the front end checks the right before it calls.
    pub async fn set_chat_time_zone(&self, actor: &Actor, zone: Tz) -> Result<(), FrontEndError> {
        Ok(self.store().set_chat_time_zone(actor.chat, zone).await?)
    }

    /// The zones that apply to the actor: their own, their chat's, and the configured
    /// default; the first of these set is the one in force.
    pub async fn time_zones(&self, actor: &Actor) -> Result<TimeZones, FrontEndError> {
        let person = self.store().user(actor.user).await?.time_zone;
        let chat = self.store().chat(actor.chat).await?.time_zone;
        Ok(TimeZones {
            person,
            chat,
            default: self.config().default_time_zone,
        })
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
