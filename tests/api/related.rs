//! "Read next" lists: curated links, their rules, visibility, cascades and suggestions.

use actix_web::http::Method;
use futures_util::future::join_all;
use serde_json::{Value, json};

use diesel::RunQueryDsl;

use crate::common::{Backend, Body, Session, TestApp};

crate::on_both_backends!(
    editors_replace_append_reorder_and_remove_links,
    every_rule_is_checked_and_a_bad_list_changes_nothing,
    readers_see_only_links_to_public_stories,
    readers_see_visible_links_numbered_from_one,
    deleting_a_story_removes_links_to_it_everywhere,
    links_stay_numbered_from_one_after_their_target_is_deleted,
    links_to_stories_deleted_at_the_same_moment_are_refused_not_lost,
    suggestions_prefer_rare_shared_tags_and_exclude_self_and_linked,
    the_new_mother_story_reads_next_to_mum_moving_in,
    publishing_stores_suggestions_that_readers_read_in_order,
    targets_that_stop_being_public_or_get_linked_drop_out_at_once,
    editing_tags_or_title_computes_suggestions_again,
    a_new_similar_story_joins_older_stories_suggestions,
    work_a_dead_process_leased_is_taken_over,
);

async fn published(editor: &Session<'_>, story: Value) -> Value {
    let created = editor.create_story(story).await;
    editor.publish(&created["id"], Some("2026-01-01T00:00:00Z")).await
}

async fn put_links(session: &Session<'_>, story: &Value, links: Value) -> crate::common::TestResponse {
    session.send(Method::PUT, &format!("/v1/stories/{}/related", story["id"]), Body::Json(links), &[]).await
}

