import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HorusError } from '../../../src/core/errors.js';
import { DnsDiscovery } from '../../../src/discovery/dns-discovery.js';
import { TestDnsServer } from '../../helpers/dns-server.js';

describe('DNS discovery against a local DNS server', () => {
  let dns: TestDnsServer;
  before(async () => {
    dns = await TestDnsServer.start();
  });
  after(() => dns.close());

  it('reads SRV records (hosts resolved to addresses, lower priority first) and follows changes', async () => {
    dns.srv.set('_horus._tcp.svc.test', [
      { target: 'b.svc.test', port: 7002, priority: 10 },
      { target: 'a.svc.test', port: 7001, priority: 0 },
    ]);
    dns.a.set('a.svc.test', ['10.0.0.1']);
    dns.a.set('b.svc.test', ['10.0.0.2']);
    const d = new DnsDiscovery({ kind: 'srv', name: '_horus._tcp.svc.test', servers: [dns.address] });
    assert.deepEqual(await d.contacts(), ['10.0.0.1:7001', '10.0.0.2:7002']);
    // A member comes, one goes: the next call sees it (no caching beyond the records' 1 s TTL in tests).
    dns.srv.set('_horus._tcp.svc.test', [
      { target: 'b.svc.test', port: 7002 },
      { target: 'c.svc.test', port: 7003 },
    ]);
    dns.a.set('c.svc.test', ['10.0.0.3']);
    assert.deepEqual(new Set(await d.contacts()), new Set(['10.0.0.2:7002', '10.0.0.3:7003']));
  });

  it('reads A and AAAA records of a headless service with one port, IPv6 in brackets', async () => {
    dns.a.set('horus.svc.test', ['10.0.1.2', '10.0.1.1']);
    dns.aaaa.set('horus.svc.test', ['fd00::1']);
    const d = new DnsDiscovery({ kind: 'a', name: 'horus.svc.test', port: 7001, servers: [dns.address] });
    assert.deepEqual(await d.contacts(), ['10.0.1.1:7001', '10.0.1.2:7001', '[fd00::1]:7001']);
  });

  it('skips a SRV target with no address (a pod going away) and answers nothing for an unknown name', async () => {
    dns.srv.set('_gone._tcp.svc.test', [{ target: 'nowhere.svc.test', port: 7001 }]);
    const d = new DnsDiscovery({ kind: 'srv', name: '_gone._tcp.svc.test', servers: [dns.address] });
    assert.deepEqual(await d.contacts(), []);
    const unknown = new DnsDiscovery({ kind: 'a', name: 'unknown.svc.test', port: 1, servers: [dns.address] });
    assert.deepEqual(await unknown.contacts(), []);
  });

  it('says which source failed when the server does not answer', async () => {
    const d = new DnsDiscovery({ kind: 'srv', name: '_horus._tcp.svc.test', servers: ['127.0.0.1:1'], timeoutMs: 200 });
    await assert.rejects(d.contacts(), (e: unknown) => e instanceof HorusError && /dns-srv _horus\._tcp\.svc\.test/.test(e.message));
  });

  it('needs a port for A records', () => {
    assert.throws(() => new DnsDiscovery({ kind: 'a', name: 'x' }), /needs a port/);
  });
});
