//! The SQLite migrations (migrations/) and their PostgreSQL twins (migrations_pg/) must build
//! the same schema, column for column, so that one SQL text and one set of binds serve both
//! backends. Each side's schema is read back from the database into a set of facts ("posts
//! column 5: due_at int not null"), and the two sets must be equal; a mismatch prints the
//! facts only one side has.

use std::collections::BTreeSet;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::{PgPool, Row};

type Facts = BTreeSet<String>;

#[tokio::test]
async fn both_backends_migrate_to_the_same_schema() {
    let sqlite_migrations: Vec<_> = sqlx::migrate!("./migrations")
        .iter()
        .map(|m| (m.version, m.description.to_string()))
        .collect();
    let postgres_migrations: Vec<_> = sqlx::migrate!("./migrations_pg")
        .iter()
        .map(|m| (m.version, m.description.to_string()))
        .collect();
    assert_eq!(
        sqlite_migrations, postgres_migrations,
        "migrations/ and migrations_pg/ must hold the same versions and names"
    );
    let Some(cluster) = crate::test_cluster::cluster() else {
        return;
    };

    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqlitePool::connect_with(
        SqliteConnectOptions::new()
            .filename(dir.path().join("schema.db"))
            .create_if_missing(true),
    )
    .await
    .unwrap();
    sqlx::migrate!("./migrations").run(&sqlite).await.unwrap();
    let postgres = PgPool::connect(&cluster.fresh_database().await)
        .await
        .unwrap();
    sqlx::migrate!("./migrations_pg")
        .run(&postgres)
        .await
        .unwrap();

    let on_sqlite = sqlite_facts(&sqlite).await;
    // Guards against a comparison of two empty readings.
    for fact in [
        "targets primary key (id)",
        "targets column 1: id int not null generated",
        "targets check on (state): 'cancelled' 'failed' 'published' 'publishing' 'queued' 'unknown'",
        "target_parts check on (position): 0",
        "targets index targets_due (due_at, id) partial",
    ] {
        assert!(on_sqlite.contains(fact), "{fact} in {on_sqlite:#?}");
    }
    let on_postgres = postgres_facts(&postgres).await;
    if let Some(diff) = difference(&on_sqlite, &on_postgres) {
        panic!("the SQLite and PostgreSQL schemas differ:\n{diff}");
    }

    // And differences are noticed: a column only PostgreSQL has, a CHECK it lacks, an
    // index that lost its condition.
    for change in [
        "ALTER TABLE posts ADD COLUMN only_here BIGINT",
        "ALTER TABLE targets DROP CONSTRAINT targets_state_check",
        "DROP INDEX targets_in_flight",
        "CREATE INDEX targets_in_flight ON targets (state)",
    ] {
        sqlx::query(change).execute(&postgres).await.unwrap();
    }
    let diff = difference(&on_sqlite, &postgres_facts(&postgres).await).unwrap_or_default();
    let expected = "only on SQLite:
  targets check on (state): 'cancelled' 'failed' 'published' 'publishing' 'queued' 'unknown'
  targets index targets_in_flight (state) partial
only on PostgreSQL:
  posts column 13: only_here int null
  targets index targets_in_flight (state)";
    assert_eq!(diff, expected);
}

/// The facts only one side has, one per line, or `None` when the sides agree.
fn difference(sqlite: &Facts, postgres: &Facts) -> Option<String> {
    if sqlite == postgres {
        return None;
    }
    let mut lines = vec!["only on SQLite:".to_owned()];
    lines.extend(sqlite.difference(postgres).map(|fact| format!("  {fact}")));
    lines.push("only on PostgreSQL:".to_owned());
    lines.extend(postgres.difference(sqlite).map(|fact| format!("  {fact}")));
    Some(lines.join("\n"))
}

/// The type families both backends bind and decode alike.
fn sqlite_type(declared: &str) -> String {
    match declared.to_ascii_uppercase().as_str() {
        "INTEGER" => "int".to_owned(),
        "TEXT" => "text".to_owned(),
        "BLOB" => "bytes".to_owned(),
        "REAL" => "real".to_owned(),
        other => format!("sqlite {other}"),
    }
}

