//! Meta's deauthorize and data-deletion callbacks through autopost's real web server: the
//! simulated Meta signs what Meta would post (a forger cannot), and the database, the chat's
//! notices, the simulated Graph API and the raw database files show what happened.

use std::collections::BTreeMap;

use autopost::domain::{AccountState, ChatPlatform, PostId, TargetState};
use autopost::front_end::Outgoing;
use autopost::posting::Draft;
use autopost::store::AuditKind;
use autopost_sim::World;
use autopost_sim::meta::{SimMetaConfig, sign_request};
use autopost_sim::world::{LinkedAccounts, META_APP_ID, browse};
use chrono::Utc;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::sqlite::SqlitePoolOptions;
use url::Url;

use crate::helpers::{contains, db_bytes, db_path, jpeg};

/// The app secret both the simulated Meta and autopost know.
const APP_SECRET: &str = "meta-app-secret-5e1f";
const TEAM: &str = "telegram:-100";
const ALICE: &str = "telegram:1";

/// Alice has linked the simulated Meta user's Pages and Instagram accounts to the team's
/// group through the real OAuth round trip, and queued a post with a picture to all of them
/// for tomorrow.
struct Fixture {
    world: World,
    linked: LinkedAccounts,
    post: PostId,
}

async fn fixture() -> Fixture {
    let world = World::builder()
        .meta_with(SimMetaConfig::new(META_APP_ID, APP_SECRET))
        .start()
        .await
        .unwrap();
    let linked = world.link_meta(TEAM, ALICE).await.unwrap();
    assert_eq!(
        linked.accounts.len(),
        5,
        "three Pages, two Instagram accounts"
    );
    let accepted = world
        .app()
        .create_post(
            &linked.actor,
            Draft {
                when: "tomorrow 9am".to_owned(),
                text: "fresh bread at nine".to_owned(),
                images: vec![jpeg(16, 16)],
                targets: None,
            },
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(accepted.targets.len(), 5);
    Fixture {
        world,
        linked,
        post: accepted.post,
    }
}

/// An answer of autopost's web server.
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// Posts `form` to autopost's `path`, as Meta posts its callbacks.
async fn post_form(world: &World, path: &str, form: &[(&str, &str)]) -> Answer {
    let answer = reqwest::Client::new()
        .post(world.url().join(path).unwrap())
        .form(form)
        .send()
        .await
        .unwrap();
    answered(answer).await
}

async fn answered(answer: reqwest::Response) -> Answer {
    Answer {
        status: answer.status().as_u16(),
        content_type: answer
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        body: answer.text().await.unwrap(),
    }
}

/// Posts a `signed_request` to one of Meta's callbacks.
async fn call_back(world: &World, path: &str, signed_request: &str) -> Answer {
    post_form(world, path, &[("signed_request", signed_request)]).await
}

/// Every row of every table, as text, read through a connection of the test's own: what
/// "nothing changed" is compared on. Which instance plays which role is left out: it is
/// written as the app's tasks start, whenever that is, and is about no one.
async fn every_row(world: &World) -> BTreeMap<String, Vec<String>> {
    let url = format!("sqlite://{}?mode=ro", db_path(world.dir()).display());
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
         AND name NOT IN ('roles', 'instances') ORDER BY name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut rows = BTreeMap::new();
    for table in tables {
        let columns: Vec<String> = sqlx::query(&format!("PRAGMA table_info({table})"))
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|c| format!("quote({})", c.get::<String, _>("name")))
            .collect();
        let text: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT {} FROM {table} ORDER BY rowid",
            columns.join(" || '|' || ")
        ))
        .fetch_all(&pool)
        .await
        .unwrap();
        rows.insert(table, text);
    }
    pool.close().await;
    rows
}

/// How many rows `table` holds.
async fn count(world: &World, table: &str) -> i64 {
    every_row(world).await[table].len() as i64
}

/// The notices waiting for the team's Telegram group, as its front end would send them.
async fn notices_to_team(world: &World) -> Vec<Outgoing> {
    world
        .app()
        .undelivered(ChatPlatform::Telegram, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.chat == "-100")
        .collect()
}

fn now_secs() -> i64 {
    Utc::now().timestamp()
}

