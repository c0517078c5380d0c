//! Who is asking, and what they may see. Every scoped query takes a [`Viewer`], so an unscoped
//! query cannot be written by accident.
//!
//! Visibility (spec portal-b §4.4): Superusers and Global Scope users see every organization of
//! their instance, Unassigned ones included; everyone else sees exactly the organizations in
//! the scopes they hold — none if they hold none.

use model::{Action, AppError, Role};

use crate::sessions::Session;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub instance_id: i64,
    pub user_id: i64,
    pub email: String,
    pub role: Role,
    pub global_scope: bool,
}

impl Viewer {
    pub fn of(session: &Session) -> Viewer {
        Viewer {
            instance_id: session.instance_id,
            user_id: session.user_id,
            email: session.email.clone(),
            role: session.role,
            global_scope: session.global_scope,
        }
    }

    /// Sees every scope of the instance, present and future, and Unassigned organizations.
    pub fn sees_all_scopes(&self) -> bool {
        self.role == Role::Superuser || self.global_scope
    }

    /// `sees_all_scopes` as the 0/1 the visibility SQL binds.
    pub fn all_flag(&self) -> i64 {
        i64::from(self.sees_all_scopes())
    }

    pub fn require(&self, action: Action) -> Result<(), AppError> {
        if self.role.can(action) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }
}

/// The condition an organization row `o` must meet to be visible; binds `all_flag` and the
/// viewer's user id at the given parameter positions.
pub fn visible_org(all_param: u8, user_param: u8) -> String {
    format!(
        "(${all_param} = 1 OR o.scope_id IN (SELECT scope_id FROM user_scopes WHERE user_id = ${user_param}))"
    )
}

/// Whether the viewer, with this filter, sees every organization of the instance (so a query
/// can go by the instance instead of listing its organizations).
pub fn sees_whole_instance(viewer: &Viewer, organization: Option<i64>, scope: Option<i64>) -> bool {
    viewer.sees_all_scopes() && organization.is_none() && scope.is_none()
}

/// A subquery of the ids of the organizations the viewer may see, narrowed to one
/// organization and/or scope, for `organization_id IN (…)`. The values are numbers from the
/// session and the filter, written in, so that the planner sees the real condition (the
/// `$all = 1 OR …` form of [`visible_org`] keeps it off the organization indexes).
pub fn visible_organization_ids(viewer: &Viewer, organization: Option<i64>, scope: Option<i64>) -> String {
    let mut sql = if viewer.sees_all_scopes() {
        format!(
            "SELECT o.id FROM organizations o WHERE o.instance_id = {}",
            viewer.instance_id
        )
    } else {
        format!(
            "SELECT o.id FROM organizations o JOIN user_scopes us ON us.scope_id = o.scope_id
             WHERE us.user_id = {} AND o.instance_id = {}",
            viewer.user_id, viewer.instance_id
        )
    };
    if let Some(organization) = organization {
        sql.push_str(&format!(" AND o.id = {organization}"));
    }
    if let Some(scope) = scope {
        sql.push_str(&format!(" AND o.scope_id = {scope}"));
    }
    sql
}

/// Binds what [`visible_org`]`(2, 3)` reads, as `$1`–`$3`: the viewer's instance, whether it
/// sees every scope, and the viewer.
pub(crate) trait BindViewer: Sized {
    fn bind_viewer(self, viewer: &Viewer) -> Self;
}

impl<'q, O> BindViewer for sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments> {
    fn bind_viewer(self, viewer: &Viewer) -> Self {
        self.bind(viewer.instance_id)
            .bind(viewer.all_flag())
            .bind(viewer.user_id)
    }
}

impl<'q, O> BindViewer for sqlx::query::QueryScalar<'q, sqlx::Any, O, sqlx::any::AnyArguments> {
    fn bind_viewer(self, viewer: &Viewer) -> Self {
        self.bind(viewer.instance_id)
            .bind(viewer.all_flag())
            .bind(viewer.user_id)
    }
}
