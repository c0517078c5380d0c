//! Settings → Users: inviting, editing, disabling and resetting users, under the rules of spec
//! portal-b §2.11 and §4, contained by reach: a user administers another only if the other
//! sees no more than they do (Global Scope only under Global Scope; otherwise every scope of
//! the other is one of theirs) and holds no higher role. Only Superusers touch Superusers;
//! nobody can disable or demote the last active Superuser.

use std::collections::BTreeSet;

use model::lists::UserSort;
use model::password::validate_new_password;
use model::tenancy::{Page, UserAccess, UserState, UserSummary};
use model::{Action, AppError, Role};
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::access::{BindViewer, Viewer};
use crate::tokens::{self, Purpose};
use crate::users::{self, NewUser, User, UserStatus};
use crate::{ClientInfo, DomainResult, Portal, audit, auth, instances, scopes, secrets, sessions};

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    email: String,
    role: String,
    status: String,
    global_scope: i64,
    last_seen_at: Option<i64>,
    second_factor_locked_at: Option<i64>,
}

fn state(status: &str) -> UserState {
    match status {
        "active" => UserState::Active,
        "pending_activation" => UserState::PendingActivation,
        _ => UserState::Disabled,
    }
}

/// The roles a viewer may administer: their own and those below it.
fn administrable_roles(viewer: &Viewer) -> String {
    Role::ALL
        .into_iter()
        .filter(|role| *role <= viewer.role)
        .map(|role| format!("'{}'", role.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The users the viewer may administer (and so see in Settings → Users): those whose role is
/// not above the viewer's and whose visibility is within the viewer's. A viewer with Global
/// Scope reaches every such user; a scoped viewer only users without Global Scope whose every
/// scope is one of the viewer's.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn list(conn: &mut AnyConnection, viewer: &Viewer) -> DomainResult<Vec<UserSummary>> {
    viewer.require(Action::ManageUsers)?;
    let sql = format!(
        "SELECT u.id, u.email, u.role, u.status, u.global_scope, u.last_seen_at, u.second_factor_locked_at
         FROM users u
         WHERE u.instance_id = $1 AND u.role IN ({roles}) AND (
           $2 = 1
           OR (u.global_scope = 0 AND u.role <> 'superuser'
               AND NOT EXISTS (SELECT 1 FROM user_scopes theirs WHERE theirs.user_id = u.id
                               AND NOT EXISTS (SELECT 1 FROM user_scopes mine
                                               WHERE mine.user_id = $3 AND mine.scope_id = theirs.scope_id))))
         ORDER BY u.email",
        roles = administrable_roles(viewer)
    );
    let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(sql))
        .bind_viewer(viewer)
        .fetch_all(&mut *conn)
        .await?;
    let names: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT us.user_id, s.id, s.name FROM user_scopes us JOIN scopes s ON s.id = us.scope_id
         WHERE s.instance_id = $1 ORDER BY s.name_key",
    )
    .bind(viewer.instance_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| UserSummary {
            scopes: names
                .iter()
                .filter(|(u, _, _)| *u == r.id)
                .map(|(_, id, n)| (*id, n.clone()))
                .collect(),
            id: r.id,
            email: r.email,
            role: Role::parse(&r.role).unwrap_or(Role::Monitor),
            status: state(&r.status),
            global_scope: r.global_scope != 0,
            last_seen_at: r.last_seen_at,
            second_factor_locked: r.second_factor_locked_at.is_some(),
        })
        .collect())
}

/// One page of [`list`] in the order asked (ties by e-mail), with the number of all.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn page(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    (sort, descending): (UserSort, bool),
    page: u32,
    per_page: u32,
) -> DomainResult<Page<UserSummary>> {
    let mut all = list(conn, viewer).await?;
    all.sort_by(|a, b| {
        let by_column = match sort {
            UserSort::Email => std::cmp::Ordering::Equal,
            UserSort::Role => a.role.cmp(&b.role),
            UserSort::Status => a.status.label().cmp(b.status.label()),
            UserSort::LastSeen => a.last_seen_at.cmp(&b.last_seen_at),
        };
        let order = by_column.then_with(|| a.email.cmp(&b.email));
        if descending { order.reverse() } else { order }
    });
    let (page, per_page) = (page.max(1), per_page.max(1));
    let skip = usize::try_from(u64::from(page - 1) * u64::from(per_page)).unwrap_or(usize::MAX);
    Ok(Page {
        total: i64::try_from(all.len()).unwrap_or(i64::MAX),
        items: all.into_iter().skip(skip).take(per_page as usize).collect(),
        page,
        per_page,
    })
}

/// The user if the viewer may administer them; anyone else does not exist for the viewer.
async fn target(conn: &mut AnyConnection, viewer: &Viewer, id: i64) -> DomainResult<User> {
    let visible = list(conn, viewer).await?.iter().any(|u| u.id == id);
    let user = users::get(conn, id)
        .await?
        .filter(|u| visible && u.instance_id == viewer.instance_id);
    Ok(user.ok_or_else(|| AppError::not_found("User"))?)
}

