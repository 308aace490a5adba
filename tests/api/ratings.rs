//! Readers' votes: replacing, validation, visibility, throttling, moderation,
//! exact counters under a storm, and ranking.

use actix_web::http::Method;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double};
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::common::{Backend, Body, Session, TestApp};
use crate::seed::{RATINGS_ROWS_DISAGREE, count};

crate::on_both_backends!(
    a_voter_votes_once_and_may_change_its_mind,
    bad_votes_are_rejected_field_by_field,
    only_public_stories_take_votes,
    votes_are_throttled_per_client_address,
    forwarded_addresses_count_only_behind_trusted_proxies,
    editors_moderate_votes,
    counters_stay_exact_under_a_storm,
    well_rated_stories_rank_first,
    every_process_shares_one_vote_allowance,
    parallel_votes_from_one_address_stop_at_the_allowance,
    parallel_votes_from_many_addresses_stop_at_each_allowance,
    one_address_adds_only_so_many_new_voters_a_day,
    new_voter_caps_hold_per_story_and_address_in_one_batch,
    refused_votes_in_a_batch_leave_the_others_exact,
    the_rating_list_pages_by_stored_rank,
    ranks_catch_up_with_a_new_prior,
    a_deleted_storys_votes_leave_the_site_wide_totals,
    a_storys_ratings_row_follows_it,
    only_public_stories_are_ranked,
);

const VOTER_A: &str = "6f1c2a4e-8d1b-4f6a-9a52-1f0e3b7c9d01";
const VOTER_B: &str = "0b9e7d3c-2a41-4c8e-b6f5-7d2e9a1c3b4f";

async fn published_story(editor: &Session<'_>, title: &str) -> Value {
    let story = editor.create_story(json!({"title": title})).await;
    editor.publish(&story["id"], Some("2026-01-01T00:00:00Z")).await
}

async fn vote(session: &Session<'_>, story: &Value, voter: &str, score: Value) -> crate::common::TestResponse {
    session
        .send(
            Method::PUT,
            &format!("/v1/stories/{}/ratings/{voter}", story["id"]),
            Body::Json(json!({"score": score})),
            &[],
        )
        .await
}

async fn a_voter_votes_once_and_may_change_its_mind(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = published_story(&editor, "Rate me").await;
    let anon = app.anon();

    let first = vote(&anon, &story, VOTER_A, json!(4)).await;
    let aggregate = first.ok(201);
    assert_eq!(first.header("cache-control"), Some("private, no-store"));
    assert_eq!(aggregate["count"], 1);
    assert_eq!(aggregate["average"], 4.0);
    assert_eq!(aggregate["distribution"], json!({"1": 0, "2": 0, "3": 0, "4": 1, "5": 0}));

    // The same voter again (in capitals: the same UUID) replaces its score.
    let again = vote(&anon, &story, &VOTER_A.to_uppercase(), json!(2)).await.ok(200);
    assert_eq!(again["count"], 1);
    assert_eq!(again["distribution"], json!({"1": 0, "2": 1, "3": 0, "4": 0, "5": 0}));
    let other = vote(&anon, &story, VOTER_B, json!(5)).await.ok(201);
    assert_eq!(other["count"], 2);
    assert_eq!(other["average"], 3.5);

    let res = anon.get(&format!("/v1/stories/{}/rating", story["id"])).await;
    let read = res.ok(200);
    assert_eq!(read, other);
    assert_eq!(read["story_id"], story["id"]);
    assert!(read["score"].as_f64().unwrap() > 1.0);
    assert_eq!(res.header("cache-control"), Some("public, max-age=60, stale-while-revalidate=300"));
    // A vote changes the ETag.
    let etag = res.header("etag").unwrap().to_owned();
    vote(&anon, &story, VOTER_B, json!(1)).await.ok(200);
    let after = anon.get(&format!("/v1/stories/{}/rating", story["id"])).await;
    assert_ne!(after.header("etag").unwrap(), etag);
    // The story carries the summary.
    let story = anon.get(&format!("/v1/stories/{}", story["id"])).await.ok(200);
    assert_eq!(story["rating"], json!({"average": 1.5, "count": 2}));
}

async fn bad_votes_are_rejected_field_by_field(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = published_story(&editor, "Strict").await;
    let anon = app.anon();
    for score in [json!(0), json!(6), json!(2.5), json!("5"), json!(null), json!(-1), json!(5.0000001), json!(1e300)] {
        let res = vote(&anon, &story, VOTER_A, score.clone()).await;
        assert_eq!(res.invalid_fields(), ["score"], "{score}");
    }
    let path = format!("/v1/stories/{}/ratings/{VOTER_A}", story["id"]);
    assert_eq!(anon.send(Method::PUT, &path, Body::Json(json!({})), &[]).await.invalid_fields(), ["score"]);
    assert_eq!(
        anon.send(Method::PUT, &path, Body::Json(json!({"score": 3, "weight": 100})), &[]).await.invalid_fields(),
        ["weight"]
    );
    anon.send(Method::PUT, &path, Body::Json(json!({"score": 3, "padding": "x".repeat(300)})), &[]).await.problem(413);
    anon.send(Method::PUT, &path, Body::None, &[]).await.problem(400);
    for voter in ["not-a-uuid", "12345", "6f1c2a4e-8d1b-4f6a-9a52-1f0e3b7c9d0"] {
        let res = anon
            .send(
                Method::PUT,
                &format!("/v1/stories/{}/ratings/{voter}", story["id"]),
                Body::Json(json!({"score": 3})),
                &[],
            )
            .await;
        assert_eq!(res.invalid_fields(), ["voter"], "{voter}");
    }
    // Nothing was counted.
    assert_eq!(anon.get(&format!("/v1/stories/{}/rating", story["id"])).await.ok(200)["count"], 0);
    // As in JSON Schema, 4.0 is the integer 4.
    let res = vote(&anon, &story, VOTER_A, json!(4.0)).await;
    assert_eq!(res.ok(201)["distribution"]["4"], 1);
}

