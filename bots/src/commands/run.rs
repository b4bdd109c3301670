//! Running chat input on the `App`: parse, check the sender's allowance, call the core, and
//! answer with a `Reply`. Chat-neutral: Telegram and Discord hand in the same `Actor`.

use std::time::Instant;

use autopost::app::App;
use autopost::posting::{Actor, Draft, PostingError};
use autopost::throttle::Throttle;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{ButtonAction, Command, ParseContext, Reply, Span, parse};

/// Where the privacy page is, for `/start`, `/help` and the consent notice.
fn privacy_url(app: &App) -> url::Url {
    autopost::config::public_link(&app.config().public_url, &["privacy"])
}

/// Handles one chat message (text or caption, with its images); `None` when the message is
/// not for autopost.
pub async fn on_message(
    app: &App,
    throttle: &Throttle,
    actor: &Actor,
    text: &str,
    images: Vec<Bytes>,
    context: ParseContext<'_>,
    now: DateTime<Utc>,
) -> Option<Reply> {
    let command = match parse(text, context) {
        Ok(Some(command)) => command,
        Ok(None) => return None,
        Err(e) => return Some(Reply::error(&e.to_string())),
    };
    if let Err(wait) = throttle.admit(actor.user, Instant::now()) {
        return Some(Reply::error(&format!(
            "you are sending commands faster than autopost takes them; wait {} seconds and try again",
            wait.as_secs().max(1)
        )));
    }
    let mut reply = run(app, actor, command, images, now).await;
    consent_notice(app, actor, &mut reply).await;
    Some(reply)
}

/// Handles a button press; `None` for data that is not ours.
pub async fn on_button(app: &App, actor: &Actor, data: &str, now: DateTime<Utc>) -> Option<Reply> {
    let action = ButtonAction::parse(data)?;
    Some(match action {
        // Permissions are checked again: the data comes back from the chat client.
        ButtonAction::Cancel(post) => {
            run(app, actor, Command::Cancel { post }, Vec::new(), now).await
        }
        ButtonAction::PostNow(post) => {
            run(app, actor, Command::PostNow { post }, Vec::new(), now).await
        }
        // The confirmation goes only to the person who asked, and erases only the presser.
        ButtonAction::ConfirmDelete => match app.erase_user(actor.user, now).await {
            Ok(_) => Reply::deleted(),
            Err(e) => internal(&e),
        },
    })
}

/// Runs one command for `actor`.
pub async fn run(
    app: &App,
    actor: &Actor,
    command: Command,
    images: Vec<Bytes>,
    now: DateTime<Utc>,
) -> Reply {
    match command {
        Command::Start => Reply::start(&privacy_url(app)),
        Command::Help => Reply::help(&privacy_url(app)),
        Command::Post { when, text } => {
            let draft = Draft {
                when,
                text,
                images,
                targets: None,
            };
            match app.create_post(actor, draft, now).await {
                Ok(accepted) => Reply::accepted(&accepted),
                Err(e) => posting_error(&e),
            }
        }
        Command::Edit { post, when, text } => {
            match app.edit_post(actor, post, &when, &text, now).await {
                Ok(accepted) => Reply::edited(&accepted),
                Err(e) => posting_error(&e),
            }
        }
        Command::Cancel { post } => match app.cancel_post(actor, post, now).await {
            Ok(outcome) => Reply::cancelled(post, &outcome),
            Err(e) => posting_error(&e),
        },
        Command::PostNow { post } => match app.post_now(actor, post, now).await {
            Ok(count) => Reply::posting_now(post, count),
            Err(e) => posting_error(&e),
        },
        Command::Queue => match (app.queue(actor.chat).await, app.zone_of(actor).await) {
            (Ok(posts), Ok(zone)) => Reply::queue(&posts, zone),
            (Err(e), _) => posting_error(&e),
            (_, Err(e)) => internal(&e),
        },
        Command::History => match (app.history(actor.chat, 20).await, app.zone_of(actor).await) {
            (Ok(entries), Ok(zone)) => Reply::history(&entries, zone),
            (Err(e), _) => posting_error(&e),
            (_, Err(e)) => internal(&e),
        },
        // Accounts linked to a group post for everyone in it: the group's admins decide.
        Command::Connect { .. } if !actor.is_admin => Reply::error(
            "only a group administrator can link accounts to this group; ask one to send /connect",
        ),
        Command::Connect { platform } => match app
            .linker()
            .start_link(platform.oauth_provider(), actor.user, actor.chat, now)
            .await
        {
            Ok(link) => Reply::connect_link(platform, &link),
            Err(e @ autopost::oauth::OAuthError::ProviderOff { .. }) => {
                Reply::error(&e.to_string())
            }
            Err(e) => internal(&e),
        },
        Command::Accounts => match app.store().accounts_of_chat(actor.chat).await {
            Ok(accounts) => Reply::accounts(&accounts),
            Err(e) => internal(&e),
        },
        Command::Disconnect { account } => disconnect(app, actor, &account, now).await,
        Command::TimeZone { zone: Some(zone) } => {
            match app.store().set_user_time_zone(actor.user, zone).await {
                Ok(()) => Reply::time_zone(zone, now, true),
                Err(e) => internal(&e),
            }
        }
        Command::TimeZone { zone: None } => match app.zone_of(actor).await {
            Ok(zone) => Reply::time_zone(zone, now, false),
            Err(e) => internal(&e),
        },
        Command::Export => match app.export_user(actor.user, now).await {
            Ok(json) => Reply::export(json),
            Err(e) => internal(&e),
        },
        Command::DeleteMe => Reply::delete_confirmation(),
    }
}

