//! The FHIR R4 REST endpoint at `/fhir`: create, read, vread, update, history, search,
//! conditional create, `Patient/$match`, transaction and batch Bundles, and the
//! CapabilityStatement. Every error is an OperationOutcome.

use crate::access::{self, PURPOSES, Reader};
use crate::fhir::search::{self, Condition};
use crate::fhir::validate::{Reference, SUPPORTED};
use crate::fhir::{
    CONTENT_TYPE, FHIR_VERSION, FhirError, MAX_BUNDLE_ENTRIES, NATIONAL_ID_HASH_SYSTEM, NATIONAL_ID_SYSTEM,
};
use crate::mpi::{self, Keys};
use crate::store::{self, Expect, Stored, Writer};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use yrd_db::Db;
use yrd_web::Auth;
use yrd_web::caller::Credential;
use yrd_web::console::percent_encode;

pub fn routes() -> Router {
    Router::new()
        .route("/fhir", post(bundle).fallback(method_not_allowed))
        .route("/fhir/metadata", get(metadata).fallback(method_not_allowed))
        .route(
            "/fhir/{res_type}",
            get(search_type).post(create).fallback(method_not_allowed),
        )
        .route(
            "/fhir/{res_type}/{id}",
            get(read).put(update).post(operation).fallback(method_not_allowed),
        )
        .route(
            "/fhir/{res_type}/{id}/_history",
            get(history).fallback(method_not_allowed),
        )
        .route(
            "/fhir/{res_type}/{id}/_history/{version}",
            get(vread).fallback(method_not_allowed),
        )
        .route("/fhir/{res_type}/{id}/{operation}", any(unknown_path))
        .route("/fhir/{res_type}/{id}/{operation}/{part}", any(unknown_path))
}

type FhirResult = Result<Response, FhirError>;

fn fhir_response(status: u16, body: &Value, stored: Option<&Stored>, base: &str) -> Response {
    let mut response = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        body.to_string(),
    )
        .into_response();
    if let Some(stored) = stored {
        let headers = response.headers_mut();
        if let Ok(etag) = HeaderValue::from_str(&format!("W/\"{}\"", stored.version)) {
            headers.insert(header::ETAG, etag);
        }
        if let Some(modified) = http_date(stored.last_updated()) {
            headers.insert(header::LAST_MODIFIED, modified);
        }
        if status == 201
            && let Ok(location) =
                HeaderValue::from_str(&format!("{base}/{}/_history/{}", stored.reference(), stored.version))
        {
            headers.insert(header::LOCATION, location);
        }
    }
    response
}

fn http_date(instant: &str) -> Option<HeaderValue> {
    let at = chrono::DateTime::parse_from_rfc3339(instant).ok()?;
    HeaderValue::from_str(
        &at.with_timezone(&chrono::Utc)
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string(),
    )
    .ok()
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        let status = self.status();
        fhir_response(status, &self.outcome(), None, "")
    }
}

/// The endpoint's absolute base, as the client addressed it.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!("{scheme}://{host}/fhir")
}

