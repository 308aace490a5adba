//! Prometheus metrics on their own listener: counters move with requests,
//! and route labels are templates, whatever paths clients send.

use std::net::TcpListener;

use serde_json::json;

use crate::common::{Backend, TestApp};

/// The sum of a series' samples whose labels include all of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} ")))
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn scrape(base: &str) -> String {
    let client = awc::Client::default();
    let mut res = client.get(format!("{base}/metrics")).send().await.expect("scrape");
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    String::from_utf8(res.body().await.unwrap().to_vec()).unwrap()
}

async fn requests_move_their_counters(backend: Backend) {
    let app = TestApp::start_with(backend, &[("ANTHOLOGY_CACHE_TTL_MS", "60000")]).await;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    actix_web::rt::spawn(anthology::server::serve_metrics(listener).unwrap());

    let editor = app.editor().await;
    let story = editor.create_story(json!({"title": "Counted"})).await;
    editor.publish(&story["id"], Some("2026-01-01T00:00:00Z")).await;
    let before = scrape(&base).await;
    let route = r#"route="/v1/stories/{id}""#;
    let ok = [route, r#"method="GET""#, r#"status="200""#];
    let (reads, hits) =
        (sample(&before, "http_requests_total", &ok), sample(&before, "response_cache_hits_total", &[]));
    for _ in 0..3 {
        app.anon().get(&format!("/v1/stories/{}", story["id"])).await.ok(200);
    }
    // Paths no route has share one label, however many there are.
    for n in 0..5 {
        app.anon().get(&format!("/v1/nothing-{n}")).await.problem(404);
    }
    // So do methods no route has: clients choose those too.
    for n in 0..5 {
        let method = actix_web::http::Method::from_bytes(format!("M{n}").as_bytes()).unwrap();
        app.anon().send(method, "/v1/stories", crate::common::Body::None, &[]).await.problem(405);
    }
    let after = scrape(&base).await;
    assert!(sample(&after, "http_requests_total", &ok) >= reads + 3.0, "{after}");
    assert!(sample(&after, "response_cache_hits_total", &[]) >= hits + 2.0, "{after}");
    assert!(sample(&after, "http_request_duration_seconds_count", &[route]) >= 3.0, "{after}");
    assert!(sample(&after, "http_requests_total", &[r#"route="unmatched""#, r#"status="404""#]) >= 5.0);
    assert!(!after.contains("nothing-"), "raw paths leaked into labels");
    assert!(sample(&after, "http_requests_total", &[r#"method="other""#, r#"status="405""#]) >= 5.0, "{after}");
    assert!(!after.contains(r#"method="M0""#), "raw methods leaked into labels");
    assert!(after.contains("db_pool_connections{"), "{after}");
    assert!(after.contains("process_resident_memory_bytes"), "{after}");
}

crate::on_both_backends!(requests_move_their_counters);
