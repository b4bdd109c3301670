//! `/edit ID WHEN`, `/edit ID | TEXT` or `/edit ID WHEN | TEXT`: change a pending post's
//! time, text or both (its author or a chat admin), and with images attached (Telegram) or
//! the image options (Discord) replace its images; confirmed as a new post is. The Edit
//! button asks for the same in a form: Telegram's forced reply, Discord's modal.

use autopost::domain::PostId;
use autopost::posting::{Accepted, PostChange};
use bytes::Bytes;

use super::{Arg, ArgKind, Command, POST_NUMBER, Verb, Who};
use crate::commands::args::{NamedArgs, ParseError, PostForm, post_id};
use crate::commands::context::{Context, posting_error};
use crate::commands::reply::{EditForm, Reply, code, plain};

/// `/edit`.
pub const VERB: Verb = Verb::new(
    "edit",
    "/edit ID WHEN | TEXT",
    "change its time, text or images",
    parse,
)
.args(
    &[
        POST_NUMBER,
        Arg::optional("when", ArgKind::When, "the new time (leave out to keep it)"),
        Arg::optional("text", ArgKind::Text, "the new text (leave out to keep it)"),
        Arg::optional(
            "image1",
            ArgKind::Image,
            "a picture replacing the post's pictures",
        ),
        Arg::optional("image2", ArgKind::Image, "a second picture"),
        Arg::optional("image3", ArgKind::Image, "a third picture"),
        Arg::optional("image4", ArgKind::Image, "a fourth picture"),
    ],
    "/edit 17 friday 5pm | New text",
)
.named(parse_named)
.notes(&[
    "`/edit 17 friday 5pm`: only the time; `/edit 17 | New text`: only the text; images sent with it replace the post's.",
])
.with_images()
.who(Who::AuthorOrAdmin);

fn parse(args: &str) -> Result<Command, ParseError> {
    let (id, rest) = match args.split_once(char::is_whitespace) {
        Some((id, rest)) => (id, rest.trim()),
        None => (args, ""),
    };
    let post = post_id(VERB.name, VERB.example_or_usage(), id)?;
    let (when, text) = parts(rest)?;
    Ok(Command::Edit { post, when, text })
}

/// `WHEN`, `| TEXT` or `WHEN | TEXT`: the parts to change. Nothing at all is read as no
/// change (images alone may be the change); a `|` with nothing after it is refused.
pub(crate) fn parts(rest: &str) -> Result<(Option<String>, Option<String>), ParseError> {
    let (when, text) = match rest.split_once('|') {
        Some((when, text)) => {
            let text = text.trim();
            if text.is_empty() {
                return Err(ParseError::EmptyText {
                    form: PostForm::Edit,
                });
            }
            (when.trim(), Some(text.to_owned()))
        }
        None => (rest.trim(), None),
    };
    let when = (!when.is_empty()).then(|| when.to_owned());
    Ok((when, text))
}

