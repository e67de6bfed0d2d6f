//! The `yrd` binary's library half: the one list of modules and the platform-wide
//! demonstration data. Adding a module is one line in [`modules`].

use std::sync::Arc;
use yrd_auth::NewUser;
use yrd_kernel::{AccessLevel, Scope};
use yrd_web::{AppContext, Module};

/// Every module of the platform, in navigation order.
pub fn modules() -> Vec<Arc<dyn Module>> {
    vec![]
}

/// The password of every demonstration login. Demo users exist only where `--demo`
/// or `yrd demo` created them.
pub const DEMO_PASSWORD: &str = "yrd-demo-2024";

/// Demonstration users: `(login, display name, admin, grants)`.
pub const DEMO_USERS: &[(&str, &str, bool, &[(&str, AccessLevel, &str)])] = &[
    ("demo.admin", "平台管理员 Platform admin (demo)", true, &[]),
    ("demo.office", "长三角区域合作办公室 YRD Cooperation Office (demo)", false, &[("*", AccessLevel::Approve, "")]),
    ("demo.sh", "上海市 Shanghai official (demo)", false, &[("*", AccessLevel::Write, "31")]),
    ("demo.js", "江苏省 Jiangsu official (demo)", false, &[("*", AccessLevel::Write, "32")]),
    ("demo.zj", "浙江省 Zhejiang official (demo)", false, &[("*", AccessLevel::Write, "33")]),
    ("demo.ah", "安徽省 Anhui official (demo)", false, &[("*", AccessLevel::Write, "34")]),
];

/// Loads the demonstration users and every module's demonstration data. Running it
/// again adds nothing.
pub async fn load_demo(ctx: &AppContext, modules: &[Arc<dyn Module>]) -> Result<(), String> {
    for (login, name, admin, grants) in DEMO_USERS {
        if yrd_auth::find_user(&ctx.db, login).await.map_err(|e| e.to_string())?.is_some() {
            continue;
        }
        let user = NewUser {
            login: login.to_string(),
            display_name: name.to_string(),
            password: Some(DEMO_PASSWORD.to_string()),
            is_admin: *admin,
            is_demo: true,
        };
        yrd_auth::create_user(&ctx.db, "system", user).await.map_err(|e| e.to_string())?;
        for (module, level, scope) in *grants {
            let scope = Scope::parse(scope).map_err(|e| e.to_string())?;
            yrd_auth::grant(&ctx.db, "system", login, module, *level, &scope).await.map_err(|e| e.to_string())?;
        }
    }
    for module in modules {
        module.demo(ctx).await.map_err(|e| format!("{}: {e}", module.name()))?;
    }
    Ok(())
}
