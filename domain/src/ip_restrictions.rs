//! IP restrictions per instance (Settings → Security): while they are on, the instance's
//! portal, sign-in and public API answer only requests from the addresses its rules allow
//! (single addresses, CIDR ranges and from-to ranges, IPv4 and IPv6). Appliances are not
//! restricted: their connections are authenticated by their own credential. A change that
//! would leave the Superuser making it outside the list is refused, and every change is audited
//! and mailed to the instance's Superusers.

use std::net::IpAddr;

use ipnet::IpNet;
use model::security::{IpRestrictions, IpRule};
use model::{Action, AppError};
use sqlx::AnyConnection;

use crate::access::Viewer;
use crate::audit::{self, Entry};
use crate::{ClientInfo, DomainResult, Portal, outbox};

const MAX_DESCRIPTION_CHARS: usize = 100;
const MAX_ENTRIES_CHARS: usize = 4000;

/// An inclusive range of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Span {
    V4(u32, u32),
    V6(u128, u128),
}

impl Span {
    fn of(from: IpAddr, to: IpAddr) -> Option<Span> {
        match (from.to_canonical(), to.to_canonical()) {
            (IpAddr::V4(a), IpAddr::V4(b)) => Some(Span::V4(a.into(), b.into())),
            (IpAddr::V6(a), IpAddr::V6(b)) => Some(Span::V6(a.into(), b.into())),
            _ => None,
        }
    }

    fn is_empty(self) -> bool {
        match self {
            Span::V4(a, b) => a > b,
            Span::V6(a, b) => a > b,
        }
    }

    fn contains(self, address: IpAddr) -> bool {
        match (self, address.to_canonical()) {
            (Span::V4(a, b), IpAddr::V4(x)) => (a..=b).contains(&u32::from(x)),
            (Span::V6(a, b), IpAddr::V6(x)) => (a..=b).contains(&u128::from(x)),
            _ => false,
        }
    }
}

/// The addresses a list of rules allows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(Vec<Span>);

impl AllowList {
    /// Reads entries separated by commas, spaces or lines; returns the list and its entries as
    /// they are stored, or a message naming the first entry that is not understood.
    pub fn parse(text: &str) -> Result<(AllowList, String), String> {
        let mut spans = Vec::new();
        let mut normalized = Vec::new();
        for entry in text
            .split([',', ';', ' ', '\n', '\r', '\t'])
            .filter(|e| !e.is_empty())
        {
            let (span, written) = parse_entry(entry)?;
            spans.push(span);
            normalized.push(written);
        }
        if spans.is_empty() {
            return Err("Enter at least one address or range.".into());
        }
        Ok((AllowList(spans), normalized.join(", ")))
    }

    pub fn allows(&self, address: IpAddr) -> bool {
        self.0.iter().any(|span| span.contains(address))
    }
}

fn parse_entry(entry: &str) -> Result<(Span, String), String> {
    let not_understood = || {
        format!("{entry:?} is not an address, a CIDR range (10.0.0.0/8) or a range (192.0.2.1-192.0.2.40).")
    };
    if let Some((from, to)) = entry.split_once('-') {
        let (from, to) = (
            from.parse::<IpAddr>().map_err(|_| not_understood())?,
            to.parse::<IpAddr>().map_err(|_| not_understood())?,
        );
        let span = Span::of(from, to)
            .ok_or_else(|| format!("{entry:?}: both ends of a range must be IPv4, or both IPv6."))?;
        if span.is_empty() {
            return Err(format!("{entry:?}: the range ends before it starts."));
        }
        return Ok((span, format!("{}-{}", from.to_canonical(), to.to_canonical())));
    }
    if entry.contains('/') {
        let network = entry.parse::<IpNet>().map_err(|_| not_understood())?.trunc();
        let span = Span::of(network.network(), network.broadcast()).ok_or_else(not_understood)?;
        return Ok((span, network.to_string()));
    }
    let address = entry
        .parse::<IpAddr>()
        .map_err(|_| not_understood())?
        .to_canonical();
    let span = Span::of(address, address).ok_or_else(not_understood)?;
    Ok((span, address.to_string()))
}

/// Whether a request from `address` may use an instance whose stored allow-list is `list`
/// (`None`: restrictions are off). A request whose address is unknown is refused.
pub fn allows(list: Option<&str>, address: Option<&str>) -> bool {
    let Some(list) = list else {
        return true;
    };
    let address = address.and_then(|a| a.parse::<IpAddr>().ok());
    match (AllowList::parse(list), address) {
        (Ok((list, _)), Some(address)) => list.allows(address),
        _ => false,
    }
}

/// The instance's stored allow-list, if its restrictions are on.
pub async fn allow_list_of(conn: &mut AnyConnection, instance_id: i64) -> DomainResult<Option<String>> {
    let list: Option<Option<String>> =
        sqlx::query_scalar("SELECT ip_allow_list FROM instances WHERE id = $1")
            .bind(instance_id)
            .fetch_optional(conn)
            .await?;
    Ok(list.flatten())
}