async fn only_public_stories_take_votes(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let draft = editor.create_story(json!({"title": "Draft"})).await;
    let scheduled = editor.create_story(json!({"title": "Scheduled"})).await;
    editor.publish(&scheduled["id"], Some("2999-01-01T00:00:00Z")).await;
    let anon = app.anon();
    for story in [&draft, &scheduled, &json!({"id": 987654})] {
        vote(&anon, story, VOTER_A, json!(5)).await.problem(404);
        anon.get(&format!("/v1/stories/{}/rating", story["id"])).await.problem(404);
    }
    // Editors can read a draft's (empty) aggregate.
    assert_eq!(editor.get(&format!("/v1/stories/{}/rating", draft["id"])).await.ok(200)["count"], 0);
}

async fn votes_are_throttled_per_client_address(backend: Backend) {
    let app = TestApp::start_with(backend, &[("RATING_VOTES_PER_MINUTE", "3")]).await;
    let editor = app.editor().await;
    let story = published_story(&editor, "Popular").await;
    let anon = app.anon();
    for i in 0..3 {
        vote(&anon, &story, &uuid::Uuid::new_v4().to_string(), json!(1 + i)).await.ok(201);
    }
    let res = vote(&anon, &story, &uuid::Uuid::new_v4().to_string(), json!(5)).await;
    res.problem(429);
    let retry: u64 = res.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    // A forged X-Forwarded-For changes nothing without trusted proxies.
    let path = format!("/v1/stories/{}/ratings/{}", story["id"], uuid::Uuid::new_v4());
    let forged =
        anon.send(Method::PUT, &path, Body::Json(json!({"score": 5})), &[("X-Forwarded-For", "203.0.113.9")]).await;
    forged.problem(429);
    assert_eq!(anon.get(&format!("/v1/stories/{}/rating", story["id"])).await.ok(200)["count"], 3);
}

async fn forwarded_addresses_count_only_behind_trusted_proxies(backend: Backend) {
    let app =
        TestApp::start_with(backend, &[("RATING_VOTES_PER_MINUTE", "1"), ("TRUSTED_PROXIES", "127.0.0.0/8, ::1")])
            .await;
    let editor = app.editor().await;
    let story = published_story(&editor, "Behind a proxy").await;
    let anon = app.anon();
    let from = |client: &'static str| {
        let anon = &anon;
        let path = format!("/v1/stories/{}/ratings/{}", story["id"], uuid::Uuid::new_v4());
        async move { anon.send(Method::PUT, &path, Body::Json(json!({"score": 4})), &[("X-Forwarded-For", client)]).await }
    };
    from("198.51.100.1").await.ok(201);
    from("198.51.100.2").await.ok(201);
    from("198.51.100.1").await.problem(429);
    // The client cannot prepend its own entries: the proxy's is the one that counts.
    from("203.0.113.50, 198.51.100.1").await.problem(429);
}

async fn editors_moderate_votes(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = published_story(&editor, "Moderated").await;
    let anon = app.anon();
    vote(&anon, &story, VOTER_A, json!(1)).await.ok(201);
    vote(&anon, &story, VOTER_B, json!(5)).await.ok(201);
    let path = format!("/v1/stories/{}/ratings", story["id"]);
    anon.get(&path).await.problem(401);
    let page = editor.get(&format!("{path}?limit=1")).await.ok(200);
    let newest = &page["data"][0];
    assert_eq!(newest["score"], 5);
    assert_eq!(page["page"]["has_more"], true);
    let hash = newest["voter_hash"].as_str().unwrap();
    assert_eq!(hash.len(), 64);
    assert!(!hash.contains(&VOTER_B[..8]));
    let rest =
        editor.get(&format!("{path}?limit=1&cursor={}", page["page"]["next_cursor"].as_str().unwrap())).await.ok(200);
    assert_eq!(rest["data"][0]["score"], 1);
    assert_eq!(rest["page"]["has_more"], false);

    let spam_id = rest["data"][0]["id"].clone();
    anon.delete(&format!("/v1/ratings/{spam_id}")).await.problem(401);
    let res = editor.delete(&format!("/v1/ratings/{spam_id}")).await;
    assert_eq!(res.status.as_u16(), 204);
    editor.delete(&format!("/v1/ratings/{spam_id}")).await.problem(404);
    let aggregate = anon.get(&format!("/v1/stories/{}/rating", story["id"])).await.ok(200);
    assert_eq!(aggregate["count"], 1);
    assert_eq!(aggregate["average"], 5.0);
    assert_eq!(aggregate["distribution"], json!({"1": 0, "2": 0, "3": 0, "4": 0, "5": 1}));
    // The moderated voter may vote again: a first vote once more.
    vote(&anon, &story, VOTER_A, json!(2)).await.ok(201);

    // Deleting the story deletes its votes.
    editor.delete(&format!("/v1/stories/{}", story["id"])).await;
    assert_eq!(raw_vote_count(&app, story["id"].as_i64().unwrap()), 0);
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn raw_vote_count(app: &TestApp, story_id: i64) -> i64 {
    let mut conn = app.db.conn().unwrap();
    diesel::sql_query(format!("SELECT COUNT(*) AS n FROM ratings WHERE story_id = {story_id}"))
        .get_result::<Count>(&mut *conn)
        .unwrap()
        .n
}

/// Recomputes a story's aggregate from the raw votes, the slow way.
fn recomputed(app: &TestApp, story_id: i64) -> (i64, i64, Vec<i64>) {
    let mut conn = app.db.conn().unwrap();
    let mut histogram = Vec::new();
    for score in 1..=5 {
        let n = diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM ratings WHERE story_id = {story_id} AND score = {score}"
        ))
        .get_result::<Count>(&mut *conn)
        .unwrap()
        .n;
        histogram.push(n);
    }
    let count = histogram.iter().sum();
    let sum = histogram.iter().enumerate().map(|(i, n)| (i as i64 + 1) * n).sum();
    (count, sum, histogram)
}

