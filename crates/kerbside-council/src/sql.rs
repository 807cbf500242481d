//! Statements that run on either backend: through sqlx on PostgreSQL (and on pool connections),
//! through rusqlite on SQLite's writer connection (see `store::Batch`).
//!
//! The SQL text is the same for both: `$1`, `$2`… placeholders, which SQLite takes as named
//! parameters and which are bound here by their number. Rows are read by column name on both
//! ([`FromSqliteRow`] beside sqlx's `FromRow`), so one row type serves both paths.

use sqlx::any::AnyRow;
use std::future::Future;

/// A value bound to a placeholder. A null is bound as a text null: PostgreSQL types the
/// parameter from it, and every nullable column the council binds is text.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    Int(i64),
    Text(String),
    NullText,
}

impl From<i64> for Arg {
    fn from(value: i64) -> Arg {
        Arg::Int(value)
    }
}
impl From<String> for Arg {
    fn from(value: String) -> Arg {
        Arg::Text(value)
    }
}
impl From<&String> for Arg {
    fn from(value: &String) -> Arg {
        Arg::Text(value.clone())
    }
}
impl From<&str> for Arg {
    fn from(value: &str) -> Arg {
        Arg::Text(value.to_string())
    }
}
impl From<Option<String>> for Arg {
    fn from(value: Option<String>) -> Arg {
        value.map_or(Arg::NullText, Arg::Text)
    }
}
impl From<Option<&String>> for Arg {
    fn from(value: Option<&String>) -> Arg {
        value.map_or(Arg::NullText, |v| Arg::Text(v.clone()))
    }
}
impl From<Option<&str>> for Arg {
    fn from(value: Option<&str>) -> Arg {
        value.map_or(Arg::NullText, |v| Arg::Text(v.to_string()))
    }
}

impl rusqlite::ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Arg::Int(v) => ValueRef::Integer(*v),
            Arg::Text(v) => ValueRef::Text(v.as_bytes()),
            Arg::NullText => ValueRef::Null,
        }))
    }
}

/// One statement and its arguments, in placeholder order.
#[derive(Clone, Debug)]
pub struct Query<'q> {
    sql: &'q str,
    args: Vec<Arg>,
}

/// A statement to bind arguments to, as `sqlx::query` is.
pub fn query(sql: &str) -> Query<'_> {
    Query {
        sql,
        args: Vec::new(),
    }
}

impl<'q> Query<'q> {
    #[must_use]
    pub fn bind(mut self, value: impl Into<Arg>) -> Self {
        self.args.push(value.into());
        self
    }

    /// The same statement for sqlx.
    pub(crate) fn into_sqlx(
        self,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        let mut statement = sqlx::query(self.sql);
        for arg in self.args {
            statement = match arg {
                Arg::Int(v) => statement.bind(v),
                Arg::Text(v) => statement.bind(v),
                Arg::NullText => statement.bind(None::<String>),
            };
        }
        statement
    }

    /// Prepares (or takes from the connection's cache) and binds the statement: each `$N`
    /// placeholder gets the N-th argument.
    pub(crate) fn prepare<'c>(
        &self,
        conn: &'c rusqlite::Connection,
    ) -> rusqlite::Result<rusqlite::CachedStatement<'c>> {
        let mut statement = conn.prepare_cached(self.sql)?;
        for index in 1..=statement.parameter_count() {
            let name = statement.parameter_name(index).unwrap_or("?");
            let arg = name
                .strip_prefix('$')
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| self.args.get(n.checked_sub(1)?))
                .ok_or_else(|| rusqlite::Error::InvalidParameterName(name.to_string()))?;
            statement.raw_bind_parameter(index, arg)?;
        }
        Ok(statement)
    }

    /// Runs the statement on a rusqlite connection: the rows it changed.
    pub(crate) fn execute_sqlite(&self, conn: &rusqlite::Connection) -> rusqlite::Result<u64> {
        let mut statement = self.prepare(conn)?;
        if statement.column_count() == 0 {
            return Ok(statement.raw_execute()? as u64);
        }
        // A statement with RETURNING: its rows are stepped through, not read.
        let mut rows = statement.raw_query();
        while rows.next()?.is_some() {}
        Ok(conn.changes())
    }

    pub(crate) fn fetch_all_sqlite<T: FromSqliteRow>(
        &self,
        conn: &rusqlite::Connection,
    ) -> rusqlite::Result<Vec<T>> {
        let mut statement = self.prepare(conn)?;
        let columns = T::columns(&statement)?;
        let mut rows = statement.raw_query();
        let mut all = Vec::new();
        while let Some(row) = rows.next()? {
            all.push(T::from_sqlite(row, &columns)?);
        }
        Ok(all)
    }

    pub(crate) fn fetch_optional_sqlite<T: FromSqliteRow>(
        &self,
        conn: &rusqlite::Connection,
    ) -> rusqlite::Result<Option<T>> {
        let mut statement = self.prepare(conn)?;
        let columns = T::columns(&statement)?;
        let mut rows = statement.raw_query();
        rows.next()?
            .map(|row| T::from_sqlite(row, &columns))
            .transpose()
    }
}

