// Helpers for the hostile-input tests of the layers: forge messages with the project's own codec
// and send them over the simulated network, as a stranger (a node outside the group) or as a member.
import type { Group } from '../../../src/api/group.js';
import type { HorusNode } from '../../../src/api/node.js';
import type { Env } from '../../../src/core/env.js';
import { Message, MsgFlag, type HeaderType } from '../../../src/core/message.js';
import { FrameBuilder } from '../../../src/codec/frame.js';
import type { Layer } from '../../../src/stack/layer.js';
import type { Stack } from '../../../src/stack/stack.js';
import type { SimGroup } from '../../helpers/sim-group.js';

/** A layer instance of a member's stack, to look at its state. */
export function layerOf<T extends Layer>(g: Group, ctor: abstract new (...args: never[]) => T): T {
  const stack = (g as unknown as { stack: Stack | null }).stack;
  const l = stack?.layers.find((x) => x instanceof ctor);
  if (l === undefined) throw new Error(`no ${ctor.name} in the stack`);
  return l as T;
}

/** A message with these headers, pushed in order (the last is read first). */
export function forged(dest: string | null, payload: Buffer, headers: [HeaderType<never>, unknown][], flags?: number): Message {
  const m = new Message(dest, payload, flags ?? (dest === null ? MsgFlag.Multicast : 0));
  for (const [t, v] of headers) m.push(t as HeaderType<unknown>, v);
  return m;
}

/** One frame for group `g` holding these messages, sent by the sender node's `membership`-th membership (node~n). */
export function frameOf(group: string, msgs: Message[], membership = 1): Buffer {
  const b = new FrameBuilder(group, membership);
  for (const m of msgs) b.add(m);
  return Buffer.from(b.finish());
}

/** A node outside the group that counts the frames it is sent. */
export interface Stranger {
  env: Env;
  received: number;
  send(to: HorusNode, frame: Buffer): void;
}

export function stranger(s: SimGroup, endpoint = 'evil:1'): Stranger {
  const node = s.world.addNode(endpoint, '1');
  const st: Stranger = {
    env: node.env,
    received: 0,
    send: (to, frame) => node.env.transport.send(to.id, frame),
  };
  node.env.transport.onFrame(() => st.received++);
  return st;
}

/** Send a frame over the network from one member's transport to another member. */
export function sendAs(from: HorusNode, to: HorusNode, frame: Buffer): void {
  from.env.transport.send(to.id, frame);
}

export function counter(node: HorusNode, name: string): number {
  return node.metrics.snapshot().counters[name] ?? 0;
}

export function dropped(node: HorusNode, layer: string): number {
  return counter(node, `horus_${layer.toLowerCase()}_dropped_total`);
}
