//! Demonstration data: the shipped catalogue, keys for the four provinces and the
//! region, two cross-province windows per province, and cases in every state, each
//! received in one province and decided in another. Everything is marked demo.

use crate::catalogue;
use crate::domain::{Action, CaseState, Channel, Role};
use crate::service::{self, Actor, NewCase, Window};
use serde_json::json;
use sqlx::Row;
use yrd_db::Db;
use yrd_kernel::JurisdictionCode;

/// `(window code, jurisdiction, zh, en, address, staff login)`.
const WINDOWS: [(&str, &str, &str, &str, &str, &str); 8] = [
    (
        "SH-PD-01",
        "310100",
        "上海市跨省通办综合窗口（演示）",
        "Shanghai cross-province window (demo)",
        "浦东新区合欢路 201 号",
        "demo.sh",
    ),
    (
        "SH-QP-01",
        "310118",
        "青浦区长三角通办窗口（演示）",
        "Qingpu YRD window (demo)",
        "青浦区华青南路 1 号",
        "demo.sh",
    ),
    (
        "JS-NJ-01",
        "320100",
        "南京市跨省通办窗口（演示）",
        "Nanjing cross-province window (demo)",
        "建邺区江东中路 265 号",
        "demo.js",
    ),
    (
        "JS-WJ-01",
        "320509",
        "吴江区长三角通办窗口（演示）",
        "Wujiang YRD window (demo)",
        "吴江区中山南路 1979 号",
        "demo.js",
    ),
    (
        "ZJ-HZ-01",
        "330100",
        "杭州市跨省通办窗口（演示）",
        "Hangzhou cross-province window (demo)",
        "上城区解放东路 18 号",
        "demo.zj",
    ),
    (
        "ZJ-JS-01",
        "330421",
        "嘉善县长三角通办窗口（演示）",
        "Jiashan YRD window (demo)",
        "嘉善县体育南路 58 号",
        "demo.zj",
    ),
    (
        "AH-HF-01",
        "340100",
        "合肥市跨省通办窗口（演示）",
        "Hefei cross-province window (demo)",
        "蜀山区潜山路 100 号",
        "demo.ah",
    ),
    (
        "AH-WH-01",
        "340200",
        "芜湖市跨省通办窗口（演示）",
        "Wuhu cross-province window (demo)",
        "鸠江区瑞祥路 88 号",
        "demo.ah",
    ),
];

const DEMO_LOGIN: [(&str, &str); 4] = [
    ("31", "demo.sh"),
    ("32", "demo.js"),
    ("33", "demo.zj"),
    ("34", "demo.ah"),
];

fn login_of(code: JurisdictionCode) -> &'static str {
    let prefix = &code.to_string()[..2];
    DEMO_LOGIN
        .iter()
        .find(|(p, _)| *p == prefix)
        .map_or("demo.admin", |(_, l)| l)
}

/// The way to each target state.
fn path_to(state: CaseState) -> Vec<Action> {
    use Action as A;
    match state {
        CaseState::Submitted => vec![],
        CaseState::Accepted => vec![A::Accept],
        CaseState::RefusedAtIntake => vec![A::RefuseAtIntake],
        CaseState::UnderReview => vec![A::Accept, A::StartReview],
        CaseState::SupplementRequested => vec![A::Accept, A::StartReview, A::RequestSupplement],
        CaseState::Supplemented => vec![A::Accept, A::StartReview, A::RequestSupplement, A::Supplement],
        CaseState::Approved => vec![A::Accept, A::StartReview, A::Approve],
        CaseState::Denied => vec![A::Accept, A::StartReview, A::Deny],
        CaseState::ResultDelivered => vec![A::Accept, A::StartReview, A::Approve, A::DeliverResult],
        CaseState::Closed => vec![A::Accept, A::StartReview, A::Approve, A::DeliverResult, A::Close],
        CaseState::Withdrawn => vec![A::Accept, A::Withdraw],
    }
}

fn reason(action: Action) -> Option<&'static str> {
    match action {
        Action::RefuseAtIntake => {
            Some("材料不齐：缺少申请表原件（演示）/ Incomplete: the signed form is missing (demo)")
        }
        Action::RequestSupplement => {
            Some("请补充近三个月缴费记录（演示）/ Please add the last three months' records (demo)")
        }
        Action::Deny => Some("不符合办理条件（演示）/ Conditions not met (demo)"),
        Action::Withdraw => Some("申请人撤回（演示）/ Withdrawn by the applicant (demo)"),
        _ => None,
    }
}

