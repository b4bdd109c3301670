//! The command layer on a running app in a world with a simulated X: who may do what, what
//! each answer says, what changes and what does not, and an answer for every failure.

use std::sync::atomic::{AtomicUsize, Ordering};

use autopost::domain::{ChatKind, ChatPlatform};
use autopost::front_end::{AdminRights, Person, Place, Privilege};
use autopost::posting::Draft;
use autopost::throttle::Allowance;
use autopost_sim::world::X_CLIENT_ID;
use autopost_sim::x::{Endpoint, Failure as XFailure, SimXConfig, SimXUser};
use autopost_sim::{CapturedLogs, World};
use chrono::Utc;

use super::*;

/// The group every test talks in.
const GROUP: &str = "-5";

/// A group whose members are `1` (alice, who linked the team's X account `@team`), `2` (bob)
/// and `3` (an admin), with commands run through `commands`.
struct Team {
    world: World,
    commands: Commands,
}

async fn team() -> Team {
    team_allowing(Allowance::default()).await
}

async fn team_allowing(allowance: Allowance) -> Team {
    let mut x = SimXConfig::public(X_CLIENT_ID);
    x.user = SimXUser::new("2244994945", "team");
    let world = World::builder().x_with(x).start().await.unwrap();
    world
        .link_x(&format!("telegram:{GROUP}"), "telegram:1")
        .await
        .unwrap();
    // The consent gate has its own tests below; these people already agreed.
    world
        .agree(&["telegram:1", "telegram:2", "telegram:3"])
        .await
        .unwrap();
    let commands = Commands::new(world.app().clone(), allowance);
    Team { world, commands }
}

/// How a test answers the question of admin rights, counting how often it was asked.
#[derive(Default)]
struct Rights {
    admin: bool,
    asked: AtomicUsize,
}

impl Rights {
    fn member() -> Self {
        Self::default()
    }

    fn admin() -> Self {
        Self {
            admin: true,
            ..Self::default()
        }
    }
}

#[async_trait::async_trait]
impl AdminRights for Rights {
    async fn holds(&self, _: Privilege) -> bool {
        self.asked.fetch_add(1, Ordering::SeqCst);
        self.admin
    }
}

fn person(id: &str) -> Person<'_> {
    Person {
        platform: ChatPlatform::Telegram,
        id,
        name: Some(id),
        language: None,
    }
}

fn group() -> Place<'static> {
    Place {
        platform: ChatPlatform::Telegram,
        id: GROUP,
        kind: ChatKind::Group,
        title: Some("team"),
    }
}

const IN_GROUP: ParseContext<'static> = ParseContext {
    bot_username: Some("autopost_bot"),
    is_private: false,
};

impl Team {
    /// What `who` is answered for `text` in the group; `None` when it is not for autopost.
    async fn say(&self, who: &str, text: &str, rights: &Rights) -> Option<Reply> {
        let command = match parse(text, IN_GROUP) {
            Ok(None) => return None,
            Ok(Some(command)) => Ok(command),
            Err(e) => Err(e),
        };
        let incoming = Incoming {
            person: person(who),
            place: group(),
            command,
            images: Vec::new(),
            document: None,
        };
        Some(self.commands.on_message(incoming, rights).await)
    }

    async fn html(&self, who: &str, text: &str) -> String {
        self.say(who, text, &Rights::member())
            .await
            .unwrap()
            .to_telegram_html()
    }

    async fn press(&self, who: &str, data: &str, rights: &Rights) -> Option<Reply> {
        self.commands
            .on_button(person(who), group(), data, rights)
            .await
    }

    async fn queued(&self) -> usize {
        let actor = self
            .world
            .actor(&format!("telegram:{GROUP}"), "telegram:1")
            .await
            .unwrap();
        self.world.app().queue(actor.chat).await.unwrap().len()
    }
}

#[tokio::test]
async fn a_post_is_confirmed_with_its_id_targets_and_buttons_and_queued() {
    let t = team().await;
    let reply = t
        .say("1", "/post in 2h | hello team", &Rights::member())
        .await
        .unwrap();
    let html = reply.to_telegram_html();
    assert!(html.contains("@team"), "{html}");
    assert!(html.contains("10/280"), "{html}");
    assert_eq!(reply.buttons[0].len(), 3, "Cancel, Post now, Edit");
    assert_eq!(t.queued().await, 1);
    assert!(!html.contains("privacy"), "no notice once agreed: {html}");
}

#[tokio::test]
async fn a_text_too_long_for_x_is_confirmed_as_a_thread_and_numbered_on_request() {
    let t = team().await;
    let long = t
        .html("1", &format!("/post in 1h | {}", ["word"; 100].join(" ")))
        .await;
    assert!(
        long.contains("@team (X): thread of 2 parts (499 characters)"),
        "{long}"
    );
    let numbered = t
        .html(
            "1",
            &format!("/post in 2h | {}\n1/n", ["more"; 150].join(" ")),
        )
        .await;
    assert!(
        numbered.contains("thread of 3 parts (749 characters)"),
        "{numbered}"
    );
    assert_eq!(t.queued().await, 2);
}

#[tokio::test]
async fn bad_input_gets_a_helpful_reply_and_queues_nothing() {
    let t = team().await;
    let past = t.html("1", "/post yesterday 9am | hi").await;
    assert!(past.contains("passed"), "{past}");
    let invisible = t.html("1", "/post in 1h | \u{200B}").await;
    assert!(invisible.contains("invisible"), "{invisible}");
    let no_bar = t.html("1", "/post tomorrow 9am hello").await;
    assert!(no_bar.contains('|'), "{no_bar}");
    assert!(
        t.say("1", "just chatting", &Rights::member())
            .await
            .is_none(),
        "plain group talk is ignored"
    );
    assert_eq!(t.queued().await, 0);
}

