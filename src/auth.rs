//! Who may do what: roles, API keys and per-layer access rules.
//!
//! Roles are ordered `viewer < approver < publisher < admin`; an endpoint
//! needs a minimum role. API keys are random 160-bit secrets shown once and
//! stored only as their SHA-256: a fast hash is enough here because the
//! secret has full entropy (no dictionary to guess from), unlike a password.
//! No HTTP here: `http::auth` reads the `Authorization` header.

use std::collections::BTreeMap;
use std::fmt;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A caller's role; later variants include the rights of earlier ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Approver,
    Publisher,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Approver, Role::Publisher, Role::Admin];

    pub fn parse(s: &str) -> Option<Role> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Role::Viewer,
            "approver" => Role::Approver,
            "publisher" => Role::Publisher,
            "admin" => Role::Admin,
            _ => return None,
        })
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Approver => "approver",
            Role::Publisher => "publisher",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who sent a request: anonymous, or the holder of a key with a role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    pub role: Option<Role>,
    /// The key's public id (never the secret).
    pub key_id: Option<String>,
}

impl Caller {
    pub fn anonymous() -> Caller {
        Caller::default()
    }

    pub fn with_role(role: Role, key_id: impl Into<String>) -> Caller {
        Caller {
            role: Some(role),
            key_id: Some(key_id.into()),
        }
    }

    /// Whether the caller holds `role` or a higher one.
    pub fn at_least(&self, role: Role) -> bool {
        self.role.is_some_and(|r| r >= role)
    }
}

/// Who may see a layer: everyone, or only some roles. `admin` always may.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Access {
    #[default]
    Public,
    /// Only these roles (and admin).
    Roles(Vec<Role>),
}

impl Access {
    /// `"restricted"`: the roles that handle personal data in their work.
    pub fn restricted() -> Access {
        Access::Roles(vec![Role::Approver, Role::Publisher, Role::Admin])
    }

    pub fn is_public(&self) -> bool {
        matches!(self, Access::Public)
    }

    pub fn allows(&self, caller: &Caller) -> bool {
        match self {
            Access::Public => true,
            Access::Roles(roles) => caller
                .role
                .is_some_and(|r| r == Role::Admin || roles.contains(&r)),
        }
    }

    /// Parses `"public"`, `"restricted"` or a comma-separated role list.
    pub fn parse(s: &str) -> Result<Access, String> {
        match s.trim() {
            "public" => Ok(Access::Public),
            "restricted" => Ok(Access::restricted()),
            list => list
                .split(',')
                .map(|r| Role::parse(r).ok_or_else(|| format!("unknown role `{}`", r.trim())))
                .collect::<Result<Vec<_>, _>>()
                .and_then(|roles| {
                    if roles.is_empty() {
                        Err("empty role list".to_string())
                    } else {
                        Ok(Access::Roles(roles))
                    }
                }),
        }
    }
}

/// In layer files and the API: `"public"`, `"restricted"` or `["viewer", ...]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum AccessRepr {
    Word(String),
    List(Vec<String>),
}

impl<'de> Deserialize<'de> for Access {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Access, D::Error> {
        let r = AccessRepr::deserialize(d)?;
        let parsed = match r {
            AccessRepr::Word(w) => Access::parse(&w),
            AccessRepr::List(l) if l.is_empty() => Err("empty role list".to_string()),
            AccessRepr::List(l) => Access::parse(&l.join(",")),
        };
        parsed.map_err(|e| {
            serde::de::Error::custom(format!(
                "{e}: expected \"public\", \"restricted\" or a list of roles (viewer, approver, publisher, admin)"
            ))
        })
    }
}

impl Serialize for Access {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Access::Public => s.serialize_str("public"),
            Access::Roles(r) => r.serialize(s),
        }
    }
}

/// Attribute -> lowest role that may read it (others get the feature
/// without that attribute).
pub type Mask = BTreeMap<String, Role>;

/// The attributes of `mask` hidden from `caller`.
pub fn hidden<'a>(mask: &'a Mask, caller: &Caller) -> Vec<&'a str> {
    mask.iter()
        .filter(|(_, role)| !caller.at_least(**role))
        .map(|(name, _)| name.as_str())
        .collect()
}

/// A new API key: the secret (shown once) and its public id.
pub struct NewKey {
    pub secret: String,
    pub id: String,
    pub hash: String,
}

/// Makes a key: `tudi_` + 40 hex digits from the OS's random source.
pub fn new_key() -> NewKey {
    let mut bytes = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = format!("tudi_{}", hex::encode(bytes));
    let hash = hash_key(&secret);
    let id = format!("k_{}", &hash[..12]);
    NewKey { secret, id, hash }
}

/// The stored form of a key.
pub fn hash_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether a presented token has the shape of a tudi key (checked before any
/// lookup, so junk is refused without touching the store).
pub fn plausible_key(token: &str) -> bool {
    token.len() == 45
        && token.starts_with("tudi_")
        && token[5..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered() {
        let approver = Caller::with_role(Role::Approver, "k");
        assert!(approver.at_least(Role::Viewer));
        assert!(approver.at_least(Role::Approver));
        assert!(!approver.at_least(Role::Publisher));
        assert!(!Caller::anonymous().at_least(Role::Viewer));
    }

    #[test]
    fn access_rules() {
        let r = Access::restricted();
        assert!(!r.allows(&Caller::anonymous()));
        assert!(!r.allows(&Caller::with_role(Role::Viewer, "k")));
        assert!(r.allows(&Caller::with_role(Role::Approver, "k")));
        let only_viewer = Access::parse("viewer").unwrap();
        assert!(only_viewer.allows(&Caller::with_role(Role::Viewer, "k")));
        assert!(!only_viewer.allows(&Caller::with_role(Role::Approver, "k")));
        assert!(only_viewer.allows(&Caller::with_role(Role::Admin, "k")));
        assert!(Access::Public.allows(&Caller::anonymous()));
        assert!(Access::parse("viewer, boss").is_err());
    }

    #[test]
    fn access_from_toml() {
        #[derive(Deserialize)]
        struct T {
            a: Access,
        }
        let t: T = toml::from_str("a = \"restricted\"").unwrap();
        assert_eq!(t.a, Access::restricted());
        let t: T = toml::from_str("a = [\"viewer\", \"approver\"]").unwrap();
        assert_eq!(t.a, Access::Roles(vec![Role::Viewer, Role::Approver]));
        assert!(toml::from_str::<T>("a = \"secret\"").is_err());
        assert!(toml::from_str::<T>("a = []").is_err());
    }

    #[test]
    fn masks_by_role() {
        let mask: Mask = [("qlr".to_string(), Role::Approver)].into();
        assert_eq!(hidden(&mask, &Caller::anonymous()), vec!["qlr"]);
        assert_eq!(
            hidden(&mask, &Caller::with_role(Role::Viewer, "k")),
            vec!["qlr"]
        );
        assert!(hidden(&mask, &Caller::with_role(Role::Publisher, "k")).is_empty());
    }

    #[test]
    fn keys_are_random_and_hashed() {
        let a = new_key();
        let b = new_key();
        assert_ne!(a.secret, b.secret);
        assert!(plausible_key(&a.secret));
        assert_eq!(hash_key(&a.secret), a.hash);
        assert!(!a.hash.contains(&a.secret[5..]));
        assert!(!plausible_key("tudi_xyz"));
        assert!(!plausible_key(&format!("{}g", &a.secret[..44])));
    }
}
