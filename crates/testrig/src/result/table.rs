//! Table assertions of the recorder: tables are rows of named columns, compared cell by cell
//! (`result.table().matches(…)`), checked column-wise (`.column_contain`) or logged (`.log`).
//!
//! Cells are JSON values, so any `Serialize` data can become a table; expected cells are
//! [`Comparator`]s, so a cell may be a literal, a regex, a predicate or "any value". The
//! recorded entry holds every compared cell with a pass flag and notes for problems that are
//! not tied to a cell, and is emitted to the report builder through [`Recorder::record`].

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;
use testrig_model::{ColumnContainRow, EntryDetail, TableCell};

use super::Recorder;
use super::comparator::{Comparator, display_value, values_equal};

/// Rows of named columns holding JSON values: the actual side of table assertions.
///
/// ```
/// use testrig::result::Table;
/// let people = Table::new(["name", "age"], [("alice", 30), ("bob", 25)]);
/// assert_eq!(people.cell(1, "name"), Some(&serde_json::json!("bob")));
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

/// A row as cells: arrays and tuples by position, objects (maps, structs) by column name, a
/// lone value as a one-cell row.
fn row_cells(columns: &[String], row: Value) -> Vec<Value> {
    match row {
        Value::Array(cells) => cells,
        Value::Object(mut fields) => columns
            .iter()
            .map(|column| fields.remove(column).unwrap_or(Value::Null))
            .collect(),
        other => vec![other],
    }
}

/// Serializes user data, turning a failure into a cell that says so: tables are built
/// outside any assertion, so there is no entry to fail yet and the comparison will show it.
fn to_json(value: impl Serialize) -> Value {
    serde_json::to_value(value)
        .unwrap_or_else(|error| Value::String(format!("<unserializable: {error}>")))
}

impl Table {
    /// A table with `columns` whose rows are anything serializable: tuples or arrays (cells
    /// by position) or maps and structs (cells by column name, `null` when absent).
    ///
    /// Rows are kept as given even when their length differs from the columns', so a ragged
    /// table under test shows up as missing or extra cells instead of a panic.
    pub fn new<R: Serialize>(
        columns: impl IntoIterator<Item = impl Into<String>>,
        rows: impl IntoIterator<Item = R>,
    ) -> Table {
        let columns: Vec<String> = columns.into_iter().map(Into::into).collect();
        let rows = rows
            .into_iter()
            .map(|row| row_cells(&columns, to_json(row)))
            .collect();
        Table { columns, rows }
    }

    /// A table from a list of records (maps or structs): the columns are every key seen, in
    /// first-seen order, and a record without a key has `null` there.
    pub fn from_records<R: Serialize>(records: impl IntoIterator<Item = R>) -> Table {
        let records: Vec<Value> = records.into_iter().map(to_json).collect();
        let mut columns: Vec<String> = Vec::new();
        for record in &records {
            if let Value::Object(fields) = record {
                for key in fields.keys() {
                    if !columns.contains(key) {
                        columns.push(key.clone());
                    }
                }
            }
        }
        let rows = records
            .into_iter()
            .map(|record| row_cells(&columns, record))
            .collect();
        Table { columns, rows }
    }

    /// The column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The rows of cells.
    pub fn rows(&self) -> &[Vec<Value>] {
        &self.rows
    }

    /// Where `column` is, if the table has it.
    pub fn column_index(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|name| name == column)
    }

    /// The cell in row `row` of `column`.
    pub fn cell(&self, row: usize, column: &str) -> Option<&Value> {
        let index = self.column_index(column)?;
        self.rows.get(row)?.get(index)
    }
}

impl<K: Serialize, V: Serialize> From<Vec<BTreeMap<K, V>>> for Table {
    fn from(records: Vec<BTreeMap<K, V>>) -> Table {
        Table::from_records(records)
    }
}

impl<K: Serialize, V: Serialize> From<Vec<HashMap<K, V>>> for Table {
    fn from(records: Vec<HashMap<K, V>>) -> Table {
        Table::from_records(records)
    }
}

/// The expected side of [`TableAssertions::matches`]: like a [`Table`], but every cell is a
/// [`Comparator`].
///
/// ```
/// use testrig::result::{Comparator, ExpectedTable, Table};
/// let expected = ExpectedTable::new(
///     ["name", "age"],
///     [vec![Comparator::regex("^al"), 30.into()], vec!["bob".into(), Comparator::any()]],
/// );
/// // Or start from literal values and loosen some of them:
/// let expected = ExpectedTable::from(Table::new(["id", "name"], [(1, "alice")]))
///     .with_column("id", Comparator::any());
/// ```
#[derive(Debug, Clone, Default)]
pub struct ExpectedTable {
    columns: Vec<String>,
    rows: Vec<Vec<Comparator>>,
}

