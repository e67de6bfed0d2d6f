//! The console shell: page context, shared layout and components. Modules compose
//! these and add no styles of their own.

pub mod map;
pub mod pages;

use crate::caller::{Auth, cookie};
use crate::i18n::{Lang, Messages};
use crate::module::NavEntry;
use crate::problem::ApiError;
use axum::extract::FromRequestParts;
use axum::http::{StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use std::sync::Arc;

pub const LANG_COOKIE: &str = "yrd_lang";

/// What every page needs from the assembled platform.
pub struct Shell {
    pub messages: Messages,
    pub nav: Vec<NavEntry>,
    pub demo: bool,
    pub secure_cookies: bool,
}

/// The context of one console request.
pub struct Page {
    pub lang: Lang,
    pub auth: Auth,
    pub shell: Arc<Shell>,
    /// Path and query of the request, to come back to after a language switch or login.
    pub here: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Page {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_request_parts(parts, state).await?;
        let shell = parts
            .extensions
            .get::<Arc<Shell>>()
            .cloned()
            .ok_or_else(|| ApiError::internal("the console shell is not installed"))?;
        let accept = parts.headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
        let lang = Lang::from_request(cookie(&parts.headers, LANG_COOKIE), accept);
        // Nested routers see their path without the prefix; the original URI has it all.
        let uri = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map_or(&parts.uri, |original| &original.0);
        let here = uri.path_and_query().map_or("/", |pq| pq.as_str()).to_string();
        Ok(Page {
            lang,
            auth,
            shell,
            here,
        })
    }
}

/// A console response that is either a page or a redirect to the login.
pub type PageResult = Result<Response, Response>;

impl Page {
    pub fn t<'a>(&'a self, key: &'a str) -> &'a str {
        self.shell.messages.get(self.lang, key)
    }

    /// Sends anonymous callers to the login page, to come back here after.
    // The redirect is the page's answer, returned early with `?`; its size does not matter.
    #[allow(clippy::result_large_err)]
    pub fn require_login(&self) -> Result<&yrd_auth::UserRef, Response> {
        self.auth
            .principal
            .user_ref()
            .ok_or_else(|| Redirect::to(&format!("/login?next={}", percent_encode(&self.here))).into_response())
    }

    /// A page saying the caller may not see this (after the denial was audited).
    pub fn forbidden(&self) -> Response {
        let body = html! { div.notice.error role="alert" { (self.t("error.forbidden")) } };
        (
            StatusCode::FORBIDDEN,
            self.render(self.t("error.forbidden.title"), body),
        )
            .into_response()
    }

    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.auth.csrf_token.as_deref().unwrap_or("")); }
    }

    /// Whether a form's CSRF token is this session's.
    pub fn csrf_ok(&self, sent: &str) -> bool {
        self.auth
            .csrf_token
            .as_deref()
            .is_some_and(|token| !sent.is_empty() && token == sent)
    }

    /// The shared layout: header with navigation and language switch, main, footer.
    pub fn render(&self, title: &str, body: Markup) -> Markup {
        let user = self.auth.principal.user_ref();
        let path = self.here.split('?').next().unwrap_or("/");
        let current = |href: &str| {
            if href == "/" {
                path == "/"
            } else {
                path.starts_with(href)
            }
        };
        let other = self.lang.other();
        html! {
            (DOCTYPE)
            html lang=(self.lang.html_lang()) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · " (self.t("app.name")) }
                    link rel="stylesheet" href="/assets/app.css";
                    script src="/assets/app.js" defer {}
                }
                body {
                    header.top {
                        a.brand href="/" { span.logo aria-hidden="true" { "长三角" } (self.t("app.name")) }
                        nav.main aria-label=(self.t("nav.label")) {
                            a href="/" aria-current=[current("/").then_some("page")] { (self.t("nav.home")) }
                            @for entry in &self.shell.nav {
                                a href=(entry.path) aria-current=[current(entry.path).then_some("page")] {
                                    (self.lang.pick(entry.label.zh, entry.label.en))
                                }
                            }
                            a href="/jurisdictions" aria-current=[current("/jurisdictions").then_some("page")] { (self.t("nav.jurisdictions")) }
                            @if user.is_some() {
                                a href="/audit" aria-current=[current("/audit").then_some("page")] { (self.t("nav.audit")) }
                            }
                            @if self.auth.principal.is_admin() {
                                a href="/jobs" aria-current=[current("/jobs").then_some("page")] { (self.t("nav.jobs")) }
                            }
                            a href="/api/docs" { (self.t("nav.api")) }
                        }
                        div.account {
                            a.lang-switch href=(format!("/lang/{}?back={}", other.code(), percent_encode(&self.here)))
                                lang=(other.html_lang()) hreflang=(other.html_lang()) {
                                (self.lang.pick("English", "中文"))
                            }
                            @if let Some(user) = user {
                                a href="/me" { (user.display_name) }
                                form.inline method="post" action="/logout" {
                                    (self.csrf_field())
                                    button.link type="submit" { (self.t("nav.logout")) }
                                }
                            } @else {
                                a href=(format!("/login?next={}", percent_encode(&self.here))) { (self.t("nav.login")) }
                            }
                        }
                    }
                    @if self.shell.demo {
                        div.demo-banner role="note" { (self.t("demo.banner")) }
                    }
                    main { h1 { (title) } (body) }
                    footer { (self.t("app.footer")) }
                }
            }
        }
    }
}

/// Percent-encodes a path for use inside a query parameter.
pub fn percent_encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A path to go back to after login or a language switch: only our own paths, never
/// another site (`//evil.example`).
pub fn safe_back(back: Option<&str>) -> String {
    match back {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => path.to_string(),
        _ => "/".to_string(),
    }
}

/// A table with a header row; sortable by clicking a header (progressive enhancement).
pub fn table(headers: &[&str], rows: Markup) -> Markup {
    html! {
        div.table-wrap {
            table.data data-sortable {
                thead { tr { @for h in headers { th scope="col" { (h) } } } }
                tbody { (rows) }
            }
        }
    }
}

/// A status badge: colour and a text label, never colour alone.
pub fn badge(kind: &str, label: &str) -> Markup {
    html! { span class=(format!("badge badge-{kind}")) { (label) } }
}

pub fn css() -> Response {
    asset("text/css; charset=utf-8", include_str!("../../assets/app.css"))
}

pub fn js() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("../../assets/app.js"))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Inline JSON for `<pre>` blocks.
pub fn pretty_json(value: &serde_json::Value) -> Markup {
    html! { pre.json { (serde_json::to_string_pretty(value).unwrap_or_default()) } }
}

/// Marks text as already-escaped HTML (only for SVG built from escaped parts).
pub fn trusted(html: String) -> PreEscaped<String> {
    PreEscaped(html)
}
