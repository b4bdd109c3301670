//! What the command layer's unit tests share: sample accounts and confirmations, fixed
//! instants, and how a Telegram client shows our HTML.

use autopost::domain::{AccountId, AccountState, PostId, Provider, UserId};
use autopost::posting::{Accepted, LinkedAccount, TargetSummary};
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use url::Url;

/// Text with markup of every kind both renderers must escape.
pub const HOSTILE: &str =
    "<script>alert(1)</script> *bold* _it_ `tick` a&b @everyone [x](y) ~~s~~ ||sp|| > q";

/// A linked account called `name`.
pub fn account(name: &str, provider: Provider) -> LinkedAccount {
    LinkedAccount {
        id: AccountId(1),
        provider,
        remote_id: "r1".into(),
        display_name: name.into(),
        state: AccountState::Active,
        owner: UserId(7),
    }
}

/// Post 17 accepted for X and a Facebook Page, due at `due_at`, shown in `zone`.
pub fn accepted(due_at: DateTime<Utc>, zone: Tz) -> Accepted {
    Accepted {
        post: PostId(17),
        due_at,
        zone,
        recurrence: None,
        targets: vec![
            TargetSummary {
                account: account("@alice", Provider::X),
                length: 42,
                limit: 280,
                parts: 1,
            },
            TargetSummary {
                account: account("Alice's <Bakery>", Provider::FacebookPage),
                length: 42,
                limit: 63206,
                parts: 1,
            },
        ],
    }
}

/// An instant in UTC.
pub fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

/// A URL.
pub fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

/// Length as both platforms may count it.
pub fn measure(text: &str) -> usize {
    text.encode_utf16().count()
}

/// The text a Telegram client shows for our HTML: tags dropped, entities decoded.
pub fn telegram_visible(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}