impl ExpectedTable {
    /// An expected table from columns and rows of comparators (literals convert with `into`).
    pub fn new<C: Into<Comparator>, R: IntoIterator<Item = C>>(
        columns: impl IntoIterator<Item = impl Into<String>>,
        rows: impl IntoIterator<Item = R>,
    ) -> ExpectedTable {
        ExpectedTable {
            columns: columns.into_iter().map(Into::into).collect(),
            rows: rows
                .into_iter()
                .map(|row| row.into_iter().map(Into::into).collect())
                .collect(),
        }
    }

    /// Replaces the expected cell at `row` of `column` (no effect if either is absent).
    pub fn with_cell(mut self, row: usize, column: &str, comparator: Comparator) -> ExpectedTable {
        if let Some(index) = self.columns.iter().position(|name| name == column)
            && let Some(cell) = self
                .rows
                .get_mut(row)
                .and_then(|cells| cells.get_mut(index))
        {
            *cell = comparator;
        }
        self
    }

    /// Uses `comparator` for every row of `column` (no effect if the column is absent).
    pub fn with_column(mut self, column: &str, comparator: Comparator) -> ExpectedTable {
        if let Some(index) = self.columns.iter().position(|name| name == column) {
            for cells in &mut self.rows {
                if let Some(cell) = cells.get_mut(index) {
                    *cell = comparator.clone();
                }
            }
        }
        self
    }

    /// The column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The rows of comparators.
    pub fn rows(&self) -> &[Vec<Comparator>] {
        &self.rows
    }
}

impl From<Table> for ExpectedTable {
    fn from(table: Table) -> ExpectedTable {
        ExpectedTable {
            columns: table.columns,
            rows: table
                .rows
                .into_iter()
                .map(|row| row.into_iter().map(Comparator::from).collect())
                .collect(),
        }
    }
}

impl From<&Table> for ExpectedTable {
    fn from(table: &Table) -> ExpectedTable {
        ExpectedTable::from(table.clone())
    }
}

impl From<&ExpectedTable> for ExpectedTable {
    fn from(table: &ExpectedTable) -> ExpectedTable {
        table.clone()
    }
}

/// Which columns [`TableAssertions::match_with`] compares.
///
/// By default every column of either table is compared, and a column only one table has
/// fails. `include_columns` narrows the comparison to the named columns; `exclude_columns`
/// leaves the named ones out.
#[derive(Debug, Clone, Default)]
pub struct TableMatchOptions {
    include_columns: Vec<String>,
    exclude_columns: Vec<String>,
}

impl TableMatchOptions {
    /// Compare every column.
    pub fn new() -> TableMatchOptions {
        TableMatchOptions::default()
    }

    /// Compare only these columns.
    pub fn include_columns(
        mut self,
        columns: impl IntoIterator<Item = impl Into<String>>,
    ) -> TableMatchOptions {
        self.include_columns
            .extend(columns.into_iter().map(Into::into));
        self
    }

    /// Do not compare these columns.
    pub fn exclude_columns(
        mut self,
        columns: impl IntoIterator<Item = impl Into<String>>,
    ) -> TableMatchOptions {
        self.exclude_columns
            .extend(columns.into_iter().map(Into::into));
        self
    }

    /// The columns to compare, in order: expected's, then actual's extras (or the included
    /// ones as named), minus the excluded.
    fn columns_to_compare(&self, actual: &Table, expected: &ExpectedTable) -> Vec<String> {
        let candidates: Vec<String> = if self.include_columns.is_empty() {
            let mut all = expected.columns.clone();
            all.extend(
                actual
                    .columns
                    .iter()
                    .filter(|column| !expected.columns.contains(column))
                    .cloned(),
            );
            all
        } else {
            self.include_columns.clone()
        };
        let mut chosen: Vec<String> = Vec::new();
        for column in candidates {
            if !self.exclude_columns.contains(&column) && !chosen.contains(&column) {
                chosen.push(column);
            }
        }
        chosen
    }
}

/// The table assertions, borrowed from a recorder with [`Recorder::table`].
#[derive(Debug)]
pub struct TableAssertions<'a> {
    recorder: &'a mut Recorder,
}

