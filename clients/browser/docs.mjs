// Loads the interactive API docs (Swagger UI served by the binary at
// /docs/) in headless Chromium, fully offline: every request that is not to
// the server under test is blocked, and any attempt to reach another host
// fails the run.
//
//   node browser/docs.mjs BASE_URL SCREENSHOT_PATH
//
// Checks: the page loads and renders the API title; every tag of the OpenAPI
// document shows as a visible section; "Try it out" -> "Execute" on
// GET /v1/stories gets a 200 from the server and the page shows 200; no
// request left for another host, no same-origin request failed, no
// uncaught script error. Saves a full-page screenshot and prints
// `docs in chromium: N passed, M failed` as its last line.
//
// Environment (all optional):
//   CHROMIUM_PATH     browser binary (default /usr/bin/chromium)
//   DOCS_PUBLIC_HOST  browse the docs under this host name instead of
//                     BASE_URL's host (Chromium resolves it to BASE_URL's
//                     address). Swagger UI switches some behaviour off on
//                     localhost/127.0.0.1 (e.g. the online validator badge),
//                     so this shows what a public deployment's visitors get.
//   DOCS_TIMEOUT_MS   per-step timeout (default 20000)
//   DOCS_HEADED=1     show the browser window (debugging only)

import { checks, firstLine } from './checks.mjs';
import { chromium } from 'playwright-core';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';

const STEP_TIMEOUT = Number(process.env.DOCS_TIMEOUT_MS || 20000);
const OVERALL_TIMEOUT = STEP_TIMEOUT * 8;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const TARGET = { method: 'get', path: '/v1/stories' };

const [baseArg, shotArg] = process.argv.slice(2);
if (!baseArg || !shotArg || process.argv.length > 4) {
  console.error('usage: node browser/docs.mjs BASE_URL SCREENSHOT_PATH');
  process.exit(2);
}

let base;
try {
  base = new URL(baseArg.replace(/\/+$/, '') + '/');
  if (!/^https?:$/.test(base.protocol)) throw new Error('not http(s)');
} catch (e) {
  console.error(`docs: BASE_URL ${JSON.stringify(baseArg)} is not an http(s) URL (${e.message})`);
  process.exit(2);
}
const shotPath = path.resolve(shotArg);

// Where the browser goes: BASE_URL itself, or the same server under a public
// looking name (see DOCS_PUBLIC_HOST).
const publicHost = (process.env.DOCS_PUBLIC_HOST || '').trim().toLowerCase();
const browseBase = new URL(base.href);
if (publicHost) browseBase.hostname = publicHost;
const allowedOrigin = browseBase.origin;

// ---- bookkeeping -----------------------------------------------------------

const { check, must, step, runMain } = checks('docs in chromium');

// ---- 1. the OpenAPI document (from Node, not the browser) ------------------

async function loadSpec() {
  const url = new URL('openapi.json', base);
  let res;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(STEP_TIMEOUT), headers: { accept: 'application/json' } });
  } catch (e) {
    must(`fetch ${url}`, false, `${firstLine(e)}${e.cause ? ` (${e.cause.code || e.cause.message})` : ''} - is the server running?`);
  }
  must(`GET ${url.pathname} is 200`, res.status === 200, `got ${res.status}`);
  let doc;
  try {
    doc = await res.json();
  } catch (e) {
    must('openapi.json parses as JSON', false, firstLine(e));
  }
  must('openapi.json has paths', doc && typeof doc.paths === 'object' && doc.paths !== null, 'no "paths" object');

  // Every tag of the document: declared at the top level or used by an
  // operation (Swagger UI lists operations without tags under "default").
  const tags = [];
  const add = (t) => { if (typeof t === 'string' && !tags.includes(t)) tags.push(t); };
  for (const t of doc.tags || []) add(t && t.name);
  const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
  for (const item of Object.values(doc.paths)) {
    for (const m of METHODS) {
      const op = item && item[m];
      if (!op) continue;
      if (Array.isArray(op.tags) && op.tags.length) op.tags.forEach(add);
      else add('default');
    }
  }
  must('openapi.json has tags', tags.length > 0, 'no tags found');

  const op = doc.paths[TARGET.path] && doc.paths[TARGET.path][TARGET.method];
  must(`openapi.json has ${TARGET.method.toUpperCase()} ${TARGET.path}`, !!op, 'operation missing');
  const opTag = (Array.isArray(op.tags) && op.tags[0]) || 'default';
  return { doc, tags, opTag, title: doc.info && doc.info.title };
}

// ---- 2. the browser --------------------------------------------------------

let lastPage = null;
let shotTaken = false;

