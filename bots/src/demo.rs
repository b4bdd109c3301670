//! `autopost demo`: the real bot, scheduler and web server against simulated X, Meta and
//! Telegram on loopback, with no configuration and no network. A scripted chat links accounts
//! through the real OAuth flow and schedules posts; the timeline shows what each side did.
//! Reads no `autopost.toml` and no `AUTOPOST_*` variable; writes only to a temp dir.

mod discord;
mod picture;
mod text;
mod timeline;
mod world;

use std::time::Duration;

use anyhow::Context;
use autopost::config::LogFormat;
use autopost::output::print_line;
use autopost::telemetry;
use autopost_sim::telegram::{MemberStatus, SimChat, SimMessage, SimUser};
use url::Url;

use self::text::page_message;
use self::timeline::{Observer, Timeline};
use autopost_sim::World;

/// Alice's photo post: a plain `WHEN | TEXT` caption, as a private chat allows.
const PHOTO_CAPTION: &str =
    "in 5 seconds | Launch day! Our sourdough is out of the oven, come and taste it. #bakery";
/// Bob's post in the group, where only `/post` posts.
const TEAM_POST: &str =
    "/post in 8 seconds | Doors open at 10:00 today: the first 20 visitors get a free croissant!";
/// How long the chat's "Linked …" message may take before the script goes on without it.
pub(crate) const LINKED_PATIENCE: Duration = Duration::from_millis(500);
/// How long the scheduler gets to publish everything once the script has spoken.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(25);

/// Runs the demo on its own runtime; `Err` is one line saying what went wrong.
pub fn run() -> anyhow::Result<()> {
    // Warnings and errors only, on stderr: the timeline on stdout is the demo's output.
    telemetry::init("warn,serenity=error", LogFormat::Text)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let mut world = world::start().await?;
        let outcome = tokio::select! {
            outcome = script(&world) => outcome,
            // Stop as cleanly on Ctrl-C, so that the temp dir is still removed.
            Ok(()) = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        };
        // Shut down cleanly whatever happened, then report the first failure.
        let stopped = world
            .shutdown()
            .await
            .context("autopost did not shut down cleanly");
        outcome?;
        stopped
    })
}

/// A person in the script, and where they write.
struct Person {
    user: SimUser,
    /// Their private chat with the bot.
    private: SimChat,
}

impl Person {
    fn new(id: i64, name: &str) -> Self {
        let user = SimUser::new(id, name);
        Self {
            private: SimChat::private(&user),
            user,
        }
    }

    fn name(&self) -> &str {
        &self.user.first_name
    }
}

fn heading(text: &str) {
    print_line("");
    print_line(&format!("── {text}"));
}

async fn script(world: &World) -> anyhow::Result<()> {
    intro(world);
    let mut obs = Observer::new(
        Timeline::new(),
        world.x(),
        world.meta(),
        world.telegram(),
        world.discord(),
    );
    let alice = Person::new(1001, "Alice");
    let bob = Person::new(1002, "Bob");
    let team = SimChat::supergroup(-1_001_234_567_890, "Bakery team");
    world
        .telegram()
        .set_member_status(team.id, alice.user.id, MemberStatus::Administrator);
    obs.name_chat(alice.user.id, "Alice (private chat)");
    obs.name_chat(team.id, "\"Bakery team\" group");
    for user in [
        world::alice_on_x(),
        world::team_on_x(),
        world::discord_team_on_x(),
    ] {
        obs.name_x_user(&user.id, &user.username);
    }
    obs.name_meta(world::PAGE_ID, world::PAGE_NAME);
    obs.name_meta(
        world::INSTAGRAM_ID,
        format!("@{}", world::INSTAGRAM_USERNAME),
    );

    heading(
        "1. Alice opens a private chat with the bot, agrees to the privacy policy and links her accounts (real OAuth)",
    );
    agree(world, &mut obs, &alice).await?;
    connect(world, &mut obs, &alice, &alice.private, "x").await?;
    connect(world, &mut obs, &alice, &alice.private, "facebook").await?;

    heading("2. Alice sends a photo whose caption is `WHEN | TEXT`: a post for all three accounts");
    let photo = picture::launch_photo()?;
    let kib = photo.len().div_ceil(1024);
    let file = world.telegram().add_file(photo, None);
    let since = obs.messages.len();
    say(
        &obs,
        &alice,
        &alice.private,
        &format!(
            "[photo {}×{} JPEG, {kib} KB] caption: {PHOTO_CAPTION}",
            picture::WIDTH,
            picture::HEIGHT
        ),
    );
    world
        .telegram()
        .push_photo(&alice.private, &alice.user, &file, Some(PHOTO_CAPTION));
    obs.reply(since, alice.user.id, "the photo post", "Scheduled post")
        .await?;

    heading(
        "3. A team: in a group, Alice (an admin) links the team's X account; Bob agrees, then adds a post",
    );
    world.x().set_consenting_user(world::team_on_x());
    agree(world, &mut obs, &bob).await?;
    connect(world, &mut obs, &alice, &team, "x").await?;
    let since = obs.messages.len();
    say(&obs, &bob, &team, TEAM_POST);
    world
        .telegram()
        .push_group_text(&team, &bob.user, TEAM_POST);
    obs.reply(since, team.id, "Bob's post", "Scheduled post")
        .await?;
    let since = obs.messages.len();
    say(&obs, &alice, &team, "/queue");
    world
        .telegram()
        .push_group_text(&team, &alice.user, "/queue");
    obs.reply(since, team.id, "/queue", "Scheduled posts")
        .await?;

    heading(
        "4. A Discord team: in #general, Carol links the team's X account; Dave posts with /post",
    );
    discord::team(world, &mut obs).await?;

    heading(
        "5. Nobody types now: the scheduler publishes each post when due; the bots report back",
    );
    obs.until(
        "the posts to be published and reported",
        PUBLISH_TIMEOUT,
        |o| o.tweets >= 3 && o.feed_posts >= 1 && o.ig_posts >= 1 && reports(o) >= 5,
    )
    .await?;
    check_outcome(world)?;

    let took = obs.timeline.elapsed().as_secs_f64();
    heading(&format!("Done in {took:.1} s"));
    print_line(
        "Alice's photo post is on X, the Facebook Page and Instagram; Bob's post is on the team's X",
    );
    print_line(
        "account; Dave's Discord post is on the Discord team's X account; each chat was told with links.",
    );
    print_line(
        "To run it for real, give autopost a Telegram bot token, a Discord application and X/Meta app",
    );
    print_line("credentials (see README, Configuration) and start `autopost run`.");
    Ok(())
}