/// The site-wide totals (the prior's mean), summed over their shards, match
/// the raw votes.
fn assert_totals_exact(app: &TestApp) {
    let mut conn = app.db.conn().unwrap();
    let mut total = |sql: &str| diesel::sql_query(sql).get_result::<Count>(&mut *conn).unwrap().n;
    let (count, raw_count) = (
        total("SELECT CAST(SUM(vote_count) AS BIGINT) AS n FROM rating_totals"),
        total("SELECT COUNT(*) AS n FROM ratings"),
    );
    let (sum, raw_sum) = (
        total("SELECT CAST(SUM(vote_sum) AS BIGINT) AS n FROM rating_totals"),
        total("SELECT CAST(COALESCE(SUM(score), 0) AS BIGINT) AS n FROM ratings"),
    );
    assert_eq!((count, sum), (raw_count, raw_sum));
}

#[derive(QueryableByName)]
struct Ranked {
    #[diesel(sql_type = Double)]
    rank: f64,
    #[diesel(sql_type = Double)]
    weight: f64,
    #[diesel(sql_type = Double)]
    mean: f64,
}

/// A story's stored rank, with the prior it is under.
fn stored_rank(app: &TestApp, story_id: i64) -> Ranked {
    let mut conn = app.db.conn().unwrap();
    diesel::sql_query(format!(
        "SELECT s.rating_rank AS rank, p.weight AS weight, p.mean AS mean FROM story_ratings s, rating_prior p \
         WHERE s.story_id = {story_id}"
    ))
    .get_result(&mut *conn)
    .unwrap()
}

/// The stored rank is the score less the prior's mean, of the raw votes.
fn assert_rank_stored(app: &TestApp, story_id: i64) {
    let (count, sum, _) = recomputed(app, story_id);
    let stored = stored_rank(app, story_id);
    let expected = (sum as f64 - count as f64 * stored.mean) / (count as f64 + stored.weight);
    assert!((stored.rank - expected).abs() < 1e-12, "story {story_id}: {} != {expected}", stored.rank);
}

async fn counters_stay_exact_under_a_storm(backend: Backend) {
    let unlimited = [("RATING_VOTES_PER_MINUTE", "100000"), ("RATING_NEW_VOTERS_PER_DAY", "1000000")];
    let app = TestApp::start_with(backend, &unlimited).await;
    // On PostgreSQL a second process on the same database votes too.
    let second = app.another_process(&unlimited).await;
    let editor = app.editor().await;
    let stories = [published_story(&editor, "Storm one").await, published_story(&editor, "Storm two").await];
    let voters: Vec<String> = (0..40).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let sessions = [app.anon(), second.anon()];

    // Round one: every voter votes on both stories, through either process.
    let mut requests = Vec::new();
    for (i, voter) in voters.iter().enumerate() {
        for (j, story) in stories.iter().enumerate() {
            requests.push(vote(&sessions[(i + j) % 2], story, voter, json!(1 + (i + j) % 5)));
        }
    }
    for res in join_all(requests).await {
        assert_eq!(res.status.as_u16(), 201, "{}", res.text());
    }
    // Round two: re-votes (some twice at once), and moderation deleting votes meanwhile.
    let list = editor.get(&format!("/v1/stories/{}/ratings?limit=10", stories[0]["id"])).await.ok(200);
    let doomed: Vec<Value> = list["data"].as_array().unwrap().iter().map(|r| r["id"].clone()).collect();
    let mut revotes = Vec::new();
    for (i, voter) in voters.iter().enumerate() {
        for story in &stories {
            revotes.push(vote(&sessions[i % 2], story, voter, json!(5 - i % 5)));
            revotes.push(vote(&sessions[(i + 1) % 2], story, voter, json!(1 + i % 3)));
        }
    }
    let deletions = doomed.iter().map(|id| {
        let editor = &editor;
        async move { editor.delete(&format!("/v1/ratings/{id}")).await }
    });
    let (revoted, deleted) = futures_util::future::join(join_all(revotes), join_all(deletions)).await;
    for res in revoted {
        assert!(matches!(res.status.as_u16(), 200 | 201), "{}: {}", res.status, res.text());
    }
    for res in deleted {
        assert_eq!(res.status.as_u16(), 204, "{}", res.text());
    }

    for story in &stories {
        let id = story["id"].as_i64().unwrap();
        let aggregate = app.anon().get(&format!("/v1/stories/{id}/rating")).await.ok(200);
        let (count, sum, histogram) = recomputed(&app, id);
        assert_eq!(aggregate["count"], count, "story {id}");
        let distribution: Vec<i64> =
            (1..=5).map(|s| aggregate["distribution"][s.to_string()].as_i64().unwrap()).collect();
        assert_eq!(distribution, histogram, "story {id}");
        if count > 0 {
            let average = aggregate["average"].as_f64().unwrap();
            assert!((average - sum as f64 / count as f64).abs() < 1e-9);
        }
    }
    assert_totals_exact(&app);
    for story in &stories {
        assert_rank_stored(&app, story["id"].as_i64().unwrap());
    }
    // Deleted voters may have voted again in the same storm: between 30 and 40 votes remain.
    let remaining = recomputed(&app, stories[0]["id"].as_i64().unwrap()).0;
    assert!((30..=40).contains(&remaining), "{remaining}");
}