#[tokio::test]
async fn refused_signed_requests_answer_400_and_change_nothing() {
    let f = fixture().await;
    let user_id = f.world.meta().user_id();
    let valid = json!({ "algorithm": "HMAC-SHA256", "issued_at": now_secs(), "user_id": user_id });
    let forged = sign_request("not-the-app-secret", &valid);
    let sha1 = sign_request(
        APP_SECRET,
        &json!({ "algorithm": "HMAC-SHA1", "issued_at": now_secs(), "user_id": user_id }),
    );
    let no_user = sign_request(
        APP_SECRET,
        &json!({ "algorithm": "HMAC-SHA256", "issued_at": now_secs() }),
    );
    // The valid request with its payload swapped for another user's, signature kept.
    let genuine = f.world.meta().signed_request();
    let (signature, _) = genuine.split_once('.').unwrap();
    let other = sign_request(
        APP_SECRET,
        &json!({ "algorithm": "HMAC-SHA256", "issued_at": now_secs(), "user_id": "1" }),
    );
    let spliced = format!("{signature}.{}", other.split_once('.').unwrap().1);
    let too_long = format!("{genuine}{}", "A".repeat(5000));

    let before = every_row(&f.world).await;
    for path in ["meta/deauthorize", "meta/data-deletion"] {
        for (what, request) in [
            ("a forged signature", forged.as_str()),
            ("the wrong algorithm", sha1.as_str()),
            ("no user_id", no_user.as_str()),
            ("a spliced payload", spliced.as_str()),
            ("garbage", "garbage"),
            ("an empty value", ""),
            ("an oversized value", too_long.as_str()),
        ] {
            let answer = call_back(&f.world, path, request).await;
            assert_eq!(answer.status, 400, "{path} with {what}: {}", answer.body);
            assert!(
                answer.json()["error"].is_string(),
                "{path} with {what} says why: {}",
                answer.body
            );
        }
        let no_field = post_form(&f.world, path, &[("signed", genuine.as_str())]).await;
        assert_eq!(no_field.status, 400, "{path} without the field");
        let as_json = reqwest::Client::new()
            .post(f.world.url().join(path).unwrap())
            .json(&json!({ "signed_request": genuine }))
            .send()
            .await
            .unwrap();
        assert_eq!(as_json.status(), 400, "{path} with a JSON body");
    }
    assert_eq!(every_row(&f.world).await, before, "nothing changed");
    assert!(
        notices_to_team(&f.world).await.len() == 1,
        "only the link notice"
    );
}

#[tokio::test]
async fn deauthorize_revokes_the_grant_tells_the_chat_and_fails_queued_posts() {
    let f = fixture().await;
    let store = f.world.store().await.unwrap();
    let alice = f.linked.actor;

    // The person removes the app at Facebook; Meta posts to the deauthorize callback.
    let signed_request = f.world.meta().remove_app();
    let answer = call_back(&f.world, "meta/deauthorize", &signed_request).await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    let grants = store.grants_of_user(alice.user).await.unwrap();
    assert_eq!(grants.len(), 1);
    let grant = grants[0].0;
    assert_eq!(
        store.grant_state(grant).await.unwrap(),
        AccountState::Revoked
    );
    assert!(
        store.grant_tokens(grant).await.is_err(),
        "grant tokens erased"
    );
    let accounts = store.accounts_of_chat(alice.chat).await.unwrap();
    assert_eq!(accounts.len(), 5);
    for account in &accounts {
        assert_eq!(
            account.state,
            AccountState::Revoked,
            "{}",
            account.display_name
        );
        assert!(
            store.account_access_token(account.id).await.is_err(),
            "{}'s Page token erased",
            account.display_name
        );
    }
    let rows = every_row(&f.world).await;
    assert!(
        rows["grants"].iter().all(|r| r.contains("|NULL|NULL|")),
        "no sealed token left: {:?}",
        rows["grants"]
    );

    let notices = notices_to_team(&f.world).await;
    let removed: Vec<&Outgoing> = notices
        .iter()
        .filter(|n| n.text.contains("removed autopost"))
        .collect();
    assert_eq!(removed.len(), 1, "one notice for the chat: {notices:?}");
    assert!(
        removed[0].text.starts_with(
            "Alice's Bakery (Facebook Page), @alices_bakery (Instagram), Alice's Cafe"
        ),
        "{}",
        removed[0].text
    );
    assert!(
        removed[0]
            .text
            .ends_with("link them with /connect facebook"),
        "{}",
        removed[0].text
    );

    let audit = store.audit_events(Some(alice.user)).await.unwrap();
    let deauthorized: Vec<_> = audit
        .iter()
        .filter(|e| e.kind == AuditKind::MetaDeauthorized)
        .collect();
    assert_eq!(deauthorized.len(), 1);
    assert!(!deauthorized[0].detail.contains(&f.world.meta().user_id()));

    // The queued post is sent now: every target fails with the reason, none reaches Meta.
    f.world
        .app()
        .post_now(&alice, f.post, Utc::now())
        .await
        .unwrap();
    let app = f.world.app().clone();
    f.world
        .wait_until("every target to fail", async || {
            let history = app.history(alice.chat, 20).await.unwrap();
            history.len() == 5 && history.iter().all(|h| h.state == TargetState::Failed)
        })
        .await
        .unwrap();
    for entry in app.history(alice.chat, 20).await.unwrap() {
        let reason = entry.error.unwrap_or_default();
        assert!(
            reason.starts_with("autopost no longer has access to")
                && reason.contains(&entry.account_name),
            "{reason}"
        );
    }
    f.world.wait_for_quiet().await.unwrap();
    let history = app.history(alice.chat, 20).await.unwrap();
    assert!(
        history
            .iter()
            .all(|h| h.state == TargetState::Failed && h.url.is_none()),
        "not retried: {history:?}"
    );
    assert!(
        f.world.meta().feed_posts().is_empty(),
        "nothing reached Facebook"
    );
    assert!(f.world.meta().photos().is_empty());
    assert!(f.world.meta().containers().is_empty(), "nor Instagram");
    // The author hears of each target on the post's status message, rendered from its view.
    let changed = notices_to_team(&f.world)
        .await
        .into_iter()
        .filter(|n| n.post == Some(f.post))
        .count();
    assert!(changed >= 1, "the post's status message is due");
    let view = app.post_view(f.post).await.unwrap().unwrap();
    assert_eq!(view.targets.len(), 5);
    assert!(
        view.targets
            .iter()
            .all(|t| t.state == TargetState::Failed && t.reason.is_some())
    );

    // Meta may call again: nothing more happens.
    let before = notices_to_team(&f.world).await.len();
    let again = call_back(&f.world, "meta/deauthorize", &signed_request).await;
    assert_eq!(again.status, 200);
    assert_eq!(notices_to_team(&f.world).await.len(), before);
}

