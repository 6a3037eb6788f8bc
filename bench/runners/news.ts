// News postings/s per subscriber: three member processes run the News service; this process runs a
// publisher and `subscribers` subscribers, each a client node outside the group (`>`: every
// posting). The publisher posts `postings` postings round-robin over `subjects` subjects, 64
// publishes in flight; the time runs from the first publish to the moment every subscriber holds
// every posting. Each posting is checked: once per subscriber, in the order of the log.
// Run alone: npx tsx bench/runners/news.ts [--scale 0.1]
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pickFreePorts, scriptCommand } from '../../src/cli/spawn.js';
import { createNode, NewsClient, type HorusNode } from '../../src/index.js';
import type { NewsCase } from '../cases.js';
import type { NewsResult } from '../lib/results.js';
import { round } from '../lib/stats.js';
import { scaled, type RunContext } from './context.js';

const MEMBER = fileURLToPath(new URL('./news-member.ts', import.meta.url));
const GROUP = 'bench-news';
const IN_FLIGHT = 64;

function startMember(endpoint: string, seeds: string[], execArgv: readonly string[]): Promise<ChildProcess> {
  const { command, args } = scriptCommand(MEMBER, [endpoint, ...seeds]);
  const proc = spawn(command, [...execArgv, ...args], { stdio: ['ignore', 'pipe', process.env.HORUS_BENCH_DEBUG ? 'inherit' : 'ignore'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`news member ${endpoint} did not start within 60 s`)), 60_000);
    proc.once('exit', (code) => reject(new Error(`news member ${endpoint} exited (${code}) before it joined`)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      if (/^ready /.test(line)) {
        clearTimeout(timer);
        resolve(proc);
      }
    });
  });
}

export async function runNews(c: NewsCase, ctx: RunContext): Promise<NewsResult> {
  const postings = scaled(c.postings, ctx.scale, 100);
  const t0 = performance.now();
  const ports = await pickFreePorts(c.members);
  const endpoints = ports.map((p) => `127.0.0.1:${p}`);
  const procs: ChildProcess[] = [];
  const nodes: HorusNode[] = [];
  try {
    for (const [i, ep] of endpoints.entries()) procs.push(await startMember(ep, endpoints.slice(0, i), ctx.execArgv));
    const client = async (): Promise<NewsClient> => {
      const node = await createNode({ listen: '127.0.0.1:0', seeds: endpoints });
      nodes.push(node);
      return NewsClient.connect(node, { group: GROUP, attemptTimeoutMs: 5000, timeoutMs: 120_000 });
    };
    const publisher = await client();
    const received = Array.from({ length: c.subscribers }, () => ({ count: 0, last: 0, disorder: 0 }));
    const subs = [];
    for (const [i, r] of received.entries()) {
      let started = false;
      const sub = (await client()).subscribe(
        'bench.>',
        (p) => {
          r.count++;
          if (p.pos <= r.last) r.disorder++;
          r.last = p.pos;
        },
        { onStart: () => (started = true) },
      );
      while (!started) await new Promise((res) => setTimeout(res, 10));
      subs.push(sub);
      ctx.log(`news: subscriber ${i + 1} of ${c.subscribers} started`);
    }
    const subjects = Array.from({ length: c.subjects }, (_, i) => `bench.s${i}`);
    const payload = 'x'.repeat(c.size);
    const start = performance.now();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < postings) {
        const k = next++;
        await publisher.publish(subjects[k % subjects.length]!, payload);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const published = performance.now();
    const deadline = published + 120_000;
    while (received.some((r) => r.count < postings) && performance.now() < deadline) await new Promise((res) => setTimeout(res, 5));
    const end = performance.now();
    const secs = (end - start) / 1000;
    for (const s of subs) s.close();
    return {
      kind: 'news',
      id: c.id,
      op: c.op,
      members: c.members,
      subjects: c.subjects,
      subscribers: c.subscribers,
      size: c.size,
      postings,
      postingsPerSecPerSubscriber: Math.round(Math.min(...received.map((r) => r.count)) / secs),
      publishesPerSec: Math.round(postings / ((published - start) / 1000)),
      missing: received.reduce((a, r) => a + Math.max(0, postings - r.count), 0),
      violations: received.reduce((a, r) => a + r.disorder + Math.max(0, r.count - postings), 0),
      durationS: round((performance.now() - t0) / 1000, 1),
    };
  } finally {
    for (const n of nodes) await n.close().catch(() => {});
    for (const p of procs) p.kill('SIGKILL');
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--scale');
  const scale = i > 0 ? Number(process.argv[i + 1]) : 1;
  const ctx: RunContext = { scale, execArgv: [], loadRate: null, profile: null, log: (m) => process.stderr.write(`${m}\n`) };
  for (const subjects of [1, 1000]) {
    const c: NewsCase = { id: `news-${subjects}`, kind: 'news', op: 'publish', members: 3, subjects, subscribers: 2, size: 100, postings: 20_000 };
    console.log(JSON.stringify(await runNews(c, ctx)));
  }
  process.exit(0);
}
