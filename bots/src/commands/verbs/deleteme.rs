//! `/deleteme`: erase the person and everything of theirs, revoking their grants at the
//! platforms, once they press the confirmation button (which erases only the presser).

use autopost::privacy::Erasure;

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
        Ok(erasure) => Reply::deleted(&erasure),
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

    /// After `/deleteme` was confirmed: erased, and what became of each access the person
    /// had given autopost at the platforms.
    pub fn deleted(erasure: &Erasure) -> Reply {
        let mut lines = vec![vec![plain(
            "Done: everything autopost kept about you is erased.",
        )]];
        let mut access = Vec::new();
        if erasure.revoked > 0 {
            access.push(format!("{} revoked at the platform", erasure.revoked));
        }
        if erasure.already_revoked > 0 {
            access.push(format!(
                "{} had already been revoked",
                erasure.already_revoked
            ));
        }
        if erasure.retrying > 0 {
            access.push(format!(
                "{} not revoked yet, because the platform could not be reached: autopost erased its copy and keeps trying to revoke {} there for up to 30 days",
                erasure.retrying,
                if erasure.retrying == 1 { "it" } else { "them" },
            ));
        }
        if !access.is_empty() {
            lines.push(vec![plain(format!(
                "Access you had given autopost: {}.",
                access.join("; ")
            ))]);
        }
        lines.push(vec![plain("Send /start if you ever want to come back.")]);
        Reply::lines(lines).privately()
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
        assert!(Reply::deleted(&Erasure::default()).private);
    }

    #[test]
    fn the_answer_reports_revoked_already_revoked_and_retrying_access() {
        let html = |erasure: Erasure| Reply::deleted(&erasure).to_telegram_html();
        let nothing = html(Erasure::default());
        assert!(!nothing.contains("Access"), "{nothing}");
        let all = html(Erasure {
            revoked: 2,
            already_revoked: 1,
            retrying: 1,
            files_removed: 0,
        });
        assert!(
            all.contains("2 revoked at the platform; 1 had already been revoked; 1 not revoked yet, because the platform could not be reached"),
            "{all}"
        );
        assert!(all.contains("revoke it there"), "{all}");
        let one = html(Erasure {
            revoked: 1,
            ..Erasure::default()
        });
        assert!(
            one.contains("Access you had given autopost: 1 revoked at the platform."),
            "{one}"
        );
        assert!(!one.contains("not revoked yet"), "{one}");
    }
}
