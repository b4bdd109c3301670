//! `/deleteme`: erase the person and everything of theirs, revoking their grants at the
//! platforms, once they press the confirmation button (which erases only the presser).

use super::{Command, Verb};
use crate::commands::args::ParseError;
use crate::commands::context::{Context, internal};
use crate::commands::reply::{Button, ButtonAction, Reply, bold, plain};

/// `/deleteme`.
pub const VERB: Verb = Verb::new(
    "deleteme",
    "/deleteme",
    "erase everything of yours (asks first)",
    parse,
)
.private()
.before_consent();

fn parse(_: &str) -> Result<Command, ParseError> {
    Ok(Command::DeleteMe)
}

/// Asks first: nothing is erased until the button is pressed.
pub(crate) fn run() -> Reply {
    Reply::delete_confirmation()
}

/// The confirmation button was pressed: erases the presser.
pub(crate) async fn confirmed(ctx: &Context<'_>) -> Reply {
    match ctx.app.erase_user(ctx.actor.user, ctx.now).await {
        Ok(_) => Reply::deleted(),
        Err(e) => internal(&e),
    }
}

impl Reply {
    /// `/deleteme`: what will be erased, and the button that confirms it.
    pub fn delete_confirmation() -> Reply {
        let mut reply = Reply::lines(vec![
            vec![bold("Erase everything autopost keeps about you?")],
            vec![plain(
                "Your posts and settings are deleted, and the accounts you linked are disconnected with their access revoked at the platforms; this cannot be undone.",
            )],
        ])
        .privately();
        reply.buttons = vec![vec![Button {
            label: "Yes, erase everything".to_owned(),
            action: ButtonAction::ConfirmDelete,
        }]];
        reply
    }

    /// After `/deleteme` was confirmed.
    pub fn deleted() -> Reply {
        Reply::lines(vec![vec![plain(
            "Done: everything autopost kept about you is erased. Send /start if you ever want to come back.",
        )]])
        .privately()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_question_and_the_answer_are_private_and_the_button_confirms() {
        let confirm = Reply::delete_confirmation();
        assert!(confirm.private);
        assert_eq!(confirm.buttons[0][0].action, ButtonAction::ConfirmDelete);
        assert!(Reply::deleted().private);
    }
}
