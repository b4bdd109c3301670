//! `/privacy`: the operator's policy if the data dir holds one, else this project's own
//! statement of what autopost stores and why; either way with the version and date people
//! agree to in chat (the operator's own HTML is served as written).

use std::path::Path;

use chrono::NaiveDate;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::pages;

/// File names looked for in the data dir, in order.
const HTML_FILE: &str = "privacy-policy.html";
const TEXT_FILE: &str = "privacy-policy.txt";

/// Renders the policy page.
pub fn render(data_dir: &Path, version: u32, date: NaiveDate) -> Response {
    let dated = format!(
        "<p class=\"muted\">Version {version}, {}.</p>",
        date.format("%-d %B %Y")
    );
    if let Ok(html) = std::fs::read_to_string(data_dir.join(HTML_FILE)) {
        // The operator's own HTML, served as written.
        return (StatusCode::OK, Html(html)).into_response();
    }
    if let Ok(text) = std::fs::read_to_string(data_dir.join(TEXT_FILE)) {
        let body: String = std::iter::once(dated)
            .chain(
                text.split("\n\n")
                    .flat_map(|para| para.split('\n'))
                    .filter(|line| !line.trim().is_empty())
                    .map(|line| format!("<p>{}</p>", pages::escape(line.trim()))),
            )
            .collect();
        return pages::page(StatusCode::OK, "Privacy policy", &body);
    }
    pages::page(
        StatusCode::OK,
        "Privacy policy",
        &format!("{dated}{BUILTIN}"),
    )
}

/// The statement served when the operator has published none.
const BUILTIN: &str = "<p class=\"muted\">This is autopost's built-in statement; the operator of this \
         service may replace it with their own.</p>\
         <h2>Who may use autopost</h2><p>autopost is only for people 18 or older. Before first use you \
         confirm your age and agree to this policy in chat; only /start, /help, /export and /deleteme \
         work until then. When the policy changes, you are told once, with what changed.</p>\
         <h2>What autopost keeps</h2><ul>\
         <li>Your chat user id, display name, chosen time zone and the policy version you accepted.</li>\
         <li>The posts you schedule (text, images, times) and their publishing history.</li>\
         <li>For each social account you connect: its id, name and the access tokens the platform issued. \
         Tokens are encrypted (AES-256-GCM) and never shown, logged or exported.</li>\
         <li>An audit log of security events: accounts linked, tokens refreshed or revoked, exports and deletions.</li></ul>\
         <h2>What autopost does with it</h2><ul>\
         <li>Publishes your posts at the time you chose to the accounts linked to your chat, and nothing else.</li>\
         <li>Refreshes tokens before they expire and follows each platform's rate limits.</li>\
         <li>Asks Meta only for pages_manage_posts, pages_read_engagement, pages_show_list, instagram_basic and \
         instagram_content_publish, and X only for tweet.read, tweet.write, users.read, media.write and offline.access.</li></ul>\
         <h2>Your choices</h2><ul>\
         <li><code>/export</code> sends you all your data as a JSON file.</li>\
         <li><code>/disconnect</code> unlinks an account and revokes its token at the platform.</li>\
         <li><code>/deleteme</code> revokes your tokens and erases your data at once; images of published posts \
         are removed from disk after the retention period.</li></ul>";

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn the_operators_text_policy_wins_over_the_builtin_one_and_is_escaped() {
        let dir = tempfile::tempdir().unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        let builtin = body(render(dir.path(), 3, date)).await;
        assert!(builtin.contains("Version 3, 6 December 2026") && builtin.contains("/deleteme"));
        assert!(builtin.contains("18 or older"), "{builtin}");
        std::fs::write(
            dir.path().join(TEXT_FILE),
            "Our policy\n\nWe <never> sell data.",
        )
        .unwrap();
        let text = body(render(dir.path(), 3, date)).await;
        assert!(
            text.contains("<p>We &lt;never&gt; sell data.</p>"),
            "{text}"
        );
        assert!(text.contains("Version 3, 6 December 2026"), "{text}");
        std::fs::write(dir.path().join(HTML_FILE), "<h1>Custom</h1>").unwrap();
        assert_eq!(body(render(dir.path(), 3, date)).await, "<h1>Custom</h1>");
    }
}
