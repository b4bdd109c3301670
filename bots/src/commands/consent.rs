//! The privacy notice in chat: the gate a new person meets (the policy's link, version and
//! date, the 18+ rule and the button that agrees), the one-time notice of a newer version
//! with what changed, and the answer to agreeing.

use autopost::people::Policy;

use super::reply::{Block, Button, ButtonAction, Reply, Span, bold, plain};

/// What the button under the notice says.
pub const AGREE_LABEL: &str = "I agree — I am 18 or older";

/// The verbs that work before agreeing, as the notice names them.
const OPEN_VERBS: &str = "/start, /help, /export and /deleteme";

fn policy_link(policy: &Policy) -> Span {
    Span::Link {
        text: "privacy policy".to_owned(),
        url: policy.url.to_string(),
    }
}

fn version_and_date(policy: &Policy) -> String {
    format!(
        " (version {}, {})",
        policy.version,
        policy.date.format("%-d %B %Y")
    )
}

impl Reply {
    /// The notice a person meets until they agree, with the button that agrees. `refused`
    /// says whether it replaces what they asked for (anything but the verbs that work
    /// before consent) or follows it.
    pub fn policy_gate(policy: &Policy, refused: bool) -> Reply {
        let mut lines = vec![
            vec![bold("Before you use autopost")],
            vec![
                plain("Please read the "),
                policy_link(policy),
                plain(format!(
                    "{}: what autopost keeps about you, why, and how to export or erase it.",
                    version_and_date(policy)
                )),
            ],
            vec![plain(
                "autopost is only for people 18 or older. Press the button to confirm your age and agree.",
            )],
        ];
        if refused {
            lines.push(vec![plain(format!(
                "Until then only {OPEN_VERBS} work; send your command again once you agreed."
            ))]);
        }
        let mut reply = Reply::lines(lines);
        reply.buttons = vec![vec![Button {
            label: AGREE_LABEL.to_owned(),
            action: ButtonAction::AgreePolicy,
        }]];
        reply
    }

    /// Adds the gate's notice and button under an answer given before consent.
    pub(crate) fn with_policy_gate(mut self, policy: &Policy) -> Reply {
        let gate = Reply::policy_gate(policy, false);
        self.text.push(Block::Line(Vec::new()));
        self.text.extend(gate.text);
        self.buttons.extend(gate.buttons);
        self
    }

    /// Adds, once, that the policy changed since the person agreed, with what changed.
    pub(crate) fn with_policy_changed(mut self, policy: &Policy) -> Reply {
        let mut line = vec![
            plain("ℹ️ The "),
            policy_link(policy),
            plain(format!("{} has changed", version_and_date(policy))),
        ];
        match &policy.changes {
            Some(changes) => line.push(plain(format!(": {}", changes.trim()))),
            None => line.push(plain(".")),
        }
        self.text.push(Block::Line(line));
        self.text.push(Block::Line(vec![plain(
            "Using autopost from now on means you accept the new version; /deleteme erases everything of yours.",
        )]));
        self
    }

    /// After the button: what was recorded and the first step.
    pub fn policy_agreed(policy: &Policy) -> Reply {
        Reply::lines(vec![
            vec![plain(format!(
                "✅ Thank you: you agreed to the privacy policy{} and confirmed you are 18 or older.",
                version_and_date(policy)
            ))],
            vec![
                plain("Next, link an account with "),
                Span::Code("/connect x".to_owned()),
                plain(" or "),
                Span::Code("/connect meta".to_owned()),
                plain(", or send /help."),
            ],
        ])
        .privately()
    }

    /// A button other than the agreement pressed before agreeing.
    pub fn policy_first() -> Reply {
        Reply::error(&format!(
            "first agree to the privacy policy: send /start and press “{AGREE_LABEL}”"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn policy(changes: Option<&str>) -> Policy {
        Policy {
            version: 3,
            date: NaiveDate::from_ymd_opt(2026, 12, 6).unwrap(),
            changes: changes.map(str::to_owned),
            url: "https://autopost.example/privacy".parse().unwrap(),
        }
    }

    fn text(reply: &Reply) -> String {
        reply
            .text
            .iter()
            .map(|Block::Line(spans)| {
                spans
                    .iter()
                    .map(|span| match span {
                        Span::Plain(t) | Span::Bold(t) | Span::Code(t) => t.clone(),
                        Span::Link { text, url } => format!("[{text}]({url})"),
                    })
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_gate_links_the_policy_with_its_version_and_date_and_names_the_age_rule() {
        let gate = Reply::policy_gate(&policy(None), true);
        let shown = text(&gate);
        assert!(
            shown.contains(
                "[privacy policy](https://autopost.example/privacy) (version 3, 6 December 2026)"
            ),
            "{shown}"
        );
        assert!(shown.contains("18 or older"), "{shown}");
        assert!(
            shown.contains("/start, /help, /export and /deleteme"),
            "{shown}"
        );
        assert_eq!(gate.buttons[0][0].label, AGREE_LABEL);
        assert_eq!(gate.buttons[0][0].action, ButtonAction::AgreePolicy);
        assert!(!text(&Reply::policy_gate(&policy(None), false)).contains("Until then"));
    }

    #[test]
    fn a_changed_policy_says_what_changed_in_the_operators_words() {
        let told =
            Reply::default().with_policy_changed(&policy(Some("We now keep images 3 days. ")));
        let shown = text(&told);
        assert!(
            shown.contains("(version 3, 6 December 2026) has changed: We now keep images 3 days."),
            "{shown}"
        );
        assert!(told.buttons.is_empty());
        let bare = text(&Reply::default().with_policy_changed(&policy(None)));
        assert!(bare.contains("has changed."), "{bare}");
    }

    #[test]
    fn the_agreement_button_round_trips() {
        let data = ButtonAction::AgreePolicy.callback_data();
        assert_eq!(ButtonAction::parse(&data), Some(ButtonAction::AgreePolicy));
        assert!(Reply::policy_agreed(&policy(None)).private);
    }
}