/// Checks the access being granted and returns the scope ids to store.
async fn granted_scopes(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    access: &UserAccess,
    keep: &[i64],
) -> DomainResult<Vec<i64>> {
    if access.role == Role::Superuser {
        viewer.require(Action::ManageSuperusers)?;
        return Ok(Vec::new());
    }
    if access.role > viewer.role {
        return Err(AppError::Forbidden.into());
    }
    if access.global_scope && !viewer.sees_all_scopes() {
        return Err(
            AppError::invalid("scopes", "Only users with Global Scope can grant Global Scope.").into(),
        );
    }
    let mine: BTreeSet<i64> = scopes::list(conn, viewer).await?.iter().map(|s| s.id).collect();
    let mut chosen: BTreeSet<i64> = BTreeSet::new();
    for id in &access.scope_ids {
        if !mine.contains(id) {
            return Err(AppError::invalid("scopes", "Choose scopes from your own scopes.").into());
        }
        chosen.insert(*id);
    }
    // Scopes the viewer cannot see stay as they were: an Admin cannot remove what they cannot see.
    chosen.extend(keep.iter().filter(|id| !mine.contains(id)));
    if chosen.is_empty() && !access.global_scope {
        return Err(AppError::invalid("scopes", "Give the user at least one scope, or Global Scope.").into());
    }
    Ok(chosen.into_iter().collect())
}

async fn held_scopes(conn: &mut AnyConnection, id: i64) -> DomainResult<Vec<i64>> {
    Ok(
        sqlx::query_scalar("SELECT scope_id FROM user_scopes WHERE user_id = $1")
            .bind(id)
            .fetch_all(conn)
            .await?,
    )
}

fn describe(access: &UserAccess, scopes: &[i64]) -> String {
    format!(
        "role={}; global_scope={}; scopes={scopes:?}",
        access.role.label(),
        access.global_scope
    )
}

/// Creates a pending user and e-mails their 48-hour activation link.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn invite(
    portal: &Portal,
    viewer: &Viewer,
    email: &str,
    access: &UserAccess,
    client: &ClientInfo,
) -> DomainResult<i64> {
    viewer.require(Action::ManageUsers)?;
    let email = users::validate_email(email)?;
    let mut tx = portal.db.begin().await?;
    let scope_ids = granted_scopes(&mut tx, viewer, access, &[]).await?;
    let new = NewUser {
        instance_id: viewer.instance_id,
        email: &email,
        role: access.role,
        status: UserStatus::PendingActivation,
        password_hash: None,
        global_scope: access.global_scope || access.role == Role::Superuser,
    };
    let id = users::insert(&mut tx, new, portal.now()).await?;
    users::set_scopes(&mut tx, id, &scope_ids).await?;
    let user = users::get(&mut tx, id)
        .await?
        .ok_or_else(|| crate::DomainError::internal("user vanished"))?;
    let instance = instances::get(&mut tx, viewer.instance_id).await?;
    auth::send_activation(&mut tx, portal, &user, &instance).await?;
    let target = format!("user {email}");
    let record =
        audit::Entry::by(viewer, client, "user.invited", &target).after(describe(access, &scope_ids));
    audit::record(&mut tx, record, portal.now()).await?;
    tx.commit().await?;
    Ok(id)
}

#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, id = id))]
pub async fn resend_activation(
    portal: &Portal,
    viewer: &Viewer,
    id: i64,
    client: &ClientInfo,
) -> DomainResult<()> {
    viewer.require(Action::ManageUsers)?;
    let mut tx = portal.db.begin().await?;
    let user = target(&mut tx, viewer, id).await?;
    if user.status != UserStatus::PendingActivation {
        return Err(AppError::conflict("This user has already activated their account.").into());
    }
    let instance = instances::get(&mut tx, viewer.instance_id).await?;
    auth::send_activation(&mut tx, portal, &user, &instance).await?;
    let target = format!("user {}", user.email);
    audit::record(
        &mut tx,
        audit::Entry::by(viewer, client, "user.activation_resent", &target),
        portal.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn other_active_superusers(conn: &mut AnyConnection, user: &User) -> DomainResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE instance_id = $1 AND role = 'superuser' AND status = 'active' AND id <> $2",
    )
    .bind(user.instance_id)
    .bind(user.id)
    .fetch_one(conn)
    .await?)
}

async fn guard_last_superuser(conn: &mut AnyConnection, user: &User) -> DomainResult<()> {
    if user.role == Role::Superuser
        && user.status == UserStatus::Active
        && other_active_superusers(conn, user).await? == 0
    {
        return Err(AppError::conflict(
            "This is the last active Superuser of the instance; make another user Superuser first.",
        )
        .into());
    }
    Ok(())
}

