//! Suggestions while a person types an argument (Discord's autocomplete): what a time phrase
//! resolves to in their zone (or why it is refused), the chat's accounts, its queued posts,
//! time zones. Chat-neutral: a front end shows the labels and fills in the values.

use autopost::domain::{Actor, Provider};
use autopost::timeparse::{self, TimeError, When};
use chrono::Utc;
use chrono_tz::Tz;

use super::args::ArgValue;
use super::reply::{first_words, local_time};
use super::runner::Commands;
use super::verbs::ArgKind;
use autopost::front_end::{Person, Place};

/// At most this many suggestions (Discord's limit on choices).
pub const MOST: usize = 25;
/// A label or text value is at most this long (Discord's limit on a choice's name and value).
pub const LONGEST: usize = 100;

/// Phrases offered before anything is typed.
const EXAMPLE_TIMES: &[&str] = &[
    "in 1 hour",
    "tomorrow 9am",
    "friday 5pm",
    "next monday 09:00",
];
/// Zones offered before anything is typed, after the person's own.
const COMMON_ZONES: &[&str] = &[
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
];

/// One suggestion: what the person sees, and what choosing it fills in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    /// Shown in the list, at most [`LONGEST`] characters.
    pub label: String,
    /// Filled in when chosen.
    pub value: ArgValue,
}

impl Suggestion {
    fn text(label: impl Into<String>, value: &str) -> Self {
        Self {
            label: cut(&label.into()),
            value: ArgValue::Text(cut(value)),
        }
    }
}

impl Commands {
    /// Suggestions for an argument of `kind` while `person` types `typed` in `place`; empty
    /// when there is nothing to offer (or the database failed, which is logged).
    pub async fn suggest(
        &self,
        person: Person<'_>,
        place: Place<'_>,
        kind: ArgKind,
        typed: &str,
    ) -> Vec<Suggestion> {
        let app = self.app();
        let actor = match app.actor(person, place, None, Utc::now()).await {
            Ok(actor) => actor,
            Err(e) => {
                tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot suggest");
                return Vec::new();
            }
        };
        let mut suggestions = match kind {
            ArgKind::When => self.times(&actor, typed).await,
            ArgKind::Targets => self.targets(&actor, typed).await,
            ArgKind::Account => self.accounts(&actor, typed).await,
            ArgKind::PostId => self.posts(&actor, typed).await,
            ArgKind::Zone => self.zones(&actor, typed).await,
            ArgKind::Text
            | ArgKind::Platform
            | ArgKind::Image
            | ArgKind::File
            | ArgKind::Choice(_) => Vec::new(),
        };
        suggestions.truncate(MOST);
        suggestions
    }

    async fn zone(&self, actor: &Actor) -> Tz {
        self.app().zone_of(actor).await.unwrap_or(Tz::UTC)
    }

    /// What the phrase resolves to in the person's zone, or why it is refused; for a vague
    /// phrase, the exact phrases it may mean; examples before anything is typed.
    async fn times(&self, actor: &Actor, typed: &str) -> Vec<Suggestion> {
        let zone = self.zone(actor).await;
        let now = Utc::now();
        let phrases: Vec<&str> = if typed.trim().is_empty() {
            EXAMPLE_TIMES.to_vec()
        } else {
            vec![typed.trim()]
        };
        phrases
            .into_iter()
            .flat_map(|phrase| match timeparse::parse(phrase, now, zone) {
                // A vague phrase offers the exact phrases it may mean, each ready to choose.
                Err(TimeError::Vague { suggestions, .. }) => suggestions
                    .iter()
                    .map(|exact| {
                        let meaning = match timeparse::parse(exact, now, zone) {
                            Ok(When::Once(at)) => {
                                format!("→ {} ({})", local_time(at, zone), zone.name())
                            }
                            _ => String::new(),
                        };
                        Suggestion::text(format!("{exact} {meaning}"), exact)
                    })
                    .collect(),
                parsed => {
                    let meaning = match parsed {
                        Ok(When::Once(at)) => {
                            format!("→ {} ({})", local_time(at, zone), zone.name())
                        }
                        Ok(When::Recurring(rule)) => match rule.next_after(now) {
                            Some(first) => format!("→ {rule}, first {}", local_time(first, zone)),
                            None => "✗ never occurs".to_owned(),
                        },
                        Err(e) => format!("✗ {e}"),
                    };
                    vec![Suggestion::text(format!("{phrase} {meaning}"), phrase)]
                }
            })
            .collect()
    }

