/**
 * `horus news serve|pub|sub`: run a News member, publish one posting, or print a subscription's
 * postings as JSON lines. pub and sub run a small node outside the group (a client) that talks
 * to the members named by --connect and fails over between them.
 */
import { createNode } from '../api/create-node.js';
import type { HorusNode } from '../api/node.js';
import { HorusError } from '../core/errors.js';
import type { LogLevel } from '../core/logger.js';
import { AdminServer } from '../dashboard/admin-server.js';
import { NodeObserver } from '../obs/node-observer.js';
import { pinoLogger } from '../obs/pino-logger.js';
import { NewsClient } from '../services/news/news-client.js';
import { NewsService, NEWS_GROUP } from '../services/news/news-service.js';
import type { Posting } from '../services/news/posting.js';
import { checkSubject, SubjectPattern } from '../services/news/subject.js';

export interface NewsServeFlags {
  listen: string;
  seeds?: string[];
  group?: string;
  backIssues?: number;
  backIssueSeconds?: number;
  admin?: string;
  logLevel?: LogLevel;
}

export interface NewsClientFlags {
  connect: string[];
  group?: string;
  /** This client's own endpoint (default 127.0.0.1:0): members send their answers to it. */
  listen?: string;
  logLevel?: LogLevel;
}

type Out = (line: string) => void;

/** Resolves on SIGINT or SIGTERM. */
const untilSignal = (): Promise<string> =>
  new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });

/** A posting as one JSON line (bytes as base64). */
export function postingLine(p: Posting): string {
  const payload = p.payload instanceof Uint8Array ? { base64: Buffer.from(p.payload).toString('base64') } : p.payload;
  return JSON.stringify({ subject: p.subject, seq: p.seq, pos: p.pos, publisher: p.publisher, id: p.id, at: p.at, payload });
}

/** `horus news serve`: a News member until SIGINT/SIGTERM. */
export async function newsServe(flags: NewsServeFlags, out: Out): Promise<number> {
  const log = pinoLogger({ level: flags.logLevel ?? 'warn' });
  const observer = new NodeObserver();
  const node = await createNode({ listen: flags.listen, seeds: flags.seeds ?? [], logger: log, recorder: observer.recorder });
  observer.attach(node);
  let admin: AdminServer | null = null;
  let news: NewsService;
  try {
    news = await NewsService.join(node, {
      ...(flags.group !== undefined ? { group: flags.group } : {}),
      ...(flags.backIssues !== undefined ? { backIssues: flags.backIssues } : {}),
      ...(flags.backIssueSeconds !== undefined ? { backIssueMs: flags.backIssueSeconds * 1000 } : {}),
    });
    if (flags.admin !== undefined) admin = await AdminServer.start({ node, observer, listen: flags.admin, log, expectedGroups: [news.group.name] });
  } catch (err) {
    observer.detach();
    await node.close();
    throw err;
  }
  const v = news.group.view;
  out(
    `horus news member ${news.group.localId} listening on ${node.endpoint}, group ${news.group.name} view ${v.id} [${v.members.join(' ')}]${admin ? `, admin ${admin.url}` : ''}`,
  );
  await untilSignal();
  await news.close().catch(() => {});
  await admin?.close();
  observer.detach();
  await node.close();
  return 0;
}

async function clientNode(flags: NewsClientFlags): Promise<HorusNode> {
  return createNode({ listen: flags.listen ?? '127.0.0.1:0', seeds: flags.connect, logger: pinoLogger({ level: flags.logLevel ?? 'error' }) });
}

/** `horus news pub SUBJECT MESSAGE`: prints where the posting went, as JSON. */
export async function newsPub(subject: string, message: string, flags: NewsClientFlags & { json?: boolean }, out: Out): Promise<number> {
  checkSubject(subject);
  let payload: unknown = message;
  if (flags.json) {
    try {
      payload = JSON.parse(message);
    } catch {
      throw new HorusError('ERR_INVALID_ARGUMENT', 'with --json, MESSAGE must be JSON');
    }
  }
  const node = await clientNode(flags);
  try {
    const news = await NewsClient.connect(node, { ...(flags.group !== undefined ? { group: flags.group } : {}) });
    const r = await news.publish(subject, payload);
    out(JSON.stringify(r));
    news.close();
    return 0;
  } finally {
    await node.close();
  }
}

/** `horus news sub PATTERN`: prints postings as JSON lines until SIGINT/SIGTERM. */
export async function newsSub(pattern: string, flags: NewsClientFlags & { back?: number; after?: number }, out: Out): Promise<number> {
  new SubjectPattern(pattern);
  const node = await clientNode(flags);
  try {
    const news = await NewsClient.connect(node, { ...(flags.group !== undefined ? { group: flags.group } : {}) });
    let refused: Error | null = null;
    const sub = news.subscribe(pattern, (p) => out(postingLine(p)), {
      back: flags.back ?? 0,
      ...(flags.after !== undefined ? { after: flags.after } : {}),
      onError: (err) => {
        if (err instanceof HorusError && err.code === 'ERR_INVALID_ARGUMENT') refused = err;
      },
    });
    await Promise.race([untilSignal(), sub.done]);
    news.close();
    if (refused) throw refused;
    return 0;
  } finally {
    await node.close();
  }
}

export { NEWS_GROUP };