/// The client address of the current request, as the server resolved it (behind trusted
/// proxies: the client they name); a request extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestAddress(pub String);

/// What a request from outside the list is told.
pub fn refusal(address: Option<&str>) -> AppError {
    let address = address.unwrap_or("unknown");
    AppError::denied(format!(
        "Access from your address ({address}) is not allowed for this instance. A Superuser can add it in Settings → Security."
    ))
}

#[derive(sqlx::FromRow)]
struct RuleRow {
    id: i64,
    description: String,
    entries: String,
    created_by: String,
    created_at: i64,
}

async fn rules(conn: &mut AnyConnection, instance_id: i64) -> DomainResult<Vec<IpRule>> {
    let rows: Vec<RuleRow> = sqlx::query_as(
        "SELECT id, description, entries, created_by, created_at FROM ip_rules WHERE instance_id = $1 ORDER BY id",
    )
    .bind(instance_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| IpRule {
            id: r.id,
            description: r.description,
            entries: r.entries,
            created_by: r.created_by,
            created_at: r.created_at,
        })
        .collect())
}

async fn enabled(conn: &mut AnyConnection, instance_id: i64) -> DomainResult<bool> {
    let on: i64 = sqlx::query_scalar("SELECT ip_restricted FROM instances WHERE id = $1")
        .bind(instance_id)
        .fetch_one(conn)
        .await?;
    Ok(on != 0)
}

fn joined(rules: &[IpRule]) -> String {
    rules
        .iter()
        .map(|r| r.entries.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Settings → Security: the rules, whether they are on, and the caller's own address.
pub async fn view(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    client: &ClientInfo,
) -> DomainResult<IpRestrictions> {
    viewer.require(Action::ManageSecurity)?;
    let rules = rules(&mut *conn, viewer.instance_id).await?;
    let you_are_allowed = !rules.is_empty() && allows(Some(&joined(&rules)), client.ip.as_deref());
    Ok(IpRestrictions {
        enabled: enabled(conn, viewer.instance_id).await?,
        rules,
        your_address: client.ip.clone(),
        you_are_allowed,
    })
}

/// A change to the restrictions, as its audit record and mail name it.
enum Change<'a> {
    Add { description: &'a str, entries: &'a str },
    Delete(i64),
    Enable(bool),
}

/// Adds a rule; returns it. With restrictions on, the rule only widens the list.
pub async fn add_rule(
    portal: &Portal,
    viewer: &Viewer,
    description: &str,
    entries: &str,
    client: &ClientInfo,
) -> DomainResult<IpRule> {
    viewer.require(Action::ManageSecurity)?;
    let description = description.trim();
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        let message = format!("Keep the description to {MAX_DESCRIPTION_CHARS} characters.");
        return Err(AppError::invalid("description", message).into());
    }
    if entries.len() > MAX_ENTRIES_CHARS {
        let message = format!("Keep one rule to {MAX_ENTRIES_CHARS} characters; add another rule for more.");
        return Err(AppError::invalid("entries", message).into());
    }
    let (_, normalized) = AllowList::parse(entries).map_err(|m| AppError::invalid("entries", m))?;
    let change = Change::Add {
        description,
        entries: &normalized,
    };
    apply(portal, viewer, change, client).await?;
    let mut conn = portal.db.pool.acquire().await?;
    let added = rules(&mut conn, viewer.instance_id).await?.pop();
    added.ok_or_else(|| AppError::conflict("The rule was removed meanwhile.").into())
}

/// Deletes a rule of the viewer's instance.
pub async fn delete_rule(portal: &Portal, viewer: &Viewer, id: i64, client: &ClientInfo) -> DomainResult<()> {
    viewer.require(Action::ManageSecurity)?;
    apply(portal, viewer, Change::Delete(id), client).await
}

/// Turns the restrictions on or off.
pub async fn set_enabled(
    portal: &Portal,
    viewer: &Viewer,
    on: bool,
    client: &ClientInfo,
) -> DomainResult<()> {
    viewer.require(Action::ManageSecurity)?;
    apply(portal, viewer, Change::Enable(on), client).await
}

