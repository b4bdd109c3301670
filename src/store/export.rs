//! A person's data as the store holds it: every row that refers to them, one section per
//! table and named after it, read in one snapshot. Sealed tokens, the PKCE verifier and the
//! OAuth state and browser hashes are never selected, so they cannot reach an export.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::db::{Record, Tx, query, query_scalar};
use super::{Store, StoreError, from_millis};
use crate::domain::{AccountId, ChatId, DraftId, GrantId, MediaId, PostId, TargetId, UserId};

/// Everything autopost keeps about one person, without any secret. Each field is named after
/// the table its rows come from, so that a test can compare the export with every table
/// that refers to people.
#[derive(Debug, Clone, Serialize)]
pub struct UserExport {
    /// The profile: one row.
    pub users: Vec<ExportedUser>,
    /// Each time they agreed to a policy version or were shown a newer one.
    pub consents: Vec<ExportedConsent>,
    /// The chats any other section names, with what each is to them.
    pub chats: Vec<ExportedChat>,
    /// The authorizations they gave at X or Meta (scopes and expiry, never tokens).
    pub grants: Vec<ExportedGrant>,
    /// The accounts those grants reach, with the chats each posts for.
    pub accounts: Vec<ExportedAccount>,
    /// The links they made between an account and a chat.
    pub chat_accounts: Vec<ExportedChatAccount>,
    /// The posts they wrote.
    pub posts: Vec<ExportedPost>,
    /// Where each of their posts goes and how it went.
    pub targets: Vec<ExportedTarget>,
    /// The images of their posts (described; the files go into a zip when asked).
    pub media: Vec<ExportedMedia>,
    /// Their posts' own texts for one network (`x: …`).
    pub post_variants: Vec<ExportedVariant>,
    /// The parts of their X threads, with the platform's id of each part sent.
    pub thread_parts: Vec<ExportedThreadPart>,
    /// The chat messages that show their posts (confirmations, status messages).
    pub post_messages: Vec<ExportedPostMessage>,
    /// Messages addressed to them, delivered or waiting.
    pub notifications: Vec<ExportedNotification>,
    /// Security events about them.
    pub audit_events: Vec<ExportedEvent>,
    /// Linking they started and has not been purged yet (no state or verifier).
    pub oauth_states: Vec<ExportedOAuthState>,
    /// Revocations autopost still owes the platforms for them (no token).
    pub pending_revocations: Vec<ExportedRevocation>,
    /// Posts held for an hour while they pick a suggested time.
    pub drafts: Vec<ExportedDraft>,
    /// The images of those drafts (described by size; they are removed with the draft).
    pub draft_images: Vec<ExportedDraftImage>,
}

/// A row of `drafts`.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedDraft {
    /// Its row.
    pub id: DraftId,
    /// The chat it is for.
    pub chat_id: ChatId,
    /// The text as typed.
    pub body: String,
    /// The `to` names as given.
    pub to: Vec<String>,
    /// The times offered.
    pub suggestions: Vec<String>,
    /// When it was held.
    pub created_at: DateTime<Utc>,
    /// When it is removed.
    pub expires_at: DateTime<Utc>,
}

/// A row of `draft_images`.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedDraftImage {
    /// Its draft.
    pub draft_id: DraftId,
    /// 0-based position.
    pub position: i64,
    /// Size in bytes.
    pub byte_len: i64,
}

/// Their row of `users`.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedUser {
    /// autopost's id for them.
    pub id: UserId,
    /// Chat platform.
    pub platform: String,
    /// Their id there.
    pub remote_id: String,
    /// Name as last seen.
    pub display_name: Option<String>,
    /// Chosen time zone.
    pub time_zone: Option<String>,
    /// When autopost asked them for their time zone.
    pub time_zone_asked_at: Option<DateTime<Utc>>,
    /// The privacy-policy version they were last shown or accepted.
    pub accepted_policy_version: Option<i64>,
    /// When they confirmed they are 18 or older and agreed to the policy.
    pub adult_confirmed_at: Option<DateTime<Utc>>,
    /// First seen.
    pub created_at: DateTime<Utc>,
    /// Last seen (kept at a ten-minute grain).
    pub last_seen_at: DateTime<Utc>,
}

