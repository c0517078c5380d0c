//! WHERE clauses built at run time from the filters in use.

/// A value bound to a placeholder of a query built at run time.
pub(crate) enum Bind {
    Int(i64),
    Text(String),
}

/// A WHERE clause holding only the conditions in use, each able to use its index (a generic
/// `($n IS NULL OR column = $n)` form keeps the planners from using any).
#[derive(Default)]
pub(crate) struct Conditions {
    parts: Vec<String>,
    binds: Vec<Bind>,
}

impl Conditions {
    /// Adds `condition`, whose `?` becomes the next placeholder, bound to `value`.
    pub(crate) fn with(&mut self, condition: &str, value: Bind) {
        self.binds.push(value);
        let placeholder = format!("${}", self.binds.len());
        self.parts.push(condition.replace('?', &placeholder));
    }

    pub(crate) fn fixed(&mut self, condition: &str) {
        self.parts.push(condition.to_owned());
    }

    pub(crate) fn sql(&self) -> String {
        format!("WHERE {}", self.parts.join(" AND "))
    }

    pub(crate) fn next_placeholder(&self, offset: usize) -> String {
        format!("${}", self.binds.len() + offset)
    }

    pub(crate) fn bind_all<'q, O>(
        &self,
        mut query: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments>,
    ) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments>
    where
        O: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        for bind in &self.binds {
            query = match bind {
                Bind::Int(v) => query.bind(*v),
                Bind::Text(v) => query.bind(v.clone()),
            };
        }
        query
    }
}
