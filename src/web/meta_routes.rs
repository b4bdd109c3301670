//! `POST /meta/deauthorize`, `POST /meta/data-deletion` and `GET /meta/deletion/{code}`:
//! Meta's callbacks and the status page of a deletion request. Only translation: HTTP in,
//! a `meta_callbacks` call, the answer Meta expects out. A refused `signed_request` is a 400
//! and changed nothing.

use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::{WebState, pages};
use crate::meta_callbacks::{self, MetaCallbackError, MetaCallbacks};
use crate::store::{DeletionRequest, DeletionSummary};

/// Largest body read: the form holds one `signed_request` of at most
/// [`crate::platforms::meta::MAX_SIGNED_REQUEST_LEN`] characters, percent-encoded.
pub const MAX_BODY: usize = 16 * 1024;

/// The form Meta posts. No Debug: the request names a person.
#[derive(Deserialize)]
pub struct SignedForm {
    signed_request: Option<String>,
}

/// The person removed the app: revoke, tell the chats, answer 200.
pub async fn deauthorize(
    State(state): State<WebState>,
    form: Result<Form<SignedForm>, FormRejection>,
) -> Response {
    let (callbacks, signed_request) = match meta_and_request(&state, form) {
        Ok(found) => found,
        Err(answer) => return *answer,
    };
    match callbacks.deauthorize(&signed_request, Utc::now()).await {
        Ok(_) => (StatusCode::OK, Json(json!({ "status": "ok" }))).into_response(),
        Err(e) => failed(&e),
    }
}

/// The person asked for deletion: erase, answer `{url, confirmation_code}`.
pub async fn data_deletion(
    State(state): State<WebState>,
    form: Result<Form<SignedForm>, FormRejection>,
) -> Response {
    let (callbacks, signed_request) = match meta_and_request(&state, form) {
        Ok(found) => found,
        Err(answer) => return *answer,
    };
    match callbacks.delete_data(&signed_request, Utc::now()).await {
        // The shape Meta requires, as JSON with `Content-Type: application/json`.
        Ok(receipt) => (
            StatusCode::OK,
            Json(json!({
                "url": receipt.url.as_str(),
                "confirmation_code": receipt.confirmation_code,
            })),
        )
            .into_response(),
        Err(e) => failed(&e),
    }
}

/// The status page a deletion request's URL shows.
pub async fn deletion_status(State(state): State<WebState>, Path(code): Path<String>) -> Response {
    match meta_callbacks::deletion_status(&state.store, &code).await {
        Ok(Some(request)) => pages::page(
            StatusCode::OK,
            "Data deletion request",
            &status_body(&code, &request),
        ),
        Ok(None) => pages::problem(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no data deletion request with this confirmation code.",
        ),
        Err(e) => {
            tracing::error!(error = %crate::telemetry::chain(&e), "cannot read a deletion request");
            pages::problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                "The status of this request cannot be shown right now; try again later.",
            )
        }
    }
}

/// The callbacks, if Meta is set up (else 404: nobody could have registered the URL), and
/// the `signed_request` of the form (else 400).
fn meta_and_request(
    state: &WebState,
    form: Result<Form<SignedForm>, FormRejection>,
) -> Result<(&MetaCallbacks, String), Box<Response>> {
    let Some(callbacks) = &state.meta_callbacks else {
        return Err(Box::new(pages::problem(
            StatusCode::NOT_FOUND,
            "Not found",
            "Facebook and Instagram are not set up on this autopost.",
        )));
    };
    match form {
        Ok(Form(SignedForm {
            signed_request: Some(signed_request),
        })) if !signed_request.is_empty() => Ok((callbacks, signed_request)),
        Ok(_) => Err(Box::new(bad_request("the form has no signed_request"))),
        Err(_) => Err(Box::new(bad_request(
            "expected an application/x-www-form-urlencoded body with signed_request",
        ))),
    }
}

fn bad_request(why: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": why }))).into_response()
}

fn failed(error: &MetaCallbackError) -> Response {
    match error {
        MetaCallbackError::Refused(why) => {
            tracing::warn!(reason = %why, "refused a Meta callback");
            bad_request(&why.to_string())
        }
        MetaCallbackError::Store(_) => {
            tracing::error!(error = %crate::telemetry::chain(error), "a Meta callback failed");
            // Not 2xx, so that Meta tries again.
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "error": "autopost could not complete the request; try again" })),
            )
                .into_response()
        }
    }
}

fn status_body(code: &str, request: &DeletionRequest) -> String {
    let when = request.requested_at.format("%Y-%m-%d %H:%M UTC");
    let mut body = format!(
        "<p>Confirmation code <code>{}</code></p>\
         <p>Meta passed on this request to delete your data on {when}.",
        pages::escape(code)
    );
    match request.completed_at {
        Some(done) => body.push_str(&format!(
            " autopost completed it on {}.</p>",
            done.format("%Y-%m-%d %H:%M UTC")
        )),
        None => body.push_str(" autopost has not completed it yet.</p>"),
    }
    if request.summary.is_empty() {
        body.push_str(
            "<p>autopost held no data for this Facebook account, so nothing needed to be deleted.</p>",
        );
    } else {
        body.push_str("<p>autopost deleted:</p><ul>");
        for line in deleted_lines(&request.summary) {
            body.push_str(&format!("<li>{}</li>", pages::escape(&line)));
        }
        body.push_str(
            "</ul><p>Nothing else autopost keeps refers to this Facebook account. \
             Posts written in a chat stay with that chat.</p>",
        );
    }
    body
}

/// One line per kind of thing deleted, leaving out what there was none of.
fn deleted_lines(summary: &DeletionSummary) -> Vec<String> {
    let counted = |n: u64, one: &str, many: &str| match n {
        0 => None,
        1 => Some(format!("1 {one}")),
        n => Some(format!("{n} {many}")),
    };
    [
        counted(summary.facebook_pages, "Facebook Page", "Facebook Pages"),
        counted(
            summary.instagram_accounts,
            "Instagram account",
            "Instagram accounts",
        ),
        counted(
            summary.grants,
            "authorization with its access tokens",
            "authorizations with their access tokens",
        ),
        counted(summary.chat_links, "link to a chat", "links to chats"),
        counted(
            summary.targets,
            "scheduled or published post entry for those accounts",
            "scheduled or published post entries for those accounts",
        ),
        counted(
            summary.notifications,
            "chat notification naming them",
            "chat notifications naming them",
        ),
        counted(
            summary.audit_events,
            "security-log entry about them",
            "security-log entries about them",
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_page_lists_what_was_deleted_and_says_when_nothing_was_held() {
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut request = DeletionRequest {
            requested_at: at,
            completed_at: Some(at),
            summary: DeletionSummary {
                grants: 1,
                facebook_pages: 2,
                instagram_accounts: 1,
                chat_links: 3,
                ..DeletionSummary::default()
            },
        };
        let body = status_body("ab<c", &request);
        assert!(body.contains("<code>ab&lt;c</code>"), "{body}");
        assert!(body.contains("2027-01-15 08:00 UTC"), "{body}");
        assert!(body.contains("<li>2 Facebook Pages</li>"), "{body}");
        assert!(body.contains("<li>1 Instagram account</li>"), "{body}");
        assert!(body.contains("<li>3 links to chats</li>"), "{body}");
        assert!(
            !body.contains("notification"),
            "none, so not listed: {body}"
        );
        request.summary = DeletionSummary::default();
        assert!(status_body("x", &request).contains("held no data"));
    }
}