impl Query<'_> {
    /// Runs the statement on `on`: the rows it changed.
    pub async fn execute(self, on: &mut impl Queries) -> Result<u64, sqlx::Error> {
        on.execute(self).await
    }
}

/// A statement whose rows are read as `T`, as `sqlx::query_as` is.
pub fn query_as<T: Row>(sql: &str) -> QueryAs<'_, T> {
    QueryAs {
        query: query(sql),
        row: std::marker::PhantomData,
    }
}

pub struct QueryAs<'q, T> {
    query: Query<'q>,
    row: std::marker::PhantomData<fn() -> T>,
}

impl<T: Row> QueryAs<'_, T> {
    #[must_use]
    pub fn bind(mut self, value: impl Into<Arg>) -> Self {
        self.query = self.query.bind(value);
        self
    }
    pub async fn fetch_all(self, on: &mut impl Queries) -> Result<Vec<T>, sqlx::Error> {
        on.fetch_all(self.query).await
    }
    pub async fn fetch_optional(self, on: &mut impl Queries) -> Result<Option<T>, sqlx::Error> {
        on.fetch_optional(self.query).await
    }
    pub async fn fetch_one(self, on: &mut impl Queries) -> Result<T, sqlx::Error> {
        on.fetch_one(self.query).await
    }
}

/// A statement that reads one column, as `sqlx::query_scalar` does.
pub fn query_scalar<T>(sql: &str) -> QueryScalar<'_, T>
where
    (T,): Row,
{
    QueryScalar {
        rows: query_as(sql),
    }
}

pub struct QueryScalar<'q, T> {
    rows: QueryAs<'q, (T,)>,
}

impl<T> QueryScalar<'_, T>
where
    (T,): Row,
{
    #[must_use]
    pub fn bind(mut self, value: impl Into<Arg>) -> Self {
        self.rows = self.rows.bind(value);
        self
    }
    pub async fn fetch_all(self, on: &mut impl Queries) -> Result<Vec<T>, sqlx::Error> {
        Ok(self
            .rows
            .fetch_all(on)
            .await?
            .into_iter()
            .map(|(value,)| value)
            .collect())
    }
    pub async fn fetch_optional(self, on: &mut impl Queries) -> Result<Option<T>, sqlx::Error> {
        Ok(self.rows.fetch_optional(on).await?.map(|(value,)| value))
    }
    pub async fn fetch_one(self, on: &mut impl Queries) -> Result<T, sqlx::Error> {
        Ok(self.rows.fetch_one(on).await?.0)
    }
}

/// A row read through rusqlite, by column name as sqlx's `FromRow` reads the same row.
pub trait FromSqliteRow: Sized {
    /// Where the row's values are among a statement's columns, found once per statement:
    /// rusqlite finds a column by name by comparing it with every column's name, and done for
    /// each field of each row that cost ~3 % of the council's CPU (docs/BENCHMARKS.md, fix 22).
    type Columns;
    fn columns(statement: &rusqlite::Statement) -> rusqlite::Result<Self::Columns>;
    fn from_sqlite(row: &rusqlite::Row, columns: &Self::Columns) -> rusqlite::Result<Self>;
}

