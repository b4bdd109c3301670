//! Running what a front end read on the `App`: who is acting (asking the front end for admin
//! rights only when the verb needs them), the per-person allowance, the verb itself, the
//! privacy-policy notice, and an answer for every failure: a refusal says what to do, an
//! internal fault says "something went wrong" with a reference the log keeps its chain under.

use std::sync::Arc;
use std::time::Instant;

use autopost::app::App;
use autopost::front_end::{AdminRights, Person, Place, Privilege};
use autopost::people::PolicyStanding;
use autopost::throttle::{Allowance, Throttle};
use bytes::Bytes;
use chrono::Utc;

use super::args::ParseError;
use super::context::{Context, internal, posting_error};
use super::reply::{ButtonAction, Reply};
use super::verbs::{self, Command, Document, Who};
use super::zones::likely_zones;

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
    /// The file sent with it (or that it replies to), fetched only for verbs that read one.
    pub document: Option<Document>,
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
        let language = incoming.person.language;
        let actor = match self
            .app
            .actor(incoming.person, incoming.place, needed, now)
            .await
        {
            Ok(actor) => actor,
            Err(e) => return internal(&e),
        };
        // Before agreeing, anything but the verbs that explain autopost or exercise a right
        // over one's data (even a command that cannot be read) meets the notice alone.
        let open = incoming
            .command
            .as_ref()
            .is_ok_and(|command| command.verb().before_consent);
        if !actor.consent.agreed && !open {
            return Reply::policy_gate(&self.app.policy(), true);
        }
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
        let standing = match self.app.policy_standing(&actor, now).await {
            Ok(standing) => standing,
            Err(e) => return internal(&e),
        };
        // The greeting and the help carry the notice; the answers about one's data (a file,
        // the erasure question) stay about that alone.
        let introduces = matches!(command, Command::Start { .. } | Command::Help);
        let posts = matches!(command, Command::Post { .. });
        let context = Context {
            app: &self.app,
            actor: &actor,
            platform,
            now,
        };
        let mut reply = run(&context, command, incoming.images, incoming.document).await;
        // People who agreed before autopost asked for zones are asked once, with the first
        // post they make: its confirmation shows the zone it was read in.
        if posts && !reply.refused {
            match self.app.ask_time_zone_once(&actor, now).await {
                Ok(true) => reply = reply.with_zone_question(&likely_zones(language), now),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot record the time zone question")
                }
            }
        }
        match standing {
            // The policy (a URL built, the operator's text copied) only where it is shown.
            PolicyStanding::MustAgree if introduces => reply.with_policy_gate(&self.app.policy()),
            PolicyStanding::Changed => reply.with_policy_changed(&self.app.policy()),
            _ => reply,
        }
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
            ButtonAction::SetZone(zone) => Some(Command::TimeZone { zone: Some(zone) }),
            ButtonAction::Connect(platform) => Some(Command::Connect { platform }),
            ButtonAction::AskZone | ButtonAction::Edit(_) => None,
            // The confirmation erases only the presser, whoever they are; agreeing, likewise,
            // is the presser's own.
            // A picked time is `/post` again, checked as the presser.
            ButtonAction::ConfirmDelete
            | ButtonAction::Retry(_)
            | ButtonAction::AgreePolicy
            | ButtonAction::ToggleTarget(..)
            | ButtonAction::When { .. } => None,
        };
        let privilege = match (&command, action) {
            (Some(command), _) => command.verb().who.privilege(),
            // Trying someone else's post again, choosing its targets or asking to edit it is
            // changing it.
            (
                None,
                ButtonAction::Retry(_) | ButtonAction::ToggleTarget(..) | ButtonAction::Edit(_),
            ) => Some(Privilege::ChangeOthersPosts),
            (None, _) => None,
        };
        let needed = privilege.map(|privilege| (privilege, rights));
        let platform = place.platform;
        let language = person.language;
        let actor = match self.app.actor(person, place, needed, now).await {
            Ok(actor) => actor,
            Err(e) => return Some(internal(&e)),
        };
        match action {
            ButtonAction::AgreePolicy => {
                if let Err(e) = self.app.agree_to_policy(&actor, now).await {
                    return Some(internal(&e));
                }
                let agreed = Reply::policy_agreed(&self.app.policy());
                // First use: their zone is asked, not assumed.
                return Some(match self.app.ask_time_zone_once(&actor, now).await {
                    Ok(true) => agreed.with_zone_question(&likely_zones(language), now),
                    Ok(false) => agreed,
                    Err(e) => internal(&e),
                });
            }
            ButtonAction::ConfirmDelete => {}
            _ if !actor.consent.agreed => return Some(Reply::policy_first()),
            _ => {}
        }
        let context = Context {
            app: &self.app,
            actor: &actor,
            platform,
            now,
        };
        Some(match (command, action) {
            // The zone is the presser's own: the answer goes to them, and the message with the
            // buttons (a post's confirmation) stays as it was.
            (Some(command), ButtonAction::SetZone(_)) => {
                let mut reply = run(&context, command, Vec::new(), None).await.privately();
                reply.beside = true;
                reply
            }
            (Some(command), _) => run(&context, command, Vec::new(), None).await,
            (None, ButtonAction::AskZone) => {
                Reply::zone_question(&likely_zones(language), now).privately()
            }
            (None, ButtonAction::Retry(target)) => {
                match self.app.retry_target(&actor, target, now).await {
                    // The status message the button is on keeps showing the post; it is
                    // edited as the retry goes.
                    Ok(post) => Reply::retrying(post).aside(),
                    Err(e) => posting_error(&e),
                }
            }
            (None, ButtonAction::ToggleTarget(post, account)) => {
                match self.app.toggle_target(&actor, post, account, now).await {
                    Ok(accepted) => Reply::accepted(&accepted),
                    Err(e) => posting_error(&e),
                }
            }
            (None, ButtonAction::Edit(post)) => verbs::edit::form(&context, post).await,
            (None, ButtonAction::When { draft, choice }) => {
                verbs::pick_time::picked(&context, draft, choice).await
            }
            (None, _) => verbs::deleteme::confirmed(&context).await,
        })
    }
}