/// A row of `consents`.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedConsent {
    /// Its row.
    pub id: i64,
    /// The policy version.
    pub policy_version: i64,
    /// `agreed` or `notified`.
    pub action: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A row of `chats`, with what it is to the person.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedChat {
    /// autopost's id for it; other sections refer to it.
    pub id: ChatId,
    /// Chat platform.
    pub platform: String,
    /// Its id there.
    pub remote_id: String,
    /// private, group or channel.
    pub kind: String,
    /// Its name, if it has one.
    pub title: Option<String>,
    /// The chat's default zone.
    pub time_zone: Option<String>,
    /// First seen.
    pub created_at: DateTime<Utc>,
    /// Why it is in the export: `private_chat`, `linked_accounts_here`,
    /// `your_accounts_post_here`, `wrote_posts_here`, `started_linking_here`,
    /// `notified_here`, `revocation_notice_here`.
    pub roles: Vec<&'static str>,
}

/// A row of `grants`, without its tokens.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedGrant {
    /// Its row.
    pub id: GrantId,
    /// `x` or `meta`.
    pub platform: String,
    /// The person's id at that platform.
    pub remote_user_id: String,
    /// What the platform allowed autopost to do.
    pub scopes: Vec<String>,
    /// When the access token lapses (the token itself is never exported).
    pub token_expires_at: Option<DateTime<Utc>>,
    /// active, needs_reconnect or revoked.
    pub state: String,
    /// When they authorized.
    pub created_at: DateTime<Utc>,
    /// When the tokens were last refreshed.
    pub refreshed_at: Option<DateTime<Utc>>,
}

/// A row of `accounts`, without its token.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedAccount {
    /// Its row.
    pub id: AccountId,
    /// The grant it is reached through.
    pub grant_id: GrantId,
    /// x, facebook_page or instagram.
    pub provider: String,
    /// Its id at the platform.
    pub remote_id: String,
    /// Its name or @handle.
    pub display_name: String,
    /// active, needs_reconnect or revoked.
    pub state: String,
    /// When it was first linked.
    pub created_at: DateTime<Utc>,
    /// The chats it posts for (ids in `chats`).
    pub chats: Vec<ChatId>,
}

/// A row of `chat_accounts` the person made.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedChatAccount {
    /// The chat.
    pub chat_id: ChatId,
    /// The account.
    pub account_id: AccountId,
    /// When they linked it there.
    pub linked_at: DateTime<Utc>,
}

/// A row of `posts` they wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedPost {
    /// Its number, as `/queue` shows it.
    pub id: PostId,
    /// The chat whose queue it is in.
    pub chat_id: ChatId,
    /// The text.
    pub body: String,
    /// When it is (or was) due.
    pub due_at: DateTime<Utc>,
    /// The repeat rule, if any.
    pub recurrence: Option<String>,
    /// The zone its time was read in.
    pub time_zone: String,
    /// scheduled, done or cancelled.
    pub state: String,
    /// Written.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A row of `targets` of one of their posts.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedTarget {
    /// Its row.
    pub id: i64,
    /// The post.
    pub post_id: PostId,
    /// The account it goes to.
    pub account_id: AccountId,
    /// That account's name, for reading without joining.
    pub account: String,
    /// queued, publishing, published, failed, unknown or cancelled.
    pub state: String,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    /// Attempts made.
    pub attempts: i64,
    /// The post's id at the platform.
    pub remote_id: Option<String>,
    /// The live post.
    pub remote_url: Option<String>,
    /// Why it failed.
    pub last_error: Option<String>,
    /// When it went live.
    pub published_at: Option<DateTime<Utc>>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A row of `target_parts`: one part of a thread of one of their posts.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedThreadPart {
    /// The target (one post on one account).
    pub target_id: TargetId,
    /// Its place in the thread, from 0.
    pub position: i64,
    /// Its text.
    pub body: String,
    /// The platform's id of the part once sent.
    pub remote_id: Option<String>,
    /// A link to it once sent.
    pub remote_url: Option<String>,
    /// When it went out.
    pub published_at: Option<DateTime<Utc>>,
}