/// The hospital behind a bearer token. FHIR clients are systems: console sessions
/// do not reach this endpoint.
async fn hospital_writer(auth: &Auth) -> Result<(String, store::Hospital), FhirError> {
    if auth.credential != Credential::Token {
        return Err(FhirError::Unauthenticated(
            "send the hospital system's bearer token".into(),
        ));
    }
    let user = auth
        .principal
        .user_ref()
        .ok_or_else(|| FhirError::Unauthenticated("send a bearer token".into()))?;
    let hospital = store::hospital_of(auth.db(), &user.login).await?.ok_or_else(|| {
        FhirError::Forbidden(format!(
            "'{}' is not registered as staff or a system of a hospital",
            user.login
        ))
    })?;
    Ok((user.login.clone(), hospital))
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| String::from_utf8(v.as_bytes().to_vec()).ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

async fn reader(auth: &Auth, headers: &HeaderMap) -> Result<Reader, FhirError> {
    let (login, hospital) = hospital_writer(auth).await?;
    let purpose = header_text(headers, "x-purpose-of-use").unwrap_or_else(|| "TREAT".into());
    if !PURPOSES.contains(&purpose.as_str()) {
        return Err(FhirError::BadRequest(format!(
            "X-Purpose-Of-Use '{purpose}' is not one of {}; emergencies use X-Break-Glass-Reason",
            PURPOSES.join(", ")
        )));
    }
    let break_glass = header_text(headers, "x-break-glass-reason");
    if let Some(reason) = &break_glass
        && !(4..=500).contains(&reason.chars().count())
    {
        return Err(FhirError::BadRequest(
            "X-Break-Glass-Reason: give the emergency in 4–500 characters".into(),
        ));
    }
    Ok(Reader {
        login,
        hospital,
        purpose,
        break_glass,
    })
}

fn check_type(res_type: &str) -> Result<(), FhirError> {
    if SUPPORTED.contains(&res_type) {
        Ok(())
    } else {
        Err(FhirError::NotFound(format!(
            "resource type '{res_type}' is not supported here; supported: {}",
            SUPPORTED.join(", ")
        )))
    }
}

fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, FhirError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if !matches!(media, "application/fhir+json" | "application/json") {
        return Err(FhirError::UnsupportedMediaType(format!(
            "send application/fhir+json (got '{}')",
            if media.is_empty() { "nothing" } else { media }
        )));
    }
    serde_json::from_slice(body).map_err(|e| FhirError::BadRequest(format!("the body is not JSON: {e}")))
}

fn parse_query(raw: Option<&str>) -> Result<Vec<(String, String)>, FhirError> {
    let raw = raw.unwrap_or_default();
    let mut pairs = Vec::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        let decode = |t: &str| {
            percent_decode(t).ok_or_else(|| {
                FhirError::BadRequest(format!("the query part '{part}' is not valid percent-encoded UTF-8"))
            })
        };
        pairs.push((decode(key)?, decode(value)?));
    }
    Ok(pairs)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The query of an `If-None-Exist` value, which clients send as `identifier=…`,
/// `?identifier=…` or `Patient?identifier=…`.
fn search_part(condition: &str) -> &str {
    condition.split_once('?').map_or(condition, |(_, query)| query)
}

fn if_match(headers: &HeaderMap) -> Result<Option<i64>, FhirError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    let inner = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    inner
        .parse()
        .map(Some)
        .map_err(|_| FhirError::BadRequest(format!("If-Match '{text}' is not a version, e.g. W/\"3\"")))
}

// ---------------------------------------------------------------------------------------
// Handlers

async fn metadata(headers: HeaderMap) -> Response {
    fhir_response(200, &capability_statement(&base_url(&headers)), None, "")
}

async fn create(
    auth: Auth,
    Path(res_type): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> FhirResult {
    check_type(&res_type)?;
    let body = body.map_err(body_error)?;
    let reader = reader(&auth, &headers).await?;
    let resource = parse_body(&headers, &body)?;
    let base = base_url(&headers);
    let condition = header_text(&headers, "if-none-exist");
    let (status, stored) = create_one(auth.db(), &reader, &res_type, resource, condition.as_deref()).await?;
    Ok(fhir_response(status, &stored.resource, Some(&stored), &base))
}

fn body_error(rejection: axum::extract::rejection::BytesRejection) -> FhirError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        FhirError::TooLarge("the body is larger than this server accepts".into())
    } else {
        FhirError::BadRequest(rejection.body_text())
    }
}

fn writer_of(reader: &Reader) -> Writer {
    Writer::Hospital {
        login: reader.login.clone(),
        hospital: reader.hospital.clone(),
    }
}

