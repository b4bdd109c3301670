//! Composing per network through the command layer, in a group with X, a Facebook Page and
//! its Instagram account linked: which accounts a post goes to (by default, by name, by the
//! confirmation's toggles), each network's own text, and the duplicate warning; checked on
//! what the simulated platforms received.

use autopost::domain::{AccountId, ChatKind, ChatPlatform, PostId, Provider};
use autopost::front_end::{AdminRights, Person, Place, Privilege};
use autopost::posting::LinkedAccount;
use autopost::throttle::Allowance;
use autopost_sim::World;
use autopost_sim::meta::{SimMetaConfig, SimPage};
use autopost_sim::world::META_APP_ID;
use bytes::Bytes;

use super::*;

const GROUP: &str = "-7";

/// Alice (`1`) linked X `@sim_alice` and the Page "Alice's Bakery" with its Instagram
/// `alices_bakery`; Bob (`2`) is a member, `3` an admin.
struct Team {
    world: World,
    commands: Commands,
}

async fn team() -> Team {
    let page = SimPage::new("5550001", "Alice's Bakery")
        .with_instagram("17841400000000001", "alices_bakery");
    let mut meta = SimMetaConfig::new(META_APP_ID, "secret");
    meta.user.pages = vec![page];
    let world = World::builder().x().meta_with(meta).start().await.unwrap();
    let chat = format!("telegram:{GROUP}");
    world.link_x(&chat, "telegram:1").await.unwrap();
    world.link_meta(&chat, "telegram:1").await.unwrap();
    world
        .agree(&["telegram:1", "telegram:2", "telegram:3"])
        .await
        .unwrap();
    let commands = Commands::new(world.app().clone(), Allowance::default());
    Team { world, commands }
}

struct Rights(bool);

#[async_trait::async_trait]
impl AdminRights for Rights {
    async fn holds(&self, _: Privilege) -> bool {
        self.0
    }
}

const MEMBER: Rights = Rights(false);
const ADMIN: Rights = Rights(true);

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