/// Changes role and scopes.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, id = id))]
pub async fn update_access(
    portal: &Portal,
    viewer: &Viewer,
    id: i64,
    access: &UserAccess,
    client: &ClientInfo,
) -> DomainResult<()> {
    viewer.require(Action::ManageUsers)?;
    let mut tx = portal.db.begin().await?;
    let user = target(&mut tx, viewer, id).await?;
    let before_scopes = held_scopes(&mut tx, id).await?;
    if access.role != Role::Superuser {
        guard_last_superuser(&mut tx, &user).await?;
    }
    let scope_ids = granted_scopes(&mut tx, viewer, access, &before_scopes).await?;
    sqlx::query("UPDATE users SET role = $1, global_scope = $2 WHERE id = $3")
        .bind(access.role.as_str())
        .bind(i64::from(access.global_scope || access.role == Role::Superuser))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    users::set_scopes(&mut tx, id, &scope_ids).await?;
    let was = UserAccess {
        role: user.role,
        global_scope: false,
        scope_ids: before_scopes.clone(),
    };
    let target = format!("user {}", user.email);
    let record = audit::Entry::by(viewer, client, "user.access_changed", &target)
        .before(describe(&was, &before_scopes))
        .after(describe(access, &scope_ids));
    audit::record(&mut tx, record, portal.now()).await?;
    tx.commit().await?;
    Ok(())
}

/// Disables (ending every session at once) or re-enables a user.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, id = id))]
pub async fn set_enabled(
    portal: &Portal,
    viewer: &Viewer,
    id: i64,
    enabled: bool,
    client: &ClientInfo,
) -> DomainResult<()> {
    viewer.require(Action::ManageUsers)?;
    let mut tx = portal.db.begin().await?;
    let user = target(&mut tx, viewer, id).await?;
    let (status, action) = if enabled {
        if user.status != UserStatus::Disabled {
            return Err(AppError::conflict("This user is not disabled.").into());
        }
        let status = if user.password_hash.is_some() {
            UserStatus::Active
        } else {
            UserStatus::PendingActivation
        };
        (status, "user.enabled")
    } else {
        if user.id == viewer.user_id {
            return Err(AppError::conflict("You cannot disable your own account.").into());
        }
        guard_last_superuser(&mut tx, &user).await?;
        sessions::delete_all_for_user(&mut tx, id).await?;
        (UserStatus::Disabled, "user.disabled")
    };
    users::set_status(&mut tx, id, status).await?;
    let target = format!("user {}", user.email);
    let record = audit::Entry::by(viewer, client, action, &target)
        .before(user.status.as_str())
        .after(status.as_str());
    audit::record(&mut tx, record, portal.now()).await?;
    tx.commit().await?;
    Ok(())
}

/// After a credential change: the user's sessions end and the change is audited.
async fn end_sessions_and_record(
    conn: &mut AnyConnection,
    portal: &Portal,
    viewer: &Viewer,
    client: &ClientInfo,
    user: &User,
    action: &str,
) -> DomainResult<()> {
    sessions::delete_all_for_user(conn, user.id).await?;
    let target = format!("user {}", user.email);
    audit::record(
        conn,
        audit::Entry::by(viewer, client, action, &target),
        portal.now(),
    )
    .await
}

/// Wipes the user's authenticator and recovery codes; they enrol again at next login.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, id = id))]
pub async fn reset_second_factor(
    portal: &Portal,
    viewer: &Viewer,
    id: i64,
    client: &ClientInfo,
) -> DomainResult<()> {
    viewer.require(Action::ManageUsers)?;
    let mut tx = portal.db.begin().await?;
    let user = target(&mut tx, viewer, id).await?;
    users::reset_second_factor(&mut tx, id).await?;
    tokens::void_all(&mut tx, Purpose::PasswordReset, Some(id), portal.now()).await?;
    end_sessions_and_record(&mut tx, portal, viewer, client, &user, "user.second_factor_reset").await?;
    tx.commit().await?;
    Ok(())
}

/// Sets a new password for the user and ends their sessions.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, id = id))]
pub async fn set_password(
    portal: &Portal,
    viewer: &Viewer,
    id: i64,
    password: &str,
    confirm: &str,
    client: &ClientInfo,
) -> DomainResult<()> {
    viewer.require(Action::ManageUsers)?;
    validate_new_password(password, confirm)?;
    let mut tx = portal.db.begin().await?;
    let user = target(&mut tx, viewer, id).await?;
    users::set_password_hash(&mut tx, id, &secrets::hash_password(password)?).await?;
    tokens::void_all(&mut tx, Purpose::PasswordReset, Some(id), portal.now()).await?;
    end_sessions_and_record(&mut tx, portal, viewer, client, &user, "user.password_set").await?;
    tx.commit().await?;
    Ok(())
}