async fn disconnect(app: &App, actor: &Actor, typed: &str, now: DateTime<Utc>) -> Reply {
    let accounts = match app.store().accounts_of_chat(actor.chat).await {
        Ok(accounts) => accounts,
        Err(e) => return internal(&e),
    };
    let wanted = typed.trim().trim_start_matches('@').to_lowercase();
    let matches: Vec<_> = accounts
        .iter()
        .filter(|a| a.display_name.trim_start_matches('@').to_lowercase() == wanted)
        .collect();
    let [account] = matches.as_slice() else {
        return Reply::error(&format!(
            "no single linked account is called `{}`; see /accounts for the exact names",
            typed.trim()
        ));
    };
    match app.disconnect_account(actor, account.id, now).await {
        Ok(_) => Reply::disconnected(&account.display_name),
        Err(
            e @ (autopost::privacy::PrivacyError::NotLinked
            | autopost::privacy::PrivacyError::NotAllowed(_)),
        ) => Reply::error(&e.to_string()),
        Err(e) => internal(&e),
    }
}

/// A user error is shown as is; anything else is logged with its chain under a short
/// reference, and the person sees only the reference.
fn posting_error(error: &PostingError) -> Reply {
    if error.is_user_error() {
        Reply::error(&error.to_string())
    } else {
        internal(error)
    }
}

