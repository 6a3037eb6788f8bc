/**
 * What a user installs: `npm pack` builds the package (prepack), the tarball is installed into a
 * fresh project, and from there
 * - three plain `node` processes (no tsx, no TypeScript) form one group by name and abcast;
 * - `require('horus')` works from CommonJS;
 * - a TypeScript consumer type-checks against the shipped .d.ts with strict settings that broke on
 *   the source tree (exactOptionalPropertyTypes, noUnusedLocals, erasableSyntaxOnly);
 * - the `horus` bin runs from the built JavaScript;
 * and the tarball carries no tests, benchmarks or CI files.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pickFreePorts } from '../../src/cli/spawn.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** A member: joins `pkg` through the others, abcasts its name, prints what it delivered as JSON. */
const MEMBER_MJS = `
import { createNode } from 'horus';
const [listen, ...seeds] = process.argv.slice(2);
const node = await createNode({ listen, seeds });
const group = await node.join('pkg');
const got = [];
group.on('message', (m) => got.push(m.payload));
console.log(JSON.stringify({ ready: listen }));
const wantViewOf3 = () => group.view && group.view.members.length === 3;
while (!wantViewOf3()) await new Promise((r) => setTimeout(r, 20));
await group.abcast('from ' + listen);
while (got.length < 3) await new Promise((r) => setTimeout(r, 20));
console.log(JSON.stringify({ done: listen, got }));
await node.close();
`;

const CONSUMER_TS = `
import { createNode, HorusError, type View } from 'horus';
const node = await createNode({ listen: '127.0.0.1:0' });
const group = await node.join('typed');
group.on('view', (v: View) => console.log(v.id, v.members.length));
// Every event's payload is typed without annotations.
group.on('message', (m) => console.log(m.sender, m.viewId, m.order, m.id, m.payload, m.raw.length));
group.on('blocked', (b) => console.log(b.reason === 'minority', b.error?.code));
group.on('unblocked', () => console.log('unblocked'));
group.on('excluded', (e) => console.log(e.attempt, e.rejoinDelayMs, e.type === 'EXCLUDED' ? e.viewId : e.error.code));
group.on('merged', (m) => console.log(m.was.id, m.joined.members.length));
group.on('error', (e) => console.log(e.code));
group.once('left', () => console.log('left'));
for await (const ev of group) {
  console.log(ev.type === 'view' ? ev.view.id : ev.message.sender);
  break;
}
try {
  await group.abcast({ amount: 1 }, { safe: true });
} catch (e) {
  if (e instanceof HorusError) console.log(e.code);
}
await node.close();
`;

const STRICT_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    exactOptionalPropertyTypes: true,
    noUnusedLocals: true,
    noUnusedParameters: true,
    erasableSyntaxOnly: true,
    noEmit: true,
    types: ['node'],
    typeRoots: [join(ROOT, 'node_modules/@types')],
  },
  include: ['consumer.ts'],
};

