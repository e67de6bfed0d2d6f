//! Who is asking, and what they may do: the request-scoped principal.

use crate::ANY_MODULE;
use serde::Serialize;
use yrd_kernel::{AccessLevel, JurisdictionCode, Scope};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct UserRef {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    pub is_admin: bool,
}

/// Permission to act in `module` at `level` within `scope`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Grant {
    pub module: String,
    pub level: AccessLevel,
    pub scope: Scope,
}

impl Grant {
    fn applies(&self, module: &str, level: AccessLevel) -> bool {
        (self.module == module || self.module == ANY_MODULE) && self.level >= level
    }
}

/// The caller of one request: anonymous, or a user with their grants.
#[derive(Debug, Clone, Default)]
pub struct Principal {
    user: Option<UserRef>,
    grants: Vec<Grant>,
}

/// Why a request was refused; the web layer turns it into a 403 and an audit line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{actor} may not {level} in {module} for {}", jurisdiction.map_or("the whole region".to_string(), |c| c.to_string()))]
pub struct Denied {
    pub actor: String,
    pub module: String,
    pub level: AccessLevel,
    pub jurisdiction: Option<JurisdictionCode>,
}

/// The jurisdictions a principal may see at some level in a module, for filtering lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scopes {
    /// The whole region.
    All,
    /// Only inside these prefixes (never empty).
    Within(Vec<Scope>),
    Nothing,
}

impl Scopes {
    pub fn covers(&self, code: JurisdictionCode) -> bool {
        match self {
            Scopes::All => true,
            Scopes::Within(scopes) => scopes.iter().any(|s| s.covers(code)),
            Scopes::Nothing => false,
        }
    }
}

impl Principal {
    pub fn anonymous() -> Self {
        Self::default()
    }

    pub fn user(user: UserRef, grants: Vec<Grant>) -> Self {
        Self {
            user: Some(user),
            grants,
        }
    }

    pub fn user_ref(&self) -> Option<&UserRef> {
        self.user.as_ref()
    }

    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    pub fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.is_admin)
    }

    /// The name the audit log records.
    pub fn actor(&self) -> String {
        self.user
            .as_ref()
            .map_or_else(|| "anonymous".to_string(), |u| u.login.clone())
    }

    /// Whether the principal may act at `level` in `module` for `jurisdiction`
    /// (`None` = for the whole region, which only a region-wide grant allows).
    pub fn allows(&self, module: &str, level: AccessLevel, jurisdiction: Option<JurisdictionCode>) -> bool {
        if self.is_admin() {
            return true;
        }
        self.grants.iter().any(|grant| {
            grant.applies(module, level)
                && match jurisdiction {
                    Some(code) => grant.scope.covers(code),
                    None => grant.scope.is_region(),
                }
        })
    }

    pub fn require(
        &self,
        module: &str,
        level: AccessLevel,
        jurisdiction: Option<JurisdictionCode>,
    ) -> Result<(), Denied> {
        if self.allows(module, level, jurisdiction) {
            Ok(())
        } else {
            Err(Denied {
                actor: self.actor(),
                module: module.to_string(),
                level,
                jurisdiction,
            })
        }
    }

    /// Where the principal may act at `level` in `module`.
    pub fn scopes(&self, module: &str, level: AccessLevel) -> Scopes {
        if self.is_admin() {
            return Scopes::All;
        }
        let scopes: Vec<Scope> = self
            .grants
            .iter()
            .filter(|g| g.applies(module, level))
            .map(|g| g.scope.clone())
            .collect();
        if scopes.iter().any(Scope::is_region) {
            Scopes::All
        } else if scopes.is_empty() {
            Scopes::Nothing
        } else {
            Scopes::Within(scopes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> JurisdictionCode {
        JurisdictionCode::parse(text).unwrap()
    }

    fn official(grants: &[(&str, AccessLevel, &str)]) -> Principal {
        Principal::user(
            UserRef {
                id: 7,
                login: "js-official".into(),
                display_name: "JS".into(),
                is_admin: false,
            },
            grants
                .iter()
                .map(|(module, level, scope)| Grant {
                    module: module.to_string(),
                    level: *level,
                    scope: Scope::parse(scope).unwrap(),
                })
                .collect(),
        )
    }

    #[test]
    fn a_jiangsu_grant_stops_at_the_provincial_border() {
        let p = official(&[("plan", AccessLevel::Write, "32")]);
        assert!(p.allows("plan", AccessLevel::Read, Some(code("320500"))));
        assert!(p.allows("plan", AccessLevel::Write, Some(code("320509"))));
        assert!(!p.allows("plan", AccessLevel::Approve, Some(code("320500"))));
        assert!(!p.allows("plan", AccessLevel::Read, Some(code("330100"))));
        assert!(!p.allows("plan", AccessLevel::Read, None), "not region-wide");
        assert!(!p.allows("health", AccessLevel::Read, Some(code("320500"))));
        let denied = p.require("plan", AccessLevel::Write, Some(code("340100"))).unwrap_err();
        assert_eq!(denied.jurisdiction, Some(code("340100")));
        assert_eq!(denied.actor, "js-official");
    }

    #[test]
    fn scopes_describe_where_a_principal_may_look() {
        let p = official(&[
            ("plan", AccessLevel::Read, "3205"),
            ("plan", AccessLevel::Write, "3206"),
        ]);
        match p.scopes("plan", AccessLevel::Read) {
            Scopes::Within(scopes) => assert_eq!(scopes.len(), 2),
            other => panic!("{other:?}"),
        }
        assert!(p.scopes("plan", AccessLevel::Write).covers(code("320600")));
        assert!(!p.scopes("plan", AccessLevel::Write).covers(code("320500")));
        assert_eq!(p.scopes("audit", AccessLevel::Read), Scopes::Nothing);
        let office = official(&[("*", AccessLevel::Approve, "")]);
        assert_eq!(office.scopes("plan", AccessLevel::Approve), Scopes::All);
        assert!(office.allows("charging", AccessLevel::Read, None));
        assert!(!office.allows("charging", AccessLevel::Admin, None));
    }

    #[test]
    fn anonymous_may_do_nothing_guarded() {
        let p = Principal::anonymous();
        assert_eq!(p.actor(), "anonymous");
        assert!(!p.allows("plan", AccessLevel::Read, Some(code("310100"))));
        assert_eq!(p.scopes("plan", AccessLevel::Read), Scopes::Nothing);
    }
}
