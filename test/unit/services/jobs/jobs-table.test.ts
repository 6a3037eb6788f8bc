import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { JobTable } from '../../../../src/services/jobs/job-table.js';
import { chooseNode } from '../../../../src/services/jobs/placement.js';
import { parseJobSpec, parseResources } from '../../../../src/services/jobs/job-spec.js';
import { recordFailure } from '../../../../src/services/jobs/give-up.js';

const cmd = (needs: object = {}, restart?: string): unknown => ({ run: { kind: 'command', argv: ['sleep', '100'] }, needs, ...(restart ? { restart } : {}) });

function table(): JobTable {
  const t = new JobTable();
  t.viewChanged(1, ['a', 'b', 'c']);
  t.advertise('a', { labels: ['gpu', 'linux'], cpus: 4, memoryMb: 1000 });
  t.advertise('b', { labels: ['linux'], cpus: 8, memoryMb: 4000 });
  return t;
}

describe('jobs placement', () => {
  it('places a job only on a node with every label it needs and enough free CPU and memory, the freest first', () => {
    const t = table();
    assert.equal(t.submit(cmd({ labels: ['gpu'] }), 'x').node, 'a');
    assert.equal(t.submit(cmd({ labels: ['linux'] }), 'x').node, 'b', 'b has the most free CPU');
    const big = t.submit(cmd({ memoryMb: 3000 }), 'x');
    assert.equal(big.node, 'b');
    const none = t.submit(cmd({ labels: ['arm'] }), 'x');
    assert.equal(none.state, 'pending');
    assert.match(none.reason ?? '', /no live node matches/);
    const full = t.submit(cmd({ memoryMb: 1500 }), 'x');
    assert.equal(full.state, 'pending', 'b has 1000 MB left, a 1000 MB');
    assert.match(full.reason ?? '', /room/);
    // A node that joins with room takes the waiting job.
    t.viewChanged(2, ['a', 'b', 'c', 'd']);
    t.advertise('d', { labels: ['linux'], cpus: 1, memoryMb: 2000 });
    assert.equal(t.get(full.id)!.node, 'd');
  });

  it('places a handler job only on a node that registered the handler', () => {
    const r = (h: string[]): ReturnType<typeof parseResources> => parseResources({ labels: [], cpus: 1, memoryMb: 0, handlers: h });
    const spec = parseJobSpec({ run: { kind: 'handler', handler: 'crunch', args: { n: 1 } } });
    const free = { cpus: 0, memoryMb: 0 };
    assert.equal(chooseNode(spec, [{ member: 'a', resources: r([]), load: free }]), null);
    assert.equal(
      chooseNode(spec, [
        { member: 'a', resources: r([]), load: free },
        { member: 'b', resources: r(['crunch']), load: free },
      ]),
      'b',
    );
  });

  it('places again, with a newer fencing token, the jobs of a node that leaves the view; restart never fails instead', () => {
    const t = table();
    const j = t.submit(cmd({ labels: ['linux'] }), 'x');
    const once = t.submit(cmd({ labels: ['linux'] }, 'never'), 'x');
    assert.equal(j.node, 'b');
    assert.equal(once.node, 'b', 'b has the most free CPU still');
    const before = j.token!;
    t.viewChanged(2, ['a', 'c']);
    assert.equal(t.get(j.id)!.node, 'a');
    assert.ok(t.get(j.id)!.token!.placement > before.placement);
    assert.equal(t.get(j.id)!.token!.viewId, 2);
    assert.equal(t.get(j.id)!.restarts, 1);
    assert.equal(t.get(once.id)!.state, 'failed');
    assert.match(t.get(once.id)!.reason!, /its node b was lost/);
  });
});

