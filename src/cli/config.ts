import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ConfigError } from '../core/errors.js';
import { parseEndpoint } from '../core/node-id.js';
import { securityConfigSchema } from '../security/security-config.js';
import { partitionPolicySchema } from '../layers/partition-policy.js';
import { transportLimitsSchema } from '../transport/tcp-transport.js';

/** `host:port` with a concrete port (fixed member lists name real endpoints). */
function isEndpoint(s: string, allowPortZero: boolean): boolean {
  try {
    const { port } = parseEndpoint(s);
    return allowPortZero || port > 0;
  } catch {
    return false;
  }
}

const endpoint = z.string().refine((s) => isEndpoint(s, false), { message: 'expected HOST:PORT with a port from 1 to 65535, e.g. 127.0.0.1:7001' });
const listenEndpoint = z.string().refine((s) => isEndpoint(s, true), { message: 'expected HOST:PORT, e.g. 127.0.0.1:7001 (port 0 picks a free one)' });
const adminEndpoint = z.string().refine((s) => isEndpoint(s, true), { message: 'expected HOST:PORT such as 127.0.0.1:7070' });
const layerSpec = z.union([z.string().min(1), z.object({ name: z.string().min(1), options: z.record(z.string(), z.unknown()).optional() }).strict()]);

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const;

const groupSchema = z
  .object({
    name: z.string().min(1, 'a group name cannot be empty'),
    /** Fixed membership. Without it the node joins through the membership layer (GMS). */
    members: z.array(endpoint).min(1).optional(),
    stack: z
      .union([z.string().min(1), z.array(layerSpec).min(1)], {
        error: 'expected a stack: a string of layers top first such as "STABLE:FC:FRAG:NAK:COM", or a list of names and { "name", "options" }',
      })
      .optional(),
    /** Which side of a split goes on (dynamic groups): { kind: 'majority' } (default), { kind: 'quorum', size }, { kind: 'weights', weights } (docs/partitions.md). */
    partition: partitionPolicySchema.optional(),
  })
  .strict();

/** A node's config file (JSON). Command-line flags override it. */
export const nodeConfigSchema = z
  .object({
    listen: listenEndpoint.optional(),
    seeds: z.array(endpoint).optional(),
    /** Admin/dashboard endpoint, or false for none. Beyond loopback it needs a token (adminToken, or one generated and printed at start). */
    admin: z.union([adminEndpoint, z.literal(false)], { error: 'expected HOST:PORT such as 127.0.0.1:7070, or false for no admin endpoint' }).optional(),
    /** Bearer token of the admin endpoint (at least 16 characters): state-changing requests need it, and off loopback every request. */
    adminToken: z.string().min(16, 'an admin token has at least 16 characters').optional(),
    /** Probe endpoint (/livez, /readyz) for orchestrators: any interface, it serves nothing else. */
    health: listenEndpoint.optional(),
    /** Where to find other nodes besides the seeds: dns-srv:NAME, dns-a:NAME:PORT, file:PATH, k8s:[NS/]SERVICE[:PORT_NAME]. */
    discovery: z.string().min(1).optional(),
    /** Safe bootstrap: found a group only once this many contact points (this node included) are known and stable. */
    expectContacts: z.number().int().min(1).max(1000).optional(),
    logLevel: z.enum(LOG_LEVELS).optional(),
    /** How connections are authenticated and encrypted: { mode: 'off' | 'psk' | 'pki', ... } (docs/security.md). */
    security: securityConfigSchema.optional(),
    /** Transport limits (connections, handshake, slow frames, send queues); each has a default. */
    transport: transportLimitsSchema.optional(),
    membership: z.enum(['fixed', 'dynamic']).optional(),
    groups: z.array(groupSchema).optional(),
    /** Host the demo's replicated key-value service on this group. */
    kv: z
      .object({
        group: z.string().min(1),
        /** Background load, operations per second. */
        load: z.number().min(0).max(1000).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type NodeConfig = z.infer<typeof nodeConfigSchema>;
export type GroupConfig = z.infer<typeof groupSchema>;

function pathOf(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out || '(top level)';
}

/** One line per problem, `path: message`, so a person can fix the file without reading zod. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((i) => {
      if (i.code === 'unrecognized_keys')
        return `  - ${pathOf(i.path)}: unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => JSON.stringify(k)).join(', ')}`;
      return `  - ${pathOf(i.path)}: ${i.message}`;
    })
    .join('\n');
}

export function parseNodeConfig(value: unknown, source: string): NodeConfig {
  const r = nodeConfigSchema.safeParse(value);
  if (!r.success) throw new ConfigError(`config ${source} is invalid:\n${formatIssues(r.error.issues)}`, { cause: r.error });
  return r.data;
}

export async function readNodeConfig(file: string): Promise<NodeConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new ConfigError(code === 'ENOENT' ? `config file ${file} does not exist` : `cannot read config file ${file}: ${(cause as Error).message}`, { cause });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  return parseNodeConfig(value, `file ${file}`);
}

/**
 * A fixed member list every node computes alike from the same set of endpoints, whatever order
 * its own flags gave them in: by host, then port.
 */
export function canonicalMembers(endpoints: Iterable<string>): string[] {
  const uniq = [...new Set(endpoints)];
  return uniq.sort((a, b) => {
    const pa = parseEndpoint(a);
    const pb = parseEndpoint(b);
    return pa.host < pb.host ? -1 : pa.host > pb.host ? 1 : pa.port - pb.port;
  });
}
