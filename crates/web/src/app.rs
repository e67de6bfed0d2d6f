//! Assembling the platform: modules' routes, pages and jobs behind the shared
//! middleware, and serving it until a shutdown signal.

use crate::api::{ApiGroup, ApiRoutes, Doc, openapi_document};
use crate::console::{self, Page, Shell, pages};
use crate::i18n::{Messages, platform_catalogue};
use crate::metrics::Metrics;
use crate::module::{AppContext, Module, all_migrations};
use crate::problem::ApiError;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;
use yrd_jobs::JobSpec;

/// The assembled platform: its router and the jobs its modules run.
pub struct Platform {
    pub router: Router,
    pub jobs: Vec<JobSpec>,
    pub openapi: Arc<serde_json::Value>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct Health {
    pub status: &'static str,
}

type SharedDocument = Arc<std::sync::OnceLock<Arc<serde_json::Value>>>;

fn system_routes(
    ctx: &AppContext,
    metrics: Metrics,
    modules: &[Arc<dyn Module>],
    document: SharedDocument,
) -> ApiRoutes {
    let migrations = all_migrations(modules);
    let ready_ctx = ctx.clone();
    ApiRoutes::new()
        .get(
            "/healthz",
            Doc::new("Liveness: the process answers").response::<Health>().public(),
            || async { axum::Json(Health { status: "ok" }) },
        )
        .get(
            "/readyz",
            Doc::new("Readiness: the database answers and every migration is applied")
                .response::<Health>()
                .public(),
            move || {
                let ctx = ready_ctx.clone();
                let migrations = migrations.clone();
                async move {
                    ctx.db
                        .ping()
                        .await
                        .map_err(|e| ApiError::Unavailable(format!("database: {e}")))?;
                    let status = ctx.db.migration_status(&migrations).await?;
                    let pending = status.iter().filter(|s| !s.applied).count();
                    if pending > 0 {
                        return Err(ApiError::Unavailable(format!(
                            "{pending} migrations not applied; run `yrd migrate`"
                        )));
                    }
                    Ok::<_, ApiError>(axum::Json(Health { status: "ready" }))
                }
            },
        )
        .get(
            "/metrics",
            Doc::new("Prometheus metrics: request counts and latency histograms by route and status")
                .produces("text/plain; version=0.0.4")
                .public(),
            move || {
                let metrics = metrics.clone();
                async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], metrics.render()) }
            },
        )
        .get(
            "/api/openapi.json",
            Doc::new("This OpenAPI 3.1 document")
                .produces("application/json")
                .public(),
            move || {
                let document = document.clone();
                async move {
                    match document.get() {
                        Some(document) => axum::Json(document.as_ref().clone()).into_response(),
                        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                    }
                }
            },
        )
}