/// A row of `post_variants` of one of their posts.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedVariant {
    /// The post.
    pub post_id: PostId,
    /// The network: x, facebook_page or instagram.
    pub provider: String,
    /// The text that network publishes.
    pub body: String,
}

/// A row of `post_messages`: a chat message that shows one of their posts.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedPostMessage {
    /// The post.
    pub post_id: PostId,
    /// `confirmation` or `status`.
    pub role: String,
    /// The chat platform's id of the chat.
    pub chat: String,
    /// The chat platform's id of the message.
    pub message: String,
    /// When it was remembered.
    pub created_at: DateTime<Utc>,
}

/// A row of `media` of one of their posts.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedMedia {
    /// Its row.
    pub id: MediaId,
    /// The post.
    pub post_id: PostId,
    /// Its place among the post's images, from 0.
    pub position: i64,
    /// MIME type.
    pub content_type: String,
    /// Size in bytes.
    pub byte_len: i64,
    /// Pixel width.
    pub width: Option<i64>,
    /// Pixel height.
    pub height: Option<i64>,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// Stored.
    pub created_at: DateTime<Utc>,
    /// Where the image is inside an export zip; `None` in a JSON-only export, or when the
    /// file is no longer on disk.
    pub file: Option<String>,
    /// The file under the media directory: where the zip reads it from. Not exported.
    #[serde(skip)]
    pub stored_as: String,
}

/// A row of `notifications` addressed to them.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedNotification {
    /// Its row.
    pub id: i64,
    /// The chat it was (or is to be) told in.
    pub chat_id: Option<ChatId>,
    /// What happened.
    pub kind: String,
    /// What it says, as stored.
    pub payload: serde_json::Value,
    /// Recorded.
    pub created_at: DateTime<Utc>,
    /// Delivered, if it was.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A row of `audit_events` about them.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedEvent {
    /// Its row.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub kind: String,
    /// The account it concerned, while it exists.
    pub account_id: Option<AccountId>,
    /// Detail (never a secret).
    pub detail: String,
}

/// A row of `oauth_states` they started, without the state's hash, the browser's hash or
/// the PKCE verifier.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedOAuthState {
    /// Its row.
    pub id: i64,
    /// `x` or `meta`.
    pub provider: String,
    /// The chat the accounts were to post for.
    pub chat_id: ChatId,
    /// Started.
    pub created_at: DateTime<Utc>,
    /// The link's end.
    pub expires_at: DateTime<Utc>,
    /// When it was used, if it was.
    pub used_at: Option<DateTime<Utc>>,
}

/// A row of `pending_revocations` for them, without the token.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedRevocation {
    /// Its row.
    pub id: i64,
    /// `x` or `meta`.
    pub provider: String,
    /// The chat to tell the outcome.
    pub notify_chat_id: Option<ChatId>,
    /// What was being revoked, in words.
    pub label: String,
    /// Attempts made.
    pub attempts: i64,
    /// The next attempt.
    pub next_attempt_at: DateTime<Utc>,
    /// First tried.
    pub created_at: DateTime<Utc>,
}

fn at(row: &Record, column: &str) -> Result<DateTime<Utc>, StoreError> {
    from_millis(row.get(column))
}

fn at_opt(row: &Record, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    row.get::<Option<i64>, _>(column)
        .map(from_millis)
        .transpose()
}

/// Runs `sql` with the person's id as `?1` and turns each row with `map`.
async fn rows<T>(
    tx: &mut Tx,
    sql: &str,
    user: UserId,
    map: impl Fn(&Record) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    query(sql.to_owned())
        .bind(user.0)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(map)
        .collect()
}

