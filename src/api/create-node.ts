import { randomBytes } from 'node:crypto';
import type { HistoryRecorder } from '../core/history.js';
import type { Logger } from '../core/logger.js';
import { parseEndpoint } from '../core/node-id.js';
import { pinoLogger } from '../obs/pino-logger.js';
import { RealEnv } from '../transport/real-env.js';
import { TcpTransport, type TransportLimits } from '../transport/tcp-transport.js';
import { HorusNode, type NodeLimits } from './node.js';

export interface NodeOptions {
  /** `host:port` to listen on; port 0 picks a free one. */
  listen: string;
  /** Other nodes to contact first (`host:port`). */
  seeds?: readonly string[];
  logger?: Logger;
  /** Record every send, delivery and view (tests and the checker). */
  recorder?: HistoryRecorder;
  /** Largest frame accepted from the network. */
  maxFrameSize?: number;
  /** The transport's limits on connections, handshakes, slow frames and send queues (defaults otherwise). */
  transport?: TransportLimits;
  /** What a peer can make the node hold or send (the name service's limits). */
  limits?: NodeLimits;
}

/** Start a node on real TCP. */
export async function createNode(opts: NodeOptions): Promise<HorusNode> {
  parseEndpoint(opts.listen);
  const log = opts.logger ?? pinoLogger({ level: 'warn' });
  const incarnation = randomBytes(4).toString('hex');
  const transport = await TcpTransport.listen({
    listen: opts.listen,
    incarnation,
    log: log.child({ component: 'tcp' }),
    ...opts.transport,
    ...(opts.maxFrameSize !== undefined ? { maxFrameSize: opts.maxFrameSize } : {}),
  });
  return new HorusNode(new RealEnv(transport, log.child({ node: transport.localId })), opts.recorder, opts.seeds ?? [], opts.limits ?? {});
}
