//! `/import`: many posts from one CSV file (`when,text,targets,images`), each row checked as
//! `/post` checks one post, then all queued in one transaction, or none when any row is
//! refused, with every refused row's line and reason.

mod fetch;

use chrono::{DateTime, Utc};
use url::Url;

use crate::app::App;
use crate::domain::Actor;
use crate::images::MAX_INPUT_BYTES;
use crate::posting::{Accepted, Checked, Draft, PostingError};

pub use fetch::{FetchError, is_public};

/// The largest file taken: far more than 200 rows of posts need.
pub const MAX_FILE_BYTES: usize = 256 * 1024;
/// The most rows (posts) one file may hold.
pub const MAX_ROWS: usize = 200;
/// The most image URLs one row may name (the most any network takes in one post).
pub const MAX_IMAGES_PER_ROW: usize = 10;
/// The most image URLs one file may name: each is fetched and held until all are stored.
pub const MAX_IMAGES: usize = 40;
/// What all of a file's images may add up to while they are held.
pub const MAX_IMAGE_BYTES_TOTAL: u64 = 64 * 1024 * 1024;

/// The columns a file may have, in any order; the first two are required.
const COLUMNS: [&str; 4] = ["when", "text", "targets", "images"];

/// Why a whole file was refused before its rows were checked. Each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file is over [`MAX_FILE_BYTES`].
    #[error(
        "the file is {bytes} bytes; /import takes CSV files up to {limit} bytes, so split it into smaller files"
    )]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// Not UTF-8 text.
    #[error(
        "the file is not CSV text; save it as CSV (UTF-8) with the columns when,text,targets,images"
    )]
    NotText,
    /// No header, or no row under it.
    #[error(
        "the file has no posts; its first line names the columns (when,text,targets,images) and each line after it is one post"
    )]
    Empty,
    /// The header does not name the columns.
    #[error(
        "{problem}; the first line must name the columns, such as `when,text,targets,images` (targets and images may be left out)"
    )]
    BadHeader {
        /// What is wrong with it.
        problem: String,
    },
    /// More than [`MAX_ROWS`] rows.
    #[error("the file has {rows} posts; /import takes at most {limit} at once, so split it")]
    TooManyRows {
        /// Rows found (counting stops just past the limit).
        rows: usize,
        /// The limit.
        limit: usize,
    },
    /// More than [`MAX_IMAGES`] image URLs in all.
    #[error(
        "the file names {images} image URLs; /import fetches at most {limit} at once, so split it"
    )]
    TooManyImages {
        /// URLs named.
        images: usize,
        /// The limit.
        limit: usize,
    },
    /// The CSV cannot be read (an unclosed quote, say).
    #[error("line {line}: {problem}; check the file's quotes and commas")]
    Unreadable {
        /// Where reading stopped.
        line: u64,
        /// What the reader said.
        problem: String,
    },
    /// Storing failed (an internal fault, not the file's).
    #[error(transparent)]
    Posting(PostingError),
}

impl ImportError {
    /// Whether the person can fix this themselves (shown as is), or it is an internal fault.
    pub fn is_user_error(&self) -> bool {
        match self {
            ImportError::Posting(e) => e.is_user_error(),
            _ => true,
        }
    }
}

/// One row that cannot be queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// Its line in the file (the header is line 1).
    pub line: u64,
    /// Why, in words the person can act on.
    pub reason: String,
}

/// One queued row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRow {
    /// Its line in the file.
    pub line: u64,
    /// The post it became.
    pub accepted: Accepted,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    /// Every row was queued.
    Queued(Vec<QueuedRow>),
    /// Nothing was queued, because of these rows.
    Refused(Vec<RowProblem>),
}

/// One row as read, before any check.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    line: u64,
    when: String,
    text: String,
    targets: Vec<String>,
    images: Vec<String>,
}

