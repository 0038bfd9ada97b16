//! Roles and what each may do. An account has one role and one scope (see
//! [`crate::region::Scope`]); a permission is granted when the role allows the action and
//! the target lies in the scope.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// District or platform administrator: everything in scope, accounts included.
    Admin,
    /// District, street or community leader, by the level of the scope.
    Leader,
    /// 社工: keeps the community's registry and grids.
    CommunityWorker,
    /// 网格员: works one grid and its micro-grids.
    GridWorker,
    /// 职能部门: receives routed events.
    DepartmentClerk,
    /// 运营方: runs neighbourhood spaces and services.
    Operator,
    /// 居民: uses the resident pages only.
    Resident,
}

/// Actions guarded by the access check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Browse regions in scope: names, children, summaries, maps.
    ViewRegions,
    /// Create, edit and delete grids and micro-grids strictly below the scope's root.
    ManageGrids,
    /// Create accounts and read the audit log.
    ManageAccounts,
    /// Read the registry of people, houses and facilities in scope (masked).
    ViewRegistry,
    /// Register, edit, import and delete buildings, households, residents and facilities.
    ManageRegistry,
    /// See one ID number or phone in full, with a stated reason that the audit log keeps.
    RevealPersonal,
    /// Edit the facility typology (types, life-circle radii, OpenStreetMap mapping).
    ManageTypology,
    /// See and work the events in scope (what each may do to one is the event state
    /// machine's decision; see `events::flow`).
    WorkEvents,
    /// Edit the event categories, departments and admission lists.
    ManageEventCatalog,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Admin,
        Role::Leader,
        Role::CommunityWorker,
        Role::GridWorker,
        Role::DepartmentClerk,
        Role::Operator,
        Role::Resident,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Leader => "leader",
            Role::CommunityWorker => "community_worker",
            Role::GridWorker => "grid_worker",
            Role::DepartmentClerk => "department_clerk",
            Role::Operator => "operator",
            Role::Resident => "resident",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == s.trim())
    }

    /// The translation key of the role's name.
    pub fn label_key(self) -> &'static str {
        match self {
            Role::Admin => "role.admin",
            Role::Leader => "role.leader",
            Role::CommunityWorker => "role.community_worker",
            Role::GridWorker => "role.grid_worker",
            Role::DepartmentClerk => "role.department_clerk",
            Role::Operator => "role.operator",
            Role::Resident => "role.resident",
        }
    }

    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            // Leaders read the registry's figures and lists but register nobody and reveal
            // nothing: the people who visit households hold personal data, not the office.
            Role::Leader => matches!(
                permission,
                ViewRegions | ManageGrids | ViewRegistry | WorkEvents
            ),
            Role::CommunityWorker | Role::GridWorker => matches!(
                permission,
                ViewRegions
                    | ManageGrids
                    | ViewRegistry
                    | ManageRegistry
                    | RevealPersonal
                    | WorkEvents
            ),
            Role::DepartmentClerk => matches!(permission, ViewRegions | WorkEvents),
            Role::Operator => matches!(permission, ViewRegions),
            Role::Resident => false,
        }
    }

    /// Every account but a resident's works for a region and is scoped to it.
    pub fn is_staff(self) -> bool {
        self != Role::Resident
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn only_admins_manage_accounts_and_residents_see_no_regions() {
        assert!(Role::Admin.allows(Permission::ManageAccounts));
        assert!(!Role::Leader.allows(Permission::ManageAccounts));
        assert!(Role::GridWorker.allows(Permission::ManageGrids));
        assert!(!Role::DepartmentClerk.allows(Permission::ManageGrids));
        assert!(!Role::Resident.allows(Permission::ViewRegions));
    }

    #[test]
    fn personal_data_is_revealed_by_the_workers_who_keep_it() {
        assert!(Role::CommunityWorker.allows(Permission::RevealPersonal));
        assert!(Role::GridWorker.allows(Permission::RevealPersonal));
        assert!(!Role::Leader.allows(Permission::RevealPersonal));
        assert!(Role::Leader.allows(Permission::ViewRegistry));
        assert!(!Role::DepartmentClerk.allows(Permission::ViewRegistry));
        assert!(!Role::CommunityWorker.allows(Permission::ManageTypology));
        assert!(Role::Admin.allows(Permission::ManageTypology));
    }
}