fn summary(list: &Value) -> Vec<(i64, String, String)> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["position"].as_i64().unwrap(),
                l["kind"].as_str().unwrap().to_owned(),
                l["title"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn editors_replace_append_reorder_and_remove_links(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = published(&editor, json!({"title": "Home"})).await;
    let a = published(&editor, json!({"title": "Story A", "excerpt": "About A."})).await;
    let b = published(&editor, json!({"title": "Story B"})).await;
    let path = format!("/v1/stories/{}/related", story["id"]);

    let list = put_links(
        &editor,
        &story,
        json!([{"story_id": a["id"]}, {"url": "https://help.example/a", "title": "Help"}, {"story_id": b["id"]}]),
    )
    .await
    .ok(200);
    assert_eq!(
        summary(&list),
        [
            (1, "story".into(), "Story A".into()),
            (2, "external".into(), "Help".into()),
            (3, "story".into(), "Story B".into())
        ]
    );
    let first = &list["data"][0];
    assert_eq!(first["url"], Value::Null);
    assert_eq!(
        first["story"],
        json!({"id": a["id"], "slug": "story-a", "title": "Story A", "excerpt": "About A.", "status": "published"})
    );
    assert_eq!(list["data"][1]["url"], "https://help.example/a");
    assert_eq!(list["data"][1]["story"], Value::Null);

    // Reorder by replacing.
    let list = put_links(&editor, &story, json!([{"story_id": b["id"]}, {"story_id": a["id"]}])).await.ok(200);
    assert_eq!(summary(&list), [(1, "story".into(), "Story B".into()), (2, "story".into(), "Story A".into())]);

    // Append one.
    let res = editor.post(&path, json!({"url": "https://support.example/", "title": "Support"})).await;
    let added = res.ok(201);
    assert_eq!(added["position"], 3);
    assert_eq!(added["kind"], "external");
    editor.post(&path, json!({"story_id": a["id"]})).await.invalid_fields();

    // Remove the first: the others move up.
    let first_id = list["data"][0]["id"].clone();
    let res = editor.delete(&format!("{path}/{first_id}")).await;
    assert_eq!(res.status.as_u16(), 204);
    editor.delete(&format!("{path}/{first_id}")).await.problem(404);
    let list = app.anon().get(&path).await.ok(200);
    assert_eq!(summary(&list), [(1, "story".into(), "Story A".into()), (2, "external".into(), "Support".into())]);

    // Writes need an editor; the public list is cacheable.
    put_links(&app.anon(), &story, json!([])).await.problem(401);
    app.anon().post(&path, json!({"story_id": a["id"]})).await.problem(401);
    let res = app.anon().get(&path).await;
    assert_eq!(res.header("cache-control"), Some("public, max-age=60, stale-while-revalidate=300"));
    let etag = res.header("etag").unwrap().to_owned();
    assert_eq!(
        app.anon().with_headers(Method::GET, &path, None, &[("If-None-Match", &etag)]).await.status.as_u16(),
        304
    );
    // Emptying the list.
    assert_eq!(put_links(&editor, &story, json!([])).await.ok(200)["data"], json!([]));
}

async fn every_rule_is_checked_and_a_bad_list_changes_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = published(&editor, json!({"title": "Rules"})).await;
    let other = published(&editor, json!({"title": "Other"})).await;
    let good = json!([{"story_id": other["id"]}]);
    put_links(&editor, &story, good.clone()).await.ok(200);

    let res = put_links(
        &editor,
        &story,
        json!([
            {"url": "javascript:alert(1)", "title": "XSS"},
            {"url": "data:text/html,hi", "title": "Data"},
            {"url": "/relative/path", "title": "Relative"},
            {"url": "https://user:secret@example.com/", "title": "Credentials"},
            {"url": format!("https://example.com/{}", "a".repeat(2100)), "title": "Long"},
            {"url": "https://ok.example/", "title": ""},
            {"url": "https://ok.example/2", "title": "t".repeat(301)},
            {"story_id": story["id"]},
            {"story_id": 987654},
            {"story_id": other["id"]},
            {"story_id": other["id"]},
            {"url": "https://dup.example/x", "title": "One"},
            {"url": "HTTPS://DUP.example/x", "title": "Two"},
            {"url": "ftp://files.example/", "title": "FTP"}
        ]),
    )
    .await;
    let problem = res.problem(422);
    let codes: Vec<(String, String)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap().to_owned(), e["code"].as_str().unwrap().to_owned()))
        .collect();
    let expected = [
        ("[0].url", "scheme"),
        ("[1].url", "scheme"),
        ("[2].url", "format"),
        ("[3].url", "credentials"),
        ("[4].url", "length"),
        ("[5].title", "length"),
        ("[6].title", "length"),
        ("[7].story_id", "self_link"),
        ("[8].story_id", "not_found"),
        ("[10].story_id", "duplicate"),
        ("[12].url", "duplicate"),
        ("[13].url", "scheme"),
    ];
    for (field, code) in expected {
        assert!(codes.contains(&(field.to_owned(), code.to_owned())), "missing {field} {code} in {codes:?}");
    }
    // More than 50 links.
    let many: Vec<Value> =
        (0..51).map(|i| json!({"url": format!("https://many.example/{i}"), "title": "Many"})).collect();
    assert_eq!(put_links(&editor, &story, json!(many)).await.invalid_fields(), ["body"]);
    // An item of neither shape, and an item with an unknown field.
    let mixed = json!([{"story_id": other["id"], "url": "https://both.example/"}]);
    assert_eq!(put_links(&editor, &story, mixed).await.invalid_fields(), ["[0]"]);
    assert_eq!(
        put_links(&editor, &story, json!([{"url": "https://a.example/", "title": "A", "rel": "x"}]))
            .await
            .invalid_fields(),
        ["[0]"]
    );
    // Not a list at all.
    put_links(&editor, &story, json!({"story_id": other["id"]})).await.problem(422);
    // The old list is intact after every failure.
    let list = editor.get(&format!("/v1/stories/{}/related", story["id"])).await.ok(200);
    assert_eq!(summary(&list), [(1, "story".into(), "Other".into())]);
    put_links(&editor, &json!({"id": 987654}), good).await.problem(404);
}