impl App {
    /// Reads `file` as an import for the actor's chat, checks every row as `/post` would
    /// (fetching its image URLs), and queues all rows in one transaction, or none if any row
    /// is refused.
    pub async fn import_posts(
        &self,
        actor: &Actor,
        file: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Imported, ImportError> {
        let rows = read(file)?;
        let mut problems = Vec::new();
        let mut checked: Vec<(u64, Checked)> = Vec::with_capacity(rows.len());
        let mut image_bytes = 0u64;
        for row in rows {
            let line = row.line;
            match self.check_row(actor, row, &mut image_bytes, now).await {
                Ok(post) => checked.push((line, post)),
                Err(RowFailure::Problem(reason)) => problems.push(RowProblem { line, reason }),
                Err(RowFailure::Fault(e)) => return Err(ImportError::Posting(e)),
            }
        }
        if !problems.is_empty() {
            return Ok(Imported::Refused(problems));
        }
        let (lines, posts): (Vec<u64>, Vec<Checked>) = checked.into_iter().unzip();
        let accepted = self
            .store_posts(actor, posts, now)
            .await
            .map_err(ImportError::Posting)?;
        tracing::info!(posts = accepted.len(), "import queued");
        Ok(Imported::Queued(
            lines
                .into_iter()
                .zip(accepted)
                .map(|(line, accepted)| QueuedRow { line, accepted })
                .collect(),
        ))
    }

    /// One row through `/post`'s checks: its targets named, its images fetched, then
    /// [`App::check_post`].
    async fn check_row(
        &self,
        actor: &Actor,
        row: Row,
        image_bytes: &mut u64,
        now: DateTime<Utc>,
    ) -> Result<Checked, RowFailure> {
        if row.when.is_empty() {
            return Err(RowFailure::Problem(
                "the `when` column is empty; give a time such as `tomorrow 9am`".to_owned(),
            ));
        }
        if row.images.len() > MAX_IMAGES_PER_ROW {
            return Err(RowFailure::Problem(format!(
                "{} image URLs; a post takes at most {MAX_IMAGES_PER_ROW}",
                row.images.len()
            )));
        }
        let targets = if row.targets.is_empty() {
            None
        } else {
            Some(self.resolve_targets(actor.chat, &row.targets).await?)
        };
        let mut images = Vec::with_capacity(row.images.len());
        for written in &row.images {
            let url = Url::parse(written).map_err(|_| {
                RowFailure::Problem(format!(
                    "`{written}` is not an image URL; give http:// or https:// URLs separated by spaces"
                ))
            })?;
            let left = MAX_IMAGE_BYTES_TOTAL.saturating_sub(*image_bytes);
            let limit = MAX_INPUT_BYTES.min(left);
            let bytes = fetch::fetch(&url, limit, self.config().import_private_urls)
                .await
                .map_err(|e| match e {
                    FetchError::TooLarge { .. } if limit < MAX_INPUT_BYTES => {
                        RowFailure::Problem(format!(
                            "the images of this file add up to more than {MAX_IMAGE_BYTES_TOTAL} bytes; split it"
                        ))
                    }
                    other => RowFailure::Problem(other.to_string()),
                })?;
            *image_bytes += bytes.len() as u64;
            images.push(bytes);
        }
        let draft = Draft {
            when: row.when,
            text: row.text,
            images,
            targets,
        };
        Ok(self.check_post(actor, draft, now).await?)
    }
}

/// Why a row was not checked through: the person's to fix, or an internal fault.
enum RowFailure {
    Problem(String),
    Fault(PostingError),
}

impl From<PostingError> for RowFailure {
    fn from(error: PostingError) -> Self {
        if error.is_user_error() {
            RowFailure::Problem(error.to_string())
        } else {
            RowFailure::Fault(error)
        }
    }
}

/// The rows of a CSV file, with every limit on the file as a whole checked.
fn read(file: &[u8]) -> Result<Vec<Row>, ImportError> {
    if file.len() > MAX_FILE_BYTES {
        return Err(ImportError::TooLarge {
            bytes: file.len(),
            limit: MAX_FILE_BYTES,
        });
    }
    let text = std::str::from_utf8(file).map_err(|_| ImportError::NotText)?;
    // Spreadsheets often save UTF-8 with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.contains('\0') {
        return Err(ImportError::NotText);
    }
    if text.trim().is_empty() {
        return Err(ImportError::Empty);
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader.headers().map_err(unreadable)?.clone();
    let columns = columns(&header)?;
    let mut rows = Vec::new();
    let mut images = 0;
    for record in reader.records() {
        let record = record.map_err(unreadable)?;
        // Lines a spreadsheet leaves with only commas are not posts.
        if record.iter().all(str::is_empty) {
            continue;
        }
        let line = record.position().map_or(0, csv::Position::line);
        if rows.len() == MAX_ROWS {
            return Err(ImportError::TooManyRows {
                rows: MAX_ROWS + 1,
                limit: MAX_ROWS,
            });
        }
        let field = |column: Option<usize>| {
            column
                .and_then(|i| record.get(i))
                .unwrap_or_default()
                .to_owned()
        };
        let row = Row {
            line,
            when: field(columns.when),
            text: field(columns.text),
            targets: target_names(&field(columns.targets)),
            images: field(columns.images)
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        };
        images += row.images.len();
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(ImportError::Empty);
    }
    if images > MAX_IMAGES {
        return Err(ImportError::TooManyImages {
            images,
            limit: MAX_IMAGES,
        });
    }
    Ok(rows)
}

/// The names in a `targets` field: separated by semicolons (or commas) where it has any, so
/// that a Page's name may hold spaces, else by spaces.
fn target_names(field: &str) -> Vec<String> {
    let names: Vec<&str> = if field.contains([';', ',']) {
        field.split([';', ',']).collect()
    } else {
        field.split_whitespace().collect()
    };
    names
        .into_iter()
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Where each column is.
struct Columns {
    when: Option<usize>,
    text: Option<usize>,
    targets: Option<usize>,
    images: Option<usize>,
}

fn columns(header: &csv::StringRecord) -> Result<Columns, ImportError> {
    let mut found = Columns {
        when: None,
        text: None,
        targets: None,
        images: None,
    };
    for (index, name) in header.iter().enumerate() {
        let name = name.to_lowercase();
        let slot = match name.as_str() {
            "when" => &mut found.when,
            "text" => &mut found.text,
            "targets" => &mut found.targets,
            "images" => &mut found.images,
            "" => continue,
            other => {
                return Err(ImportError::BadHeader {
                    problem: format!("the column `{other}` is not one of {}", COLUMNS.join(", ")),
                });
            }
        };
        if slot.replace(index).is_some() {
            return Err(ImportError::BadHeader {
                problem: format!("the column `{name}` is named twice"),
            });
        }
    }
    for (column, name) in [(found.when, "when"), (found.text, "text")] {
        if column.is_none() {
            return Err(ImportError::BadHeader {
                problem: format!("the column `{name}` is missing"),
            });
        }
    }
    Ok(found)
}

fn unreadable(error: csv::Error) -> ImportError {
    let line = error.position().map_or(0, csv::Position::line);
    let problem = match error.kind() {
        csv::ErrorKind::Utf8 { .. } => return ImportError::NotText,
        _ => "the CSV cannot be read there".to_owned(),
    };
    ImportError::Unreadable { line, problem }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_with_their_lines_quotes_targets_and_images() {
        let file = "\u{feff}When,Text,Targets,Images\n\
                    tomorrow 9am,\"Hello, world\",x;Alice's Bakery; @alices_bakery,https://a.example/1.png https://a.example/2.png\n\
                    \n\
                    ,,,\n\
                    in 2h,\"two\nlines\",,\n\
                    friday 5pm,short row\n";
        let rows = read(file.as_bytes()).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].text, "Hello, world");
        assert_eq!(rows[0].targets, ["x", "Alice's Bakery", "@alices_bakery"]);
        assert_eq!(
            target_names(" x  @team facebook "),
            ["x", "@team", "facebook"]
        );
        assert_eq!(rows[0].images.len(), 2);
        assert_eq!(rows[1].line, 5);
        assert_eq!(rows[1].text, "two\nlines");
        assert!(rows[1].targets.is_empty() && rows[1].images.is_empty());
        assert_eq!((rows[2].line, rows[2].when.as_str()), (7, "friday 5pm"));
    }

