//! One query interface over the two engines the store runs on: SQLite (one process, the
//! default) and PostgreSQL (several instances sharing one database). Every store function
//! writes its SQL once, with `?` placeholders, and runs it through [`query`]; the statement
//! goes to the real sqlx driver of the engine at hand (SQLite keeps its pragmas, PostgreSQL
//! its locks and notifications), with `?` numbered `$1, $2, …` for PostgreSQL. Rows come
//! back as [`Record`]s, whose integers are `i64` on both engines whatever PostgreSQL's
//! column width, and whose booleans are 0 or 1 as SQLite stores them.
//!
//! Why not `sqlx::Any`: it would hide the SQLite connection options (WAL, `secure_delete`,
//! the busy timeout) behind a URL, and the PostgreSQL connection behind a driver that knows
//! nothing of advisory locks or LISTEN.
//!
//! Writes take one lock, as on SQLite: on PostgreSQL a write transaction ([`Pool::begin_write`])
//! and every lone write statement first take a transaction-level advisory lock, so that the
//! read-then-write transactions written for SQLite's single writer (claims, cancels, edits,
//! toggles) keep their meaning when several instances share the database.

use std::borrow::Cow;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgPool, PgRow};
use sqlx::query::Query as SqlxQuery;
use sqlx::sqlite::{SqliteArguments, SqlitePool, SqliteRow};
use sqlx::{Column, Decode, Postgres, Row, Sqlite, Transaction, TypeInfo, ValueRef};

/// The advisory lock every write on PostgreSQL holds until its transaction ends: the
/// counterpart of SQLite's one write lock. The number is arbitrary but fixed ("autopost").
pub(crate) const WRITE_LOCK: i64 = 0x6175_746f_706f_7374;

/// Which engine a pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file, one process.
    Sqlite,
    /// A PostgreSQL database shared by any number of instances.
    Postgres,
}

/// A pool of connections to one of the two engines.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Pool {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// A transaction that will write: SQLite's `BEGIN IMMEDIATE` (the write lock at once, so
    /// that what it reads stays true until it commits), or on PostgreSQL a transaction
    /// holding [`WRITE_LOCK`].
    pub(crate) async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        match self {
            Pool::Sqlite(pool) => Ok(Tx(Conn::SqliteTx(
                pool.begin_with("BEGIN IMMEDIATE").await?,
            ))),
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                lock_writes(&mut tx).await?;
                Ok(Tx(Conn::PgTx(tx)))
            }
        }
    }

    /// A transaction that only reads (a consistent view of several statements).
    pub(crate) async fn begin_read(&self) -> Result<Tx, sqlx::Error> {
        match self {
            Pool::Sqlite(pool) => Ok(Tx(Conn::SqliteTx(pool.begin().await?))),
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await?;
                Ok(Tx(Conn::PgTx(tx)))
            }
        }
    }

    /// One connection of the pool, held until dropped.
    pub(crate) async fn acquire(&self) -> Result<Held, sqlx::Error> {
        Ok(Held(match self {
            Pool::Sqlite(pool) => Conn::Sqlite(pool.acquire().await?),
            Pool::Postgres(pool) => Conn::Postgres(pool.acquire().await?),
        }))
    }

    pub(crate) async fn close(&self) {
        match self {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }

    /// The SQLite pool, for what only SQLite has (checkpoints, pragmas).
    pub(crate) fn sqlite(&self) -> Option<&SqlitePool> {
        match self {
            Pool::Sqlite(pool) => Some(pool),
            Pool::Postgres(_) => None,
        }
    }

    /// The PostgreSQL pool, for what only PostgreSQL has (LISTEN, session locks).
    pub(crate) fn postgres(&self) -> Option<&PgPool> {
        match self {
            Pool::Sqlite(_) => None,
            Pool::Postgres(pool) => Some(pool),
        }
    }
}

