import { randomBytes } from 'node:crypto';
import type { HistoryRecorder } from '../core/history.js';
import type { Logger } from '../core/logger.js';
import { parseEndpoint } from '../core/node-id.js';
import { pinoLogger } from '../obs/pino-logger.js';
import { RealEnv } from '../transport/real-env.js';
import { TcpTransport, type TransportLimits } from '../transport/tcp-transport.js';
import { ConfigError } from '../core/errors.js';
import { StaticDiscovery, type Discovery } from '../discovery/discovery.js';
import { isLoopbackHost } from '../dashboard/http-util.js';
import { loadSecurity, type SecurityOptions } from '../security/security-config.js';

import type { BootstrapOptions } from './contact-points.js';
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
  /** Where to find other nodes besides `seeds`: DNS, a shared file, Kubernetes (see src/discovery). Re-read every `discoveryIntervalMs`. */
  discovery?: Discovery;
  /** How often the discovery source is read again (ms, default 5000). */
  discoveryIntervalMs?: number;
  /**
   * Safe bootstrap: found a group only once `expectedContacts` contact points (this node included)
   * are known and have not changed for `stableMs`; the smallest id among them founds it.
   */
  bootstrap?: BootstrapOptions;
  /**
   * How connections are authenticated and encrypted (docs/security.md): 'pki' (certificates from a
   * cluster CA), 'psk' (one shared secret), or 'off' (the default: plaintext, anyone who reaches the
   * port can speak as any node; a warning is logged once when such a node listens beyond loopback).
   * psk: the secret itself (at least 16 bytes) or a file holding it (mode 0600). pki: this node's key
   * (mode 0600) and certificate files, CA public keys (or allow-listed node keys) to trust, and the
   * certificate serials and keys revoked. Files are checked at start, before the node listens.
   */
  security?:
    | { mode: 'off' }
    | { mode: 'psk'; secret?: string | Buffer; secretFile?: string }
    | { mode: 'pki'; key: string; cert: string; ca?: string[]; allow?: string[]; revoked?: { serials?: string[]; keys?: string[] } };
}

let warnedInsecure = false;

/** Start a node on real TCP. */
export async function createNode(opts: NodeOptions): Promise<HorusNode> {
  parseEndpoint(opts.listen);
  const log = opts.logger ?? pinoLogger({ level: 'warn' });
  // Keys, certificates and secrets are checked before anything listens.
  // Credentials loaded already (tests, tools) pass too: loadSecurity accepts every SecurityOptions.
  const security = loadSecurity((opts.security ?? { mode: 'off' }) as SecurityOptions);
  if (security.mode === 'off' && !isLoopbackHost(parseEndpoint(opts.listen).host) && !warnedInsecure) {
    warnedInsecure = true;
    log.warn(
      'security is off on a non-loopback address: anyone who reaches this port can join groups, read traffic and speak as any node (set security: pki, see docs/security.md)',
      {
        listen: opts.listen,
      },
    );
  }
  const incarnation = randomBytes(4).toString('hex');
  const transport = await TcpTransport.listen({
    listen: opts.listen,
    incarnation,
    security,
    log: log.child({ component: 'tcp' }),
    ...opts.transport,
    ...(opts.maxFrameSize !== undefined ? { maxFrameSize: opts.maxFrameSize } : {}),
  });
  const node = new HorusNode(new RealEnv(transport, log.child({ node: transport.localId })), opts.recorder, opts.seeds ?? [], opts.limits ?? {});
  const fixedContacts = new Set([...(opts.seeds ?? []), opts.listen]).size;
  if (opts.bootstrap && !opts.discovery && fixedContacts < opts.bootstrap.expectedContacts) {
    await node.close();
    throw new ConfigError(
      `bootstrap expects ${opts.bootstrap.expectedContacts} contact points, but the seeds and this node make ${fixedContacts} and no discovery source can add more`,
    );
  }
  if (opts.discovery) await node.useDiscovery(opts.discovery, opts.discoveryIntervalMs ?? 5000, opts.bootstrap ?? null);
  else if (opts.bootstrap) await node.useDiscovery(new StaticDiscovery([]), 60_000, opts.bootstrap);
  return node;
}
