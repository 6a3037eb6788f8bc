/**
 * Every command in the README's shell blocks is run by this test, as written, with two kinds of
 * reduction that keep the suite short: a simulator run of N seeds runs 1 seed, and a benchmark run
 * measures one case at a small scale. Long-running commands (the demo, a node) are started, used and
 * stopped with Ctrl-C. `npm test` is the one command not run here: it is the command that runs this.
 * A README command that no case below knows fails the test, so a new command needs its check.
 * The README's TypeScript block is type-checked against the package's public API.
 */
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { codeBlocks, shellLines } from '../helpers/markdown.js';
import { envFor } from '../unit/cli/helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const run = promisify(execFile);

/** Each command line of the README's shell blocks, without its trailing comment. */
function readmeCommands(): string[] {
  return shellLines(README);
}

interface Done {
  code: number | null;
  signal?: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a shell command line in `cwd` (as a user types it), with a time limit. */
function sh(line: string, cwd: string, timeoutMs = 240_000): Promise<Done> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', line], { cwd, env: envFor({}), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts a long-running command line; `until` resolves on a stdout match; `stop` sends Ctrl-C (SIGINT) to its process group. */
function startSh(line: string, cwd: string): { until: (re: RegExp, ms?: number) => Promise<string>; stop: () => Promise<Done> } {
  const child = spawn('bash', ['-c', `exec ${line}`], { cwd, env: envFor({}), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout.on('data', (b: Buffer) => {
    stdout += b.toString();
    for (const l of listeners) l();
  });
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const closed = new Promise<Done>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  started.push(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // Gone already.
    }
  });
  return {
    until: (re, ms = 60_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${re} within ${ms} ms from "${line}"; stdout: ${stdout}; stderr: ${stderr}`)), ms);
        const check = (): void => {
          const m = re.exec(stdout);
          if (m) {
            clearTimeout(timer);
            listeners.delete(check);
            resolve(m[0]);
          }
        };
        listeners.add(check);
        check();
      }),
    stop: async () => {
      process.kill(-child.pid!, 'SIGINT');
      return closed;
    },
  };
}

const started: (() => void)[] = [];

/** Ended by Ctrl-C as a terminal would: exit 0, or 130, or the signal itself (npm passes it on). */
function stoppedCleanly(r: Done): boolean {
  return r.code === 0 || r.code === 130 || r.signal === 'SIGINT';
}

/** The reductions: N seeds -> 1 seed; a benchmark run -> one small case. */
function reduced(line: string): string {
  let l = line.replace(/--seeds \d+/, '--seeds 1');
  if (/^npx horus bench$/.test(l)) l += ' --filter fbcast-3-rtt --scale 0.05';
  if (/^npm run bench$/.test(l)) l += ' -- --filter fbcast-3-rtt --scale 0.05';
  return l;
}

/** `a [--x 1] [--y p|q]`: the line with its optional parts, taking the first of each choice. */
function withOptions(line: string): string {
  return line.replace(/\[([^\]]+)\]/g, (_, inner: string) => inner.replace(/(\S+)\|\S+/g, '$1'));
}

/** `a|b` alternatives outside brackets (`--adversary stranger|member`): one line each. */
function alternatives(line: string): string[] {
  const m = /(\S+)\|(\S+)/.exec(line);
  if (!m || line.includes(' | ')) return [line];
  return [line.replace(m[0], m[1]!), line.replace(m[0], m[2]!)];
}

const checked = new Set<string>();
const check = (line: string): string => {
  checked.add(line);
  return line;
};

describe('the README', { timeout: 900_000 }, () => {
  // Commands run from the repository, as a user of a checkout would; the demo writes its state file there.
  const repo = ROOT;
  after(() => {
    for (const kill of started) kill();
    rmSync(join(repo, '.horus', 'demo.json'), { force: true });
  });

  const commands = readmeCommands();

  it('has a check for every command it shows', () => {
    assert.ok(commands.length >= 10, `found ${commands.length} commands`);
    // Filled by the cases below; verified in the last case.
  });

  it('npm ci && npm start: the demo starts, prints its dashboard, and Ctrl-C stops it', async () => {
    const line = check(commands.find((c) => c.includes('npm start'))!);
    assert.equal(line, 'npm ci && npm start');
    const demo = startSh('npm start', repo);
    await demo.until(/dashboard[^\n]*http:\/\/127\.0\.0\.1:\d+\//i, 90_000);
    const r = await demo.stop();
    assert.ok(stoppedCleanly(r), `npm start ended with ${r.code ?? r.signal}: ${r.stderr}`);
  });

  it('npx horus --help', async () => {
    const r = await sh(check('npx horus --help'), repo);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Usage: horus/);
  });

  it('npx horus demo, then kv put/get, status, groups and view against it', async () => {
    const demoLine = check(commands.find((c) => c.startsWith('npx horus demo'))!);
    const demo = startSh(withOptions(demoLine) + ' --port 0', repo);
    await demo.until(/dashboard[^\n]*http:\/\/127\.0\.0\.1:\d+\//i, 90_000);
    const kvLine = check(commands.find((c) => c.startsWith('npx horus kv'))!);
    const kv = await sh(kvLine, repo);
    assert.equal(kv.code, 0, kv.stderr);
    assert.match(kv.stdout, /^blue$/m);
    const queries = check(commands.find((c) => c.startsWith('npx horus status'))!);
    // `status | groups | view orders` lists three commands; against the demo the group is kv.
    for (const q of ['npx horus status', 'npx horus groups', 'npx horus view kv']) {
      const r = await sh(q, repo);
      assert.equal(r.code, 0, `${q} (from "${queries}"): ${r.stderr}`);
    }
    const r = await demo.stop();
    assert.ok(stoppedCleanly(r), `demo ended with ${r.code ?? r.signal}: ${r.stderr}`);
  });

  it('npx horus node ... --join orders (with the example config), then status, groups and view orders', async () => {
    const nodeLine = check(commands.find((c) => c.startsWith('npx horus node'))!);
    // The example config names the admin port too; without it the node takes the default, which the queries use.
    const plain = nodeLine.replace(/\s*\[--config [^\]]+\]/, '');
    // The queries must find this node, not a demo an earlier case left a state file for.
    rmSync(join(repo, '.horus', 'demo.json'), { force: true });
    const node = startSh(plain, repo);
    await node.until(/group orders: view \d+/, 60_000);
    for (const q of ['npx horus status', 'npx horus groups', 'npx horus view orders']) {
      const r = await sh(q, repo);
      assert.equal(r.code, 0, `${q}: ${r.stderr}`);
      assert.match(r.stdout, /orders|node/);
    }
    const r = await node.stop();
    assert.ok(stoppedCleanly(r), `node ended with ${r.code ?? r.signal}: ${r.stderr}`);
    // With the example config as well: its groups join too, and its admin port answers.
    const conf = JSON.parse(readFileSync(join(repo, 'conf/node.example.json'), 'utf8')) as { admin: string; groups: { name: string }[] };
    const full = startSh(withOptions(nodeLine), repo);
    await full.until(/group orders: view \d+/, 60_000);
    const groups = await sh(`npx horus groups --admin ${conf.admin}`, repo);
    assert.equal(groups.code, 0, groups.stderr);
    for (const g of [...conf.groups.map((x) => x.name), 'orders']) assert.match(groups.stdout, new RegExp(`^${g} `, 'm'));
    assert.ok(stoppedCleanly(await full.stop()));
  });

  it('every simulator command (1 seed each) ends with its summary and 0 violations', async () => {
    for (const line of commands.filter((c) => c.includes('sim '))) {
      check(line);
      for (const alt of alternatives(withOptions(line))) {
        const r = await sh(reduced(alt), repo);
        assert.equal(r.code, 0, `${alt}: ${r.stderr}`);
        assert.match(r.stdout, /sim: \d+ seeds?, 0 violations|history hash [0-9a-f]+/, alt);
      }
    }
  });

  it('the benchmark commands print JSON (one small case)', async () => {
    for (const line of commands.filter((c) => c.includes('bench'))) {
      check(line);
      const r = await sh(reduced(line), repo);
      assert.equal(r.code, 0, `${line}: ${r.stderr}`);
      const json = r.stdout.slice(r.stdout.indexOf('{'));
      assert.doesNotThrow(() => JSON.parse(json), `${line} printed JSON`);
    }
  });

  it('npx tsx examples/trading/run.ts', async () => {
    const r = await sh(check(commands.find((c) => c.includes('examples/trading'))!), repo);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /view: /);
  });

  it('the TypeScript example type-checks against the public API', async () => {
    const [block] = codeBlocks(README, 'ts');
    assert.ok(block, 'the README has a TypeScript block');
    // The example uses an application's ledger; declare its shape, import the package's source.
    const prelude = 'declare const ledger: { snapshot(): unknown; restore(s: unknown): void; apply(p: unknown): void; balance(q: unknown): unknown };\n';
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    const dir = mkdtempSync(join(ROOT, 'test-results', 'readme-ts-'));
    try {
      writeFileSync(join(dir, 'example.ts'), prelude + block.replace("from 'horus'", "from '../../src/index.js'") + '\nexport {};\n');
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ extends: '../../tsconfig.json', compilerOptions: { noEmit: true }, include: ['example.ts'] }));
      await run(process.execPath, [TSC, '-p', dir]).catch((e: { stdout?: string }) =>
        assert.fail(`the README's TypeScript does not type-check:\n${e.stdout ?? ''}`),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ran every README command but npm test (which runs this)', () => {
    const missing = commands.filter((c) => !checked.has(c) && c !== 'npm test');
    assert.deepEqual(missing, [], 'README commands without a check here');
  });
});