macro_rules! tuple_from_sqlite_row {
    ($($name:ident $index:tt),+) => {
        impl<$($name: rusqlite::types::FromSql),+> FromSqliteRow for ($($name,)+) {
            type Columns = ();
            fn columns(_: &rusqlite::Statement) -> rusqlite::Result<()> {
                Ok(())
            }
            fn from_sqlite(row: &rusqlite::Row, _: &()) -> rusqlite::Result<Self> {
                Ok(($(row.get::<_, $name>($index)?,)+))
            }
        }
    };
}
tuple_from_sqlite_row!(A 0);
tuple_from_sqlite_row!(A 0, B 1);
tuple_from_sqlite_row!(A 0, B 1, C 2);
tuple_from_sqlite_row!(A 0, B 1, C 2, D 3);

/// [`FromSqliteRow`] for a row type whose fields are named as its columns, as sqlx's derived
/// `FromRow` reads them; a field left out does not compile.
macro_rules! from_sqlite_columns {
    ($row_type:ident { $($field:ident),+ $(,)? }) => {
        impl $crate::sql::FromSqliteRow for $row_type {
            /// Each field's column, in the order the fields are listed.
            type Columns = Vec<usize>;
            // The last field's `after` is never read.
            #[allow(unused_assignments)]
            fn columns(statement: &rusqlite::Statement) -> rusqlite::Result<Vec<usize>> {
                let mut after = 0;
                Ok(vec![$({
                    let column = $crate::sql::column_of(statement, stringify!($field), after)?;
                    after = column + 1;
                    column
                }),+])
            }
            fn from_sqlite(row: &rusqlite::Row, columns: &Vec<usize>) -> rusqlite::Result<Self> {
                // Struct fields are initialised in the order written: the listed order.
                let mut column = columns.iter().copied();
                Ok($row_type {
                    $($field: row.get(column.next().expect("a column per field"))?),+
                })
            }
        }
    };
}
pub(crate) use from_sqlite_columns;

/// [`FromSqliteRow`] for a row type made of another row type (its field `$inner`, which sqlx
/// reads with `#[sqlx(flatten)]`) and columns of its own, named as its other fields.
macro_rules! from_sqlite_row_and_columns {
    ($row_type:ident { $inner:ident: $inner_type:ident, $($field:ident),+ $(,)? }) => {
        impl $crate::sql::FromSqliteRow for $row_type {
            /// The inner row's columns, then each own field's, in the order listed.
            type Columns = (<$inner_type as $crate::sql::FromSqliteRow>::Columns, Vec<usize>);
            fn columns(statement: &rusqlite::Statement) -> rusqlite::Result<Self::Columns> {
                Ok((
                    <$inner_type as $crate::sql::FromSqliteRow>::columns(statement)?,
                    vec![$(statement.column_index(stringify!($field))?),+],
                ))
            }
            fn from_sqlite(row: &rusqlite::Row, columns: &Self::Columns) -> rusqlite::Result<Self> {
                let mut own = columns.1.iter().copied();
                Ok($row_type {
                    $inner: <$inner_type as $crate::sql::FromSqliteRow>::from_sqlite(
                        row,
                        &columns.0,
                    )?,
                    $($field: row.get(own.next().expect("a column per field"))?),+
                })
            }
        }
    };
}
pub(crate) use from_sqlite_row_and_columns;

/// The column named `name`, looked for first from column `after` on (the council's `SELECT`s
/// list their row type's columns in its fields' order, sometimes with others between), then
/// among all columns.
pub(crate) fn column_of(
    statement: &rusqlite::Statement,
    name: &str,
    after: usize,
) -> rusqlite::Result<usize> {
    for column in after..statement.column_count() {
        if statement.column_name(column)? == name {
            return Ok(column);
        }
    }
    statement.column_index(name)
}

/// A row type both paths can read.
pub trait Row: FromSqliteRow + for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin {}
impl<T: FromSqliteRow + for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin> Row for T {}

