//! The parameters of the SQL drivers' statements (`Sqlite`, `Postgres`), in testrig's own
//! types: the drivers' APIs do not expose the client crates behind them (0.x crates whose
//! major versions would otherwise become testrig's), so a plan needs no `rusqlite` or
//! `postgres` of its own to bind values.

/// A value bound to a statement's parameter: one of SQLite's storage classes.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SqlValue {
    /// `NULL` (also what `None` binds).
    Null,
    /// A signed 64-bit integer (bools bind as 0 and 1).
    Integer(i64),
    /// A 64-bit float.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

macro_rules! integer_values {
    ($($integer:ty),*) => {$(
        impl From<$integer> for SqlValue {
            fn from(value: $integer) -> SqlValue {
                SqlValue::Integer(i64::from(value))
            }
        }
    )*};
}
integer_values!(i8, i16, i32, i64, u8, u16, u32, bool);

impl From<f32> for SqlValue {
    fn from(value: f32) -> SqlValue {
        SqlValue::Real(f64::from(value))
    }
}

impl From<f64> for SqlValue {
    fn from(value: f64) -> SqlValue {
        SqlValue::Real(value)
    }
}

impl From<&str> for SqlValue {
    fn from(value: &str) -> SqlValue {
        SqlValue::Text(value.to_string())
    }
}

impl From<String> for SqlValue {
    fn from(value: String) -> SqlValue {
        SqlValue::Text(value)
    }
}

impl From<&String> for SqlValue {
    fn from(value: &String) -> SqlValue {
        SqlValue::Text(value.clone())
    }
}

impl From<Vec<u8>> for SqlValue {
    fn from(value: Vec<u8>) -> SqlValue {
        SqlValue::Blob(value)
    }
}

impl From<&[u8]> for SqlValue {
    fn from(value: &[u8]) -> SqlValue {
        SqlValue::Blob(value.to_vec())
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(value: Option<T>) -> SqlValue {
        value.map_or(SqlValue::Null, Into::into)
    }
}

#[cfg(feature = "sqlite")]
impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value as StoredValue};
        Ok(ToSqlOutput::Owned(match self {
            SqlValue::Null => StoredValue::Null,
            SqlValue::Integer(value) => StoredValue::Integer(*value),
            SqlValue::Real(value) => StoredValue::Real(*value),
            SqlValue::Text(value) => StoredValue::Text(value.clone()),
            SqlValue::Blob(value) => StoredValue::Blob(value.clone()),
        }))
    }
}

/// A decimal's exact text as a result cell: a JSON number when it reads back the same (an
/// integer, or a fraction a float holds exactly to its digits), else the text itself, so no
/// digit is lost.
#[cfg(any(feature = "postgres", feature = "mariadb"))]
pub(crate) fn decimal_cell(text: &str) -> serde_json::Value {
    if let Ok(number) = text.parse::<i64>() {
        return serde_json::Value::from(number);
    }
    let scale = text
        .split_once('.')
        .map_or(0, |(_, fraction)| fraction.len());
    match text.parse::<f64>() {
        Ok(number) if format!("{number:.scale$}") == text => serde_json::Number::from_f64(number)
            .map_or_else(|| serde_json::Value::from(text), serde_json::Value::Number),
        _ => serde_json::Value::from(text),
    }
}

/// The first cell of the first row of a query's result (`select count(*) …`); no rows is an
/// error naming the query and the driver.
#[cfg(any(feature = "postgres", feature = "mariadb"))]
pub(crate) fn first_cell(
    rows: Vec<Vec<serde_json::Value>>,
    sql: &str,
    driver: &str,
) -> Result<serde_json::Value, crate::env::DriverError> {
    rows.into_iter()
        .next()
        .and_then(|row| row.into_iter().next())
        .ok_or_else(|| {
            crate::env::DriverError::new(format!("query `{sql}` of {driver} returned no rows"))
        })
}

/// The positional parameters of a statement (`?1`, `?2`, … in SQLite, `$1`, `$2`, … in
/// PostgreSQL): `()` for none, a tuple of
/// values of different types (`(1, "alice", None::<f64>)`), or an array or `Vec` of values
/// of one type (`["bob"]`, `vec![1, 2]`).
pub trait SqlParams {
    /// The values, in order.
    fn into_values(self) -> Vec<SqlValue>;
}

impl SqlParams for () {
    fn into_values(self) -> Vec<SqlValue> {
        Vec::new()
    }
}

impl<T: Into<SqlValue>, const N: usize> SqlParams for [T; N] {
    fn into_values(self) -> Vec<SqlValue> {
        self.into_iter().map(Into::into).collect()
    }
}

impl<T: Into<SqlValue>> SqlParams for Vec<T> {
    fn into_values(self) -> Vec<SqlValue> {
        self.into_iter().map(Into::into).collect()
    }
}

macro_rules! tuple_params {
    ($($name:ident),+) => {
        impl<$($name: Into<SqlValue>),+> SqlParams for ($($name,)+) {
            #[allow(non_snake_case)]
            fn into_values(self) -> Vec<SqlValue> {
                let ($($name,)+) = self;
                vec![$($name.into()),+]
            }
        }
    };
}
tuple_params!(A);
tuple_params!(A, B);
tuple_params!(A, B, C);
tuple_params!(A, B, C, D);
tuple_params!(A, B, C, D, E);
tuple_params!(A, B, C, D, E, F);
tuple_params!(A, B, C, D, E, F, G);
tuple_params!(A, B, C, D, E, F, G, H);

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(any(feature = "postgres", feature = "mariadb"))]
    #[test]
    fn decimals_are_numbers_only_when_no_digit_is_lost() {
        assert_eq!(decimal_cell("42"), serde_json::json!(42));
        assert_eq!(decimal_cell("-0.05"), serde_json::json!(-0.05));
        assert_eq!(decimal_cell("187.25"), serde_json::json!(187.25));
        assert_eq!(
            decimal_cell("1.12345678901234567890"),
            serde_json::json!("1.12345678901234567890")
        );
        assert_eq!(
            decimal_cell("123456789012345678901"),
            serde_json::json!("123456789012345678901")
        );
    }

    #[test]
    fn values_convert_to_their_storage_class() {
        assert_eq!(
            (1, "a", 2.5, true, None::<i32>, vec![7u8]).into_values(),
            [
                SqlValue::Integer(1),
                SqlValue::Text("a".into()),
                SqlValue::Real(2.5),
                SqlValue::Integer(1),
                SqlValue::Null,
                SqlValue::Blob(vec![7]),
            ]
        );
        assert!(().into_values().is_empty());
        assert_eq!(["x", "y"].into_values().len(), 2);
        assert_eq!(vec![Some(3u8), None].into_values()[1], SqlValue::Null);
    }
}
