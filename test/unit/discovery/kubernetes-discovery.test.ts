// Kubernetes discovery against a small local stand-in for the API server's EndpointSlice list.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KubernetesDiscovery } from '../../../src/discovery/kubernetes-discovery.js';

describe('Kubernetes EndpointSlice discovery', () => {
  let server: http.Server;
  let api = '';
  let lastRequest: { url: string; auth: string | undefined } | null = null;
  let answer: unknown = {};
  const dir = mkdtempSync(join(tmpdir(), 'horus-k8s-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 'secret-token\n');

  before(async () => {
    server = http.createServer((req, res) => {
      lastRequest = { url: req.url ?? '', auth: req.headers.authorization };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(typeof answer === 'string' ? answer : JSON.stringify(answer));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const slice = (endpoints: { addresses: string[]; conditions?: { ready?: boolean; terminating?: boolean } }[], port = 7001) => ({
    addressType: 'IPv4',
    ports: [
      { name: 'group', port },
      { name: 'health', port: 8080 },
    ],
    endpoints,
  });

  it('lists the group port of every endpoint, not-ready ones included, terminating ones not, with the service account token', async () => {
    answer = {
      items: [
        slice([
          { addresses: ['10.1.0.2'], conditions: { ready: true } },
          { addresses: ['10.1.0.1'], conditions: { ready: false } },
        ]),
        slice([{ addresses: ['10.1.0.3'], conditions: { ready: true, terminating: true } }]),
      ],
    };
    const d = new KubernetesDiscovery({ service: 'horus', namespace: 'prod', apiUrl: api, tokenFile });
    assert.deepEqual(await d.contacts(), ['10.1.0.1:7001', '10.1.0.2:7001']);
    assert.equal(lastRequest!.auth, 'Bearer secret-token');
    assert.equal(lastRequest!.url, '/apis/discovery.k8s.io/v1/namespaces/prod/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dhorus');
    const readyOnly = new KubernetesDiscovery({ service: 'horus', namespace: 'prod', apiUrl: api, tokenFile, includeNotReady: false });
    assert.deepEqual(await readyOnly.contacts(), ['10.1.0.2:7001']);
  });

  it('refuses an answer that is not an EndpointSliceList', async () => {
    answer = '{"items": "nope"}';
    await assert.rejects(new KubernetesDiscovery({ service: 'horus', namespace: 'x', apiUrl: api, tokenFile }).contacts(), /not an EndpointSliceList/);
  });

  it('outside a pod, without apiUrl, says what it needs', async () => {
    const saved = process.env['KUBERNETES_SERVICE_HOST'];
    delete process.env['KUBERNETES_SERVICE_HOST'];
    try {
      await assert.rejects(new KubernetesDiscovery({ service: 'horus', namespace: 'x' }).contacts(), /needs apiUrl/);
    } finally {
      if (saved !== undefined) process.env['KUBERNETES_SERVICE_HOST'] = saved;
    }
  });
});
