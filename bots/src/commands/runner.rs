//! Running what a front end read on the `App`: who is acting (asking the front end for admin
//! rights only when the verb needs them), the per-person allowance, the verb itself, the
//! privacy-policy notice, and an answer for every failure: a refusal says what to do, an
//! internal fault says "something went wrong" with a reference the log keeps its chain under.

use std::sync::Arc;
use std::time::Instant;

use autopost::app::App;
use autopost::domain::Actor;
use autopost::front_end::{AdminRights, Person, Place, Privilege};
use autopost::people::PolicyNotice;
use autopost::throttle::{Allowance, Throttle};
use bytes::Bytes;
use chrono::Utc;

use super::args::ParseError;
use super::context::{Context, internal, posting_error};
use super::reply::{Block, ButtonAction, Reply, Span};
use super::verbs::{self, Command, Who};

/// One message for autopost, as a front end read it.
#[derive(Debug)]
pub struct Incoming<'a> {
    /// Who wrote it.
    pub person: Person<'a>,
    /// Where.
    pub place: Place<'a>,
    /// What it asks, parsed once by the front end with [`super::parse`], or why it could not
    /// be read.
    pub command: Result<Command, ParseError>,
    /// The images sent with it, fetched only for verbs that take them.
    pub images: Vec<Bytes>,
}

/// The chat-neutral command layer one front end runs its messages and button presses
/// through.
#[derive(Debug)]
pub struct Commands {
    app: Arc<App>,
    throttle: Throttle,
}

impl Commands {
    /// Runs commands on `app`, each person allowed `allowance`.
    pub fn new(app: Arc<App>, allowance: Allowance) -> Self {
        Self {
            app,
            throttle: Throttle::new(allowance),
        }
    }

    /// The app the commands run on.
    pub(crate) fn app(&self) -> &App {
        &self.app
    }

    /// Answers one message.
    pub async fn on_message(&self, incoming: Incoming<'_>, rights: &dyn AdminRights) -> Reply {
        let now = Utc::now();
        let needed = incoming
            .command
            .as_ref()
            .ok()
            .and_then(|command| command.verb().who.privilege())
            .map(|privilege| (privilege, rights));
        let platform = incoming.place.platform;
        let actor = match self
            .app
            .actor(incoming.person, incoming.place, needed, now)
            .await
        {
            Ok(actor) => actor,
            Err(e) => return internal(&e),
        };
        let command = match incoming.command {
            Ok(command) => command,
            Err(e) => return Reply::error(&e.to_string()),
        };
        if let Err(wait) = self.throttle.admit(actor.user, Instant::now()) {
            return Reply::error(&format!(
                "you are sending commands faster than autopost takes them; wait {} seconds and try again",
                wait.as_secs().max(1)
            ));
        }
        let context = Context {
            app: &self.app,
            actor: &actor,
            platform,
            now,
        };
        let mut reply = run(&context, command, incoming.images).await;
        self.policy_notice(&actor, &mut reply).await;
        reply
    }

    /// Answers a button press; `None` for data that is not ours. Permissions are checked
    /// again on every press: the data comes back from the chat client and may be forged.
    pub async fn on_button(
        &self,
        person: Person<'_>,
        place: Place<'_>,
        data: &str,
        rights: &dyn AdminRights,
    ) -> Option<Reply> {
        let now = Utc::now();
        let action = ButtonAction::parse(data)?;
        let command = match action {
            ButtonAction::Cancel(post) => Some(Command::Cancel { post }),
            ButtonAction::PostNow(post) => Some(Command::PostNow { post }),
            // The confirmation erases only the presser, whoever they are.
            ButtonAction::ConfirmDelete | ButtonAction::Retry(_) => None,
        };
        let privilege = match (&command, action) {
            (Some(command), _) => command.verb().who.privilege(),
            // Trying someone else's post again is changing it.
            (None, ButtonAction::Retry(_)) => Some(Privilege::ChangeOthersPosts),
            (None, _) => None,
        };
        let needed = privilege.map(|privilege| (privilege, rights));
        let platform = place.platform;
        let actor = match self.app.actor(person, place, needed, now).await {
            Ok(actor) => actor,
            Err(e) => return Some(internal(&e)),
        };
        let context = Context {
            app: &self.app,
            actor: &actor,
            platform,
            now,
        };
        Some(match (command, action) {
            (Some(command), _) => run(&context, command, Vec::new()).await,
            (None, ButtonAction::Retry(target)) => {
                match self.app.retry_target(&actor, target, now).await {
                    Ok(post) => Reply::retrying(post),
                    Err(e) => posting_error(&e),
                }
            }
            (None, _) => verbs::deleteme::confirmed(&context).await,
        })
    }

    /// On a person's first command, and after the operator publishes a newer policy, says
    /// where the policy is (the core records that they were shown it).
    async fn policy_notice(&self, actor: &Actor, reply: &mut Reply) {
        let notice = match self.app.policy_notice(actor).await {
            Ok(Some(notice)) => notice,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot record policy consent");
                return;
            }
        };
        let text = match notice {
            PolicyNotice::Changed => {
                "The privacy policy has changed; by using autopost you accept the new version: "
            }
            PolicyNotice::First => "By using autopost you accept its privacy policy: ",
        };
        reply.text.push(Block::Line(vec![
            Span::Plain(text.to_owned()),
            Span::Link {
                text: "privacy policy".to_owned(),
                url: self.app.privacy_url().to_string(),
            },
        ]));
    }
}

/// Runs one command for the actor of `ctx`, after the rule of who may.
async fn run(ctx: &Context<'_>, command: Command, images: Vec<Bytes>) -> Reply {
    let verb = command.verb();
    if let Who::Admin { to } = verb.who
        && !ctx.actor.is_admin
    {
        return Reply::error(&format!(
            "only a group administrator can {to}; ask one to send /{}",
            verb.name
        ));
    }
    match command {
        Command::Start => verbs::start::run(ctx),
        Command::Help => verbs::help::run(ctx),
        Command::Post { when, text, to } => verbs::post::run(ctx, when, text, &to, images).await,
        Command::Queue => verbs::queue::run(ctx).await,
        Command::Cancel { post } => verbs::cancel::run(ctx, post).await,
        Command::Edit { post, when, text } => verbs::edit::run(ctx, post, &when, &text).await,
        Command::PostNow { post } => verbs::postnow::run(ctx, post).await,
        Command::History => verbs::history::run(ctx).await,
        Command::Connect { platform } => verbs::connect::run(ctx, platform).await,
        Command::Accounts => verbs::accounts::run(ctx).await,
        Command::Disconnect { account } => verbs::disconnect::run(ctx, &account).await,
        Command::TimeZone { zone } => verbs::timezone::run(ctx, zone).await,
        Command::Export { images } => verbs::export::run(ctx, images).await,
        Command::DeleteMe => verbs::deleteme::run(),
    }
}
