// Real processes over TCP with pki: two nodes form group `g` whose join list names them; a third node
// with a valid certificate from the same CA, not on the list, asks to join. Its join fails with
// ERR_ACCESS_DENIED, and the group sees nothing: no view change at either member.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { signCertificate, writeCertificate } from '../../src/security/certificate.js';
import { writeKeyPair } from '../../src/security/keys.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/acl-node.ts', import.meta.url));
type Line = { ev: string; [k: string]: unknown };

class Proc {
  readonly lines: Line[] = [];
  private readonly child: ChildProcessWithoutNullStreams;
  constructor(args: unknown) {
    this.child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.child.stdout }).on('line', (l) => this.lines.push(JSON.parse(l) as Line));
    this.child.stderr.on('data', (d: Buffer) => process.stderr.write(d));
  }
  async wait(ev: string | ((l: Line) => boolean), ms = 60_000): Promise<Line> {
    const end = performance.now() + ms;
    const ok = typeof ev === 'string' ? (x: Line) => x.ev === ev : ev;
    for (;;) {
      const l = this.lines.find(ok);
      if (l !== undefined) return l;
      if (performance.now() > end) throw new Error(`no ${String(ev)} within ${ms} ms: ${JSON.stringify(this.lines)}`);
      await sleep(20);
    }
  }
  stop(): void {
    this.child.stdin.end();
  }
}

describe('ACL across real processes (pki over TCP)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'horus-acl-'));
  const procs: Proc[] = [];
  after(() => {
    for (const p of procs) p.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a node with a valid certificate that the join list refuses gets ERR_ACCESS_DENIED; the group sees no view change', { timeout: 120_000 }, async () => {
    const ca = await writeKeyPair(join(dir, 'ca.key'));
    const files = async (name: string): Promise<{ key: string; cert: string; ca: string }> => {
      const k = await writeKeyPair(join(dir, `${name}.key`));
      const cert = signCertificate({
        subject: name,
        nodeKey: k.publicKey,
        endpoints: ['127.0.0.1:*'],
        issuer: 'test-ca',
        issuerKey: ca.privateKey,
        validDays: 1,
      });
      await writeCertificate(join(dir, `${name}.cert`), cert);
      return { key: join(dir, `${name}.key`), cert: join(dir, `${name}.cert`), ca: join(dir, 'ca.key.pub') };
    };
    const acl = { join: [{ name: 'a' }, { name: 'b' }] };
    const a = new Proc({ ...(await files('a')), seeds: [], acl, create: true });
    procs.push(a);
    const aEp = (await a.wait('listening')).endpoint as string;
    await a.wait('joined');
    const b = new Proc({ ...(await files('b')), seeds: [aEp], acl, create: false });
    procs.push(b);
    const bJoined = await b.wait('joined');
    assert.equal((bJoined.members as string[]).length, 2);
    const twoId = (await a.wait((l) => l.ev === 'view' && (l.members as string[]).length === 2)).id as number;
    const x = new Proc({ ...(await files('x')), seeds: [aEp], acl, create: false });
    procs.push(x);
    const xEp = (await x.wait('listening')).endpoint as string;
    const refused = await x.wait('refused');
    assert.equal(refused.code, 'ERR_ACCESS_DENIED', String(refused.message));
    await sleep(500);
    for (const p of [a, b]) {
      const views = p.lines.filter((l) => l.ev === 'view');
      assert.ok(
        views.every((v) => (v.id as number) <= twoId && !(v.members as string[]).some((m) => m.startsWith(xEp))),
        `no view change after the two-member view: ${JSON.stringify(views)}`,
      );
    }
  });
});
