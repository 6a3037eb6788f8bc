import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { browserSkipReason, CHROMIUM_PATH, ensureChromium, INSTALL_COMMAND, type EnsureChromiumOptions } from '../../../scripts/chromium.mjs';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const run = promisify(execFile);

/** ensureChromium with every effect recorded; the browser appears once apt-get installs it. */
function fake(opts: { present?: boolean; isRoot: boolean; apt: boolean; aptFails?: boolean; env?: NodeJS.ProcessEnv }) {
  let installed = opts.present ?? false;
  const commands: string[] = [];
  const lines: string[] = [];
  const o: EnsureChromiumOptions = {
    path: '/opt/test/chromium',
    env: opts.env ?? {},
    exists: () => installed,
    isRoot: opts.isRoot,
    hasAptGet: () => opts.apt,
    run: (cmd, args, extraEnv) => {
      commands.push([cmd, ...args].join(' ') + (extraEnv.DEBIAN_FRONTEND ? ` (DEBIAN_FRONTEND=${extraEnv.DEBIAN_FRONTEND})` : ''));
      if (opts.aptFails) throw new Error('E: Unable to locate package chromium');
      if (args.includes('install')) installed = true;
    },
    log: (l) => lines.push(l),
  };
  return { result: ensureChromium(o), commands, lines };
}

describe('npm test: the pretest step gets the browser test its Chromium', () => {
  it('does nothing when chromium is there', () => {
    const r = fake({ present: true, isRoot: true, apt: true });
    assert.equal(r.result, 'present');
    assert.deepEqual(r.commands, []);
    assert.deepEqual(r.lines, []);
  });

  it('installs it with apt-get, non-interactively, when it runs as root with apt-get', () => {
    const r = fake({ isRoot: true, apt: true });
    assert.equal(r.result, 'installed');
    assert.deepEqual(r.commands, ['apt-get update -qq', 'apt-get install -y -qq chromium (DEBIAN_FRONTEND=noninteractive)']);
    assert.match(r.lines.join('\n'), /installing Debian's chromium/);
  });

  it('says exactly what to run when it cannot install (not root, no apt-get, apt-get failing, or turned off)', () => {
    for (const c of [
      { isRoot: false, apt: true },
      { isRoot: true, apt: false },
      { isRoot: true, apt: true, aptFails: true },
      { isRoot: true, apt: true, env: { HORUS_NO_BROWSER_INSTALL: '1' } },
    ]) {
      const r = fake(c);
      assert.equal(r.result, 'missing', JSON.stringify(c));
      assert.ok(r.lines.at(-1)!.includes(INSTALL_COMMAND), r.lines.join('\n'));
      assert.match(r.lines.at(-1)!, /dashboard browser test is skipped/);
      if (!c.isRoot || !c.apt || c.env) assert.deepEqual(r.commands, [], 'no apt-get without root and apt-get, or when turned off');
    }
  });

  it('lets the browser test skip with that message, except under HORUS_REQUIRE_BROWSER=1 (CI)', () => {
    const reason = browserSkipReason({}, '/nonexistent/chromium');
    assert.ok(reason?.includes(INSTALL_COMMAND), String(reason));
    assert.equal(browserSkipReason({ HORUS_REQUIRE_BROWSER: '1' }, '/nonexistent/chromium'), null);
    assert.equal(browserSkipReason({}, process.execPath), null, 'a browser that is there is used');
    assert.equal(CHROMIUM_PATH, '/usr/bin/chromium');
  });

  it('is wired as npm pretest, and .ci/run requires the browser test instead of installing on its own', async () => {
    const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts.pretest, 'node scripts/pretest.mjs');
    const ci = readFileSync(`${ROOT}.ci/run`, 'utf8');
    assert.match(ci, /^export HORUS_REQUIRE_BROWSER=1$/m);
    assert.doesNotMatch(ci, /apt-get install/);
    // Run for real with HORUS_NO_BROWSER_INSTALL=1: it never fails npm test, whatever this machine has.
    const { stdout } = await run(process.execPath, ['scripts/pretest.mjs'], { cwd: ROOT, env: { ...process.env, HORUS_NO_BROWSER_INSTALL: '1' } });
    assert.ok(stdout === '' || stdout.includes(INSTALL_COMMAND), stdout);
  });
});
