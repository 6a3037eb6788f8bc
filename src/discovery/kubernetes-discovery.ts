import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { z } from 'zod';
import { HorusError } from '../core/errors.js';
import { checkedContacts, endpointFor, type Discovery } from './discovery.js';

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Largest API answer read: a few thousand endpoints fit well below it. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface KubernetesDiscoveryOptions {
  /** The Service whose EndpointSlices list the nodes. */
  service: string;
  /** Default: the pod's own namespace (from its service account). */
  namespace?: string;
  /** The port of the slice to use, by name (default 'group', as in deploy/kubernetes/horus.yaml). */
  portName?: string;
  /**
   * Also endpoints that are not ready (default true): a node joining the group is not ready until
   * it has joined, and must be found to join.
   */
  includeNotReady?: boolean;
  /** API server; default from KUBERNETES_SERVICE_HOST/PORT inside a pod. `http:` only when given here (tests). */
  apiUrl?: string;
  /** Bearer token and CA of the pod's service account, by default. */
  tokenFile?: string;
  caFile?: string;
  timeoutMs?: number;
}

const sliceList = z.object({
  items: z.array(
    z.object({
      addressType: z.string(),
      ports: z.array(z.object({ name: z.string().nullish(), port: z.number().int().min(1).max(65535).nullish() })).nullish(),
      endpoints: z
        .array(
          z.object({
            addresses: z.array(z.string().max(64)).max(100),
            conditions: z.object({ ready: z.boolean().nullish(), terminating: z.boolean().nullish() }).nullish(),
          }),
        )
        .nullish(),
    }),
  ),
});

/** Contact points from the Kubernetes API's EndpointSlices of a Service, read afresh at each call. */
export class KubernetesDiscovery implements Discovery {
  readonly description: string;

  constructor(private readonly opts: KubernetesDiscoveryOptions) {
    this.description = `kubernetes service ${opts.namespace ? `${opts.namespace}/` : ''}${opts.service}`;
  }

  async contacts(): Promise<string[]> {
    const namespace = this.opts.namespace ?? (await readFile(`${SERVICE_ACCOUNT}/namespace`, 'utf8').catch(() => 'default')).trim();
    const api = this.opts.apiUrl ?? inClusterApi();
    const url = new URL(
      `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${this.opts.service}`)}`,
      api,
    );
    const token = await readFile(this.opts.tokenFile ?? `${SERVICE_ACCOUNT}/token`, 'utf8').catch(() => null);
    const ca = url.protocol === 'https:' ? await readFile(this.opts.caFile ?? `${SERVICE_ACCOUNT}/ca.crt`).catch(() => undefined) : undefined;
    const body = await get(url, token?.trim() ?? null, ca, this.opts.timeoutMs ?? 5000, this.description);
    let parsed;
    try {
      parsed = sliceList.parse(JSON.parse(body));
    } catch (err) {
      throw new HorusError('ERR_PROTOCOL', `${this.description}: the API answered something that is not an EndpointSliceList`, { cause: err });
    }
    const portName = this.opts.portName ?? 'group';
    const includeNotReady = this.opts.includeNotReady ?? true;
    const out: string[] = [];
    for (const slice of parsed.items) {
      if (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') continue;
      const port = slice.ports?.find((p) => p.name === portName)?.port;
      if (!port) continue;
      for (const ep of slice.endpoints ?? []) {
        if (ep.conditions?.terminating === true) continue;
        if (!includeNotReady && ep.conditions?.ready === false) continue;
        for (const a of ep.addresses) out.push(endpointFor(a, port));
      }
    }
    return checkedContacts(out.sort(), this.description);
  }
}

function inClusterApi(): string {
  const host = process.env['KUBERNETES_SERVICE_HOST'];
  const port = process.env['KUBERNETES_SERVICE_PORT'] ?? '443';
  if (!host) throw new HorusError('ERR_CONFIG', 'Kubernetes discovery outside a pod needs apiUrl (KUBERNETES_SERVICE_HOST is not set)');
  return `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function get(url: URL, token: string | null, ca: Buffer | undefined, timeoutMs: number, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) headers['authorization'] = `Bearer ${token}`;
    const lib = url.protocol === 'https:' ? https : http;
    const req = lib.get(url, { headers, timeout: timeoutMs, ...(ca ? { ca } : {}) }, (res) => {
      let size = 0;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY_BYTES) {
          req.destroy(new HorusError('ERR_PROTOCOL', `${what}: answer larger than ${MAX_BODY_BYTES} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => {
        if (res.statusCode !== 200)
          reject(new HorusError('ERR_CONFIG', `${what}: the API answered ${res.statusCode} (${Buffer.concat(chunks).toString('utf8').slice(0, 200)})`));
        else resolve(Buffer.concat(chunks).toString('utf8'));
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new HorusError('ERR_TIMEOUT', `${what}: no answer from the API within ${timeoutMs} ms`)));
    req.on('error', (err) => reject(err instanceof HorusError ? err : new HorusError('ERR_CONFIG', `${what}: ${err.message}`, { cause: err })));
  });
}