async fn lock_writes(tx: &mut Transaction<'_, Postgres>) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(WRITE_LOCK)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A connection statements run on: inside a transaction, or a plain pooled one.
pub(crate) enum Conn {
    SqliteTx(Transaction<'static, Sqlite>),
    PgTx(Transaction<'static, Postgres>),
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

/// A transaction: statements run on `&mut *tx`; dropped without [`Tx::commit`] it rolls back.
pub(crate) struct Tx(Conn);

impl Tx {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self.0 {
            Conn::SqliteTx(tx) => tx.commit().await,
            Conn::PgTx(tx) => tx.commit().await,
            // A `Tx` is only made from a transaction.
            Conn::Sqlite(_) | Conn::Postgres(_) => Ok(()),
        }
    }
}

/// A pooled connection outside any transaction: statements run on `&mut *held`.
pub(crate) struct Held(Conn);

/// `&mut *wrapper` is the [`Conn`] statements run on, as with sqlx's own wrappers.
macro_rules! derefs_to_conn {
    ($($wrapper:ident),*) => {$(
        impl Deref for $wrapper {
            type Target = Conn;
            fn deref(&self) -> &Conn {
                &self.0
            }
        }

        impl DerefMut for $wrapper {
            fn deref_mut(&mut self) -> &mut Conn {
                &mut self.0
            }
        }
    )*};
}

derefs_to_conn!(Tx, Held);

/// Where a statement runs.
pub(crate) enum Executor<'e> {
    Pool(&'e Pool),
    Conn(&'e mut Conn),
}

impl<'e> From<&'e Pool> for Executor<'e> {
    fn from(pool: &'e Pool) -> Self {
        Executor::Pool(pool)
    }
}

impl<'e> From<&'e mut Conn> for Executor<'e> {
    fn from(conn: &'e mut Conn) -> Self {
        Executor::Conn(conn)
    }
}

impl<'e> From<&'e mut Tx> for Executor<'e> {
    fn from(tx: &'e mut Tx) -> Self {
        Executor::Conn(&mut tx.0)
    }
}

impl<'e> From<&'e mut Held> for Executor<'e> {
    fn from(held: &'e mut Held) -> Self {
        Executor::Conn(&mut held.0)
    }
}

/// A value bound to a placeholder. NULLs keep their type: PostgreSQL refuses an integer NULL
/// where text belongs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

macro_rules! value_from {
    ($variant:ident: $($ty:ty => $conv:expr),* $(,)?) => {$(
        impl From<$ty> for Value {
            fn from(v: $ty) -> Self {
                #[allow(clippy::redundant_closure_call)]
                Value::$variant(Some(($conv)(v)))
            }
        }
        impl From<Option<$ty>> for Value {
            fn from(v: Option<$ty>) -> Self {
                #[allow(clippy::redundant_closure_call)]
                Value::$variant(v.map($conv))
            }
        }
    )*};
}

value_from!(Int: i64 => |v| v, i32 => i64::from, u32 => i64::from, bool => i64::from);
value_from!(Real: f64 => |v| v);
value_from!(Text: String => |v| v, &str => str::to_owned, &String => String::clone);
value_from!(Bytes: Vec<u8> => |v| v, &[u8] => <[u8]>::to_vec, &Vec<u8> => Vec::clone);

impl From<&Option<String>> for Value {
    fn from(v: &Option<String>) -> Self {
        Value::Text(v.clone())
    }
}

impl From<&Option<Vec<u8>>> for Value {
    fn from(v: &Option<Vec<u8>>) -> Self {
        Value::Bytes(v.clone())
    }
}

/// A statement with its bound values; run it with `execute`, `fetch_*`.
#[derive(Debug, Clone)]
#[must_use = "a query does nothing until it is run"]
pub(crate) struct Query {
    sql: Cow<'static, str>,
    args: Vec<Value>,
}

/// A statement whose rows are each read as one `T` (a column, or a tuple of columns).
#[must_use = "a query does nothing until it is run"]
pub(crate) struct Mapped<T> {
    query: Query,
    map: fn(&Record) -> Result<T, sqlx::Error>,
}

/// A statement written once for both engines, with `?` placeholders.
pub(crate) fn query(sql: impl Into<Cow<'static, str>>) -> Query {
    Query {
        sql: sql.into(),
        args: Vec::new(),
    }
}

/// [`query`], reading the first column of each row as `T`.
pub(crate) fn query_scalar<T: for<'r> FromDatum<'r>>(
    sql: impl Into<Cow<'static, str>>,
) -> Mapped<T> {
    Mapped {
        query: query(sql),
        map: |row| row.try_get(0),
    }
}

/// [`query`], reading each row as the tuple `T`.
pub(crate) fn query_as<T: FromRecord>(sql: impl Into<Cow<'static, str>>) -> Mapped<T> {
    Mapped {
        query: query(sql),
        map: T::from_record,
    }
}

