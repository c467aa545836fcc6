//! API keys: who may call a server, and as what.

/// What a key may do. Stored as its lower-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything, also the keys, the usage, the run log and the console.
    Admin,
    /// An API client (a platform, a Judge0 or Piston client): runs, submissions, snippets,
    /// exercises.
    Caller,
    /// The classroom page: run code, load exercises, save snippets; nothing else.
    Classroom,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Caller, Role::Classroom];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Caller => "caller",
            Role::Classroom => "classroom",
        }
    }

    /// The role named `name` (`admin`, `caller`, `classroom`).
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key's quotas; `None`: no quota of that kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quotas {
    /// Runs started per minute (a sliding minute).
    pub runs_per_minute: Option<u32>,
    /// CPU-seconds per UTC day, over every run of the key.
    pub cpu_s_per_day: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_by_name() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("Admin"), None);
    }
}
