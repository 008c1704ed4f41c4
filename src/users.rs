//! Users as the rest of the code sees them: roles and the stored form of a role.

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