impl Store {
    /// Every row that refers to `user`, without secrets, read in one snapshot.
    pub async fn export_user(&self, user: UserId) -> Result<UserExport, StoreError> {
        // A read transaction: every section sees the same moment, even while the scheduler
        // and the bots write.
        let mut tx = self.pool.begin_read().await?;
        let users = rows(
            &mut tx,
            "SELECT id, platform, remote_id, display_name, time_zone, time_zone_asked_at,
                    accepted_policy_version, adult_confirmed_at, created_at, last_seen_at
             FROM users WHERE id = ?1",
            user,
            |r| {
                Ok(ExportedUser {
                    id: UserId(r.get("id")),
                    platform: r.get("platform"),
                    remote_id: r.get("remote_id"),
                    display_name: r.get("display_name"),
                    time_zone: r.get("time_zone"),
                    time_zone_asked_at: at_opt(r, "time_zone_asked_at")?,
                    accepted_policy_version: r.get("accepted_policy_version"),
                    adult_confirmed_at: at_opt(r, "adult_confirmed_at")?,
                    created_at: at(r, "created_at")?,
                    last_seen_at: at(r, "last_seen_at")?,
                })
            },
        )
        .await?;
        if users.is_empty() {
            return Err(StoreError::NotFound { what: "user" });
        }
        let consents = rows(
            &mut tx,
            "SELECT id, policy_version, action, at FROM consents WHERE user_id = ?1 ORDER BY id",
            user,
            |r| {
                Ok(ExportedConsent {
                    id: r.get("id"),
                    policy_version: r.get("policy_version"),
                    action: r.get("action"),
                    at: at(r, "at")?,
                })
            },
        )
        .await?;
        let grants = rows(
            &mut tx,
            "SELECT id, platform, remote_user_id, scopes, token_expires_at, state, created_at,
                    refreshed_at FROM grants WHERE owner_id = ?1 ORDER BY id",
            user,
            |r| {
                Ok(ExportedGrant {
                    id: GrantId(r.get("id")),
                    platform: r.get("platform"),
                    remote_user_id: r.get("remote_user_id"),
                    scopes: r
                        .get::<&str, _>("scopes")
                        .split([' ', ','])
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    token_expires_at: at_opt(r, "token_expires_at")?,
                    state: r.get("state"),
                    created_at: at(r, "created_at")?,
                    refreshed_at: at_opt(r, "refreshed_at")?,
                })
            },
        )
        .await?;
        let mut accounts = rows(
            &mut tx,
            "SELECT a.id, a.grant_id, a.provider, a.remote_id, a.display_name, a.state, a.created_at
             FROM accounts a JOIN grants g ON g.id = a.grant_id WHERE g.owner_id = ?1 ORDER BY a.id",
            user,
            |r| {
                Ok(ExportedAccount {
                    id: AccountId(r.get("id")),
                    grant_id: GrantId(r.get("grant_id")),
                    provider: r.get("provider"),
                    remote_id: r.get("remote_id"),
                    display_name: r.get("display_name"),
                    state: r.get("state"),
                    created_at: at(r, "created_at")?,
                    chats: Vec::new(),
                })
            },
        )
        .await?;
        let posting_for = rows(
            &mut tx,
            "SELECT l.account_id, l.chat_id FROM chat_accounts l
             JOIN accounts a ON a.id = l.account_id JOIN grants g ON g.id = a.grant_id
             WHERE g.owner_id = ?1 ORDER BY l.chat_id",
            user,
            |r| {
                Ok((
                    AccountId(r.get("account_id")),
                    ChatId(r.get::<i64, _>("chat_id")),
                ))
            },
        )
        .await?;
        for account in &mut accounts {
            account.chats = posting_for
                .iter()
                .filter(|(a, _)| *a == account.id)
                .map(|(_, chat)| *chat)
                .collect();
        }
        let chat_accounts = rows(
            &mut tx,
            "SELECT chat_id, account_id, linked_at FROM chat_accounts WHERE linked_by = ?1
             ORDER BY linked_at, chat_id, account_id",
            user,
            |r| {
                Ok(ExportedChatAccount {
                    chat_id: ChatId(r.get("chat_id")),
                    account_id: AccountId(r.get("account_id")),
                    linked_at: at(r, "linked_at")?,
                })
            },
        )
        .await?;
        let posts = rows(
            &mut tx,
            "SELECT id, chat_id, body, due_at, recurrence, time_zone, state, created_at, updated_at
             FROM posts WHERE author_id = ?1 ORDER BY id",
            user,
            |r| {
                Ok(ExportedPost {
                    id: PostId(r.get("id")),
                    chat_id: ChatId(r.get("chat_id")),
                    body: r.get("body"),
                    due_at: at(r, "due_at")?,
                    recurrence: r.get("recurrence"),
                    time_zone: r.get("time_zone"),
                    state: r.get("state"),
                    created_at: at(r, "created_at")?,
                    updated_at: at(r, "updated_at")?,
                })
            },
        )
        .await?;
        let targets = rows(
            &mut tx,
            "SELECT t.id, t.post_id, t.account_id, a.display_name, t.state, t.due_at, t.attempts,
                    t.remote_id, t.remote_url, t.last_error, t.published_at, t.updated_at
             FROM targets t JOIN posts p ON p.id = t.post_id JOIN accounts a ON a.id = t.account_id
             WHERE p.author_id = ?1 ORDER BY t.post_id, t.id",
            user,
            |r| {
                Ok(ExportedTarget {
                    id: r.get("id"),
                    post_id: PostId(r.get("post_id")),
                    account_id: AccountId(r.get("account_id")),
                    account: r.get("display_name"),
                    state: r.get("state"),
                    due_at: at(r, "due_at")?,
                    attempts: r.get("attempts"),
                    remote_id: r.get("remote_id"),
                    remote_url: r.get("remote_url"),
                    last_error: r.get("last_error"),
                    published_at: at_opt(r, "published_at")?,
                    updated_at: at(r, "updated_at")?,
                })
            },
        )
        .await?;
        let post_messages = rows(
            &mut tx,
            "SELECT m.post_id, m.role, m.chat, m.message, m.created_at
             FROM post_messages m JOIN posts p ON p.id = m.post_id WHERE p.author_id = ?1
             ORDER BY m.post_id, m.created_at, m.role, m.chat, m.message",
            user,
            |r| {
                Ok(ExportedPostMessage {
                    post_id: PostId(r.get("post_id")),
                    role: r.get("role"),
                    chat: r.get("chat"),
                    message: r.get("message"),
                    created_at: at(r, "created_at")?,
                })
            },
        )
        .await?;
        let media = rows(
            &mut tx,
            "SELECT m.id, m.post_id, m.position, m.content_type, m.byte_len, m.width, m.height,
                    m.sha256, m.file_name, m.created_at
             FROM media m JOIN posts p ON p.id = m.post_id WHERE p.author_id = ?1
             ORDER BY m.post_id, m.position",
            user,
            |r| {
                Ok(ExportedMedia {
                    id: MediaId(r.get("id")),
                    post_id: PostId(r.get("post_id")),
                    position: r.get("position"),
                    content_type: r.get("content_type"),
                    byte_len: r.get("byte_len"),
                    width: r.get("width"),
                    height: r.get("height"),
                    sha256: r.get("sha256"),
                    created_at: at(r, "created_at")?,
                    file: None,
                    stored_as: r.get("file_name"),
                })
            },
        )
        .await?;
        let post_variants = rows(
            &mut tx,
            "SELECT v.post_id, v.provider, v.body
             FROM post_variants v JOIN posts p ON p.id = v.post_id WHERE p.author_id = ?1
             ORDER BY v.post_id, v.provider",
            user,
            |r| {
                Ok(ExportedVariant {
                    post_id: PostId(r.get("post_id")),
                    provider: r.get("provider"),
                    body: r.get("body"),
                })
            },
        )
        .await?;
        let thread_parts = rows(
            &mut tx,
            "SELECT tp.target_id, tp.position, tp.body, tp.remote_id, tp.remote_url, tp.published_at
             FROM target_parts tp JOIN targets t ON t.id = tp.target_id
             JOIN posts p ON p.id = t.post_id WHERE p.author_id = ?1
             ORDER BY tp.target_id, tp.position",
            user,
            |r| {
                Ok(ExportedThreadPart {
                    target_id: TargetId(r.get("target_id")),
                    position: r.get("position"),
                    body: r.get("body"),
                    remote_id: r.get("remote_id"),
                    remote_url: r.get("remote_url"),
                    published_at: at_opt(r, "published_at")?,
                })
            },
        )
        .await?;
        let notifications = rows(
            &mut tx,
            "SELECT id, chat_id, kind, payload, created_at, delivered_at FROM notifications
             WHERE user_id = ?1 ORDER BY id",
            user,
            |r| {
                let payload: &str = r.get("payload");
                Ok(ExportedNotification {
                    id: r.get("id"),
                    chat_id: r.get::<Option<i64>, _>("chat_id").map(ChatId),
                    kind: r.get("kind"),
                    // Stored as JSON by the store itself; anything else is shown as text.
                    payload: serde_json::from_str(payload)
                        .unwrap_or_else(|_| serde_json::Value::String(payload.to_owned())),
                    created_at: at(r, "created_at")?,
                    delivered_at: at_opt(r, "delivered_at")?,
                })
            },
        )
        .await?;
        let audit_events = rows(
            &mut tx,
            "SELECT id, at, kind, account_id, detail FROM audit_events WHERE user_id = ?1 ORDER BY id",
            user,
            |r| {
                Ok(ExportedEvent {
                    id: r.get("id"),
                    at: at(r, "at")?,
                    kind: r.get("kind"),
                    account_id: r.get::<Option<i64>, _>("account_id").map(AccountId),
                    detail: r.get("detail"),
                })
            },
        )
        .await?;
        let oauth_states = rows(
            &mut tx,
            "SELECT id, provider, chat_id, created_at, expires_at, used_at FROM oauth_states
             WHERE user_id = ?1 ORDER BY id",
            user,
            |r| {
                Ok(ExportedOAuthState {
                    id: r.get("id"),
                    provider: r.get("provider"),
                    chat_id: ChatId(r.get("chat_id")),
                    created_at: at(r, "created_at")?,
                    expires_at: at(r, "expires_at")?,
                    used_at: at_opt(r, "used_at")?,
                })
            },
        )
        .await?;
        let pending_revocations = rows(
            &mut tx,
            "SELECT id, provider, notify_chat_id, label, attempts, next_attempt_at, created_at
             FROM pending_revocations WHERE user_id = ?1 ORDER BY id",
            user,
            |r| {
                Ok(ExportedRevocation {
                    id: r.get("id"),
                    provider: r.get("provider"),
                    notify_chat_id: r.get::<Option<i64>, _>("notify_chat_id").map(ChatId),
                    label: r.get("label"),
                    attempts: r.get("attempts"),
                    next_attempt_at: at(r, "next_attempt_at")?,
                    created_at: at(r, "created_at")?,
                })
            },
        )
        .await?;
        let drafts = rows(
            &mut tx,
            "SELECT id, chat_id, body, targets, suggestions, created_at, expires_at FROM drafts
             WHERE author_id = ?1 ORDER BY id",
            user,
            |r| {
                let list = |column: &str| -> Vec<String> {
                    serde_json::from_str(r.get::<&str, _>(column)).unwrap_or_default()
                };
                Ok(ExportedDraft {
                    id: DraftId(r.get("id")),
                    chat_id: ChatId(r.get("chat_id")),
                    body: r.get("body"),
                    to: list("targets"),
                    suggestions: list("suggestions"),
                    created_at: at(r, "created_at")?,
                    expires_at: at(r, "expires_at")?,
                })
            },
        )
        .await?;
        let draft_images = rows(
            &mut tx,
            "SELECT i.draft_id, i.position, length(i.bytes) AS byte_len FROM draft_images i
             JOIN drafts d ON d.id = i.draft_id WHERE d.author_id = ?1
             ORDER BY i.draft_id, i.position",
            user,
            |r| {
                Ok(ExportedDraftImage {
                    draft_id: DraftId(r.get("draft_id")),
                    position: r.get("position"),
                    byte_len: r.get("byte_len"),
                })
            },
        )
        .await?;

        // Every chat another section names, with what it is to the person.
        let mut roles: BTreeMap<ChatId, Vec<&'static str>> = BTreeMap::new();
        let mut role = |chat: ChatId, what: &'static str| {
            let of_chat = roles.entry(chat).or_default();
            if !of_chat.contains(&what) {
                of_chat.push(what);
            }
        };
        let private: Option<i64> = query_scalar(
            "SELECT c.id FROM chats c JOIN users u
             ON c.platform = u.platform AND c.remote_id = u.remote_id AND c.kind = 'private'
             WHERE u.id = ?",
        )
        .bind(user.0)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(chat) = private {
            role(ChatId(chat), "private_chat");
        }
        for link in &chat_accounts {
            role(link.chat_id, "linked_accounts_here");
        }
        for (_, chat) in &posting_for {
            role(*chat, "your_accounts_post_here");
        }
        for post in &posts {
            role(post.chat_id, "wrote_posts_here");
        }
        for state in &oauth_states {
            role(state.chat_id, "started_linking_here");
        }
        for chat in notifications.iter().filter_map(|n| n.chat_id) {
            role(chat, "notified_here");
        }
        for chat in pending_revocations.iter().filter_map(|r| r.notify_chat_id) {
            role(chat, "revocation_notice_here");
        }
        for draft in &drafts {
            role(draft.chat_id, "draft_held_here");
        }
        let mut chats = Vec::with_capacity(roles.len());
        for (chat, roles) in roles {
            let row = query(
                "SELECT id, platform, remote_id, kind, title, time_zone, created_at FROM chats WHERE id = ?",
            )
            .bind(chat.0)
            .fetch_optional(&mut *tx)
            .await?;
            // Every id above comes from a foreign key, so the chat exists in this snapshot.
            let Some(r) = row else { continue };
            chats.push(ExportedChat {
                id: chat,
                platform: r.get("platform"),
                remote_id: r.get("remote_id"),
                kind: r.get("kind"),
                title: r.get("title"),
                time_zone: r.get("time_zone"),
                created_at: at(&r, "created_at")?,
                roles,
            });
        }
        tx.commit().await?;
        Ok(UserExport {
            users,
            consents,
            chats,
            grants,
            accounts,
            chat_accounts,
            posts,
            targets,
            media,
            post_variants,
            thread_parts,
            post_messages,
            notifications,
            audit_events,
            oauth_states,
            pending_revocations,
            drafts,
            draft_images,
        })
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use chrono::Duration;

