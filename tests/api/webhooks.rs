//! Webhooks: admins register endpoints; each story change writes its event
//! to an outbox in the change's own transaction, and every process's
//! dispatcher sends it, signed, to a receiver running inside the test.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::Method;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::future::join_all;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common::{Backend, Body, Session, TestApp};

crate::on_both_backends!(
    admins_manage_webhook_endpoints,
    private_urls_are_refused,
    story_changes_fill_the_outbox,
    a_publication_is_delivered_signed,
    failed_deliveries_are_retried,
    two_processes_send_each_event_once,
    a_storys_events_arrive_in_order,
    a_scheduled_story_is_announced_when_its_time_comes,
    an_event_outlives_kill_9,
    a_disabled_endpoint_pauses_its_deliveries,
    old_events_are_pruned_once_nothing_is_left_to_send,
    an_https_receiver_must_present_a_trusted_certificate,
    endpoints_deleted_during_story_writes_and_pings_lose_nothing,
);

/// Private URLs allowed (the receiver is on 127.0.0.1), and quick retries.
const TEST_ENV: &[(&str, &str)] = &[("WEBHOOKS_ALLOW_PRIVATE_URLS", "true"), ("WEBHOOKS_RETRY_BASE_MS", "100")];

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HashMap<String, String>,
    body: String,
    answered: u16,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    fn id(&self) -> &str {
        &self.headers["webhook-id"]
    }
}

/// A webhook receiver on 127.0.0.1 that records every request and answers
/// 500 to the first `failures` of them.
struct Receiver {
    url: String,
    requests: Arc<Mutex<Vec<Received>>>,
    failures: Arc<AtomicUsize>,
    _server: actix_web::dev::ServerHandle,
}

impl Receiver {
    fn start(failures: usize) -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").unwrap(), failures)
    }

    fn start_on(listener: TcpListener, failures: usize) -> Self {
        use actix_web::{App, HttpRequest, HttpResponse, web};
        let requests = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(AtomicUsize::new(failures));
        let url = format!("http://127.0.0.1:{}/hooks/anthology", listener.local_addr().unwrap().port());
        let (recorded, failing) = (requests.clone(), failures.clone());
        let server = actix_web::HttpServer::new(move || {
            let (recorded, failures) = (recorded.clone(), failing.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (recorded, failures) = (recorded.clone(), failures.clone());
                async move {
                    let failing =
                        failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
                    let answered = if failing { 500 } else { 200 };
                    let headers = req
                        .headers()
                        .iter()
                        .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap().to_owned()))
                        .collect();
                    let body = String::from_utf8(body.to_vec()).unwrap();
                    recorded.lock().unwrap().push(Received { headers, body, answered });
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(answered).unwrap()).body("thanks")
                }
            }))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Receiver { url, requests, failures, _server: handle }
    }

    /// From now on, answers 200.
    fn heal(&self) {
        self.failures.store(0, Ordering::SeqCst);
    }

    fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    /// The requests answered 200, once `count` of them have come (15 s at most).
    async fn wait_for(&self, count: usize) -> Vec<Received> {
        self.wait_longer_for(count, Duration::from_secs(15)).await
    }

    async fn wait_longer_for(&self, count: usize, limit: Duration) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let ok: Vec<Received> = self.requests().into_iter().filter(|r| r.answered == 200).collect();
            if ok.len() >= count {
                return ok;
            }
            assert!(started.elapsed() < limit, "waited for {count} deliveries, got {:?}", ok);
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Registers the receiver for `events`; returns the endpoint with its secret.
async fn subscribe(admin: &Session<'_>, receiver: &Receiver, events: &[&str]) -> Value {
    admin.post("/v1/webhooks", json!({"url": receiver.url, "events": events})).await.ok(201)
}