pub async fn load(db: &Db) -> Result<(), String> {
    let count = |sql: &'static str| async move {
        sqlx::query(sql)
            .fetch_one(db.pool())
            .await
            .map(|r| r.get::<i64, _>(0))
            .map_err(|e| e.to_string())
    };
    if count("SELECT COUNT(*) FROM gs_cases WHERE demo = 1").await? > 0 {
        return Ok(());
    }
    // A catalogue imported before is kept; the shipped one fills an empty installation.
    if count("SELECT COUNT(*) FROM gs_items").await? == 0 {
        let catalogue = catalogue::parse(crate::SHIPPED_CATALOGUE).map_err(|e| format!("{e:?}"))?;
        let digest = yrd_audit::sha256_hex(crate::SHIPPED_CATALOGUE.as_bytes());
        service::import_catalogue(db, "system", &catalogue, &digest)
            .await
            .map_err(|e| e.to_string())?;
    }
    let catalogue = catalogue::Catalogue {
        licence_types: Vec::new(),
        items: service::items(db).await.map_err(|e| e.to_string())?,
    };
    let keyed: Vec<String> = service::published_keys(db)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|k| k.issuer)
        .collect();
    for issuer in ["310000", "320000", "330000", "340000", service::REGION_ISSUER] {
        if !keyed.iter().any(|k| k == issuer) {
            service::rotate_key(db, "system", issuer)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    for (code, jurisdiction, zh, en, address, staff) in WINDOWS {
        let window = Window {
            code: code.into(),
            jurisdiction: JurisdictionCode::parse(jurisdiction).map_err(|e| e.to_string())?,
            name_zh: zh.into(),
            name_en: en.into(),
            address: address.into(),
            staff: vec![staff.into()],
        };
        service::save_window(db, "system", &window)
            .await
            .map_err(|e| e.to_string())?;
    }
    let homes = [
        "310117", "320500", "330100", "340100", "320200", "330200", "340200", "310118",
    ];
    let windowed: Vec<&catalogue::Item> = catalogue
        .items
        .iter()
        .filter(|i| i.channels.contains(&Channel::RemoteWindow))
        .collect();
    let with_licence: Vec<&catalogue::Item> = windowed
        .iter()
        .copied()
        .filter(|i| i.issues_licence.is_some())
        .collect();
    let mut n = 0usize;
    for (s, state) in CaseState::ALL.into_iter().enumerate() {
        for k in 0..3 {
            n += 1;
            let (code, window_j, ..) = WINDOWS[(s * 3 + k) % WINDOWS.len()];
            let window_j = JurisdictionCode::parse(window_j).map_err(|e| e.to_string())?;
            // The matter belongs to another province than the window's.
            let candidates: Vec<JurisdictionCode> = homes
                .iter()
                .filter_map(|h| JurisdictionCode::parse(h).ok())
                .filter(|h| h.province() != window_j.province())
                .collect();
            let home = candidates[n % candidates.len()];
            let delivers = matches!(state, CaseState::ResultDelivered | CaseState::Closed);
            let item = if delivers && k == 0 {
                with_licence[n % with_licence.len()]
            } else {
                windowed[(n * 7) % windowed.len()]
            };
            let clerk = Actor {
                login: login_of(window_j).into(),
                role: Role::IntakeClerk,
                jurisdiction: window_j,
            };
            let new = NewCase {
                item: item.clone(),
                applicant_name: format!("演示申请人 {n:02} / Demo applicant {n:02}"),
                applicant_contact: format!("1380000{n:04}"),
                language: if n.is_multiple_of(3) { "en".into() } else { "zh".into() },
                channel: Channel::RemoteWindow,
                window: Some((code.into(), window_j)),
                home,
                consent_sha256: Some(yrd_audit::sha256_hex(format!("consent form {n} (demo)").as_bytes())),
                bundle_id: None,
                demo: true,
            };
            let submitted = service::create_case(db, &clerk, new).await.map_err(|e| e.to_string())?;
            let authority = Actor {
                login: login_of(submitted.authority).into(),
                role: Role::Authority,
                jurisdiction: submitted.authority,
            };
            let mut case = service::case(db, &submitted.number)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("case vanished")?;
            service::add_attachment(
                db,
                &case,
                &clerk,
                "申请表扫描件.pdf",
                "application/pdf",
                format!("%PDF-1.4\n% demo scan {n}\n").as_bytes(),
            )
            .await
            .map_err(|e| e.to_string())?;
            for action in path_to(state) {
                let actor = match action {
                    Action::Accept | Action::Supplement | Action::Withdraw => &clerk,
                    _ => &authority,
                };
                if action == Action::DeliverResult && k == 0 && item.issues_licence.is_some() {
                    let subject = json!({"holder": format!("演示申请人 {n:02}"), "demo": true});
                    service::issue_licence(db, &case, &authority, subject)
                        .await
                        .map_err(|e| e.to_string())?;
                } else {
                    let delivery = (action == Action::DeliverResult).then(|| format!("SF{:010} (demo)", 1_000_000 + n));
                    service::act(db, &case, actor, action, reason(action), delivery.as_deref())
                        .await
                        .map_err(|e| e.to_string())?;
                }
                case = service::case(db, &submitted.number)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or("case vanished")?;
                if action == Action::StartReview {
                    service::add_review_note(
                        db,
                        &case,
                        &authority,
                        "材料齐全，符合条件（内部意见，演示）/ Complete and eligible (internal, demo)",
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                }
            }
            if !matches!(state, CaseState::Submitted | CaseState::RefusedAtIntake) {
                service::originals(db, &case, &clerk, true, Some(&format!("EMS{:09} (demo)", 500_000 + n)))
                    .await
                    .map_err(|e| e.to_string())?;
                if matches!(state, CaseState::Closed | CaseState::ResultDelivered) {
                    service::originals(db, &case, &authority, false, None)
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
        }
    }
    // One licence revoked, so that verification shows it.
    if let Some(row) = sqlx::query("SELECT id FROM gs_licences ORDER BY id LIMIT 1")
        .fetch_optional(db.pool())
        .await
        .map_err(|e| e.to_string())?
    {
        let licence = service::licence(db, row.get(0))
            .await
            .map_err(|e| e.to_string())?
            .ok_or("licence vanished")?;
        let issuer = JurisdictionCode::parse(&licence.issuer).map_err(|e| e.to_string())?;
        let actor = Actor {
            login: login_of(issuer).into(),
            role: Role::Authority,
            jurisdiction: issuer,
        };
        service::revoke_licence(
            db,
            &actor,
            &licence,
            "演示：证照信息有误 / Demo: the licence data were wrong",
        )
        .await
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}