/// A create, conditional on no match of `if_none_exist` when it is given.
async fn create_one(
    db: &Db,
    reader: &Reader,
    res_type: &str,
    resource: Value,
    if_none_exist: Option<&str>,
) -> Result<(u16, Stored), FhirError> {
    if let Some(condition) = if_none_exist {
        let pairs = parse_query(Some(search_part(condition)))?;
        let keys = Keys::load(db).await?;
        let query = hashed_query(&keys, search::parse(res_type, &pairs)?);
        let own = store::Visibility::Own(&reader.hospital.org_id);
        let (total, found) = store::search(db, res_type, &query, &own).await?;
        match (total, found.into_iter().next()) {
            (1, Some(existing)) => return Ok((200, existing)),
            (0, _) => {}
            (n, _) => {
                return Err(FhirError::PreconditionFailed(format!(
                    "If-None-Exist matches {n} resources"
                )));
            }
        }
    }
    let keys = Keys::load(db).await?;
    let mut tx = db.begin().await?;
    let mut pending = Vec::new();
    let stored = store::write(
        &mut tx,
        &keys,
        &writer_of(reader),
        res_type,
        None,
        resource,
        Expect::New,
        &mut pending,
    )
    .await?;
    store::check_references(&mut tx, &pending).await?;
    tx.commit().await?;
    Ok((201, stored))
}

async fn update_one(
    db: &Db,
    reader: &Reader,
    res_type: &str,
    id: &str,
    resource: Value,
    expected: Option<i64>,
) -> Result<(u16, Stored), FhirError> {
    if resource.get("id").and_then(Value::as_str) != Some(id) {
        return Err(FhirError::BadRequest(format!(
            "an update carries the resource's id, and it must be '{id}' as in the URL"
        )));
    }
    let keys = Keys::load(db).await?;
    let mut tx = db.begin().await?;
    let mut pending = Vec::new();
    let stored = store::write(
        &mut tx,
        &keys,
        &writer_of(reader),
        res_type,
        Some(id),
        resource,
        Expect::Version(expected),
        &mut pending,
    )
    .await?;
    store::check_references(&mut tx, &pending).await?;
    tx.commit().await?;
    Ok((200, stored))
}