fn internal(error: &(dyn std::error::Error + 'static)) -> Reply {
    let reference = format!("{:04x}", rand_u16());
    tracing::error!(reference = %reference, error = %autopost::telemetry::chain(error), "command failed");
    Reply::internal_error(&reference)
}

fn rand_u16() -> u16 {
    // Only needs to tell log lines apart, not to be unpredictable.
    let nanos = Utc::now().timestamp_subsec_nanos();
    (nanos ^ (nanos >> 16)) as u16
}

/// On a person's first command, and after the operator publishes a newer policy, says where
/// the policy is and records that they were shown it.
async fn consent_notice(app: &App, actor: &Actor, reply: &mut Reply) {
    let current = app.config().policy_version;
    let Ok(user) = app.store().user(actor.user).await else {
        return; // erased by this very command (/deleteme)
    };
    if user.accepted_policy_version.is_some_and(|v| v >= current) {
        return;
    }
    let notice = if user.accepted_policy_version.is_some() {
        "The privacy policy has changed; by using autopost you accept the new version: "
    } else {
        "By using autopost you accept its privacy policy: "
    };
    reply.text.push(super::Block::Line(vec![
        Span::Plain(notice.to_owned()),
        Span::Link {
            text: "privacy policy".to_owned(),
            url: privacy_url(app).to_string(),
        },
    ]));
    if let Err(e) = app.store().accept_policy(actor.user, current).await {
        tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot record policy consent");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autopost::crypto::Secret;
    use autopost::domain::{ChatKind, ChatPlatform, OAuthProvider, Provider};
    use autopost::store::{NewGrant, NewLinkedAccount};
    use autopost::throttle::Allowance;
    use autopost_sim::SimServer;
    use autopost_sim::x::{self as simx, SimXConfig, SimXUser};

    struct Chat {
        _dir: tempfile::TempDir,
        _server: SimServer,
        app: App,
        alice: Actor,
        bob: Actor,
        admin: Actor,
    }

    async fn chat() -> Chat {
        let (sim, server) = simx::start(SimXConfig::public("client")).await.unwrap();
        sim.insert_grant(SimXUser::new("2244994945", "team"), "tok", Some("ref"));
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().display().to_string();
        let x = server.url().to_string();
        let vars = [
            ("AUTOPOST_DATA_DIR", data.as_str()),
            ("AUTOPOST_X_CLIENT_ID", "client"),
            ("AUTOPOST_X_API_URL", x.as_str()),
        ];
        let config = autopost::config::from_variables(&vars).unwrap();
        let app = App::open(config).await.unwrap();
        let now = Utc::now();
        let store = app.store().clone();
        let mut users = Vec::new();
        for id in ["1", "2", "3"] {
            users.push(
                store
                    .upsert_user(ChatPlatform::Telegram, id, None, now)
                    .await
                    .unwrap()
                    .id,
            );
        }
        let chat = store
            .upsert_chat(ChatPlatform::Telegram, "-5", ChatKind::Group, None, now)
            .await
            .unwrap()
            .id;
        store
            .save_linked_grant(
                NewGrant {
                    owner: users[0],
                    provider: OAuthProvider::X,
                    remote_user_id: "2244994945",
                    scopes: "",
                    access_token: Secret::new("tok"),
                    refresh_token: Some(Secret::new("ref")),
                    expires_at: None,
                },
                vec![NewLinkedAccount {
                    provider: Provider::X,
                    remote_id: "2244994945".to_owned(),
                    display_name: "@team".to_owned(),
                    access_token: None,
                }],
                chat,
                now,
            )
            .await
            .unwrap();
        let actor = |user, is_admin| Actor {
            user,
            chat,
            is_admin,
        };
        Chat {
            _dir: dir,
            _server: server,
            alice: actor(users[0], false),
            bob: actor(users[1], false),
            admin: actor(users[2], true),
            app,
        }
    }

    const GROUP: ParseContext<'static> = ParseContext {
        bot_username: Some("autopost_bot"),
        is_private: false,
    };

    fn loose() -> Throttle {
        Throttle::new(Allowance::default())
    }

    async fn say(c: &Chat, who: &Actor, text: &str) -> Option<String> {
        on_message(&c.app, &loose(), who, text, Vec::new(), GROUP, Utc::now())
            .await
            .map(|r| r.to_telegram_html())
    }

    #[tokio::test]
    async fn a_post_is_confirmed_with_its_id_targets_and_buttons_and_queued() {
        let c = chat().await;
        let reply = on_message(
            &c.app,
            &loose(),
            &c.alice,
            "/post in 2h | hello team",
            Vec::new(),
            GROUP,
            Utc::now(),
        )
        .await
        .unwrap();
        let html = reply.to_telegram_html();
        assert!(html.contains("@team"), "{html}");
        assert!(
            html.contains("10/280") || html.contains("10 / 280"),
            "{html}"
        );
        assert_eq!(reply.buttons.len(), 2);
        assert_eq!(c.app.queue(c.alice.chat).await.unwrap().len(), 1);
        assert!(
            html.contains("privacy"),
            "first use shows the policy notice: {html}"
        );
        let again = say(&c, &c.alice, "/queue").await.unwrap();
        assert!(
            !again.contains("accept"),
            "the notice is shown once: {again}"
        );
    }

    #[tokio::test]
    async fn bad_input_gets_a_helpful_reply_and_queues_nothing() {
        let c = chat().await;
        let past = say(&c, &c.alice, "/post yesterday 9am | hi").await.unwrap();
        assert!(past.contains("passed"), "{past}");
        let long = say(&c, &c.alice, &format!("/post in 1h | {}", "a".repeat(300)))
            .await
            .unwrap();
        assert!(long.contains("280"), "{long}");
        let no_bar = say(&c, &c.alice, "/post tomorrow 9am hello").await.unwrap();
        assert!(no_bar.contains('|'), "{no_bar}");
        assert!(
            say(&c, &c.alice, "just chatting").await.is_none(),
            "plain group talk is ignored"
        );
        assert!(c.app.queue(c.alice.chat).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_member_cannot_cancel_anothers_post_but_an_admin_can_with_the_button() {
        let c = chat().await;
        let accepted = c
            .app
            .create_post(
                &c.alice,
                Draft {
                    when: "tomorrow 9am".into(),
                    text: "mine".into(),
                    ..Draft::default()
                },
                Utc::now(),
            )
            .await
            .unwrap();
        let id = accepted.post;
        let refused = say(&c, &c.bob, &format!("/cancel {id}")).await.unwrap();
        assert!(refused.contains("chat admin"), "{refused}");
        assert_eq!(c.app.queue(c.alice.chat).await.unwrap().len(), 1);
        let data = ButtonAction::Cancel(id).callback_data();
        let done = on_button(&c.app, &c.admin, &data, Utc::now())
            .await
            .unwrap();
        assert!(!done.to_telegram_html().is_empty());
        assert!(c.app.queue(c.alice.chat).await.unwrap().is_empty());
        assert!(
            on_button(&c.app, &c.admin, "not ours", Utc::now())
                .await
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_flood_from_one_person_is_refused_and_others_still_served() {
        let c = chat().await;
        let tight = Throttle::new(Allowance {
            burst: 2,
            per_second: 0.001,
        });
        for _ in 0..2 {
            on_message(
                &c.app,
                &tight,
                &c.bob,
                "/queue",
                Vec::new(),
                GROUP,
                Utc::now(),
            )
            .await
            .unwrap();
        }
        let refused = on_message(
            &c.app,
            &tight,
            &c.bob,
            "/queue",
            Vec::new(),
            GROUP,
            Utc::now(),
        )
        .await
        .unwrap()
        .to_telegram_html();
        assert!(refused.contains("faster"), "{refused}");
        let served = on_message(
            &c.app,
            &tight,
            &c.alice,
            "/queue",
            Vec::new(),
            GROUP,
            Utc::now(),
        )
        .await
        .unwrap()
        .to_telegram_html();
        assert!(!served.contains("faster"));
    }

    #[tokio::test]
    async fn deleteme_asks_first_and_the_confirmation_erases_the_presser() {
        let c = chat().await;
        let ask = on_message(
            &c.app,
            &loose(),
            &c.bob,
            "/deleteme",
            Vec::new(),
            GROUP,
            Utc::now(),
        )
        .await
        .unwrap();
        assert!(ask.private);
        assert_eq!(ask.buttons[0].action, ButtonAction::ConfirmDelete);
        assert!(
            c.app.store().user(c.bob.user).await.is_ok(),
            "nothing erased before the press"
        );
        on_button(
            &c.app,
            &c.bob,
            &ButtonAction::ConfirmDelete.callback_data(),
            Utc::now(),
        )
        .await
        .unwrap();
        assert!(c.app.store().user(c.bob.user).await.is_err());
        assert!(c.app.store().user(c.alice.user).await.is_ok());
    }

    #[tokio::test]
    async fn timezone_export_and_accounts_answer() {
        let c = chat().await;
        let set = say(&c, &c.alice, "/timezone Europe/Berlin").await.unwrap();
        assert!(set.contains("Europe/Berlin"), "{set}");
        assert_eq!(
            c.app.zone_of(&c.alice).await.unwrap(),
            chrono_tz::Europe::Berlin
        );
        let export = on_message(
            &c.app,
            &loose(),
            &c.alice,
            "/export",
            Vec::new(),
            GROUP,
            Utc::now(),
        )
        .await
        .unwrap();
        assert!(export.private);
        let file = export.file.unwrap();
        assert!(
            String::from_utf8(file.bytes)
                .unwrap()
                .contains("Europe/Berlin")
        );
        let accounts = say(&c, &c.alice, "/accounts").await.unwrap();
        assert!(accounts.contains("@team"), "{accounts}");
        let nope = say(&c, &c.alice, "/disconnect @nobody").await.unwrap();
        assert!(nope.contains("/accounts"), "{nope}");
    }
}
