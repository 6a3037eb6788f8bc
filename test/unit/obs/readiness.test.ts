import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GroupStatus } from '../../../src/obs/node-observer.js';
import { readinessOf } from '../../../src/obs/readiness.js';

function group(name: string, over: Partial<GroupStatus> = {}): GroupStatus {
  return {
    name,
    localId: 'a',
    view: { id: 3, members: ['a', 'b', 'c'] },
    viewsInstalled: 1,
    blocked: false,
    blockedReasons: [],
    pendingSends: 0,
    left: false,
    sent: 0,
    sentPerSec: 0,
    delivered: 0,
    deliveredPerSec: 0,
    sentByOrder: { fifo: 0, causal: 0, total: 0, group: 0 },
    deliveredByOrder: { fifo: 0, causal: 0, total: 0, group: 0 },
    members: [],
    ...over,
  };
}

describe('readiness of a node from its groups', () => {
  it('is ready when every group has a view and is not cut off or joining', () => {
    assert.deepEqual(readinessOf([group('a'), group('b')], ['a', 'b']), {
      ready: true,
      groups: [
        { name: 'a', ready: true },
        { name: 'b', ready: true },
      ],
    });
  });

  it('stays ready through a flush or flow control, which hold sends for moments only', () => {
    const r = readinessOf([group('a', { blocked: true, blockedReasons: ['flush', 'flow-control'] })]);
    assert.equal(r.ready, true);
  });

  it('is not ready in a minority, while joining, before the first view, or before joining a configured group', () => {
    const r = readinessOf(
      [group('min', { blocked: true, blockedReasons: ['minority'] }), group('join', { blockedReasons: ['joining'] }), group('new', { viewsInstalled: 0 })],
      ['min', 'join', 'new', 'later'],
    );
    assert.equal(r.ready, false);
    const why = Object.fromEntries(r.groups.map((g) => [g.name, g.reason ?? '']));
    assert.match(why['min']!, /minority/);
    assert.match(why['join']!, /joining/);
    assert.match(why['new']!, /no view/);
    assert.match(why['later']!, /not joined/);
  });
});
