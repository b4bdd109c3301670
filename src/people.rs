//! What autopost keeps about a person besides their posts, as calls the front ends make:
//! the time zone their times are read in, and which version of the privacy policy they were
//! shown. The rule for when the policy notice is due lives here.

use chrono_tz::Tz;

use crate::app::App;
use crate::domain::Actor;
use crate::front_end::FrontEndError;

/// Which notice a person is due before their answer: the policy, the first time they use
/// autopost, or its newer version after the operator raised `AUTOPOST_POLICY_VERSION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyNotice {
    /// They never saw the policy.
    First,
    /// They saw an older version.
    Changed,
}

impl App {
    /// Sets the zone a person's times are read and shown in.
    pub async fn set_time_zone(&self, actor: &Actor, zone: Tz) -> Result<(), FrontEndError> {
        Ok(self.store().set_user_time_zone(actor.user, zone).await?)
    }

    /// The policy notice the person is due, if any, recorded as shown: each version is
    /// announced once. `None` also for a person erased meanwhile (by `/deleteme`).
    pub async fn policy_notice(
        &self,
        actor: &Actor,
    ) -> Result<Option<PolicyNotice>, FrontEndError> {
        let current = self.config().policy_version;
        let Ok(user) = self.store().user(actor.user).await else {
            return Ok(None);
        };
        let notice = match user.accepted_policy_version {
            Some(seen) if seen >= current => return Ok(None),
            Some(_) => PolicyNotice::Changed,
            None => PolicyNotice::First,
        };
        self.store().accept_policy(actor.user, current).await?;
        Ok(Some(notice))
    }

    /// Where the privacy policy is published (`/privacy` of the web server).
    pub fn privacy_url(&self) -> url::Url {
        self.public_link(&["privacy"])
    }
}
