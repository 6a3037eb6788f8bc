/**
 * The services a node runs (News, jobs, monitor, ...), so that the admin endpoint and the dashboard
 * can show each one without knowing it: a service registers a status function on its node and
 * unregisters it when it closes. Kept beside the node, not in it, so that the core stays free of services.
 */
import type { HorusNode } from '../api/node.js';

/** A service's status as JSON: small, plain data (the dashboard polls it). */
export type ServiceStatus = Record<string, unknown>;

export interface RegisteredService {
  /** The service's kind, e.g. `news`, `jobs`, `monitor`. */
  readonly kind: string;
  /** The group that carries it. */
  readonly group: string;
  status(): ServiceStatus;
}

const byNode = new WeakMap<HorusNode, Map<string, RegisteredService>>();

const keyOf = (s: Pick<RegisteredService, 'kind' | 'group'>): string => `${s.kind}\u0000${s.group}`;

/** Registers `service` on `node`; returns the function that unregisters it. */
export function registerService(node: HorusNode, service: RegisteredService): () => void {
  let services = byNode.get(node);
  if (!services) byNode.set(node, (services = new Map()));
  const key = keyOf(service);
  services.set(key, service);
  return () => {
    if (services.get(key) === service) services.delete(key);
  };
}

/** Every service running on `node`, each with its current status (a failing status reads as its error). */
export function servicesOf(node: HorusNode): { kind: string; group: string; status: ServiceStatus }[] {
  const out: { kind: string; group: string; status: ServiceStatus }[] = [];
  for (const s of byNode.get(node)?.values() ?? []) {
    let status: ServiceStatus;
    try {
      status = s.status();
    } catch (e) {
      status = { error: e instanceof Error ? e.message : String(e) };
    }
    out.push({ kind: s.kind, group: s.group, status });
  }
  return out;
}