async fn readers_see_only_links_to_public_stories(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = published(&editor, json!({"title": "Visible"})).await;
    let public = published(&editor, json!({"title": "Public target"})).await;
    let draft = editor.create_story(json!({"title": "Draft target"})).await;
    let scheduled = editor.create_story(json!({"title": "Scheduled target"})).await;
    editor.publish(&scheduled["id"], Some("2999-01-01T00:00:00Z")).await;
    let archived = published(&editor, json!({"title": "Archived target"})).await;
    editor.post(&format!("/v1/stories/{}/archive", archived["id"]), json!({})).await.ok(200);
    put_links(
        &editor,
        &story,
        json!([{"story_id": draft["id"]}, {"story_id": public["id"]}, {"story_id": scheduled["id"]}, {"story_id": archived["id"]}]),
    )
    .await
    .ok(200);
    let path = format!("/v1/stories/{}/related", story["id"]);
    let public_list = app.anon().get(&path).await.ok(200);
    assert_eq!(summary(&public_list), [(1, "story".into(), "Public target".into())]);
    let editor_list = editor.get(&path).await.ok(200);
    let statuses: Vec<&str> =
        editor_list["data"].as_array().unwrap().iter().map(|l| l["story"]["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["draft", "published", "scheduled", "archived"]);
    // A story that is not public has no public list.
    app.anon().get(&format!("/v1/stories/{}/related", draft["id"])).await.problem(404);
    app.anon().get("/v1/stories/987654/related").await.problem(404);
}

/// Readers used to see the stored positions, 2 and 4 when 1 and 3 were a
/// draft and a scheduled story: the gaps told them unpublished work existed.
async fn readers_see_visible_links_numbered_from_one(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = published(&editor, json!({"title": "Home", "tags": ["shared"]})).await;
    let draft = editor.create_story(json!({"title": "Draft target"})).await;
    let public = published(&editor, json!({"title": "Public target"})).await;
    let scheduled = editor.create_story(json!({"title": "Scheduled target"})).await;
    editor.publish(&scheduled["id"], Some("2999-01-01T00:00:00Z")).await;
    published(&editor, json!({"title": "Suggested", "tags": ["shared"]})).await;
    put_links(
        &editor,
        &story,
        json!([{"story_id": draft["id"]}, {"story_id": public["id"]}, {"story_id": scheduled["id"]},
               {"url": "https://help.example/", "title": "Help"}]),
    )
    .await
    .ok(200);
    app.suggestions_settled().await;
    let path = format!("/v1/stories/{}/related", story["id"]);
    assert_eq!(
        summary(&app.anon().get(&path).await.ok(200)),
        [(1, "story".into(), "Public target".into()), (2, "external".into(), "Help".into())]
    );
    // Suggestions continue after the visible links.
    assert_eq!(
        summary(&app.anon().get(&format!("{path}?suggest=1")).await.ok(200)),
        [
            (1, "story".into(), "Public target".into()),
            (2, "external".into(), "Help".into()),
            (3, "suggested".into(), "Suggested".into())
        ]
    );
    // Editors keep the stored positions, which they order and remove by.
    let positions: Vec<i64> = summary(&editor.get(&format!("{path}?suggest=1")).await.ok(200))
        .into_iter()
        .map(|(position, _, _)| position)
        .collect();
    assert_eq!(positions, [1, 2, 3, 4, 5]);
}

async fn deleting_a_story_removes_links_to_it_everywhere(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let one = published(&editor, json!({"title": "One"})).await;
    let two = published(&editor, json!({"title": "Two"})).await;
    let doomed = published(&editor, json!({"title": "Doomed"})).await;
    put_links(&editor, &one, json!([{"story_id": doomed["id"]}, {"story_id": two["id"]}])).await.ok(200);
    put_links(&editor, &two, json!([{"story_id": doomed["id"]}])).await.ok(200);
    put_links(&editor, &doomed, json!([{"story_id": one["id"]}])).await.ok(200);
    editor.delete(&format!("/v1/stories/{}", doomed["id"])).await;
    let list = editor.get(&format!("/v1/stories/{}/related", one["id"])).await.ok(200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["title"], "Two");
    assert_eq!(editor.get(&format!("/v1/stories/{}/related", two["id"])).await.ok(200)["data"], json!([]));
}

/// A link that goes with its deleted target leaves no gap: editors and
/// readers see the rest numbered 1 to n, and the next link added is n + 1.
async fn links_stay_numbered_from_one_after_their_target_is_deleted(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = published(&editor, json!({"title": "Hub"})).await;
    let mut targets = Vec::new();
    for title in ["First", "Doomed", "Third", "Fourth", "Fifth"] {
        targets.push(published(&editor, json!({"title": title})).await);
    }
    let links: Vec<Value> = targets[..4].iter().map(|t| json!({"story_id": t["id"]})).collect();
    put_links(&editor, &story, Value::Array(links)).await.ok(200);
    editor.delete(&format!("/v1/stories/{}", targets[1]["id"])).await;
    let path = format!("/v1/stories/{}/related", story["id"]);
    let added = editor.post(&path, json!({"story_id": targets[4]["id"]})).await.ok(201);
    assert_eq!(added["position"], 4);
    for list in [editor.get(&path).await.ok(200), app.anon().get(&path).await.ok(200)] {
        let numbered: Vec<(i64, &str)> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["position"].as_i64().unwrap(), l["title"].as_str().unwrap()))
            .collect();
        assert_eq!(numbered, [(1, "First"), (2, "Third"), (3, "Fourth"), (4, "Fifth")]);
    }
}

