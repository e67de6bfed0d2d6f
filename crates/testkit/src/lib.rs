//! Test support: a real platform on a free port over SQLite or PostgreSQL (each test
//! in its own database), an HTTP client, and a small probe module that exercises the
//! `Module` seam the way a real module does.

mod probe;

pub use probe::ProbeModule;
pub use yrd_db::Backend;
pub use yrd_db::testing::{TestDb, backends};

use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::Arc;
use yrd_auth::NewUser;
use yrd_db::Db;
use yrd_kernel::{AccessLevel, Scope};
use yrd_web::{AppContext, Config, Module};

/// A running platform for one test.
pub struct TestApp {
    pub base: String,
    pub db: Db,
    pub ctx: AppContext,
    pub client: reqwest::Client,
    pub backend: Backend,
    pub openapi: Arc<Value>,
    test_db: Option<TestDb>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// A response: status, headers and the body as JSON (or `Value::String` when it is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// The `path` values of a problem's `errors`.
    pub fn error_paths(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["path"].as_str().map(str::to_string))
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    /// The platform with the given modules over a fresh database of `backend`.
    pub async fn start(backend: Backend, modules: Vec<Arc<dyn Module>>) -> TestApp {
        let test_db = TestDb::create(backend).await.expect("a test database can be created");
        let db = test_db.db.clone();
        db.migrate(&yrd_web::all_migrations(&modules))
            .await
            .expect("migrations apply");
        let ctx = AppContext::new(db.clone(), Config::default());
        let platform = yrd_web::build(ctx.clone(), &modules);
        let openapi = platform.openapi.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let base = format!("http://{}", listener.local_addr().expect("bound"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = platform.router;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client");
        TestApp {
            base,
            db,
            ctx,
            client,
            backend,
            openapi,
            test_db: Some(test_db),
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// The platform with the probe module only.
    pub async fn start_probe(backend: Backend) -> TestApp {
        Self::start(backend, vec![Arc::new(ProbeModule::new())]).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates a token-only user with these grants and returns an API token for them.
    pub async fn user_with_token(&self, login: &str, admin: bool, grants: &[(&str, AccessLevel, &str)]) -> String {
        let user = NewUser {
            login: login.into(),
            display_name: login.into(),
            password: None,
            is_admin: admin,
            is_demo: false,
        };
        yrd_auth::create_user(&self.db, "test", user)
            .await
            .expect("user created");
        for (module, level, scope) in grants {
            let scope = Scope::parse(scope).expect("test scopes are valid");
            yrd_auth::grant(&self.db, "test", login, module, *level, &scope)
                .await
                .expect("granted");
        }
        yrd_auth::create_token(&self.db, "test", login, "test", None)
            .await
            .expect("token created")
            .token
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Self::reply(request.send().await.expect("the server answers")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()));
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    /// Signs in through the console's login form, as a browser would. Returns the session
    /// cookie (`name=value`) and the session's CSRF token, or the status of a refused login.
    pub async fn console_login(&self, login: &str, password: &str) -> Result<(String, String), StatusCode> {
        let cookie_pair = |response: &reqwest::Response, name: &str| {
            response
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find(|c| c.starts_with(&format!("{name}=")))
                .map(|c| c.split(';').next().unwrap_or_default().to_string())
        };
        let form = self
            .client
            .get(self.url("/login"))
            .send()
            .await
            .expect("the login page");
        let login_csrf = cookie_pair(&form, "yrd_login_csrf").expect("the login page sets its CSRF cookie");
        let token = login_csrf
            .split_once('=')
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        let response = self
            .client
            .post(self.url("/login"))
            .header("cookie", &login_csrf)
            .form(&[
                ("csrf", token.as_str()),
                ("login", login),
                ("password", password),
                ("next", "/me"),
            ])
            .send()
            .await
            .expect("the login answers");
        if response.status() != StatusCode::SEE_OTHER {
            return Err(response.status());
        }
        let session_header = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("yrd_session="))
            .expect("a session cookie")
            .to_string();
        assert!(
            session_header.contains("HttpOnly") && session_header.contains("SameSite=Strict"),
            "{session_header}"
        );
        let session = cookie_pair(&response, "yrd_session").expect("a session cookie");
        let me = self
            .client
            .get(self.url("/me"))
            .header("cookie", &session)
            .send()
            .await
            .expect("/me")
            .text()
            .await
            .unwrap_or_default();
        let marker = "name=\"csrf\" value=\"";
        let start = me.find(marker).expect("the page has a CSRF field") + marker.len();
        Ok((session, me[start..start + 64].to_string()))
    }

    /// The newest audit entries with this action, newest first.
    pub async fn audit_entries(&self, action: &str) -> Vec<yrd_audit::Entry> {
        let filter = yrd_audit::Filter {
            action: Some(action.into()),
            limit: 100,
            ..Default::default()
        };
        yrd_audit::list(&self.db, &filter).await.expect("the audit log reads")
    }

    /// Rows in a table, to prove that a refused request wrote nothing.
    pub async fn count(&self, table: &str) -> i64 {
        use sqlx::Row;
        sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(self.db.pool())
            .await
            .expect("count")
            .get(0)
    }

    /// Stops the server and removes the database.
    pub async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        if let Some(test_db) = self.test_db.take() {
            test_db.cleanup().await;
        }
    }
}
