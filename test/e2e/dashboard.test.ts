/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core (installed by .ci/run).
 * Starts `horus demo` with 3 members, kills one through the page, restarts it, and saves a screenshot
 * to test-results/.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { isAlive, startCli, tempDir, type Spawned } from '../unit/cli/helpers.js';
import { browserSkipReason, CHROMIUM_PATH } from '../../scripts/chromium.mjs';

const CHROMIUM = CHROMIUM_PATH;
const RESULTS = fileURLToPath(new URL('../../test-results/', import.meta.url));
/** Long enough for a loaded CI machine; the page itself updates within a second. */
const UI_TIMEOUT = 10_000;

const member = (page: Page, name: string) => page.locator(`.member[data-member="${name}"]`);

async function waitState(page: Page, name: string, state: string): Promise<void> {
  await page.locator(`.member[data-member="${name}"][data-state="${state}"]`).waitFor({ timeout: UI_TIMEOUT });
}

/** The view `name` reports, as the page shows it: waits until it has `size` members. */
async function waitViewSize(page: Page, name: string, size: number): Promise<void> {
  await member(page, name).locator(`.view[data-view-size="${size}"]`).waitFor({ timeout: UI_TIMEOUT });
}

/** Waits until the replica table shows `value` for `key` at member `name`. */
async function waitKv(page: Page, name: string, key: string, value: string): Promise<void> {
  await page.waitForFunction(
    ([n, k, v]) => document.querySelector(`#kv-table td[data-member="${n}"][data-key="${k}"]`)?.textContent === v,
    [name, key, value] as const,
    { timeout: UI_TIMEOUT },
  );
}

async function putThroughPage(page: Page, key: string, value: string): Promise<void> {
  await page.locator('#kv-key').fill(key);
  await page.locator('#kv-value').fill(value);
  await page.evaluate(() => delete document.querySelector<HTMLElement>('#kv-result')!.dataset.result);
  await page.locator('#kv-form button[data-op="put"]').click();
  await page.locator('#kv-result[data-result="ok"]').waitFor({ timeout: UI_TIMEOUT });
}

async function runningCount(page: Page): Promise<number> {
  return page.locator('.member[data-state="running"]').count();
}

// Without Debian's chromium (npm test's pretest installs it when it can) the suite skips, saying what to run; never in CI.
describe('dashboard (browser)', { skip: browserSkipReason() ?? false }, () => {
  let demo: Spawned | null = null;
  let context: BrowserContext | null = null;
  let profile = '';
  let url = '';
  let cwd = '';
  const pids = new Set<number>();
  const pageErrors: string[] = [];

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium); .ci/run does`);
    cwd = tempDir();
    demo = startCli(['demo', '--nodes', '3', '--port', '0', '--load', '2'], { cwd });
    url = (await demo.waitFor(/^dashboard: (http:\/\/127\.0\.0\.1:\d+\/)$/m, 60_000))[1]!;
    for (const m of demo.stdout().matchAll(/^ {2}m\d {2}\S+ {2}pid (\d+)/gm)) pids.add(Number(m[1]));
    profile = mkdtempSync(join(tmpdir(), 'horus-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 1000 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  after(async () => {
    await context?.close().catch(() => {});
    if (profile) rmSync(profile, { recursive: true, force: true });
    if (demo) {
      // Ctrl-C: every member stops, and the demo's state file goes away.
      const r = await demo.stop('SIGINT');
      assert.equal(r.code, 0, `demo exit: ${r.code ?? r.signal}\n${r.stderr}`);
      assert.match(r.stdout, /all members stopped\n$/);
      assert.equal(existsSync(join(cwd, '.horus', 'demo.json')), false);
    }
    for (const pid of pids) assert.equal(isAlive(pid), false, `member pid ${pid} outlived the demo`);
  });

  it('shows 3 members, kills one through the page, restarts it, and keeps the data', async () => {
    const page = context!.pages()[0] ?? (await context!.newPage());
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(url);
    assert.equal(await page.title(), 'Horus dashboard');

    // Three running members, each in a view of 3.
    for (const m of ['m1', 'm2', 'm3']) {
      await waitState(page, m, 'running');
      await waitViewSize(page, m, 3);
    }
    assert.equal(await runningCount(page), 3);
    // The background load shows up as arrows in the space-time diagram, and views in the timeline.
    await page.locator('#diagram line.arrow').first().waitFor({ state: 'attached', timeout: UI_TIMEOUT });
    await page.locator('#timeline line.viewmark').first().waitFor({ state: 'attached', timeout: UI_TIMEOUT });

    // Write through the page; every replica shows it.
    await putThroughPage(page, 'color', 'blue');
    for (const m of ['m1', 'm2', 'm3']) await waitKv(page, m, 'color', 'blue');

    // Kill m2 with its button.
    await member(page, 'm2').locator('button[data-action="kill"]').click();
    await waitState(page, 'm2', 'killed');
    assert.equal(await member(page, 'm2').locator('.view').textContent(), 'down');
    assert.equal(await runningCount(page), 2);
    for (const m of ['m1', 'm3']) await waitState(page, m, 'running');
    for (const m of ['m1', 'm3']) await waitViewSize(page, m, 2);

    // The survivors still take writes.
    await putThroughPage(page, 'size', 'XL');
    for (const m of ['m1', 'm3']) await waitKv(page, m, 'size', 'XL');

    // Restart m2: a new incarnation on the same endpoint; 3 members again.
    const before = await member(page, 'm2').getAttribute('data-endpoint');
    await member(page, 'm2').locator('button[data-action="restart"]').click();
    // A restart forks and compiles a new member process: far slower than a UI update on a loaded machine.
    await page.locator(`.member[data-member="m2"][data-state="running"]`).waitFor({ timeout: 3 * UI_TIMEOUT });
    assert.equal(await member(page, 'm2').getAttribute('data-endpoint'), before);
    await page.waitForFunction(() => document.querySelectorAll('.member[data-state="running"]').length === 3, null, { timeout: UI_TIMEOUT });
    for (const m of ['m1', 'm2', 'm3']) await waitViewSize(page, m, 3);
    // The restarted member got the data by state transfer, including what was written while it was down.
    for (const m of ['m1', 'm2', 'm3']) {
      await waitKv(page, m, 'color', 'blue');
      await waitKv(page, m, 'size', 'XL');
    }
    for (const m of (await page.locator('.member').evaluateAll((els) => els.map((e) => e.querySelector('.endpoint')!.textContent ?? ''))).map(
      (t) => /pid (\d+)/.exec(t)?.[1],
    )) {
      if (m) pids.add(Number(m));
    }

    mkdirSync(RESULTS, { recursive: true });
    await page.screenshot({ path: join(RESULTS, 'dashboard.png'), fullPage: true });
    assert.deepEqual(pageErrors, [], 'the page threw');
  });
});
