//! Demonstration data: a hospital in each of the 41 cities (and a level-1 clinic),
//! the recognition catalogue, patients who live in one province and are treated in
//! another with their results, consents and decisions. Deterministic in shape, dated
//! relative to today so that validity windows hold; names say demo.
//!
//! The walk-through of docs/health.md uses 王芳, an Anhui patient of the Hefei hospital
//! who has not yet been to Shanghai: her visit is left to the reader.

use crate::access::Reader;
use crate::fhir::{DICOM_MODALITY, LOINC, NATIONAL_ID_SYSTEM, PURPOSE_SYSTEM, SNOMED};
use crate::mpi::Keys;
use crate::recognition::{self, DecisionInput};
use crate::store::{self, Expect, Hospital, Writer};
use chrono::Duration;
use serde_json::{Value, json};
use sqlx::Row;
use yrd_db::Db;
use yrd_kernel::national_id::with_check_digit;
use yrd_kernel::time::today;
use yrd_kernel::{JurisdictionLevel, jurisdictions};

/// The hospital system logins of the demonstration (created with the other demo users).
pub const SHANGHAI_SYSTEM: &str = "demo.hospital.sh";
pub const HEFEI_SYSTEM: &str = "demo.hospital.ah";
pub const PATIENT_LOGIN: &str = "demo.patient";
/// 王芳's national ID (demo): born 1985-03-15 in Hefei.
pub fn walkthrough_national_id() -> String {
    with_check_digit("34010219850315002")
}

/// Lab results the demo hospitals hold: (LOINC, zh, en, UCUM unit, typical value). The
/// last is not in the shipped recognition catalogue, so the demo shows that case too.
type LabResult = (&'static str, &'static str, &'static str, &'static str, f64);

const LAB: [LabResult; 18] = [
    ("718-7", "血红蛋白", "Haemoglobin", "g/L", 132.0),
    ("789-8", "红细胞计数", "Erythrocytes", "10*12/L", 4.5),
    ("6690-2", "白细胞计数", "Leukocytes", "10*9/L", 6.2),
    ("777-3", "血小板计数", "Platelets", "10*9/L", 210.0),
    ("2345-7", "葡萄糖", "Glucose", "mmol/L", 5.4),
    ("4548-4", "糖化血红蛋白", "Haemoglobin A1c", "%", 6.1),
    ("2160-0", "肌酐", "Creatinine", "umol/L", 78.0),
    ("3094-0", "尿素氮", "Urea nitrogen", "mmol/L", 5.1),
    ("1742-6", "丙氨酸氨基转移酶", "ALT", "U/L", 24.0),
    ("1920-8", "天门冬氨酸氨基转移酶", "AST", "U/L", 22.0),
    ("1975-2", "总胆红素", "Total bilirubin", "umol/L", 12.0),
    ("2093-3", "总胆固醇", "Total cholesterol", "mmol/L", 4.6),
    ("2571-8", "甘油三酯", "Triglyceride", "mmol/L", 1.3),
    ("2951-2", "钠", "Sodium", "mmol/L", 140.0),
    ("2823-3", "钾", "Potassium", "mmol/L", 4.1),
    ("3016-3", "促甲状腺激素", "TSH", "m[IU]/L", 2.1),
    ("5902-2", "凝血酶原时间", "Prothrombin time", "s", 12.0),
    ("14682-9", "肌酐（血清，摩尔）", "Creatinine (molar)", "umol/L", 80.0),
];

/// Imaging studies: (DICOM modality, SNOMED CT body site, zh, en).
type ImagingKind = (&'static str, &'static str, &'static str, &'static str);

const IMAGING: [ImagingKind; 6] = [
    ("CT", "51185008", "胸部 CT", "Chest CT"),
    ("CT", "69536005", "头部 CT", "Head CT"),
    ("MR", "12738006", "头颅磁共振", "Brain MRI"),
    ("DX", "51185008", "胸部 X 线", "Chest X-ray"),
    ("US", "818983003", "腹部超声", "Abdominal ultrasound"),
    ("MG", "76752008", "乳腺钼靶", "Mammography"),
];

const FAMILY: [&str; 12] = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙"];
const GIVEN: [&str; 12] = ["伟", "芳", "娜", "敏", "静", "强", "磊", "军", "洋", "勇", "艳", "杰"];

pub async fn load(db: &Db) -> Result<(), String> {
    load_inner(db).await.map_err(|e| e.to_string())
}

fn hospital_id(city: &str) -> String {
    format!("h-{city}")
}