pub fn build(ctx: AppContext, modules: &[Arc<dyn Module>]) -> Platform {
    let indicators = modules.iter().flat_map(|m| m.indicators(&ctx)).collect();
    ctx.set_indicators(indicators);
    let metrics = Metrics::default();

    let document = SharedDocument::default();
    let (system, system_ops) = system_routes(&ctx, metrics.clone(), modules, document.clone()).into_parts("");
    let (core, core_ops) = crate::core_api::routes().into_parts("/api/v1");
    let mut groups = vec![
        ApiGroup {
            tag: "platform",
            description: "Health, readiness, metrics and this document",
            operations: system_ops,
        },
        ApiGroup {
            tag: "core",
            description: "Jurisdictions, identities, API tokens, the audit log and background jobs",
            operations: core_ops,
        },
    ];
    let mut api = Router::new().nest("/api/v1", core);
    let mut console_routes = Router::new();
    for module in modules {
        let name = module.name();
        let (routes, operations) = module.api(&ctx).into_parts(&format!("/api/v1/{name}"));
        api = api.nest(&format!("/api/v1/{name}"), routes);
        groups.push(ApiGroup {
            tag: name,
            description: module_description(module.as_ref()),
            operations,
        });
        console_routes = console_routes.nest(&format!("/{name}"), module.console(&ctx));
        api = api.merge(module.endpoints(&ctx));
    }
    let openapi = Arc::new(openapi_document(&groups, env!("CARGO_PKG_VERSION")));
    let _ = document.set(openapi.clone());

    let mut catalogues = vec![platform_catalogue()];
    catalogues.extend(modules.iter().map(|m| m.messages()));
    let shell = Arc::new(Shell {
        messages: Messages::new(catalogues),
        nav: modules.iter().map(|m| m.nav()).collect(),
        demo: ctx.config.demo,
        secure_cookies: ctx.config.secure_cookies,
    });

    let openapi_page = openapi.clone();
    let router = Router::new()
        .merge(system)
        .route(
            "/api/docs",
            get(move |page: Page| async move { pages::api_docs(&page, &openapi_page) }),
        )
        .merge(api)
        .route("/", get(pages::home))
        .route("/login", get(pages::login_page).post(pages::login_submit))
        .route("/logout", post(pages::logout))
        .route("/lang/{code}", get(pages::switch_language))
        .route("/me", get(pages::me_page))
        .route("/me/tokens", post(pages::create_token_form))
        .route("/me/tokens/{id}/revoke", post(pages::revoke_token_form))
        .route("/audit", get(pages::audit_page))
        .route("/jobs", get(pages::jobs_page))
        .route("/jurisdictions", get(pages::jurisdictions_page))
        .route("/assets/app.css", get(|| async { console::css() }))
        .route("/assets/app.js", get(|| async { console::js() }))
        .merge(console_routes)
        .fallback(fallback)
        .layer(middleware::from_fn(crate::panic::catch_panic))
        .layer(middleware::from_fn({
            let db = ctx.db.clone();
            move |request: Request, next: Next| crate::caller::resolve(db.clone(), request, next)
        }))
        .layer(Extension(shell))
        .layer(DefaultBodyLimit::max(ctx.config.body_limit))
        .layer(middleware::from_fn({
            let timeout = ctx.config.request_timeout;
            move |request: Request, next: Next| with_timeout(timeout, request, next)
        }))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            crate::metrics::track(metrics.clone(), request, next)
        }))
        .layer(middleware::from_fn(request_id));

    let jobs = modules.iter().flat_map(|m| m.jobs(&ctx)).collect();
    Platform { router, jobs, openapi }
}

fn module_description(module: &dyn Module) -> &'static str {
    module.nav().blurb.en
}

async fn fallback(request: Request) -> Response {
    let path = request.uri().path().to_string();
    if path.starts_with("/api/") {
        return ApiError::NotFound(format!("no route {path}")).into_response();
    }
    let (mut parts, _body) = request.into_parts();
    match <Page as axum::extract::FromRequestParts<()>>::from_request_parts(&mut parts, &()).await {
        Ok(page) => pages::not_found(page).await,
        Err(error) => error.into_response(),
    }
}

async fn with_timeout(limit: std::time::Duration, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

pub const REQUEST_ID: &str = "x-request-id";

fn new_request_id() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Tags the request with an id (the caller's, if sane), logs it, and returns it.
async fn request_id(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map_or_else(new_request_id, str::to_string);
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let span = tracing::info_span!("request", id = %id, %method, %path);
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "answered"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Serves until Ctrl-C or SIGTERM, then lets open requests finish and stops the worker.
pub async fn serve(
    ctx: AppContext,
    platform: Platform,
    listener: tokio::net::TcpListener,
    worker_poll: std::time::Duration,
) -> std::io::Result<()> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker_id = format!("{}-{}", hostname(), std::process::id());
    let worker = yrd_jobs::Worker::new(ctx.db.clone(), worker_id, &platform.jobs);
    let worker_task = tokio::spawn(worker.run(stopped, worker_poll));
    let result = axum::serve(listener, platform.router)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    let _ = stop.send(true);
    let _ = worker_task.await;
    result
}

fn hostname() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "node".to_string())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down: finishing open requests");
}