/// Links written through two processes while their targets are deleted:
/// each write either stores its links (the target's deletion then takes
/// them) or finds a target gone (422); never a failed foreign key (500,
/// the write lost).
async fn links_to_stories_deleted_at_the_same_moment_are_refused_not_lost(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let second = app.another_process(&[]).await;
    let other = second.editor().await;
    let story = published(&editor, json!({"title": "Hub"})).await;
    let path = format!("/v1/stories/{}/related", story["id"]);
    for round in 0..4 {
        let mut targets = Vec::new();
        for i in 0..6 {
            targets.push(editor.create_story(json!({"title": format!("Target {round}.{i}")})).await);
        }
        let doomed: Vec<String> = targets.iter().map(|t| format!("/v1/stories/{}", t["id"])).collect();
        let deletions = doomed.iter().map(|path| other.delete(path));
        let writes = targets.iter().enumerate().map(|(i, t)| {
            let path = path.clone();
            let link = json!({"story_id": t["id"]});
            let editor = &editor;
            async move {
                if i % 2 == 0 {
                    editor.send(Method::PUT, &path, Body::Json(json!([link])), &[]).await
                } else {
                    editor.send(Method::POST, &path, Body::Json(link), &[]).await
                }
            }
        });
        let (deleted, written) = futures_util::future::join(join_all(deletions), join_all(writes)).await;
        for res in deleted {
            assert_eq!(res.status.as_u16(), 204, "{}", res.text());
        }
        for res in written {
            assert!([200, 201, 422].contains(&res.status.as_u16()), "{} {}", res.status, res.text());
        }
        // Whatever was stored went with its target.
        assert_eq!(editor.get(&path).await.ok(200)["data"], json!([]));
    }
}