async fn well_rated_stories_rank_first(backend: Backend) {
    let app = TestApp::start_with(
        backend,
        &[("RATING_VOTES_PER_MINUTE", "100000"), ("RATING_NEW_VOTERS_PER_DAY", "1000000")],
    )
    .await;
    let editor = app.editor().await;
    let one_perfect = published_story(&editor, "One perfect vote").await;
    let many_good = published_story(&editor, "Two hundred good votes").await;
    let average_story = published_story(&editor, "A middling story").await;
    let unrated = published_story(&editor, "Nobody rated this").await;
    let anon = app.anon();
    vote(&anon, &one_perfect, &uuid::Uuid::new_v4().to_string(), json!(5)).await.ok(201);
    // 200 votes averaging 4.6: 120 fives and 80 fours.
    let votes = (0..200).map(|i| {
        let anon = &anon;
        let story = &many_good;
        async move { vote(anon, story, &uuid::Uuid::new_v4().to_string(), json!(if i < 120 { 5 } else { 4 })).await }
    });
    join_all(votes).await;
    // A site's other stories: 100 votes averaging 3.
    let votes = (0..100).map(|i| {
        let anon = &anon;
        let story = &average_story;
        async move { vote(anon, story, &uuid::Uuid::new_v4().to_string(), json!(2 + i % 3)).await }
    });
    join_all(votes).await;
    assert_eq!(anon.get(&format!("/v1/stories/{}/rating", many_good["id"])).await.ok(200)["average"], 4.6);

    let ids = |list: Value| list["data"].as_array().unwrap().iter().map(|s| s["id"].clone()).collect::<Vec<_>>();
    let ranked = ids(anon.get("/v1/stories?sort=-rating").await.ok(200));
    assert_eq!(
        ranked,
        [many_good["id"].clone(), one_perfect["id"].clone(), unrated["id"].clone(), average_story["id"].clone()]
    );
    // Pages continue in the same order.
    let mut walked = Vec::new();
    let mut path = "/v1/stories?sort=-rating&limit=1".to_owned();
    loop {
        let res = anon.get(&path).await;
        walked.extend(ids(res.ok(200)));
        match res.header("link") {
            Some(link) => path = link.trim_start_matches('<').split('>').next().unwrap().to_owned(),
            None => break,
        }
    }
    assert_eq!(walked, ranked);
}

/// The allowance is counted in the database: two processes together allow
/// one address what one process does.
async fn every_process_shares_one_vote_allowance(backend: Backend) {
    let limit = [("RATING_VOTES_PER_MINUTE", "3")];
    let app = TestApp::start_with(backend, &limit).await;
    let second = app.another_process(&limit).await;
    let editor = app.editor().await;
    let story = published_story(&editor, "Shared allowance").await;
    let sessions = [app.anon(), second.anon()];
    for (i, session) in sessions.iter().cycle().take(3).enumerate() {
        vote(session, &story, &uuid::Uuid::new_v4().to_string(), json!(1 + i)).await.ok(201);
    }
    for session in &sessions {
        let res = vote(session, &story, &uuid::Uuid::new_v4().to_string(), json!(5)).await;
        res.problem(429);
        assert!(res.header("retry-after").unwrap().parse::<u64>().unwrap() <= 60);
    }
    assert_eq!(app.anon().get(&format!("/v1/stories/{}/rating", story["id"])).await.ok(200)["count"], 3);
}

/// Forty votes at once from one address, with an allowance of five: exactly
/// five count, whatever the interleaving.
async fn parallel_votes_from_one_address_stop_at_the_allowance(backend: Backend) {
    // The per-process limiter is generous here, so the shared count decides.
    let app = TestApp::start_with(backend, &[("RATING_VOTES_PER_MINUTE", "5")]).await;
    let second = app.another_process(&[("RATING_VOTES_PER_MINUTE", "5")]).await;
    let editor = app.editor().await;
    let story = published_story(&editor, "Crowded").await;
    let voters: Vec<String> = (0..40).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let sessions = [app.anon(), second.anon()];
    let requests = voters.iter().enumerate().map(|(i, voter)| vote(&sessions[i % 2], &story, voter, json!(4)));
    let statuses: Vec<u16> = join_all(requests).await.iter().map(|res| res.status.as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 5, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 201 || *s == 429), "{statuses:?}");
    assert_eq!(app.anon().get(&format!("/v1/stories/{}/rating", story["id"])).await.ok(200)["count"], 5);
}