/// What a statement changed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Done {
    rows: u64,
}

impl Done {
    pub(crate) fn rows_affected(&self) -> u64 {
        self.rows
    }
}

/// What a statement is run for.
enum Fetch {
    /// Only what it changed.
    Execute,
    All,
    One,
    Optional,
}

/// What running a statement gave: its rows, or (for [`Fetch::Execute`]) what it changed.
struct Ran {
    records: Vec<Record>,
    done: Done,
}

impl Query {
    pub(crate) fn bind(mut self, value: impl Into<Value>) -> Self {
        self.args.push(value.into());
        self
    }

    pub(crate) async fn execute<'e>(
        self,
        on: impl Into<Executor<'e>>,
    ) -> Result<Done, sqlx::Error> {
        Ok(self.run(on.into(), Fetch::Execute).await?.done)
    }

    pub(crate) async fn fetch_all<'e>(
        self,
        on: impl Into<Executor<'e>>,
    ) -> Result<Vec<Record>, sqlx::Error> {
        Ok(self.run(on.into(), Fetch::All).await?.records)
    }

    pub(crate) async fn fetch_one<'e>(
        self,
        on: impl Into<Executor<'e>>,
    ) -> Result<Record, sqlx::Error> {
        self.run(on.into(), Fetch::One)
            .await?
            .records
            .pop()
            .ok_or(sqlx::Error::RowNotFound)
    }

    pub(crate) async fn fetch_optional<'e>(
        self,
        on: impl Into<Executor<'e>>,
    ) -> Result<Option<Record>, sqlx::Error> {
        Ok(self.run(on.into(), Fetch::Optional).await?.records.pop())
    }

    fn sqlite(&self) -> SqlxQuery<'_, Sqlite, SqliteArguments<'_>> {
        let mut q = sqlx::query(&self.sql);
        for value in &self.args {
            q = match value {
                Value::Int(v) => q.bind(*v),
                Value::Real(v) => q.bind(*v),
                Value::Text(v) => q.bind(v.as_deref()),
                Value::Bytes(v) => q.bind(v.as_deref()),
            };
        }
        q
    }

    /// Runs the statement on `on` for `how`: the one place that picks the engine's driver,
    /// and that makes a lone PostgreSQL write take [`WRITE_LOCK`] first.
    async fn run(self, on: Executor<'_>, how: Fetch) -> Result<Ran, sqlx::Error> {
        macro_rules! run_with {
            ($q:expr, $exec:expr, $datum:expr) => {{
                let q = $q;
                let (rows, affected) = match how {
                    Fetch::Execute => (Vec::new(), q.execute($exec).await?.rows_affected()),
                    Fetch::All => (q.fetch_all($exec).await?, 0),
                    Fetch::One => (vec![q.fetch_one($exec).await?], 0),
                    Fetch::Optional => (q.fetch_optional($exec).await?.into_iter().collect(), 0),
                };
                Ran {
                    records: records(&rows, $datum)?,
                    done: Done { rows: affected },
                }
            }};
        }
        macro_rules! run_sqlite {
            ($exec:expr) => {
                run_with!(self.sqlite(), $exec, sqlite_datum)
            };
        }
        macro_rules! run_pg {
            ($exec:expr, $sql:expr) => {
                run_with!(bind_pg(sqlx::query($sql), self.args), $exec, pg_datum)
            };
        }
        // A lone write outside any transaction, on a pool or a held connection alike.
        macro_rules! locked_pg {
            ($begun:expr, $sql:expr) => {{
                let mut tx = $begun;
                lock_writes(&mut tx).await?;
                let ran = run_pg!(&mut *tx, $sql);
                tx.commit().await?;
                ran
            }};
        }
        Ok(match on {
            Executor::Pool(Pool::Sqlite(pool)) => run_sqlite!(pool),
            Executor::Conn(Conn::SqliteTx(tx)) => run_sqlite!(&mut **tx),
            Executor::Conn(Conn::Sqlite(c)) => run_sqlite!(&mut **c),
            Executor::Pool(Pool::Postgres(pool)) => {
                let sql = numbered(&self.sql);
                if is_write(&sql) {
                    locked_pg!(pool.begin().await?, &sql)
                } else {
                    run_pg!(pool, &sql)
                }
            }
            Executor::Conn(Conn::PgTx(tx)) => {
                let sql = numbered(&self.sql);
                run_pg!(&mut **tx, &sql)
            }
            Executor::Conn(Conn::Postgres(c)) => {
                let sql = numbered(&self.sql);
                if is_write(&sql) {
                    locked_pg!(sqlx::Connection::begin(&mut **c).await?, &sql)
                } else {
                    run_pg!(&mut **c, &sql)
                }
            }
        })
    }
}

