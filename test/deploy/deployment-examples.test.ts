/**
 * The deployment examples (deploy/): the Kubernetes manifests parse, name the ports and probes the
 * node's arguments use, keep the admin endpoint private, and their container arguments really run:
 * three nodes started at once with the StatefulSet's arguments (pod IPs and DNS names mapped to
 * loopback addresses, since each pod has its own loopback and this machine has one) form one group
 * and all report ready on the probe port. The Dockerfile runs the packed package as a non-root user;
 * the image is built only where a container engine answers.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { resolveNodeConfig } from '../../src/cli/node-cmd.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN_TS = join(ROOT, 'src/cli/main.ts');
const run = promisify(execFile);

interface Container {
  name: string;
  image: string;
  args: string[];
  env?: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports: { name: string; containerPort: number }[];
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  securityContext?: { allowPrivilegeEscalation?: boolean };
}

interface Manifest {
  kind: string;
  metadata: { name: string };
  spec: Record<string, unknown>;
}

function manifests(): Manifest[] {
  const docs = parseAllDocuments(readFileSync(join(ROOT, 'deploy/kubernetes/horus.yaml'), 'utf8'));
  for (const d of docs) assert.deepEqual(d.errors, [], 'the manifest is valid YAML');
  return docs.map((d) => d.toJS() as Manifest);
}

/** The value after `flag` in an argument list. */
function argOf(args: readonly string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

describe('deployment examples', () => {
  const all = manifests();
  const service = all.find((m) => m.kind === 'Service')!;
  const set = all.find((m) => m.kind === 'StatefulSet')!;
  const pod = (set.spec as { template: { spec: { containers: Container[]; securityContext?: { runAsNonRoot?: boolean } } } }).template.spec;
  const container = pod.containers[0]!;
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) c.kill('SIGKILL');
  });

  it('the headless service publishes not-ready pods (a joiner must be found before it is ready) on the group port', () => {
    assert.ok(service && set, 'a Service and a StatefulSet');
    assert.equal(service.spec['clusterIP'], 'None');
    assert.equal(service.spec['publishNotReadyAddresses'], true);
    assert.equal(set.spec['serviceName'], service.metadata.name);
    const ports = service.spec['ports'] as { port: number; targetPort: string }[];
    assert.deepEqual(
      ports.map((p) => p.targetPort),
      ['group'],
      'only the group port is in the service: no admin, no health',
    );
  });

  it('the container arguments are a valid node configuration whose ports and probes agree with the manifest', () => {
    const args = container.args.map((a) => a.replace('$(POD_IP)', '10.0.0.5'));
    const cfg = resolveNodeConfig(
      {},
      {
        listen: argOf(args, '--listen')!,
        seeds: argOf(args, '--seeds')!.split(','),
        membership: argOf(args, '--membership') as 'dynamic',
        join: [argOf(args, '--join')!],
        health: argOf(args, '--health')!,
      },
    );
    assert.equal(cfg.membership, 'dynamic');
    const port = (name: string): number => container.ports.find((p) => p.name === name)!.containerPort;
    assert.equal(Number(cfg.listen.split(':')[1]), port('group'));
    assert.equal(Number(cfg.health!.split(':')[1]), port('health'));
    assert.deepEqual(container.livenessProbe.httpGet, { path: '/livez', port: 'health' });
    assert.deepEqual(container.readinessProbe.httpGet, { path: '/readyz', port: 'health' });
    assert.equal(container.env?.find((e) => e.name === 'POD_IP')?.valueFrom?.fieldRef?.fieldPath, 'status.podIP');
    const replicas = set.spec['replicas'] as number;
    assert.deepEqual(
      cfg.seeds,
      Array.from({ length: replicas }, (_, i) => `${set.metadata.name}-${i}.${service.metadata.name}:${port('group')}`),
      'the seeds are the pods of the set, by their stable DNS names',
    );
    // The admin endpoint keeps its loopback default: nothing in the arguments opens it.
    assert.equal(cfg.admin, '127.0.0.1:7070');
    assert.ok(!container.ports.some((p) => p.containerPort === 7070), 'the admin port is not a container port');
    assert.equal(pod.securityContext?.runAsNonRoot, true);
    assert.equal(container.securityContext?.allowPrivilegeEscalation, false);
  });

  it('the Dockerfile runs the packed package as the non-root node user, with the manifest ports', () => {
    const file = readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8');
    assert.match(file, /^RUN npm pack\b/m);
    assert.match(file, /^USER node$/m);
    assert.match(file, /^EXPOSE 7001 8080$/m);
    assert.match(file, /^ENTRYPOINT \["horus", "node"\]$/m);
  });

  it('three nodes started at once with the StatefulSet arguments form one group and all become ready', { timeout: 120_000 }, async () => {
    const replicas = set.spec['replicas'] as number;
    // Pod i: its IP and its DNS name map to 127.0.0.(21+i); it keeps its own loopback admin port.
    const ip = (i: number): string => `127.0.0.${21 + i}`;
    const procs = Array.from({ length: replicas }, (_, i) => {
      const args = container.args.map((a) =>
        a
          .replace('$(POD_IP)', ip(i))
          .replace(/horus-(\d+)\.horus/g, (_m, n: string) => ip(Number(n)))
          .replace('0.0.0.0:8080', `${ip(i)}:8080`),
      );
      const child = spawn(process.execPath, ['--import', 'tsx', MAIN_TS, 'node', ...args, '--admin', `${ip(i)}:7070`, '--log-level', 'warn'], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      return child;
    });
    const readyz = async (i: number): Promise<{ status: number; body: { ready: boolean } } | null> => {
      try {
        const r = await fetch(`http://${ip(i)}:8080/readyz`);
        return { status: r.status, body: (await r.json()) as { ready: boolean } };
      } catch {
        return null;
      }
    };
    const deadline = Date.now() + 90_000;
    for (;;) {
      const all = await Promise.all(procs.map((_, i) => readyz(i)));
      if (all.every((r) => r?.status === 200)) break;
      assert.ok(Date.now() < deadline, `not every pod became ready: ${JSON.stringify(all)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const views = await Promise.all(
      procs.map(async (_, i) => ((await (await fetch(`http://${ip(i)}:7070/api/groups/orders/view`)).json()) as { members: string[] }).members),
    );
    for (const v of views) assert.deepEqual(v, views[0], 'one group: every pod is in the same view');
    assert.equal(views[0]!.length, replicas);
  });

  it('the image builds where a container engine runs', async (t) => {
    const engine = await run('docker', ['info'], { timeout: 10_000 }).then(
      () => true,
      () => false,
    );
    if (!engine) return t.skip('no container engine answers `docker info` on this machine');
    await run('docker', ['build', '-f', 'deploy/Dockerfile', '-t', 'horus-test', '.'], { cwd: ROOT, timeout: 600_000, maxBuffer: 64 << 20 });
  });
});
