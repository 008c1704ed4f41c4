//! The roles a user may hold, and their stored form.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn as_db(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    /// Reads the stored form; anything unexpected is the least privileged role.
    pub fn from_db(s: &str) -> Role {
        if s == "admin" { Role::Admin } else { Role::Member }
    }
}

impl Role {
    /// Whether this role may administer users, invites and other people's sessions.
    pub fn is_admin(self) -> bool {
        self == Role::Admin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_form_round_trips_and_junk_is_least_privileged() {
        for role in [Role::Admin, Role::Member] {
            assert_eq!(Role::from_db(role.as_db()), role);
        }
        assert_eq!(Role::from_db("root"), Role::Member);
        assert!(Role::Admin.is_admin() && !Role::Member.is_admin());
    }
}
