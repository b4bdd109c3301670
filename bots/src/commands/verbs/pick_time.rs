//! The one-tap times of `/post`: a post refused only because its time was vague (`tomorrow
//! morning`, `next week`, `monday 9`) is held as written, and its refusal carries a button
//! per exact time ("tomorrow 09:00?"). A press schedules the held post with that time through
//! `/post` itself, so every check of `/post` applies; only its author may press, once.

use autopost::domain::DraftId;
use autopost::drafts::{DraftError, HeldPost};
use autopost::timeparse::TimeError;

use crate::commands::context::{Context, internal};
use crate::commands::reply::{Block, Button, ButtonAction, Reply, plain};

use super::post;

/// Buttons per row: short enough for a phone, and within Discord's five.
const PER_ROW: usize = 2;

/// Holds `held` and answers with the refusal `vague` and a button per suggestion it carries.
pub(crate) async fn offer(ctx: &Context<'_>, vague: TimeError, held: HeldPost) -> Reply {
    let message = vague.to_string();
    let TimeError::Vague { suggestions, .. } = vague else {
        return Reply::error(&message);
    };
    let draft = match ctx
        .app
        .hold_draft(ctx.actor, &held, &suggestions, ctx.now)
        .await
    {
        Ok(draft) => draft,
        Err(DraftError::Store(e)) => return internal(&e),
        // Holding fails only in the store; without buttons the message still helps.
        Err(_) => return Reply::error(&message),
    };
    let mut reply = Reply::error(&message);
    reply.text.push(Block::Line(vec![plain(
        "Tap a time to schedule the post as you wrote it (within the hour).",
    )]));
    reply.buttons = buttons(draft, &suggestions);
    reply
}

fn buttons(draft: DraftId, suggestions: &[String]) -> Vec<Vec<Button>> {
    let buttons: Vec<Button> = suggestions
        .iter()
        .enumerate()
        .filter_map(|(n, phrase)| {
            Some(Button {
                label: format!("{phrase}?"),
                action: ButtonAction::When {
                    draft,
                    choice: u8::try_from(n).ok()?,
                },
            })
        })
        .collect();
    buttons.chunks(PER_ROW).map(<[Button]>::to_vec).collect()
}

/// A press on suggestion `choice` of `draft`: the held post, with that time, through
/// `/post`. A refused post leaves the draft for another press; a scheduled one removes it.
pub(crate) async fn picked(ctx: &Context<'_>, draft: DraftId, choice: u8) -> Reply {
    let taken = match ctx
        .app
        .take_draft(ctx.actor, draft, usize::from(choice), ctx.now)
        .await
    {
        Ok(taken) => taken,
        Err(DraftError::Store(e)) => return internal(&e),
        Err(e) => return Reply::error(&e.to_string()),
    };
    let post = taken.post;
    let reply = post::run(ctx, taken.when, post.text, &post.to, post.images).await;
    let settled = if reply.refused {
        ctx.app.release_draft(taken.id).await
    } else {
        ctx.app.finish_draft(taken.id).await
    };
    if let Err(e) = settled {
        // The post's outcome stands; an unsettled draft is unusable and goes with the purge.
        tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot settle a draft");
    }
    reply
}