async fn suggestions_prefer_rare_shared_tags_and_exclude_self_and_linked(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = published(
        &editor,
        json!({"title": "Night feeds", "tags": ["parenting", "twins"], "body": "Two babies at three in the morning."}),
    )
    .await;
    // "parenting" is common, "twins" rare.
    for i in 0..6 {
        published(
            &editor,
            json!({"title": format!("Parenting tale {i}"), "tags": ["parenting"], "body": "Ordinary days."}),
        )
        .await;
    }
    let rare = published(&editor, json!({"title": "Our twins", "tags": ["twins"], "body": "Double trouble."})).await;
    let linked = published(&editor, json!({"title": "Also twins", "tags": ["twins", "parenting"]})).await;
    let wordy =
        published(&editor, json!({"title": "Night feeds, again", "body": "No tags, but the same words."})).await;
    let unrelated = published(&editor, json!({"title": "Gardening", "tags": ["garden"], "body": "Tomatoes."})).await;
    let draft = editor.create_story(json!({"title": "Night feeds draft", "tags": ["twins"]})).await;
    put_links(&editor, &story, json!([{"story_id": linked["id"]}])).await.ok(200);
    app.suggestions_settled().await;

    let path = format!("/v1/stories/{}/related?suggest=3", story["id"]);
    let list = app.anon().get(&path).await.ok(200);
    let data = list["data"].as_array().unwrap();
    assert_eq!(data[0]["kind"], "story");
    let suggested: Vec<Value> =
        data.iter().filter(|l| l["kind"] == "suggested").map(|l| l["story"]["id"].clone()).collect();
    assert_eq!(suggested.len(), 3);
    assert_eq!(suggested[0], rare["id"], "the rare shared tag should rank first: {data:?}");
    assert!(suggested.contains(&wordy["id"]), "shared words count: {data:?}");
    for never in [&story["id"], &linked["id"], &unrelated["id"], &draft["id"]] {
        assert!(!suggested.contains(never), "{never} suggested: {data:?}");
    }
    let positions: Vec<i64> = data.iter().map(|l| l["position"].as_i64().unwrap()).collect();
    assert_eq!(positions, [1, 2, 3, 4]);
    assert!(data[1]["id"].is_null());
    app.anon().get(&format!("/v1/stories/{}/related?suggest=11", story["id"])).await.problem(400);
    assert_eq!(
        app.anon().get(&format!("/v1/stories/{}/related?suggest=0", story["id"])).await.ok(200)["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn the_new_mother_story_reads_next_to_mum_moving_in(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let new_mother = published(
        &editor,
        json!({"title": "The first night home", "tags": ["new-mothers"], "body": "She was three days old and I had no idea what I was doing — none of us do."}),
    )
    .await;
    let moving_in = published(
        &editor,
        json!({"title": "Mum’s moving in", "tags": ["ageing", "family"], "body": "When my mother turned eighty-four, we said it: “Come and live with us.”"}),
    )
    .await;
    put_links(&editor, &new_mother, json!([{"story_id": moving_in["id"]}, {"url": "https://www.nct.org.uk/", "title": "NCT — support for new parents"}]))
        .await
        .ok(200);
    let list = app.anon().get(&format!("/v1/stories/{}/related", new_mother["id"])).await.ok(200);
    assert_eq!(
        list,
        json!({"data": [
            {"id": list["data"][0]["id"], "position": 1, "kind": "story", "title": "Mum’s moving in", "url": null,
             "story": {"id": moving_in["id"], "slug": "mum-s-moving-in", "title": "Mum’s moving in",
                       "excerpt": "When my mother turned eighty-four, we said it: “Come and live with us.”", "status": "published"}},
            {"id": list["data"][1]["id"], "position": 2, "kind": "external", "title": "NCT — support for new parents",
             "url": "https://www.nct.org.uk/", "story": null}
        ]})
    );
}

/// A story's stored suggestions, best first, as the suggester wrote them.
async fn stored(app: &TestApp, story: &Value) -> Vec<i64> {
    #[derive(diesel::QueryableByName)]
    struct Target {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        target_id: i64,
    }
    let sql = format!("SELECT target_id FROM story_suggestions WHERE story_id = {} ORDER BY position", story["id"]);
    let rows = app.db.read(move |conn| Ok(diesel::sql_query(sql).load::<Target>(conn)?)).await.unwrap();
    rows.into_iter().map(|row| row.target_id).collect()
}

/// The ids of the suggestions readers get with `?suggest=n`.
async fn suggested(app: &TestApp, story: &Value, n: u8) -> Vec<i64> {
    let list = app.anon().get(&format!("/v1/stories/{}/related?suggest={n}", story["id"])).await.ok(200);
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == "suggested")
        .map(|l| l["story"]["id"].as_i64().unwrap())
        .collect()
}

fn id(story: &Value) -> i64 {
    story["id"].as_i64().unwrap()
}

async fn publishing_stores_suggestions_that_readers_read_in_order(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = published(&editor, json!({"title": "Allotment diary", "tags": ["garden", "seasons"]})).await;
    let close = published(&editor, json!({"title": "Seed swaps", "tags": ["garden", "seasons"]})).await;
    let closer = published(&editor, json!({"title": "Allotment winter", "tags": ["garden", "seasons"]})).await;
    let far = published(&editor, json!({"title": "Compost", "tags": ["garden"]})).await;
    // Nothing is computed when read: a story with nothing stored shows none.
    let draft = editor.create_story(json!({"title": "Allotment draft", "tags": ["garden"]})).await;
    app.suggestions_settled().await;

    let best = stored(&app, &story).await;
    assert_eq!(best, [id(&closer), id(&close), id(&far)], "shared words and tags first, then newer");
    assert!(!best.contains(&id(&story)) && !best.contains(&id(&draft)));
    assert_eq!(suggested(&app, &story, 10).await, best);
    assert_eq!(suggested(&app, &story, 2).await, best[..2]);
    // The draft has its own, for editors, and none of it reaches readers.
    assert_eq!(stored(&app, &draft).await.len(), 4);
    app.anon().get(&format!("/v1/stories/{}/related?suggest=2", draft["id"])).await.problem(404);
}

