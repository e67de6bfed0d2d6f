//! The `yrd` binary's library half: the one list of modules and the platform-wide
//! demonstration data. Adding a module is one line in [`modules`].

use std::sync::Arc;
use yrd_auth::NewUser;
use yrd_kernel::{AccessLevel, Scope};
use yrd_web::{AppContext, Module};

/// Every module of the platform, in navigation order.
pub fn modules() -> Vec<Arc<dyn Module>> {
    modules_with_broker(None)
}

/// The same modules, with a NATS broker between several nodes (`yrd serve --nats`).
pub fn modules_with_broker(nats: Option<&str>) -> Vec<Arc<dyn Module>> {
    let charging = match nats {
        Some(url) => yrd_charging::ChargingModule::with_broker(url),
        None => yrd_charging::ChargingModule::new(),
    };
    vec![
        Arc::new(yrd_plan::PlanModule::new()),
        Arc::new(yrd_govservice::GovServiceModule::new()),
        Arc::new(yrd_insurance::InsuranceModule::new()),
        Arc::new(yrd_health::HealthModule::new()),
        Arc::new(charging),
        Arc::new(yrd_transit::TransitModule::new()),
    ]
}

/// The password of every demonstration login. Demo users exist only where `--demo`
/// or `yrd demo` created them.
pub const DEMO_PASSWORD: &str = "yrd-demo-2024";

/// A demonstration login and what it may do.
pub struct DemoUser {
    pub login: &'static str,
    pub display_name: &'static str,
    pub is_admin: bool,
    pub grants: &'static [DemoGrant],
}

/// `(module, level, scope)`.
pub type DemoGrant = (&'static str, AccessLevel, &'static str);

pub const DEMO_USERS: &[DemoUser] = &[
    DemoUser {
        login: "demo.admin",
        display_name: "平台管理员 Platform admin (demo)",
        is_admin: true,
        grants: &[],
    },
    DemoUser {
        login: "demo.office",
        display_name: "长三角区域合作办公室 YRD Cooperation Office (demo)",
        is_admin: false,
        grants: &[("*", AccessLevel::Approve, "")],
    },
    DemoUser {
        login: "demo.sh",
        display_name: "上海市 Shanghai official (demo)",
        is_admin: false,
        grants: &[
            ("*", AccessLevel::Write, "31"),
            ("govservice", AccessLevel::Approve, "31"),
        ],
    },
    DemoUser {
        login: "demo.js",
        display_name: "江苏省 Jiangsu official (demo)",
        is_admin: false,
        grants: &[
            ("*", AccessLevel::Write, "32"),
            ("govservice", AccessLevel::Approve, "32"),
        ],
    },
    DemoUser {
        login: "demo.zj",
        display_name: "浙江省 Zhejiang official (demo)",
        is_admin: false,
        grants: &[
            ("*", AccessLevel::Write, "33"),
            ("govservice", AccessLevel::Approve, "33"),
        ],
    },
    DemoUser {
        login: "demo.ah",
        display_name: "安徽省 Anhui official (demo)",
        is_admin: false,
        grants: &[
            ("*", AccessLevel::Write, "34"),
            ("govservice", AccessLevel::Approve, "34"),
        ],
    },
    DemoUser {
        login: "demo.hospital.sh",
        display_name: "上海市中心医院系统 Shanghai hospital system (demo)",
        is_admin: false,
        grants: &[],
    },
    DemoUser {
        login: "demo.hospital.ah",
        display_name: "合肥市中心医院系统 Hefei hospital system (demo)",
        is_admin: false,
        grants: &[],
    },
    DemoUser {
        login: "demo.operator",
        display_name: "电网充电 Charging operator (demo)",
        is_admin: false,
        grants: &[],
    },
    DemoUser {
        login: "demo.patient",
        display_name: "王芳 Wang Fang, patient (demo)",
        is_admin: false,
        grants: &[],
    },
];

/// Loads the demonstration users and every module's demonstration data. Running it
/// again adds nothing.
pub async fn load_demo(ctx: &AppContext, modules: &[Arc<dyn Module>]) -> Result<(), String> {
    for demo in DEMO_USERS {
        if yrd_auth::find_user(&ctx.db, demo.login)
            .await
            .map_err(|e| e.to_string())?
            .is_some()
        {
            continue;
        }
        let user = NewUser {
            login: demo.login.to_string(),
            display_name: demo.display_name.to_string(),
            password: Some(DEMO_PASSWORD.to_string()),
            is_admin: demo.is_admin,
            is_demo: true,
        };
        yrd_auth::create_user(&ctx.db, "system", user)
            .await
            .map_err(|e| e.to_string())?;
        for (module, level, scope) in demo.grants {
            let scope = Scope::parse(scope).map_err(|e| e.to_string())?;
            yrd_auth::grant(&ctx.db, "system", demo.login, module, *level, &scope)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    for module in modules {
        module.demo(ctx).await.map_err(|e| format!("{}: {e}", module.name()))?;
    }
    Ok(())
}
