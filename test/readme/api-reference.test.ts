// The API reference builds from the public API's doc comments with no warning (an exported type
// that refers to one users cannot import, or a broken link, fails), and documents the main entries.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TYPEDOC = join(createRequire(import.meta.url).resolve('typedoc/package.json'), '../bin/typedoc');
const run = promisify(execFile);

describe('the API reference', () => {
  it('builds with TypeDoc without warnings and has pages for the node, the group, its events and errors', { timeout: 180_000 }, async () => {
    const out = mkdtempSync(join(tmpdir(), 'horus-api-'));
    try {
      await run(process.execPath, [TYPEDOC, '--out', out], { cwd: ROOT, maxBuffer: 16 << 20 }).catch((e: { stdout?: string; stderr?: string }) =>
        assert.fail(`typedoc failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`),
      );
      for (const page of [
        'functions/createNode.html',
        'classes/HorusNode.html',
        'classes/Group.html',
        'interfaces/GroupEventMap.html',
        'classes/HorusError.html',
      ])
        assert.ok(existsSync(join(out, page)), `${page} is in the reference`);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