function startMember(dir: string, listen: string, seeds: string[]): { child: ChildProcess; lines: Promise<string[]> } {
  const child = spawn(process.execPath, ['member.mjs', listen, ...seeds], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const lines = new Promise<string[]>((resolve, reject) => {
    child.on('exit', (code) => (code === 0 ? resolve(out.split('\n').filter(Boolean)) : reject(new Error(`member ${listen} exited ${code}: ${err}`))));
  });
  return { child, lines };
}

async function waitForLine(child: ChildProcess, text: string, timeoutMs: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no "${text}" within ${timeoutMs} ms`)), timeoutMs);
    child.stdout!.on('data', (b: Buffer) => {
      seen += b.toString();
      if (seen.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

describe('the packed npm package', { timeout: 240_000 }, () => {
  let work = '';
  let app = '';
  let tarball = '';
  const children: ChildProcess[] = [];

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'horus-pack-'));
    const { stdout } = await run(NPM, ['pack', '--silent', '--pack-destination', work], { cwd: ROOT, maxBuffer: 16 << 20 });
    tarball = join(work, stdout.trim().split('\n').pop()!);
    app = join(work, 'app');
    await run('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true }));
    await run(NPM, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: app, maxBuffer: 16 << 20 });
  });

  after(() => {
    for (const c of children) c.kill('SIGKILL');
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ships the built code, its types, the dashboard files, README and LICENSE, and no tests, benchmarks or CI files', () => {
    const pkg = join(app, 'node_modules/horus');
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'dist/dashboard/public/index.html', 'bin/horus.mjs', 'README.md', 'LICENSE'])
      assert.ok(existsSync(join(pkg, f)), `${f} is in the package`);
    for (const f of ['test', 'bench', '.ci', 'src', 'tsconfig.json', 'eslint.config.js']) assert.ok(!existsSync(join(pkg, f)), `${f} is not in the package`);
    assert.ok(!existsSync(join(app, 'node_modules/tsx')), 'tsx is not installed for users (the package runs as JavaScript)');
    assert.ok(
      !readdirSync(join(pkg, 'dist'), { recursive: true }).some((f) => String(f).endsWith('.ts') && !String(f).endsWith('.d.ts')),
      'no TypeScript source in dist',
    );
  });

  it('three plain node processes form one group from the installed package and deliver the same abcasts in one order', async () => {
    writeFileSync(join(app, 'member.mjs'), MEMBER_MJS);
    const ports = await pickFreePorts(3);
    const addrs = ports.map((p) => `127.0.0.1:${p}`);
    // The first founds the group; the others start once it is there (one group per name is issue #9's).
    const first = startMember(app, addrs[0]!, addrs.slice(1));
    children.push(first.child);
    await waitForLine(first.child, '"ready"', 30_000);
    const rest = addrs.slice(1).map((a) =>
      startMember(
        app,
        a,
        addrs.filter((b) => b !== a),
      ),
    );
    children.push(...rest.map((r) => r.child));
    const outputs = await Promise.all([first, ...rest].map((m) => m.lines));
    const delivered = outputs.map((lines) => (JSON.parse(lines.find((l) => l.includes('"done"'))!) as { got: string[] }).got);
    assert.equal(delivered[0]!.length, 3);
    assert.deepEqual(new Set(delivered[0]), new Set(addrs.map((a) => `from ${a}`)));
    for (const d of delivered) assert.deepEqual(d, delivered[0], 'every member delivered the abcasts in one order');
  });

  it('loads with require() from CommonJS', async () => {
    writeFileSync(join(app, 'load.cjs'), "const h = require('horus'); console.log(typeof h.createNode, typeof h.HorusError);");
    const { stdout } = await run(process.execPath, ['load.cjs'], { cwd: app });
    assert.equal(stdout.trim(), 'function function');
  });

  it('type-checks a strict TypeScript consumer against the shipped declarations, and rejects a wrong one', async () => {
    writeFileSync(join(app, 'consumer.ts'), CONSUMER_TS);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(STRICT_TSCONFIG));
    await run(process.execPath, [TSC, '-p', '.'], { cwd: app });
    // Wrong uses, one per line: each must be an error of its own.
    const wrong = [
      ['node.nonexistent();', /consumer\.ts\(\d+,\d+\): error TS2339: Property 'nonexistent' does not exist on type 'HorusNode'/],
      ["group.on('view', (v) => v.nonexistent);", /error TS2339: Property 'nonexistent' does not exist on type 'View'/],
      ["group.on('message', (m) => m.nonexistent);", /error TS2339: Property 'nonexistent' does not exist on type 'Delivery'/],
      ["group.on('blocked', (b) => b.reason === 'tired');", /error TS2367: This comparison appears to be unintentional/],
      ["group.on('veiw', (v: View) => v.id);", /error TS2769: No overload matches this call/],
    ] as const;
    writeFileSync(join(app, 'consumer.ts'), CONSUMER_TS + '\n' + wrong.map(([line]) => line).join('\n') + '\n');
    const failed = await run(process.execPath, [TSC, '-p', '.'], { cwd: app }).then(
      () => assert.fail('the wrong consumer type-checked'),
      (e: { stdout?: string }) => e.stdout ?? '',
    );
    for (const [line, error] of wrong) assert.match(failed, error, `"${line}" must not compile:\n${failed}`);
    assert.equal(failed.match(/error TS/g)?.length, wrong.length, failed);
  });

  it('runs the horus command from the built JavaScript', async () => {
    const { stdout } = await run(process.execPath, [join(app, 'node_modules/horus/bin/horus.mjs'), '--version'], { cwd: app });
    assert.match(stdout.trim(), /^\d+\.\d+\.\d+/);
  });
});
