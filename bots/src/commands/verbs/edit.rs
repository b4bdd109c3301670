//! `/edit ID WHEN | TEXT`: change a pending post's time and text (its author or a chat
//! admin), confirmed as a new post is.

use autopost::domain::PostId;
use autopost::posting::Accepted;

use super::{Arg, ArgKind, Command, POST_NUMBER, Verb, Who};
use crate::commands::args::{
    NamedArgs, ParseError, PostForm, post_id, split_when_text, when_and_text,
};
use crate::commands::context::{Context, posting_error};
use crate::commands::reply::{Reply, code, plain};

/// `/edit`.
pub const VERB: Verb = Verb::new(
    "edit",
    "/edit ID WHEN | TEXT",
    "change its time and text",
    parse,
)
.args(
    &[
        POST_NUMBER,
        Arg::required("when", ArgKind::When, "the new time"),
        Arg::required("text", ArgKind::Text, "the new text"),
    ],
    "/edit 17 friday 5pm | New text",
)
.named(parse_named)
.who(Who::AuthorOrAdmin);

fn parse(args: &str) -> Result<Command, ParseError> {
    let (id, rest) = match args.split_once(char::is_whitespace) {
        Some((id, rest)) => (id, rest.trim()),
        None => (args, ""),
    };
    let post = post_id(VERB.name, VERB.example_or_usage(), id)?;
    let (when, text) = split_when_text(rest, PostForm::Edit)?;
    Ok(Command::Edit { post, when, text })
}

fn parse_named(named: &NamedArgs) -> Result<Command, ParseError> {
    let id = named.text("id").unwrap_or_default();
    let post = post_id(VERB.name, VERB.example_or_usage(), id.trim())?;
    let (when, text) = when_and_text(named, PostForm::Edit)?;
    Ok(Command::Edit { post, when, text })
}

/// The answer to the Edit button under a post's status message: how to edit it, to the
/// presser alone. One small function, so that the full Edit flow can take its place.
pub(crate) fn button(post: PostId) -> Reply {
    Reply::lines(vec![vec![
        plain("To change post "),
        code(format!("#{post}")),
        plain(", send "),
        code(format!("/edit {post} WHEN | TEXT")),
        plain(", for example "),
        code(format!("/edit {post} tomorrow 9am | New text")),
    ]])
    .aside()
}

/// Changes the post.
pub(crate) async fn run(ctx: &Context<'_>, post: PostId, when: &str, text: &str) -> Reply {
    match ctx
        .app
        .edit_post(ctx.actor, post, when, text, ctx.now)
        .await
    {
        Ok(accepted) => Reply::edited(&accepted),
        Err(e) => posting_error(&e),
    }
}

impl Reply {
    /// The confirmation of an edit, with the same details as a new post.
    pub fn edited(accepted: &Accepted) -> Reply {
        Reply::confirmation(accepted, "Changed post ")
    }
}

#[cfg(test)]
mod tests {
    use autopost::recurrence::{DaySet, Recurrence, Zone};
    use chrono::NaiveTime;
    use chrono_tz::Europe::Berlin;

    use super::*;
    use crate::commands::testing::{accepted, utc};

    #[test]
    fn a_recurring_confirmation_says_how_it_repeats() {
        let mut post = accepted(utc(2026, 11, 30, 8, 0), Berlin);
        post.recurrence = Recurrence::new(
            DaySet::EMPTY.with(chrono::Weekday::Mon),
            NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            Zone::Named(Berlin),
        );
        let html = Reply::edited(&post).to_telegram_html();
        assert!(html.starts_with("<b>Changed post </b><code>#17</code>"));
        assert!(
            html.contains("Repeats every Monday at 09:00 (Europe/Berlin), until cancelled"),
            "{html}"
        );
    }
}
