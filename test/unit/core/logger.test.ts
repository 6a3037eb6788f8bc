import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lazyJson, logFieldValue } from '../../../src/core/logger.js';
import { pinoLogger } from '../../../src/obs/pino-logger.js';

test('a lazy log field is serialised only when its line is written', () => {
  let reads = 0;
  const body = {
    kind: {
      toJSON(): number {
        reads++;
        return 7;
      },
    },
  };
  const field = lazyJson(body);
  // A trace line with trace off: pino drops it before serialising its fields.
  pinoLogger({ level: 'info', destination: 1 }).trace('gms in', { body: field });
  assert.equal(reads, 0);
  assert.equal(JSON.stringify({ body: field }), JSON.stringify({ body: '{"kind":7}' }));
  assert.equal(reads, 1);
});

test('a lazy log field shows bytes as their length and is cut to its limit', () => {
  const keys = [
    ['m1', Buffer.alloc(80, 1)],
    ['m2', new Uint8Array(80)],
  ];
  assert.equal(JSON.stringify(lazyJson({ keys })), JSON.stringify('{"keys":[["m1","<80 bytes>"],["m2","<80 bytes>"]]}'));
  assert.equal(lazyJson({ long: 'x'.repeat(500) }, 20).toJSON().length, 20);
});

test('log fields that JSON cannot say are written in a form it can, never thrown on', () => {
  const fields = { n: 5n, err: new Error('boom'), m: new Map([['a', 1]]), s: new Set([2]) };
  assert.equal(JSON.stringify(fields, logFieldValue), '{"n":"5n","err":{"name":"Error","message":"boom"},"m":[["a",1]],"s":[2]}');
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.equal(lazyJson(cyclic).toJSON(), '<unserializable>');
});
