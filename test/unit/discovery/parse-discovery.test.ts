import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDiscovery } from '../../../src/discovery/parse-discovery.js';

describe('discovery specs', () => {
  it('reads each form', () => {
    assert.equal(parseDiscovery('dns-srv:_horus._tcp.example').description, 'dns-srv _horus._tcp.example');
    assert.equal(parseDiscovery('dns-a:horus.default.svc:7001').description, 'dns-a horus.default.svc');
    assert.equal(parseDiscovery('file:/etc/horus/contacts').description, 'file /etc/horus/contacts');
    assert.equal(parseDiscovery('k8s:prod/horus:group').description, 'kubernetes service prod/horus');
    assert.equal(parseDiscovery('k8s:horus').description, 'kubernetes service horus');
  });

  it('says what is wrong and which forms exist', () => {
    assert.throws(() => parseDiscovery('dns-a:horus'), /needs NAME:PORT.*forms: dns-srv/);
    assert.throws(() => parseDiscovery('consul:x'), /unknown kind "consul"/);
    assert.throws(() => parseDiscovery('k8s:Bad_Name'), /DNS labels/);
    assert.throws(() => parseDiscovery('file:'), /needs a path/);
  });
});
