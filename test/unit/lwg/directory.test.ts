import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LwgDirectory, LwgRefused, type LwgChange } from '../../../src/lwg/directory.js';

const A = 'a:1/1';
const B = 'b:1/1';
const C = 'c:1/1';

function installs(out: LwgChange[]): Extract<LwgChange, { kind: 'install' }>[] {
  return out.filter((c): c is Extract<LwgChange, { kind: 'install' }> => c.kind === 'install');
}

describe('LwgDirectory: the mapping of light-weight groups onto the heavy-weight group', () => {
  it('a first joiner founds the group at view 1 at once, with nobody to flush', () => {
    const d = new LwgDirectory();
    const out: LwgChange[] = [];
    d.join(A, A, ['doc'], true, out);
    assert.equal(out.length, 1);
    const [c] = installs(out);
    assert.deepEqual(c!.entry.members, [A]);
    assert.equal(c!.entry.viewId, 1);
    assert.deepEqual(c!.providers, []);
  });

  it('a join to a group with members starts a flush; the last acknowledgement installs the next view', () => {
    const d = new LwgDirectory();
    d.join(A, A, ['doc'], true, []);
    let out: LwgChange[] = [];
    d.join(B, B, ['doc'], true, out);
    assert.deepEqual(
      out.map((c) => c.kind),
      ['flush'],
    );
    // B's join started a flush already: C's waits in it (A alone acknowledges).
    out = [];
    d.join(C, C, ['doc'], true, out);
    assert.deepEqual(out, []);
    const e = d.named('doc')!;
    assert.equal(e.viewId, 1);
    out = [];
    d.flushOk(A, [e.id, 1], [A, B, C], out);
    const [c] = installs(out);
    assert.equal(c!.entry.viewId, 2);
    assert.deepEqual(c!.entry.members, [A, B, C]);
    assert.deepEqual([...c!.joiners.keys()], [B, C]);
    assert.deepEqual(c!.providers, [A]);
    // Both joiners wait for their state; once they have it they hold it too.
    assert.deepEqual([...e.awaitingState!.keys()], [B, C]);
    d.stateOk(B, [e.id, 2]);
    d.stateOk(C, [e.id, 2]);
    assert.equal(e.awaitingState, null);
  });

  it('an HWG view change ends every flush and drops the members outside it, at one cut', () => {
    const d = new LwgDirectory();
    d.join(A, A, ['x', 'y'], false, []);
    d.join(B, B, ['x'], false, []);
    d.flushOk(A, [d.named('x')!.id, 1], [A, B], []);
    d.join(C, C, ['y'], false, []); // y flushes, waiting for A
    const out: LwgChange[] = [];
    d.hwgView([B, C], out);
    const byName = new Map(installs(out).map((c) => [c.entry.name, c]));
    assert.deepEqual(byName.get('x')!.entry.members, [B]);
    // A's acknowledgement never came, but the HWG's view change is a flush of everything: C is in, A out.
    assert.deepEqual(byName.get('y')!.entry.members, [C]);
    assert.equal(d.named('y')!.flush, null);
  });

  it('joining a group costs no HWG view: the HWG view is never an input of a join', () => {
    const d = new LwgDirectory();
    for (let i = 0; i < 1000; i++) d.join(A, A, [`g${i}`], false, []);
    const out: LwgChange[] = [];
    d.join(
      B,
      B,
      Array.from({ length: 1000 }, (_, i) => `g${i}`),
      false,
      out,
    );
    assert.equal(out.length, 1000);
    const pairs = [...d.entries()].flatMap((e) => [e.id, e.viewId]);
    const done: LwgChange[] = [];
    d.flushOk(A, pairs, [A, B], done);
    assert.equal(installs(done).length, 1000);
    for (const e of d.entries()) assert.deepEqual(e.members, [A, B]);
    // 1000 groups of the same two members share one member list.
    assert.equal(new Set([...d.entries()].map((e) => e.members)).size, 1);
  });

  it('a leave flushes too; a group whose members all left is founded anew by its next joiner, its view ids going on', () => {
    const d = new LwgDirectory();
    d.join(A, A, ['doc'], true, []);
    const id = d.named('doc')!.id;
    const out: LwgChange[] = [];
    d.leave(A, [id], out);
    assert.equal(out[0]!.kind, 'flush');
    d.flushOk(A, [id, 1], [A], out);
    assert.deepEqual(d.named('doc')!.members, []);
    assert.equal(d.named('doc')!.viewId, 2);
    const again: LwgChange[] = [];
    d.join(B, B, ['doc'], true, again);
    assert.equal(installs(again)[0]!.entry.viewId, 3);
    assert.deepEqual(installs(again)[0]!.providers, []);
  });

  it('when every holder of the state is gone, the members still waiting for it found the group anew', () => {
    const d = new LwgDirectory();
    d.join(A, A, ['doc'], true, []);
    const e = d.named('doc')!;
    d.join(B, B, ['doc'], true, []);
    d.flushOk(A, [e.id, 1], [A, B], []);
    assert.deepEqual([...e.awaitingState!.keys()], [B]);
    const out: LwgChange[] = [];
    d.hwgView([B], out); // A fails before B has the state
    const [c] = installs(out);
    assert.deepEqual(c!.entry.members, [B]);
    assert.deepEqual([...c!.joiners], [[B, false]]);
    assert.deepEqual(c!.providers, []);
    assert.equal(e.awaitingState, null);
  });

  it('refuses a join on behalf of another member, and leaves and acknowledgements for unknown groups', () => {
    const d = new LwgDirectory();
    assert.throws(
      () => d.join(A, B, ['doc'], false, []),
      (e: unknown) => e instanceof LwgRefused && e.reason === 'forged-member',
    );
    assert.equal(d.size, 0);
    assert.throws(
      () => d.leave(A, [42], []),
      (e: unknown) => e instanceof LwgRefused && e.reason === 'unknown-lwg',
    );
    assert.throws(
      () => d.flushOk(A, [42, 1], [A], []),
      (e: unknown) => e instanceof LwgRefused && e.reason === 'unknown-lwg',
    );
    d.join(A, A, ['doc'], false, []);
    d.join(B, B, ['doc'], false, []);
    // C was not asked to acknowledge A's view: refused, and the flush still waits for A.
    assert.throws(
      () => d.flushOk(C, [d.named('doc')!.id, 1], [A, B, C], []),
      (e: unknown) => e instanceof LwgRefused && e.reason === 'unexpected-flush-ok',
    );
    assert.notEqual(d.named('doc')!.flush, null);
  });

  it('refuses groups past maxGroups', () => {
    const d = new LwgDirectory(2);
    assert.throws(
      () => d.join(A, A, ['a', 'b', 'c'], false, []),
      (e: unknown) => e instanceof LwgRefused && e.reason === 'too-many-groups',
    );
    assert.equal(d.size, 2);
  });

  it('a snapshot restores to the same table (flushes and waiting joiners included); a forged one is refused whole', () => {
    const d = new LwgDirectory();
    d.join(A, A, ['x', 'y'], true, []);
    d.join(B, B, ['x'], true, []);
    d.flushOk(A, [d.named('x')!.id, 1], [A, B], []);
    d.join(C, C, ['y'], true, []);
    const copy = new LwgDirectory();
    copy.restore(structuredClone(d.snapshot()));
    assert.deepEqual(copy.snapshot(), d.snapshot());
    const bad = new LwgDirectory();
    assert.throws(() => bad.restore([1, [[5, 'x', 1, [A], null]]]), /past the next id/);
    assert.throws(() => bad.restore([9, [[1, 'x'.repeat(500), 1, [A], null]]]), /over the 200-byte limit/);
    assert.throws(() => bad.restore('junk'), /not a list/);
    assert.equal(bad.size, 0);
  });
});