    /// The chat's accounts and platforms, completing the last of comma-separated names.
    async fn targets(&self, actor: &Actor, typed: &str) -> Vec<Suggestion> {
        let (done, last) = match typed.rsplit_once(',') {
            Some((done, last)) => (format!("{}, ", done.trim()), last.trim()),
            None => (String::new(), typed.trim()),
        };
        let mut names: Vec<String> = self.account_names(actor).await;
        names.extend(Provider::ALL.iter().map(|p| p.word().to_owned()));
        names
            .into_iter()
            .filter(|name| starts_with_word(name, last))
            .map(|name| {
                let value = format!("{done}{name}");
                Suggestion::text(value.clone(), &value)
            })
            .collect()
    }

    async fn accounts(&self, actor: &Actor, typed: &str) -> Vec<Suggestion> {
        self.account_names(actor)
            .await
            .into_iter()
            .filter(|name| starts_with_word(name, typed.trim()))
            .map(|name| Suggestion::text(name.clone(), &name))
            .collect()
    }

    async fn account_names(&self, actor: &Actor) -> Vec<String> {
        match self.app().accounts(actor.chat).await {
            Ok(accounts) => accounts
                .into_iter()
                .filter(|a| a.state != autopost::domain::AccountState::Revoked)
                .map(|a| a.display_name)
                .collect(),
            Err(e) => {
                tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot suggest accounts");
                Vec::new()
            }
        }
    }

    /// The chat's queued posts whose number starts with what was typed.
    async fn posts(&self, actor: &Actor, typed: &str) -> Vec<Suggestion> {
        let zone = self.zone(actor).await;
        let typed = typed.trim().trim_start_matches('#');
        match self.app().queue(actor.chat).await {
            Ok(posts) => posts
                .into_iter()
                .filter(|post| post.post.0.to_string().starts_with(typed))
                .map(|post| Suggestion {
                    label: cut(&format!(
                        "#{} · {} · {}",
                        post.post,
                        local_time(post.due_at, zone),
                        first_words(&post.body, 40)
                    )),
                    value: ArgValue::Integer(post.post.0),
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot suggest posts");
                Vec::new()
            }
        }
    }

    /// IANA zones containing what was typed; the person's own and common ones at first.
    async fn zones(&self, actor: &Actor, typed: &str) -> Vec<Suggestion> {
        let wanted = typed
            .split_whitespace()
            .collect::<Vec<_>>()
            .join("_")
            .to_ascii_lowercase();
        if wanted.is_empty() {
            let own = self.zone(actor).await;
            let mut names = vec![own.name()];
            names.extend(COMMON_ZONES.iter().filter(|zone| **zone != own.name()));
            return names
                .into_iter()
                .map(|name| Suggestion::text(name, name))
                .collect();
        }
        chrono_tz::TZ_VARIANTS
            .iter()
            .map(|zone| zone.name())
            .filter(|name| name.to_ascii_lowercase().contains(&wanted))
            .take(MOST)
            .map(|name| Suggestion::text(name, name))
            .collect()
    }
}

/// Whether `name` (or its @handle without the `@`) starts with `typed`, in any case.
fn starts_with_word(name: &str, typed: &str) -> bool {
    let typed = typed.trim_start_matches('@').to_lowercase();
    name.trim_start_matches('@')
        .to_lowercase()
        .starts_with(&typed)
}

/// At most [`LONGEST`] characters, cut with an ellipsis.
fn cut(text: &str) -> String {
    if text.chars().count() <= LONGEST {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(LONGEST - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_labels_are_cut_to_the_limit_and_names_match_by_their_start() {
        assert_eq!(cut(&"a".repeat(150)).chars().count(), LONGEST);
        assert_eq!(cut("short"), "short");
        assert!(starts_with_word("@Team", "te"));
        assert!(starts_with_word("Alice's Bakery", "alice"));
        assert!(!starts_with_word("@team", "x"));
    }
}