fn postgres_type(data_type: &str) -> String {
    match data_type {
        // INTEGER (int4) would not decode as i64: only BIGINT mirrors SQLite's INTEGER.
        "bigint" => "int".to_owned(),
        "text" => "text".to_owned(),
        "bytea" => "bytes".to_owned(),
        "double precision" => "real".to_owned(),
        other => format!("postgres {other}"),
    }
}

/// PostgreSQL shows a default with its cast (`'active'::text`); SQLite as written.
fn postgres_default(default: &str) -> &str {
    match default.rsplit_once("::") {
        Some((value, cast)) if cast.chars().all(|c| c.is_ascii_alphabetic() || c == ' ') => value,
        _ => default,
    }
}

fn column_fact(
    table: &str,
    position: usize,
    name: &str,
    kind: &str,
    not_null: bool,
    default: Option<&str>,
    generated: bool,
) -> String {
    let null = if not_null { "not null" } else { "null" };
    let default = default.map(|d| format!(" default {d}")).unwrap_or_default();
    let generated = if generated { " generated" } else { "" };
    format!("{table} column {position}: {name} {kind} {null}{default}{generated}")
}

fn foreign_key_fact(
    table: &str,
    columns: &[String],
    referenced: &str,
    referenced_columns: &[String],
    on_delete: &str,
) -> String {
    format!(
        "{table} foreign key ({}) -> {referenced} ({}) on delete {}",
        columns.join(", "),
        referenced_columns.join(", "),
        on_delete.to_ascii_lowercase()
    )
}

fn index_fact(table: &str, name: &str, columns: &[String], unique: bool, partial: bool) -> String {
    let unique = if unique { " unique" } else { "" };
    let partial = if partial { " partial" } else { "" };
    format!(
        "{table} index {name} ({}){unique}{partial}",
        columns.join(", ")
    )
}

/// The parenthesised expressions after each CHECK in a CREATE TABLE statement.
fn check_expressions(sql: &str) -> Vec<&str> {
    let upper = sql.to_ascii_uppercase();
    let mut found = Vec::new();
    for (at, _) in upper.match_indices("CHECK") {
        let rest = &sql[at + "CHECK".len()..];
        let Some(open) = rest.find('(') else { continue };
        let mut depth = 0;
        for (i, c) in rest[open..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                found.push(&rest[open..=open + i]);
                break;
            }
        }
    }
    found
}

/// A CHECK by its columns and the constants it compares with: the two engines spell the
/// same condition differently (`state IN ('a', 'b')` against `state = ANY (ARRAY['a'::text,
/// 'b'::text])`), but a missing or changed condition changes these.
fn check_fact(table: &str, columns: &[String], expression: &str) -> String {
    let mut constants = Vec::new();
    let mut rest = expression;
    while let Some(c) = rest.chars().next() {
        if c == '\'' {
            // A string literal, quotes included (ours hold no doubled quotes).
            let end = rest[1..].find('\'').map_or(rest.len(), |e| e + 2);
            constants.push(rest[..end].to_owned());
            rest = &rest[end..];
        } else if c.is_ascii_alphabetic() || c == '_' || c == '"' {
            // An identifier or keyword, digits and all (`t2`, `"position"`).
            let end = rest[1..]
                .find(|d: char| !(d.is_ascii_alphanumeric() || d == '_' || d == '"'))
                .map_or(rest.len(), |e| e + 1);
            rest = &rest[end..];
        } else if c.is_ascii_digit() {
            let end = rest
                .find(|d: char| !d.is_ascii_digit())
                .unwrap_or(rest.len());
            constants.push(rest[..end].to_owned());
            rest = &rest[end..];
        } else {
            rest = &rest[c.len_utf8()..];
        }
    }
    constants.sort();
    format!(
        "{table} check on ({}): {}",
        columns.join(", "),
        constants.join(" ")
    )
}

/// The migrations a database has applied, from sqlx's own table.
const APPLIED: &str = "SELECT version, description FROM _sqlx_migrations ORDER BY version";

fn migration_facts(applied: Vec<(i64, String)>) -> Facts {
    applied
        .into_iter()
        .map(|(version, description)| format!("migration {version:04} {description}"))
        .collect()
}

