//! What an X error answer means for the author: 429 and 5xx are waited out, 401 asks for a
//! refresh, and a definite refusal (duplicate text, an action not permitted, invalid or
//! too large media, an invalid post) becomes X's reason in plain words with what to do next.
//! Pure, so that every row is a unit test.
//! <https://docs.x.com/x-api/fundamentals/response-codes-and-errors>

/// What an X error answer calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Throttled: wait for the reset, then send again.
    Throttled,
    /// X failed: nothing was made, send again later.
    Transient,
    /// The token was refused: refresh once, else reconnect.
    TokenDead,
    /// A definite refusal: fail at once with this sentence (reason and next step).
    Refused(String),
}

/// What X said, as far as the verdict needs it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Said<'a> {
    /// The problem's `type` (`https://api.x.com/2/problems/<kind>` or `about:blank`).
    pub(super) kind: Option<&'a str>,
    /// The codes of the older `errors[]` form.
    pub(super) codes: &'a [i64],
    /// X's own words, secrets already taken out.
    pub(super) words: &'a str,
}

/// The verdict on a non-2xx answer with HTTP `status`.
pub(super) fn classify(status: u16, said: Said<'_>) -> Verdict {
    let words = said.words;
    let lower = words.to_lowercase();
    let problem = said
        .kind
        .and_then(|kind| kind.rsplit('/').next())
        .unwrap_or("");
    let has_code = |code: i64| said.codes.contains(&code);
    match status {
        429 => return Verdict::Throttled,
        401 => return Verdict::TokenDead,
        500..=599 => return Verdict::Transient,
        _ => {}
    }
    // X refuses the same text twice on one account; waiting does not change that.
    if lower.contains("duplicate content") || has_code(187) {
        return Verdict::Refused(format!(
            "X refused this post as a duplicate of one already on the account ({words}); change \
             the text with Edit"
        ));
    }
    if status == 413 {
        return Verdict::Refused(format!(
            "X refused the image as too large ({words}); use Edit with an image under 5 MB"
        ));
    }
    if lower.contains("media") && matches!(status, 400 | 403 | 415 | 422) {
        return Verdict::Refused(format!(
            "X could not use the image ({words}); use Edit with a JPEG, PNG, GIF or WEBP \
             under 5 MB"
        ));
    }
    if problem == "usage-capped" {
        return Verdict::Refused(format!(
            "autopost's X app has used up its posting allowance ({words}); ask whoever runs \
             autopost to raise it, then press Retry"
        ));
    }
    if has_code(326) {
        return Verdict::Refused(format!(
            "X has locked this account ({words}); unlock it at x.com, then press Retry"
        ));
    }
    if has_code(186) || lower.contains("too long") || lower.contains("shorter") {
        return Verdict::Refused(format!(
            "X refused the text as too long ({words}); shorten it with Edit"
        ));
    }
    match status {
        403 => Verdict::Refused(format!(
            "X did not permit this post from this account ({words}); check at x.com that the \
             account may post (not restricted or suspended) and that autopost still has access \
             (/connect x), then press Retry"
        )),
        400 | 422 => Verdict::Refused(format!(
            "X refused this post as invalid ({words}); change it with Edit"
        )),
        _ => Verdict::Refused(format!(
            "X refused this post ({words}); change it with Edit, or press Retry"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said<'a>(kind: Option<&'a str>, codes: &'a [i64], words: &'a str) -> Said<'a> {
        Said { kind, codes, words }
    }

    #[test]
    fn every_answer_gets_the_verdict_and_words_the_author_needs() {
        let duplicate = "You are not allowed to create a Tweet with duplicate content.";
        let not_permitted = "You are not permitted to perform this action.";
        #[rustfmt::skip]
        let rows: &[(u16, Said<'_>, &str, &[&str])] = &[
            (429, said(None, &[88], "Rate limit exceeded"), "throttled", &[]),
            (401, said(None, &[], "Unauthorized"), "token", &[]),
            (503, said(None, &[], "Service Unavailable"), "transient", &[]),
            (500, said(None, &[], "oops"), "transient", &[]),
            (403, said(Some("about:blank"), &[], duplicate), "refused", &["X refused this post as a duplicate", duplicate, "Edit"]),
            (403, said(None, &[187], "Status is a duplicate."), "refused", &["duplicate"]),
            (403, said(Some("about:blank"), &[], not_permitted), "refused", &["X did not permit this post", not_permitted, "Retry"]),
            (403, said(Some("https://api.x.com/2/problems/client-forbidden"), &[], "forbidden"), "refused", &["did not permit"]),
            (400, said(Some("https://api.x.com/2/problems/invalid-request"), &[], "Your media IDs are invalid."), "refused", &["X could not use the image", "5 MB"]),
            (413, said(None, &[], "HTTP 413 Payload Too Large"), "refused", &["too large", "under 5 MB"]),
            (403, said(Some("https://api.x.com/2/problems/usage-capped"), &[], "Usage cap exceeded"), "refused", &["allowance"]),
            (403, said(None, &[326], "To protect our users from spam…"), "refused", &["locked"]),
            (400, said(None, &[186], "Tweet needs to be a bit shorter."), "refused", &["too long", "Edit"]),
            (400, said(Some("https://api.x.com/2/problems/invalid-request"), &[], "text is required"), "refused", &["invalid", "Edit"]),
            (404, said(None, &[], "Not Found"), "refused", &["X refused this post (Not Found)"]),
        ];
        for (status, said, kind, words) in rows {
            let verdict = classify(*status, *said);
            let ok = match (*kind, &verdict) {
                ("throttled", Verdict::Throttled)
                | ("transient", Verdict::Transient)
                | ("token", Verdict::TokenDead) => true,
                ("refused", Verdict::Refused(sentence)) => {
                    words.iter().all(|w| sentence.contains(w))
                }
                _ => false,
            };
            assert!(ok, "{status} {:?}: {verdict:?}", said.words);
        }
    }
}
