//! Page parameters and the page envelope every list answers with.

use serde::Serialize;
use utoipa::ToSchema;

use crate::problem::Problem;

/// The most items one page holds.
pub const MAX_PAGE_SIZE: u32 = 250;
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The highest page number a list accepts.
pub const MAX_PAGE: u32 = 1_000_000;

/// `page` and `pageSize` as a list's parameters give them.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageParams {
    page: Option<u32>,
    page_size: Option<u32>,
}

impl PageParams {
    pub fn new(page: Option<u32>, page_size: Option<u32>) -> PageParams {
        PageParams { page, page_size }
    }

    /// The page and its size, checked.
    pub fn checked(self) -> Result<(u32, u32), Problem> {
        let page = self.page.unwrap_or(1);
        if !(1..=MAX_PAGE).contains(&page) {
            return Err(Problem::invalid(
                "page",
                format!("Pages are numbered from 1 to {MAX_PAGE}."),
            ));
        }
        let size = self.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&size) {
            return Err(Problem::invalid(
                "pageSize",
                format!("pageSize must be between 1 and {MAX_PAGE_SIZE}."),
            ));
        }
        Ok((page, size))
    }
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// How many items match, on every page.
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
}

impl<T> Paged<T> {
    pub fn of<S>(page: model::tenancy::Page<S>, map: impl FnMut(S) -> T) -> Paged<T> {
        Paged {
            items: page.items.into_iter().map(map).collect(),
            total: page.total,
            page: page.page,
            page_size: page.per_page,
        }
    }
}

/// Unix milliseconds as RFC 3339 (UTC).
pub fn timestamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}
