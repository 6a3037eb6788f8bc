/** What the service commands (`horus jobs`, `horus monitor`) share: a one-request client, and serving until a signal. */
import { createNode } from '../api/create-node.js';
import { pinoLogger } from '../obs/pino-logger.js';

export interface ServiceClientFlags {
  /** Members of the service's group to ask. */
  connect: string[];
  group: string;
  json?: boolean;
  timeoutMs: number;
}

/** One request to the group from outside it (node.client, which fails over between members). */
export async function askService(f: ServiceClientFlags, req: unknown): Promise<unknown> {
  const node = await createNode({ listen: '127.0.0.1:0', seeds: f.connect, logger: pinoLogger({ level: 'silent' }) });
  try {
    const client = await node.client(f.group, { timeoutMs: f.timeoutMs });
    try {
      return await client.request(req);
    } finally {
      client.close();
    }
  } finally {
    await node.close();
  }
}

/** Resolves once SIGINT or SIGTERM came and `close` finished (or 10 s passed: the process exits then). */
export function serveUntilSignal(close: () => Promise<void>): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      const force = setTimeout(() => process.exit(0), 10_000);
      force.unref();
      close()
        .catch(() => {})
        .finally(() => {
          clearTimeout(force);
          resolve();
        });
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