impl Recorder {
    /// The table assertion family.
    ///
    /// `result.table().matches(&actual, &expected, "rows stored")`
    pub fn table(&mut self) -> TableAssertions<'_> {
        TableAssertions { recorder: self }
    }
}

impl TableAssertions<'_> {
    /// Compares every cell of every column; passes when all cells match, both tables have the
    /// same rows and the same columns.
    ///
    /// `result.table().matches(&rows, Table::new(["id"], [[1], [2]]), "ids")`
    #[track_caller]
    pub fn matches(
        &mut self,
        actual: &Table,
        expected: impl Into<ExpectedTable>,
        description: impl Into<String>,
    ) -> bool {
        self.match_with(actual, expected, TableMatchOptions::new(), description)
    }

    /// [`matches`](Self::matches) restricted by `options` (include / exclude columns).
    ///
    /// `result.table().match_with(&rows, expected, TableMatchOptions::new().exclude_columns(["ts"]), "rows")`
    #[track_caller]
    pub fn match_with(
        &mut self,
        actual: &Table,
        expected: impl Into<ExpectedTable>,
        options: TableMatchOptions,
        description: impl Into<String>,
    ) -> bool {
        let expected = expected.into();
        let columns = options.columns_to_compare(actual, &expected);
        let mut notes = Vec::new();
        let mut column_pairs = Vec::with_capacity(columns.len());
        for column in &columns {
            let actual_index = actual.column_index(column);
            let expected_index = expected.columns.iter().position(|name| name == column);
            match (actual_index, expected_index) {
                (None, None) => notes.push(format!("column {column:?} is in neither table")),
                (None, Some(_)) => notes.push(format!(
                    "column {column:?} is missing from the actual table"
                )),
                (Some(_), None) => {
                    notes.push(format!("column {column:?} is not in the expected table"))
                }
                (Some(_), Some(_)) => {}
            }
            column_pairs.push((actual_index, expected_index));
        }
        if actual.rows.len() != expected.rows.len() {
            notes.push(format!(
                "the actual table has {} rows, the expected one {}",
                actual.rows.len(),
                expected.rows.len()
            ));
        }
        let row_count = actual.rows.len().max(expected.rows.len());
        let rows: Vec<Vec<TableCell>> = (0..row_count)
            .map(|row| {
                column_pairs
                    .iter()
                    .map(|(actual_index, expected_index)| {
                        let actual_cell =
                            actual_index.and_then(|index| actual.rows.get(row)?.get(index));
                        let expected_cell =
                            expected_index.and_then(|index| expected.rows.get(row)?.get(index));
                        TableCell {
                            actual: actual_cell.map(display_value),
                            expected: expected_cell
                                .map(|comparator| comparator.describe_with(display_value)),
                            passed: match (actual_cell, expected_cell) {
                                (Some(value), Some(comparator)) => comparator.check(value),
                                _ => false,
                            },
                        }
                    })
                    .collect()
            })
            .collect();
        let passed = notes.is_empty() && rows.iter().flatten().all(|cell| cell.passed);
        self.recorder.record(Recorder::make_entry(
            description,
            Some(passed),
            EntryDetail::TableMatch {
                columns,
                rows,
                notes,
            },
        ))
    }

    /// Passes when every cell of `column` equals one of `values`; a table without the column
    /// fails and says which columns it has.
    ///
    /// `result.table().column_contain(&orders, "status", ["open", "filled"], "known statuses")`
    #[track_caller]
    pub fn column_contain<V: Serialize>(
        &mut self,
        table: &Table,
        column: &str,
        values: impl IntoIterator<Item = V>,
        description: impl Into<String>,
    ) -> bool {
        let Some(index) = table.column_index(column) else {
            return self.recorder.record(Recorder::make_entry(
                description,
                Some(false),
                EntryDetail::Fail {
                    message: format!(
                        "column {column:?} is not in the table (columns: {})",
                        table.columns.join(", ")
                    ),
                },
            ));
        };
        let allowed: Vec<Value> = values.into_iter().map(to_json).collect();
        let rows: Vec<ColumnContainRow> = table
            .rows
            .iter()
            .enumerate()
            .map(|(row, cells)| {
                let cell = cells.get(index);
                ColumnContainRow {
                    index: row,
                    value: cell.map_or_else(|| "<missing>".to_string(), display_value),
                    passed: cell.is_some_and(|value| {
                        allowed.iter().any(|allowed| values_equal(value, allowed))
                    }),
                }
            })
            .collect();
        let passed = rows.iter().all(|row| row.passed);
        self.recorder.record(Recorder::make_entry(
            description,
            Some(passed),
            EntryDetail::ColumnContain {
                column: column.to_string(),
                values: allowed.iter().map(display_value).collect(),
                rows,
            },
        ))
    }

    /// Records the table for display.
    ///
    /// `result.table().log(&orders, "orders after the fill")`
    #[track_caller]
    pub fn log(&mut self, table: &Table, description: impl Into<String>) {
        self.recorder.record(Recorder::make_entry(
            description,
            None,
            EntryDetail::TableLog {
                columns: table.columns.clone(),
                rows: table
                    .rows
                    .iter()
                    .map(|cells| cells.iter().map(display_value).collect())
                    .collect(),
            },
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use testrig_model::Entry;

    fn last(recorder: &Recorder) -> &Entry {
        recorder.entries().last().expect("an entry was recorded")
    }

    fn table_match(entry: &Entry) -> (&[String], &[Vec<TableCell>], &[String]) {
        match &entry.detail {
            EntryDetail::TableMatch {
                columns,
                rows,
                notes,
            } => (columns, rows, notes),
            other => panic!("not a table match: {other:?}"),
        }
    }

    fn cell(actual: Option<&str>, expected: Option<&str>, passed: bool) -> TableCell {
        TableCell {
            actual: actual.map(str::to_string),
            expected: expected.map(str::to_string),
            passed,
        }
    }

    fn people() -> Table {
        Table::new(["name", "age"], [("alice", 30), ("bob", 25)])
    }

    #[test]
    fn tables_build_from_tuples_structs_and_maps() {
        #[derive(Serialize)]
        struct Person {
            age: u8,
            name: &'static str,
        }
        let from_structs = Table::new(
            ["name", "age"],
            [
                Person {
                    age: 30,
                    name: "alice",
                },
                Person {
                    age: 25,
                    name: "bob",
                },
            ],
        );
        assert_eq!(from_structs, people());
        let records = vec![
            BTreeMap::from([("name", json!("alice")), ("age", json!(30))]),
            BTreeMap::from([("name", json!("bob")), ("city", json!("Oslo"))]),
        ];
        let from_maps = Table::from(records);
        assert_eq!(from_maps.columns(), ["age", "name", "city"]);
        assert_eq!(
            from_maps.rows()[1],
            vec![json!(null), json!("bob"), json!("Oslo")]
        );
        assert_eq!(from_maps.cell(0, "age"), Some(&json!(30)));
        assert_eq!(from_maps.cell(0, "zip"), None);
    }

    #[test]
    fn equal_tables_match() {
        let mut result = Recorder::detached();
        assert!(result.table().matches(&people(), people(), "same"));
        let (columns, rows, notes) = table_match(last(&result));
        assert_eq!(columns, ["name", "age"]);
        assert_eq!(
            rows[1],
            vec![
                cell(Some("bob"), Some("bob"), true),
                cell(Some("25"), Some("25"), true)
            ]
        );
        assert!(notes.is_empty());
    }

    #[test]
    fn mismatching_cells_are_flagged() {
        let mut result = Recorder::detached();
        let expected = Table::new(["name", "age"], [("alice", 30), ("bob", 26)]);
        assert!(!result.table().matches(&people(), expected, "ages"));
        let entry = last(&result);
        assert_eq!(entry.passed, Some(false));
        let (_, rows, notes) = table_match(entry);
        assert!(rows[0].iter().all(|cell| cell.passed));
        assert_eq!(rows[1][1], cell(Some("25"), Some("26"), false));
        assert!(notes.is_empty());
    }

    #[test]
    fn comparators_loosen_expected_cells() {
        let mut result = Recorder::detached();
        let expected = ExpectedTable::new(
            ["name", "age"],
            [
                vec![Comparator::regex("^al"), 30.into()],
                vec![
                    "bob".into(),
                    Comparator::predicate("under 30", |v| v.as_u64().is_some_and(|n| n < 30)),
                ],
            ],
        );
        assert!(result.table().matches(&people(), &expected, "loose"));
        let (_, rows, _) = table_match(last(&result));
        assert_eq!(rows[0][0].expected.as_deref(), Some("/^al/"));
        assert_eq!(rows[1][1].expected.as_deref(), Some("under 30"));
        let strict = expected.with_cell(0, "name", Comparator::regex("^bo"));
        assert!(!result.table().matches(&people(), strict, "strict"));
        assert_eq!(
            table_match(last(&result)).1[0][0],
            cell(Some("alice"), Some("/^bo/"), false)
        );
        let any_age = ExpectedTable::from(Table::new(["name", "age"], [("alice", 0), ("bob", 0)]))
            .with_column("age", Comparator::any());
        assert!(result.table().matches(&people(), any_age, "any age"));
    }

    #[test]
    fn row_count_and_column_differences_fail_with_notes() {
        let mut result = Recorder::detached();
        let expected = Table::new(["name", "age", "city"], [("alice", 30, "Oslo")]);
        assert!(!result.table().matches(&people(), expected, "shape"));
        let (columns, rows, notes) = table_match(last(&result));
        assert_eq!(columns, ["name", "age", "city"]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][2], cell(None, Some("Oslo"), false));
        assert_eq!(rows[1][0], cell(Some("bob"), None, false));
        assert_eq!(
            notes,
            [
                "column \"city\" is missing from the actual table",
                "the actual table has 2 rows, the expected one 1"
            ]
        );
        let extra_column = Table::new(["name"], [["alice"], ["bob"]]);
        assert!(!result.table().matches(&people(), extra_column, "extra"));
        assert_eq!(
            table_match(last(&result)).2,
            ["column \"age\" is not in the expected table"]
        );
    }

    #[test]
    fn include_and_exclude_columns() {
        let mut result = Recorder::detached();
        let expected = Table::new(["name", "age"], [("alice", 99), ("bob", 99)]);
        let options = TableMatchOptions::new().exclude_columns(["age"]);
        assert!(
            result
                .table()
                .match_with(&people(), &expected, options, "names only")
        );
        assert_eq!(table_match(last(&result)).0, ["name"]);
        let options = TableMatchOptions::new().include_columns(["age"]);
        assert!(
            !result
                .table()
                .match_with(&people(), &expected, options, "ages only")
        );
        assert_eq!(table_match(last(&result)).0, ["age"]);
        let names = Table::new(["name"], [["alice"], ["bob"]]);
        let options = TableMatchOptions::new().include_columns(["name"]);
        assert!(
            result
                .table()
                .match_with(&people(), names, options, "subset")
        );
        let options = TableMatchOptions::new().include_columns(["zip"]);
        assert!(
            !result
                .table()
                .match_with(&people(), &expected, options, "unknown")
        );
        assert_eq!(
            table_match(last(&result)).2,
            ["column \"zip\" is in neither table"]
        );
    }

    #[test]
    fn ragged_rows_show_missing_cells() {
        let mut result = Recorder::detached();
        let ragged = Table::new(["a", "b"], [vec![1, 2], vec![3]]);
        let expected = Table::new(["a", "b"], [[1, 2], [3, 4]]);
        assert!(!result.table().matches(&ragged, expected, "ragged"));
        assert_eq!(
            table_match(last(&result)).1[1][1],
            cell(None, Some("4"), false)
        );
    }

    #[test]
    fn column_contain_checks_each_cell() {
        let mut result = Recorder::detached();
        assert!(result.table().column_contain(
            &people(),
            "name",
            ["alice", "bob", "carol"],
            "known"
        ));
        assert!(
            !result
                .table()
                .column_contain(&people(), "age", [30], "thirty")
        );
        match &last(&result).detail {
            EntryDetail::ColumnContain {
                column,
                values,
                rows,
            } => {
                assert_eq!(column, "age");
                assert_eq!(values, &["30"]);
                assert_eq!(
                    rows,
                    &vec![
                        ColumnContainRow {
                            index: 0,
                            value: "30".into(),
                            passed: true
                        },
                        ColumnContainRow {
                            index: 1,
                            value: "25".into(),
                            passed: false
                        },
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            !result
                .table()
                .column_contain(&people(), "zip", ["0"], "missing column")
        );
        match &last(&result).detail {
            EntryDetail::Fail { message } => {
                assert_eq!(
                    message,
                    "column \"zip\" is not in the table (columns: name, age)"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn log_records_rendered_cells() {
        let mut result = Recorder::detached();
        result.table().log(&people(), "people");
        let entry = last(&result);
        assert_eq!(entry.passed, None);
        assert_eq!(
            entry.detail,
            EntryDetail::TableLog {
                columns: vec!["name".into(), "age".into()],
                rows: vec![
                    vec!["alice".into(), "30".into()],
                    vec!["bob".into(), "25".into()]
                ],
            }
        );
        assert!(result.passed());
    }
}
