#!/usr/bin/env python3
"""Seeds a running Anthology with published stories through its API.

usage: seed.py BASE_URL TOKEN COUNT

One story, slug `mums-moving-in`, has a ~1,000-word body; the rest are short.
Every story gets 1-3 tags from a pool of 40 and is published in the past.
Uses only the standard library; 16 requests in flight.
"""
import json
import random
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor

BASE, TOKEN, COUNT = sys.argv[1], sys.argv[2], int(sys.argv[3])
TAGS = [f"topic-{i}" for i in range(40)]
WORDS = ("kettle mother kitchen radio evening morning garden letter daughter winter "
         "suitcase Lisbon boxes stairs tea biscuits neighbour photograph quiet laughter").split()


def call(method, path, body=None):
    req = urllib.request.Request(BASE + path, method=method, data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Authorization", f"Bearer {TOKEN}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req) as res:
        return json.loads(res.read())


def paragraph(rng, words):
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def make(i):
    rng = random.Random(i)
    if i == 0:
        title, slug = "Mum’s moving in", "mums-moving-in"
        body = "When my mother turned eighty-four, we said the words we’d avoided for years: “Come and live with us.”\n\n"
        body += "\n\n".join(paragraph(rng, 60) for _ in range(16))
    else:
        title, slug = f"Story {i}: {paragraph(rng, 4)[:-1]}", None
        body = "\n\n".join(paragraph(rng, 25) for _ in range(3))
    story = {"title": title, "body": body, "tags": rng.sample(TAGS, rng.randint(1, 3))}
    if slug:
        story["slug"] = slug
    created = call("POST", "/v1/stories", story)
    day = 1 + i % 28
    call("POST", f"/v1/stories/{created['id']}/publish", {"at": f"2026-{1 + i % 10:02d}-{day:02d}T{i % 24:02d}:{i % 60:02d}:00Z"})


with ThreadPoolExecutor(16) as pool:
    for n, _ in enumerate(pool.map(make, range(COUNT)), 1):
        if n % 2000 == 0:
            print(f"seeded {n}", file=sys.stderr)