    #[test]
    fn columns_may_come_in_any_order_and_the_optional_ones_may_be_left_out() {
        let rows = read(b"text,when\nhi,now\n").unwrap();
        assert_eq!(
            (rows[0].when.as_str(), rows[0].text.as_str()),
            ("now", "hi")
        );
    }

    #[test]
    fn a_file_that_cannot_be_an_import_says_why() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "the file has no posts"),
            (b"when,text\n", "the file has no posts"),
            (b"when,body\nnow,hi\n", "the column `body` is not one of"),
            (
                b"when,when,text\nnow,now,hi\n",
                "the column `when` is named twice",
            ),
            (b"text,images\nhi,\n", "the column `when` is missing"),
            (b"\xff\xd8\xff\xe0 a jpeg", "the file is not CSV text"),
        ];
        for (file, expected) in cases {
            let message = read(file).unwrap_err().to_string();
            assert!(message.starts_with(expected), "{file:?}: {message}");
        }
    }

    #[test]
    fn limits_on_size_rows_and_images_are_clear() {
        let big = vec![b'a'; MAX_FILE_BYTES + 1];
        assert!(matches!(read(&big), Err(ImportError::TooLarge { .. })));
        let mut many = String::from("when,text\n");
        for n in 0..=MAX_ROWS {
            many.push_str(&format!("tomorrow 9am,post {n}\n"));
        }
        let message = read(many.as_bytes()).unwrap_err().to_string();
        assert!(message.contains("at most 200 at once"), "{message}");
        let mut pictures = String::from("when,text,images\n");
        for n in 0..5 {
            let urls: Vec<String> = (0..9)
                .map(|i| format!("https://a.example/{n}-{i}.png"))
                .collect();
            pictures.push_str(&format!("now,post {n},{}\n", urls.join(" ")));
        }
        let message = read(pictures.as_bytes()).unwrap_err().to_string();
        assert!(message.contains("names 45 image URLs"), "{message}");
    }
}