    use super::*;
    use crate::crypto::Secret;
    use crate::domain::OAuthProvider;
    use crate::store::test_support::{group_with_two_pages, temp_store_on};
    use crate::store::{
        Backend, ConsentAction, MessageRole, NewDraft, NewMedia, NewOAuthState, NewPost,
        Notification, NotificationKind, PostMessage,
    };

    /// A person with something in every section of the export, all at `now`.
    async fn everything(store: &Store, now: DateTime<Utc>) -> UserId {
        let (author, group, accounts) = group_with_two_pages(store, now).await;
        store
            .record_consent(author, 3, ConsentAction::Agreed, now)
            .await
            .unwrap();
        let post = store
            .insert_post(
                NewPost {
                    chat: group,
                    author,
                    body: "hello".to_owned(),
                    due_at: now + Duration::hours(1),
                    recurrence: None,
                    time_zone: chrono_tz::UTC,
                    targets: accounts.clone(),
                    variants: vec![(crate::domain::Provider::FacebookPage, "page".to_owned())],
                    threads: vec![(accounts[0], vec!["1/2".to_owned(), "2/2".to_owned()])],
                    media: vec![NewMedia {
                        content_type: "image/png".to_owned(),
                        byte_len: 3,
                        width: Some(2),
                        height: Some(1),
                        sha256: "ab".to_owned(),
                        file_name: "f.png".to_owned(),
                        blob: None,
                    }],
                },
                now,
            )
            .await
            .unwrap();
        for (role, message) in [
            (MessageRole::Status, "9"),
            (MessageRole::Confirmation, "8"),
            (MessageRole::Confirmation, "10"),
        ] {
            let message = PostMessage {
                role,
                chat: "-1".to_owned(),
                message: message.to_owned(),
            };
            store
                .remember_post_message(post, &message, now)
                .await
                .unwrap();
        }
        store
            .enqueue_notification(
                &Notification {
                    chat: Some(group),
                    user: Some(author),
                    kind: NotificationKind::Published,
                    text: "out".to_owned(),
                    link: None,
                    target: None,
                    post: Some(post),
                },
                now,
            )
            .await
            .unwrap();
        store
            .create_oauth_state(
                NewOAuthState {
                    state_hash: [7; 32],
                    provider: OAuthProvider::X,
                    user: author,
                    chat: group,
                    pkce_verifier: Some(Secret::new("v")),
                    expires_at: now + Duration::minutes(10),
                },
                now,
            )
            .await
            .unwrap();
        let grant = store.grants_of_user(author).await.unwrap()[0].0;
        store
            .revoke_grant_here(
                grant,
                OAuthProvider::Meta,
                &[Secret::new("t")],
                Some(author),
                Some(group),
                "Page 1",
                now + Duration::minutes(1),
                now,
            )
            .await
            .unwrap();
        store
            .insert_draft(
                NewDraft {
                    author,
                    chat: group,
                    body: "draft",
                    to: &["Page 1".to_owned()],
                    suggestions: &["tomorrow 9:00".to_owned()],
                    images: &[Bytes::from_static(b"12345")],
                    expires_at: now + Duration::hours(1),
                },
                now,
            )
            .await
            .unwrap();
        author
    }