describe('jobs fencing and give-up', () => {
  it('ignores an exit report from a stale placement or from a member that is not the holder', () => {
    const t = table();
    const j = t.submit(cmd({}, 'always'), 'x');
    const p = j.token!.placement;
    assert.equal(t.exited('a', j.id, p, 1, 1000), j.node === 'a' ? 'applied' : 'stale');
    const holder = t.get(j.id)!.node!;
    const now = t.get(j.id)!.token!.placement;
    const other = holder === 'a' ? 'b' : 'a';
    assert.equal(t.exited(other, j.id, now, 1, 1000), 'stale', 'not the holder');
    assert.equal(t.exited(holder, j.id, now - 1, 1, 1000), 'stale', 'an older placement');
    assert.equal(t.get(j.id)!.token!.placement, now, 'nothing changed');
  });

  it('gives a job up after 5 failures within 30 s, but not when they are spread out', () => {
    const t = table();
    const j = t.submit(cmd(), 'x');
    for (let k = 0; k < 4; k++) {
      const r = t.get(j.id)!;
      assert.equal(t.exited(r.node!, j.id, r.token!.placement, 3, 1000 + k * 1000), 'applied');
      assert.equal(t.get(j.id)!.state, 'running');
    }
    const r = t.get(j.id)!;
    t.exited(r.node!, j.id, r.token!.placement, 3, 5000);
    assert.equal(t.get(j.id)!.state, 'failed');
    assert.match(t.get(j.id)!.reason!, /gave up: 5 failures within 30 s/);
    assert.equal(t.get(j.id)!.node, null);

    let times: number[] = [];
    for (let k = 0; k < 20; k++) {
      const out = recordFailure(times, k * 10_000, { maxFailures: 5, windowMs: 30_000 });
      assert.equal(out.giveUp, false, `failure ${k}`);
      times = out.times;
    }
    assert.equal(times.length, 5);
  });

  it('follows the restart policy: on-failure ends on exit 0, never ends on any exit', () => {
    const t = table();
    const a = t.submit(cmd({}, 'on-failure'), 'x');
    const b = t.submit(cmd({}, 'never'), 'x');
    t.exited(a.node!, a.id, a.token!.placement, 0, 1);
    t.exited(b.node!, b.id, b.token!.placement, 2, 1);
    assert.equal(t.get(a.id)!.state, 'done');
    assert.equal(t.get(b.id)!.state, 'failed');
    assert.equal(t.get(b.id)!.lastExit, 2);
    assert.equal(t.cancel(a.id).state, 'done', 'cancelling a finished job changes nothing');
  });

  it('round-trips through a snapshot', () => {
    const t = table();
    t.submit(cmd({ labels: ['gpu'] }), 'x');
    t.submit(cmd({ labels: ['arm'] }), 'x');
    const u = new JobTable();
    u.restore(structuredClone(t.snapshot()));
    assert.deepEqual(u.snapshot(), t.snapshot());
    assert.equal(u.submit(cmd(), 'y').id, 'j3');
  });
});

describe('jobs bad input', () => {
  it('refuses malformed submissions with ERR_INVALID_ARGUMENT and changes nothing', () => {
    const t = table();
    const bad: unknown[] = [
      null,
      42,
      { run: { kind: 'command', argv: [] } },
      { run: { kind: 'command', argv: [''] } },
      { run: { kind: 'command', argv: ['x'.repeat(5000)] } },
      { run: { kind: 'command', argv: Array(300).fill('a') } },
      { run: { kind: 'command', argv: ['a\u0000b'] } },
      { run: { kind: 'shell', argv: ['ls'] } },
      { run: { kind: 'handler', handler: '' } },
      { run: { kind: 'handler', handler: 'h', args: 'x'.repeat(20_000) } },
      { run: { kind: 'command', argv: ['ls'] }, needs: { cpus: -1 } },
      { run: { kind: 'command', argv: ['ls'] }, needs: { cpus: Number.NaN } },
      { run: { kind: 'command', argv: ['ls'] }, needs: { labels: 'gpu' } },
      { run: { kind: 'command', argv: ['ls'] }, needs: { labels: Array(100).fill('l') } },
      { run: { kind: 'command', argv: ['ls'] }, restart: 'sometimes' },
      { run: { kind: 'command', argv: ['ls'] }, giveUp: { maxFailures: 0, windowMs: 1 } },
      { run: { kind: 'command', argv: ['ls'] }, giveUp: { maxFailures: 2, windowMs: -1 } },
    ];
    for (const b of bad) assert.throws(() => t.submit(b, 'x'), { code: 'ERR_INVALID_ARGUMENT' }, JSON.stringify(b)?.slice(0, 80));
    assert.equal(t.list().length, 0);
    assert.throws(() => t.cancel('j99'), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => t.cancel({}), { code: 'ERR_INVALID_ARGUMENT' });
  });

  it('refuses malformed exit reports, advertisements and snapshots', () => {
    const t = table();
    const j = t.submit(cmd(), 'x');
    assert.throws(() => t.exited(j.node!, j.id, '1', 0, 1), { code: 'ERR_MALFORMED' });
    assert.throws(() => t.exited(j.node!, j.id, 1, 0.5, 1), { code: 'ERR_MALFORMED' });
    assert.throws(() => t.exited(j.node!, j.id, 1, 0, Number.POSITIVE_INFINITY), { code: 'ERR_MALFORMED' });
    assert.throws(() => t.advertise('c', { labels: [1], cpus: 1 }), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => t.advertise('c', { cpus: 1e12 }), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => t.advertise('c', { handlers: Array(300).fill('h') }), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => new JobTable().restore({ v: 2 }), { code: 'ERR_STATE_TRANSFER' });
    assert.equal(t.get(j.id)!.state, 'running');
  });

  it('refuses submissions beyond the cap on active jobs with ERR_BACKPRESSURE', () => {
    const t = new JobTable({ maxActiveJobs: 3 });
    for (let i = 0; i < 3; i++) t.submit(cmd(), 'x');
    assert.throws(() => t.submit(cmd(), 'x'), { code: 'ERR_BACKPRESSURE' });
  });
});
