import assert from 'node:assert/strict';
import { test } from 'node:test';
import { simSpecOf } from '../../../src/cli/sim-cmd.js';

test('each scenario keeps loss and nodes, and a duration only where it has one', () => {
  const common = { seeds: 1, first: 1, loss: 0.02, nodes: 5, duration: 3000 } as const;
  for (const scenario of ['tools', 'news', 'jobs', 'monitor'] as const) {
    assert.deepEqual(simSpecOf({ ...common, scenario }), { scenario, loss: 0.02, nodes: 5, durationMs: 3000 });
  }
  assert.deepEqual(simSpecOf({ ...common, scenario: 'large' }), { scenario: 'large', loss: 0.02, nodes: 5 });
  assert.deepEqual(simSpecOf({ ...common, faults: 'all', lwg: true }), { scenario: 'lwg', loss: 0.02, nodes: 5, durationMs: 3000 });
});

test('--faults all takes the dynamic-membership options; the fixed workload takes messages and faults', () => {
  assert.deepEqual(simSpecOf({ seeds: 1, first: 1, faults: 'all', duration: 5000, security: 'pki', policy: 'partitionable', messages: 9 }), {
    scenario: 'vsync',
    durationMs: 5000,
    security: 'pki',
    policy: 'partitionable',
  });
  assert.deepEqual(simSpecOf({ seeds: 1, first: 1, faults: false, messages: 9, duration: 5000, security: 'pki' }), {
    scenario: 'fbcast',
    messages: 9,
    faults: false,
  });
});
