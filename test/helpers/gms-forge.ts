import { APP_HEADER } from '../../src/api/app-header.js';
import type { HorusNode } from '../../src/api/node.js';
import { FrameBuilder } from '../../src/codec/frame.js';
import { messageToBytes } from '../../src/codec/message-codec.js';
import { encodePayload, pack } from '../../src/codec/payload.js';
import { nodeOfMember } from '../../src/core/member-id.js';
import { Message, MsgFlag, OrderCode } from '../../src/core/message.js';
import { G, GMS_HEADER } from '../../src/layers/gms/messages.js';
import type { SimNode } from '../../src/sim/sim-world.js';

export { G };

/** One raw GMS control message: a body packed as GMS packs it, or raw payload bytes. */
export interface ForgedGms {
  kind: G;
  body?: unknown;
  payload?: Buffer;
}

/**
 * Send GMS control messages to the member `to`, all in one group frame, over `from`'s own
 * connection: the receiver sees them as from `from`'s node id (or its member id, if it is a
 * member). `from` is any simulated node: a stranger added with `world.addNode`, or a member's own
 * node, to play a member that misbehaves. Lower layers pass unreliable unicasts through without a
 * header, so the frame carries the GMS header only, exactly as a GMS would send it. The frame
 * names `from`'s `membership` (n of `node~n`): a receiver drops one of a membership it knows the
 * process has replaced.
 */
export function forgeGms(from: SimNode, group: string, to: string, msgs: readonly ForgedGms[], membership = 1): void {
  const b = new FrameBuilder(group, membership);
  for (const f of msgs) {
    const m = new Message(to, f.payload ?? pack(f.body), MsgFlag.Unreliable);
    m.push(GMS_HEADER, f.kind);
    m.src = from.id;
    b.add(m);
  }
  from.env.transport.send(nodeOfMember(to), Buffer.from(b.finish()));
}

/** The bytes of a gbcast as a member hands it to the coordinator: an application message with `payload`. */
export function gbcastBytes(src: string, id: number, payload: unknown): Buffer {
  const enc = encodePayload(payload);
  const m = new Message(null, enc.bytes);
  m.order = OrderCode.Group;
  m.push(APP_HEADER, { order: OrderCode.Group, encoding: enc.encoding, id });
  m.src = src;
  return messageToBytes(m);
}

/** How many GMS messages `node` dropped (horus_gms_dropped_total, over all its groups). */
export function gmsDrops(node: HorusNode): number {
  return node.metrics.snapshot().counters['horus_gms_dropped_total'] ?? 0;
}
