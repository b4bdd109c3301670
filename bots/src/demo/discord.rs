//! The demo's Discord team: in the simulated server's #general, Carol (who may manage the
//! server) links the team's X account with `/connect`; Dave types `/post` with a picture,
//! sees what his `when` means while typing, and presses "Post now" under `/queue`. Every
//! interaction is signed and delivered to autopost's real `/discord/interactions`.

use anyhow::Context;
use autopost_bots::commands::{AGREE_LABEL, ButtonAction};
use autopost_sim::World;
use autopost_sim::discord::{SimDiscordUser, SimMember};
use serde_json::Value;
use url::Url;

use super::text::{first_markdown_link, markdown_to_plain};
use super::timeline::Observer;
use super::{LINKED_PATIENCE, browse, world};

/// Dave's post, and the phrase he types for its time.
const DAVE_TEXT: &str = "Fresh from the oven at the Main St. shop: our new rye. #bakery";
const DAVE_WHEN: &str = "in 1 hour";

/// The Discord part of the script.
pub async fn team(world: &World, obs: &mut Observer) -> anyhow::Result<()> {
    let discord = world.discord();
    let guild = discord.guild();
    let carol = SimMember::new(SimDiscordUser::new(4001, "carol")).admin();
    let dave = SimMember::new(SimDiscordUser::new(4002, "dave"));
    let endpoint = world.discord_interactions_url();

    // Both agree to the privacy policy first, under the notice `/start` carries.
    agree(world, obs, &endpoint, &carol, "Carol").await?;
    agree(world, obs, &endpoint, &dave, "Dave").await?;

    // Carol links the team's X account; only she sees the link.
    world.x().set_consenting_user(world::discord_team_on_x());
    obs.timeline
        .note("Carol", "→ #general (Discord): /connect platform:x");
    let connect = discord
        .slash_command("connect")
        .in_guild(&guild, &carol)
        .string("platform", "x")
        .build();
    let answer = deliver(world, &endpoint, &connect).await?;
    show(obs, "Carol (only she sees it)", &answer);
    let link = first_markdown_link(answer["data"]["content"].as_str().unwrap_or_default())
        .filter(|l| l.contains("/oauth/"))
        .context("the /connect answer holds no link")?;
    let link = Url::parse(&link).context("the /connect link is not a URL")?;
    browse(world, obs, "Carol", link).await?;
    let seen = obs.discord_messages.len();
    let _ = obs
        .until("the channel to be told", LINKED_PATIENCE, |o| {
            o.discord_messages.len() > seen
        })
        .await;

    // Dave types his post; autocomplete shows what `when` means as he types.
    let typing = discord
        .autocomplete("post")
        .in_guild(&guild, &dave)
        .focused("when", DAVE_WHEN)
        .build();
    let choices = deliver(world, &endpoint, &typing).await?;
    let shown = choices["data"]["choices"][0]["name"]
        .as_str()
        .unwrap_or("(no suggestion)");
    obs.timeline.note(
        "Discord",
        format!("while Dave types `when`, autocomplete shows: {shown}"),
    );
    let picture = discord.add_attachment("rye.jpg", "image/jpeg", super::picture::launch_photo()?);
    obs.timeline.note(
        "Dave",
        format!(
            "→ #general (Discord): /post when:{DAVE_WHEN} text:{DAVE_TEXT} image1:[rye.jpg, {} KB]",
            picture.size.div_ceil(1024)
        ),
    );
    let post = discord
        .slash_command("post")
        .in_guild(&guild, &dave)
        .string("when", DAVE_WHEN)
        .string("text", DAVE_TEXT)
        .attachment("image1", &picture)
        .build();
    let answer = deliver(world, &endpoint, &post).await?;
    show(obs, "#general (Discord)", &answer);
    anyhow::ensure!(
        content(&answer).contains("Scheduled post"),
        "Dave's post was refused: {}",
        content(&answer)
    );

    // /queue, then Dave presses "Post now" under his post.
    obs.timeline.note("Dave", "→ #general (Discord): /queue");
    let queue = discord
        .slash_command("queue")
        .in_guild(&guild, &dave)
        .build();
    let listing = deliver(world, &endpoint, &queue).await?;
    show(obs, "#general (Discord)", &listing);
    let button = listing["data"]["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .find(|b| {
            b["custom_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("postnow:"))
        })
        .context("/queue shows no Post now button")?;
    let label = button["label"].as_str().unwrap_or("Post now");
    let id = queue["id"].as_str().and_then(|id| id.parse::<u64>().ok());
    let message = id
        .and_then(|id| discord.original_response(id))
        .map_or(0, |m| m.id);
    obs.timeline
        .note("Dave", format!("presses [{label}] under the /queue answer"));
    let press = discord
        .button_press(button["custom_id"].as_str().unwrap_or_default(), message)
        .in_guild(&guild, &dave)
        .build();
    let pressed = deliver(world, &endpoint, &press).await?;
    show(
        obs,
        "#general (Discord, the /queue answer replaced)",
        &pressed,
    );
    Ok(())
}