fn parse_named(named: &NamedArgs) -> Result<Command, ParseError> {
    let id = named.text("id").unwrap_or_default();
    let post = post_id(VERB.name, VERB.example_or_usage(), id.trim())?;
    let given = |name: &str| {
        named
            .text(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    };
    let when = given("when");
    // A `|` in `when` would read differently as a message.
    if when.as_deref().is_some_and(|when| when.contains('|')) {
        return Err(ParseError::EmptyWhen {
            form: PostForm::Edit,
        });
    }
    Ok(Command::Edit {
        post,
        when,
        text: given("text"),
    })
}

/// Changes the post as an Edit form asked: the parts that differ from the post's current
/// ones (the form shows those, and a time shown is not always a phrase to read back).
pub(crate) async fn run_form(ctx: &Context<'_>, post: PostId, when: String, text: String) -> Reply {
    let current = match ctx.app.post_for_edit(ctx.actor, post).await {
        Ok(current) => current,
        Err(e) => return posting_error(&e),
    };
    let (when, text) = (when.trim(), text.trim());
    let when = (!when.is_empty() && when != current.when.trim()).then(|| when.to_owned());
    let text = (!text.is_empty() && text != current.text.trim()).then(|| text.to_owned());
    if when.is_none() && text.is_none() {
        return Reply::lines(vec![vec![
            plain("Nothing changed in post "),
            code(format!("#{post}")),
            plain("."),
        ]]);
    }
    run(ctx, post, when, text, Vec::new()).await
}

/// Changes the post: the parts given, and the images when some came with the command.
pub(crate) async fn run(
    ctx: &Context<'_>,
    post: PostId,
    when: Option<String>,
    text: Option<String>,
    images: Vec<Bytes>,
) -> Reply {
    let change = PostChange {
        when,
        text,
        images: (!images.is_empty()).then_some(images),
    };
    match ctx.app.change_post(ctx.actor, post, change, ctx.now).await {
        Ok(accepted) => Reply::edited(&accepted),
        Err(e) => posting_error(&e),
    }
}

/// The Edit button: a form asking for the new time and text of the post, prefilled with
/// its current ones (Discord's modal; Telegram asks for a reply).
pub(crate) async fn form(ctx: &Context<'_>, post: PostId) -> Reply {
    match ctx.app.post_for_edit(ctx.actor, post).await {
        Ok(current) => Reply::edit_form(post, current.when, current.text),
        Err(e) => posting_error(&e),
    }
}

/// How the question of an Edit button begins, so that a reply to it is known for one.
pub const EDIT_PROMPT_START: &str = "Reply with a new time";

/// Reads a reply to one of autopost's messages (`replied` is that message's text) as an
/// edit, where it is one: any reply to an Edit button's question (`WHEN`, `| TEXT` or both,
/// with images or without), and a reply with images to a post's confirmation (which names
/// the post `#ID`), whose images replace the post's. `None` for any other reply.
pub fn edit_by_reply(
    replied: &str,
    text: Option<&str>,
    has_images: bool,
) -> Option<Result<Command, ParseError>> {
    let asked = replied.trim_start().starts_with(EDIT_PROMPT_START);
    let confirmation = ["Scheduled post #", "Changed post #"]
        .iter()
        .any(|heading| replied.trim_start().starts_with(heading));
    if !(asked || (confirmation && has_images)) {
        return None;
    }
    let post = post_named(replied)?;
    Some(parts(text.unwrap_or_default()).map(|(when, text)| Command::Edit { post, when, text }))
}

/// The first `#ID` in a text.
fn post_named(text: &str) -> Option<PostId> {
    text.match_indices('#').find_map(|(at, _)| {
        let digits: String = text[at + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse::<i64>().ok().filter(|id| *id > 0).map(PostId)
    })
}

impl Reply {
    /// The confirmation of an edit, with the same details as a new post.
    pub fn edited(accepted: &Accepted) -> Reply {
        Reply::confirmation(accepted, "Changed post ")
    }

    /// The question an Edit button asks: a reply naming the post (Telegram), or a form.
    pub fn edit_form(post: PostId, when: String, text: String) -> Reply {
        let mut reply = Reply::lines(vec![vec![
            plain(format!("{EDIT_PROMPT_START}, ")),
            code("| new text"),
            plain(", or both, for post "),
            code(format!("#{post}")),
        ]]);
        reply.edit_form = Some(EditForm { post, when, text });
        reply
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
    fn replies_are_edits_only_to_the_question_or_with_pictures_to_a_confirmation() {
        let asked = "Reply with a new time, | new text, or both, for post #17";
        let confirmation = "Scheduled post #17\nGoes out Mon 30 Nov 09:00 UTC";
        let edit = |when: Option<&str>, text: Option<&str>| {
            Some(Ok(Command::Edit {
                post: PostId(17),
                when: when.map(str::to_owned),
                text: text.map(str::to_owned),
            }))
        };
        assert_eq!(
            edit_by_reply(asked, Some("friday 5pm"), false),
            edit(Some("friday 5pm"), None)
        );
        assert_eq!(
            edit_by_reply(asked, Some("| hi | there"), false),
            edit(None, Some("hi | there"))
        );
        assert_eq!(edit_by_reply(confirmation, None, true), edit(None, None));
        assert_eq!(
            edit_by_reply(confirmation, Some("| caption"), true),
            edit(None, Some("caption"))
        );
        // Talk replying to a confirmation is talk; other messages of ours are not questions.
        assert_eq!(edit_by_reply(confirmation, Some("nice!"), false), None);
        assert_eq!(edit_by_reply("Cancelled post #17.", None, true), None);
        assert_eq!(
            edit_by_reply("Reply with a new time for nothing", Some("x"), false),
            None
        );
        assert!(matches!(
            edit_by_reply(asked, Some("in 1h |"), false),
            Some(Err(_))
        ));
    }

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