/// Sixty votes at once from six addresses behind a trusted proxy, on three
/// stories, through two processes, with an allowance of four: exactly four
/// count per address, and the counters and totals stay exact. Batches then
/// hold several addresses' rows and several stories at once.
async fn parallel_votes_from_many_addresses_stop_at_each_allowance(backend: Backend) {
    let settings = [("RATING_VOTES_PER_MINUTE", "4"), ("TRUSTED_PROXIES", "127.0.0.0/8, ::1")];
    let app = TestApp::start_with(backend, &settings).await;
    let second = app.another_process(&settings).await;
    let editor = app.editor().await;
    let mut stories = Vec::new();
    for title in ["Many one", "Many two", "Many three"] {
        stories.push(published_story(&editor, title).await);
    }
    let sessions = [app.anon(), second.anon()];
    let clients: Vec<String> = (1..=6).map(|i| format!("198.51.100.{i}")).collect();
    let requests = (0..60).map(|i| {
        let (session, story, client) = (&sessions[i % 2], &stories[i % 3], &clients[i % 6]);
        let path = format!("/v1/stories/{}/ratings/{}", story["id"], uuid::Uuid::new_v4());
        async move {
            let forwarded = [("X-Forwarded-For", client.as_str())];
            let res = session.send(Method::PUT, &path, Body::Json(json!({"score": 1 + i % 5})), &forwarded).await;
            (client, res.status.as_u16())
        }
    });
    let outcomes = join_all(requests).await;
    for client in &clients {
        let statuses: Vec<u16> = outcomes.iter().filter(|(c, _)| *c == client).map(|(_, s)| *s).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 4, "{client}: {statuses:?}");
        assert!(statuses.iter().all(|s| *s == 201 || *s == 429), "{client}: {statuses:?}");
    }
    let mut counted = 0;
    for story in &stories {
        let id = story["id"].as_i64().unwrap();
        let aggregate = app.anon().get(&format!("/v1/stories/{id}/rating")).await.ok(200);
        assert_eq!(aggregate["count"], recomputed(&app, id).0, "story {id}");
        counted += recomputed(&app, id).0;
        assert_rank_stored(&app, id);
    }
    assert_eq!(counted, 24);
    assert_totals_exact(&app);
}

/// Made-up voter ids from one machine stop counting after the daily cap, on
/// that story; known voters may still change their minds.
async fn one_address_adds_only_so_many_new_voters_a_day(backend: Backend) {
    let app = TestApp::start_with(backend, &[("RATING_NEW_VOTERS_PER_DAY", "2")]).await;
    let editor = app.editor().await;
    let (story, other) = (published_story(&editor, "Stuffed").await, published_story(&editor, "Other").await);
    vote(&app.anon(), &story, VOTER_A, json!(5)).await.ok(201);
    vote(&app.anon(), &story, VOTER_B, json!(5)).await.ok(201);
    let res = vote(&app.anon(), &story, &uuid::Uuid::new_v4().to_string(), json!(5)).await;
    res.problem(429);
    assert!(res.header("retry-after").unwrap().parse::<u64>().unwrap() <= 24 * 3600);
    vote(&app.anon(), &story, VOTER_A, json!(1)).await.ok(200);
    vote(&app.anon(), &other, &uuid::Uuid::new_v4().to_string(), json!(3)).await.ok(201);
    let rating = app.anon().get(&format!("/v1/stories/{}/rating", story["id"])).await.ok(200);
    assert_eq!((rating["count"].clone(), rating["distribution"]["1"].clone()), (json!(2), json!(1)));
}

/// Two addresses vote on two stories at once, through two processes, with
/// new voters capped at three per story and address a day, each pair with
/// its own count from earlier: each pair's cap holds on its own, and a
/// known voter's change of mind from the other address is no new voter.
async fn new_voter_caps_hold_per_story_and_address_in_one_batch(backend: Backend) {
    let settings = [("RATING_NEW_VOTERS_PER_DAY", "3"), ("TRUSTED_PROXIES", "127.0.0.0/8, ::1")];
    let app = TestApp::start_with(backend, &settings).await;
    let second = app.another_process(&settings).await;
    let editor = app.editor().await;
    let (a, b) = (published_story(&editor, "Pair A").await, published_story(&editor, "Pair B").await);
    let (x, y) = ("198.51.100.7", "198.51.100.8");
    async fn from(session: &Session<'_>, story: &Value, voter: &str, client: &str) -> u16 {
        let path = format!("/v1/stories/{}/ratings/{voter}", story["id"]);
        let forwarded = [("X-Forwarded-For", client)];
        session.send(Method::PUT, &path, Body::Json(json!({"score": 3})), &forwarded).await.status.as_u16()
    }
    let anon = app.anon();
    assert_eq!(from(&anon, &a, VOTER_A, x).await, 201);
    assert_eq!(from(&anon, &a, VOTER_B, x).await, 201);
    for _ in 0..3 {
        assert_eq!(from(&anon, &b, &uuid::Uuid::new_v4().to_string(), y).await, 201);
    }

    let sessions = [app.anon(), second.anon()];
    let mut pairs = Vec::new();
    for (story, client) in [(&a, x), (&b, x), (&a, y), (&b, y)] {
        pairs.extend((0..3).map(|_| (story, client, uuid::Uuid::new_v4().to_string())));
    }
    pairs.push((&a, y, VOTER_A.to_string()));
    let requests =
        pairs.iter().enumerate().map(|(i, (story, client, voter))| from(&sessions[i % 2], story, voter, client));
    let answers = join_all(requests).await;
    let created = |story: &Value, client: &str| {
        let answered = pairs.iter().zip(&answers).filter(|((s, c, _), _)| s["id"] == story["id"] && *c == client);
        answered.filter(|(_, status)| **status == 201).count()
    };
    assert_eq!([created(&a, x), created(&b, x), created(&a, y), created(&b, y)], [1, 3, 3, 0], "{answers:?}");
    assert_eq!(answers.last(), Some(&200));
    assert!(answers.iter().all(|status| [200, 201, 429].contains(status)), "{answers:?}");
    assert_eq!((recomputed(&app, a["id"].as_i64().unwrap()).0, recomputed(&app, b["id"].as_i64().unwrap()).0), (6, 6));
    assert_totals_exact(&app);
}

