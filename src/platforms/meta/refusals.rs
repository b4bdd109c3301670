//! What a Graph error code means for the author: throttling and passing faults are waited
//! out, a dead token asks for a refresh, and a definite refusal (content rules, duplicate,
//! invalid media or parameter, missing permission) becomes the platform's reason in plain
//! words with what to do next. Pure, so that every row is a unit test.
//! <https://developers.facebook.com/docs/graph-api/guides/error-handling>

/// The network a Graph call publishes to, named in what the author reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Network {
    /// A Facebook Page (also account linking, which reads the user's Pages).
    Facebook,
    /// An Instagram professional account.
    Instagram,
}

impl Network {
    fn name(self) -> &'static str {
        match self {
            Network::Facebook => "Facebook",
            Network::Instagram => "Instagram",
        }
    }
}

/// What a Graph error code calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A quota or throttle: wait for the reset, then send again.
    Throttled,
    /// A passing fault at Meta: nothing was made, send again later.
    Transient,
    /// The token is dead or expired: refresh once, else reconnect.
    TokenDead,
    /// A definite refusal: fail at once with this sentence (reason and next step).
    Refused(String),
}

/// The verdict on a Graph error: its `code`, `error_subcode`, and `words` (Meta's own words,
/// already stripped of secrets and ending with the code).
pub(crate) fn classify(network: Network, code: i64, subcode: Option<i64>, words: &str) -> Verdict {
    let name = network.name();
    // Instagram's media subcodes say more than the code they come with.
    match subcode {
        Some(2_207_042) => return Verdict::Throttled,
        // The download timed out, or the upload expired: a new attempt makes a new container.
        Some(2_207_003 | 2_207_020) => return Verdict::Transient,
        // Meta could not fetch the image from autopost's own link: retrying blindly would
        // fail the same way while the link is unreachable from the internet.
        Some(2_207_052) => {
            return Verdict::Refused(format!(
                "{name} could not fetch the image from autopost's public link ({words}); check \
                 that autopost's public URL is reachable from the internet, then press Retry"
            ));
        }
        Some(2_207_004 | 1_366_046) => {
            return Verdict::Refused(format!(
                "{name} refused the image as too large ({words}); use Edit with a smaller image"
            ));
        }
        Some(2_207_005) => {
            return Verdict::Refused(format!(
                "{name} cannot use this image's format ({words}); use Edit with a JPEG image"
            ));
        }
        Some(2_207_009 | 36_003) => {
            return Verdict::Refused(format!(
                "{name} refused the image's shape ({words}); use Edit with an image between \
                 4:5 (portrait) and 1.91:1 (landscape)"
            ));
        }
        Some(2_207_010) => {
            return Verdict::Refused(format!(
                "{name} refused the caption as too long ({words}); shorten it with Edit"
            ));
        }
        Some(2_207_001) => {
            return Verdict::Refused(format!(
                "{name} treated this post as spam ({words}); change the text with Edit, or press \
                 Retry later"
            ));
        }
        _ => {}
    }
    match code {
        4 | 17 | 32 | 341 | 613 | 80_000..=80_014 => Verdict::Throttled,
        1 | 2 => Verdict::Transient,
        190 | 102 => Verdict::TokenDead,
        // A block under the content rules: waiting a minute changes nothing, so the author
        // hears it at once instead of a silent retry reported later as a rate limit.
        368 => Verdict::Refused(format!(
            "{name} blocked this post under its content rules ({words}); change the text and \
             use Edit, or press Retry later"
        )),
        506 => Verdict::Refused(format!(
            "{name} refused this post as a duplicate of one already published ({words}); change \
             the text with Edit"
        )),
        1_609_005 => Verdict::Refused(format!(
            "{name} could not read the link in this post ({words}); check that it opens in a \
             browser, then press Retry, or change it with Edit"
        )),
        100 => Verdict::Refused(format!(
            "{name} refused part of this post as invalid ({words}); change it with Edit"
        )),
        10 | 200..=299 => Verdict::Refused(format!(
            "{name} did not let autopost publish on this account: a permission is missing \
             ({words}); reconnect with /connect {} allowing every permission asked for, then \
             press Retry",
            name.to_lowercase()
        )),
        _ => Verdict::Refused(format!(
            "{name} refused this post ({words}); change it with Edit, or press Retry"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (network, code, subcode, the verdict's kind, words the sentence must hold)
    type Row<'a> = (Network, i64, Option<i64>, &'a str, &'a [&'a str]);

    #[test]
    fn every_code_gets_the_verdict_and_words_the_author_needs() {
        use Network::{Facebook, Instagram};
        #[rustfmt::skip]
        let rows: &[Row<'_>] = &[
            (Facebook, 4, None, "throttled", &[]),
            (Facebook, 17, None, "throttled", &[]),
            (Facebook, 32, None, "throttled", &[]),
            (Facebook, 613, None, "throttled", &[]),
            (Facebook, 80_001, None, "throttled", &[]),
            (Instagram, 80_002, None, "throttled", &[]),
            (Instagram, 9, Some(2_207_042), "throttled", &[]),
            (Facebook, 1, None, "transient", &[]),
            (Facebook, 2, None, "transient", &[]),
            (Instagram, 9004, Some(2_207_003), "transient", &[]),
            (Instagram, 9004, Some(2_207_052), "refused", &["could not fetch the image", "public URL"]),
            (Facebook, 190, Some(463), "token", &[]),
            (Facebook, 102, None, "token", &[]),
            (Facebook, 368, None, "refused", &["Facebook blocked this post under its content rules", "(words)", "Edit", "Retry later"]),
            (Instagram, 368, None, "refused", &["Instagram blocked this post"]),
            (Facebook, 506, None, "refused", &["duplicate", "Edit"]),
            (Facebook, 1_609_005, None, "refused", &["could not read the link", "Retry"]),
            (Facebook, 100, None, "refused", &["invalid", "Edit"]),
            (Facebook, 100, Some(1_366_046), "refused", &["too large", "smaller image"]),
            (Instagram, 36_003, Some(2_207_009), "refused", &["shape", "4:5"]),
            (Instagram, 100, Some(2_207_005), "refused", &["JPEG"]),
            (Instagram, 100, Some(2_207_010), "refused", &["caption as too long"]),
            (Instagram, 100, Some(2_207_001), "refused", &["spam"]),
            (Facebook, 10, None, "refused", &["permission is missing", "/connect facebook", "Retry"]),
            (Instagram, 200, None, "refused", &["/connect instagram"]),
            (Facebook, 299, None, "refused", &["permission"]),
            (Facebook, 12_345, None, "refused", &["Facebook refused this post (words)"]),
        ];
        for (network, code, subcode, kind, words) in rows {
            let verdict = classify(*network, *code, *subcode, "words");
            let ok = match (*kind, &verdict) {
                ("throttled", Verdict::Throttled)
                | ("transient", Verdict::Transient)
                | ("token", Verdict::TokenDead) => true,
                ("refused", Verdict::Refused(sentence)) => {
                    words.iter().all(|w| sentence.contains(w))
                }
                _ => false,
            };
            assert!(
                ok,
                "{network:?} code {code} subcode {subcode:?}: {verdict:?}"
            );
        }
    }
}
