/**
 * The dashboard's Services panel in a real browser (Debian's Chromium, as dashboard.test.ts): an
 * in-process node runs the jobs service and the monitor with its admin endpoint; the page shows where
 * each job runs, a job given up after its policy as failed, and the monitor's rules and firings. Saves test-results/dashboard-services.png.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { createNode } from '../../src/api/create-node.js';
import type { HorusNode } from '../../src/api/node.js';
import { AdminServer } from '../../src/dashboard/admin-server.js';
import { NodeObserver } from '../../src/obs/node-observer.js';
import { pinoLogger } from '../../src/obs/pino-logger.js';
import { JobsService } from '../../src/services/jobs/jobs-service.js';
import { MonitorService } from '../../src/services/monitor/monitor-service.js';
import { browserSkipReason, CHROMIUM_PATH } from '../../scripts/chromium.mjs';

const UI_TIMEOUT = 15_000;
const RESULTS = fileURLToPath(new URL('../../test-results/', import.meta.url));

describe('dashboard Services panel (browser)', { skip: browserSkipReason() ?? false }, () => {
  let node: HorusNode | null = null;
  let svc: JobsService | null = null;
  let mon: MonitorService | null = null;
  let admin: AdminServer | null = null;
  let observer: NodeObserver | null = null;
  let context: BrowserContext | null = null;
  let profile = '';

  before(async () => {
    observer = new NodeObserver();
    node = await createNode({ listen: '127.0.0.1:0', logger: pinoLogger({ level: 'silent' }), recorder: observer.recorder });
    observer.attach(node);
    svc = await JobsService.join(node, 'jobs', {
      resources: { labels: ['worker'], cpus: 2 },
      handlers: {
        serve: ({ signal }) => new Promise((resolve) => signal.addEventListener('abort', () => resolve(0))),
        crash: () => Promise.reject(new Error('boom')),
      },
    });
    mon = await MonitorService.join(node, 'monitor', { rules: ['when last(members) < 2 then log'] });
    admin = await AdminServer.start({ node, observer, listen: '127.0.0.1:0' });
    profile = mkdtempSync(join(tmpdir(), 'horus-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
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
    await admin?.close();
    await svc?.close();
    await mon?.close();
    observer?.detach();
    await node?.close();
  });

  it('shows where each job runs, and a job given up as failed', async () => {
    const ok = await svc!.submit({ run: { kind: 'handler', handler: 'serve', args: null }, name: 'web' });
    const bad = await svc!.submit({ run: { kind: 'handler', handler: 'crash', args: null }, restart: 'always', giveUp: { maxFailures: 2, windowMs: 30_000 } });
    const page = context!.pages()[0] ?? (await context!.newPage());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(admin!.url);
    const row = page.locator(`#services .job[data-job="${ok.id}"]`);
    await page.locator(`#services .job[data-job="${ok.id}"][data-state="running"]`).waitFor({ timeout: UI_TIMEOUT });
    assert.match((await row.textContent()) ?? '', new RegExp(node!.endpoint.replace(/\./g, '\\.')));
    await page.locator(`#services .job[data-job="${bad.id}"][data-state="failed"]`).waitFor({ timeout: UI_TIMEOUT });
    assert.match((await page.locator(`#services .job[data-job="${bad.id}"]`).textContent()) ?? '', /gave up: 2 failures/);
    assert.equal(await page.locator('#services-section').isVisible(), true);
    // The monitor's view: its rule, and the firing with its outcome.
    await page.locator('#services .service[data-kind="monitor"] .firing[data-ok="true"]').waitFor({ timeout: UI_TIMEOUT });
    assert.match((await page.locator('#services .service[data-kind="monitor"] .rule').textContent()) ?? '', /when last\(members\) < 2 then log/);
    assert.deepEqual(errors, []);
    mkdirSync(RESULTS, { recursive: true });
    await page.locator('#services-section').screenshot({ path: join(RESULTS, 'dashboard-services.png') });
  });
});