#[tokio::test]
async fn data_deletion_erases_the_meta_user_and_shows_what_was_deleted() {
    let f = fixture().await;
    let store = f.world.store().await.unwrap();
    let alice = f.linked.actor;
    let meta_user = f.world.meta().user_id();
    let mut personal: Vec<String> = vec![meta_user.clone()];
    for account in &f.linked.accounts {
        personal.push(account.display_name.clone());
        personal.push(account.remote_id.clone());
    }
    let bytes = db_bytes(f.world.dir());
    for data in &personal {
        assert!(
            contains(&bytes, data),
            "{data} is stored before the request"
        );
    }

    let answer = call_back(
        &f.world,
        "meta/data-deletion",
        &f.world.meta().signed_request(),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.content_type, "application/json");
    let receipt = answer.json();
    let keys: Vec<&String> = receipt.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["confirmation_code", "url"]);
    let code = receipt["confirmation_code"].as_str().unwrap();
    assert_eq!(code.len(), 32);
    assert!(code.bytes().all(|b| b.is_ascii_hexdigit()), "{code}");
    let status_url = Url::parse(receipt["url"].as_str().unwrap()).unwrap();
    assert_eq!(
        status_url,
        f.world
            .url()
            .join(&format!("meta/deletion/{code}"))
            .unwrap()
    );

    // The rows are gone, the queued post with them.
    assert!(store.grants_of_user(alice.user).await.unwrap().is_empty());
    assert!(store.accounts_of_chat(alice.chat).await.unwrap().is_empty());
    assert!(f.world.app().queue(alice.chat).await.unwrap().is_empty());
    for table in ["grants", "accounts", "chat_accounts", "targets"] {
        assert_eq!(count(&f.world, table).await, 0, "{table}");
    }
    assert_eq!(
        count(&f.world, "posts").await,
        1,
        "the chat's post stays, cancelled"
    );
    assert_eq!(count(&f.world, "deletion_requests").await, 1);

    // Nothing of the person is left in the database or its WAL, while autopost runs.
    let bytes = db_bytes(f.world.dir());
    for data in &personal {
        assert!(
            !contains(&bytes, data),
            "{data} is still in the database files"
        );
    }

    let notices = notices_to_team(&f.world).await;
    assert_eq!(
        notices.len(),
        1,
        "the link notice named them and went: {notices:?}"
    );
    assert!(
        notices[0]
            .text
            .contains("autopost erased 5 Facebook or Instagram accounts that posted for this chat"),
        "{}",
        notices[0].text
    );
    let audit = store.audit_events(Some(alice.user)).await.unwrap();
    assert!(audit.iter().any(|e| e.kind == AuditKind::MetaDataDeletion));
    assert!(
        audit.iter().all(|e| e.kind != AuditKind::AccountLinked),
        "the events naming the accounts went"
    );

    let page = browse(status_url.clone()).await.unwrap();
    assert_eq!(page.status, 200);
    for line in [
        "Data deletion request",
        code,
        "<li>3 Facebook Pages</li>",
        "<li>2 Instagram accounts</li>",
        "<li>1 authorization with its access tokens</li>",
        "<li>5 links to chats</li>",
        "<li>5 scheduled or published post entries for those accounts</li>",
        "<li>5 security-log entries about them</li>",
    ] {
        assert!(page.body.contains(line), "{line} missing:\n{}", page.body);
    }
    for data in &personal {
        assert!(!page.body.contains(data.as_str()), "the page shows {data}");
    }
    let wrong = format!("meta/deletion/{}", "0".repeat(32));
    let unknown = browse(f.world.url().join(&wrong).unwrap()).await.unwrap();
    assert_eq!(unknown.status, 404);
    let junk = browse(f.world.url().join("meta/deletion/..%2Fsecret").unwrap())
        .await
        .unwrap();
    assert_eq!(junk.status, 404);
}

