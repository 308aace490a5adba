// The reader front-end, end to end, in headless Chromium against a live API:
//
//   node test.mjs BASE_URL EDITOR_EMAIL PASSWORD SCREENSHOT_PATH   (see run.sh)
//
// Seeds two published stories and a "read next" list through the API (with
// openapi-fetch, as an editor), serves dist/ (built by build.sh for
// BASE_URL) from another origin, http://127.0.0.1:READER_PORT, with Node's
// own http module, and reads and rates the story as a reader would: the
// text on screen byte for byte, a vote, a reload, a second vote that
// replaces the first, "Read next", and the story list with "More stories".
// The browser reaches nothing but the two origins. One line per check; the
// last line is `reader: N passed, M failed`; exits non-zero on any failure.
//
// Environment (optional):
//   READER_PORT        port of the front-end's origin (default 18390); the
//                      API must list http://127.0.0.1:READER_PORT in
//                      CORS_ALLOWED_ORIGINS, or votes are refused
//   CHROMIUM_PATH      browser binary (default /usr/bin/chromium)
//   READER_TIMEOUT_MS  per-step timeout (default 20000)

import { checks, firstLine } from '../../clients/browser/checks.mjs';
import createClient from 'openapi-fetch';
import { chromium } from 'playwright-core';
import { createServer } from 'node:http';
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const STEP_TIMEOUT = Number(process.env.READER_TIMEOUT_MS || 20000);
const OVERALL_TIMEOUT = STEP_TIMEOUT * 15;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const PORT = Number(process.env.READER_PORT || 18390);
const DIST = path.join(path.dirname(fileURLToPath(import.meta.url)), 'dist');

const [baseArg, email, password, shotArg] = process.argv.slice(2);
if (!baseArg || !email || !password || !shotArg || process.argv.length > 6) {
  console.error('usage: node test.mjs BASE_URL EDITOR_EMAIL PASSWORD SCREENSHOT_PATH');
  process.exit(2);
}
const apiBase = baseArg.replace(/\/+$/, '');
const apiOrigin = new URL(apiBase).origin;
const front = `http://127.0.0.1:${PORT}`;
const foreignFront = `http://localhost:${PORT}`; // same files, an origin the API does not list
const shotPath = path.resolve(shotArg);

// ---- bookkeeping -----------------------------------------------------------

const { check, must, step, runMain } = checks('reader');
const show = (v) => JSON.stringify(v);

// ---- 1. seed through the API ----------------------------------------------

const run = crypto.randomUUID().slice(0, 8);
const first = {
  title: 'Mum’s moving in',
  subtitle: 'Three generations, one kitchen — and a lot of tea',
  author: { name: 'Ruth Ellis' },
  body:
    'When my mother turned eighty-four, we said the words we’d avoided for years: “Come and live with us.” — and she did.\n\n' +
    'She brought the good teapot, a cutting of the rhododendron and forty years of opinions about how a kitchen should be run — most of them, it turns out, correct.\n\n' +
    '“You’ve moved the colander,” she said on the first morning. Nobody had.',
  tags: ['family', `reader-${run}`],
};
const sentence = 'When my mother turned eighty-four, we said the words we’d avoided for years: “Come and live with us.” — and she did.';
const second = {
  title: 'The granny annexe we never built',
  author: { name: 'Tom Okafor' },
  body: 'Plans were drawn, a builder was found — and then Dad said he’d rather have the box room.',
  tags: ['family', `reader-${run}`],
};
const external = { url: 'https://www.ageuk.org.uk/information-advice/', title: 'Age UK: advice on living with family' };

async function ok(promise, status, what) {
  const r = await promise;
  if (r.response.status !== status) {
    throw new Error(`${what}: expected HTTP ${status}, got ${r.response.status} ${show(r.error ?? r.data)}`);
  }
  return r.data;
}

