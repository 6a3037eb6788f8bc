import { HorusError } from '../core/errors.js';
import { parseEndpoint } from '../core/node-id.js';

/**
 * Where a node finds others to ask about groups (the name service's contact points). Each call
 * answers the contact points known now, as `host:port`; callers ask again from time to time, so a
 * source that changes (DNS records, a shared file, Kubernetes endpoints) is followed as members come
 * and go. A source that cannot be read rejects with a HorusError saying why; callers keep the last
 * good answer.
 */
export interface Discovery {
  /** What this source is, for logs and errors: `static`, `dns-srv _horus._tcp.example`, ... */
  readonly description: string;
  contacts(): Promise<string[]>;
}

/** Most contact points one answer may carry: a source is configuration, not a peer, but still bounded. */
export const MAX_CONTACTS = 1024;

/** The distinct, well-formed endpoints of `list`, in order, at most MAX_CONTACTS; a malformed one is an error naming its source. */
export function checkedContacts(list: readonly string[], source: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const raw of list) {
    const ep = raw.trim();
    if (ep === '' || seen.has(ep)) continue;
    try {
      parseEndpoint(ep);
    } catch {
      throw new HorusError('ERR_CONFIG', `${source}: ${JSON.stringify(ep)} is not a HOST:PORT contact point`);
    }
    seen.add(ep);
    out.push(ep);
    if (out.length >= MAX_CONTACTS) break;
  }
  return out;
}

/** A fixed list: the `seeds` of a node. */
export class StaticDiscovery implements Discovery {
  readonly description = 'static';
  private readonly list: string[];
  constructor(contacts: readonly string[]) {
    this.list = checkedContacts(contacts, 'static seeds');
  }
  contacts(): Promise<string[]> {
    return Promise.resolve([...this.list]);
  }
}

/** `host:port` with IPv6 hosts in brackets. */
export function endpointFor(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}