/// Sixty-four votes at once, through two processes, so they are written in
/// batches: votes on a draft, on no story, past an address's new voters of
/// the day, among good first votes and re-votes. Each refused vote is
/// refused alone; the others count, exactly.
async fn refused_votes_in_a_batch_leave_the_others_exact(backend: Backend) {
    let limits = [("RATING_VOTES_PER_MINUTE", "100000"), ("RATING_NEW_VOTERS_PER_DAY", "20")];
    let app = TestApp::start_with(backend, &limits).await;
    let second = app.another_process(&limits).await;
    let editor = app.editor().await;
    let (open, other) = (published_story(&editor, "Open").await, published_story(&editor, "Other").await);
    let draft = editor.create_story(json!({"title": "Draft"})).await;
    let missing = json!({"id": 987654});
    let sessions = [app.anon(), second.anon()];
    // Voters who will vote again in the storm.
    let known: Vec<String> = (0..8).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    for voter in &known {
        vote(&sessions[0], &open, voter, json!(1)).await.ok(201);
    }

    let fresh = || uuid::Uuid::new_v4().to_string();
    let mut ballots: Vec<(&str, &Value, String, i64)> = Vec::new();
    // 30 new voters on `open`, from one address: 12 more may count today.
    ballots.extend((0..30).map(|i| ("new", &open, fresh(), 1 + i % 5)));
    ballots.extend(known.iter().map(|voter| ("again", &open, voter.clone(), 5)));
    ballots.extend((0..10).map(|_| ("other", &other, fresh(), 4)));
    ballots.extend((0..8).map(|_| ("draft", &draft, fresh(), 3)));
    ballots.extend((0..8).map(|_| ("missing", &missing, fresh(), 3)));
    let requests = ballots
        .iter()
        .enumerate()
        .map(|(i, (_, story, voter, score))| vote(&sessions[i % 2], story, voter, json!(score)));
    let kinds: Vec<&str> = ballots.iter().map(|b| b.0).collect();
    let answers = join_all(requests).await;
    let statuses = |kind: &str| -> Vec<u16> {
        let mut statuses: Vec<u16> =
            kinds.iter().zip(&answers).filter(|(k, _)| **k == kind).map(|(_, res)| res.status.as_u16()).collect();
        statuses.sort();
        statuses
    };
    assert_eq!(statuses("new"), [[201; 12].as_slice(), &[429; 18]].concat());
    assert_eq!(statuses("again"), [200; 8]);
    assert_eq!(statuses("other"), [201; 10]);
    assert_eq!(statuses("draft"), [404; 8]);
    assert_eq!(statuses("missing"), [404; 8]);
    // Each answer carries its story's figures as of its own vote.
    for (kind, res) in kinds.iter().zip(&answers) {
        if res.status.is_success() {
            let body = res.json();
            let story = if *kind == "other" { &other } else { &open };
            assert_eq!(body["story_id"], story["id"]);
            let count = body["count"].as_i64().unwrap();
            assert!((1..=20).contains(&count), "{body}");
        }
    }

    for story in [&open, &other] {
        let id = story["id"].as_i64().unwrap();
        let aggregate = app.anon().get(&format!("/v1/stories/{id}/rating")).await.ok(200);
        let (count, _, histogram) = recomputed(&app, id);
        assert_eq!(aggregate["count"], count);
        let distribution: Vec<i64> =
            (1..=5).map(|s| aggregate["distribution"][s.to_string()].as_i64().unwrap()).collect();
        assert_eq!(distribution, histogram);
        assert_rank_stored(&app, id);
    }
    assert_eq!(recomputed(&app, open["id"].as_i64().unwrap()).0, 20);
    assert!(recomputed(&app, open["id"].as_i64().unwrap()).2[4] >= 8);
    assert_eq!(raw_vote_count(&app, draft["id"].as_i64().unwrap()), 0);
    assert_totals_exact(&app);
}