/// Runs one command for the actor of `ctx`, after the rule of who may.
async fn run(
    ctx: &Context<'_>,
    command: Command,
    images: Vec<Bytes>,
    document: Option<Document>,
) -> Reply {
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
        Command::Start { resume } => verbs::start::run(ctx, resume).await,
        Command::Help => verbs::help::run(ctx),
        Command::Post { when, text, to } => verbs::post::run(ctx, when, text, &to, images).await,
        Command::Import => verbs::import::run(ctx, document).await,
        Command::Queue => verbs::queue::run(ctx).await,
        Command::Cancel { post } => verbs::cancel::run(ctx, post).await,
        Command::Edit { post, when, text } => verbs::edit::run(ctx, post, when, text, images).await,
        Command::EditSubmitted { post, when, text } => {
            verbs::edit::run_form(ctx, post, when, text).await
        }
        Command::PostNow { post } => verbs::postnow::run(ctx, post).await,
        Command::History => verbs::history::run(ctx).await,
        Command::Connect { platform } => verbs::connect::run(ctx, platform).await,
        Command::Accounts => verbs::accounts::run(ctx).await,
        Command::Disconnect { account } => verbs::disconnect::run(ctx, &account).await,
        Command::TimeZone { zone } => verbs::timezone::run(ctx, zone).await,
        Command::ChatTimeZone { zone } => verbs::timezone::run_chat(ctx, zone).await,
        Command::Export { images } => verbs::export::run(ctx, images).await,
        Command::DeleteMe => verbs::deleteme::run(),
    }
}