impl<T> Mapped<T> {
    pub(crate) fn bind(mut self, value: impl Into<Value>) -> Self {
        self.query = self.query.bind(value);
        self
    }

    pub(crate) async fn fetch_all<'e>(
        self,
        on: impl Into<Executor<'e>>,
    ) -> Result<Vec<T>, sqlx::Error> {
        self.query
            .fetch_all(on)
            .await?
            .iter()
            .map(self.map)
            .collect()
    }

    pub(crate) async fn fetch_one<'e>(self, on: impl Into<Executor<'e>>) -> Result<T, sqlx::Error> {
        (self.map)(&self.query.fetch_one(on).await?)
    }

    pub(crate) async fn fetch_optional<'e>(
        self,
        on: impl Into<Executor<'e>>,
    ) -> Result<Option<T>, sqlx::Error> {
        self.query
            .fetch_optional(on)
            .await?
            .as_ref()
            .map(self.map)
            .transpose()
    }
}

fn bind_pg(
    mut q: SqlxQuery<'_, Postgres, PgArguments>,
    args: Vec<Value>,
) -> SqlxQuery<'_, Postgres, PgArguments> {
    for value in args {
        q = match value {
            Value::Int(v) => q.bind(v),
            Value::Real(v) => q.bind(v),
            Value::Text(v) => q.bind(v),
            Value::Bytes(v) => q.bind(v),
        };
    }
    q
}

/// `?` placeholders numbered for PostgreSQL (`$1`, `$2`, …; SQLite's `?3` becomes `$3`); a
/// `?` inside a quoted literal or identifier stays as it is.
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                out.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                out.push(c);
            }
            (None, '?') => {
                out.push('$');
                if chars.peek().is_some_and(char::is_ascii_digit) {
                    while let Some(d) = chars.next_if(char::is_ascii_digit) {
                        out.push(d);
                    }
                } else {
                    n += 1;
                    out.push_str(&n.to_string());
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Whether a lone statement writes, so that on PostgreSQL it takes [`WRITE_LOCK`] first.
fn is_write(sql: &str) -> bool {
    let head: String = sql
        .trim_start()
        .chars()
        .take(7)
        .collect::<String>()
        .to_ascii_uppercase();
    ["INSERT", "UPDATE", "DELETE", "REPLACE", "WITH"]
        .iter()
        .any(|w| head.starts_with(w))
}

/// One column's value, the same on both engines.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Datum {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
}

/// One row read back, on either engine.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    names: Arc<[String]>,
    values: Vec<Datum>,
}

/// Names a column of a [`Record`]: its position or its name.
pub(crate) trait ColumnRef: std::fmt::Display + Copy {
    fn position(self, names: &[String]) -> Option<usize>;
}

impl ColumnRef for usize {
    fn position(self, names: &[String]) -> Option<usize> {
        (self < names.len()).then_some(self)
    }
}

impl ColumnRef for &str {
    fn position(self, names: &[String]) -> Option<usize> {
        names.iter().position(|n| n == self)
    }
}

impl Record {
    /// The column `column` as `T`. A column missing or of another type is a bug in the
    /// store's SQL (the schema is ours), so it panics as sqlx's `Row::get` does.
    #[allow(clippy::panic)]
    pub(crate) fn get<'r, T: FromDatum<'r>, C: ColumnRef>(&'r self, column: C) -> T {
        match self.try_get(column) {
            Ok(v) => v,
            Err(e) => panic!("reading column {column}: {e}"),
        }
    }

    pub(crate) fn try_get<'r, T: FromDatum<'r>, C: ColumnRef>(
        &'r self,
        column: C,
    ) -> Result<T, sqlx::Error> {
        let index = column
            .position(&self.names)
            .ok_or_else(|| sqlx::Error::ColumnNotFound(column.to_string()))?;
        T::from_datum(&self.values[index]).map_err(|message| sqlx::Error::ColumnDecode {
            index: column.to_string(),
            source: message.into(),
        })
    }
}

