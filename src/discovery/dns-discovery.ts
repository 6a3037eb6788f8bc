import { Resolver } from 'node:dns/promises';
import { HorusError } from '../core/errors.js';
import { checkedContacts, endpointFor, type Discovery } from './discovery.js';

export interface DnsDiscoveryOptions {
  /**
   * `srv`: SRV records of `name` give hosts and ports (`_horus._tcp.horus.default.svc.cluster.local`);
   * `a`: the A and AAAA records of `name` give addresses, all on `port` (a Kubernetes headless
   * service lists every pod, ready or not when it publishes not-ready addresses).
   */
  kind: 'srv' | 'a';
  name: string;
  /** With kind 'a': the port every contact listens on. */
  port?: number;
  /** DNS servers (`ip` or `ip:port`) instead of the system's; tests use a local one. */
  servers?: string[];
  /** Per query; a server that does not answer in time is an error for this round. */
  timeoutMs?: number;
}

/** Contact points from DNS, read afresh at each call. */
export class DnsDiscovery implements Discovery {
  readonly description: string;
  private readonly resolver: Resolver;

  constructor(private readonly opts: DnsDiscoveryOptions) {
    if (opts.kind === 'a' && (opts.port === undefined || !Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535)) {
      throw new HorusError('ERR_CONFIG', `DNS discovery of A/AAAA records for ${opts.name} needs a port (1-65535)`);
    }
    this.description = `dns-${opts.kind} ${opts.name}`;
    this.resolver = new Resolver({ timeout: opts.timeoutMs ?? 2000, tries: 2 });
    if (opts.servers) this.resolver.setServers(opts.servers);
  }

  async contacts(): Promise<string[]> {
    try {
      if (this.opts.kind === 'srv') {
        const records = await this.resolver.resolveSrv(this.opts.name);
        // Lower priority first, then heavier weight: the order seeds are asked in.
        records.sort((a, b) => a.priority - b.priority || b.weight - a.weight || a.name.localeCompare(b.name) || a.port - b.port);
        const out: string[] = [];
        for (const r of records) for (const host of await this.addresses(r.name)) out.push(endpointFor(host, r.port));
        return checkedContacts(out, this.description);
      }
      const hosts = await this.addresses(this.opts.name);
      return checkedContacts(
        hosts.map((h) => endpointFor(h, this.opts.port!)),
        this.description,
      );
    } catch (err) {
      if (err instanceof HorusError) throw err;
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new HorusError('ERR_CONFIG', `${this.description}: ${code} (${(err as Error).message})`, { cause: err });
    }
  }

  /** A and AAAA records of `host`, sorted; a name with neither is skipped, not an error (a pod going away). */
  private async addresses(host: string): Promise<string[]> {
    const [v4, v6] = await Promise.all([this.resolver.resolve4(host).catch(notFound), this.resolver.resolve6(host).catch(notFound)]);
    return [...v4.sort(), ...v6.sort()];
  }
}

function notFound(err: NodeJS.ErrnoException): string[] {
  if (err.code === 'ENOTFOUND' || err.code === 'ENODATA') return [];
  throw err;
}
