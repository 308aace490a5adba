"""The metrics listener read by prometheus_client's own text parser: every
family parses, requests move their counter, and route labels are templates.

Usage: check.py API_BASE METRICS_BASE. Prints "metrics: N passed, 0 failed"
or exits non-zero.
"""

import sys
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

API, METRICS = sys.argv[1], sys.argv[2]
passed = 0


def check(condition, what):
    global passed
    if not condition:
        sys.exit(f"metrics: FAILED: {what}")
    passed += 1


def scrape():
    with urllib.request.urlopen(METRICS + "/metrics") as res:
        check(res.headers.get("Content-Type", "").startswith("text/plain; version=0.0.4"), "the text format's type")
        return {family.name: family for family in text_string_to_metric_families(res.read().decode())}


def requests_total(families, route, status):
    family = families.get("http_requests")
    return sum(
        s.value
        for s in (family.samples if family else [])
        if s.name == "http_requests_total" and s.labels.get("route") == route and s.labels.get("status") == status
    )


before = scrape()
for _ in range(3):
    urllib.request.urlopen(API + "/v1/tags").read()
for n in range(3):
    try:
        urllib.request.urlopen(f"{API}/v1/no-such-thing-{n}")
    except urllib.error.HTTPError as err:
        check(err.code == 404, "an unknown path is 404")
after = scrape()
check(requests_total(after, "/v1/tags", "200") >= requests_total(before, "/v1/tags", "200") + 3, "GET /v1/tags counted")
check(requests_total(after, "unmatched", "404") >= 3, "unknown paths share one label")
labels = {s.labels.get("route") for f in after.values() for s in f.samples if "route" in s.labels}
check(not any("no-such-thing" in route for route in labels), f"no raw paths in labels: {labels}")
for name in ["http_request_duration_seconds", "db_pool_connections", "response_cache_misses", "process_resident_memory_bytes"]:
    check(name in after, f"{name} is served")
print(f"metrics: {passed} passed, 0 failed")