async fn targets_that_stop_being_public_or_get_linked_drop_out_at_once(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = published(&editor, json!({"title": "Home", "tags": ["t"]})).await;
    let mut targets = Vec::new();
    for i in 0..5 {
        targets.push(published(&editor, json!({"title": format!("Target {i}"), "tags": ["t"]})).await);
    }
    app.suggestions_settled().await;
    let before = suggested(&app, &story, 3).await;
    assert_eq!(before, [id(&targets[4]), id(&targets[3]), id(&targets[2])]);

    // No computation in between: the read checks the public rule and the links.
    editor.post(&format!("/v1/stories/{}/unpublish", targets[4]["id"]), json!({})).await.ok(200);
    editor.post(&format!("/v1/stories/{}/archive", targets[3]["id"]), json!({})).await.ok(200);
    editor.delete(&format!("/v1/stories/{}", targets[2]["id"])).await;
    editor.publish(&targets[1]["id"], Some("2999-01-01T00:00:00Z")).await;
    assert_eq!(suggested(&app, &story, 3).await, [id(&targets[0])]);
    put_links(&editor, &story, json!([{"story_id": targets[0]["id"]}])).await.ok(200);
    assert!(suggested(&app, &story, 3).await.is_empty());
}

async fn editing_tags_or_title_computes_suggestions_again(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = published(&editor, json!({"title": "Sourdough", "tags": ["baking"]})).await;
    let baking = published(&editor, json!({"title": "Rye loaves", "tags": ["baking"]})).await;
    let sailing = published(&editor, json!({"title": "Crossing the Channel", "tags": ["sailing"]})).await;
    let tides = published(&editor, json!({"title": "Neap tides", "tags": ["boats"]})).await;
    app.suggestions_settled().await;
    assert_eq!(suggested(&app, &story, 5).await, [id(&baking)]);

    let path = format!("/v1/stories/{}", story["id"]);
    let etag = editor.get(&path).await.header("etag").unwrap().to_owned();
    let res =
        editor.with_headers(Method::PATCH, &path, Some(json!({"tags": ["sailing"]})), &[("If-Match", &etag)]).await;
    res.ok(200);
    let etag = res.header("etag").unwrap().to_owned();
    app.suggestions_settled().await;
    assert_eq!(suggested(&app, &story, 5).await, [id(&sailing)]);

    let edit = json!({"title": "Neap tides, again", "tags": []});
    editor.with_headers(Method::PATCH, &path, Some(edit), &[("If-Match", &etag)]).await.ok(200);
    app.suggestions_settled().await;
    assert_eq!(suggested(&app, &story, 5).await, [id(&tides)]);
}

/// A new story queues the stories it suggests, so that they can suggest it
/// back: an older story's list gains it without a refresh.
async fn a_new_similar_story_joins_older_stories_suggestions(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let older = published(&editor, json!({"title": "Beekeeping", "tags": ["bees"]})).await;
    app.suggestions_settled().await;
    assert!(suggested(&app, &older, 5).await.is_empty());
    let newer = published(&editor, json!({"title": "First honey", "tags": ["bees"]})).await;
    app.suggestions_settled().await;
    assert_eq!(suggested(&app, &newer, 5).await, [id(&older)]);
    assert_eq!(suggested(&app, &older, 5).await, [id(&newer)]);
}

/// A process killed mid-computation leaves its lease behind; once the lease
/// has run out, a living process computes the story.
async fn work_a_dead_process_leased_is_taken_over(backend: Backend) {
    let app = TestApp::start(backend).await;
    let editor = app.editor().await;
    let story = published(&editor, json!({"title": "Kites", "tags": ["wind"]})).await;
    let other = published(&editor, json!({"title": "Gales", "tags": ["wind"]})).await;
    app.suggestions_settled().await;
    assert_eq!(stored(&app, &story).await, [id(&other)]);

    let (dead, taken) = (id(&story), id(&other));
    app.db
        .read(move |conn| {
            diesel::sql_query(format!("DELETE FROM story_suggestions WHERE story_id IN ({dead}, {taken})"))
                .execute(conn)?;
            // Leased by a process that is gone: one lease has run out, the other not yet.
            for (story, until) in [(dead, "2000-01-01 00:00:00"), (taken, "2999-01-01 00:00:00")] {
                diesel::sql_query(format!(
                    "UPDATE suggestion_queue SET reason = 'neighbour', due_at = '2000-01-01 00:00:00',
                     claimed_by = 'killed-process', locked_until = '{until}' WHERE story_id = {story}"
                ))
                .execute(conn)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    // Taken over and computed; the other waits for its lease to run out.
    for _ in 0..400 {
        if !stored(&app, &story).await.is_empty() {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(stored(&app, &story).await, [id(&other)]);
    assert!(stored(&app, &other).await.is_empty());
}
