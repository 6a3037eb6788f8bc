// The News service on three member processes. This process is outside the group: it subscribes to
// `prices.>` with two back issues per subject, and publishes 150 postings to three subjects while
// the member it talks to is killed with SIGKILL. The subscription fails over to another member and
// resumes after the last position it saw: every posting arrives once, in the order of the log.
// Run: npx tsx examples/news/run.ts
import { fileURLToPath } from 'node:url';
import { createNode, NewsClient, NewsService, type Posting } from '../../src/index.js';
import { startMembers, stopAll } from '../shared/members.js';

if (process.argv[2] === 'member') {
  const [endpoint, ...seeds] = process.argv.slice(3);
  const node = await createNode({ listen: endpoint!, seeds });
  const news = await NewsService.join(node);
  console.log(`ready ${news.group.localId}`);
} else {
  const members = await startMembers(fileURLToPath(import.meta.url), 3);
  const node = await createNode({ listen: '127.0.0.1:0', seeds: members.map((m) => m.endpoint) });
  const news = await NewsClient.connect(node, { attemptTimeoutMs: 1000 });
  // Back issues first: three postings before anyone subscribes.
  for (const s of ['eur', 'usd', 'eur']) await news.publish(`prices.${s}`, 'before');
  const got: Posting[] = [];
  let start = -1;
  const sub = news.subscribe('prices.>', (p) => got.push(p), { back: 2, onStart: (pos) => (start = pos) });
  while (start < 0) await new Promise((r) => setTimeout(r, 20));
  const published: number[] = [];
  for (let i = 0; i < 150; i++) {
    if (i === 50) {
      const victim = members.find((m) => m.id === news.client.target)!;
      console.log(`kill -9 ${victim.id}, the member the client talks to`);
      victim.kill();
    }
    const r = await news.publish(['prices.eur', 'prices.usd', 'prices.gbp'][i % 3]!, i);
    published.push(r.pos);
  }
  const last = published[published.length - 1]!;
  const deadline = Date.now() + 15_000;
  while (sub.position < last && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const positions = got.map((p) => p.pos);
  const expected = [1, 2, 3, ...published];
  const once = JSON.stringify(positions) === JSON.stringify(expected);
  const perSubject = ['prices.eur', 'prices.usd', 'prices.gbp'].every((s) => {
    const seqs = got.filter((p) => p.subject === s && p.pos > start).map((p) => p.seq);
    return seqs.every((q, i) => i === 0 || q === seqs[i - 1]! + 1);
  });
  console.log(`${got.length} postings received (3 back issues, then 150 live), each once and in order: ${once && perSubject}`);
  if (!once) console.log(`received ${positions.join(',')}\nexpected ${expected.join(',')}`);
  news.close();
  await node.close();
  stopAll(members);
  process.exit(once && perSubject ? 0 : 1);
}