/// Makes the change in one transaction, unless it would leave the caller outside the list
/// while restrictions are on; refreshes the stored list, audits and mails the Superusers.
async fn apply(
    portal: &Portal,
    viewer: &Viewer,
    change: Change<'_>,
    client: &ClientInfo,
) -> DomainResult<()> {
    let now = portal.now();
    let mut tx = portal.db.begin().await?;
    let instance = viewer.instance_id;
    let (action, summary) = match &change {
        Change::Add { description, entries } => {
            sqlx::query(
                "INSERT INTO ip_rules (instance_id, description, entries, created_by, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(instance)
            .bind(*description)
            .bind(*entries)
            .bind(&viewer.email)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            ("security.ip_rule_add", rule_summary(description, entries))
        }
        Change::Delete(id) => {
            let removed: Option<(String, String)> = sqlx::query_as(
                "DELETE FROM ip_rules WHERE id = $1 AND instance_id = $2 RETURNING description, entries",
            )
            .bind(id)
            .bind(instance)
            .fetch_optional(&mut *tx)
            .await?;
            let (description, entries) = removed.ok_or_else(|| AppError::not_found("The rule"))?;
            ("security.ip_rule_delete", rule_summary(&description, &entries))
        }
        Change::Enable(on) => {
            sqlx::query("UPDATE instances SET ip_restricted = $1 WHERE id = $2")
                .bind(i64::from(*on))
                .bind(instance)
                .execute(&mut *tx)
                .await?;
            let verb = if *on { "on" } else { "off" };
            (
                "security.ip_restrictions",
                format!("IP restrictions turned {verb}"),
            )
        }
    };
    let all = rules(&mut tx, instance).await?;
    let on = enabled(&mut tx, instance).await?;
    let list = on.then(|| joined(&all));
    if on {
        if all.is_empty() {
            return Err(AppError::invalid("enabled", "Add a rule before turning restrictions on.").into());
        }
        if !allows(list.as_deref(), client.ip.as_deref()) {
            let address = client.ip.as_deref().unwrap_or("unknown");
            let message = format!(
                "Your own address ({address}) would not be allowed: add a rule that includes it first."
            );
            return Err(AppError::invalid("entries", message).into());
        }
    }
    sqlx::query("UPDATE instances SET ip_allow_list = $1 WHERE id = $2")
        .bind(&list)
        .bind(instance)
        .execute(&mut *tx)
        .await?;
    let state = match &list {
        Some(list) => format!("on; allowed: {list}"),
        None => "off".to_owned(),
    };
    audit::record(
        &mut tx,
        Entry::by(viewer, client, action, "IP restrictions")
            .after(format!("{summary}; restrictions {state}")),
        now,
    )
    .await?;
    mail_superusers(&mut tx, viewer, client, (&summary, &state), now).await?;
    tx.commit().await?;
    Ok(())
}

fn rule_summary(description: &str, entries: &str) -> String {
    match description {
        "" => format!("rule {entries}"),
        named => format!("rule \"{named}\" ({entries})"),
    }
}

async fn mail_superusers(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    client: &ClientInfo,
    (summary, state): (&str, &str),
    now: i64,
) -> DomainResult<()> {
    let (instance,): (String,) = sqlx::query_as("SELECT display_name FROM instances WHERE id = $1")
        .bind(viewer.instance_id)
        .fetch_one(&mut *conn)
        .await?;
    let superusers: Vec<String> = sqlx::query_scalar(
        "SELECT email FROM users WHERE instance_id = $1 AND role = 'superuser' AND status = 'active' ORDER BY email",
    )
    .bind(viewer.instance_id)
    .fetch_all(&mut *conn)
    .await?;
    let subject = format!("{}: IP restrictions changed", instance);
    let body = format!(
        "{} changed the IP restrictions of {} from {}:\n\n{summary}.\n\nRestrictions are now {state}.\n\nIf you did not expect this change, review Settings → Security.\n",
        viewer.email,
        instance,
        client.ip.as_deref().unwrap_or("an unknown address"),
    );
    for recipient in superusers {
        outbox::enqueue(
            &mut *conn,
            Some(viewer.instance_id),
            &recipient,
            &subject,
            &body,
            now,
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn entries_of_every_shape_are_read_and_normalized() {
        let (list, written) = AllowList::parse(
            "192.0.2.7, 10.1.2.3/8;198.51.100.1-198.51.100.40\n2001:db8::/32 ::ffff:203.0.113.9",
        )
        .unwrap();
        assert_eq!(
            written,
            "192.0.2.7, 10.0.0.0/8, 198.51.100.1-198.51.100.40, 2001:db8::/32, 203.0.113.9"
        );
        for inside in [
            "192.0.2.7",
            "10.255.0.1",
            "198.51.100.40",
            "2001:db8:1::5",
            "::ffff:192.0.2.7",
            "203.0.113.9",
        ] {
            assert!(list.allows(ip(inside)), "{inside}");
        }
        for outside in ["192.0.2.8", "11.0.0.1", "198.51.100.41", "2001:db9::1", "::1"] {
            assert!(!list.allows(ip(outside)), "{outside}");
        }
    }

    #[test]
    fn what_is_not_understood_is_named() {
        for (text, says) in [
            ("", "at least one"),
            ("192.0.2.300", "\"192.0.2.300\" is not an address"),
            ("10.0.0.0/33", "\"10.0.0.0/33\" is not"),
            ("192.0.2.1-2001:db8::1", "both ends"),
            ("192.0.2.9-192.0.2.1", "ends before it starts"),
            ("192.0.2.1, office", "\"office\" is not"),
        ] {
            let error = AllowList::parse(text).unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
        }
    }

    #[test]
    fn no_list_allows_everyone_and_an_unknown_address_nothing() {
        assert!(allows(None, None));
        assert!(allows(Some("127.0.0.1"), Some("127.0.0.1")));
        assert!(!allows(Some("127.0.0.1"), Some("127.0.0.2")));
        assert!(!allows(Some("127.0.0.1"), None));
        assert!(!allows(Some("127.0.0.1"), Some("not an address")));
    }
}
