// The bookkeeping every browser check script shares: named checks, checks
// whose failure aborts the run, steps whose throw is a failed check, an
// overall time limit, and the summary line `LABEL: N passed, M failed`
// that the run scripts look for. Standard library only, so scripts with
// their own node_modules (examples/reader) import it by path.

/** Thrown by a failed `must` or `step`: the rest of the run is meaningless. */
export class Abort extends Error {}

/** The first line or two of an error, for a one-line verdict. */
export function firstLine(e) {
  const s = String(e && e.message ? e.message : e);
  return s.split('\n').filter(Boolean).slice(0, 2).join(' | ');
}

/** Checks reported under `label`. */
export function checks(label) {
  let passed = 0;
  let failed = 0;
  const failures = [];

  function check(name, ok, detail = '') {
    if (ok) {
      passed++;
      console.log(`ok    ${name}`);
    } else {
      failed++;
      const msg = detail ? `${name}: ${detail}` : name;
      failures.push(msg);
      console.log(`FAIL  ${msg}`);
    }
    return ok;
  }

  function must(name, ok, detail) {
    if (!check(name, ok, detail)) throw new Abort(name);
  }

  /** Runs `fn`; a throw (a Playwright timeout, say) is a failed, aborting check. */
  async function step(name, fn) {
    try {
      const result = await fn();
      check(name, true);
      return result;
    } catch (e) {
      if (e instanceof Abort) throw e;
      check(name, false, firstLine(e));
      throw new Abort(name);
    }
  }

  function finish(code) {
    if (failures.length) {
      console.log(`\n${failures.length} failure(s):`);
      for (const f of failures) console.log(`  - ${f}`);
    }
    console.log(`${label}: ${passed} passed, ${failed} failed`);
    process.exit(code || failed ? 1 : 0);
  }

  /** Runs `main` within `limitMs`, then reports and exits: non-zero on any failure. */
  function runMain(main, limitMs) {
    const overall = setTimeout(() => {
      check(`finishes within ${limitMs / 1000}s`, false, 'timed out');
      finish(1);
    }, limitMs);
    overall.unref();
    main().then(
      () => finish(0),
      (e) => {
        if (!(e instanceof Abort)) check('unexpected error', false, e && e.stack ? e.stack : String(e));
        finish(1);
      },
    );
  }

  return { check, must, step, runMain };
}
