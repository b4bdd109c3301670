//! `/start`: a short first screen with buttons for the first steps (link an account of each
//! configured platform, set the time zone); `/help` is the reference. Telegram sends it when a
//! person opens the bot, with the deep link's payload when a group sent them: `/start export`
//! carries on with what they asked for in the group where it can, or says to ask again.

use url::Url;

use super::{Command, Verb};
use crate::commands::args::ParseError;
use crate::commands::context::Context;
use crate::commands::reply::{Button, ButtonAction, Reply, Span, bold, code, plain};
use crate::commands::verbs::ConnectTarget;

/// `/start`.
pub const VERB: Verb = Verb::new(
    "start",
    "/start",
    "what autopost does, first steps and the privacy notice",
    parse,
)
.unlisted()
.before_consent();

/// The payload is a verb's name when a group sent the person here for a private answer.
fn parse(payload: &str) -> Result<Command, ParseError> {
    let resume = super::find(payload.trim())
        .filter(|verb| verb.answers_privately)
        .map(|verb| verb.name);
    Ok(Command::Start { resume })
}

/// What the first screen offers: the platforms this autopost is set up for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstSteps {
    /// X is configured.
    pub x: bool,
    /// Meta (Facebook Pages and Instagram) is configured.
    pub meta: bool,
    /// The person agreed to the privacy policy: before that, only the consent flow works, so
    /// the screen offers no step.
    pub agreed: bool,
}

/// Greets, or carries on with what the person asked for in a group.
pub(crate) async fn run(ctx: &Context<'_>, resume: Option<&'static str>) -> Reply {
    let config = ctx.app.config();
    let steps = FirstSteps {
        x: config.x.is_some(),
        meta: config.meta.is_some(),
        agreed: ctx.actor.consent.agreed,
    };
    match resume {
        // Their own data, asked for in a group: it belongs here, so it comes at once.
        Some("export") => {
            let mut reply = super::export::run(ctx, false).await;
            reply.text.insert(
                0,
                crate::commands::reply::Block::Line(vec![plain(
                    "👋 Thanks for opening this chat: here is the export you asked for.",
                )]),
            );
            reply
        }
        Some(verb) => Reply::start_resumed(verb, steps, &ctx.app.privacy_url()),
        None => Reply::start(steps, &ctx.app.privacy_url()),
    }
}

impl Reply {
    /// `/start`: what autopost does, the first steps as buttons, and where the rest is.
    pub fn start(steps: FirstSteps, privacy_url: &Url) -> Reply {
        let mut reply = Reply::lines(vec![
            vec![bold(
                "Hi! autopost publishes your posts to X, Facebook Pages and Instagram at the time you choose.",
            )],
            vec![
                plain("Link an account, set your time zone, then try "),
                code("/post in 5 minutes | Hello from autopost"),
            ],
            vec![
                plain("/help lists every command. "),
                Span::Link {
                    text: "Privacy policy".to_owned(),
                    url: privacy_url.to_string(),
                },
            ],
        ]);
        if !steps.agreed {
            return reply;
        }
        let mut connect = Vec::new();
        if steps.x {
            connect.push(Button {
                label: "Connect X".to_owned(),
                action: ButtonAction::Connect(ConnectTarget::X),
            });
        }
        if steps.meta {
            connect.push(Button {
                label: "Connect Facebook/Instagram".to_owned(),
                action: ButtonAction::Connect(ConnectTarget::Facebook),
            });
        }
        if !connect.is_empty() {
            reply.buttons.push(connect);
        }
        reply.buttons.push(vec![Button {
            label: "Set time zone".to_owned(),
            action: ButtonAction::AskZone,
        }]);
        reply
    }

    /// In a group, to someone whose private answer Telegram refused because they never
    /// opened the private chat: `link` opens it, and its Start carries on.
    pub fn open_private_chat(name: &str, link: &str) -> Reply {
        Reply::lines(vec![vec![
            plain(format!(
                "{name}, I answer this privately, and you have not opened a chat with me yet: "
            )),
            Span::Link {
                text: "open it here".to_owned(),
                url: link.to_owned(),
            },
            plain(" and press Start."),
        ]])
    }

    /// `/start VERB` from a group's deep link: the private chat works now; ask again there.
    pub fn start_resumed(verb: &str, steps: FirstSteps, privacy_url: &Url) -> Reply {
        let mut reply = Reply::lines(vec![
            vec![
                plain("👋 Thanks: I can answer you privately now. Send "),
                code(format!("/{verb}")),
                plain(" again in the group, and the answer comes here."),
            ],
            vec![],
        ]);
        let start = Reply::start(steps, privacy_url);
        reply.text.extend(start.text);
        reply.buttons = start.buttons;
        reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::url;

    #[test]
    fn the_first_screen_offers_only_the_configured_platforms_and_only_after_agreeing() {
        let privacy = url("https://autopost.example/privacy");
        let all = FirstSteps {
            x: true,
            meta: true,
            agreed: true,
        };
        let actions = |steps| -> Vec<ButtonAction> {
            Reply::start(steps, &privacy)
                .buttons
                .iter()
                .flatten()
                .map(|b| b.action)
                .collect()
        };
        assert_eq!(
            actions(all),
            [
                ButtonAction::Connect(ConnectTarget::X),
                ButtonAction::Connect(ConnectTarget::Facebook),
                ButtonAction::AskZone
            ]
        );
        assert_eq!(
            actions(FirstSteps { meta: false, ..all }),
            [
                ButtonAction::Connect(ConnectTarget::X),
                ButtonAction::AskZone
            ]
        );
        assert!(
            actions(FirstSteps {
                agreed: false,
                ..all
            })
            .is_empty()
        );
        let html = Reply::start(all, &privacy).to_telegram_html();
        assert!(html.starts_with("<b>Hi!"), "{html}");
        assert!(html.contains("/help"), "{html}");
        assert!(html.lines().count() <= 4, "a short screen: {html}");
    }

    #[test]
    fn a_deep_link_payload_names_a_verb_that_answers_privately_or_nothing() {
        assert_eq!(
            parse("connect"),
            Ok(Command::Start {
                resume: Some("connect")
            })
        );
        for other in ["", "queue", "nonsense", "private"] {
            assert_eq!(parse(other), Ok(Command::Start { resume: None }), "{other}");
        }
    }
}