fn intro(world: &World) {
    print_line(
        "autopost demo: the real Telegram and Discord bots, scheduler and web server, against simulated",
    );
    print_line(
        "X, Meta (Facebook + Instagram), Telegram and Discord servers on this machine. Nothing leaves it; nothing is",
    );
    print_line(
        "kept: the database lives in a temp dir, deleted at exit. Times are since the start.",
    );
    print_line("");
    let rows = [
        ("simulated X", world.x_url().to_string(), String::new()),
        (
            "simulated Meta",
            world.meta_url().to_string(),
            format!(
                "Page \"{}\" with Instagram @{}",
                world::PAGE_NAME,
                world::INSTAGRAM_USERNAME
            ),
        ),
        (
            "simulated Telegram",
            world.telegram_url().to_string(),
            format!("bot @{}", world::BOT_USERNAME),
        ),
        (
            "simulated Discord",
            world.discord_url().to_string(),
            format!("server \"{}\" with #general", world.discord().guild().name),
        ),
        (
            "autopost",
            world.url().to_string(),
            "OAuth callbacks, media links, /discord/interactions".to_owned(),
        ),
    ];
    for (what, url, note) in rows {
        print_line(format!("  {what:<19} {url:<24} {note}").trim_end());
    }
}

/// Prints what a person sends, and where.
fn say(obs: &Observer, person: &Person, chat: &SimChat, text: &str) {
    let to = match &chat.title {
        Some(title) => format!("\"{title}\" group"),
        None => format!("@{} (private chat)", world::BOT_USERNAME),
    };
    obs.timeline.note(person.name(), format!("→ {to}: {text}"));
}

/// Targets the bots report as published, in Telegram and Discord: the ✅ lines of the posts'
/// status messages as they read now (each is edited in place as a target finishes).
fn reports(obs: &Observer) -> usize {
    obs.current
        .values()
        // A status message opens with "Post #1 · first words"; a confirmation lists targets
        // too, so it is left out.
        .filter(|text| {
            text.lines()
                .next()
                .is_some_and(|first| first.starts_with("Post #") && first.contains(" · "))
        })
        .flat_map(|text| text.lines())
        .filter(|line| line.starts_with("✅"))
        .count()
}

/// `/start` in the person's private chat: the greeting carries the privacy notice, and they
/// press "I agree — I am 18 or older" under it; until then only a few verbs work.
async fn agree(world: &World, obs: &mut Observer, person: &Person) -> anyhow::Result<()> {
    let since = obs.messages.len();
    say(obs, person, &person.private, "/start");
    world.telegram().push_private_text(&person.user, "/start");
    obs.reply(since, person.user.id, "/start", "18 or older")
        .await?;
    let notice = world
        .telegram()
        .sent_messages()
        .into_iter()
        .rev()
        .find(|m| m.chat_id == person.user.id && m.text.contains("18 or older"))
        .context("the /start answer carries no privacy notice")?;
    obs.timeline.note(
        person.name(),
        format!("presses [{}]", autopost_bots::commands::AGREE_LABEL),
    );
    let since = obs.messages.len();
    world.telegram().push_callback(
        &person.user,
        person.private.id,
        notice.message_id,
        &autopost_bots::commands::ButtonAction::AgreePolicy.callback_data(),
    );
    obs.reply(since, person.user.id, "the agreement", "Thank you")
        .await?;
    Ok(())
}