/// `/start` by `member`, then a press of the agreement button under its answer.
async fn agree(
    world: &World,
    obs: &mut Observer,
    endpoint: &Url,
    member: &SimMember,
    name: &str,
) -> anyhow::Result<()> {
    let discord = world.discord();
    let guild = discord.guild();
    obs.timeline.note(name, "→ #general (Discord): /start");
    let start = discord
        .slash_command("start")
        .in_guild(&guild, member)
        .build();
    let answer = deliver(world, endpoint, &start).await?;
    let agreement = ButtonAction::AgreePolicy.callback_data();
    let offered = answer["data"]["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .any(|b| b["custom_id"].as_str() == Some(agreement.as_str()));
    anyhow::ensure!(offered, "the /start answer offers no agreement button");
    let id = start["id"].as_str().and_then(|id| id.parse::<u64>().ok());
    let message = id
        .and_then(|id| discord.original_response(id))
        .map_or(0, |m| m.id);
    obs.timeline.note(
        name,
        format!("presses [{AGREE_LABEL}] under the /start answer"),
    );
    let press = discord
        .button_press(&agreement, message)
        .in_guild(&guild, member)
        .build();
    let pressed = deliver(world, endpoint, &press).await?;
    show(obs, &format!("{name} (only they see it)"), &pressed);
    anyhow::ensure!(
        content(&pressed).contains("Thank you"),
        "{name}'s agreement was refused: {}",
        content(&pressed)
    );
    Ok(())
}

/// Delivers a signed interaction; its answer.
async fn deliver(world: &World, endpoint: &Url, payload: &Value) -> anyhow::Result<Value> {
    let delivery = world
        .discord()
        .deliver(endpoint, payload)
        .await
        .map_err(|e| e.without_url())
        .context("cannot reach autopost's /discord/interactions")?;
    anyhow::ensure!(
        delivery.status == 200,
        "autopost answered the interaction with {}",
        delivery.status
    );
    delivery
        .body
        .context("autopost answered the interaction without JSON")
}

/// The text of an answer: its content, or its card.
fn content(answer: &Value) -> String {
    let data = &answer["data"];
    let text = data["content"].as_str().unwrap_or_default();
    let card = data["embeds"][0]["description"]
        .as_str()
        .unwrap_or_default();
    markdown_to_plain(if text.is_empty() { card } else { text })
}

/// Prints an answer: where it went, its first lines and its buttons.
fn show(obs: &Observer, to: &str, answer: &Value) {
    let mut lines = super::text::excerpt(&content(answer), 5);
    if let Some(first) = lines.first_mut() {
        first.insert_str(0, &format!("→ {to}: "));
    }
    let buttons: Vec<&str> = answer["data"]["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().into_iter().flatten())
        .filter_map(|b| b["label"].as_str())
        .collect();
    if !buttons.is_empty() {
        lines.push(format!("[buttons: {}]", buttons.join(", ")));
    }
    obs.timeline.say("bot", &lines);
}
