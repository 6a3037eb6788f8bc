import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Env } from '../../../src/core/env.js';
import { ContainedEnv } from '../../../src/stack/contained-env.js';

/** An inner Env whose transport records the read holds it is asked for. */
function innerEnv(): { inner: Env; asked: [string, object, boolean][] } {
  const asked: [string, object, boolean][] = [];
  const transport = { localId: 'me:1/1', maxFrameSize: 1, holdReads: (peer: string, holder: object, hold: boolean) => asked.push([peer, holder, hold]) };
  return { inner: { transport } as unknown as Env, asked };
}

describe('ContainedEnv', () => {
  it("passes a stack's read holds to the node's transport, and withdraws those still standing when the stack dies", () => {
    const { inner, asked } = innerEnv();
    const env = new ContainedEnv(inner, () => {});
    const causal = {};
    const other = {};
    env.transport.holdReads!('a:1/1', causal, true);
    env.transport.holdReads!('b:1/1', causal, true);
    env.transport.holdReads!('b:1/1', other, true);
    env.transport.holdReads!('a:1/1', causal, false);
    env.transport.holdReads!('a:1/1', causal, false); // withdrawn already: not passed on again
    assert.deepEqual(asked, [
      ['a:1/1', causal, true],
      ['b:1/1', causal, true],
      ['b:1/1', other, true],
      ['a:1/1', causal, false],
    ]);
    env.kill();
    assert.deepEqual(asked.slice(4), [
      ['b:1/1', causal, false],
      ['b:1/1', other, false],
    ]);
    env.transport.holdReads!('c:1/1', causal, true); // a dead stack asks nothing
    assert.equal(asked.length, 6);
  });

  it('offers no read holds over a transport without them', () => {
    const env = new ContainedEnv({ transport: { localId: 'me:1/1', maxFrameSize: 1 } } as unknown as Env, () => {});
    assert.equal(env.transport.holdReads, undefined);
  });
});