/// `sort=-rating` walks the stored ranks: every page continues where the
/// last ended, ties (all the unrated stories) broken by id, nothing twice
/// and nothing left out; the order is that of the scores.
async fn the_rating_list_pages_by_stored_rank(backend: Backend) {
    let app = TestApp::start_with(
        backend,
        &[
            ("RATING_VOTES_PER_MINUTE", "100000"),
            ("RATING_NEW_VOTERS_PER_DAY", "1000000"),
            ("ANTHOLOGY_CACHE_TTL_MS", "0"),
        ],
    )
    .await;
    let editor = app.editor().await;
    let anon = app.anon();
    let mut stories = Vec::new();
    for i in 0..11 {
        stories.push(published_story(&editor, &format!("Story {i}")).await);
    }
    // Stories 0-3 unrated; 4 and 5 rated alike; the rest in between.
    let votes: [&[i64]; 11] = [&[], &[], &[], &[], &[5, 5], &[5, 5], &[1], &[2, 3], &[4], &[5, 1, 5], &[3, 3, 3]];
    let mut requests = Vec::new();
    for (story, scores) in stories.iter().zip(votes) {
        for score in scores {
            requests.push(new_voter(&anon, story, json!(score)));
        }
    }
    for res in join_all(requests).await {
        assert_eq!(res.status.as_u16(), 201, "{}", res.text());
    }

    let ids =
        |list: &Value| list["data"].as_array().unwrap().iter().map(|s| s["id"].as_i64().unwrap()).collect::<Vec<_>>();
    let whole = ids(&anon.get("/v1/stories?sort=-rating&limit=100").await.ok(200));
    let mut walked = Vec::new();
    let mut path = "/v1/stories?sort=-rating&limit=3".to_owned();
    loop {
        let res = anon.get(&path).await;
        walked.extend(ids(&res.ok(200)));
        match res.header("link") {
            Some(link) => path = link.trim_start_matches('<').split('>').next().unwrap().to_owned(),
            None => break,
        }
    }
    assert_eq!(walked, whole);
    assert_eq!(whole.len(), 11);
    // By score, highest first; equal scores by id, newest first.
    let mut scored = Vec::new();
    for id in &whole {
        let score = anon.get(&format!("/v1/stories/{id}/rating")).await.ok(200)["score"].as_f64().unwrap();
        scored.push((score, *id));
    }
    for pair in scored.windows(2) {
        let ((a, a_id), (b, b_id)) = (pair[0], pair[1]);
        assert!(a > b + 1e-12 || ((a - b).abs() < 1e-12 && a_id > b_id), "{scored:?}");
    }
    for story in &stories {
        assert_rank_stored(&app, story["id"].as_i64().unwrap());
    }
}