/// Rows as [`Record`]s, each column read by `datum` (the engine's own reading).
fn records<R: Row>(
    rows: &[R],
    datum: fn(&R, usize) -> Result<Datum, sqlx::Error>,
) -> Result<Vec<Record>, sqlx::Error> {
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let names: Arc<[String]> = first
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    rows.iter()
        .map(|row| {
            let values = (0..row.len())
                .map(|i| datum(row, i))
                .collect::<Result<_, _>>()?;
            Ok(Record {
                names: Arc::clone(&names),
                values,
            })
        })
        .collect()
}

fn sqlite_datum(row: &SqliteRow, i: usize) -> Result<Datum, sqlx::Error> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Datum::Null);
    }
    let decode_error = |e| sqlx::Error::ColumnDecode {
        index: i.to_string(),
        source: e,
    };
    // SQLite types values, not columns: read what this value is.
    Ok(match raw.type_info().name() {
        "INTEGER" | "BOOLEAN" => {
            Datum::Int(<i64 as Decode<Sqlite>>::decode(raw).map_err(decode_error)?)
        }
        "REAL" => Datum::Real(<f64 as Decode<Sqlite>>::decode(raw).map_err(decode_error)?),
        "BLOB" => Datum::Bytes(<Vec<u8> as Decode<Sqlite>>::decode(raw).map_err(decode_error)?),
        _ => Datum::Text(<String as Decode<Sqlite>>::decode(raw).map_err(decode_error)?),
    })
}

fn pg_datum(row: &PgRow, i: usize) -> Result<Datum, sqlx::Error> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Datum::Null);
    }
    let type_name = raw.type_info().name().to_owned();
    let decode_error = |e| sqlx::Error::ColumnDecode {
        index: i.to_string(),
        source: e,
    };
    Ok(match type_name.as_str() {
        "INT8" => Datum::Int(<i64 as Decode<Postgres>>::decode(raw).map_err(decode_error)?),
        "INT4" => Datum::Int(
            <i32 as Decode<Postgres>>::decode(raw)
                .map_err(decode_error)?
                .into(),
        ),
        "INT2" => Datum::Int(
            <i16 as Decode<Postgres>>::decode(raw)
                .map_err(decode_error)?
                .into(),
        ),
        "BOOL" => Datum::Int(
            <bool as Decode<Postgres>>::decode(raw)
                .map_err(decode_error)?
                .into(),
        ),
        "FLOAT8" => Datum::Real(<f64 as Decode<Postgres>>::decode(raw).map_err(decode_error)?),
        "FLOAT4" => Datum::Real(
            <f32 as Decode<Postgres>>::decode(raw)
                .map_err(decode_error)?
                .into(),
        ),
        "BYTEA" => Datum::Bytes(<Vec<u8> as Decode<Postgres>>::decode(raw).map_err(decode_error)?),
        "TEXT" | "VARCHAR" | "NAME" | "BPCHAR" => {
            Datum::Text(<String as Decode<Postgres>>::decode(raw).map_err(decode_error)?)
        }
        "VOID" => Datum::Null,
        other => {
            return Err(sqlx::Error::ColumnDecode {
                index: i.to_string(),
                source: format!(
                    "PostgreSQL type {other} is not read by the store: cast it to BIGINT, TEXT or BYTEA in the SQL"
                )
                .into(),
            });
        }
    })
}

/// A Rust value read from one [`Datum`].
pub(crate) trait FromDatum<'r>: Sized {
    fn from_datum(datum: &'r Datum) -> Result<Self, String>;
}

fn mismatch(want: &str, got: &Datum) -> String {
    let got = match got {
        Datum::Null => "NULL",
        Datum::Int(_) => "an integer",
        Datum::Real(_) => "a real number",
        Datum::Text(_) => "text",
        Datum::Bytes(_) => "bytes",
    };
    format!("expected {want}, found {got}")
}

impl FromDatum<'_> for i64 {
    fn from_datum(datum: &Datum) -> Result<Self, String> {
        match datum {
            Datum::Int(v) => Ok(*v),
            other => Err(mismatch("an integer", other)),
        }
    }
}