async function seed() {
  const anonymous = createClient({ baseUrl: apiBase });
  const login = await ok(anonymous.POST('/v1/auth/token', { body: { email, password } }), 200, 'POST /v1/auth/token');
  const editor = createClient({ baseUrl: apiBase, headers: { Authorization: `Bearer ${login.access_token}` } });
  const publish = async (input) => {
    const draft = await ok(editor.POST('/v1/stories', { body: input }), 201, 'POST /v1/stories');
    return ok(editor.POST('/v1/stories/{id}/publish', { params: { path: { id: draft.id } } }), 200, 'publish');
  };
  const s1 = await publish(first);
  const s2 = await publish(second);
  await ok(
    editor.PUT('/v1/stories/{id}/related', { params: { path: { id: s1.id } }, body: [{ story_id: s2.id }, external] }),
    200,
    'PUT /v1/stories/{id}/related',
  );
  return { anonymous, s1, s2 };
}

// ---- 2. the front-end's own origin -----------------------------------------

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.map': 'application/json' };

function serveDist() {
  const server = createServer(async (req, res) => {
    const { pathname } = new URL(req.url, front);
    const file = path.join(DIST, path.normalize(pathname === '/' ? '/index.html' : decodeURIComponent(pathname)));
    try {
      if (!file.startsWith(DIST + path.sep) || (req.method !== 'GET' && req.method !== 'HEAD')) throw new Error('no');
      const body = await readFile(file);
      res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-cache' });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`cannot serve the front-end on ${front}: ${e.code || e.message}`)));
    server.listen(PORT, '127.0.0.1', () => resolve(server));
  });
}

// ---- 3. the browser --------------------------------------------------------

async function main() {
  await stat(path.join(DIST, 'index.html')).catch(() => must('dist/ is built', false, 'run build.sh first'));
  const { anonymous, s1, s2 } = await step('seed: two published stories, a story link and an external link', seed);
  console.log(`      story 1: ${s1.id} ${s1.slug}; story 2: ${s2.id} ${s2.slug}`);
  const server = await step(`serve dist/ on ${front}`, serveDist);

  const browser = await step(`launch ${CHROMIUM}`, () => chromium.launch({
    executablePath: CHROMIUM,
    timeout: STEP_TIMEOUT,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-proxy-server'],
  }));

  const allowed = new Set([front, foreignFront, apiOrigin]);
  const foreign = [];
  const pageErrors = [];
  const consoleErrors = [];
  const failedResponses = [];
  let expectRefusal = false; // set while the page runs from an origin the API does not list

  try {
    const context = await browser.newContext({ viewport: { width: 1024, height: 800 }, serviceWorkers: 'block' });
    context.setDefaultTimeout(STEP_TIMEOUT);
    const isAllowed = (u) => {
      try {
        return u.startsWith('data:') || allowed.has(new URL(u).origin);
      } catch {
        return false;
      }
    };
    await context.route('**/*', (route) => (isAllowed(route.request().url()) ? route.continue() : route.abort('blockedbyclient')));
    context.on('request', (req) => { if (!isAllowed(req.url())) foreign.push(`${req.method()} ${req.url()}`); });
    context.on('response', (res) => { if (res.status() >= 400 && !expectRefusal) failedResponses.push(`${res.request().method()} ${res.url()} -> ${res.status()}`); });

    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(firstLine(e)));
    page.on('console', (m) => { if (m.type() === 'error' && !expectRefusal) consoleErrors.push(m.text()); });
    page.on('popup', (p) => foreign.push(`POPUP ${p.url()}`));

    const text = async (selector) => (await page.locator(selector).first().innerText()).trim();
    const waitText = (selector, expected) => page.locator(selector).filter({ hasText: expected }).first().waitFor({ state: 'visible' })
      .catch(async () => { throw new Error(`${selector} reads ${show(await text(selector).catch(() => null))}, expected ${show(expected)}`); });
    const isRatingPut = (r) => r.request().method() === 'PUT' && r.url().startsWith(`${apiBase}/v1/stories/${s1.id}/ratings/`);
    const vote = (score) => Promise.all([
      Promise.race([
        page.waitForResponse(isRatingPut),
        page.waitForEvent('requestfailed', (req) => req.method() === 'PUT').then((req) => {
          throw new Error(`the browser's PUT failed (${req.failure()?.errorText}); is ${front} in the API's CORS_ALLOWED_ORIGINS?`);
        }),
      ]),
      page.locator(`.rating .star[data-score="${score}"]`).click(),
    ]).then(([r]) => r);

    // -- the story page
    const storyUrl = `${front}/?story=${encodeURIComponent(s1.slug)}`;
    await step(`open ${storyUrl}`, () => page.goto(storyUrl, { waitUntil: 'load' }));
    await step('the title is on screen', () => waitText('article h1', first.title));
    check('the title reads exactly “Mum’s moving in”', (await text('article h1')) === first.title, show(await text('article h1')));
    const body = await text('article .body');
    check('the body shows the first sentence exactly', body.includes(sentence), show(body.slice(0, 200)));
    for (const ch of ['’', '“', '”', '—']) {
      check(`the body shows ${ch} (U+${ch.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')})`, body.includes(ch));
    }
    check('the body is rendered HTML, not Markdown source', (await page.locator('article .body p').count()) === 3, `${await page.locator('article .body p').count()} paragraphs`);
    const byline = await text('article .byline');
    check('the byline names the author and the reading time', byline.includes('By Ruth Ellis') && byline.includes('1 min read'), show(byline));
    check('the subtitle is shown', (await text('article .subtitle')) === first.subtitle);
    check('the tab is titled after the story', (await page.title()) === first.title, show(await page.title()));

    // -- Rate article
    await step('the rating widget shows no ratings yet', () => waitText('.rating .summary', 'No ratings yet.'));
    check('it has five star buttons', (await page.locator('.rating button.star').count()) === 5);

    const r1 = await step('vote 4 stars', () => vote(4));
    check('the vote left the browser from the front-end origin', r1.request().headers().origin === front, show(r1.request().headers().origin));
    check('the API answered the first vote 201', r1.status() === 201, `got ${r1.status()}`);
    await step('the count reads 1 rating', () => waitText('.rating .count', '1 rating'));
    check('the average reads 4.0', (await text('.rating .average')) === '4.0', show(await text('.rating .average')));
    check('the distribution shows one vote of 4', (await text('.distribution li[data-score="4"] .votes')) === '1');
    check('star 4 is pressed', (await page.locator('.star[data-score="4"]').getAttribute('aria-pressed')) === 'true');
    const voter = await page.evaluate(() => localStorage.getItem('anthology.voter'));
    check('the voter id in localStorage is a UUID', /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(voter || ''), show(voter));
    check('the vote went out under that voter id', r1.url().endsWith(`/ratings/${voter}`), r1.url());

    await step('reload the page', () => page.reload({ waitUntil: 'load' }));
    await step('after the reload the count still reads 1 rating', () => waitText('.rating .count', '1 rating'));
    check('after the reload the average still reads 4.0', (await text('.rating .average')) === '4.0', show(await text('.rating .average')));
    check('after the reload the widget shows the reader’s own 4 stars', (await text('.rating .you')) === 'You rated it 4 stars.', show(await text('.rating .you')));
    check('after the reload the voter id is the same', (await page.evaluate(() => localStorage.getItem('anthology.voter'))) === voter);

    const r2 = await step('vote again, 2 stars', () => vote(2));
    check('the API answered the second vote 200 (replaced, not added)', r2.status() === 200, `got ${r2.status()}`);
    await step('the average reads 2.0', () => waitText('.rating .average', '2.0'));
    check('the count still reads 1 rating', (await text('.rating .count')) === '1 rating', show(await text('.rating .count')));
    check('the distribution moved the vote from 4 to 2',
      (await text('.distribution li[data-score="2"] .votes')) === '1' && (await text('.distribution li[data-score="4"] .votes')) === '0');
    check('the widget shows the reader’s own 2 stars', (await text('.rating .you')) === 'You rated it 2 stars.');
    const agg = await ok(anonymous.GET('/v1/stories/{id}/rating', { params: { path: { id: s1.id } } }), 200, 'GET rating');
    check('the API agrees: count 1, average 2', agg.count === 1 && agg.average === 2, show(agg));

    // -- Read next (checked before the screenshot, which should show it)
    await step('"Read next" lists the links', () => page.locator('.read-next li').first().waitFor({ state: 'visible' }));
    const items = await page.locator('.read-next li').evaluateAll((lis) => lis.map((li) => ({
      kind: li.className, title: li.querySelector('a').textContent, href: li.querySelector('a').getAttribute('href'),
      target: li.querySelector('a').getAttribute('target'), rel: li.querySelector('a').getAttribute('rel'),
    })));
    const [a, b, ...rest] = items;
    check('link 1 is story 2, opening in this front-end',
      a && a.kind === 'story' && a.title === s2.title && a.href === `?story=${encodeURIComponent(s2.slug)}`, show(a));
    check('link 2 is the external page, in a new tab without opener',
      b && b.kind === 'external' && b.title === external.title && b.href === external.url && b.target === '_blank' && /noopener/.test(b.rel || ''), show(b));
    check('suggestions (at most 3) come after the curated links',
      rest.length <= 3 && rest.every((l) => l.kind === 'suggested' && l.href.startsWith('?story=') && l.href !== `?story=${encodeURIComponent(s1.slug)}`), show(rest));

    await mkdir(path.dirname(shotPath), { recursive: true });
    await step(`screenshot of the story page to ${shotPath}`, async () => {
      await page.screenshot({ path: shotPath, fullPage: true, animations: 'disabled' });
      if ((await stat(shotPath)).size < 10_000) throw new Error('the screenshot is suspiciously small');
    });

    await step('follow "Read next" to story 2', () => Promise.all([
      page.waitForURL(`${front}/?story=${encodeURIComponent(s2.slug)}`),
      page.locator('.read-next li.story a').first().click(),
    ]));
    await step('story 2’s page shows its title', () => waitText('article h1', s2.title));

    // -- the list page, page by page
    await step(`open the list, one story a page (${front}/?limit=1)`, () => page.goto(`${front}/?limit=1`, { waitUntil: 'load' }));
    await step('the list shows a story', () => page.locator('.teaser').first().waitFor({ state: 'visible' }));
    check('the first page has 1 story', (await page.locator('.teaser').count()) === 1, `${await page.locator('.teaser').count()}`);
    check('a "More stories" button follows it', await page.locator('button.more').isVisible());
    const hrefs = () => page.locator('.teaser h2 a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    const want = [s1, s2].map((s) => `?story=${encodeURIComponent(s.slug)}`);
    let clicks = 0;
    for (let seen = await hrefs(); !want.every((w) => seen.includes(w)) && clicks < 10; seen = await hrefs()) {
      if (!(await page.locator('button.more').isVisible())) break;
      await page.locator('button.more').click();
      await page.waitForFunction((n) => document.querySelectorAll('.teaser').length > n, seen.length);
      clicks++;
    }
    const listed = await hrefs();
    check('"More stories" follows the cursor: no story twice', new Set(listed).size === listed.length, show(listed));
    check(`both new stories are listed (after ${clicks} click${clicks === 1 ? '' : 's'} on "More stories")`,
      want.every((w) => listed.includes(w)), show(listed.slice(0, 12)));
    const teaser = page.locator('.teaser').filter({ has: page.locator(`a[href="${want[0]}"]`) });
    check('story 1’s teaser shows its excerpt', (await teaser.locator('.excerpt').innerText()).startsWith(sentence));
    await step('a title in the list opens its story', async () => {
      await teaser.locator('h2 a').click();
      await waitText('article h1', first.title);
    });

    // -- an origin the API does not list may read, but its votes are refused
    expectRefusal = true;
    await step(`open the story from ${foreignFront} (not in CORS_ALLOWED_ORIGINS)`, async () => {
      await page.goto(`${foreignFront}/?story=${encodeURIComponent(s1.slug)}`, { waitUntil: 'load' });
      await waitText('.rating .count', '1 rating');
    });
    await page.locator('.rating .star[data-score="5"]').click();
    await step('the browser refuses its vote and the widget says so', () => waitText('.rating .status.error', 'could not be sent'));
    const after = await ok(anonymous.GET('/v1/stories/{id}/rating', { params: { path: { id: s1.id } } }), 200, 'GET rating');
    check('the refused vote changed nothing', after.count === 1 && after.average === 2, show(after));
  } finally {
    check('no request to any other host', foreign.length === 0, foreign.join('; '));
    check('no request failed', failedResponses.length === 0, failedResponses.join('; '));
    check('no uncaught script errors', pageErrors.length === 0, pageErrors.join('; '));
    check('no console errors', consoleErrors.length === 0, consoleErrors.join('; '));
    await browser.close().catch(() => {});
    server.close();
  }
}

runMain(main, OVERALL_TIMEOUT);