/// Standard Webhooks' verification, written from the specification: the
/// HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` under the
/// secret's base64-decoded bytes after `whsec_`, base64-encoded after `v1,`,
/// among the space-separated signatures of `webhook-signature`.
fn verify(secret: &str, request: &Received) -> bool {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let headers = &request.headers;
    let signed = format!("{}.{}.{}", headers["webhook-id"], headers["webhook-timestamp"], request.body);
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(signed.as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    headers["webhook-signature"].split(' ').any(|candidate| candidate == expected)
}

const ALLOW_PRIVATE: &[(&str, &str)] = &[("WEBHOOKS_ALLOW_PRIVATE_URLS", "true")];

async fn a_publication_is_delivered_signed(backend: Backend) {
    let app = TestApp::start_with(backend, TEST_ENV).await;
    let (admin, editor) = (app.admin().await, app.editor().await);
    let receiver = Receiver::start(0);
    let endpoint = subscribe(&admin, &receiver, &["story.published"]).await;
    let story = editor.create_story(json!({"title": "Hello, hooks"})).await;
    let published = editor.publish(&story["id"], None).await;

    let received = receiver.wait_for(1).await;
    let request = &received[0];
    assert!(verify(endpoint["secret"].as_str().unwrap(), request), "bad signature: {request:?}");
    assert!(!verify("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", request));
    assert!(request.id().starts_with("evt_"));
    let timestamp: i64 = request.headers["webhook-timestamp"].parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
    assert_eq!(request.headers["content-type"], "application/json");
    let body = request.json();
    assert_eq!(body["type"], "story.published");
    assert!(body["timestamp"].is_string());
    let summary = &body["data"]["story"];
    for field in ["id", "slug", "title", "status", "published_at", "updated_at"] {
        assert_eq!(summary[field], published[field], "{field}");
    }

    // The attempt shows in the endpoint's deliveries.
    let path = format!("/v1/webhooks/{}/deliveries", endpoint["id"]);
    let started = Instant::now();
    let delivery = loop {
        let page = admin.get(&path).await.ok(200);
        if page["data"][0]["status"] == "delivered" || started.elapsed() > Duration::from_secs(10) {
            break page["data"][0].clone();
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(delivery["status"], "delivered", "{delivery}");
    assert_eq!((delivery["attempts"].clone(), delivery["last_status_code"].clone()), (json!(1), json!(200)));
    assert_eq!(delivery["event_id"], request.id());
    assert!(delivery["last_duration_ms"].is_i64() && delivery["delivered_at"].is_string());
    assert!(delivery["next_attempt_at"].is_null() && delivery["last_error"].is_null());
    // Nothing else was sent.
    actix_web::rt::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(receiver.requests().len(), 1);
}

async fn failed_deliveries_are_retried(backend: Backend) {
    let app = TestApp::start_with(backend, TEST_ENV).await;
    let (admin, editor) = (app.admin().await, app.editor().await);
    // The receiver answers 500 twice, then 200.
    let receiver = Receiver::start(2);
    let endpoint = subscribe(&admin, &receiver, &["story.published"]).await;
    // Nothing listens on this one.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    let nowhere = format!("http://127.0.0.1:{port}/hooks/anthology");
    drop(closed);
    let down = admin.post("/v1/webhooks", json!({"url": nowhere, "events": ["story.published"]})).await.ok(201);

    let story = editor.create_story(json!({"title": "Try again"})).await;
    editor.publish(&story["id"], None).await;
    receiver.wait_for(1).await;
    let requests = receiver.requests();
    assert_eq!(requests.iter().map(|r| r.answered).collect::<Vec<_>>(), [500, 500, 200]);
    // The same message each time, each validly signed.
    assert!(requests.iter().all(|r| r.id() == requests[0].id() && r.body == requests[0].body));
    assert!(requests.iter().all(|r| verify(endpoint["secret"].as_str().unwrap(), r)));

    let page = admin.get(&format!("/v1/webhooks/{}/deliveries", endpoint["id"])).await.ok(200);
    let started = Instant::now();
    let mut delivery = page["data"][0].clone();
    while delivery["status"] != "delivered" && started.elapsed() < Duration::from_secs(5) {
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        delivery = admin.get(&format!("/v1/webhooks/{}/deliveries", endpoint["id"])).await.ok(200)["data"][0].clone();
    }
    assert_eq!((delivery["status"].clone(), delivery["attempts"].clone()), (json!("delivered"), json!(3)));
    // Every attempt, newest first.
    let history = delivery["history"].as_array().unwrap();
    let codes: Vec<&Value> = history.iter().map(|a| &a["status_code"]).collect();
    assert_eq!(codes, [&json!(200), &json!(500), &json!(500)], "{delivery}");
    assert!(history[0]["error"].is_null() && history[1]["error"] == "the receiver answered 500");
    assert!(history.iter().all(|a| a["duration_ms"].is_i64() && a["attempted_at"].is_string()));

    // The endpoint that is down: attempts recorded, with the error and the next try.
    let failing = admin.get(&format!("/v1/webhooks/{}/deliveries", down["id"])).await.ok(200)["data"][0].clone();
    assert_eq!(failing["status"], "pending", "{failing}");
    assert!(failing["attempts"].as_i64().unwrap() >= 1, "{failing}");
    assert!(failing["last_status_code"].is_null() && failing["last_error"].is_string(), "{failing}");
    assert!(failing["next_attempt_at"].is_string(), "{failing}");
    let history = failing["history"].as_array().unwrap();
    assert!(!history.is_empty() && history.iter().all(|a| a["status_code"].is_null() && a["error"].is_string()));
    // It comes up (on the same port): a retry delivers the event.
    let late = Receiver::start_on(TcpListener::bind(("127.0.0.1", port)).unwrap(), 0);
    let delivered = late.wait_for(1).await;
    assert!(verify(down["secret"].as_str().unwrap(), &delivered[0]));
    assert_eq!(delivered[0].json()["data"]["story"]["id"], story["id"]);
}

async fn two_processes_send_each_event_once(backend: Backend) {
    let app = TestApp::start_with(backend, TEST_ENV).await;
    let _second = app.another_process(TEST_ENV).await;
    let (admin, editor) = (app.admin().await, app.editor().await);
    let receiver = Receiver::start(0);
    subscribe(&admin, &receiver, &["story.published"]).await;
    for n in 0..12 {
        let story = editor.create_story(json!({"title": format!("Story {n}")})).await;
        editor.publish(&story["id"], None).await;
    }
    receiver.wait_for(12).await;
    // Time for a second copy to arrive, if one were coming.
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    let requests = receiver.requests();
    let mut ids: Vec<&str> = requests.iter().map(Received::id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((requests.len(), ids.len()), (12, 12), "{requests:?}");
}

async fn a_storys_events_arrive_in_order(backend: Backend) {
    let app = TestApp::start_with(backend, TEST_ENV).await;
    let (admin, editor) = (app.admin().await, app.editor().await);
    // The first request fails: the story's later events must wait for it.
    let receiver = Receiver::start(1);
    subscribe(&admin, &receiver, &["story.published", "story.updated", "story.unpublished"]).await;
    let story = editor.create_story(json!({"title": "In order"})).await;
    let id = &story["id"];
    let published = editor.publish(id, None).await;
    let if_match = format!("\"v{}\"", published["version"]);
    let path = format!("/v1/stories/{id}");
    editor
        .with_headers(Method::PATCH, &path, Some(json!({"title": "Still in order"})), &[("If-Match", &if_match)])
        .await
        .ok(200);
    editor.post(&format!("{path}/unpublish"), json!({})).await.ok(200);

    receiver.wait_for(3).await;
    let seen: Vec<(String, u16)> =
        receiver.requests().iter().map(|r| (r.json()["type"].as_str().unwrap().to_owned(), r.answered)).collect();
    let expected =
        [("story.published", 500), ("story.published", 200), ("story.updated", 200), ("story.unpublished", 200)];
    assert_eq!(seen, expected.map(|(t, code)| (t.to_owned(), code)));
}

/// The event types of an endpoint's deliveries, oldest first.
async fn delivered_types(admin: &Session<'_>, endpoint: &Value) -> Vec<String> {
    let page = admin.get(&format!("/v1/webhooks/{}/deliveries?limit=100", endpoint["id"])).await.ok(200);
    let mut types: Vec<String> =
        page["data"].as_array().unwrap().iter().map(|d| d["type"].as_str().unwrap().to_owned()).collect();
    types.reverse();
    types
}

async fn admins_manage_webhook_endpoints(backend: Backend) {
    let app = TestApp::start_with(backend, ALLOW_PRIVATE).await;
    let admin = app.admin().await;
    let editor = app.editor().await;
    let new = json!({"url": "http://127.0.0.1:9/hook", "events": ["story.published", "story.deleted", "story.published"],
        "description": "front page"});
    editor.post("/v1/webhooks", new.clone()).await.problem(403);
    app.anon().get("/v1/webhooks").await.problem(401);

    let res = admin.post("/v1/webhooks", new).await;
    let created = res.ok(201);
    assert_eq!(res.header("location"), Some(format!("/v1/webhooks/{}", created["id"]).as_str()));
    assert_eq!(created["events"], json!(["story.published", "story.deleted"]));
    assert_eq!((created["description"].clone(), created["disabled"].clone()), (json!("front page"), json!(false)));
    let secret = created["secret"].as_str().unwrap();
    let key = base64::engine::general_purpose::STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    assert_eq!(key.len(), 32);

    let path = format!("/v1/webhooks/{}", created["id"]);
    let read = admin.get(&path).await.ok(200);
    assert!(read.get("secret").is_none(), "the secret is shown once: {read}");
    assert_eq!(read["url"], "http://127.0.0.1:9/hook");
    let list = admin.get("/v1/webhooks").await.ok(200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(list["data"][0].get("secret").is_none());

    let patched = admin.patch(&path, json!({"events": ["related.updated"], "disabled": true})).await.ok(200);
    assert_eq!((patched["events"].clone(), patched["disabled"].clone()), (json!(["related.updated"]), json!(true)));
    assert_eq!(patched["url"], "http://127.0.0.1:9/hook");
    assert_eq!(admin.patch(&path, json!({"events": []})).await.invalid_fields(), ["events"]);
    assert_eq!(admin.patch(&path, json!({"events": ["ping"]})).await.invalid_fields(), ["events"]);
    assert_eq!(admin.patch(&path, json!({"url": "ftp://example.com/"})).await.invalid_fields(), ["url"]);
    assert_eq!(
        admin.post("/v1/webhooks", json!({"url": "http://x.test/", "events": []})).await.invalid_fields(),
        ["events"]
    );
    admin.post("/v1/webhooks", json!({"url": "http://x.test/", "events": ["story.eaten"]})).await.problem(422);
    admin.patch("/v1/webhooks/999999", json!({"disabled": false})).await.problem(404);

    admin.send(Method::DELETE, &path, Body::None, &[]).await.ok(204);
    admin.get(&path).await.problem(404);
    admin.delete(&path).await.problem(404);
    admin.post(&format!("{path}/ping"), json!({})).await.problem(404);
    admin.get(&format!("{path}/deliveries")).await.problem(404);
}

async fn private_urls_are_refused(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    for url in [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://10.0.0.8/",
        "http://192.168.1.20/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.1.1/",
        "http://[::1]/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:127.0.0.1]/",
    ] {
        let res = admin.post("/v1/webhooks", json!({"url": url, "events": ["story.published"]})).await;
        assert_eq!(res.invalid_fields(), ["url"], "{url}");
    }
    let public = admin.post("/v1/webhooks", json!({"url": "https://1.1.1.1/hook", "events": ["ping"]})).await;
    assert_eq!(public.invalid_fields(), ["events"]);
    let good = admin.post("/v1/webhooks", json!({"url": "https://1.1.1.1/hook", "events": ["story.updated"]})).await;
    let path = format!("/v1/webhooks/{}", good.ok(201)["id"]);
    assert_eq!(admin.patch(&path, json!({"url": "http://127.0.0.1/"})).await.invalid_fields(), ["url"]);
}

async fn story_changes_fill_the_outbox(backend: Backend) {
    let app = TestApp::start_with(backend, ALLOW_PRIVATE).await;
    let admin = app.admin().await;
    let editor = app.editor().await;
    let all = ["story.published", "story.updated", "story.unpublished", "story.deleted", "related.updated"];
    // Port 9 (discard): nothing listens, so nothing is delivered meanwhile.
    let hook = |events: Value| json!({"url": "http://127.0.0.1:9/hook", "events": events});
    let everything = admin.post("/v1/webhooks", hook(json!(all))).await.ok(201);
    let deletions = admin.post("/v1/webhooks", hook(json!(["story.deleted"]))).await.ok(201);
    let disabled = admin.post("/v1/webhooks", hook(json!(all))).await.ok(201);
    admin.patch(&format!("/v1/webhooks/{}", disabled["id"]), json!({"disabled": true})).await.ok(200);

    let story = editor.create_story(json!({"title": "Outbox", "body": "First."})).await;
    let other = editor.create_story(json!({"title": "Other"})).await;
    let id = story["id"].clone();
    let path = format!("/v1/stories/{id}");
    // A draft's edits and links concern nobody yet.
    let edit = |version: &str, body: &str| {
        let if_match = format!("\"v{version}\"");
        let body = json!({"body": body});
        let path = path.clone();
        let editor = &editor;
        async move { editor.with_headers(Method::PATCH, &path, Some(body), &[("If-Match", &if_match)]).await }
    };
    let version = |story: Value| story["version"].to_string();
    let edited = edit(&version(story.clone()), "Second.").await.ok(200);
    let related = format!("{path}/related");
    editor.send(Method::PUT, &related, Body::Json(json!([{"story_id": other["id"]}])), &[]).await.ok(200);
    assert_eq!(delivered_types(&admin, &everything).await, Vec::<String>::new());

    let published = editor.publish(&id, None).await;
    assert_ne!(version(published.clone()), version(edited));
    edit(&version(published), "Third.").await.ok(200);
    // A change that fails leaves no event behind: it was in the same transaction.
    edit("1", "Lost.").await.problem(412);
    editor.send(Method::PUT, &related, Body::Json(json!([])), &[]).await.ok(200);
    editor.post(&format!("{path}/unpublish"), json!({})).await.ok(200);
    editor.publish(&id, None).await;
    editor.post(&format!("{path}/archive"), json!({})).await.ok(200);
    editor.delete(&path).await.ok(204);
    assert_eq!(
        delivered_types(&admin, &everything).await,
        [
            "story.published",
            "story.updated",
            "related.updated",
            "story.unpublished",
            "story.published",
            "story.unpublished",
            "story.deleted",
        ]
    );
    assert_eq!(delivered_types(&admin, &deletions).await, ["story.deleted"]);
    assert_eq!(delivered_types(&admin, &disabled).await, Vec::<String>::new());

    // A ping goes to the one endpoint asked, disabled or not.
    let ping = admin.post(&format!("/v1/webhooks/{}/ping", disabled["id"]), json!({})).await.ok(202);
    assert!(ping["event_id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(delivered_types(&admin, &disabled).await, ["ping"]);
    let page = admin.get(&format!("/v1/webhooks/{}/deliveries", disabled["id"])).await.ok(200);
    assert_eq!(page["data"][0]["event_id"], ping["event_id"]);
    assert_eq!(delivered_types(&admin, &deletions).await, ["story.deleted"]);
}

async fn a_scheduled_story_is_announced_when_its_time_comes(backend: Backend) {
    let app = TestApp::start_with(backend, TEST_ENV).await;
    // Two processes look for it; one event is recorded.
    let _second = app.another_process(TEST_ENV).await;
    let (admin, editor) = (app.admin().await, app.editor().await);
    let receiver = Receiver::start(0);
    subscribe(&admin, &receiver, &["story.published"]).await;
    let story = editor.create_story(json!({"title": "Soon"})).await;
    let at = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let scheduled = editor.publish(&story["id"], Some(&at)).await;
    assert_eq!(scheduled["status"], "scheduled");
    // A story published now is announced at once, and only once.
    let now = editor.create_story(json!({"title": "Now"})).await;
    editor.publish(&now["id"], None).await;
    let first = receiver.wait_for(1).await;
    assert_eq!(first[0].json()["data"]["story"]["id"], now["id"]);

    let received = receiver.wait_for(2).await;
    let body = received[1].json();
    assert_eq!(
        (body["type"].clone(), body["data"]["story"]["id"].clone()),
        (json!("story.published"), story["id"].clone())
    );
    assert_eq!(body["data"]["story"]["status"], "published");
    assert_eq!(body["data"]["story"]["published_at"], scheduled["published_at"]);
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.requests().len(), 2, "{:?}", receiver.requests());
}

/// The real binary commits an event and is killed with SIGKILL before any
/// delivery succeeds (the receiver answers 500 while it runs); a process
/// started afterwards on the same database delivers it.
async fn an_event_outlives_kill_9(backend: Backend) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    const BIN: &str = env!("CARGO_BIN_EXE_anthology");
    let test_db = crate::common::TestDb::new(backend);
    let receiver = Receiver::start(usize::MAX);
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env_clear()
            .env("DATABASE_URL", &test_db.url)
            .env("ANTHOLOGY_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .env("ANTHOLOGY_PASSWORD", crate::common::PASSWORD)
            .envs(TEST_ENV.iter().copied())
            .current_dir(std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let created = run(&["editors", "create", "--email", "root@example.com", "--role", "admin"]).wait_with_output();
    assert!(created.unwrap().status.success());
    let mut child = run(&["serve"]);
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = lines.by_ref().map_while(Result::ok).find(|l| l.contains("listening")).expect("no start");
    // Keep reading its log, so that it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let log: Value = serde_json::from_str(&listening).unwrap();
    let base = format!("http://{}", log["fields"]["addr"].as_str().unwrap());

    let client = awc::Client::default();
    let post = |path: String, token: Option<String>, body: Value| {
        let mut request = client.post(format!("{base}{path}"));
        if let Some(token) = token {
            request = request.insert_header(("authorization", format!("Bearer {token}")));
        }
        async move { request.send_json(&body).await.unwrap().json::<Value>().await.unwrap() }
    };
    let login = json!({"email": "root@example.com", "password": crate::common::PASSWORD});
    let token = post("/v1/auth/token".into(), None, login).await["access_token"].as_str().unwrap().to_owned();
    let hook = json!({"url": receiver.url, "events": ["story.published"]});
    let endpoint = post("/v1/webhooks".into(), Some(token.clone()), hook).await;
    let story = post("/v1/stories".into(), Some(token.clone()), json!({"title": "Survivor"})).await;
    let published = post(format!("/v1/stories/{}/publish", story["id"]), Some(token), json!({})).await;
    assert_eq!(published["status"], "published");

    // It tried (and was refused), then it dies without a word.
    let started = Instant::now();
    while receiver.requests().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(15), "the binary sent nothing");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = receiver.requests();
    assert!(before.iter().all(|r| r.answered == 500));

    receiver.heal();
    let app = TestApp::start_on(test_db.shared(), TEST_ENV).await;
    // If it died mid-request, its 30 s lease must run out first.
    let delivered = receiver.wait_longer_for(1, Duration::from_secs(45)).await;
    assert_eq!(delivered[0].id(), before[0].id());
    assert_eq!(delivered[0].body, before[0].body);
    assert!(verify(endpoint["secret"].as_str().unwrap(), &delivered[0]));
    drop(app);
}

async fn a_disabled_endpoint_pauses_its_deliveries(backend: Backend) {
    // A retry comes 1.5 s after a failure: time to disable the endpoint first.
    let env = &[("WEBHOOKS_ALLOW_PRIVATE_URLS", "true"), ("WEBHOOKS_RETRY_BASE_MS", "1500")];
    let app = TestApp::start_with(backend, env).await;
    let (admin, editor) = (app.admin().await, app.editor().await);
    let receiver = Receiver::start(1);
    let endpoint = subscribe(&admin, &receiver, &["story.published"]).await;
    let path = format!("/v1/webhooks/{}", endpoint["id"]);
    let story = editor.create_story(json!({"title": "Wait for me"})).await;
    editor.publish(&story["id"], None).await;
    let started = Instant::now();
    while receiver.requests().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(15), "the first attempt never came");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }

    // Disabled before its retry: the retry waits, and so does a ping.
    admin.patch(&path, json!({"disabled": true})).await.ok(200);
    admin.post(&format!("{path}/ping"), json!({})).await.ok(202);
    actix_web::rt::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(receiver.requests().len(), 1, "{:?}", receiver.requests());
    let deliveries = admin.get(&format!("{path}/deliveries")).await.ok(200)["data"].clone();
    let statuses: Vec<&Value> = deliveries.as_array().unwrap().iter().map(|d| &d["status"]).collect();
    assert_eq!(statuses, [&json!("pending"), &json!("pending")], "{deliveries}");

    // Enabled again: both are sent.
    admin.patch(&path, json!({"disabled": false})).await.ok(200);
    let mut types: Vec<String> =
        receiver.wait_for(2).await.iter().map(|r| r.json()["type"].as_str().unwrap().to_owned()).collect();
    types.sort();
    assert_eq!(types, ["ping", "story.published"]);
}

async fn old_events_are_pruned_once_nothing_is_left_to_send(backend: Backend) {
    use diesel::RunQueryDsl;
    let app = TestApp::start_with(backend, TEST_ENV).await;
    let (admin, editor) = (app.admin().await, app.editor().await);
    let receiver = Receiver::start(0);
    let up = subscribe(&admin, &receiver, &["story.published"]).await;
    let publish = |title: &'static str| {
        let editor = &editor;
        async move {
            let story = editor.create_story(json!({"title": title})).await;
            editor.publish(&story["id"], None).await;
        }
    };
    publish("Old news").await;
    publish("Older news").await;
    receiver.wait_for(2).await;
    // An endpoint that is down joins: the next event stays pending for it.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://127.0.0.1:{}/hooks/anthology", closed.local_addr().unwrap().port());
    drop(closed);
    let down = admin.post("/v1/webhooks", json!({"url": nowhere, "events": ["story.published"]})).await.ok(201);
    publish("Still news").await;
    receiver.wait_for(3).await;
    let deliveries = |endpoint: &Value| {
        let path = format!("/v1/webhooks/{}/deliveries", endpoint["id"]);
        let admin = &admin;
        async move { admin.get(&path).await.ok(200)["data"].as_array().unwrap().clone() }
    };
    let started = Instant::now();
    while deliveries(&up).await.iter().any(|d| d["status"] != "delivered") {
        assert!(started.elapsed() < Duration::from_secs(10), "the deliveries were never recorded as delivered");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }

    // Forty days pass (the default retention is 30).
    let mut conn = app.db.conn().unwrap();
    diesel::sql_query("UPDATE webhook_events SET created_at = created_at - INTERVAL '40 days'")
        .execute(&mut *conn)
        .or_else(|_| {
            diesel::sql_query("UPDATE webhook_events SET created_at = datetime(created_at, '-40 days')")
                .execute(&mut *conn)
        })
        .unwrap();
    // A process starting now prunes at once: the two events delivered
    // everywhere go, with their deliveries and attempts; the one still
    // being retried for the endpoint that is down stays, for both.
    let _pruner = app.another_process(TEST_ENV).await;
    let started = Instant::now();
    while deliveries(&up).await.len() > 1 {
        assert!(started.elapsed() < Duration::from_secs(10), "old delivered events were not pruned");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let kept = deliveries(&up).await;
    assert_eq!(kept[0]["event_id"], deliveries(&down).await[0]["event_id"], "{kept:?}");
    assert_eq!(deliveries(&down).await[0]["status"], "pending");
    let orphans = diesel::sql_query(
        "SELECT COUNT(*) AS n FROM webhook_attempts WHERE delivery_id NOT IN (SELECT id FROM webhook_deliveries)",
    )
    .get_result::<Count>(&mut *conn)
    .unwrap();
    assert_eq!(orphans.n, 0);
}

/// An https receiver on 127.0.0.1 whose certificate (self-signed, for
/// `localhost`) no public root vouches for. It records the server name of
/// every TLS ClientHello that reaches it; no handshake can complete.
struct UntrustedTlsReceiver {
    url: String,
    server_names: Arc<Mutex<Vec<Option<String>>>>,
}

impl UntrustedTlsReceiver {
    fn start() -> Self {
        let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(issued.key_pair.serialize_der().into());
        let config = Arc::new(
            rustls::ServerConfig::builder()
                .with_no_client_auth()
                .with_single_cert(vec![issued.cert.der().clone()], key)
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("https://localhost:{}/hooks/anthology", listener.local_addr().unwrap().port());
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let server_names = Arc::new(Mutex::new(Vec::new()));
        let seen = server_names.clone();
        actix_web::rt::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (config, seen) = (config.clone(), seen.clone());
                actix_web::rt::spawn(async move {
                    let acceptor = rustls::server::Acceptor::default();
                    let Ok(hello) = tokio_rustls::LazyConfigAcceptor::new(acceptor, stream).await else { return };
                    seen.lock().unwrap().push(hello.client_hello().server_name().map(str::to_owned));
                    // The client refuses the certificate: this fails.
                    let _ = hello.into_stream(config).await;
                });
            }
        });
        Self { url, server_names }
    }
}

async fn an_https_receiver_must_present_a_trusted_certificate(backend: Backend) {
    let app = TestApp::start_with(backend, TEST_ENV).await;
    let (admin, editor) = (app.admin().await, app.editor().await);
    let receiver = UntrustedTlsReceiver::start();
    let endpoint =
        admin.post("/v1/webhooks", json!({"url": receiver.url, "events": ["story.published"]})).await.ok(201);
    let story = editor.create_story(json!({"title": "Over TLS"})).await;
    editor.publish(&story["id"], None).await;

    let path = format!("/v1/webhooks/{}/deliveries", endpoint["id"]);
    let started = Instant::now();
    let delivery = loop {
        let delivery = admin.get(&path).await.ok(200)["data"][0].clone();
        if delivery["last_error"].is_string() {
            break delivery;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "no attempt recorded: {delivery}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    };
    // The request went out as TLS, naming the URL's host, and was refused
    // for the certificate: never sent in the clear, never trusted blindly.
    let error = delivery["last_error"].as_str().unwrap();
    assert!(error.to_lowercase().contains("certificate"), "{delivery}");
    assert_eq!((delivery["status"].clone(), delivery["last_status_code"].clone()), (json!("pending"), Value::Null));
    let names = receiver.server_names.lock().unwrap().clone();
    assert!(!names.is_empty() && names.iter().all(|name| name.as_deref() == Some("localhost")), "{names:?}");
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Endpoints deleted through one process while the other writes stories
/// and pings them: each write that fans out to an endpoint either holds it
/// (the deletion waits, then takes its deliveries) or finds it gone. Story
/// writes all succeed, pings are 202 or 404; never a failed foreign key
/// (500, and the story's change lost with it).
async fn endpoints_deleted_during_story_writes_and_pings_lose_nothing(backend: Backend) {
    let app = TestApp::start_with(backend, TEST_ENV).await;
    let (admin, editor) = (app.admin().await, app.editor().await);
    let second = app.another_process(TEST_ENV).await;
    let other_admin = second.admin().await;
    let receiver = Receiver::start(0);
    let story = editor.create_story(json!({"title": "Busy"})).await;
    // Public, so that each edit is announced to the endpoints.
    let version = editor.publish(&story["id"], None).await["version"].as_i64().unwrap();
    let path = format!("/v1/stories/{}", story["id"]);
    for round in 0..4 {
        let mut endpoints = Vec::new();
        for _ in 0..5 {
            endpoints.push(subscribe(&admin, &receiver, &["story.updated"]).await["id"].clone());
        }
        let paths: Vec<String> = endpoints.iter().map(|id| format!("/v1/webhooks/{id}")).collect();
        let deletions = paths.iter().map(|path| other_admin.delete(path));
        let ping_paths: Vec<String> = paths.iter().map(|path| format!("{path}/ping")).collect();
        let pings = ping_paths.iter().map(|path| admin.post(path, json!({})));
        let edits = (0..10).map(|i| {
            let patch = Body::Raw(
                "application/merge-patch+json",
                format!(r#"{{"subtitle": "Round {round}, edit {i}"}}"#).into_bytes(),
            );
            editor.send(Method::PATCH, &path, patch, &[("If-Match", "*")])
        });
        let (deleted, (pinged, edited)) = futures_util::future::join(
            join_all(deletions),
            futures_util::future::join(join_all(pings), join_all(edits)),
        )
        .await;
        for res in deleted {
            assert_eq!(res.status.as_u16(), 204, "{}", res.text());
        }
        for res in pinged {
            assert!([202, 404].contains(&res.status.as_u16()), "{} {}", res.status, res.text());
        }
        for res in edited {
            assert_eq!(res.status.as_u16(), 200, "{}", res.text());
        }
    }
    // Every edit made its version.
    assert_eq!(editor.get(&path).await.ok(200)["version"], version + 40);
}