impl FromDatum<'_> for i32 {
    fn from_datum(datum: &Datum) -> Result<Self, String> {
        let v = i64::from_datum(datum)?;
        i32::try_from(v).map_err(|_| format!("{v} does not fit 32 bits"))
    }
}

impl FromDatum<'_> for u32 {
    fn from_datum(datum: &Datum) -> Result<Self, String> {
        let v = i64::from_datum(datum)?;
        u32::try_from(v).map_err(|_| format!("{v} does not fit an unsigned 32 bits"))
    }
}

impl FromDatum<'_> for bool {
    fn from_datum(datum: &Datum) -> Result<Self, String> {
        Ok(i64::from_datum(datum)? != 0)
    }
}

impl FromDatum<'_> for f64 {
    fn from_datum(datum: &Datum) -> Result<Self, String> {
        match datum {
            Datum::Real(v) => Ok(*v),
            #[allow(clippy::cast_precision_loss)]
            Datum::Int(v) => Ok(*v as f64),
            other => Err(mismatch("a number", other)),
        }
    }
}

impl FromDatum<'_> for String {
    fn from_datum(datum: &Datum) -> Result<Self, String> {
        match datum {
            Datum::Text(v) => Ok(v.clone()),
            other => Err(mismatch("text", other)),
        }
    }
}

impl<'r> FromDatum<'r> for &'r str {
    fn from_datum(datum: &'r Datum) -> Result<Self, String> {
        match datum {
            Datum::Text(v) => Ok(v),
            other => Err(mismatch("text", other)),
        }
    }
}

impl FromDatum<'_> for Vec<u8> {
    fn from_datum(datum: &Datum) -> Result<Self, String> {
        match datum {
            Datum::Bytes(v) => Ok(v.clone()),
            // SQLite hands back what was bound: bytes bound as text read as text.
            Datum::Text(v) => Ok(v.as_bytes().to_vec()),
            other => Err(mismatch("bytes", other)),
        }
    }
}

impl<'r> FromDatum<'r> for &'r [u8] {
    fn from_datum(datum: &'r Datum) -> Result<Self, String> {
        match datum {
            Datum::Bytes(v) => Ok(v),
            Datum::Text(v) => Ok(v.as_bytes()),
            other => Err(mismatch("bytes", other)),
        }
    }
}

impl<'r, T: FromDatum<'r>> FromDatum<'r> for Option<T> {
    fn from_datum(datum: &'r Datum) -> Result<Self, String> {
        match datum {
            Datum::Null => Ok(None),
            other => T::from_datum(other).map(Some),
        }
    }
}

/// A whole row read as a tuple, column by column.
pub(crate) trait FromRecord: Sized {
    fn from_record(record: &Record) -> Result<Self, sqlx::Error>;
}

macro_rules! tuple_from_record {
    ($($t:ident $i:tt),+) => {
        impl<$($t: for<'r> FromDatum<'r>),+> FromRecord for ($($t,)+) {
            fn from_record(record: &Record) -> Result<Self, sqlx::Error> {
                Ok(($(record.try_get::<$t, usize>($i)?,)+))
            }
        }
    };
}

/// [`FromRecord`] for a struct whose fields are named as its columns.
macro_rules! named_record {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        impl $crate::store::db::FromRecord for $ty {
            fn from_record(r: &$crate::store::db::Record) -> Result<Self, sqlx::Error> {
                Ok(Self { $($field: r.try_get(stringify!($field))?),* })
            }
        }
    };
}
pub(crate) use named_record;

