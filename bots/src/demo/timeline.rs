//! The demo's timeline: one line per thing that happens, stamped with the time since the
//! start. The script's own actions are printed as it takes them; what the bot and the
//! simulated platforms do is observed by polling the simulations, which record every request
//! autopost makes to them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use autopost::output::print_line;
use autopost_sim::discord::{DiscordMessage, SimDiscord};
use autopost_sim::meta::SimMeta;
use autopost_sim::telegram::{SentMessage, SimTelegram};
use autopost_sim::x::SimX;

use super::text::{count, excerpt, first_link, html_to_plain, markdown_to_plain, quote};

/// How often the simulations are looked at while waiting.
const POLL: Duration = Duration::from_millis(10);
/// Lines of a bot message shown; the rest is counted.
const MESSAGE_LINES: usize = 5;
/// Characters of a post's text shown in a platform line.
const QUOTE_CHARS: usize = 48;
/// Width of the "who" column.
const WHO_WIDTH: usize = 10;

/// Prints stamped lines.
#[derive(Debug)]
pub struct Timeline {
    start: Instant,
}

impl Timeline {
    /// A timeline whose zero is now.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
        }
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// One entry: the first line stamped, any further lines indented under it.
    pub fn say(&self, who: &str, lines: &[String]) {
        let stamp = format!("+{:.2}s", self.elapsed().as_secs_f64());
        let mut lines = lines.iter();
        let first = lines.next().map_or("", String::as_str);
        print_line(&format!("{stamp:>7}  {who:<WHO_WIDTH$} {first}"));
        for line in lines {
            print_line(&format!(
                "{:width$}{line}",
                "",
                width = 7 + 2 + WHO_WIDTH + 3
            ));
        }
    }

    /// One entry of one line.
    pub fn note(&self, who: &str, line: impl Into<String>) {
        self.say(who, &[line.into()]);
    }
}

/// A bot message as the timeline knows it: where it went and its plain text.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The Telegram chat.
    pub chat_id: i64,
    /// The text without markup.
    pub text: String,
}

/// Watches the simulations and prints what is new on each look.
pub struct Observer {
    pub timeline: Timeline,
    x: SimX,
    meta: SimMeta,
    tg: SimTelegram,
    discord: SimDiscord,
    /// Messages the bot posted in Discord channels, as plain text, in order.
    pub discord_messages: Vec<String>,
    /// How to name a Telegram chat id in the timeline.
    chat_names: HashMap<i64, String>,
    /// X user id → @handle.
    x_handles: HashMap<String, String>,
    /// Facebook Page or Instagram id → name.
    meta_names: HashMap<String, String>,
    /// Bot messages printed so far, in order.
    pub messages: Vec<Seen>,
    /// Edits of the bot's Telegram messages and Discord channel messages printed so far.
    tg_edits: usize,
    discord_edits: usize,
    /// Each message as it reads now (after its edits), plain: Telegram by (chat, message id),
    /// Discord by message id. Status messages are edited in place as each target finishes.
    pub current: HashMap<(i64, u64), String>,
    pub tweets: usize,
    pub feed_posts: usize,
    containers: usize,
    pub ig_posts: usize,
}

impl Observer {
    /// An observer of these simulations; nothing has been seen yet.
    pub fn new(
        timeline: Timeline,
        x: &SimX,
        meta: &SimMeta,
        tg: &SimTelegram,
        discord: &SimDiscord,
    ) -> Self {
        Self {
            timeline,
            x: x.clone(),
            meta: meta.clone(),
            tg: tg.clone(),
            discord: discord.clone(),
            discord_messages: Vec::new(),
            chat_names: HashMap::new(),
            x_handles: HashMap::new(),
            meta_names: HashMap::new(),
            messages: Vec::new(),
            tg_edits: 0,
            discord_edits: 0,
            current: HashMap::new(),
            tweets: 0,
            feed_posts: 0,
            containers: 0,
            ig_posts: 0,
        }
    }

    /// Names a Telegram chat for the timeline.
    pub fn name_chat(&mut self, id: i64, name: impl Into<String>) {
        self.chat_names.insert(id, name.into());
    }

    /// Names an X user id for the timeline.
    pub fn name_x_user(&mut self, id: &str, handle: &str) {
        self.x_handles.insert(id.to_owned(), format!("@{handle}"));
    }

    /// Names a Facebook Page or Instagram account for the timeline.
    pub fn name_meta(&mut self, id: &str, name: impl Into<String>) {
        self.meta_names.insert(id.to_owned(), name.into());
    }

