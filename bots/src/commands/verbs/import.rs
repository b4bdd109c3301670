//! `/import` with a CSV file (Telegram: the file's caption, or a reply to the file; Discord:
//! the `file` option): many posts at once, all queued or none, answered with a line per row:
//! each post's number and time, or every refused row with its line and reason.

use autopost::import::{ImportError, Imported, MAX_FILE_BYTES};
use bytes::Bytes;

use super::{Arg, ArgKind, Command, Verb};
use crate::commands::args::ParseError;
use crate::commands::context::{Context, internal};
use crate::commands::reply::{Reply, bold, code, local_time, marked, plain, plural};

/// `/import`.
pub const VERB: Verb = Verb::new(
    "import",
    "/import (with a CSV file)",
    "queue many posts from a CSV file, all or none",
    parse,
)
.args(
    &[Arg::required(
        "file",
        ArgKind::File,
        "a CSV file with the columns when,text,targets,images",
    )],
    "/import (as the caption of posts.csv)",
)
.notes(&[
    "CSV columns `when,text,targets,images` (the last two optional); all rows or none, each bad row named.",
])
.with_file();

/// The most rows a report names one by one; the rest are counted.
const SHOWN_ROWS: usize = 30;

fn parse(_args: &str) -> Result<Command, ParseError> {
    Ok(Command::Import)
}

/// A file a person sent with a command, as the front end received it.
#[derive(Debug, Clone)]
pub struct Document {
    /// Its name, as the person's device called it.
    pub name: String,
    /// Its media type, as the chat platform announced it.
    pub mime: Option<String>,
    /// Its size as announced; a file announced over the limit is not downloaded.
    pub size: u64,
    /// Its content (empty when not downloaded).
    pub bytes: Bytes,
}

impl Document {
    /// Whether it claims to be CSV: by type, or by name where the type is vague.
    fn is_csv(&self) -> bool {
        let mime = self
            .mime
            .as_deref()
            .map(|m| {
                m.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        let named_csv = self.name.to_ascii_lowercase().ends_with(".csv");
        match mime.as_str() {
            "text/csv" | "text/comma-separated-values" | "application/csv" => true,
            // What some systems call a CSV file; trusted only with the name to go with it.
            "" | "text/plain" | "application/vnd.ms-excel" | "application/octet-stream" => {
                named_csv
            }
            _ => false,
        }
    }
}

impl Document {
    /// A file as announced, before it is fetched.
    pub fn announced(name: String, mime: Option<String>, size: u64) -> Document {
        Document {
            name,
            mime,
            size,
            bytes: Bytes::new(),
        }
    }

    /// Whether a front end should fetch it: a CSV file within the limit. Any other is
    /// refused from what was announced, without a download.
    pub fn worth_fetching(&self) -> bool {
        self.is_csv() && self.size <= MAX_FILE_BYTES as u64
    }
}

/// Imports the CSV file `document`.
pub(crate) async fn run(ctx: &Context<'_>, document: Option<Document>) -> Reply {
    let Some(document) = document else {
        return Reply::error(
            "send the CSV file with the caption /import, or reply /import to the file; \
             see /help for its columns",
        );
    };
    if !document.is_csv() {
        return Reply::error(&format!(
            "`{}` is not a CSV file; save the sheet as CSV (columns when,text,targets,images) \
             and send it with the caption /import",
            document.name
        ));
    }
    if document.size > MAX_FILE_BYTES as u64 || document.bytes.len() > MAX_FILE_BYTES {
        let bytes = usize::try_from(document.size)
            .unwrap_or(usize::MAX)
            .max(document.bytes.len());
        return import_error(&ImportError::TooLarge {
            bytes,
            limit: MAX_FILE_BYTES,
        });
    }
    match ctx
        .app
        .import_posts(ctx.actor, &document.bytes, ctx.now)
        .await
    {
        Ok(imported) => Reply::imported(&imported),
        Err(e) => import_error(&e),
    }
}

fn import_error(error: &ImportError) -> Reply {
    if error.is_user_error() {
        Reply::error(&format!("nothing was queued: {error}"))
    } else {
        internal(error)
    }
}

impl Reply {
    /// The report of an import: each queued row's post and time, or each refused row.
    pub fn imported(imported: &Imported) -> Reply {
        let mut lines = Vec::new();
        match imported {
            Imported::Queued(rows) => {
                lines.push(vec![bold(format!(
                    "Imported {}, all queued",
                    plural(rows.len(), "post", "posts")
                ))]);
                for row in rows.iter().take(SHOWN_ROWS) {
                    let accepted = &row.accepted;
                    lines.push(vec![
                        plain(format!("line {}: ", row.line)),
                        code(format!("#{}", accepted.post)),
                        plain(format!(
                            " {} ({})",
                            local_time(accepted.due_at, accepted.zone),
                            accepted.zone.name()
                        )),
                    ]);
                }
                if rows.len() > SHOWN_ROWS {
                    lines.push(vec![plain(format!(
                        "…and {} more; see /queue",
                        rows.len() - SHOWN_ROWS
                    ))]);
                }
            }
            Imported::Refused(problems) => {
                lines.push(vec![bold(format!(
                    "Nothing was queued: {} to fix",
                    plural(problems.len(), "row", "rows")
                ))]);
                for problem in problems.iter().take(SHOWN_ROWS) {
                    let mut spans = vec![plain(format!("line {}: ", problem.line))];
                    spans.extend(marked(&problem.reason));
                    lines.push(spans);
                }
                if problems.len() > SHOWN_ROWS {
                    lines.push(vec![plain(format!(
                        "…and {} more rows",
                        problems.len() - SHOWN_ROWS
                    ))]);
                }
                lines.push(vec![plain("Fix these rows and send the whole file again.")]);
                return Reply::lines(lines).refusal();
            }
        }
        Reply::lines(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(name: &str, mime: Option<&str>) -> Document {
        Document {
            name: name.to_owned(),
            mime: mime.map(str::to_owned),
            size: 10,
            bytes: Bytes::from_static(b"when,text\n"),
        }
    }

    #[test]
    fn a_csv_file_is_known_by_its_type_or_by_its_name_where_the_type_is_vague() {
        assert!(document("posts.csv", Some("text/csv")).is_csv());
        assert!(document("posts", Some("text/csv; charset=utf-8")).is_csv());
        assert!(document("posts.CSV", Some("application/vnd.ms-excel")).is_csv());
        assert!(document("posts.csv", None).is_csv());
        assert!(!document("posts.txt", Some("text/plain")).is_csv());
        assert!(!document("photo.png", Some("image/png")).is_csv());
        assert!(!document("posts.csv", Some("image/png")).is_csv());
        assert!(!document("sheet.xlsx", None).is_csv());
    }

    #[test]
    fn a_refused_import_names_each_row_and_says_nothing_was_queued() {
        let reply = Reply::imported(&Imported::Refused(vec![autopost::import::RowProblem {
            line: 3,
            reason: "no account called `mastodon` is linked".to_owned(),
        }]));
        let text = reply.to_markdown();
        assert!(text.contains("Nothing was queued: 1 row to fix"), "{text}");
        assert!(
            text.contains("line 3: no account called `mastodon`"),
            "{text}"
        );
        assert!(reply.refused);
    }
}