/// Where statements run: a write transaction ([`crate::store::WriteTransaction`]) or a pool
/// connection (reads that need one connection for several statements).
pub trait Queries: Send {
    /// Runs a statement: the rows it changed.
    fn execute(
        &mut self,
        query: Query<'_>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;
    fn fetch_all<T: Row>(
        &mut self,
        query: Query<'_>,
    ) -> impl Future<Output = Result<Vec<T>, sqlx::Error>> + Send;
    fn fetch_optional<T: Row>(
        &mut self,
        query: Query<'_>,
    ) -> impl Future<Output = Result<Option<T>, sqlx::Error>> + Send;
    /// The row a statement must find (an aggregate, say).
    fn fetch_one<T: Row>(
        &mut self,
        query: Query<'_>,
    ) -> impl Future<Output = Result<T, sqlx::Error>> + Send {
        async move {
            self.fetch_optional(query)
                .await?
                .ok_or(sqlx::Error::RowNotFound)
        }
    }
}

impl Queries for sqlx::AnyConnection {
    async fn execute(&mut self, query: Query<'_>) -> Result<u64, sqlx::Error> {
        Ok(query.into_sqlx().execute(self).await?.rows_affected())
    }
    async fn fetch_all<T: Row>(&mut self, query: Query<'_>) -> Result<Vec<T>, sqlx::Error> {
        let rows = query.into_sqlx().fetch_all(&mut *self).await?;
        rows.iter().map(T::from_row).collect()
    }
    async fn fetch_optional<T: Row>(&mut self, query: Query<'_>) -> Result<Option<T>, sqlx::Error> {
        let row = query.into_sqlx().fetch_optional(&mut *self).await?;
        row.as_ref().map(T::from_row).transpose()
    }
}

impl Queries for sqlx::pool::PoolConnection<sqlx::Any> {
    async fn execute(&mut self, query: Query<'_>) -> Result<u64, sqlx::Error> {
        Queries::execute(&mut **self, query).await
    }
    async fn fetch_all<T: Row>(&mut self, query: Query<'_>) -> Result<Vec<T>, sqlx::Error> {
        Queries::fetch_all(&mut **self, query).await
    }
    async fn fetch_optional<T: Row>(&mut self, query: Query<'_>) -> Result<Option<T>, sqlx::Error> {
        Queries::fetch_optional(&mut **self, query).await
    }
}

/// A rusqlite error as sqlx reports a database's own, so callers tell a constraint violation
/// (an email already registered, say) the same way on both backends.
#[derive(Debug)]
pub struct SqliteError {
    error: rusqlite::Error,
    message: String,
}

impl From<rusqlite::Error> for SqliteError {
    fn from(error: rusqlite::Error) -> SqliteError {
        SqliteError {
            message: error.to_string(),
            error,
        }
    }
}

/// Any rusqlite error as a sqlx one.
pub fn sqlx_error(error: rusqlite::Error) -> sqlx::Error {
    sqlx::Error::Database(Box::new(SqliteError::from(error)))
}

impl std::fmt::Display for SqliteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqliteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl SqliteError {
    fn extended_code(&self) -> Option<std::ffi::c_int> {
        match &self.error {
            rusqlite::Error::SqliteFailure(failure, _) => Some(failure.extended_code),
            _ => None,
        }
    }
}

impl sqlx::error::DatabaseError for SqliteError {
    fn message(&self) -> &str {
        &self.message
    }
    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.extended_code().map(|code| code.to_string().into())
    }
    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }
    fn kind(&self) -> sqlx::error::ErrorKind {
        use rusqlite::ffi;
        use sqlx::error::ErrorKind;
        match self.extended_code() {
            Some(ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => {
                ErrorKind::UniqueViolation
            }
            Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => ErrorKind::ForeignKeyViolation,
            Some(ffi::SQLITE_CONSTRAINT_NOTNULL) => ErrorKind::NotNullViolation,
            Some(ffi::SQLITE_CONSTRAINT_CHECK) => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> rusqlite::Connection {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT NOT NULL, note TEXT, CHECK (n >= 0))",
        )
        .unwrap();
        conn
    }

    #[derive(Debug, PartialEq)]
    struct Named {
        id: String,
        n: i64,
        note: Option<String>,
    }
    from_sqlite_columns!(Named { id, n, note });

    #[test]
    fn a_row_type_takes_each_field_from_its_own_column_whatever_the_order_of_the_select() {
        let conn = conn();
        for (id, n, note) in [("a", 1, None), ("b", 2, Some("two"))] {
            query("INSERT INTO t (id, n, note) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(n)
                .bind(note)
                .execute_sqlite(&conn)
                .unwrap();
        }
        let rows: Vec<Named> = query("SELECT note, id, n FROM t ORDER BY id")
            .fetch_all_sqlite(&conn)
            .unwrap();
        let expected = |id: &str, n, note: Option<&str>| Named {
            id: id.into(),
            n,
            note: note.map(String::from),
        };
        assert_eq!(
            rows,
            [expected("a", 1, None), expected("b", 2, Some("two"))]
        );
        let in_order: Vec<Named> = query("SELECT id, n, note FROM t ORDER BY id")
            .fetch_all_sqlite(&conn)
            .unwrap();
        assert_eq!(in_order, rows);
        let missing = query("SELECT id, n FROM t").fetch_all_sqlite::<Named>(&conn);
        assert!(missing.is_err(), "a column missing: {missing:?}");
    }

    #[test]
    fn each_numbered_placeholder_takes_its_own_argument_whatever_the_order_in_the_text() {
        let conn = conn();
        let insert = query("INSERT INTO t (note, n, id) VALUES ($3, $2, $1)")
            .bind("a")
            .bind(7_i64)
            .bind(None::<String>);
        assert_eq!(insert.execute_sqlite(&conn).unwrap(), 1);
        let (id, n, note): (String, i64, Option<String>) = query(
            "SELECT id, n, note FROM t WHERE id = $1 AND n = $2 AND (note IS NULL OR note = $1)",
        )
        .bind("a")
        .bind(7_i64)
        .fetch_optional_sqlite(&conn)
        .unwrap()
        .expect("the row");
        assert_eq!((id.as_str(), n, note), ("a", 7, None));
    }

    #[test]
    fn a_placeholder_without_an_argument_is_an_error_not_a_null() {
        let conn = conn();
        let missing = query("INSERT INTO t (id, n) VALUES ($1, $2)").bind("a");
        assert!(matches!(
            missing.execute_sqlite(&conn),
            Err(rusqlite::Error::InvalidParameterName(name)) if name == "$2"
        ));
        let count: (i64,) = query("SELECT COUNT(*) FROM t")
            .fetch_optional_sqlite(&conn)
            .unwrap()
            .unwrap();
        assert_eq!(count.0, 0);
    }

    #[test]
    fn constraint_violations_are_told_apart_as_sqlx_tells_them() {
        use sqlx::error::ErrorKind;
        let conn = conn();
        query("INSERT INTO t (id, n) VALUES ('a', 1)")
            .execute_sqlite(&conn)
            .unwrap();
        let kind = |sql: &str| match sqlx_error(query(sql).execute_sqlite(&conn).unwrap_err()) {
            sqlx::Error::Database(e) => e.kind(),
            other => panic!("{other}"),
        };
        assert_eq!(
            kind("INSERT INTO t (id, n) VALUES ('a', 2)"),
            ErrorKind::UniqueViolation
        );
        assert_eq!(
            kind("INSERT INTO t (id, n) VALUES ('b', NULL)"),
            ErrorKind::NotNullViolation
        );
        assert_eq!(
            kind("INSERT INTO t (id, n) VALUES ('c', -1)"),
            ErrorKind::CheckViolation
        );
        assert_eq!(kind("INSERT INTO nowhere VALUES (1)"), ErrorKind::Other);
    }

    #[test]
    fn a_statement_with_returning_reports_the_rows_it_changed() {
        let conn = conn();
        query("INSERT INTO t (id, n) VALUES ('a', 1), ('b', 2)")
            .execute_sqlite(&conn)
            .unwrap();
        let changed = query("UPDATE t SET n = n + 1 RETURNING id")
            .execute_sqlite(&conn)
            .unwrap();
        assert_eq!(changed, 2);
        let rows: Vec<(String, i64)> = query("SELECT id, n FROM t ORDER BY id")
            .fetch_all_sqlite(&conn)
            .unwrap();
        assert_eq!(rows, [("a".to_string(), 2), ("b".to_string(), 3)]);
    }
}
