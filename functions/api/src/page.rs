//! Listings: a page of views with the cursor of the next, and the page-size rule.

use crate::error::ApiError;
use hookline_shared::ports::Page;
use serde::Serialize;

/// A page of views, as every paged listing answers.
#[derive(Debug, Serialize)]
pub struct PageView<V> {
    data: Vec<V>,
    next_cursor: Option<String>,
}

impl<V> PageView<V> {
    /// The views of `page`'s items, and its cursor.
    pub(crate) fn of<T>(page: Page<T>, view: impl FnMut(T) -> V) -> Self {
        Self { data: page.items.into_iter().map(view).collect(), next_cursor: page.next_cursor }
    }
}

/// The page size a listing asks for: 50 when not given, at most 100.
pub(crate) fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::BadRequest("limit: must be between 1 and 100".into()));
    }
    Ok(limit)
}