#[tokio::test]
async fn a_deletion_request_about_a_stranger_gets_a_code_and_a_page_saying_nothing_was_held() {
    let f = fixture().await;
    let before = every_row(&f.world).await;
    let stranger = sign_request(
        APP_SECRET,
        &json!({ "algorithm": "HMAC-SHA256", "issued_at": now_secs(), "user_id": "1234567" }),
    );
    let answer = call_back(&f.world, "meta/data-deletion", &stranger).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let receipt = answer.json();
    let page = browse(Url::parse(receipt["url"].as_str().unwrap()).unwrap())
        .await
        .unwrap();
    assert_eq!(page.status, 200);
    assert!(page.body.contains("held no data"), "{}", page.body);

    let after = every_row(&f.world).await;
    for (table, rows) in &before {
        if !["deletion_requests", "audit_events"].contains(&table.as_str()) {
            assert_eq!(&after[table], rows, "{table} is untouched");
        }
    }
    assert_eq!(after["deletion_requests"].len(), 1);
    let events = f
        .world
        .store()
        .await
        .unwrap()
        .audit_events(None)
        .await
        .unwrap();
    let last = events.last().unwrap();
    assert_eq!((last.kind, last.user), (AuditKind::MetaDataDeletion, None));

    let deauthorized = call_back(&f.world, "meta/deauthorize", &stranger).await;
    assert_eq!(deauthorized.status, 200);
    let store = f.world.store().await.unwrap();
    for account in store.accounts_of_chat(f.linked.actor.chat).await.unwrap() {
        assert_eq!(
            account.state,
            AccountState::Active,
            "another person's accounts"
        );
    }
}

#[tokio::test]
async fn without_meta_the_callbacks_answer_404() {
    let world = World::builder().start().await.unwrap();
    let request = sign_request(
        APP_SECRET,
        &json!({ "algorithm": "HMAC-SHA256", "user_id": "1" }),
    );
    for path in ["meta/deauthorize", "meta/data-deletion"] {
        assert_eq!(
            call_back(&world, path, &request).await.status,
            404,
            "{path}"
        );
    }
}

#[tokio::test]
async fn data_deletion_also_erases_a_token_still_waiting_to_be_revoked() {
    let f = fixture().await;
    let store = f.world.store().await.unwrap();
    let alice = f.linked.actor;
    // Alice unlinks every account; Meta is down when the last unlink revokes the grant, so
    // its token is kept sealed for a retry.
    let (last, rest) = f.linked.accounts.split_last().unwrap();
    for account in rest {
        f.world
            .app()
            .disconnect_account(&alice, account.id, Utc::now())
            .await
            .unwrap();
    }
    f.world.meta().fail_next(
        autopost_sim::meta::Endpoint::Permissions,
        autopost_sim::meta::Failure::ServerError,
    );
    let outcome = f
        .world
        .app()
        .disconnect_account(&alice, last.id, Utc::now())
        .await
        .unwrap();
    assert_eq!(outcome, autopost::privacy::Disconnected::WillRetry);
    assert_eq!(store.pending_revocation_count().await.unwrap(), 1);
    // Then the person asks Meta to have their data deleted: the waiting token goes too.
    let answer = call_back(
        &f.world,
        "meta/data-deletion",
        &f.world.meta().signed_request(),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(store.pending_revocation_count().await.unwrap(), 0);
    assert_eq!(count(&f.world, "grants").await, 0);
}
