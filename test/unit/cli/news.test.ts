import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pickFreePorts } from '../../../src/cli/spawn.js';
import { runCli, startCli } from './helpers.js';

describe('horus news: usage', { concurrency: true }, () => {
  it('each command has --help', async () => {
    for (const cmd of ['serve', 'pub', 'sub']) {
      const r = await runCli(['news', cmd, '--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`Usage: horus news ${cmd}`));
    }
  });

  it('bad arguments are usage errors (exit 2)', async () => {
    const cases: [string[], RegExp][] = [
      [['news', 'pub', 'orders.eu', 'x'], /required option '--connect/],
      [['news', 'pub', 'a..b', 'x', '--connect', '127.0.0.1:1'], /empty token/],
      [['news', 'pub', 'orders.*', 'x', '--connect', '127.0.0.1:1'], /wildcard/],
      [['news', 'pub', 'a', '{', '--json', '--connect', '127.0.0.1:1'], /must be JSON/],
      [['news', 'sub', 'a.>.b', '--connect', '127.0.0.1:1'], /may only be the last token/],
      [['news', 'sub', 'a', '--back', '-1', '--connect', '127.0.0.1:1'], /expected an integer/],
      [['news', 'sub', 'a', '--connect', 'nowhere'], /HOST:PORT/],
      [['news', 'serve'], /required option '--listen/],
      [['news', 'serve', '--listen', '127.0.0.1:1', '--admin', '10.0.0.1:7070'], /loopback/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re, args.join(' '));
    }
  });
});

describe('horus news: serve, pub and sub', () => {
  it('a subscriber started late gets the back issues, then a live posting, as JSON lines', { timeout: 180_000 }, async () => {
    const [port] = await pickFreePorts(1);
    const member = startCli(['news', 'serve', '--listen', `127.0.0.1:${port}`]);
    try {
      await member.waitFor(/horus news member \S+ listening/, 90_000);
      const at = ['--connect', `127.0.0.1:${port}`];
      for (const m of ['one', 'two', 'three']) {
        const r = await runCli(['news', 'pub', 'orders.eu', m, ...at], { timeoutMs: 90_000 });
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /"subject":"orders.eu"/);
      }
      const sub = startCli(['news', 'sub', 'orders.*', '--back', '2', ...at]);
      await sub.waitFor(/"payload":"three"/, 90_000);
      const r = await runCli(['news', 'pub', 'orders.us', '{"n":4}', '--json', ...at], { timeoutMs: 90_000 });
      assert.equal(r.code, 0, r.stderr);
      await sub.waitFor(/"n":4/, 30_000);
      const done = await sub.stop('SIGINT');
      const lines = done.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { subject: string; seq: number; pos: number });
      assert.deepEqual(
        lines.map((p) => [p.subject, p.seq, p.pos]),
        [
          ['orders.eu', 2, 2],
          ['orders.eu', 3, 3],
          ['orders.us', 1, 4],
        ],
      );
      assert.equal(done.code, 0);
    } finally {
      await member.stop('SIGINT');
    }
  });
});
