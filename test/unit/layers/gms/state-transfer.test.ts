import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Env } from '../../../../src/core/env.js';
import { silentLogger } from '../../../../src/core/logger.js';
import type { Message } from '../../../../src/core/message.js';
import type { NodeId } from '../../../../src/core/node-id.js';
import { StateTransfer, type StateTransferHost } from '../../../../src/layers/gms/state-transfer.js';

/** A provider whose chunks are captured, on a clock the test moves. */
function provider(): { st: StateTransfer; chunks: Message[]; clock: { now: number } } {
  const clock = { now: 0 };
  const chunks: Message[] = [];
  const host: StateTransferHost = {
    env: { now: () => clock.now } as unknown as Env,
    log: silentLogger,
    send: () => {},
    down: (m) => chunks.push(m),
    complete: () => {},
    drop: () => {},
    isMember: () => true,
    tooLarge: () => {},
  };
  const st = new StateTransfer(host, { retryMs: 60, stateChunkBytes: 4, stateWindow: 4, maxStateBytes: 1 << 20, maxStateChunkBytes: 1 << 16 });
  return { st, chunks, clock };
}

const JOINER = 'j:1/1~2' as NodeId;

describe('StateTransfer (provider)', () => {
  it('resends a lost window to a joiner that keeps acking no progress, however often it acks', () => {
    const { st, chunks, clock } = provider();
    st.provide([JOINER], 7, Buffer.from('0123456789abcdef'), null);
    assert.equal(chunks.length, 4, 'the first window went out');
    chunks.length = 0; // ...and was lost
    // The joiner re-acks "next 0" every 100 ms, more often than the 180 ms resend interval.
    for (let t = 100; t <= 1000; t += 100) {
      clock.now = t;
      st.onAck(JOINER, 7, 0);
      st.tick(t, [JOINER]);
    }
    assert.ok(chunks.length >= 4, `resent ${chunks.length} chunks in 1 s`);
  });

  it('does not resend a window that is still within its resend interval', () => {
    const { st, chunks, clock } = provider();
    st.provide([JOINER], 7, Buffer.from('0123456789abcdef'), null);
    chunks.length = 0;
    clock.now = 100;
    st.onAck(JOINER, 7, 0);
    st.tick(100, [JOINER]);
    assert.equal(chunks.length, 0);
  });
});
