//! The test harness: the real app on a real listener, a fresh database per
//! test (a SQLite file in a temp dir, or a new PostgreSQL database), and a
//! small HTTP client that reads like a user's session.
//!
//! PostgreSQL tests need `TEST_DATABASE_URL` (a server where we may create
//! databases); `scripts/test.sh` starts a throwaway one and sets it. Without
//! it they fail loudly rather than pass without having run.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::http::{Method, StatusCode, header::HeaderMap};
use actix_web::web::Bytes;
use anthology::config::Config;
use anthology::db::Db;
use anthology::editors::{self, Role};
use anthology::state::AppState;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(Backend)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[actix_web::test] async fn $name() { super::$name($crate::common::Backend::Sqlite).await } )*
        }
        mod postgres {
            $( #[actix_web::test] async fn $name() { super::$name($crate::common::Backend::Postgres).await } )*
        }
    };
}

/// A database that exists for one test and is removed after it.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_drop: Option<(String, String)>,
}

impl TestDb {
    pub fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("anthology.db").display());
                Self { url, _dir: Some(dir), pg_drop: None }
            }
            Backend::Postgres => {
                let admin_url = std::env::var("TEST_DATABASE_URL").expect(
                    "TEST_DATABASE_URL is not set: run the suite with scripts/test.sh, which starts a throwaway PostgreSQL",
                );
                let name = format!("anthology_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::establish(&admin_url).expect("connect to TEST_DATABASE_URL");
                admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create test database");
                let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&format!("/{name}"));
                Self { url: url.to_string(), _dir: None, pg_drop: Some((admin_url, name)) }
            }
        }
    }
}

impl TestDb {
    /// The same database, without owning it (for a second server process).
    pub fn shared(&self) -> Self {
        Self { url: self.url.clone(), _dir: None, pg_drop: None }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.pg_drop
            && let Ok(mut admin) = PgConnection::establish(admin_url)
        {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

pub struct TestApp {
    pub base_url: String,
    pub db: Db,
    client: awc::Client,
    _server: actix_web::dev::ServerHandle,
    // Dropped last: the server's connections must go before the database.
    pub test_db: TestDb,
}

pub const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, &[]).await
    }

    /// Starts the app with extra environment variables (as `Config` reads them).
    pub async fn start_with(backend: Backend, env: &[(&str, &str)]) -> Self {
        let test_db = TestDb::new(backend);
        Self::start_on(test_db, env).await
    }

    /// Starts the app on an existing test database (to restart a service).
    pub async fn start_on(test_db: TestDb, env: &[(&str, &str)]) -> Self {
        Self::start_listening(test_db, env, "127.0.0.1:0").await
    }

    /// Starts the app listening on `bind` (`[::]:0` for a dual-stack
    /// listener); requests still go to 127.0.0.1 on its port.
    pub async fn start_listening(test_db: TestDb, env: &[(&str, &str)], bind: &str) -> Self {
        // Server errors show in a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
            .with_test_writer()
            .try_init();
        let config = test_config(&test_db.url, env);
        let state = AppState::init(config).expect("app state");
        let db = state.db.clone();
        let listener = TcpListener::bind(bind).expect("bind");
        let base_url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let server = anthology::server::serve(state, listener).expect("server");
        let handle = server.handle();
        actix_web::rt::spawn(server);
        let client = awc::Client::builder().timeout(Duration::from_secs(30)).disable_redirects().finish();
        Self { base_url, db, client, _server: handle, test_db }
    }

    /// Another server on the same database, like a second process behind a
    /// load balancer.
    pub async fn another_process(&self, env: &[(&str, &str)]) -> TestApp {
        TestApp::start_on(self.test_db.shared(), env).await
    }

    /// The port the app listens on.
    pub fn port(&self) -> u16 {
        self.base_url.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// A `POST` of a JSON body sent from the local address `from` (any of
    /// 127.0.0.0/8 is this machine): the app sees a different client
    /// address, as it would for another computer. Raw HTTP/1.1, since awc
    /// cannot choose its local address.
    pub async fn post_from(&self, from: std::net::IpAddr, path: &str, body: Value) -> TestResponse {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind((from, 0).into()).expect("bind the client's address");
        let mut stream = socket.connect(([127, 0, 0, 1], self.port()).into()).await.expect("connect");
        let body = serde_json::to_vec(&body).unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.split("\r\n");
        let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let mut headers = HeaderMap::new();
        for line in lines {
            let (name, value) = line.split_once(':').unwrap();
            headers.append(
                actix_web::http::header::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
                actix_web::http::header::HeaderValue::from_str(value.trim()).unwrap(),
            );
        }
        // Problems and tokens are small, sent with a Content-Length, not chunked.
        let body = Bytes::copy_from_slice(&raw[split + 4..]);
        TestResponse { status: StatusCode::from_u16(status).unwrap(), headers, body }
    }

    pub fn anon(&self) -> Session<'_> {
        Session { app: self, token: None }
    }

