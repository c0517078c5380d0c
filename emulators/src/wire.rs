//! What every emulator reads and writes the same way: paths matched whatever their case, header
//! values as text, timestamps in UTC.

use axum::extract::Request;
use axum::http::{HeaderMap, Uri};
use chrono::{DateTime, SecondsFormat, Utc};

/// The request with its path lowercased (the query as sent), for routes matched in any case.
pub(crate) async fn lowercase_path(mut request: Request) -> Request {
    let uri = request.uri();
    let lowered = match uri.query() {
        Some(query) => format!("{}?{query}", uri.path().to_ascii_lowercase()),
        None => uri.path().to_ascii_lowercase(),
    };
    if let Ok(uri) = lowered.parse::<Uri>() {
        *request.uri_mut() = uri;
    }
    request
}

/// A header's value as text; empty when missing or not visible ASCII.
pub(crate) fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// `at` in UTC to the second, as ConnectWise and BMS write timestamps (`2026-12-01T06:30:00Z`).
pub(crate) fn iso_seconds(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `at` in UTC to the millisecond, as Autotask writes timestamps (`2026-12-01T06:30:00.000Z`).
pub(crate) fn iso_millis(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// UTC now, as [`iso_seconds`].
pub(crate) fn now_iso() -> String {
    iso_seconds(Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64, nanos: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, nanos).unwrap()
    }

    #[test]
    fn timestamps_follow_the_calendar() {
        assert_eq!(iso_seconds(at(0, 0)), "1970-01-01T00:00:00Z");
        assert_eq!(
            iso_seconds(at(1_796_106_600, 999_999_999)),
            "2026-12-01T06:30:00Z"
        );
        assert_eq!(iso_seconds(at(951_868_799, 0)), "2000-02-29T23:59:59Z");
        assert_eq!(iso_millis(at(0, 0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            iso_millis(at(1_796_106_600, 123_999_999)),
            "2026-12-01T06:30:00.123Z"
        );
        assert_eq!(iso_millis(at(951_782_400, 0)), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn now_is_written_to_the_second() {
        let now = now_iso();
        assert_eq!(now.len(), "2026-12-01T06:30:00Z".len());
        assert!(now.starts_with("20") && now.ends_with('Z'));
    }
}
