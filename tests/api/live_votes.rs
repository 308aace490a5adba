//! The response cache on a site where readers vote: a vote drops only its
//! own story's entries (this process reads its own vote at once), lists
//! keep theirs up to the TTL, and any other public write empties it all.

use actix_web::http::Method;
use futures_util::future::{join, join_all};
use serde_json::{Value, json};

use crate::common::{Backend, Body, TestApp};

crate::on_both_backends!(
    a_vote_drops_its_story_and_keeps_the_rest,
    other_public_writes_still_empty_everything,
    readers_at_once_after_a_vote_all_read_it
);

async fn published(app: &TestApp, title: &str) -> Value {
    let editor = app.editor().await;
    let story = editor.create_story(json!({"title": title})).await;
    editor.publish(&story["id"], Some("2026-01-01T00:00:00Z")).await;
    story
}

/// Changes every title in the database without the app knowing (as another
/// process would): what still reads "Original" came from the cache.
fn retitle_behind_the_apps_back(app: &TestApp) {
    use diesel::RunQueryDsl;
    let mut conn = app.db.conn().unwrap();
    diesel::sql_query("UPDATE stories SET title = 'Changed elsewhere'").execute(&mut *conn).unwrap();
}

async fn read(app: &TestApp, path: &str) -> Value {
    app.anon().get(path).await.ok(200)
}

async fn vote(app: &TestApp, story: &Value, score: i64) {
    let path = format!("/v1/stories/{}/ratings/{}", story["id"], uuid::Uuid::new_v4());
    app.anon().send(Method::PUT, &path, Body::Json(json!({"score": score})), &[]).await.ok(201);
}

async fn a_vote_drops_its_story_and_keeps_the_rest(backend: Backend) {
    let app = TestApp::start_with(backend, &[("ANTHOLOGY_CACHE_TTL_MS", "60000")]).await;
    let voted = published(&app, "Original").await;
    let other = published(&app, "Original").await;
    let (by_id, by_slug, rating) = (
        format!("/v1/stories/{}", voted["id"]),
        format!("/v1/stories/slug/{}", voted["slug"].as_str().unwrap()),
        format!("/v1/stories/{}/rating", voted["id"]),
    );
    let (other_path, list) = (format!("/v1/stories/{}", other["id"]), "/v1/stories");
    for path in [&by_id, &by_slug, &rating, &other_path, list] {
        read(&app, path).await;
    }
    retitle_behind_the_apps_back(&app);

    vote(&app, &voted, 5).await;
    // The voted story, by id and by slug, and its rating: fresh at once.
    assert_eq!(read(&app, &rating).await["count"], 1);
    for path in [&by_id, &by_slug] {
        let story = read(&app, path).await;
        assert_eq!(story["rating"], json!({"average": 5.0, "count": 1}), "{path}");
        assert_eq!(story["title"], "Changed elsewhere", "{path}");
    }
    // Another story's entry, and the list (rating figures up to a TTL old), stay.
    assert_eq!(read(&app, &other_path).await["title"], "Original");
    let listed = read(&app, list).await;
    assert!(listed["data"].as_array().unwrap().iter().all(|s| s["title"] == "Original"), "{listed}");

    // Votes on the other story drop its entry, not the first one's again.
    read(&app, &by_id).await;
    vote(&app, &other, 3).await;
    assert_eq!(read(&app, &other_path).await["rating"]["count"], 1);
    assert_eq!(read(&app, &by_id).await["rating"]["count"], 1);
}

async fn other_public_writes_still_empty_everything(backend: Backend) {
    let app = TestApp::start_with(backend, &[("ANTHOLOGY_CACHE_TTL_MS", "60000")]).await;
    let story = published(&app, "Original").await;
    let unrelated = published(&app, "Original").await;
    let paths = [format!("/v1/stories/{}", unrelated["id"]), "/v1/stories".to_owned()];
    for path in &paths {
        read(&app, path).await;
    }
    retitle_behind_the_apps_back(&app);
    // A related link on one story is a public write like any edit.
    let editor = app.editor().await;
    let link = json!([{"url": "https://www.ageuk.org.uk/", "title": "Age UK"}]);
    editor.send(Method::PUT, &format!("/v1/stories/{}/related", story["id"]), Body::Json(link), &[]).await.ok(200);
    assert_eq!(read(&app, &paths[0]).await["title"], "Changed elsewhere");
    assert_eq!(read(&app, &paths[1]).await["data"][0]["title"], "Changed elsewhere");
}

/// Readers asking at the same time wait for one computation of a missing
/// response; none may be given one begun before a vote of this process
/// that came before it.
async fn readers_at_once_after_a_vote_all_read_it(backend: Backend) {
    let app = TestApp::start_with(backend, &[("ANTHOLOGY_CACHE_TTL_MS", "60000")]).await;
    let story = published(&app, "Original").await;
    let paths = [
        format!("/v1/stories/slug/{}", story["slug"].as_str().unwrap()),
        format!("/v1/stories/{}", story["id"]),
        format!("/v1/stories/{}/rating", story["id"]),
    ];
    let readers = |n| join_all(paths.iter().cycle().take(n).map(|path| read(&app, path)));
    for votes in 1..=3 {
        // Readers still at it when the vote lands: computations under way
        // may have begun before it.
        join(readers(12), vote(&app, &story, 4)).await;
        for read in readers(24).await {
            let count = read.get("rating").map_or(&read["count"], |rating| &rating["count"]);
            assert_eq!(*count, votes, "{read}");
        }
    }
}