async fn sqlite_facts(db: &SqlitePool) -> Facts {
    let mut facts = migration_facts(sqlx::query_as(APPLIED).fetch_all(db).await.unwrap());
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_master
         WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(db)
    .await
    .unwrap();
    for (table, sql) in tables {
        facts.insert(format!("table {table}"));
        for expression in check_expressions(&sql) {
            // Ours are column constraints on the column they name first.
            let column: String = expression
                .trim_start_matches(|c: char| c == '(' || c.is_whitespace())
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            facts.insert(check_fact(&table, &[column], expression));
        }

        let mut referencing = BTreeSet::new();
        let keys = sqlx::query(
            r#"SELECT id, "table", "from", "to", on_delete FROM pragma_foreign_key_list(?)
               ORDER BY id, seq"#,
        )
        .bind(&table)
        .fetch_all(db)
        .await
        .unwrap();
        let mut key_ids: Vec<i64> = keys.iter().map(|k| k.get("id")).collect();
        key_ids.dedup();
        for id in key_ids {
            let parts: Vec<_> = keys
                .iter()
                .filter(|k| k.get::<i64, _>("id") == id)
                .collect();
            let columns: Vec<String> = parts.iter().map(|k| k.get("from")).collect();
            let referenced: String = parts[0].get("table");
            // A reference without columns names the referenced table's primary key: all
            // of ours name it.
            let referenced_columns: Vec<String> = parts
                .iter()
                .map(|k| k.get::<Option<String>, _>("to").unwrap_or_default())
                .collect();
            let on_delete: String = parts[0].get("on_delete");
            referencing.extend(columns.iter().cloned());
            facts.insert(foreign_key_fact(
                &table,
                &columns,
                &referenced,
                &referenced_columns,
                &on_delete,
            ));
        }

        let columns = sqlx::query(
            r#"SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)
               ORDER BY cid"#,
        )
        .bind(&table)
        .fetch_all(db)
        .await
        .unwrap();
        let mut primary_key: Vec<(i64, String)> = columns
            .iter()
            .filter(|c| c.get::<i64, _>("pk") > 0)
            .map(|c| (c.get("pk"), c.get("name")))
            .collect();
        primary_key.sort();
        let primary_key: Vec<String> = primary_key.into_iter().map(|(_, name)| name).collect();
        facts.insert(format!("{table} primary key ({})", primary_key.join(", ")));
        let rowid_table = !sql.to_ascii_uppercase().contains("WITHOUT ROWID");
        for (position, column) in columns.iter().enumerate() {
            let name: String = column.get("name");
            let declared: String = column.get("type");
            let is_key = primary_key.contains(&name);
            // A lone INTEGER PRIMARY KEY is the rowid, which SQLite numbers itself unless it
            // also refers to another row (then it is always given).
            let generated = rowid_table
                && primary_key.len() == 1
                && is_key
                && declared.eq_ignore_ascii_case("INTEGER")
                && !referencing.contains(&name);
            // SQLite reports primary key columns as nullable unless declared NOT NULL, but
            // rowid and STRICT keys reject NULL like PostgreSQL's do.
            let not_null = column.get::<i64, _>("notnull") == 1 || is_key;
            facts.insert(column_fact(
                &table,
                position + 1,
                &name,
                &sqlite_type(&declared),
                not_null,
                column.get::<Option<String>, _>("dflt_value").as_deref(),
                generated,
            ));
        }

        let indexes =
            sqlx::query(r#"SELECT name, "unique", origin, partial FROM pragma_index_list(?)"#)
                .bind(&table)
                .fetch_all(db)
                .await
                .unwrap();
        for index in indexes {
            let name: String = index.get("name");
            let origin: String = index.get("origin");
            let columns: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_index_info(?) ORDER BY seqno")
                    .bind(&name)
                    .fetch_all(db)
                    .await
                    .unwrap();
            match origin.as_str() {
                "pk" => {}
                // A UNIQUE constraint: its index's name is each engine's own.
                "u" => {
                    facts.insert(format!("{table} unique ({})", columns.join(", ")));
                }
                _ => {
                    facts.insert(index_fact(
                        &table,
                        &name,
                        &columns,
                        index.get::<i64, _>("unique") == 1,
                        index.get::<i64, _>("partial") == 1,
                    ));
                }
            }
        }
    }
    facts
}

/// The names of a constraint's or index's columns, in order, from an array of attnums.
const COLUMN_NAMES: &str =
    "ARRAY(SELECT a.attname::text FROM unnest({keys}) WITH ORDINALITY k(n, i)
       JOIN pg_attribute a ON a.attrelid = {relation} AND a.attnum = k.n ORDER BY k.i)";