/// `/connect PLATFORM` in `chat`: the bot sends the person a one-time link privately, and
/// they open it in a browser, which goes through the simulated consent page and back.
async fn connect(
    world: &World,
    obs: &mut Observer,
    person: &Person,
    chat: &SimChat,
    platform: &str,
) -> anyhow::Result<()> {
    let command = format!("/connect {platform}");
    let in_group = chat.id != person.user.id;
    let since = obs.messages.len();
    say(obs, person, chat, &command);
    world
        .telegram()
        .push_message(SimMessage::text(chat, &person.user, command.as_str()));
    obs.reply(since, person.user.id, &command, "Open this link")
        .await?;
    if in_group {
        obs.reply(since, chat.id, &command, "private message")
            .await?;
    }
    let link = obs
        .link_sent_to(person.user.id, since)
        .context("the bot's /connect answer holds no link")?;
    let link = Url::parse(&link).context("the bot's /connect link is not a URL")?;
    browse(world, obs, person.name(), link).await?;
    // The chat is told too; show that here if it comes promptly (the timeline shows it
    // whenever it comes).
    obs.glance(since, chat.id, "Linked", LINKED_PATIENCE).await;
    Ok(())
}

/// Which server a URL points at, for the timeline.
fn site(world: &World, url: &Url) -> &'static str {
    let port = url.port_or_known_default();
    if port == world.url().port_or_known_default() {
        "autopost"
    } else if port == world.x_url().port_or_known_default() {
        "X (simulated)"
    } else if port == world.meta_url().port_or_known_default() {
        "Facebook (simulated)"
    } else if port == world.discord_url().port_or_known_default() {
        "Discord (simulated)"
    } else {
        "elsewhere"
    }
}

/// Opens `link` as a browser would (redirects followed by hand, so each hop shows; the start
/// page's Continue pressed), and prints the hops and what the last page says. Only paths are
/// printed: the query strings carry one-time states and codes.
pub(crate) async fn browse(
    world: &World,
    obs: &Observer,
    who: &str,
    link: Url,
) -> anyhow::Result<()> {
    let page = autopost_sim::world::Browser::new()
        .context("cannot make a browser")?
        .open(link)
        .await
        .context("cannot follow the link")?;
    let mut lines = vec![format!("{who} opens the link in a browser:")];
    for (i, hop) in page.hops.iter().enumerate() {
        let arrow = if i == 0 { "  " } else { "→ " };
        let site = site(world, &hop.url);
        let mut line = format!("{arrow}{site} {} ({})", hop.url.path(), hop.status);
        let redirect = (300..400).contains(&hop.status);
        if site != "autopost" && redirect {
            line.push_str(&format!(": consent page; {who} approves, back to autopost"));
        } else if site == "autopost" && hop.status == 200 && i + 1 < page.hops.len() {
            line.push_str(&format!(
                ": says which chat the account will post for; {who} continues"
            ));
        }
        lines.push(line);
    }
    let said = page_message(&page.body);
    lines.push(format!("page: {said}"));
    obs.timeline.say("browser", &lines);
    anyhow::ensure!((200..300).contains(&page.status), "linking failed: {said}");
    Ok(())
}

/// What the platforms must hold at the end; a mismatch is a failed demo.
fn check_outcome(world: &World) -> anyhow::Result<()> {
    let tweets = world.x().tweets();
    let alice = world::alice_on_x().id;
    let launch = tweets
        .iter()
        .find(|t| t.author_id == alice)
        .context("no tweet from Alice's X account")?;
    anyhow::ensure!(
        launch.text.starts_with("Launch day!") && launch.media_ids.len() == 1,
        "Alice's tweet lacks its text or its image"
    );
    let feed = world.meta().feed_posts();
    anyhow::ensure!(
        feed.len() == 1 && feed[0].photo_ids.len() == 1,
        "the Facebook Page should hold one post with one photo, not {} post(s)",
        feed.len()
    );
    anyhow::ensure!(
        world.meta().ig_media().len() == 1,
        "Instagram should hold one post"
    );
    let from_discord = world::discord_team_on_x().id;
    anyhow::ensure!(
        tweets
            .iter()
            .any(|t| t.author_id == from_discord && t.media_ids.len() == 1),
        "the Discord team's tweet is missing or lacks its image"
    );
    anyhow::ensure!(
        tweets.len() == 3,
        "X should hold three tweets, not {}",
        tweets.len()
    );
    Ok(())
}
