//! `/export`: everything autopost keeps about the person, as a JSON file sent privately
//! (no tokens or keys).

use super::{Command, Verb};
use crate::commands::args::ParseError;
use crate::commands::context::{Context, internal};
use crate::commands::reply::{Reply, ReplyFile, plain};

/// `/export`.
pub const VERB: Verb = Verb::new(
    "export",
    "/export",
    "your data as a file, sent privately",
    parse,
)
.private()
.before_consent();

fn parse(_: &str) -> Result<Command, ParseError> {
    Ok(Command::Export)
}

/// Exports the person's data.
pub(crate) async fn run(ctx: &Context<'_>) -> Reply {
    match ctx.app.export_user(ctx.actor.user, ctx.now).await {
        Ok(json) => Reply::export(json),
        Err(e) => internal(&e),
    }
}

impl Reply {
    /// `/export`: the user's data as a JSON file, privately.
    pub fn export(json: Vec<u8>) -> Reply {
        let mut reply = Reply::lines(vec![vec![plain(
            "Here is everything autopost keeps about you (no tokens or keys).",
        )]])
        .privately();
        reply.file = Some(ReplyFile {
            name: "autopost-export.json".to_owned(),
            bytes: json,
            mime: "application/json",
        });
        reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_export_is_a_private_json_file() {
        let export = Reply::export(b"{}".to_vec());
        assert!(export.private);
        let file = export.file.unwrap();
        assert_eq!(
            (file.name.as_str(), file.mime),
            ("autopost-export.json", "application/json")
        );
    }
}