    fn chat_name(&self, id: i64) -> String {
        self.chat_names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("chat {id}"))
    }

    /// Prints everything new in the simulations: platform posts first, then the bot's
    /// messages (which report on them).
    pub fn look(&mut self) {
        let tweets = self.x.tweets();
        if tweets.len() > self.tweets {
            let media = self.x.media();
            for tweet in &tweets[self.tweets..] {
                let author = self
                    .x_handles
                    .get(&tweet.author_id)
                    .cloned()
                    .unwrap_or_else(|| tweet.author_id.clone());
                let images: Vec<String> = tweet
                    .media_ids
                    .iter()
                    .filter_map(|id| media.iter().find(|m| &m.id == id))
                    .map(|m| format!("{}, {} KB", m.content_type, m.bytes_len.div_ceil(1024)))
                    .collect();
                let with = if images.is_empty() {
                    "no image".to_owned()
                } else {
                    format!("{} ({})", count(images.len(), "image"), images.join("; "))
                };
                self.timeline.note(
                    "X",
                    format!(
                        "{author} posted tweet {} with {with}: {}",
                        tweet.id,
                        quote(&tweet.text, QUOTE_CHARS)
                    ),
                );
            }
            self.tweets = tweets.len();
        }

        let feed = self.meta.feed_posts();
        for post in feed.iter().skip(self.feed_posts) {
            let page = self
                .meta_names
                .get(&post.page_id)
                .cloned()
                .unwrap_or_else(|| post.page_id.clone());
            self.timeline.note(
                "Facebook",
                format!(
                    "Page \"{page}\" posted {} with {}: {}",
                    post.id,
                    count(post.photo_ids.len(), "photo"),
                    quote(post.message.as_deref().unwrap_or(""), QUOTE_CHARS)
                ),
            );
        }
        self.feed_posts = self.feed_posts.max(feed.len());

        let containers = self.meta.containers();
        for container in containers.iter().skip(self.containers) {
            let fetched = container
                .fetched
                .as_ref()
                .map_or("nothing".to_owned(), |b| {
                    format!("{} KB", b.len().div_ceil(1024))
                });
            // Only the path: the rest of the link is a signed, expiring capability.
            let from = container
                .image_url
                .as_deref()
                .and_then(|u| url::Url::parse(u).ok())
                .map_or("(no link)".to_owned(), |u| {
                    let kind = u.path_segments().and_then(|mut s| s.next()).unwrap_or("");
                    format!("autopost's signed /{kind}/… link")
                });
            self.timeline.note(
                "Instagram",
                format!(
                    "container {} created; Meta fetched the image ({fetched}) from {from}",
                    container.id
                ),
            );
        }
        self.containers = self.containers.max(containers.len());

        let ig = self.meta.ig_media();
        for post in ig.iter().skip(self.ig_posts) {
            let account = self
                .meta_names
                .get(&post.ig_id)
                .cloned()
                .unwrap_or_else(|| post.ig_id.clone());
            self.timeline.note(
                "Instagram",
                format!(
                    "{account} published {}: {}",
                    post.id,
                    quote(post.caption.as_deref().unwrap_or(""), QUOTE_CHARS)
                ),
            );
        }
        self.ig_posts = self.ig_posts.max(ig.len());

        let sent = self.tg.sent_messages();
        for message in sent.iter().skip(self.messages.len()) {
            self.show_message(message);
        }

        let edits = self.tg.edited_messages();
        for edit in edits.iter().skip(self.tg_edits) {
            let text = if edit.parse_mode.as_deref() == Some("HTML") {
                html_to_plain(&edit.text)
            } else {
                edit.text.clone()
            };
            let mut lines = excerpt(&text, MESSAGE_LINES);
            let to = format!("✎ {} (edited): ", self.chat_name(edit.chat_id));
            if let Some(first) = lines.first_mut() {
                first.insert_str(0, &to);
            }
            self.timeline.say("bot", &lines);
            let id = u64::try_from(edit.message_id).unwrap_or_default();
            self.current.insert((edit.chat_id, id), text);
        }
        self.tg_edits = edits.len();

        let posted = self.discord.channel_messages();
        for message in posted.iter().skip(self.discord_messages.len()) {
            self.show_discord_message(message);
        }
        let edits = self.discord.edits();
        for edit in edits.iter().skip(self.discord_edits) {
            let text = markdown_to_plain(&edit.message.content);
            let mut lines = excerpt(&text, MESSAGE_LINES);
            if let Some(first) = lines.first_mut() {
                first.insert_str(0, "✎ #general (Discord, edited): ");
            }
            self.timeline.say("bot", &lines);
            self.current.insert((0, edit.message.id), text);
        }
        self.discord_edits = edits.len();
    }

    fn show_discord_message(&mut self, message: &DiscordMessage) {
        let mut lines = excerpt(&markdown_to_plain(&message.content), MESSAGE_LINES);
        if let Some(first) = lines.first_mut() {
            first.insert_str(0, "→ #general (Discord): ");
        }
        self.timeline.say("bot", &lines);
        self.discord_messages.push(message.content.clone());
        self.current
            .insert((0, message.id), markdown_to_plain(&message.content));
    }

    fn show_message(&mut self, message: &SentMessage) {
        let text = if message.parse_mode.as_deref() == Some("HTML") {
            html_to_plain(&message.text)
        } else {
            message.text.clone()
        };
        let mut lines = excerpt(&text, MESSAGE_LINES);
        let to = format!("→ {}: ", self.chat_name(message.chat_id));
        if let Some(first) = lines.first_mut() {
            first.insert_str(0, &to);
        }
        if let Some(buttons) = message.reply_markup.as_ref().map(button_labels)
            && !buttons.is_empty()
        {
            lines.push(format!("[buttons: {}]", buttons.join(", ")));
        }
        self.timeline.say("bot", &lines);
        let id = u64::try_from(message.message_id).unwrap_or_default();
        self.current.insert((message.chat_id, id), text.clone());
        self.messages.push(Seen {
            chat_id: message.chat_id,
            text,
        });
    }

    /// Looks until `done` holds for what was seen, or fails after `timeout` naming `what`.
    pub async fn until(
        &mut self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Observer) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.look();
            if done(self) {
                return Ok(());
            }
            if let Some(failure) = self.failure() {
                anyhow::bail!("{failure}");
            }
            if Instant::now() >= deadline {
                anyhow::bail!("gave up after {timeout:?} waiting for {what}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits for the first bot message to `chat`, after the first `since` messages, that
    /// contains `expected`; returns its plain text. A refusal (`⚠️ …`) there fails at once.
    pub async fn reply(
        &mut self,
        since: usize,
        chat: i64,
        what: &str,
        expected: &str,
    ) -> anyhow::Result<String> {
        let found = |o: &Observer| {
            o.messages
                .iter()
                .skip(since)
                .filter(|m| m.chat_id == chat)
                .find(|m| m.text.contains(expected) || m.text.starts_with('⚠'))
                .map(|m| m.text.clone())
        };
        self.until(what, Duration::from_secs(10), |o| found(o).is_some())
            .await?;
        let text = found(self).ok_or_else(|| anyhow::anyhow!("{what} vanished"))?;
        if !text.contains(expected) {
            let first = text.lines().next().unwrap_or("");
            anyhow::bail!("the bot refused {what}: {first}");
        }
        Ok(text)
    }

    /// Like [`Observer::reply`], but only for a little while and never failing: for a
    /// message worth showing in its place that the script does not depend on.
    pub async fn glance(&mut self, since: usize, chat: i64, expected: &str, patience: Duration) {
        let _ = self
            .until("a message", patience, |o| {
                o.messages
                    .iter()
                    .skip(since)
                    .any(|m| m.chat_id == chat && m.text.contains(expected))
            })
            .await;
    }

    /// The one-time link (to autopost's `/oauth/…/start`) in a bot message to `chat`, after
    /// the first `since` messages.
    pub fn link_sent_to(&self, chat: i64, since: usize) -> Option<String> {
        self.tg
            .sent_messages()
            .into_iter()
            .take(self.messages.len())
            .skip(since)
            .filter(|m| m.chat_id == chat)
            .filter_map(|m| first_link(&m.text))
            .find(|link| link.contains("/oauth/"))
    }

    /// A target that failed (or whose outcome is unknown), as its post's status message
    /// shows it, if the bot showed one.
    fn failure(&self) -> Option<String> {
        self.current
            .values()
            .flat_map(|text| text.lines())
            .find(|line| line.starts_with("❌") || line.starts_with("❔"))
            .map(|line| format!("a post did not go out: {line}"))
    }
}

/// The labels of an inline keyboard (`{"inline_keyboard":[[{"text":…},…],…]}`).
fn button_labels(markup: &serde_json::Value) -> Vec<String> {
    markup
        .get("inline_keyboard")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_array)
        .flatten()
        .filter_map(|b| b.get("text").and_then(serde_json::Value::as_str))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn button_labels_are_read_row_by_row() {
        let markup = serde_json::json!({"inline_keyboard": [
            [{"text": "Cancel", "callback_data": "c:1"}, {"text": "Post now", "callback_data": "p:1"}],
            [{"text": "Confirm", "callback_data": "d"}]
        ]});
        assert_eq!(button_labels(&markup), ["Cancel", "Post now", "Confirm"]);
        assert!(button_labels(&serde_json::json!({})).is_empty());
    }
}