async fn load_inner(db: &Db) -> Result<(), crate::fhir::FhirError> {
    let done = sqlx::query("SELECT COUNT(*) FROM health_hospitals")
        .fetch_one(db.pool())
        .await?;
    if done.get::<i64, _>(0) > 0 {
        return Ok(());
    }
    let catalogue = recognition::parse_catalogue(recognition::SHIPPED_CATALOGUE)
        .map_err(|e| crate::fhir::FhirError::BadRequest(e.join("; ")))?;
    recognition::import_catalogue(db, "demo", &catalogue).await?;

    let cities: Vec<_> = jurisdictions()
        .all()
        .filter(|j| j.level == JurisdictionLevel::City)
        .collect();
    let mut hospitals = Vec::new();
    for (i, city) in cities.iter().enumerate() {
        let capital = matches!(
            city.code.to_string().as_str(),
            "310100" | "320100" | "330100" | "340100"
        );
        let hospital = Hospital {
            org_id: hospital_id(&city.code.to_string()),
            name: format!("{}中心医院（示例）", city.name_zh.trim_end_matches('市')),
            jurisdiction: city.code,
            level: if capital || i % 3 != 2 { 3 } else { 2 },
            grade: if capital || i % 2 == 0 { "甲" } else { "乙" }.into(),
        };
        store::save_hospital(db, "demo", &hospital).await?;
        hospitals.push(hospital);
    }
    let clinic = Hospital {
        org_id: "h-340100-clinic".into(),
        name: "合肥社区卫生服务中心（示例）".into(),
        jurisdiction: yrd_kernel::JurisdictionCode::parse("340100")
            .map_err(|e| crate::fhir::FhirError::BadRequest(e.to_string()))?,
        level: 1,
        grade: "甲".into(),
    };
    store::save_hospital(db, "demo", &clinic).await?;
    hospitals.push(clinic);
    for (login, org) in [(SHANGHAI_SYSTEM, "h-310100"), (HEFEI_SYSTEM, "h-340100")] {
        if yrd_auth::find_user(db, login).await.ok().flatten().is_some() {
            store::save_staff(db, "demo", login, org).await?;
        }
    }

    let keys = Keys::load(db).await?;
    let find = |id: &str| hospitals.iter().find(|h| h.org_id == id).cloned();
    let hefei = find("h-340100").unwrap_or_else(|| hospitals[0].clone());
    let shanghai = find("h-310100").unwrap_or_else(|| hospitals[0].clone());

    // 王芳: Anhui patient with recent results in Hefei, not yet seen in Shanghai.
    let wang = patient_resource(&walkthrough_national_id(), "王", "芳", "female", "1985-03-15");
    let wang_id = write(db, &keys, &hefei, "Patient", wang).await?;
    let wang_results: [(usize, i64); 6] = [(0, 3), (6, 10), (8, 5), (5, 40), (4, 30), (3, 2)];
    for (lab, days_ago) in wang_results {
        write(
            db,
            &keys,
            &hefei,
            "Observation",
            observation(&wang_id, LAB[lab], days_ago, 0),
        )
        .await?;
    }
    write(db, &keys, &hefei, "ImagingStudy", imaging(&wang_id, IMAGING[0], 30, 1)).await?;
    if yrd_auth::find_user(db, PATIENT_LOGIN).await.ok().flatten().is_some() {
        crate::http::link_account(db, "demo", PATIENT_LOGIN, &walkthrough_national_id()).await?;
    }

    // Forty people who live in one province and are treated in another.
    let provinces = ["31", "32", "33", "34"];
    for n in 0..40usize {
        let home_province = provinces[n % 4];
        let visit_province = provinces[(n / 4 + n + 1) % 4];
        let visit_province = if visit_province == home_province {
            provinces[(n + 2) % 4]
        } else {
            visit_province
        };
        let in_province = |p: &str| {
            hospitals
                .iter()
                .filter(|h| h.jurisdiction.to_string().starts_with(p) && h.level > 1)
                .cloned()
                .collect::<Vec<_>>()
        };
        let homes = in_province(home_province);
        let visits = in_province(visit_province);
        let home = homes[n % homes.len()].clone();
        // Every fourth visitor comes to the Shanghai hospital, whose console the demo shows.
        let visit = if n % 4 == 1 {
            shanghai.clone()
        } else {
            visits[(n * 7) % visits.len()].clone()
        };
        if home.org_id == visit.org_id {
            continue;
        }
        let place = &home.jurisdiction.to_string();
        let year = 1950 + (n * 7) % 50;
        let birth = format!("{year}{:02}{:02}", 1 + n % 12, 1 + (n * 3) % 28);
        let id = with_check_digit(&format!("{place}{birth}{:03}", 100 + n));
        let gender = if (100 + n) % 2 == 1 { "male" } else { "female" };
        let (family, given) = (FAMILY[n % 12], GIVEN[(n * 5) % 12]);
        let birth_date = format!("{}-{}-{}", &birth[..4], &birth[4..6], &birth[6..]);
        let home_patient = write(
            db,
            &keys,
            &home,
            "Patient",
            patient_resource(&id, family, given, gender, &birth_date),
        )
        .await?;
        let mut results = Vec::new();
        for k in 0..4 {
            let lab = LAB[(n + k * 5) % LAB.len()];
            let days_ago = [2, 6, 12, 45][(n + k) % 4];
            results.push(
                write(
                    db,
                    &keys,
                    &home,
                    "Observation",
                    observation(&home_patient, lab, days_ago, n),
                )
                .await?,
            );
        }
        if n % 3 == 0 {
            let item = IMAGING[n % IMAGING.len()];
            results.push(
                write(
                    db,
                    &keys,
                    &home,
                    "ImagingStudy",
                    imaging(&home_patient, item, 20 + n as i64, n),
                )
                .await?,
            );
        }
        let visit_patient = write(
            db,
            &keys,
            &visit,
            "Patient",
            patient_resource(&id, family, given, gender, &birth_date),
        )
        .await?;
        if n % 5 == 4 {
            continue; // No consent: the visiting hospital sees nothing of the home hospital.
        }
        write(db, &keys, &home, "Consent", consent(&home_patient, &visit.org_id)).await?;
        let reader = Reader {
            login: format!("demo.doctor.{}", visit.org_id),
            hospital: visit.clone(),
            purpose: "TREAT".into(),
            break_glass: None,
        };
        let views = recognition::results(db, &reader, &visit_patient).await?;
        for (k, view) in views.iter().enumerate() {
            let Some(_) = &view.item_code else { continue };
            let accepted = view.recognisable && (n + k) % 5 != 0;
            if !view.recognisable && k % 2 == 1 {
                continue;
            }
            let input = DecisionInput {
                patient: visit_patient.clone(),
                result: view.result.clone(),
                decision: if accepted { "accepted" } else { "declined" }.into(),
                reason: (!accepted).then(|| {
                    if view.recognisable {
                        "病情变化，需复查 (condition changed)"
                    } else {
                        "超出互认有效期 (outside the window)"
                    }
                    .to_string()
                }),
            };
            recognition::decide(db, &keys, &reader, &input).await?;
        }
    }
    Ok(())
}