// As a check on the normal path; best effort (not a check) after a failure.
async function takeScreenshot(page, asCheck) {
  await mkdir(path.dirname(shotPath), { recursive: true });
  const take = async () => {
    await page.screenshot({ path: shotPath, fullPage: true, animations: 'disabled' });
    if ((await stat(shotPath)).size < 10_000) throw new Error('screenshot is suspiciously small');
    shotTaken = true;
  };
  if (asCheck) return step(`full-page screenshot to ${shotPath}`, take);
  await take();
  console.log(`note: screenshot of the failed run saved to ${shotPath}`);
}

async function main() {
  const { tags, opTag, title } = await loadSpec();
  console.log(`docs: ${tags.length} tags in the document: ${tags.join(', ')}`);

  const args = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    // Belt and braces for "offline": no proxy, and no host name resolves
    // except the server's, so even a request page.route never saw could not
    // leave the machine. page.route below is what detects and reports them.
    '--no-proxy-server',
    `--host-resolver-rules=${publicHost ? `MAP ${publicHost} ${base.hostname}, ` : ''}MAP * ~NOTFOUND, EXCLUDE ${base.hostname}`,
  ];
  if (process.env.DOCS_HEADED === '1') args.shift();

  let browser;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args, headless: process.env.DOCS_HEADED !== '1', timeout: STEP_TIMEOUT });
  } catch (e) {
    must(`launch ${CHROMIUM}`, false, firstLine(e));
  }
  check(`chromium ${browser.version()} launched`, true);

  const foreign = [];        // requests to anything but the server under test
  const sameOriginErrors = []; // server responses >= 400 while loading/using the page
  const pageErrors = [];     // uncaught exceptions in the page
  const consoleErrors = [];  // console.error output (reported, not failed)
  let aborted = null;

  try {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      serviceWorkers: 'block', // so every request goes through page.route
      acceptDownloads: false,
    });
    context.setDefaultTimeout(STEP_TIMEOUT);

    const isAllowed = (u) => {
      let url;
      try { url = new URL(u); } catch { return false; }
      if (url.protocol === 'data:' || url.protocol === 'blob:' || u === 'about:blank') return true;
      return url.origin === allowedOrigin;
    };
    // Routing blocks whatever is not the server under test; the request
    // event (which also sees anything routing might miss) records it.
    await context.route('**/*', (route) => (isAllowed(route.request().url()) ? route.continue() : route.abort('blockedbyclient')));
    context.on('request', (req) => {
      if (!isAllowed(req.url())) foreign.push(`${req.method()} ${req.url()} (${req.resourceType()})`);
    });
    await context.routeWebSocket(/.*/, (ws) => {
      if (isAllowed(ws.url().replace(/^ws/, 'http'))) return ws.connectToServer();
      foreign.push(`WEBSOCKET ${ws.url()}`);
      return ws.close();
    });
    context.on('response', (res) => {
      if (res.status() >= 400 && isAllowed(res.url())) sameOriginErrors.push(`${res.request().method()} ${res.url()} -> ${res.status()}`);
    });

    const page = await context.newPage();
    lastPage = page;
    page.on('pageerror', (e) => pageErrors.push(firstLine(e)));
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('popup', (p) => foreign.push(`POPUP ${p.url()}`));

    // -- load
    const docsUrl = new URL('docs/', browseBase).href;
    const resp = await step(`open ${docsUrl}`, () => page.goto(docsUrl, { waitUntil: 'load' }));
    must(`GET /docs/ is 200`, resp && resp.status() === 200, `got ${resp && resp.status()}`);

    // -- Swagger UI rendered the document (not an error box)
    const ui = page.locator('#swagger-ui .swagger-ui');
    await step('Swagger UI renders the API', async () => {
      await Promise.race([
        page.locator('.swagger-ui .opblock-tag-section').first().waitFor({ state: 'visible' }),
        page.locator('.swagger-ui .errors-wrapper, .swagger-ui .loading-container .errors').first().waitFor({ state: 'visible' })
          .then(async () => { throw new Error(`Swagger UI shows an error: ${(await page.locator('.swagger-ui .errors-wrapper, .swagger-ui .loading-container').first().innerText()).replace(/\s+/g, ' ').slice(0, 300)}`); }),
      ]);
    });
    if (title) {
      const shown = (await ui.locator('.information-container .title').first().innerText().catch(() => '')).trim();
      check(`page shows the API title "${title}"`, shown.startsWith(title), `title shown: ${JSON.stringify(shown)}`);
    }

    // -- every tag is a visible section heading
    const shownTags = await ui.locator('h3.opblock-tag').evaluateAll((hs) => hs.map((h) => h.getAttribute('data-tag')));
    for (const tag of tags) {
      const heading = ui.locator(`h3.opblock-tag[data-tag=${JSON.stringify(tag)}]`);
      const n = await heading.count();
      if (!check(`tag "${tag}" is on the page`, n === 1, n === 0 ? `no section; sections shown: ${shownTags.join(', ')}` : `${n} sections`)) continue;
      const visible = await heading.isVisible();
      const text = visible ? (await heading.innerText()).trim() : '';
      check(`tag "${tag}" is visible`, visible && text.split('\n')[0].trim() === tag, visible ? `heading reads ${JSON.stringify(text.split('\n')[0])}` : 'heading hidden');
    }

    // -- GET /v1/stories: expand, Try it out, Execute
    const label = `${TARGET.method.toUpperCase()} ${TARGET.path}`;
    const section = ui.locator('.opblock-tag-section').filter({ has: page.locator(`h3.opblock-tag[data-tag=${JSON.stringify(opTag)}]`) });
    const opblock = section.locator(`.opblock.opblock-${TARGET.method}`).filter({ has: page.locator(`.opblock-summary-path[data-path=${JSON.stringify(TARGET.path)}]`) });
    must(`${label} is listed under "${opTag}"`, (await opblock.count()) === 1, `found ${await opblock.count()} matching operations`);

    await step(`expand ${label}`, async () => {
      await opblock.locator('.opblock-summary').first().click();
      await opblock.locator('.opblock-body').waitFor({ state: 'visible' });
    });
    await step('click "Try it out"', async () => {
      await opblock.getByRole('button', { name: 'Try it out' }).click();
      await opblock.getByRole('button', { name: 'Execute' }).waitFor({ state: 'visible' });
    });

    const isTarget = (req) => req.method() === TARGET.method.toUpperCase() && new URL(req.url()).pathname === TARGET.path;
    const [apiResponse] = await step('click "Execute"', () => Promise.all([
      Promise.race([
        page.waitForResponse((r) => isTarget(r.request())),
        page.waitForEvent('requestfailed', isTarget).then((req) => {
          throw new Error(`the request to ${req.url()} failed: ${req.failure() && req.failure().errorText}`);
        }),
      ]),
      opblock.getByRole('button', { name: 'Execute' }).click(),
    ]));
    check(`the browser's ${label} went to the server under test`, new URL(apiResponse.url()).origin === allowedOrigin, apiResponse.url());
    check(`server answered ${label} with 200`, apiResponse.status() === 200, `got ${apiResponse.status()}: ${(await apiResponse.text().catch(() => '')).slice(0, 300)}`);

    const live = opblock.locator('.responses-wrapper table.live-responses-table');
    const statusCell = live.locator('tbody .response-col_status').first();
    await step('the page shows the server response', () => statusCell.waitFor({ state: 'visible' }));
    const shownStatus = (await statusCell.innerText()).trim();
    check('the page shows status 200', shownStatus === '200', `page shows ${JSON.stringify(shownStatus)}${shownStatus === 'Undocumented' ? ' (Swagger UI says "Failed to fetch" - CORS, CSP or network)' : ''}`);
    const body = (await live.locator('.response-col_description pre, .response-col_description .microlight').first().innerText().catch(() => '')).trim();
    check('the page shows the JSON response body', body.startsWith('{') && body.includes('"data"'), `body shown: ${JSON.stringify(body.slice(0, 200))}`);

    // Swagger UI reports unresolvable $refs and similar spec problems in an
    // "Errors" box; some only appear once an operation is expanded.
    const errorsBox = ui.locator('.errors-wrapper');
    const errorsText = (await errorsBox.count()) ? (await errorsBox.first().innerText()).replace(/\s+/g, ' ').replace(/^Errors Hide /, '').trim() : '';
    check('Swagger UI shows no errors', !errorsText, errorsText.slice(0, 500));

    // -- screenshot (before the offline verdicts; a run that aborts earlier
    // still gets one, from the finally block below)
    await takeScreenshot(page, true);

    await page.waitForTimeout(250); // let trailing requests (favicons, images) show up
  } catch (e) {
    aborted = e;
  }
  try {
    // -- the page stayed offline and clean (also after an abort: a blocked
    // request is often the reason a step timed out)
    check('no request to any host but the server under test', foreign.length === 0, `blocked: ${foreign.join('; ')}`);
    check('no same-origin request failed', sameOriginErrors.length === 0, sameOriginErrors.join('; '));
    check('no uncaught script errors', pageErrors.length === 0, pageErrors.join('; '));
    if (consoleErrors.length) console.log(`note: console errors in the page:\n${consoleErrors.map((e) => `  ${e.replace(/\s+/g, ' ').slice(0, 300)}`).join('\n')}`);
    if (aborted) throw aborted;
  } finally {
    if (!shotTaken && lastPage) await takeScreenshot(lastPage, false).catch(() => {});
    await browser.close().catch(() => {});
  }
}

runMain(main, OVERALL_TIMEOUT);
