// An attacker's toolkit: nothing but the project's own codec and a raw TCP socket. It builds frames
// exactly as a node does (HELLO from the transport, group frames from src/codec/frame.ts, GMS control
// messages as GMS.send builds them: an unreliable message whose payload is the MessagePack body and
// whose only header is the GMS kind), so what it sends takes the real decoding paths of a node.
import net from 'node:net';
import { once } from 'node:events';
import { APP_HEADER, PayloadEncoding } from '../../src/api/app-header.js';
import { FrameBuilder } from '../../src/codec/frame.js';
import { messageToBytes } from '../../src/codec/message-codec.js';
import { pack } from '../../src/codec/payload.js';
import { Message, MsgFlag, OrderCode } from '../../src/core/message.js';
import { GMS_HEADER } from '../../src/layers/GMS.js';
import { NAK_HEADER } from '../../src/layers/NAK.js';
import { FRAME_HEADER_BYTES, encodeFrames } from '../../src/transport/frame-decoder.js';
import { HELLO_CONNECT, encodeHello } from '../../src/transport/tcp-transport.js';

/** GMS message kinds on the wire (GMS.ts keeps them in a `const enum G`, which is not exported). */
export const GmsKind = {
  JoinReq: 1,
  LeaveReq: 2,
  FlushStart: 3,
  FlushOk: 4,
  Cut: 6,
  Gbcast: 15,
} as const;

/** NAK header kinds on the wire (NAK.ts: `const enum NakType`). */
const NAK_DATA = 1;

type NakHeaderValue = Parameters<typeof NAK_HEADER.encode>[1];

/** A stream's length-prefixed HELLO_CONNECT announcing `id`. */
export function helloFrame(id: string): Buffer {
  return encodeFrames([encodeHello(HELLO_CONNECT, id)]);
}

/** A u32 length prefix alone: the start of a frame whose body has not been sent. */
export function lengthPrefix(n: number): Buffer {
  const b = Buffer.alloc(FRAME_HEADER_BYTES);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

/** A group frame as COM builds it (kind, group name, messages), length-prefixed for the stream. */
export function groupFrame(group: string, msgs: readonly Message[]): Buffer {
  const b = new FrameBuilder(group);
  for (const m of msgs) b.add(m);
  return encodeFrames([b.finish()]);
}

/** A GMS control message as GMS.send builds it: unreliable, to `dest`, MessagePack body, GMS header. */
export function gmsMessage(dest: string, kind: number, body: unknown): Message {
  const m = new Message(dest, pack(body), MsgFlag.Unreliable);
  m.push(GMS_HEADER, kind);
  return m;
}

/**
 * The body of a Gbcast naming `member` as its sender: the key GMS gives a member's gbcast
 * (`member:counter`), and the message as the group would have built it (APP header, order group).
 */
export function forgedGbcastBody(member: string, counter: number, appId: number, payload: Buffer): { key: string; bytes: Buffer } {
  const msg = new Message(null, payload);
  msg.push(APP_HEADER, { order: OrderCode.Group, encoding: PayloadEncoding.Bytes, id: appId });
  msg.src = member;
  return { key: `${member}:${counter}`, bytes: messageToBytes(msg) };
}

/** A reliable multicast as NAK sends it, numbered `seq` in view `view`. */
export function nakDataMessage(view: number, seq: number, payload: Buffer): Message {
  const m = new Message(null, payload);
  m.push(NAK_HEADER, { t: NAK_DATA, view, seq } as NakHeaderValue);
  return m;
}

export interface RawConnectOptions {
  host?: string;
  /** Loopback source address (127.0.0.x are distinct addresses on Linux). */
  localAddress?: string;
  /** Send this HELLO first; null for none. */
  hello?: string | null;
}

/** A raw connection to a node's port; resolves once connected (and the HELLO is written). */
export async function rawConnect(port: number, opts: RawConnectOptions = {}): Promise<net.Socket> {
  const s = net.connect({ host: opts.host ?? '127.0.0.1', port, ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}) });
  s.on('error', () => {}); // the node resets what it refuses: expected
  s.resume(); // read and ignore its HELLO_ACCEPT
  await Promise.race([
    once(s, 'connect'),
    once(s, 'close').then(() => {
      throw new Error(`connection to ${port} closed before it opened`);
    }),
  ]);
  if (opts.hello !== undefined && opts.hello !== null) s.write(helloFrame(opts.hello));
  return s;
}

/** Writes `bytes` and waits for them to leave (or the socket to close). */
export async function writeAll(s: net.Socket, bytes: Buffer): Promise<void> {
  if (s.destroyed) return;
  if (!s.write(bytes)) await Promise.race([once(s, 'drain'), once(s, 'close')]);
}

/** Resolves with whether `s` was closed by the other end within `ms`. */
export function closedWithin(s: net.Socket, ms: number): Promise<boolean> {
  if (s.closed) return Promise.resolve(true);
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    s.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Opens `count` connections spread over `addresses`, `parallel` at a time; failures are counted, not thrown. */
export async function openMany(
  port: number,
  count: number,
  addresses: readonly string[],
  helloFor: (i: number) => string | null,
  parallel = 250,
): Promise<{ sockets: net.Socket[]; failed: number }> {
  const sockets: net.Socket[] = [];
  let failed = 0;
  for (let start = 0; start < count; start += parallel) {
    const batch = [];
    for (let i = start; i < Math.min(count, start + parallel); i++) {
      batch.push(
        rawConnect(port, { localAddress: addresses[i % addresses.length]!, hello: helloFor(i) }).then(
          (s) => sockets.push(s),
          () => failed++,
        ),
      );
    }
    await Promise.all(batch);
  }
  return { sockets, failed };
}