async fn update(
    auth: Auth,
    Path((res_type, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> FhirResult {
    check_type(&res_type)?;
    let body = body.map_err(body_error)?;
    let reader = reader(&auth, &headers).await?;
    let resource = parse_body(&headers, &body)?;
    let expected = if_match(&headers)?;
    let (status, stored) = update_one(auth.db(), &reader, &res_type, &id, resource, expected).await?;
    Ok(fhir_response(
        status,
        &stored.resource,
        Some(&stored),
        &base_url(&headers),
    ))
}

async fn read_one(db: &Db, reader: &Reader, res_type: &str, id: &str) -> Result<Stored, FhirError> {
    check_type(res_type)?;
    let stored = store::read(db, res_type, id)
        .await?
        .ok_or_else(|| FhirError::NotFound(format!("{res_type}/{id} is not known")))?;
    access::check_resource(db, reader, &stored).await?;
    Ok(stored)
}

async fn read(auth: Auth, Path((res_type, id)): Path<(String, String)>, headers: HeaderMap) -> FhirResult {
    let reader = reader(&auth, &headers).await?;
    let stored = read_one(auth.db(), &reader, &res_type, &id).await?;
    Ok(fhir_response(200, &stored.resource, Some(&stored), &base_url(&headers)))
}

async fn vread(
    auth: Auth,
    Path((res_type, id, version)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> FhirResult {
    let reader = reader(&auth, &headers).await?;
    let current = read_one(auth.db(), &reader, &res_type, &id).await?;
    let version: i64 = version
        .parse()
        .map_err(|_| FhirError::NotFound(format!("version '{version}' is not a version number")))?;
    let (stored, _) = store::history(auth.db(), &current)
        .await?
        .into_iter()
        .find(|(s, _)| s.version == version)
        .ok_or_else(|| FhirError::NotFound(format!("{res_type}/{id} has no version {version}")))?;
    Ok(fhir_response(200, &stored.resource, Some(&stored), &base_url(&headers)))
}

async fn history(auth: Auth, Path((res_type, id)): Path<(String, String)>, headers: HeaderMap) -> FhirResult {
    let reader = reader(&auth, &headers).await?;
    let current = read_one(auth.db(), &reader, &res_type, &id).await?;
    let base = base_url(&headers);
    let versions = store::history(auth.db(), &current).await?;
    let entries: Vec<Value> = versions
        .iter()
        .map(|(stored, method)| {
            let status = if method == "POST" { "201 Created" } else { "200 OK" };
            let url = if method == "POST" { res_type.clone() } else { stored.reference() };
            json!({
                "fullUrl": format!("{base}/{}", stored.reference()),
                "resource": stored.resource,
                "request": {"method": method, "url": url},
                "response": {"status": status, "etag": format!("W/\"{}\"", stored.version), "lastModified": stored.last_updated()}
            })
        })
        .collect();
    let bundle = json!({
        "resourceType": "Bundle", "type": "history", "total": entries.len(),
        "link": [{"relation": "self", "url": format!("{base}/{res_type}/{id}/_history")}],
        "entry": entries
    });
    Ok(fhir_response(200, &without_empty_entry(bundle), None, &base))
}

/// FHIR forbids empty arrays: a Bundle with no entries has no `entry`.
fn without_empty_entry(mut bundle: Value) -> Value {
    if bundle["entry"].as_array().is_some_and(Vec::is_empty)
        && let Some(object) = bundle.as_object_mut()
    {
        object.remove("entry");
    }
    bundle
}

/// A national ID given as a search value is looked for as its hash.
fn hashed_query(keys: &Keys, mut query: search::Query) -> search::Query {
    for condition in &mut query.conditions {
        if let Condition::Token {
            param: "identifier",
            values,
        } = condition
        {
            for (system, value) in values.iter_mut() {
                if let Some((hash_system, hash)) =
                    system.as_deref().and_then(|s| store::national_id_token(keys, s, value))
                {
                    *system = Some(hash_system);
                    *value = hash;
                }
            }
        }
    }
    query
}

async fn search_type(
    auth: Auth,
    Path(res_type): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> FhirResult {
    check_type(&res_type)?;
    let reader = reader(&auth, &headers).await?;
    let pairs = parse_query(raw.as_deref())?;
    let bundle = search_bundle(auth.db(), &reader, &res_type, &pairs, &base_url(&headers)).await?;
    Ok(fhir_response(200, &bundle, None, ""))
}

async fn search_bundle(
    db: &Db,
    reader: &Reader,
    res_type: &str,
    pairs: &[(String, String)],
    base: &str,
) -> Result<Value, FhirError> {
    let keys = Keys::load(db).await?;
    let query = hashed_query(&keys, search::parse(res_type, pairs)?);
    // Asking for one patient's data at another hospital is a read of that patient: refused
    // (and logged) without consent, rather than answered with an empty page.
    for condition in &query.conditions {
        if let Condition::Token {
            param: "patient" | "subject",
            values,
        } = condition
        {
            for (_, reference) in values {
                if let Some(("Patient", id)) = crate::fhir::split_reference(reference)
                    && let Some(patient) = store::read(db, "Patient", id).await?
                    && patient.owner_org.as_deref() != Some(reader.hospital.org_id.as_str())
                {
                    let person = patient.person_id.clone().unwrap_or_default();
                    access::check(
                        db,
                        reader,
                        &person,
                        patient.owner_org.as_deref(),
                        &format!("search {res_type}?patient={reference}"),
                    )
                    .await?;
                }
            }
        }
    }
    let (total, found) = store::search(db, res_type, &query, &reader.visibility()).await?;
    access::log_results(db, reader, &found, &format!("search {res_type}")).await?;
    let own: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k != "_offset")
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect();
    let link = |offset: usize| {
        let mut parts = own.clone();
        parts.push(format!("_offset={offset}"));
        if !pairs.iter().any(|(k, _)| k == "_count") {
            parts.push(format!("_count={}", query.count));
        }
        format!("{base}/{res_type}?{}", parts.join("&"))
    };
    let mut links = vec![json!({"relation": "self", "url": link(query.offset)})];
    if query.offset + found.len() < total as usize && !found.is_empty() {
        links.push(json!({"relation": "next", "url": link(query.offset + query.count)}));
    }
    if query.offset > 0 {
        links.push(json!({"relation": "previous", "url": link(query.offset.saturating_sub(query.count))}));
    }
    let entries: Vec<Value> = found
        .iter()
        .map(|s| json!({"fullUrl": format!("{base}/{}", s.reference()), "resource": s.resource, "search": {"mode": "match"}}))
        .collect();
    Ok(without_empty_entry(json!({
        "resourceType": "Bundle", "type": "searchset", "total": total, "link": links, "entry": entries
    })))
}

/// `POST /fhir/Patient/$match`.
async fn operation(
    auth: Auth,
    Path((res_type, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> FhirResult {
    if (res_type.as_str(), name.as_str()) != ("Patient", "$match") {
        return Err(FhirError::NotSupported(format!(
            "POST {res_type}/{name}: the only operation here is Patient/$match"
        )));
    }
    let body = body.map_err(body_error)?;
    let reader = reader(&auth, &headers).await?;
    let parameters = parse_body(&headers, &body)?;
    if parameters["resourceType"] != "Parameters" {
        return Err(FhirError::BadRequest("$match takes a Parameters resource".into()));
    }
    let params = parameters["parameter"].as_array().cloned().unwrap_or_default();
    let find = |name: &str| params.iter().find(|p| p["name"] == name);
    let patient = find("resource")
        .map(|p| p["resource"].clone())
        .filter(|r| r["resourceType"] == "Patient")
        .ok_or_else(|| {
            FhirError::rule(
                "Parameters.parameter",
                "a parameter 'resource' holding a Patient is required",
            )
        })?;
    crate::fhir::validate::validate(&patient)
        .map_err(|issues| FhirError::Invalid(issues).within("Parameters.parameter[resource].resource"))?;
    let only_certain = find("onlyCertainMatches")
        .and_then(|p| p["valueBoolean"].as_bool())
        .unwrap_or(false);
    let count = find("count")
        .and_then(|p| p["valueInteger"].as_u64())
        .unwrap_or(10)
        .clamp(1, 50) as usize;
    let db = auth.db();
    let keys = Keys::load(db).await?;
    let base = base_url(&headers);
    let mut entries = Vec::new();
    for (person, grade) in mpi::find(db, &keys, &patient).await? {
        if only_certain && grade != mpi::Grade::Certain {
            continue;
        }
        let records = store::of_person(db, "Patient", &person).await?;
        let mut visible = Vec::new();
        for record in &records {
            let own = record.owner_org.as_deref() == Some(reader.hospital.org_id.as_str());
            // A merely possible match is not this patient's business to look at, nor to log.
            let allowed = own
                || (grade != mpi::Grade::Possible
                    && access::check(db, &reader, &person, record.owner_org.as_deref(), "Patient/$match")
                        .await
                        .is_ok());
            if allowed {
                visible.push(record);
            }
        }
        for record in visible {
            entries.push(json!({
                "fullUrl": format!("{base}/{}", record.reference()),
                "resource": record.resource,
                "search": {
                    "mode": "match", "score": grade.score(),
                    "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/match-grade", "valueCode": grade.code()}]
                }
            }));
        }
    }
    entries.truncate(count);
    let bundle = json!({"resourceType": "Bundle", "type": "searchset", "total": entries.len(), "entry": entries});
    Ok(fhir_response(200, &without_empty_entry(bundle), None, ""))
}

async fn method_not_allowed() -> Response {
    FhirError::NotSupported("this interaction is not supported on this path; see /fhir/metadata".into()).into_response()
}

async fn unknown_path() -> Response {
    FhirError::NotFound("no such FHIR path; see /fhir/metadata".into()).into_response()
}

// ---------------------------------------------------------------------------------------
// Bundles

async fn bundle(
    auth: Auth,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> FhirResult {
    let body = body.map_err(body_error)?;
    let reader = reader(&auth, &headers).await?;
    let bundle = parse_body(&headers, &body)?;
    if bundle["resourceType"] != "Bundle" {
        return Err(FhirError::BadRequest(
            "POST /fhir takes a Bundle of type transaction or batch".into(),
        ));
    }
    let entries = match &bundle["entry"] {
        Value::Null => Vec::new(),
        Value::Array(entries) => entries.clone(),
        _ => return Err(FhirError::Invalid(vec![issue("Bundle.entry", "must be an array")])),
    };
    if entries.len() > MAX_BUNDLE_ENTRIES {
        return Err(FhirError::TooLarge(format!(
            "{} entries; at most {MAX_BUNDLE_ENTRIES} per Bundle",
            entries.len()
        )));
    }
    let base = base_url(&headers);
    let db = auth.db();
    let response = match bundle["type"].as_str() {
        Some("transaction") => transaction(db, &reader, entries, &base).await?,
        Some("batch") => batch(db, &reader, entries, &base).await,
        _ => {
            return Err(FhirError::Invalid(vec![issue(
                "Bundle.type",
                "this endpoint takes transaction or batch",
            )]));
        }
    };
    Ok(fhir_response(200, &response, None, ""))
}

fn issue(path: &str, message: &str) -> crate::fhir::validate::Issue {
    crate::fhir::validate::Issue {
        path: path.into(),
        message: message.into(),
    }
}

/// One entry's request, read.
struct Request {
    method: String,
    url: String,
    if_none_exist: Option<String>,
    if_match: Option<String>,
}

fn request_of(entry: &Value, i: usize) -> Result<Request, FhirError> {
    let request = &entry["request"];
    let method = request["method"].as_str().ok_or_else(|| {
        FhirError::Invalid(vec![issue(
            &format!("Bundle.entry[{i}].request.method"),
            "required element missing",
        )])
    })?;
    let url = request["url"].as_str().ok_or_else(|| {
        FhirError::Invalid(vec![issue(
            &format!("Bundle.entry[{i}].request.url"),
            "required element missing",
        )])
    })?;
    Ok(Request {
        method: method.to_string(),
        url: url.trim_start_matches('/').to_string(),
        if_none_exist: request["ifNoneExist"].as_str().map(str::to_string),
        if_match: request["ifMatch"].as_str().map(str::to_string),
    })
}

fn rewrite_references(value: &mut Value, ids: &HashMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if key == "reference"
                    && let Value::String(text) = child
                    && let Some(target) = ids.get(text.as_str())
                {
                    *text = target.clone();
                } else {
                    rewrite_references(child, ids);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_references(v, ids)),
        _ => {}
    }
}

fn type_rank(res_type: &str) -> u8 {
    match res_type {
        "Organization" => 0,
        "Practitioner" => 1,
        "Patient" => 2,
        _ => 3,
    }
}

fn version_of(text: &str) -> Result<i64, FhirError> {
    text.trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map_err(|_| FhirError::BadRequest(format!("ifMatch '{text}' is not a version")))
}

/// All or nothing: every entry in one database transaction; `urn:uuid:` full URLs are
/// given ids and references to them rewritten first.
async fn transaction(db: &Db, reader: &Reader, mut entries: Vec<Value>, base: &str) -> Result<Value, FhirError> {
    let mut requests = Vec::new();
    let mut ids = HashMap::new();
    let mut assigned = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let request = request_of(entry, i)?;
        let res_type = entry["resource"]["resourceType"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let id = match request.method.as_str() {
            "POST" => {
                if request.url != res_type {
                    return Err(FhirError::BadRequest(format!(
                        "Bundle.entry[{i}].request.url: POST to '{}' with a {res_type}",
                        request.url
                    )));
                }
                check_type(&res_type).map_err(|e| e.within(&format!("Bundle.entry[{i}]")))?;
                crate::fhir::new_id()
            }
            "PUT" => {
                let (kind, id) = request.url.split_once('/').unwrap_or_default();
                if kind != res_type || id.is_empty() {
                    return Err(FhirError::BadRequest(format!(
                        "Bundle.entry[{i}].request.url: PUT needs 'Type/id' of the entry's {res_type}"
                    )));
                }
                id.to_string()
            }
            other => {
                return Err(FhirError::NotSupported(format!(
                    "Bundle.entry[{i}].request.method: {other} is not supported in a transaction (use POST or PUT; reads go in a batch)"
                )));
            }
        };
        if let Some(full_url) = entry["fullUrl"].as_str() {
            ids.insert(full_url.to_string(), format!("{res_type}/{id}"));
        }
        assigned.push((res_type, id));
        requests.push(request);
    }
    for entry in entries.iter_mut() {
        rewrite_references(&mut entry["resource"], &ids);
    }
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| type_rank(&assigned[i].0));

    // Conditional creates are decided before the transaction starts.
    let mut existing: HashMap<usize, Stored> = HashMap::new();
    let keys = Keys::load(db).await?;
    for &i in &order {
        if let (Some(condition), "POST") = (&requests[i].if_none_exist, requests[i].method.as_str()) {
            let pairs = parse_query(Some(search_part(condition)))?;
            let query = hashed_query(
                &keys,
                search::parse(&assigned[i].0, &pairs)
                    .map_err(|e| e.within(&format!("Bundle.entry[{i}].request.ifNoneExist")))?,
            );
            let own = store::Visibility::Own(&reader.hospital.org_id);
            let (total, found) = store::search(db, &assigned[i].0, &query, &own).await?;
            match (total, found.into_iter().next()) {
                (0, _) => {}
                (1, Some(stored)) => {
                    existing.insert(i, stored);
                }
                (n, _) => {
                    return Err(FhirError::PreconditionFailed(format!(
                        "Bundle.entry[{i}].request.ifNoneExist matches {n} resources"
                    )));
                }
            }
        }
    }
    if !existing.is_empty() {
        // References to an entry that already existed point at the existing resource.
        let mut moved = HashMap::new();
        for (i, stored) in &existing {
            moved.insert(format!("{}/{}", assigned[*i].0, assigned[*i].1), stored.reference());
        }
        for entry in entries.iter_mut() {
            rewrite_references(&mut entry["resource"], &moved);
        }
    }

    let writer = writer_of(reader);
    let mut tx = db.begin().await?;
    let mut pending: Vec<(usize, Reference)> = Vec::new();
    let mut results: Vec<Option<(u16, Stored)>> = vec![None; entries.len()];
    for &i in &order {
        if let Some(stored) = existing.remove(&i) {
            results[i] = Some((200, stored));
            continue;
        }
        let within = format!("Bundle.entry[{i}].resource");
        let resource = entries[i]["resource"].take();
        let (res_type, id) = &assigned[i];
        let (expect, status) = match requests[i].method.as_str() {
            "POST" => (Expect::New, 201),
            _ => (
                Expect::Version(requests[i].if_match.as_deref().map(version_of).transpose()?),
                200,
            ),
        };
        if requests[i].method == "PUT" && resource.get("id").and_then(Value::as_str) != Some(id.as_str()) {
            return Err(FhirError::BadRequest(format!(
                "{within}.id must be '{id}' as in request.url"
            )));
        }
        let mut refs = Vec::new();
        let stored = store::write(&mut tx, &keys, &writer, res_type, Some(id), resource, expect, &mut refs)
            .await
            .map_err(|e| e.within(&within))?;
        pending.extend(refs.into_iter().map(|r| (i, r)));
        results[i] = Some((status, stored));
    }
    for (i, reference) in &pending {
        store::check_references(&mut tx, std::slice::from_ref(reference))
            .await
            .map_err(|e| e.within(&format!("Bundle.entry[{i}].resource")))?;
    }
    tx.commit().await?;
    let entries: Vec<Value> = results
        .into_iter()
        .flatten()
        .map(|(status, stored)| {
            json!({
                "fullUrl": format!("{base}/{}", stored.reference()),
                "response": {
                    "status": if status == 201 { "201 Created" } else { "200 OK" },
                    "location": format!("{}/_history/{}", stored.reference(), stored.version),
                    "etag": format!("W/\"{}\"", stored.version),
                    "lastModified": stored.last_updated()
                }
            })
        })
        .collect();
    Ok(without_empty_entry(
        json!({"resourceType": "Bundle", "type": "transaction-response", "entry": entries}),
    ))
}

/// Each entry on its own; the response says per entry what happened.
async fn batch(db: &Db, reader: &Reader, entries: Vec<Value>, base: &str) -> Value {
    let mut out = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let result = batch_entry(db, reader, entry, i, base).await;
        out.push(match result {
            Ok((status, text, body, stored)) => {
                let mut response = json!({"status": format!("{status} {text}")});
                if let Some(stored) = &stored {
                    response["location"] = json!(format!("{}/_history/{}", stored.reference(), stored.version));
                    response["etag"] = json!(format!("W/\"{}\"", stored.version));
                }
                let mut entry = json!({"response": response});
                if let Some(body) = body {
                    entry["resource"] = body;
                }
                entry
            }
            Err(error) => json!({"response": {"status": error.status().to_string(), "outcome": error.outcome()}}),
        });
    }
    without_empty_entry(json!({"resourceType": "Bundle", "type": "batch-response", "entry": out}))
}

type EntryResult = (u16, &'static str, Option<Value>, Option<Stored>);

async fn batch_entry(
    db: &Db,
    reader: &Reader,
    mut entry: Value,
    i: usize,
    base: &str,
) -> Result<EntryResult, FhirError> {
    let request = request_of(&entry, i)?;
    let resource = entry["resource"].take();
    let within = format!("Bundle.entry[{i}].resource");
    match request.method.as_str() {
        "GET" => {
            let (path, query) = request.url.split_once('?').unwrap_or((&request.url, ""));
            match path.split_once('/') {
                Some((res_type, id)) => {
                    let stored = read_one(db, reader, res_type, id).await?;
                    Ok((200, "OK", Some(stored.resource.clone()), Some(stored)))
                }
                None => {
                    check_type(path)?;
                    let pairs = parse_query(Some(query))?;
                    Ok((
                        200,
                        "OK",
                        Some(search_bundle(db, reader, path, &pairs, base).await?),
                        None,
                    ))
                }
            }
        }
        "POST" => {
            let res_type = resource["resourceType"].as_str().unwrap_or_default().to_string();
            check_type(&request.url)?;
            if request.url != res_type {
                return Err(FhirError::BadRequest(format!(
                    "POST to '{}' with a {res_type}",
                    request.url
                )));
            }
            let (status, stored) = create_one(db, reader, &res_type, resource, request.if_none_exist.as_deref())
                .await
                .map_err(|e| e.within(&within))?;
            Ok((status, if status == 201 { "Created" } else { "OK" }, None, Some(stored)))
        }
        "PUT" => {
            let (res_type, id) = request
                .url
                .split_once('/')
                .ok_or_else(|| FhirError::BadRequest("PUT needs 'Type/id'".into()))?;
            check_type(res_type)?;
            let expected = request.if_match.as_deref().map(version_of).transpose()?;
            let (status, stored) = update_one(db, reader, res_type, id, resource, expected)
                .await
                .map_err(|e| e.within(&within))?;
            Ok((status, "OK", None, Some(stored)))
        }
        other => Err(FhirError::NotSupported(format!("{other} is not supported here"))),
    }
}

// ---------------------------------------------------------------------------------------
// CapabilityStatement

pub fn capability_statement(base: &str) -> Value {
    let resources: Vec<Value> = SUPPORTED
        .iter()
        .map(|res_type| {
            let mut params: Vec<Value> = vec![
                json!({"name": "_id", "type": "token"}),
                json!({"name": "_lastUpdated", "type": "date"}),
                json!({"name": "_count", "type": "number"}),
            ];
            params.extend(
                search::params(res_type)
                    .iter()
                    .map(|(name, kind)| json!({"name": name, "type": kind.as_str()})),
            );
            let interactions: Vec<Value> = ["read", "vread", "update", "history-instance", "create", "search-type"]
                .iter()
                .map(|c| json!({"code": c}))
                .collect();
            let mut resource = json!({
                "type": res_type,
                "interaction": interactions,
                "versioning": "versioned-update",
                "readHistory": true,
                "updateCreate": false,
                "conditionalCreate": true,
                "conditionalUpdate": false,
                "conditionalDelete": "not-supported",
                "searchParam": params
            });
            if *res_type == "Patient" {
                resource["operation"] =
                    json!([{"name": "match", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-match"}]);
            }
            resource
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-28",
        "publisher": "YRD Platform",
        "kind": "instance",
        "software": {"name": "yrd", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "YRD Platform health exchange", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "documentation": format!("Bearer tokens of hospital systems. Cross-hospital reads need the patient's consent or X-Break-Glass-Reason; X-Purpose-Of-Use is one of {}. National IDs ({NATIONAL_ID_SYSTEM}) are stored as {NATIONAL_ID_HASH_SYSTEM}.", PURPOSES.join(", ")),
            "security": {"cors": false, "description": "OAuth-style bearer tokens issued by the platform, one per hospital system"},
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"}]
        }]
    })
}
