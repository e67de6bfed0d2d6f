//! Identities and access: users with argon2 password hashes, grants
//! `(module, level, scope)`, API tokens and console sessions stored only as hashes,
//! login throttling, and the request-scoped [`Principal`] that handlers ask.

mod principal;
mod secret;
mod service;

pub use principal::{Denied, Grant, Principal, Scopes, UserRef};
pub use secret::{hash_password, verify_password};
pub use service::*;

use yrd_db::{Migration, Migrations};

/// The grant module name that covers every module.
pub const ANY_MODULE: &str = "*";

pub fn migrations() -> Migrations {
    Migrations {
        module: "auth",
        steps: vec![Migration {
            version: 1,
            name: "identities",
            sqlite: include_str!("../migrations/0001_identities.sqlite.sql"),
            postgres: include_str!("../migrations/0001_identities.postgres.sql"),
        }],
    }
}