    /// The same person's export reads alike on both engines, section by section.
    #[tokio::test]
    async fn an_export_is_the_same_on_both_engines() {
        let now = Utc::now();
        let mut exports = Vec::new();
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let (store, _dir) = temp_store_on(backend).await;
            let author = everything(&store, now).await;
            let export = store.export_user(author).await.unwrap();
            assert_eq!(export.users.len(), 1);
            assert_eq!(export.consents.len(), 1);
            assert_eq!(export.accounts.len(), 2);
            assert_eq!(export.targets.len(), 2);
            assert_eq!(export.thread_parts.len(), 2);
            assert_eq!(export.media.len(), 1);
            assert_eq!(export.post_variants.len(), 1);
            assert_eq!(export.notifications.len(), 1);
            assert_eq!(export.oauth_states.len(), 1);
            assert_eq!(export.pending_revocations.len(), 1);
            assert_eq!(export.drafts.len(), 1);
            assert_eq!(export.draft_images[0].byte_len, 5);
            let messages: Vec<_> = export
                .post_messages
                .iter()
                .map(|m| (m.role.as_str(), m.message.as_str()))
                .collect();
            assert_eq!(
                messages,
                [
                    ("confirmation", "10"),
                    ("confirmation", "8"),
                    ("status", "9")
                ]
            );
            assert_eq!(
                export.chats.len(),
                1,
                "the group; the private chat was never seen"
            );
            exports.push(serde_json::to_value(&export).unwrap());
            assert!(matches!(
                store.export_user(UserId(999)).await,
                Err(StoreError::NotFound { what: "user" })
            ));
        }
        assert_eq!(exports[0], exports[1]);
    }
}
