"""Feeds and sitemaps against a live server, read by parsers that are not
ours: feedparser for Atom and RSS (no bozo flag), the JSON Feed 1.1 spec's
required fields, and the sitemaps.org rules for the sitemap index and files.

Usage: check.py BASE_URL EDITOR_TOKEN. Publishes a story full of curly quotes
and em dashes, keeps a draft, and checks that only the first is listed.
Prints "feeds: N passed, 0 failed" or exits non-zero.
"""

import json
import re
import sys
import urllib.request
import uuid
import xml.etree.ElementTree as ET

import feedparser

BASE, TOKEN = sys.argv[1], sys.argv[2]
SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
W3C_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$")
passed = 0


def request(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {TOKEN}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req) as res:
        return json.loads(res.read() or b"null")


def get(path):
    with urllib.request.urlopen(BASE + path) as res:
        return res.headers.get("Content-Type"), res.read()


def check(condition, what):
    global passed
    if not condition:
        sys.exit(f"feeds: FAILED: {what}")
    passed += 1


marker = uuid.uuid4().hex[:8]
title = f"Mum’s moving in — {marker}"
story = request("POST", "/v1/stories", {"title": title, "body": "“Come and live with us” — she did.", "tags": ["family"]})
request("POST", f"/v1/stories/{story['id']}/publish", {"at": "2026-01-01T00:00:00Z"})
draft = request("POST", "/v1/stories", {"title": f"Unpublished draft {marker}", "tags": ["family"]})

for path, kind in [("/v1/feed.atom", "atom10"), ("/v1/feed.rss", "rss20")]:
    content_type, body = get(path)
    feed = feedparser.parse(body)
    check(not feed.bozo, f"{path} is well-formed: {feed.get('bozo_exception')}")
    check(feed.version == kind, f"{path} is {kind}, got {feed.version}")
    titles = [entry.title for entry in feed.entries]
    check(title in titles, f"{path} lists the published story: {titles}")
    check(not any(marker in t and "draft" in t for t in titles), f"{path} leaves out the draft")
    entry = next(entry for entry in feed.entries if entry.title == title)
    check("“Come and live with us” — she did." in entry.content[0].value, f"{path} carries the full HTML")
    check(entry.link.startswith("http"), f"{path} links the story: {entry.link}")

content_type, body = get("/v1/feed.json")
check(content_type.startswith("application/feed+json"), f"JSON Feed media type: {content_type}")
feed = json.loads(body)
check(feed.get("version") == "https://jsonfeed.org/version/1.1", "JSON Feed version")
check(isinstance(feed.get("title"), str) and isinstance(feed.get("items"), list), "JSON Feed title and items")
for item in feed["items"]:
    check(isinstance(item.get("id"), str) and ("content_html" in item or "content_text" in item), f"item {item}")
check(any(item["title"] == title for item in feed["items"]), "JSON Feed lists the published story")
check(not any(item["title"] == draft["title"] for item in feed["items"]), "JSON Feed leaves out the draft")

content_type, body = get("/v1/sitemap.xml")
index = ET.fromstring(body)
check(index.tag == SITEMAP_NS + "sitemapindex", f"sitemap index root: {index.tag}")
files = [loc.text for loc in index.iter(SITEMAP_NS + "loc")]
check(0 < len(files) <= 50000, f"sitemap index lists files: {files}")
locs = []
for file_url in files:
    with urllib.request.urlopen(file_url) as res:
        urlset = ET.fromstring(res.read())
    check(urlset.tag == SITEMAP_NS + "urlset", f"{file_url} root: {urlset.tag}")
    urls = urlset.findall(SITEMAP_NS + "url")
    check(len(urls) <= 50000, f"{file_url} lists at most 50,000 URLs")
    for url in urls:
        loc, lastmod = url.find(SITEMAP_NS + "loc").text, url.find(SITEMAP_NS + "lastmod").text
        check(loc.startswith(("http://", "https://")) and len(loc) < 2048, f"absolute loc {loc}")
        check(W3C_DATETIME.match(lastmod) is not None, f"W3C lastmod {lastmod}")
        locs.append(loc)
check(any(loc.endswith("/" + story["slug"]) for loc in locs), "the sitemap lists the published story")
check(not any(loc.endswith("/" + draft["slug"]) for loc in locs), "the sitemap leaves out the draft")
print(f"feeds: {passed} passed, 0 failed")
