//! Which sites may show an instance's portal inside a frame (an RMM or PSA console): origins a
//! Superuser lists in Settings → Security, added to the server's own list in the pages'
//! `Content-Security-Policy: frame-ancestors` once the instance is known (its session, or the
//! homerealm of the login page), with session cookies a cross-site frame can keep.

use model::{Action, AppError};
use sqlx::AnyConnection;

use crate::access::Viewer;
use crate::audit::{self, Entry};
use crate::{ClientInfo, DomainResult, Portal};

const MAX_ORIGINS: usize = 20;

/// `https://host[:port]` (or `http://` on a loopback host, for trying it out), lowercased,
/// without a path; a message naming the entry otherwise.
pub fn parse_origin(entry: &str) -> Result<String, String> {
    let lower = entry.trim().trim_end_matches('/').to_ascii_lowercase();
    let refuse = || {
        format!(
            "{entry:?} is not an origin: write the console's address as https://host or https://host:port."
        )
    };
    let (scheme, rest) = lower.split_once("://").ok_or_else(refuse)?;
    let host = match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || rest.starts_with('[') => {
            port.parse::<u16>().map_err(|_| refuse())?;
            host
        }
        _ => rest,
    };
    let loopback = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    match scheme {
        "https" if host_ok => Ok(lower),
        "http" if loopback => Ok(lower),
        "http" => Err(format!(
            "{entry:?}: a frame outside this machine must be served over https."
        )),
        _ => Err(refuse()),
    }
}

/// The origins of `text` (separated by spaces, commas or lines), normalized; none clears.
pub fn parse_origins(text: &str) -> Result<Vec<String>, String> {
    let mut origins = Vec::new();
    for entry in text.split([',', ' ', '\n', '\r', '\t']).filter(|e| !e.is_empty()) {
        let origin = parse_origin(entry)?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    if origins.len() > MAX_ORIGINS {
        return Err(format!("List at most {MAX_ORIGINS} origins."));
    }
    Ok(origins)
}

/// The instance's own origins, space-separated, if it has any.
pub async fn frame_ancestors_of(conn: &mut AnyConnection, instance_id: i64) -> DomainResult<Option<String>> {
    let list: Option<Option<String>> =
        sqlx::query_scalar("SELECT frame_ancestors FROM instances WHERE id = $1")
            .bind(instance_id)
            .fetch_optional(conn)
            .await?;
    Ok(list.flatten())
}

/// The origins of the instance with this homerealm (the login page's), if any.
pub async fn frame_ancestors_of_homerealm(
    conn: &mut AnyConnection,
    homerealm: &str,
) -> DomainResult<Option<String>> {
    let list: Option<Option<String>> =
        sqlx::query_scalar("SELECT frame_ancestors FROM instances WHERE homerealm = $1")
            .bind(homerealm.trim().to_ascii_lowercase())
            .fetch_optional(conn)
            .await?;
    Ok(list.flatten())
}

/// Settings → Security: the instance's origins, one per line.
pub async fn view(conn: &mut AnyConnection, viewer: &Viewer) -> DomainResult<Vec<String>> {
    viewer.require(Action::ManageSecurity)?;
    let list = frame_ancestors_of(conn, viewer.instance_id).await?;
    Ok(list
        .map(|l| l.split(' ').map(str::to_owned).collect())
        .unwrap_or_default())
}

/// Replaces the instance's origins; audited.
pub async fn save(
    portal: &Portal,
    viewer: &Viewer,
    text: &str,
    client: &ClientInfo,
) -> DomainResult<Vec<String>> {
    viewer.require(Action::ManageSecurity)?;
    let origins = parse_origins(text).map_err(|m| AppError::invalid("origins", m))?;
    let stored = (!origins.is_empty()).then(|| origins.join(" "));
    let mut tx = portal.db.begin().await?;
    let before = frame_ancestors_of(&mut tx, viewer.instance_id).await?;
    sqlx::query("UPDATE instances SET frame_ancestors = $1 WHERE id = $2")
        .bind(&stored)
        .bind(viewer.instance_id)
        .execute(&mut *tx)
        .await?;
    let entry = Entry::by(viewer, client, "security.embedding", "Embedding")
        .before(before.unwrap_or_else(|| "none".into()))
        .after(stored.clone().unwrap_or_else(|| "none".into()));
    audit::record(&mut tx, entry, portal.now()).await?;
    tx.commit().await?;
    Ok(origins)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_https_hosts_normalized() {
        assert_eq!(
            parse_origins("https://RMM.example.com/, https://vsa.example.com:8443\nhttps://rmm.example.com")
                .unwrap(),
            ["https://rmm.example.com", "https://vsa.example.com:8443"]
        );
        assert_eq!(
            parse_origin("http://127.0.0.1:4000").unwrap(),
            "http://127.0.0.1:4000"
        );
        assert!(parse_origins("").unwrap().is_empty());
        for (bad, says) in [
            ("http://rmm.example.com", "over https"),
            ("rmm.example.com", "is not an origin"),
            ("https://rmm.example.com:99999", "is not an origin"),
            ("https://rmm.example.com/path?x", "is not an origin"),
            ("javascript://x", "is not an origin"),
            ("https://a b", "is not an origin"),
        ] {
            let error = parse_origins(bad).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }
}