    pub fn with_token(&self, token: &str) -> Session<'_> {
        Session { app: self, token: Some(token.to_owned()) }
    }

    /// Creates an editor straight in the database, as the CLI does.
    pub fn create_editor(&self, email: &str, role: Role) -> i64 {
        let hash = anthology::auth::password::hash(PASSWORD).expect("hash");
        let name = email.split('@').next().unwrap();
        self.db.write_now(|tx| editors::create(tx, email, name, role, &hash)).expect("create editor").id
    }

    pub async fn login(&self, email: &str) -> String {
        let res = self.anon().post("/v1/auth/token", json!({"email": email, "password": PASSWORD})).await;
        assert_eq!(res.status, StatusCode::OK, "login failed: {}", res.text());
        res.json()["access_token"].as_str().unwrap().to_owned()
    }

    /// A session of a fresh admin.
    pub async fn admin(&self) -> Session<'_> {
        let email = format!("admin-{}@example.com", uuid::Uuid::new_v4().simple());
        self.create_editor(&email, Role::Admin);
        let token = self.login(&email).await;
        self.with_token(&token)
    }

    /// Waits until the suggesters have computed every story's suggestions
    /// that is due (leased or queued, refreshes aside): they run in the
    /// background, moments after the write that queues them.
    pub async fn suggestions_settled(&self) {
        #[derive(diesel::QueryableByName)]
        struct Waiting {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        for _ in 0..400 {
            // Now, at each look: work queued while waiting (a changed story's
            // neighbours) is due from when it was queued, after the wait began.
            let now = chrono::Utc::now().naive_utc().format("%Y-%m-%d %H:%M:%S%.6f");
            let sql = format!(
                "SELECT COUNT(*) AS n FROM suggestion_queue
                 WHERE claimed_by IS NOT NULL OR (reason <> 'refresh' AND due_at <= '{now}')"
            );
            let waiting =
                self.db.read(move |conn| Ok(diesel::sql_query(sql).get_result::<Waiting>(conn)?.n)).await.unwrap();
            if waiting == 0 {
                return;
            }
            actix_web::rt::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("suggestions were not computed within 10 s");
    }

    /// A session of a fresh editor.
    pub async fn editor(&self) -> Session<'_> {
        let email = format!("editor-{}@example.com", uuid::Uuid::new_v4().simple());
        self.create_editor(&email, Role::Editor);
        let token = self.login(&email).await;
        self.with_token(&token)
    }
}

pub fn test_config(database_url: &str, env: &[(&str, &str)]) -> Config {
    let mut vars: Vec<(String, String)> =
        vec![("DATABASE_URL".into(), database_url.into()), ("DATABASE_POOL_SIZE".into(), "4".into())];
    vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_lookup(|name| vars.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone())).expect("test config")
}

/// Requests as one caller: anonymous, or with a bearer token.
pub struct Session<'a> {
    app: &'a TestApp,
    pub token: Option<String>,
}

pub enum Body {
    None,
    Json(Value),
    Raw(&'static str, Vec<u8>),
}

impl Session<'_> {
    pub async fn send(&self, method: Method, path: &str, body: Body, headers: &[(&str, &str)]) -> TestResponse {
        let mut req = self.app.client.request(method, format!("{}{}", self.app.base_url, path));
        if let Some(token) = &self.token {
            req = req.insert_header(("Authorization", format!("Bearer {token}")));
        }
        // Appended: a name given twice is sent as two header lines.
        for (name, value) in headers {
            req = req.append_header((*name, *value));
        }
        let sent = match body {
            Body::None => req.send().await,
            Body::Json(value) => {
                req.insert_header(("Content-Type", "application/json"))
                    .send_body(serde_json::to_vec(&value).unwrap())
                    .await
            }
            Body::Raw(content_type, bytes) => {
                if !content_type.is_empty() {
                    req = req.insert_header(("Content-Type", content_type));
                }
                req.send_body(bytes).await
            }
        };
        let mut res = sent.expect("request sent");
        let body = res.body().limit(64 * 1024 * 1024).await.expect("body read");
        TestResponse { status: res.status(), headers: res.headers().clone(), body }
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Method::GET, path, Body::None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> TestResponse {
        self.send(Method::POST, path, Body::Json(body), &[]).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> TestResponse {
        self.send(Method::PATCH, path, Body::Json(body), &[]).await
    }

    pub async fn delete(&self, path: &str) -> TestResponse {
        self.send(Method::DELETE, path, Body::None, &[]).await
    }
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a 2xx/3xx `status` and returns the JSON body.
    pub fn ok(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.text());
        if self.body.is_empty() { Value::Null } else { self.json() }
    }

    /// Asserts an RFC 9457 problem with `status` and returns it.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.text());
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "body: {}", self.text());
        let problem = self.json();
        assert_eq!(problem["status"], status);
        assert!(problem["type"].is_string() && problem["title"].is_string() && problem["detail"].is_string());
        problem
    }

    /// The fields named in a 422's `errors[]`.
    pub fn invalid_fields(&self) -> Vec<String> {
        let problem = self.problem(422);
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap().to_owned()).collect()
    }
}

impl Session<'_> {
    /// Creates a story and returns it.
    pub async fn create_story(&self, story: Value) -> Value {
        self.post("/v1/stories", story).await.ok(201)
    }

    /// Publishes story `id`, at `at` (RFC 3339) or now.
    pub async fn publish(&self, id: &Value, at: Option<&str>) -> Value {
        let body = at.map_or(json!({}), |at| json!({"at": at}));
        self.post(&format!("/v1/stories/{id}/publish"), body).await.ok(200)
    }

    /// Sends a request with extra headers and an optional JSON body.
    pub async fn with_headers(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        self.send(method, path, body.map_or(Body::None, Body::Json), headers).await
    }
}
