import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FileDiscovery } from '../../../src/discovery/file-discovery.js';
import { StaticDiscovery } from '../../../src/discovery/discovery.js';

describe('file and static discovery', () => {
  const dir = mkdtempSync(join(tmpdir(), 'horus-disc-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file of lines (comments, blanks, repeats ignored) and sees it change', async () => {
    const f = join(dir, 'contacts.txt');
    writeFileSync(f, '# the seeds\n10.0.0.1:7001\n\n10.0.0.2:7001  # second\n10.0.0.1:7001\n');
    const d = new FileDiscovery(f);
    assert.deepEqual(await d.contacts(), ['10.0.0.1:7001', '10.0.0.2:7001']);
    writeFileSync(f, '["10.0.0.3:7001"]');
    assert.deepEqual(await d.contacts(), ['10.0.0.3:7001']);
  });

  it('reads a directory with one file per node, in name order, skipping hidden files', async () => {
    const d = join(dir, 'nodes');
    mkdirSync(d);
    writeFileSync(join(d, 'b'), '10.0.0.2:7001\n');
    writeFileSync(join(d, 'a'), '10.0.0.1:7001\n');
    writeFileSync(join(d, '.c.tmp'), '10.0.0.3:7001\n');
    assert.deepEqual(await new FileDiscovery(d).contacts(), ['10.0.0.1:7001', '10.0.0.2:7001']);
  });

  it('names the file and the bad line when a contact is malformed, and says when the file is missing', async () => {
    const f = join(dir, 'bad.txt');
    writeFileSync(f, '10.0.0.1:7001\nnot-an-endpoint\n');
    await assert.rejects(new FileDiscovery(f).contacts(), /file .*bad\.txt: "not-an-endpoint" is not a HOST:PORT/);
    await assert.rejects(new FileDiscovery(join(dir, 'missing')).contacts(), /ENOENT/);
  });

  it('static seeds are checked once and answered as given', async () => {
    assert.deepEqual(await new StaticDiscovery(['h:1', 'h:2', 'h:1']).contacts(), ['h:1', 'h:2']);
    assert.throws(() => new StaticDiscovery(['h']), /not a HOST:PORT/);
  });
});