#[tokio::test]
async fn admin_rights_are_asked_only_for_verbs_that_need_them() {
    let t = team().await;
    let rights = Rights::member();
    t.say("2", "/queue", &rights).await.unwrap();
    t.say("2", "/post tomorrow 9am | mine", &rights)
        .await
        .unwrap();
    t.say("2", "/cancel abc", &rights).await.unwrap();
    assert_eq!(rights.asked.load(Ordering::SeqCst), 0);
    t.say("2", "/cancel 999", &rights).await.unwrap();
    assert_eq!(rights.asked.load(Ordering::SeqCst), 1);
    let refused = t.say("2", "/connect x", &rights).await.unwrap();
    assert!(refused.refused);
    assert!(
        refused
            .to_telegram_html()
            .contains("Only a group administrator can link accounts to this group"),
        "{}",
        refused.to_telegram_html()
    );
    let allowed = t.say("3", "/connect x", &Rights::admin()).await.unwrap();
    assert!(allowed.private && !allowed.refused);
}

#[tokio::test]
async fn a_member_cannot_cancel_anothers_post_but_an_admin_can_with_the_button() {
    let t = team().await;
    let alice = t
        .world
        .actor(&format!("telegram:{GROUP}"), "telegram:1")
        .await
        .unwrap();
    let accepted = t
        .world
        .app()
        .create_post(
            &alice,
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
    let refused = t.html("2", &format!("/cancel {id}")).await;
    assert!(refused.contains("chat admin"), "{refused}");
    assert_eq!(t.queued().await, 1);
    let data = ButtonAction::Cancel(id).callback_data();
    let forged = t.press("2", &data, &Rights::member()).await.unwrap();
    assert!(forged.refused, "the button is checked again");
    assert_eq!(t.queued().await, 1);
    let done = t.press("3", &data, &Rights::admin()).await.unwrap();
    assert!(!done.refused && done.to_telegram_html().contains("Cancelled"));
    assert_eq!(t.queued().await, 0);
    assert!(
        t.press("3", "not ours", &Rights::admin()).await.is_none(),
        "data that is not ours"
    );
}

#[tokio::test]
async fn a_flood_from_one_person_is_refused_and_others_still_served() {
    let t = team_allowing(Allowance {
        burst: 2,
        per_second: 0.001,
    })
    .await;
    for _ in 0..2 {
        t.html("2", "/queue").await;
    }
    let refused = t.html("2", "/queue").await;
    assert!(refused.contains("faster"), "{refused}");
    let served = t.html("1", "/queue").await;
    assert!(!served.contains("faster"), "{served}");
}

#[tokio::test]
async fn deleteme_asks_first_and_the_confirmation_erases_the_presser() {
    let t = team().await;
    let ask = t.say("2", "/deleteme", &Rights::member()).await.unwrap();
    assert!(ask.private);
    assert_eq!(ask.buttons[0][0].action, ButtonAction::ConfirmDelete);
    let bob_before = t.world.app().export_user(bob(&t).await, Utc::now()).await;
    assert!(bob_before.is_ok(), "nothing erased before the press");
    let data = ButtonAction::ConfirmDelete.callback_data();
    let rights = Rights::member();
    let done = t.press("2", &data, &rights).await.unwrap();
    assert!(done.private && done.to_telegram_html().contains("erased"));
    assert_eq!(
        rights.asked.load(Ordering::SeqCst),
        0,
        "erasing oneself needs no rights"
    );
    let export = t.world.app().export_user(bob(&t).await, Utc::now()).await;
    let json = String::from_utf8(export.unwrap()).unwrap();
    assert!(
        !json.contains("\"display_name\": \"2\""),
        "bob came back as a new person only: {json}"
    );
    let alice = t.html("1", "/accounts").await;
    assert!(
        alice.contains("@team"),
        "alice and her account stay: {alice}"
    );
}

/// Bob's user id, recording him if he is new.
async fn bob(t: &Team) -> autopost::domain::UserId {
    t.world
        .actor(&format!("telegram:{GROUP}"), "telegram:2")
        .await
        .unwrap()
        .user
}

#[tokio::test]
async fn timezone_export_and_accounts_answer() {
    let t = team().await;
    let set = t.html("1", "/timezone Europe/Berlin").await;
    assert!(set.contains("Europe/Berlin"), "{set}");
    let shown = t.html("1", "/timezone").await;
    assert!(
        shown.contains("Your time zone is <b>Europe/Berlin"),
        "{shown}"
    );
    let export = t.say("1", "/export", &Rights::member()).await.unwrap();
    assert!(export.private);
    let file = export.file.unwrap();
    assert!(
        String::from_utf8(file.bytes)
            .unwrap()
            .contains("Europe/Berlin")
    );
    let accounts = t.html("1", "/accounts").await;
    assert!(accounts.contains("@team"), "{accounts}");
    let nope = t.html("1", "/disconnect @nobody").await;
    assert!(nope.contains("/accounts"), "{nope}");
}

#[tokio::test]
async fn an_internal_failure_is_answered_with_a_reference_the_log_keeps_with_its_cause() {
    let t = team().await;
    let logs = CapturedLogs::default();
    let subscriber = logs
        .subscriber("error", autopost::config::LogFormat::Text)
        .unwrap();
    // This test's runtime runs on this one thread.
    let _logging = tracing::subscriber::set_default(subscriber);
    // The database goes away under the running app.
    t.world.app().close().await;
    let reply = t.say("1", "/queue", &Rights::member()).await.unwrap();
    assert!(reply.refused);
    let html = reply.to_telegram_html();
    assert!(html.contains("Something went wrong"), "{html}");
    let reference = html
        .split("<code>")
        .nth(1)
        .and_then(|rest| rest.split("</code>").next())
        .unwrap()
        .to_owned();
    assert_eq!(reference.len(), 6, "{html}");
    let logged = logs.text();
    let line = logged
        .lines()
        .find(|line| line.contains(&reference))
        .unwrap_or_else(|| panic!("no log line with ref {reference}: {logged}"));
    assert!(
        line.contains("database failed") && line.contains(": "),
        "the line carries the error's chain: {line}"
    );
}

#[tokio::test]
async fn a_newcomer_meets_the_notice_until_they_agree_and_only_rights_verbs_work_before() {
    let t = team().await;
    let rights = Rights::member();
    // Anything but /start, /help, /export and /deleteme answers with the notice alone.
    for text in [
        "/post in 2h | sneaky",
        "/queue",
        "/connect x",
        "/timezone UTC",
        "/cancel abc",
    ] {
        let reply = t.say("9", text, &rights).await.unwrap();
        let html = reply.to_telegram_html();
        assert!(
            html.contains("18 or older") && html.contains("/privacy"),
            "{text}: {html}"
        );
        assert!(html.contains("version 1,"), "{text}: {html}");
        assert_eq!(
            reply.buttons,
            vec![vec![Button {
                label: AGREE_LABEL.to_owned(),
                action: ButtonAction::AgreePolicy,
            }]],
            "{text}"
        );
    }
    assert_eq!(t.queued().await, 0, "nothing was queued");
    // The ones that work answer, /start and /help with the notice under them.
    let help = t.say("9", "/help", &rights).await.unwrap();
    assert!(
        help.to_telegram_html().contains("/post")
            && help.to_telegram_html().contains("18 or older")
    );
    assert_eq!(
        help.buttons.last().unwrap()[0].action,
        ButtonAction::AgreePolicy
    );
    let export = t.say("9", "/export", &rights).await.unwrap();
    assert!(export.file.is_some(), "export works before agreeing");
    let ask = t.say("9", "/deleteme", &rights).await.unwrap();
    assert_eq!(ask.buttons[0][0].action, ButtonAction::ConfirmDelete);
    // Another button before agreeing is refused.
    let cancel = ButtonAction::Cancel(autopost::domain::PostId(1)).callback_data();
    let refused = t.press("9", &cancel, &rights).await.unwrap();
    assert!(refused.refused && refused.to_telegram_html().contains("agree"));
    // Pressing the button records the agreement with its version, and the audit log has it.
    let agree = ButtonAction::AgreePolicy.callback_data();
    let agreed = t.press("9", &agree, &rights).await.unwrap();
    assert!(
        agreed.to_telegram_html().contains("18 or older"),
        "{agreed:?}"
    );
    let user = t
        .world
        .actor(&format!("telegram:{GROUP}"), "telegram:9")
        .await
        .unwrap()
        .user;
    let stored = t.world.store().await.unwrap().user(user).await.unwrap();
    assert!(stored.adult_confirmed_at.is_some());
    assert_eq!(stored.accepted_policy_version, Some(1));
    let posted = t.html("9", "/post in 2h | now it counts").await;
    assert!(
        posted.contains("@team") && !posted.contains("18 or older"),
        "{posted}"
    );
    assert_eq!(t.queued().await, 1);
}

#[tokio::test]
async fn a_newer_policy_is_announced_once_with_what_changed() {
    let world = World::builder()
        .var("AUTOPOST_POLICY_VERSION", "2")
        .var("AUTOPOST_POLICY_DATE", "2027-01-15")
        .var("AUTOPOST_POLICY_CHANGES", "images are now kept 3 days")
        .start()
        .await
        .unwrap();
    let commands = Commands::new(world.app().clone(), Allowance::default());
    let actor = world.actor("telegram:-5", "telegram:4").await.unwrap();
    // Agreed to version 1 before the operator published version 2.
    world
        .store()
        .await
        .unwrap()
        .record_consent(
            actor.user,
            1,
            autopost::store::ConsentAction::Agreed,
            Utc::now(),
        )
        .await
        .unwrap();
    let ask = async |text: &str| {
        let incoming = Incoming {
            person: person("4"),
            place: group(),
            command: Ok(parse(text, IN_GROUP).unwrap().unwrap()),
            images: Vec::new(),
            document: None,
        };
        commands
            .on_message(incoming, &Rights::member())
            .await
            .to_telegram_html()
    };
    let first = ask("/queue").await;
    assert!(
        first.contains("has changed: images are now kept 3 days"),
        "{first}"
    );
    assert!(first.contains("version 2, 15 January 2027"), "{first}");
    let second = ask("/queue").await;
    assert!(!second.contains("changed"), "told once: {second}");
    let history = world
        .store()
        .await
        .unwrap()
        .consents_of(actor.user)
        .await
        .unwrap();
    let actions: Vec<(u32, &str)> = history.iter().map(|(v, a, _)| (*v, a.as_str())).collect();
    assert_eq!(actions, vec![(1, "agreed"), (2, "notified")]);
}

/// What `who` is answered for `text` in the group `-6`, where alice linked the same X
/// account too.
async fn say_in_second_group(t: &Team, who: &str, text: &str) -> String {
    let command = parse(text, IN_GROUP).unwrap().unwrap();
    let incoming = Incoming {
        person: person(who),
        place: Place {
            platform: ChatPlatform::Telegram,
            id: "-6",
            kind: ChatKind::Group,
            title: Some("second"),
        },
        command: Ok(command),
        images: Vec::new(),
        document: None,
    };
    t.commands
        .on_message(incoming, &Rights::member())
        .await
        .to_telegram_html()
}

#[tokio::test]
async fn disconnect_says_whether_the_access_was_kept_or_will_be_revoked_later() {
    let t = team().await;
    t.world.link_x("telegram:-6", "telegram:1").await.unwrap();
    let kept = t.html("1", "/disconnect @team").await;
    assert!(
        kept.contains("Disconnected @team from this chat")
            && kept.contains("was not revoked")
            && kept.contains("@team (X) in 1 other chat"),
        "{kept}"
    );
    assert_eq!(t.world.x().token_requests().revocations, 0);

    // The last chat lets go while X is down: revoked later, and the reply says so.
    for _ in 0..2 {
        t.world
            .x()
            .fail_next(Endpoint::Revoke, XFailure::ServerError);
    }
    let later = say_in_second_group(&t, "1", "/disconnect @team").await;
    assert!(
        later.contains("could not be reached") && later.contains("keeps trying"),
        "{later}"
    );
    assert!(!later.contains("was revoked"), "{later}");
    assert!(t.world.x().revoked_tokens().is_empty());
}

#[tokio::test]
async fn disconnect_says_revoked_only_when_x_confirmed_it() {
    let t = team().await;
    let revoked = t.html("1", "/disconnect @team").await;
    assert!(
        revoked.contains("Disconnected @team; autopost's access was revoked at X."),
        "{revoked}"
    );
    assert!(!t.world.x().revoked_tokens().is_empty());
}

#[tokio::test]
async fn the_erasure_answer_says_what_became_of_the_access_at_x() {
    let t = team().await;
    for _ in 0..2 {
        t.world
            .x()
            .fail_next(Endpoint::Revoke, XFailure::ServerError);
    }
    let data = ButtonAction::ConfirmDelete.callback_data();
    let done = t.press("1", &data, &Rights::member()).await.unwrap();
    let html = done.to_telegram_html();
    assert!(html.contains("erased"), "{html}");
    assert!(
        html.contains("1 not revoked yet, because the platform could not be reached"),
        "{html}"
    );
    assert!(!html.contains("revoked at the platform"), "{html}");
}

/// Someone whose chat client reports `language`.
fn speaking<'a>(id: &'a str, language: &'a str) -> Person<'a> {
    Person {
        language: Some(language),
        ..person(id)
    }
}

/// The zones a reply's buttons offer.
fn zone_buttons(reply: &Reply) -> Vec<chrono_tz::Tz> {
    reply
        .buttons
        .iter()
        .flatten()
        .filter_map(|button| match button.action {
            ButtonAction::SetZone(zone) => Some(zone),
            _ => None,
        })
        .collect()
}

/// The zone a person set, if any.
async fn own_zone(t: &Team, who: &str) -> Option<chrono_tz::Tz> {
    let actor = t
        .world
        .actor(&format!("telegram:{GROUP}"), &format!("telegram:{who}"))
        .await
        .unwrap();
    let store = t.world.store().await.unwrap();
    store.user(actor.user).await.unwrap().time_zone
}

/// This group's own zone, if any.
async fn chat_zone(t: &Team) -> Option<chrono_tz::Tz> {
    let actor = t
        .world
        .actor(&format!("telegram:{GROUP}"), "telegram:1")
        .await
        .unwrap();
    let store = t.world.store().await.unwrap();
    store.chat(actor.chat).await.unwrap().time_zone
}

#[tokio::test]
async fn after_agreeing_a_newcomer_is_asked_their_zone_from_their_language_and_a_tap_sets_it() {
    use chrono_tz::Europe;
    let t = team().await;
    let rights = Rights::member();
    let zone = ButtonAction::SetZone(Europe::Vienna).callback_data();
    let early = t
        .commands
        .on_button(speaking("9", "de"), group(), &zone, &rights)
        .await
        .unwrap();
    assert!(
        early.refused,
        "before agreeing, only the consent flow works"
    );
    assert_eq!(own_zone(&t, "9").await, None);
    let agree = ButtonAction::AgreePolicy.callback_data();
    let agreed = t
        .commands
        .on_button(speaking("9", "de"), group(), &agree, &rights)
        .await
        .unwrap();
    let html = agreed.to_telegram_html();
    assert!(html.contains("Which time zone are you in?"), "{html}");
    assert!(html.contains("/timezone Lisbon"), "{html}");
    assert_eq!(
        zone_buttons(&agreed),
        [
            Europe::Berlin,
            Europe::Vienna,
            Europe::Zurich,
            chrono_tz::Tz::UTC
        ]
    );
    let set = t
        .commands
        .on_button(speaking("9", "de"), group(), &zone, &rights)
        .await
        .unwrap();
    assert!(set.beside && set.private && !set.refused, "{set:?}");
    assert!(set.to_telegram_html().contains("Europe/Vienna"));
    assert_eq!(own_zone(&t, "9").await, Some(Europe::Vienna));
    // Someone who reports British English is offered London.
    let londoner = t
        .commands
        .on_button(speaking("10", "en-GB"), group(), &agree, &rights)
        .await
        .unwrap();
    assert_eq!(
        zone_buttons(&londoner),
        [Europe::London, chrono_tz::Tz::UTC]
    );
}

#[tokio::test]
async fn a_city_sets_the_zone_and_a_place_unknown_changes_nothing() {
    let t = team().await;
    let set = t.html("2", "/timezone new york").await;
    assert!(set.contains("America/New_York"), "{set}");
    let munich = t.html("2", "/timezone Munich").await;
    assert!(munich.contains("Europe/Berlin"), "{munich}");
    let bad = t.say("2", "/timezone Atlantis", &Rights::member()).await;
    let bad = bad.unwrap();
    assert!(bad.refused);
    let html = bad.to_telegram_html();
    assert!(
        html.contains("Atlantis") && html.contains("/timezone Lisbon"),
        "examples: {html}"
    );
    assert_eq!(own_zone(&t, "2").await, Some(chrono_tz::Europe::Berlin));
}

#[tokio::test]
async fn only_an_admin_sets_the_chats_zone_and_it_applies_to_people_without_their_own() {
    use chrono_tz::Europe::Paris;
    let t = team().await;
    let member = Rights::member();
    let refused = t
        .say("2", "/timezone chat Europe/Paris", &member)
        .await
        .unwrap();
    assert!(refused.refused);
    assert!(
        refused
            .to_telegram_html()
            .contains("Only a group administrator can set this chat's time zone"),
        "{}",
        refused.to_telegram_html()
    );
    assert_eq!(member.asked.load(Ordering::SeqCst), 1, "rights were asked");
    assert_eq!(chat_zone(&t).await, None, "nothing changed");
    let admin = Rights::admin();
    let bad = t.say("3", "/timezone chat Atlantis", &admin).await.unwrap();
    assert!(bad.refused);
    assert_eq!(chat_zone(&t).await, None, "nothing changed");
    let set = t.say("3", "/timezone chat paris", &admin).await.unwrap();
    assert!(!set.refused);
    assert!(set.to_telegram_html().contains("Europe/Paris"));
    assert_eq!(chat_zone(&t).await, Some(Paris));
    // Bob set none: the chat's zone is his, and /timezone says whose it is.
    let shown = t.html("2", "/timezone").await;
    assert!(
        shown.contains("you get this chat's, <b>Europe/Paris</b>"),
        "{shown}"
    );
    let bob = t
        .world
        .actor(&format!("telegram:{GROUP}"), "telegram:2")
        .await
        .unwrap();
    assert_eq!(t.world.app().zone_of(&bob).await.unwrap(), Paris);
    // Alice's own zone comes first.
    t.html("1", "/timezone Asia/Tokyo").await;
    let alice = t.html("1", "/timezone").await;
    assert!(
        alice.contains("Your time zone is <b>Asia/Tokyo")
            && alice.contains("This chat's time zone, for people who set none, is <b>Europe/Paris"),
        "{alice}"
    );
}

#[tokio::test]
async fn someone_who_agreed_before_zones_were_asked_is_asked_once_with_their_next_post() {
    let t = team().await;
    let actor = t
        .world
        .actor(&format!("telegram:{GROUP}"), "telegram:8")
        .await
        .unwrap();
    // Agreed before autopost asked for zones: recorded without the question.
    t.world
        .store()
        .await
        .unwrap()
        .record_consent(
            actor.user,
            1,
            autopost::store::ConsentAction::Agreed,
            Utc::now(),
        )
        .await
        .unwrap();
    let queue = t.html("8", "/queue").await;
    assert!(!queue.contains("time zone are you"), "{queue}");
    let first = t
        .commands
        .on_message(
            Incoming {
                person: speaking("8", "fr"),
                place: group(),
                command: Ok(parse("/post in 2h | bonjour", IN_GROUP).unwrap().unwrap()),
                images: Vec::new(),
                document: None,
            },
            &Rights::member(),
        )
        .await;
    let html = first.to_telegram_html();
    assert!(html.contains("@team"), "the confirmation stays: {html}");
    assert!(html.contains("Which time zone are you in?"), "{html}");
    assert_eq!(zone_buttons(&first)[0], chrono_tz::Europe::Paris);
    let second = t.say("8", "/post in 3h | encore", &Rights::member()).await;
    let second = second.unwrap();
    assert!(
        !second.to_telegram_html().contains("time zone are you"),
        "asked once"
    );
    assert!(zone_buttons(&second).is_empty());
    assert_eq!(t.queued().await, 2);
    // People who were asked when they agreed are not asked again.
    let alice = t.say("1", "/post in 2h | hi", &Rights::member()).await;
    assert!(zone_buttons(&alice.unwrap()).is_empty());
}

#[tokio::test]
async fn start_offers_the_first_steps_as_buttons_that_do_what_the_commands_do() {
    let t = team().await;
    let start = t.say("1", "/start", &Rights::member()).await.unwrap();
    let actions: Vec<ButtonAction> = start.buttons.iter().flatten().map(|b| b.action).collect();
    // This world has X and no Meta.
    assert_eq!(
        actions,
        [
            ButtonAction::Connect(ConnectTarget::X),
            ButtonAction::AskZone
        ]
    );
    let html = start.to_telegram_html();
    assert!(html.contains("/help"), "{html}");
    assert!(
        !html.contains("/disconnect"),
        "the reference is /help's: {html}"
    );
    let connect = ButtonAction::Connect(ConnectTarget::X).callback_data();
    let refused = t.press("2", &connect, &Rights::member()).await.unwrap();
    assert!(
        refused.refused
            && refused
                .to_telegram_html()
                .contains("Only a group administrator"),
        "{refused:?}"
    );
    let link = t.press("3", &connect, &Rights::admin()).await.unwrap();
    assert!(link.private && !link.refused);
    assert!(
        link.to_telegram_html().contains("/oauth/x/start"),
        "{link:?}"
    );
    let ask = ButtonAction::AskZone.callback_data();
    let question = t.press("2", &ask, &Rights::member()).await.unwrap();
    assert!(question.to_telegram_html().contains("Which time zone"));
    assert!(zone_buttons(&question).contains(&chrono_tz::Tz::UTC));
    // Before agreeing: the greeting and the notice's button, no step.
    let newcomer = t.say("9", "/start", &Rights::member()).await.unwrap();
    let actions: Vec<ButtonAction> = newcomer
        .buttons
        .iter()
        .flatten()
        .map(|b| b.action)
        .collect();
    assert_eq!(actions, [ButtonAction::AgreePolicy]);
    let early = t.press("9", &ask, &Rights::member()).await.unwrap();
    assert!(early.refused);
}

impl Team {
    /// The group's one pending post: its due time and text.
    async fn only_post(&self) -> (chrono::DateTime<Utc>, String) {
        let actor = self
            .world
            .actor(&format!("telegram:{GROUP}"), "telegram:1")
            .await
            .unwrap();
        let queue = self.world.app().queue(actor.chat).await.unwrap();
        assert_eq!(queue.len(), 1, "{queue:?}");
        (queue[0].due_at, queue[0].body.clone())
    }

    /// Alice's post for tomorrow 9am, by its id.
    async fn alices_post(&self) -> autopost::domain::PostId {
        let reply = self
            .say("1", "/post tomorrow 9am | hello team", &Rights::member())
            .await
            .unwrap();
        reply.buttons[0]
            .iter()
            .find_map(|b| match b.action {
                ButtonAction::Edit(post) => Some(post),
                _ => None,
            })
            .expect("the confirmation has an Edit button")
    }
}

#[tokio::test]
async fn edit_changes_only_the_part_named() {
    let t = team().await;
    let id = t.alices_post().await;
    let (due, _) = t.only_post().await;

    let time_only = t.html("1", &format!("/edit {id} in 3 hours")).await;
    assert!(time_only.contains("Changed post"), "{time_only}");
    let (moved, text) = t.only_post().await;
    assert_eq!(text, "hello team", "the text stays");
    assert_ne!(moved, due);
    assert!(
        (moved - Utc::now() - chrono::Duration::hours(3))
            .num_seconds()
            .abs()
            < 60
    );

    let text_only = t.html("1", &format!("/edit {id} | new words")).await;
    assert!(text_only.contains("Changed post"), "{text_only}");
    assert_eq!(
        t.only_post().await,
        (moved, "new words".to_owned()),
        "the time stays"
    );

    let both = t.html("1", &format!("/edit #{id} in 5 hours | both")).await;
    assert!(both.contains("Changed post"), "{both}");
    let (at, text) = t.only_post().await;
    assert_eq!(text, "both");
    assert!(
        (at - Utc::now() - chrono::Duration::hours(5))
            .num_seconds()
            .abs()
            < 60
    );
}

#[tokio::test]
async fn a_bad_edit_is_explained_and_changes_nothing() {
    let t = team().await;
    let id = t.alices_post().await;
    let before = t.only_post().await;
    let cases = [
        (format!("/edit {id} yesterday 9am"), "passed"),
        (format!("/edit {id} next funday"), "funday"),
        (format!("/edit {id} in 1h |"), "text"),
        (format!("/edit {id} | \u{202e}\u{200b}"), "invisible"),
        (format!("/edit {id}"), "what to change"),
        ("/edit 999 | hi".to_owned(), "no pending post"),
    ];
    for (text, expected) in cases {
        let reply = t.say("1", &text, &Rights::member()).await.unwrap();
        let html = reply.to_telegram_html();
        assert!(reply.refused, "{text}: {html}");
        assert!(html.contains(expected), "{text}: {html}");
        assert_eq!(t.only_post().await, before, "{text} changed nothing");
    }
}

#[tokio::test]
async fn a_stranger_can_neither_edit_nor_open_the_edit_form() {
    let t = team().await;
    let id = t.alices_post().await;
    let before = t.only_post().await;
    let refused = t.html("2", &format!("/edit {id} | bob's now")).await;
    assert!(refused.contains("chat admin"), "{refused}");
    let data = ButtonAction::Edit(id).callback_data();
    assert_eq!(data, format!("edit:{id}"));
    let forged = t.press("2", &data, &Rights::member()).await.unwrap();
    assert!(forged.refused && forged.edit_form.is_none());
    assert_eq!(t.only_post().await, before);
    // An admin may: the form shows the post as it is.
    let form = t.press("3", &data, &Rights::admin()).await.unwrap();
    let form = form.edit_form.expect("a form");
    assert_eq!((form.post, form.text.as_str()), (id, "hello team"));
}

#[tokio::test]
async fn the_edit_form_changes_only_what_was_changed_in_it() {
    let t = team().await;
    let id = t.alices_post().await;
    let (due, _) = t.only_post().await;
    let pressed = t
        .press(
            "1",
            &ButtonAction::Edit(id).callback_data(),
            &Rights::member(),
        )
        .await
        .unwrap();
    assert!(!pressed.refused);
    let html = pressed.to_telegram_html();
    assert!(
        html.contains(&format!(
            "Reply with a new time, <code>| new text</code>, or both, for post <code>#{id}</code>"
        )),
        "{html}"
    );
    let form = pressed.edit_form.unwrap();
    // Sent back with the time as shown and a new text: only the text changes.
    let submitted = Incoming {
        person: person("1"),
        place: group(),
        command: Ok(Command::EditSubmitted {
            post: id,
            when: form.when.clone(),
            text: "from the form".into(),
        }),
        images: Vec::new(),
        document: None,
    };
    let reply = t.commands.on_message(submitted, &Rights::member()).await;
    assert!(
        reply.to_telegram_html().contains("Changed post"),
        "{reply:?}"
    );
    assert_eq!(t.only_post().await, (due, "from the form".to_owned()));
    // A reply to the Telegram question reads as `/edit`.
    let question = crate::commands::testing::telegram_visible(&html);
    let command = edit_by_reply(&question, Some("in 4 hours"), false)
        .unwrap()
        .unwrap();
    assert_eq!(
        command,
        Command::Edit {
            post: id,
            when: Some("in 4 hours".into()),
            text: None
        }
    );
}

impl Team {
    /// What `who` is answered for `/import` with `file` (named `name`, of type `mime`).
    async fn import(&self, who: &str, name: &str, mime: &str, file: &[u8]) -> Reply {
        let incoming = Incoming {
            person: person(who),
            place: group(),
            command: Ok(parse("/import", IN_GROUP).unwrap().unwrap()),
            images: Vec::new(),
            document: Some(Document {
                name: name.to_owned(),
                mime: Some(mime.to_owned()),
                size: file.len() as u64,
                bytes: bytes::Bytes::copy_from_slice(file),
            }),
        };
        self.commands.on_message(incoming, &Rights::member()).await
    }
}

#[tokio::test]
async fn an_import_is_all_or_nothing_with_a_line_for_each_row() {
    let t = team().await;
    let good = "when,text,targets\ntomorrow 9am,one,x\nin 2h,two,@team\nfriday 5pm,three,\n";
    let reply = t
        .import("2", "posts.csv", "text/csv", good.as_bytes())
        .await;
    let html = reply.to_telegram_html();
    assert!(
        !reply.refused && !reply.private,
        "the team sees what was queued"
    );
    assert!(html.contains("Imported 3 posts, all queued"), "{html}");
    for line in 2..=4 {
        assert!(html.contains(&format!("line {line}: <code>#")), "{html}");
    }
    assert_eq!(t.queued().await, 3);

    let bad = "when,text,targets\ntomorrow 9am,fine,x\n31 feb 9am,no such day,x\ntomorrow 9am,,x\n";
    let reply = t.import("2", "posts.csv", "text/csv", bad.as_bytes()).await;
    let html = reply.to_telegram_html();
    assert!(reply.refused, "{html}");
    assert!(html.contains("Nothing was queued: 2 rows to fix"), "{html}");
    assert!(
        html.contains("line 3: ") && html.contains("line 4: "),
        "{html}"
    );
    assert!(!html.contains("line 2:"), "a good row is not named: {html}");
    assert_eq!(t.queued().await, 3, "nothing more queued");

    let mut many = String::from("when,text\n");
    for n in 0..201 {
        many.push_str(&format!("tomorrow 9am,post {n}\n"));
    }
    let big = format!("when,text\ntomorrow 9am,{}\n", "a".repeat(300 * 1024));
    for (file, why) in [
        (
            many.as_str(),
            "the file has 201 posts; /import takes at most 200",
        ),
        (big.as_str(), "/import takes CSV files up to 262144 bytes"),
    ] {
        let reply = t
            .import("2", "posts.csv", "text/csv", file.as_bytes())
            .await;
        let html = reply.to_telegram_html();
        assert!(reply.refused, "{html}");
        assert!(html.contains("Nothing was queued: "), "{html}");
        assert!(html.contains(why), "{why}: {html}");
    }
    let reply = t
        .import("2", "sheet.xlsx", "application/vnd.ms-excel", b"PK\x03\x04")
        .await;
    assert!(
        reply.to_telegram_html().contains("is not a CSV file"),
        "{reply:?}"
    );
    assert_eq!(t.queued().await, 3, "nothing more queued");
}

/// A small real JPEG, as a chat would hand it over.
fn photo() -> bytes::Bytes {
    let image = image::RgbImage::from_pixel(8, 6, image::Rgb([200, 120, 10]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    bytes::Bytes::from(out.into_inner())
}

impl Team {
    /// `/post` as a front end hands it over with its `to` names and images.
    async fn post(&self, who: &str, when: &str, text: &str, to: &[&str], images: usize) -> Reply {
        let incoming = Incoming {
            person: person(who),
            place: group(),
            command: Ok(Command::Post {
                when: when.to_owned(),
                text: text.to_owned(),
                to: to.iter().map(|name| (*name).to_owned()).collect(),
            }),
            images: (0..images).map(|_| photo()).collect(),
            document: None,
        };
        self.commands.on_message(incoming, &Rights::member()).await
    }

    /// The export of `who` in the group, as JSON.
    async fn export_of(&self, who: &str) -> serde_json::Value {
        let actor = self
            .world
            .actor(&format!("telegram:{GROUP}"), &format!("telegram:{who}"))
            .await
            .unwrap();
        let json = self
            .world
            .app()
            .export_user(actor.user, Utc::now())
            .await
            .unwrap();
        serde_json::from_slice(&json).unwrap()
    }
}

/// The callback data of every button of `reply`, row by row flattened.
fn button_data(reply: &Reply) -> Vec<String> {
    reply
        .buttons
        .iter()
        .flatten()
        .map(Button::callback_data)
        .collect()
}

#[tokio::test]
async fn a_vague_time_is_answered_with_one_tap_times_and_nothing_is_queued_yet() {
    let t = team().await;
    let reply = t
        .say(
            "1",
            "/post tomorrow morning | hello team",
            &Rights::member(),
        )
        .await
        .unwrap();
    let html = reply.to_telegram_html();
    assert!(reply.refused, "nothing was scheduled: {html}");
    assert!(html.contains("<code>tomorrow 09:00</code>"), "{html}");
    let labels: Vec<&str> = reply
        .buttons
        .iter()
        .flatten()
        .map(|b| b.label.as_str())
        .collect();
    assert_eq!(
        labels,
        ["tomorrow 08:00?", "tomorrow 09:00?", "tomorrow 10:00?"]
    );
    for data in button_data(&reply) {
        assert!(data.starts_with("when:") && data.len() <= reply::CALLBACK_DATA_LIMIT);
    }
    assert_eq!(t.queued().await, 0);
    // A wrong phrase stays a bare refusal: nothing to pick from.
    let wrong = t
        .say("1", "/post next funday 5pm | hello", &Rights::member())
        .await
        .unwrap();
    assert!(wrong.refused && wrong.buttons.is_empty());
    assert!(
        t.export_of("1").await["drafts"].as_array().unwrap().len() == 1,
        "only the vague one is held"
    );
}

#[tokio::test]
async fn a_picked_time_schedules_the_post_as_written_with_its_images_and_targets_once() {
    let mut x = SimXConfig::public(X_CLIENT_ID);
    x.user = SimXUser::new("2244994945", "team");
    let world = World::builder().x_with(x).meta().start().await.unwrap();
    let chat = format!("telegram:{GROUP}");
    world.link_x(&chat, "telegram:1").await.unwrap();
    world.link_meta(&chat, "telegram:1").await.unwrap();
    world.agree(&["telegram:1", "telegram:2"]).await.unwrap();
    let t = Team {
        commands: Commands::new(world.app().clone(), Allowance::default()),
        world,
    };
    let text = "  Launch *day*  \n with two lines ";
    let reply = t.post("1", "monday 9", text, &["x"], 2).await;
    assert!(reply.refused, "{}", reply.to_telegram_html());
    let data = button_data(&reply);
    assert_eq!(data.len(), 2, "monday 09:00 and monday 21:00");

    // Someone else's press changes nothing, and says why.
    let stranger = t.press("2", &data[1], &Rights::member()).await.unwrap();
    assert!(stranger.refused);
    assert!(
        stranger
            .to_telegram_html()
            .contains("Only the person who wrote"),
        "{}",
        stranger.to_telegram_html()
    );
    assert_eq!(t.queued().await, 0);

    let done = t.press("1", &data[1], &Rights::member()).await.unwrap();
    let html = done.to_telegram_html();
    assert!(!done.refused, "{html}");
    assert!(
        html.contains("Scheduled post") && html.contains("21:00"),
        "{html}"
    );
    let actor = t.world.actor(&chat, "telegram:1").await.unwrap();
    let queue = t.world.app().queue(actor.chat).await.unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].targets.len(), 1, "only X, as `to` said: {queue:?}");
    let export = t.export_of("1").await;
    assert_eq!(export["media"].as_array().unwrap().len(), 2, "both images");
    assert_eq!(
        export["posts"][0]["body"].as_str().unwrap().trim(),
        text.trim()
    );
    assert!(
        export["drafts"].as_array().unwrap().is_empty(),
        "the used draft is gone"
    );
    assert!(export["draft_images"].as_array().unwrap().is_empty());

    // Used: a second press, of either time, changes nothing.
    for again in &data {
        let reused = t.press("1", again, &Rights::member()).await.unwrap();
        assert!(reused.refused);
        assert!(reused.to_telegram_html().contains("already used"));
    }
    assert_eq!(t.world.app().queue(actor.chat).await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_expired_or_forged_suggestion_changes_nothing_and_a_refused_press_can_be_retried() {
    let t = team().await;
    let reply = t.post("1", "next week", "see you", &[], 1).await;
    let data = button_data(&reply);
    assert_eq!(data.len(), 2);

    // A choice the draft never offered, and a draft that is not there.
    let action = ButtonAction::parse(&data[0]).unwrap();
    let ButtonAction::When { draft, .. } = action else {
        panic!("{action:?}");
    };
    let forged = ButtonAction::When { draft, choice: 9 }.callback_data();
    assert!(
        t.press("1", &forged, &Rights::member())
            .await
            .unwrap()
            .refused
    );
    let missing = ButtonAction::When {
        draft: autopost::domain::DraftId(draft.0 + 100),
        choice: 0,
    }
    .callback_data();
    assert!(
        t.press("1", &missing, &Rights::member())
            .await
            .unwrap()
            .refused
    );
    assert_eq!(t.queued().await, 0);

    // The purge removes it with its image once its hour is over.
    let later = Utc::now() + chrono::Duration::minutes(61);
    let purged = t.world.app().purge(later).await.unwrap();
    assert_eq!(purged.drafts, 1);
    let expired = t.press("1", &data[0], &Rights::member()).await.unwrap();
    assert!(expired.refused);
    assert!(
        expired.to_telegram_html().contains("expired"),
        "{}",
        expired.to_telegram_html()
    );
    assert_eq!(t.queued().await, 0);
    let export = t.export_of("1").await;
    assert!(export["drafts"].as_array().unwrap().is_empty());
    assert!(export["draft_images"].as_array().unwrap().is_empty());

    // A press whose post is refused (more images than X takes) leaves the draft usable.
    let reply = t.post("1", "tomorrow", "five pictures", &[], 5).await;
    let data = button_data(&reply);
    assert_eq!(data.len(), 3, "{}", reply.to_telegram_html());
    for _ in 0..2 {
        let refused = t.press("1", &data[0], &Rights::member()).await.unwrap();
        let html = refused.to_telegram_html();
        assert!(refused.refused && html.contains("4 images"), "{html}");
    }
    assert_eq!(t.queued().await, 0);
}

#[tokio::test]
async fn a_vague_phrase_offers_its_exact_times_as_choices_while_typing() {
    let t = team().await;
    let choices = t
        .commands
        .suggest(person("1"), group(), ArgKind::When, "friday morning")
        .await;
    let values: Vec<&ArgValue> = choices.iter().map(|c| &c.value).collect();
    assert_eq!(
        values,
        [
            &ArgValue::Text("friday 08:00".into()),
            &ArgValue::Text("friday 09:00".into()),
            &ArgValue::Text("friday 10:00".into()),
        ]
    );
    assert!(
        choices[0].label.starts_with("friday 08:00 → "),
        "{choices:?}"
    );
}

#[tokio::test]
async fn erasing_the_author_removes_their_drafts_and_images() {
    let t = team().await;
    let reply = t.post("2", "tomorrow evening", "bob's words", &[], 1).await;
    let data = button_data(&reply);
    assert_eq!(data.len(), 3);
    assert_eq!(
        t.export_of("2").await["draft_images"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let erase = ButtonAction::ConfirmDelete.callback_data();
    t.press("2", &erase, &Rights::member()).await.unwrap();
    // Bob comes back as a new person, with nothing of before.
    let export = t.export_of("2").await;
    assert!(export["drafts"].as_array().unwrap().is_empty());
    assert!(export["draft_images"].as_array().unwrap().is_empty());
    t.world.agree(&["telegram:2"]).await.unwrap();
    let pressed = t.press("2", &data[0], &Rights::member()).await.unwrap();
    assert!(pressed.refused, "{}", pressed.to_telegram_html());
    assert_eq!(t.queued().await, 0);
}

#[tokio::test]
async fn a_relative_suggestion_pressed_after_midnight_is_refused_not_moved() {
    use autopost::drafts::{DraftError, HeldPost};
    use chrono::TimeZone;
    let t = team().await;
    let app = t.world.app();
    let alice = t
        .world
        .actor(&format!("telegram:{GROUP}"), "telegram:1")
        .await
        .unwrap();
    let zone = app.zone_of(&alice).await.unwrap();
    // 23:50 in the author's zone, on a day without a clock change.
    let offered = zone
        .with_ymd_and_hms(2026, 3, 2, 23, 50, 0)
        .unwrap()
        .with_timezone(&Utc);
    let held = HeldPost {
        text: "t".to_owned(),
        to: Vec::new(),
        images: Vec::new(),
    };
    let id = app
        .hold_draft(&alice, &held, &["tomorrow 09:00".to_owned()], offered)
        .await
        .unwrap();
    let after_midnight = offered + chrono::Duration::minutes(20);
    let err = app
        .take_draft(&alice, id, 0, after_midnight)
        .await
        .unwrap_err();
    assert!(matches!(err, DraftError::DayChanged { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "that suggestion was for Tue 3 Mar 09:00, and the day has changed since; send the post again"
    );
    // Nothing changed: pressed before midnight it is still there.
    let taken = app
        .take_draft(&alice, id, 0, offered + chrono::Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(taken.when, "tomorrow 09:00");
}