fn png() -> Bytes {
    let image = image::RgbImage::from_pixel(8, 8, image::Rgb([200, 10, 10]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    Bytes::from(out.into_inner())
}

impl Team {
    async fn say_with(&self, who: &str, text: &str, images: Vec<Bytes>) -> Reply {
        let context = ParseContext {
            bot_username: Some("autopost_bot"),
            is_private: false,
        };
        let command = parse(text, context).map(|c| c.unwrap());
        let incoming = Incoming {
            person: person(who),
            place: group(),
            command,
            images,
            document: None,
        };
        self.commands.on_message(incoming, &MEMBER).await
    }

    async fn say(&self, who: &str, text: &str) -> Reply {
        self.say_with(who, text, Vec::new()).await
    }

    async fn press(&self, who: &str, action: ButtonAction, rights: &Rights) -> Reply {
        self.commands
            .on_button(person(who), group(), &action.callback_data(), rights)
            .await
            .unwrap()
    }

    async fn accounts(&self) -> Vec<LinkedAccount> {
        let actor = self
            .world
            .actor(&format!("telegram:{GROUP}"), "telegram:1")
            .await
            .unwrap();
        self.world.app().accounts(actor.chat).await.unwrap()
    }

    async fn account(&self, provider: Provider) -> AccountId {
        self.accounts()
            .await
            .into_iter()
            .find(|a| a.provider == provider)
            .unwrap()
            .id
    }

    async fn queued(&self) -> usize {
        let actor = self
            .world
            .actor(&format!("telegram:{GROUP}"), "telegram:1")
            .await
            .unwrap();
        self.world.app().queue(actor.chat).await.unwrap().len()
    }

    /// Waits until the scheduler has nothing left to do, then what each platform received.
    async fn received(&self) -> (Vec<String>, Vec<Option<String>>, Vec<Option<String>>) {
        self.world.wait_for_quiet().await.unwrap();
        (
            self.world
                .x()
                .tweets()
                .into_iter()
                .map(|t| t.text)
                .collect(),
            self.world
                .meta()
                .feed_posts()
                .into_iter()
                .map(|p| p.message)
                .collect(),
            self.world
                .meta()
                .ig_media()
                .into_iter()
                .map(|m| m.caption)
                .collect(),
        )
    }
}

/// The post number a confirmation shows.
fn post_of(reply: &Reply) -> PostId {
    let html = reply.to_telegram_html();
    let start = html.find("<code>#").unwrap() + "<code>#".len();
    let end = start + html[start..].find('<').unwrap();
    PostId(html[start..end].parse().unwrap())
}

#[tokio::test]
async fn a_text_only_post_goes_to_x_and_facebook_and_instagram_is_left_out_with_a_note() {
    let t = team().await;
    let reply = t.say("1", "/post now | fresh bread today").await;
    let html = reply.to_telegram_html();
    assert!(!reply.refused, "{html}");
    assert!(
        html.contains(
            "@alices_bakery (Instagram) left out: Instagram needs at least one image — attach one"
        ),
        "{html}"
    );
    assert!(
        html.contains("• @sim_alice (X): 17/280 characters"),
        "{html}"
    );
    let instagram = t.account(Provider::Instagram).await;
    assert_eq!(mark_of(&reply, instagram), "☐");
    assert_eq!(mark_of(&reply, t.account(Provider::X).await), "✅");
    t.world
        .wait_until("X and Facebook to receive the post", async || {
            t.world.x().tweet_count() == 1 && t.world.meta().feed_posts().len() == 1
        })
        .await
        .unwrap();
    let (x, facebook, instagram) = t.received().await;
    assert_eq!(x, ["fresh bread today"]);
    assert_eq!(facebook, [Some("fresh bread today".to_owned())]);
    assert!(instagram.is_empty());
}

#[tokio::test]
async fn named_targets_get_the_post_alone_and_an_unknown_name_queues_nothing() {
    let t = team().await;
    let unknown = t.say("1", "/post to x,myspace now | hi").await;
    assert!(unknown.refused);
    assert!(
        unknown.to_telegram_html().contains("myspace"),
        "{}",
        unknown.to_telegram_html()
    );
    assert_eq!(t.queued().await, 0);

    let named = t.say("1", "/post to facebook now | only the page").await;
    assert!(!named.refused, "{}", named.to_telegram_html());
    t.world
        .wait_until("the Page to receive the post", async || {
            t.world.meta().feed_posts().len() == 1
        })
        .await
        .unwrap();
    let (x, facebook, instagram) = t.received().await;
    assert!(x.is_empty() && instagram.is_empty());
    assert_eq!(facebook, [Some("only the page".to_owned())]);

    // A named target that cannot take the post refuses it, naming the target and the rule.
    let refused = t.say("1", "/post to instagram,x now | no picture").await;
    assert!(refused.refused);
    assert_eq!(
        refused.to_telegram_html(),
        "⚠️ This post cannot go to @alices_bakery (Instagram): Instagram needs at least one image"
    );
    assert_eq!(t.queued().await, 0);
}

#[tokio::test]
async fn each_network_publishes_its_own_text_and_a_broken_one_is_refused_naming_it() {
    let t = team().await;
    let tags: Vec<String> = (0..31).map(|i| format!("#t{i}")).collect();
    let refused = t
        .say_with(
            "1",
            &format!("/post now | main text\ninstagram: {}", tags.join(" ")),
            vec![png()],
        )
        .await;
    assert!(refused.refused);
    assert_eq!(
        refused.to_telegram_html(),
        "⚠️ The <code>instagram:</code> text cannot go to @alices_bakery (Instagram): Instagram \
         allows at most 30 hashtags; this caption has 31"
    );
    assert_eq!(t.queued().await, 0);

    let reply = t
        .say_with(
            "1",
            "/post now | The long story of our new sourdough, for the Page\nx: new sourdough!\ninstagram: sourdough #bread",
            vec![png()],
        )
        .await;
    let html = reply.to_telegram_html();
    assert!(!reply.refused, "{html}");
    assert!(
        html.contains("• @sim_alice (X): 14/280 characters, own text"),
        "{html}"
    );
    assert!(
        html.contains("“The long story of our new sourdough"),
        "{html}"
    );
    assert!(html.contains("· 1 image"), "{html}");
    t.world
        .wait_until("every platform to receive its text", async || {
            t.world.x().tweet_count() == 1
                && t.world.meta().photos().len() == 1
                && t.world.meta().ig_media().len() == 1
        })
        .await
        .unwrap();
    let (x, _, instagram) = t.received().await;
    assert_eq!(x, ["new sourdough!"]);
    assert_eq!(instagram, [Some("sourdough #bread".to_owned())]);
    let page_texts: Vec<Option<String>> = t
        .world
        .meta()
        .photos()
        .into_iter()
        .map(|p| p.caption)
        .collect();
    assert_eq!(
        page_texts,
        [Some(
            "The long story of our new sourdough, for the Page".to_owned()
        )]
    );
}

#[tokio::test]
async fn toggles_change_the_targets_until_the_post_goes_out_for_its_author_or_an_admin() {
    let t = team().await;
    let reply = t.say("1", "/post tomorrow 9am | toggled").await;
    let post = post_of(&reply);
    let x = t.account(Provider::X).await;
    let page = t.account(Provider::FacebookPage).await;
    let instagram = t.account(Provider::Instagram).await;

    // Bob is neither the author nor an admin: refused, and nothing changes.
    let stranger = t
        .press("2", ButtonAction::ToggleTarget(post, x), &MEMBER)
        .await;
    assert!(stranger.refused);
    assert!(
        stranger.to_telegram_html().contains("Only the author"),
        "{}",
        stranger.to_telegram_html()
    );

    let off = t
        .press("1", ButtonAction::ToggleTarget(post, x), &MEMBER)
        .await;
    let html = off.to_telegram_html();
    assert!(!off.refused, "{html}");
    assert!(!html.contains("• @sim_alice (X)"), "{html}");
    assert_eq!(mark_of(&off, x), "☐", "{html}");
    let on = t
        .press("3", ButtonAction::ToggleTarget(post, x), &ADMIN)
        .await;
    assert!(!on.refused && mark_of(&on, x) == "✅");

    let no_image = t
        .press("1", ButtonAction::ToggleTarget(post, instagram), &MEMBER)
        .await;
    assert!(no_image.refused);
    assert!(
        no_image
            .to_telegram_html()
            .contains("Instagram needs at least one image"),
        "{}",
        no_image.to_telegram_html()
    );

    let page_off = t
        .press("1", ButtonAction::ToggleTarget(post, page), &MEMBER)
        .await;
    assert!(!page_off.refused);
    let last = t
        .press("1", ButtonAction::ToggleTarget(post, x), &MEMBER)
        .await;
    assert!(last.refused);
    assert!(
        last.to_telegram_html().contains("cancel the post instead"),
        "{}",
        last.to_telegram_html()
    );

    let now = t.press("1", ButtonAction::PostNow(post), &MEMBER).await;
    assert!(!now.refused, "{}", now.to_telegram_html());
    t.world
        .wait_until("X to receive the post", async || {
            t.world.x().tweet_count() == 1
        })
        .await
        .unwrap();
    let (x_texts, facebook, instagram_texts) = t.received().await;
    assert_eq!(x_texts, ["toggled"]);
    assert!(facebook.is_empty() && instagram_texts.is_empty());

    // Once it went out, its targets are what they were.
    let late = t
        .press("1", ButtonAction::ToggleTarget(post, page), &MEMBER)
        .await;
    assert!(late.refused);
}

/// The mark on the toggle of `account` in a confirmation.
fn mark_of(reply: &Reply, account: AccountId) -> &str {
    reply
        .buttons
        .iter()
        .flatten()
        .find(|b| matches!(b.action, ButtonAction::ToggleTarget(_, a) if a == account))
        .map(|b| b.label.split(' ').next().unwrap_or_default())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_same_text_queued_or_sent_on_x_is_warned_about_but_accepted() {
    let t = team().await;
    let first = t.say("1", "/post tomorrow 9am | Same words").await;
    let first_id = post_of(&first);
    assert!(!first.to_telegram_html().contains("duplicate"));
    let again = t.say("2", "/post tomorrow 10am |  Same words ").await;
    assert!(!again.refused);
    assert!(
        again.to_telegram_html().contains(&format!(
            "⚠️ X refuses duplicate text: the same text is already queued for @sim_alice as #{first_id}"
        )),
        "{}",
        again.to_telegram_html()
    );
    assert_eq!(t.queued().await, 2);
    // Different case is different text to X.
    let other = t.say("1", "/post tomorrow 9am | same words").await;
    assert!(!other.to_telegram_html().contains("duplicate"));

    let sent = t.say("1", "/post to x now | Out already").await;
    assert!(!sent.refused);
    t.world
        .wait_until("X to receive the post", async || {
            t.world.x().tweet_count() == 1
        })
        .await
        .unwrap();
    t.world.wait_for_quiet().await.unwrap();
    let repeat = t.say("1", "/post tomorrow 9am | Out already").await;
    assert!(
        repeat
            .to_telegram_html()
            .contains("⚠️ X refuses duplicate text: the same text went out on @sim_alice just now"),
        "{}",
        repeat.to_telegram_html()
    );
}

#[tokio::test]
async fn a_post_no_account_can_take_is_refused_with_each_reason_and_nothing_queued() {
    let t = team().await;
    let reply = t
        .say_with("1", "/post tomorrow 9am | eleven pictures", vec![png(); 11])
        .await;
    assert!(reply.refused);
    assert_eq!(
        reply.to_telegram_html(),
        "⚠️ No account of this chat can take this post: @sim_alice (X): X allows at most 4 \
         images; this post has 11; Alice's Bakery (Facebook Page): Facebook allows at most 10 \
         images; this post has 11; @alices_bakery (Instagram): Instagram allows at most 10 \
         images; this post has 11"
    );
    assert_eq!(t.queued().await, 0);
}
