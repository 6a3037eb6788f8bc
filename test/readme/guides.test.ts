/**
 * The guides under docs/ are checked as the README is: every TypeScript block type-checks against
 * the public API; the getting-started program runs as three processes whose totals agree; every
 * `horus node` command in a shell block is a valid configuration (`--check`); and every other
 * `horus` command parses with the command's real option parser.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pickFreePorts } from '../../src/cli/spawn.js';
import { buildProgram } from '../../src/cli/program.js';
import { codeBlocks, shellLines } from '../helpers/markdown.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOCS = join(ROOT, 'docs');
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const TSX = createRequire(import.meta.url).resolve('tsx');
const MAIN_TS = join(ROOT, 'src/cli/main.ts');
const INDEX = join(ROOT, 'src/index.ts');
const run = promisify(execFile);

const guides = readdirSync(DOCS)
  .filter((f) => f.endsWith('.md'))
  .map((f) => ({ name: f, text: readFileSync(join(DOCS, f), 'utf8') }));

describe('the guides in docs/', { timeout: 300_000 }, () => {
  const children: ChildProcess[] = [];
  const work = join(ROOT, 'test-results');
  mkdirSync(work, { recursive: true });
  const dir = mkdtempSync(join(work, 'guides-'));
  after(() => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('every TypeScript block type-checks against the public API', async () => {
    const blocks = guides.flatMap((g) => codeBlocks(g.text, 'ts').map((code, i) => ({ file: `${g.name.replace('.md', '')}-${i}.ts`, code })));
    assert.ok(blocks.length > 0);
    for (const b of blocks) writeFileSync(join(dir, b.file), b.code.replaceAll("from 'horus'", "from '../../src/index.js'") + '\nexport {};\n');
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ extends: '../../tsconfig.json', compilerOptions: { noEmit: true }, include: blocks.map((b) => b.file) }),
    );
    await run(process.execPath, [TSC, '-p', dir]).catch((e: { stdout?: string }) =>
      assert.fail(`a guide's TypeScript does not type-check:\n${e.stdout ?? ''}`),
    );
  });

  it('the getting-started counter runs as three processes that agree on the totals', async () => {
    const guide = guides.find((g) => g.name === 'getting-started.md')!;
    const [program] = codeBlocks(guide.text, 'js');
    assert.ok(program);
    writeFileSync(join(dir, 'counter.mjs'), program.replace("from 'horus'", `from ${JSON.stringify(INDEX)}`));
    const shown = shellLines(guide.text).filter((l) => l.startsWith('node counter.mjs'));
    assert.equal(shown.length, 3, 'the guide starts three processes');
    // The guide's ports, moved to free ones: the same arguments otherwise.
    const ports = await pickFreePorts(3);
    const outputs: string[] = ['', '', ''];
    const start = (i: number): ChildProcess => {
      let line = shown[i]!;
      for (let k = 0; k < 3; k++) line = line.replaceAll(`127.0.0.1:${7001 + k}`, `127.0.0.1:${ports[k]}`);
      const child = spawn(process.execPath, ['--import', TSX, ...line.split(' ').slice(1)], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.on('data', (b: Buffer) => (outputs[i] += b.toString()));
      children.push(child);
      return child;
    };
    const totalsOf = (out: string): number[] => [...out.matchAll(/-> (\d+)$/gm)].map((m) => Number(m[1]));
    start(0);
    const until = async (cond: () => boolean, what: string): Promise<void> => {
      const end = Date.now() + 60_000;
      while (!cond()) {
        assert.ok(Date.now() < end, `${what}; outputs: ${JSON.stringify(outputs)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await until(() => /^view \d+: /m.test(outputs[0]!), 'the first process founds the group');
    start(1);
    start(2);
    await until(
      () => outputs.every((o) => /: \S+ \S+ \S+$/m.test(o)) && outputs.every((o) => totalsOf(o).length >= 4),
      'three members and a few additions each',
    );
    for (const c of children) c.kill('SIGINT');
    // Same order everywhere: each later joiner's totals are a run of the founder's, in order.
    const founder = totalsOf(outputs[0]!);
    for (const i of [1, 2]) {
      const mine = totalsOf(outputs[i]!);
      const at = founder.indexOf(mine[0]!);
      assert.ok(at >= 0, `joiner ${i}'s first total ${mine[0]} is one of the founder's ${founder.join(',')}`);
      const common = Math.min(mine.length, founder.length - at);
      assert.deepEqual(mine.slice(0, common), founder.slice(at, at + common), `joiner ${i} saw the founder's totals in order`);
    }
  });

  it('every `horus node` command in a guide is a valid configuration', async () => {
    const lines = guides.flatMap((g) =>
      shellLines(g.text)
        .filter((l) => l.startsWith('horus node'))
        .map((l) => ({ guide: g.name, line: l })),
    );
    assert.ok(lines.length > 0);
    for (const { guide, line } of lines) {
      const args = line.split(/\s+/).slice(1);
      const r = await run(process.execPath, ['--import', TSX, MAIN_TS, ...args, '--check'], { cwd: ROOT }).catch((e: { stderr?: string }) =>
        assert.fail(`${guide}: "${line}" is not a valid node configuration: ${e.stderr ?? ''}`),
      );
      assert.doesNotThrow(() => JSON.parse(r.stdout), `${guide}: "${line}" --check prints the configuration`);
    }
  });

  it('every other `horus` command in a guide parses: its command and options exist and its values are valid', async () => {
    const lines = guides.flatMap((g) => shellLines(g.text).filter((l) => /^horus (status|groups|view|demo|kv|sim|bench)\b/.test(l)));
    assert.ok(lines.length > 0);
    for (const line of lines) {
      // The real parser with every action replaced: what runs is only commander's checking.
      const program = buildProgram();
      let ran = false;
      const stub = (cmd: typeof program): void => {
        cmd.action(() => {
          ran = true;
        });
        for (const c of cmd.commands) stub(c);
      };
      for (const c of program.commands) stub(c);
      program.configureOutput({ writeErr: () => {}, writeOut: () => {} });
      await program.parseAsync(['node', 'horus', ...line.split(/\s+/).slice(1)]).catch((e: Error) => assert.fail(`"${line}" does not parse: ${e.message}`));
      assert.ok(ran, `"${line}" reaches a command`);
    }
  });
});
