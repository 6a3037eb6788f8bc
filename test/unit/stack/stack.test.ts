import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseStackSpec } from '../../../src/stack/stack.js';
import { HorusError } from '../../../src/core/errors.js';
import { simGroup } from '../../helpers/sim-group.js';
import '../../../src/layers/index.js';

function stackError(spec: string): HorusError {
  try {
    simGroup(2, spec);
  } catch (err) {
    assert.ok(err instanceof HorusError);
    return err;
  }
  assert.fail(`stack ${spec} was accepted`);
}

describe('stack builder', () => {
  it('parses colon specs top first and JSON specs with options', () => {
    assert.deepEqual(parseStackSpec('NAK:FRAG:COM'), [{ name: 'NAK' }, { name: 'FRAG' }, { name: 'COM' }]);
    assert.deepEqual(parseStackSpec('[{"name":"NAK","options":{"xmitIntervalMs":5}},"COM"]'), [
      { name: 'NAK', options: { xmitIntervalMs: 5 } },
      { name: 'COM' },
    ]);
  });

  it('names the unknown layer and lists the known ones', () => {
    const e = stackError('NAK:BOGUS:COM');
    assert.equal(e.code, 'ERR_STACK');
    assert.match(e.message, /unknown layer "BOGUS"; known layers: /);
    for (const l of ['CAUSAL', 'COM', 'FC', 'FD', 'FRAG', 'GMS', 'NAK', 'SAFE', 'STABLE', 'TOTAL']) assert.ok(e.message.includes(l), l);
  });

  it('names the missing layer when a requirement is not met below', () => {
    const e = stackError('STABLE:COM');
    assert.equal(e.code, 'ERR_STACK');
    assert.match(e.message, /STABLE requires "digest"/);
  });

  it('requires COM at the bottom and no layer twice', () => {
    assert.match(stackError('COM:NAK').message, /bottom layer must be COM/);
    assert.match(stackError('NAK:NAK:COM').message, /appears twice/);
  });

  it('rejects bad layer options with a readable config error', () => {
    let err: unknown;
    try {
      simGroup(2, [{ name: 'NAK', options: { xmitIntervalMs: -1 } }, 'COM']);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof HorusError);
    assert.equal(err.code, 'ERR_CONFIG');
    assert.match(err.message, /options of layer NAK/);
  });

  it('runs the same workload through NAK:FRAG:COM and the default stack', () => {
    for (const spec of ['NAK:FRAG:COM', 'FRAG:NAK:COM', 'STABLE:FC:FRAG:NAK:COM']) {
      const s = simGroup(3, spec, { loss: 0.1 });
      for (let i = 0; i < 50; i++) void s.groups[i % 3]!.fbcast(Buffer.alloc(i * 100, i));
      s.world.runFor(3000);
      for (const d of s.delivered) assert.equal(d.length, 50, `${spec}: every member delivers all 50`);
    }
  });
});
