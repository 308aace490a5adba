// Downloads the served OpenAPI document and looks for local `$ref`s that
// point nowhere (a defect of the document, not of the generator).
//
//   node prepare-openapi.mjs BASE_URL OUT_DIR
//
// Writes OUT_DIR/openapi.json (the document as served). Exit 0: the document
// is sound, generate from the URL. Exit 3: it has dangling references; each
// is reported on stderr and OUT_DIR/openapi.patched.json holds a copy where
// each missing component is an unconstrained schema (`{}`), so the scenario
// can still run. Any other exit: the document could not be fetched or read.
import { mkdirSync, writeFileSync } from "node:fs";

const [baseUrl, outDir] = process.argv.slice(2);
if (!baseUrl || !outDir) {
  console.error("usage: node prepare-openapi.mjs BASE_URL OUT_DIR");
  process.exit(2);
}
const url = `${baseUrl.replace(/\/+$/, "")}/openapi.json`;
const res = await fetch(url);
if (res.status !== 200) {
  console.error(`GET ${url}: HTTP ${res.status}`);
  process.exit(1);
}
const text = await res.text();
const doc = JSON.parse(text);
mkdirSync(outDir, { recursive: true });
writeFileSync(`${outDir}/openapi.json`, text);

const unescape = (s) => s.replace(/~1/g, "/").replace(/~0/g, "~");
function resolve(pointer) {
  let node = doc;
  for (const part of pointer.slice(2).split("/").map(unescape)) {
    if (node === null || typeof node !== "object" || !(part in node)) return undefined;
    node = node[part];
  }
  return node;
}
const dangling = new Map(); // pointer -> first place it is used
(function walk(node, at) {
  if (Array.isArray(node)) return node.forEach((v, i) => walk(v, `${at}/${i}`));
  if (node === null || typeof node !== "object") return;
  for (const [k, v] of Object.entries(node)) {
    if (k === "$ref" && typeof v === "string" && v.startsWith("#/") && resolve(v) === undefined) {
      if (!dangling.has(v)) dangling.set(v, at);
    } else {
      walk(v, `${at}/${k.replace(/~/g, "~0").replace(/\//g, "~1")}`);
    }
  }
})(doc, "#");

if (dangling.size === 0) process.exit(0);
for (const [ref, at] of dangling) {
  console.error(`OPENAPI DOCUMENT PROBLEM: $ref ${ref} (used at ${at}) resolves to nothing`);
  const parts = ref.slice(2).split("/").map(unescape);
  if (parts.length !== 3 || parts[0] !== "components") {
    console.error(`  cannot work around a reference outside #/components/<kind>/<name>`);
    process.exit(1);
  }
  doc.components[parts[1]] ??= {};
  doc.components[parts[1]][parts[2]] = {
    description: "PLACEHOLDER: missing from the served document (added by clients/typescript)",
  };
}
writeFileSync(`${outDir}/openapi.patched.json`, JSON.stringify(doc, null, 2));
console.error(`  worked around: generating from ${outDir}/openapi.patched.json`);
process.exit(3);