/// A new prior (here another process configured with another mean) is
/// snapshotted and every rated story re-ranked in the background: a story
/// with one vote of 4 ranks above an unrated one under a mean of 3, and
/// below it under a mean of 5, without another vote.
async fn ranks_catch_up_with_a_new_prior(backend: Backend) {
    let app = TestApp::start_with(backend, &[("RATING_PRIOR_MEAN", "3"), ("ANTHOLOGY_CACHE_TTL_MS", "0")]).await;
    let editor = app.editor().await;
    let unrated = published_story(&editor, "Unrated").await;
    let rated = published_story(&editor, "Rated once").await;
    let unrated_id = unrated["id"].as_i64().unwrap();
    let rated_id = rated["id"].as_i64().unwrap();
    let voted = vote(&app.anon(), &rated, VOTER_A, json!(4)).await.ok(201);
    assert!((voted["score"].as_f64().unwrap() - (4.0 + 30.0) / 11.0).abs() < 1e-12);
    assert_eq!(rating_order(&app).await, [rated_id, unrated_id]);

    let second = app.another_process(&[("RATING_PRIOR_MEAN", "5"), ("ANTHOLOGY_CACHE_TTL_MS", "0")]).await;
    // The re-ranking runs in the background: look until it is done.
    let mut seen = Vec::new();
    for _ in 0..200 {
        seen = rating_order(&second).await;
        if seen == [unrated_id, rated_id] {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(seen, [unrated_id, rated_id]);
    // Both processes read the same snapshot: the score is under the new mean.
    for process in [&app, &second] {
        let rating = process.anon().get(&format!("/v1/stories/{rated_id}/rating")).await.ok(200);
        assert!((rating["score"].as_f64().unwrap() - (4.0 + 50.0) / 11.0).abs() < 1e-12, "{rating}");
        assert_eq!(process.anon().get(&format!("/v1/stories/{unrated_id}/rating")).await.ok(200)["score"], 5.0);
    }
    assert_rank_stored(&app, rated_id);
}

/// A vote from a voter never seen before.
async fn new_voter(session: &Session<'_>, story: &Value, score: Value) -> crate::common::TestResponse {
    vote(session, story, &uuid::Uuid::new_v4().to_string(), score).await
}

/// The ids of the first page of `sort=-rating`.
async fn rating_order(app: &TestApp) -> Vec<i64> {
    let list = app.anon().get("/v1/stories?sort=-rating").await.ok(200);
    list["data"].as_array().unwrap().iter().map(|s| s["id"].as_i64().unwrap()).collect()
}

/// Deleting a story takes its votes out of the site-wide totals, as deleting
/// each vote would: the prior's mean stays the mean over the votes there
/// are. So when the upkeep next re-takes the snapshot (here: a process
/// configured with another weight starts), the other stories score by the
/// remaining votes alone.
async fn a_deleted_storys_votes_leave_the_site_wide_totals(backend: Backend) {
    let env = [("RATING_NEW_VOTERS_PER_DAY", "1000"), ("ANTHOLOGY_CACHE_TTL_MS", "0")];
    let app = TestApp::start_with(backend, &env).await;
    let editor = app.editor().await;
    let anon = app.anon();
    let kept = published_story(&editor, "Kept").await;
    let kept_id = kept["id"].as_i64().unwrap();
    for score in [1, 2] {
        new_voter(&anon, &kept, json!(score)).await.ok(201);
    }
    let deleted = published_story(&editor, "Deleted").await;
    for _ in 0..25 {
        new_voter(&anon, &deleted, json!(5)).await.ok(201);
    }
    editor.delete(&format!("/v1/stories/{}", deleted["id"])).await.ok(204);
    assert_totals_exact(&app);

    let second = app.another_process(&[("RATING_PRIOR_WEIGHT", "4"), ("ANTHOLOGY_CACHE_TTL_MS", "0")]).await;
    // The snapshot is re-taken in the background: look until it is.
    for _ in 0..200 {
        if stored_rank(&app, kept_id).weight == 4.0 {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let prior = stored_rank(&app, kept_id);
    assert_eq!((prior.weight, prior.mean), (4.0, 1.5));
    let rating = second.anon().get(&format!("/v1/stories/{kept_id}/rating")).await.ok(200);
    assert!((rating["score"].as_f64().unwrap() - (3.0 + 4.0 * 1.5) / (2.0 + 4.0)).abs() < 1e-12, "{rating}");
}

/// Every story's ratings row agrees with the story and its votes
/// ([`RATINGS_ROWS_DISAGREE`]).
fn assert_ratings_rows_agree(app: &TestApp) {
    let mut conn = app.db.conn().unwrap();
    for (what, sql) in RATINGS_ROWS_DISAGREE {
        assert_eq!(count(&mut conn, sql), 0, "{what} disagree with the rows");
    }
}

/// A story created through the API has its ratings row at once (the seed's
/// and the import's are checked in their tests); the row's copy of the
/// publication time follows every change of status, and the row goes with
/// the story.
async fn a_storys_ratings_row_follows_it(backend: Backend) {
    let app = TestApp::start_with(backend, &[("ANTHOLOGY_CACHE_TTL_MS", "0")]).await;
    let editor = app.editor().await;
    let story = editor.create_story(json!({"title": "Followed"})).await;
    let id = story["id"].as_i64().unwrap();
    let rows = |app: &TestApp| {
        count(&mut app.db.conn().unwrap(), &format!("SELECT COUNT(*) AS n FROM story_ratings WHERE story_id = {id}"))
    };
    assert_eq!(rows(&app), 1);
    assert_ratings_rows_agree(&app);
    editor.publish(&story["id"], Some("2026-01-01T00:00:00Z")).await;
    vote(&app.anon(), &story, VOTER_A, json!(4)).await.ok(201);
    assert_ratings_rows_agree(&app);
    for step in ["archive", "unpublish"] {
        editor.post(&format!("/v1/stories/{id}/{step}"), json!({})).await.ok(200);
        assert_ratings_rows_agree(&app);
    }
    editor.publish(&story["id"], Some("2999-01-01T00:00:00Z")).await;
    assert_ratings_rows_agree(&app);
    editor.delete(&format!("/v1/stories/{id}")).await.ok(204);
    assert_eq!(rows(&app), 0);
    assert_totals_exact(&app);
}

/// `sort=-rating` lists public stories only: a story with votes that goes
/// back to draft, is archived or is rescheduled leaves the ranking (its
/// votes and rank kept) and comes back when it is public again. Editors
/// ranking one status see that status's stories.
async fn only_public_stories_are_ranked(backend: Backend) {
    let env = [("RATING_NEW_VOTERS_PER_DAY", "1000"), ("ANTHOLOGY_CACHE_TTL_MS", "0")];
    let app = TestApp::start_with(backend, &env).await;
    let editor = app.editor().await;
    let anon = app.anon();
    let mut stories = Vec::new();
    for (title, score) in [("Drafted", 5), ("Archived", 4), ("Rescheduled", 3), ("Public", 1)] {
        let story = published_story(&editor, title).await;
        for _ in 0..3 {
            new_voter(&anon, &story, json!(score)).await.ok(201);
        }
        stories.push(story["id"].as_i64().unwrap());
    }
    let [drafted, archived, rescheduled, public] = stories[..] else { unreachable!() };
    assert_eq!(rating_order(&app).await, [drafted, archived, rescheduled, public]);

    editor.post(&format!("/v1/stories/{drafted}/unpublish"), json!({})).await.ok(200);
    editor.post(&format!("/v1/stories/{archived}/archive"), json!({})).await.ok(200);
    editor.publish(&json!(rescheduled), Some("2999-01-01T00:00:00Z")).await;
    assert_eq!(rating_order(&app).await, [public]);
    let ranked = |status: &'static str| {
        let editor = &editor;
        async move {
            let list = editor.get(&format!("/v1/stories?sort=-rating&status={status}")).await.ok(200);
            list["data"].as_array().unwrap().iter().map(|s| s["id"].as_i64().unwrap()).collect::<Vec<_>>()
        }
    };
    assert_eq!(ranked("draft").await, [drafted]);
    assert_eq!(ranked("archived").await, [archived]);
    assert_eq!(ranked("scheduled").await, [rescheduled]);
    assert_eq!(ranked("published").await, [public]);

    editor.publish(&json!(drafted), Some("2026-01-01T00:00:00Z")).await;
    assert_eq!(rating_order(&app).await, [drafted, public]);
    assert_ratings_rows_agree(&app);
}