fn column_names(keys: &str, relation: &str) -> String {
    COLUMN_NAMES
        .replace("{keys}", keys)
        .replace("{relation}", relation)
}

async fn postgres_facts(db: &PgPool) -> Facts {
    let mut facts = migration_facts(sqlx::query_as(APPLIED).fetch_all(db).await.unwrap());
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT relname::text FROM pg_class
         WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p')
           AND relname <> '_sqlx_migrations'",
    )
    .fetch_all(db)
    .await
    .unwrap();
    for table in tables {
        facts.insert(format!("table {table}"));

        let columns = sqlx::query(
            "SELECT column_name::text AS name, data_type::text AS data_type,
                    is_nullable::text = 'NO' AS not_null, column_default::text AS dflt,
                    is_identity::text = 'YES' AS generated
             FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1
             ORDER BY ordinal_position",
        )
        .bind(&table)
        .fetch_all(db)
        .await
        .unwrap();
        for (position, column) in columns.iter().enumerate() {
            let default: Option<String> = column.get("dflt");
            facts.insert(column_fact(
                &table,
                position + 1,
                column.get("name"),
                &postgres_type(column.get("data_type")),
                column.get("not_null"),
                default.as_deref().map(postgres_default),
                column.get("generated"),
            ));
        }

        let constraints = sqlx::query(&format!(
            "SELECT c.contype::text AS kind, {columns} AS columns,
                    pg_get_constraintdef(c.oid) AS definition,
                    COALESCE(r.relname::text, '') AS referenced,
                    {referenced_columns} AS referenced_columns,
                    c.confdeltype::text AS on_delete
             FROM pg_constraint c
             JOIN pg_class t ON t.oid = c.conrelid
             LEFT JOIN pg_class r ON r.oid = c.confrelid
             WHERE t.relname = $1 AND t.relnamespace = current_schema()::regnamespace
               AND c.contype IN ('p', 'u', 'f', 'c')",
            columns = column_names("c.conkey", "c.conrelid"),
            referenced_columns = column_names("COALESCE(c.confkey, '{}')", "c.confrelid"),
        ))
        .bind(&table)
        .fetch_all(db)
        .await
        .unwrap();
        for constraint in constraints {
            let columns: Vec<String> = constraint.get("columns");
            let fact = match constraint.get::<String, _>("kind").as_str() {
                "p" => format!("{table} primary key ({})", columns.join(", ")),
                "u" => format!("{table} unique ({})", columns.join(", ")),
                "c" => check_fact(&table, &columns, constraint.get("definition")),
                _ => {
                    let on_delete = match constraint.get::<String, _>("on_delete").as_str() {
                        "c" => "cascade",
                        "n" => "set null",
                        "d" => "set default",
                        "r" => "restrict",
                        _ => "no action",
                    };
                    foreign_key_fact(
                        &table,
                        &columns,
                        constraint.get("referenced"),
                        &constraint.get::<Vec<String>, _>("referenced_columns"),
                        on_delete,
                    )
                }
            };
            facts.insert(fact);
        }

        // Indexes of their own, not those backing a primary key or UNIQUE constraint.
        let indexes = sqlx::query(&format!(
            "SELECT i.relname::text AS name, x.indisunique AS is_unique,
                    x.indpred IS NOT NULL AS partial, {columns} AS columns
             FROM pg_index x
             JOIN pg_class i ON i.oid = x.indexrelid
             JOIN pg_class t ON t.oid = x.indrelid
             WHERE t.relname = $1 AND t.relnamespace = current_schema()::regnamespace
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                               WHERE c.conindid = x.indexrelid AND c.conrelid = x.indrelid
                                 AND c.contype IN ('p', 'u', 'x'))",
            columns = column_names("x.indkey::int2[]", "x.indrelid"),
        ))
        .bind(&table)
        .fetch_all(db)
        .await
        .unwrap();
        for index in indexes {
            facts.insert(index_fact(
                &table,
                index.get("name"),
                &index.get::<Vec<String>, _>("columns"),
                index.get("is_unique"),
                index.get("partial"),
            ));
        }
    }
    facts
}