tuple_from_record!(A 0);
tuple_from_record!(A 0, B 1);
tuple_from_record!(A 0, B 1, C 2);
tuple_from_record!(A 0, B 1, C 2, D 3);
tuple_from_record!(A 0, B 1, C 2, D 3, E 4);
tuple_from_record!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_from_record!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_from_record!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes_only() {
        assert_eq!(
            numbered("SELECT a FROM t WHERE b = ? AND c = '?' AND d IN (?, ?)"),
            "SELECT a FROM t WHERE b = $1 AND c = '?' AND d IN ($2, $3)"
        );
        assert_eq!(numbered("SELECT 1"), "SELECT 1");
        assert_eq!(numbered("SELECT ?2, ?1, ?1"), "SELECT $2, $1, $1");
    }

    #[test]
    fn writes_are_told_from_reads() {
        assert!(is_write("  insert into t values (1)"));
        assert!(is_write("UPDATE t SET a = 1"));
        assert!(is_write("DELETE FROM t"));
        assert!(!is_write("SELECT * FROM t"));
    }

    #[test]
    fn integers_read_as_every_width_and_nulls_as_none() {
        let record = Record {
            names: vec!["a".to_owned(), "b".to_owned()].into(),
            values: vec![Datum::Int(7), Datum::Null],
        };
        assert_eq!(record.get::<i64, _>("a"), 7);
        assert_eq!(record.get::<u32, _>(0), 7);
        assert!(record.get::<bool, _>("a"));
        assert_eq!(record.get::<Option<i64>, _>("b"), None);
        assert!(record.try_get::<i64, _>("b").is_err());
        assert!(record.try_get::<i64, _>("c").is_err());
        assert!(record.try_get::<String, _>("a").is_err());
    }
}

#[cfg(test)]
crate::store::test_support::on_both_backends! {
    use super::*;

    /// Every kind of bound value, NULLs of each type too, reads back as it went in: selected
    /// straight from the binds and stored in a table of each column type.
    #[tokio::test]
    async fn every_kind_of_value_round_trips() {
        let (store, _dir) = temp_store().await;
        let pool = &store.pool;
        let values = [
            Value::Int(Some(i64::MIN)),
            Value::Int(None),
            Value::Real(Some(-2.5)),
            Value::Real(None),
            Value::Text(Some("é ' ? \"q\"".to_owned())),
            Value::Text(None),
            Value::Bytes(Some(vec![0, 255, 39, 63])),
            Value::Bytes(None),
        ];
        let expected = [
            Datum::Int(i64::MIN),
            Datum::Null,
            Datum::Real(-2.5),
            Datum::Null,
            Datum::Text("é ' ? \"q\"".to_owned()),
            Datum::Null,
            Datum::Bytes(vec![0, 255, 39, 63]),
            Datum::Null,
        ];
        let mut select = query("SELECT ?, ?, ?, ?, ?, ?, ?, ?");
        for value in &values {
            select = select.bind(value.clone());
        }
        assert_eq!(select.fetch_one(pool).await.unwrap().values, expected);

        let columns = match pool.backend() {
            Backend::Sqlite => "i INTEGER, ni INTEGER, r REAL, nr REAL, t TEXT, nt TEXT, b BLOB, nb BLOB",
            Backend::Postgres => {
                "i BIGINT, ni BIGINT, r DOUBLE PRECISION, nr DOUBLE PRECISION, t TEXT, nt TEXT, \
                 b BYTEA, nb BYTEA"
            }
        };
        query(format!("CREATE TABLE round_trip ({columns})"))
            .execute(pool)
            .await
            .unwrap();
        let mut insert = query("INSERT INTO round_trip VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
        for value in &values {
            insert = insert.bind(value.clone());
        }
        assert_eq!(insert.execute(pool).await.unwrap().rows_affected(), 1);
        let row = query("SELECT * FROM round_trip").fetch_one(pool).await.unwrap();
        assert_eq!(row.values, expected);
        assert_eq!(row.get::<i64, _>("i"), i64::MIN);
        assert_eq!(row.get::<Option<i64>, _>("ni"), None);
        assert_eq!(row.get::<Option<f64>, _>("nr"), None);
        assert_eq!(row.get::<Option<String>, _>("nt"), None);
        assert_eq!(row.get::<Option<Vec<u8>>, _>("nb"), None);
        assert_eq!(row.get::<&[u8], _>("b"), [0, 255, 39, 63]);

        // Flags, comparisons and every integer width read as i64 0/1 and numbers.
        let row = query(
            "SELECT ? AS flag, 1 = 1 AS yes, 1 = 2 AS no, CAST(7 AS SMALLINT) AS small,
                    CAST(8 AS INTEGER) AS int, COUNT(*) AS n FROM round_trip",
        )
        .bind(true)
        .fetch_one(pool)
        .await
        .unwrap();
        let read: (i64, bool, bool, i64, i64, i64) = FromRecord::from_record(&row).unwrap();
        assert_eq!(read, (1, true, false, 7, 8, 1));
        assert_eq!(row.get::<i64, _>("yes"), 1);
    }
}
