import { ConfigError } from '../core/errors.js';
import { DnsDiscovery } from './dns-discovery.js';
import type { Discovery } from './discovery.js';
import { FileDiscovery } from './file-discovery.js';
import { KubernetesDiscovery } from './kubernetes-discovery.js';

export const DISCOVERY_FORMS = 'dns-srv:NAME, dns-a:NAME:PORT, file:PATH, k8s:[NAMESPACE/]SERVICE[:PORT_NAME]';

/** A discovery source from its one-string form (the CLI's --discovery, the config file's "discovery"). */
export function parseDiscovery(spec: string): Discovery {
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const rest = colon < 0 ? '' : spec.slice(colon + 1);
  const bad = (why: string): never => {
    throw new ConfigError(`discovery ${JSON.stringify(spec)}: ${why} (forms: ${DISCOVERY_FORMS})`);
  };
  switch (kind) {
    case 'dns-srv':
      if (rest === '') bad('needs a DNS name');
      return new DnsDiscovery({ kind: 'srv', name: rest });
    case 'dns-a': {
      const at = rest.lastIndexOf(':');
      const port = Number(rest.slice(at + 1));
      if (at <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) bad('needs NAME:PORT');
      return new DnsDiscovery({ kind: 'a', name: rest.slice(0, at), port });
    }
    case 'file':
      if (rest === '') bad('needs a path');
      return new FileDiscovery(rest);
    case 'k8s': {
      const m = /^(?:([a-z0-9-]+)\/)?([a-z0-9-]+)(?::([a-z0-9-]+))?$/.exec(rest);
      if (!m) bad('needs [NAMESPACE/]SERVICE[:PORT_NAME] in lower-case DNS labels');
      return new KubernetesDiscovery({ service: m![2]!, ...(m![1] ? { namespace: m![1] } : {}), ...(m![3] ? { portName: m![3] } : {}) });
    }
    default:
      return bad(`unknown kind ${JSON.stringify(kind)}`);
  }
}