async fn write(
    db: &Db,
    keys: &Keys,
    hospital: &Hospital,
    res_type: &str,
    resource: Value,
) -> Result<String, crate::fhir::FhirError> {
    let writer = Writer::Hospital {
        login: "demo".into(),
        hospital: hospital.clone(),
    };
    let mut tx = db.begin().await?;
    let mut pending = Vec::new();
    let stored = store::write(
        &mut tx,
        keys,
        &writer,
        res_type,
        None,
        resource,
        Expect::New,
        &mut pending,
    )
    .await?;
    store::check_references(&mut tx, &pending).await?;
    tx.commit().await?;
    Ok(stored.id)
}

fn patient_resource(national_id: &str, family: &str, given: &str, gender: &str, birth_date: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "identifier": [{"system": NATIONAL_ID_SYSTEM, "value": national_id}],
        "name": [{"use": "official", "family": family, "given": [given], "text": format!("{family}{given}")}],
        "gender": gender,
        "birthDate": birth_date
    })
}

fn day_ago(days: i64) -> String {
    format!("{}T09:30:00+08:00", today() - Duration::days(days))
}

fn observation(patient: &str, (code, zh, en, unit, value): LabResult, days_ago: i64, n: usize) -> Value {
    let value = ((value * (0.9 + (n % 5) as f64 * 0.05)) * 10.0).round() / 10.0;
    json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "code": {"coding": [{"system": LOINC, "code": code, "display": en}], "text": zh},
        "subject": {"reference": format!("Patient/{patient}")},
        "effectiveDateTime": day_ago(days_ago),
        "issued": format!("{}T03:00:00Z", today() - Duration::days(days_ago)),
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
    })
}

fn imaging(patient: &str, (modality, site, zh, en): ImagingKind, days_ago: i64, n: usize) -> Value {
    json!({
        "resourceType": "ImagingStudy",
        "status": "available",
        "modality": [{"system": DICOM_MODALITY, "code": modality}],
        "subject": {"reference": format!("Patient/{patient}")},
        "started": day_ago(days_ago),
        "description": format!("{zh} {en}"),
        "numberOfSeries": 1,
        "numberOfInstances": 1,
        "series": [{
            "uid": format!("1.2.156.112536.{}.{}", 1000 + n, days_ago),
            "modality": {"system": DICOM_MODALITY, "code": modality},
            "bodySite": {"system": SNOMED, "code": site, "display": en},
            "instance": [{"uid": format!("1.2.156.112536.{}.{}.1", 1000 + n, days_ago), "sopClass": {"system": "urn:ietf:rfc:3986", "code": "urn:oid:1.2.840.10008.5.1.4.1.1.2"}}]
        }]
    })
}

fn consent(patient: &str, grantee_org: &str) -> Value {
    let start = today() - Duration::days(1);
    json!({
        "resourceType": "Consent",
        "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": format!("Patient/{patient}")},
        "dateTime": day_ago(1),
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
        "provision": {
            "type": "permit",
            "period": {"start": start.to_string(), "end": (start + Duration::days(365)).to_string()},
            "actor": [{"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]},
                       "reference": {"reference": format!("Organization/{grantee_org}")}}],
            "purpose": [{"system": PURPOSE_SYSTEM, "code": "TREAT"}]
        }
    })
}
