import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeededRng } from '../../../src/core/rng.js';
import { Scheduler } from '../../../src/sim/scheduler.js';
import { DEFAULT_NETWORK_OPTIONS, SimNetwork, type NetEndpoint } from '../../../src/sim/sim-network.js';

function network(seed: number): SimNetwork {
  return new SimNetwork(
    new Scheduler(),
    { ...DEFAULT_NETWORK_OPTIONS },
    (label) => new SeededRng(seed).fork(label),
    () => {},
  );
}

function endpoint(ep: string, inc: string): NetEndpoint {
  return { id: `${ep}/${inc}`, endpoint: ep, status: 'up', open: true, receiver: () => null, hold: () => {}, peerEvent: () => {} };
}

describe('simulated network: identities', () => {
  it('each endpoint of the world has a key drawn from the seed, kept across incarnations; an intruder has none', () => {
    const a = network(7);
    a.register(endpoint('n1:7000', 'a'));
    a.register(endpoint('n2:7000', 'a'));
    const id1 = a.identityOf('n1:7000/a');
    assert.equal(id1?.mode, 'sim');
    assert.equal(id1?.name, 'n1:7000');
    assert.equal(Buffer.from(id1!.publicKey!, 'base64').length, 32);
    assert.notEqual(a.identityOf('n2:7000/a')?.publicKey, id1?.publicKey);
    a.register(endpoint('n1:7000', 'b'));
    assert.deepEqual(a.identityOf('n1:7000/b'), id1, 'a restart keeps its key');
    assert.equal(a.identityOf('evil:6666/x'), null, 'an intruder has no identity');
    a.register(endpoint('stranger:6666', '1'));
    a.withoutIdentity('stranger:6666');
    assert.equal(a.identityOf('stranger:6666/1'), null, 'a keyless node of the world has none either');
    // Same seed, same keys; another seed, other keys.
    const b = network(7);
    b.register(endpoint('n1:7000', 'z'));
    assert.deepEqual(b.identityOf('n1:7000/z'), id1);
    const c = network(8);
    c.register(endpoint('n1:7000', 'a'));
    assert.notEqual(c.identityOf('n1:7000/a')?.publicKey, id1?.publicKey);
  });
});
