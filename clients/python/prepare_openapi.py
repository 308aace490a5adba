"""Download the served OpenAPI document and look for local `$ref`s that point
nowhere (a defect of the document, not of the generator).

    python prepare_openapi.py BASE_URL OUT_DIR

Writes OUT_DIR/openapi.json (the document as served). Exit 0: the document is
sound, generate from the URL. Exit 3: it has dangling references; each is
reported on stderr and OUT_DIR/openapi.patched.json holds a copy where each
missing component is an unconstrained schema, so the scenario can still run.
Any other exit: the document could not be fetched or read.
"""

import json
import sys
import urllib.request
from pathlib import Path


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: python prepare_openapi.py BASE_URL OUT_DIR", file=sys.stderr)
        return 2
    url = sys.argv[1].rstrip("/") + "/openapi.json"
    out = Path(sys.argv[2])
    with urllib.request.urlopen(url, timeout=30) as res:
        raw = res.read()
    doc = json.loads(raw)
    out.mkdir(parents=True, exist_ok=True)
    (out / "openapi.json").write_bytes(raw)

    def unescape(s: str) -> str:
        return s.replace("~1", "/").replace("~0", "~")

    def resolves(pointer: str) -> bool:
        node = doc
        for part in map(unescape, pointer[2:].split("/")):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return False
        return True

    dangling: dict[str, str] = {}

    def walk(node: object, at: str) -> None:
        if isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{at}/{i}")
        elif isinstance(node, dict):
            for k, v in node.items():
                if k == "$ref" and isinstance(v, str) and v.startswith("#/") and not resolves(v):
                    dangling.setdefault(v, at)
                else:
                    walk(v, f"{at}/{k.replace('~', '~0').replace('/', '~1')}")

    walk(doc, "#")
    if not dangling:
        return 0
    for ref, at in dangling.items():
        print(f"OPENAPI DOCUMENT PROBLEM: $ref {ref} (used at {at}) resolves to nothing", file=sys.stderr)
        parts = [unescape(p) for p in ref[2:].split("/")]
        if len(parts) != 3 or parts[0] != "components":
            print("  cannot work around a reference outside #/components/<kind>/<name>", file=sys.stderr)
            return 1
        doc.setdefault("components", {}).setdefault(parts[1], {})[parts[2]] = {
            "description": "PLACEHOLDER: missing from the served document (added by clients/python)"
        }
    (out / "openapi.patched.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"  worked around: generating from {out / 'openapi.patched.json'}", file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main())
