// A small replicated file store in the style of Deceit (the seed's section 1.6): every replica holds
// every file; a read is served by whichever replica is asked, from its own copy; writes go through
// the group's total order (safe delivery: a write is acknowledged once every replica holds it), so
// all replicas apply them in one order; a replica that crashes and restarts catches up by state
// transfer as it rejoins. Three replica processes; this process writes and reads through them,
// kills one with SIGKILL in the middle of the writes, restarts it, and checks every replica ends
// with the same files, each at the version its last write gave it.
// Run: npx tsx examples/replicated-files/run.ts
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createNode, ReplicatedMap, type Group, type HorusNode } from '../../src/index.js';
import { startMember, startMembers, stopAll } from '../shared/members.js';

/** One file: its bytes (base64, so any content travels as a string) and how many writes it has seen. */
interface FileEntry {
  data: string;
  version: number;
}

type Request = { read: string } | { digest: true } | { list: true };

/** A replica: the replicated map of files, and read requests answered from the local copy. */
class FileStore {
  private constructor(readonly files: ReplicatedMap<FileEntry>) {}

  static async open(node: HorusNode): Promise<FileStore> {
    const store = new FileStore(await ReplicatedMap.join<FileEntry>(node, 'files'));
    store.group.onCall((req) => store.serve(req.payload as Request));
    return store;
  }

  get group(): Group {
    return this.files.group;
  }

  /** Write `path`: ordered with every other write, at every replica, before it resolves. */
  async write(path: string, content: string): Promise<void> {
    // The version is decided in the total order: a read-modify-write retried until no write came between.
    for (;;) {
      const old = this.files.get(path) as FileEntry | undefined;
      const next: FileEntry = { data: Buffer.from(content).toString('base64'), version: (old?.version ?? 0) + 1 };
      if (old === undefined) {
        if (!this.files.has(path)) {
          await this.files.set(path, next, { safe: true });
          return;
        }
        continue;
      }
      if (await this.files.compareAndSet(path, old, next, { safe: true })) return;
    }
  }

  private serve(req: Request): unknown {
    if ('read' in req) {
      const f = this.files.get(req.read) as FileEntry | undefined;
      return f ? { content: Buffer.from(f.data, 'base64').toString(), version: f.version } : null;
    }
    if ('digest' in req) return digest(this.files.entries());
    return this.files.keys().sort();
  }
}

function digest(entries: [string, FileEntry][]): string {
  const h = createHash('sha256');
  for (const [k, v] of [...entries].sort(([a], [b]) => (a < b ? -1 : 1))) h.update(`${k}\0${v.version}\0${v.data}\n`);
  return h.digest('hex').slice(0, 16);
}

if (process.argv[2] === 'member') {
  const [endpoint, ...seeds] = process.argv.slice(3);
  const node = await createNode({ listen: endpoint!, seeds });
  const store = await FileStore.open(node);
  console.log(`ready ${store.group.localId} with ${store.files.size} files`);
} else {
  const script = fileURLToPath(import.meta.url);
  const members = await startMembers(script, 3);
  const node = await createNode({ listen: '127.0.0.1:0', seeds: members.map((m) => m.endpoint) });
  const writer = await FileStore.open(node);
  const expected = new Map<string, { content: string; version: number }>();
  const write = async (path: string, content: string): Promise<void> => {
    await writer.write(path, content);
    expected.set(path, { content, version: (expected.get(path)?.version ?? 0) + 1 });
  };

  // 40 writes to 10 files; replica 2 is killed after the 15th and restarted after the 30th.
  let restarted = members[1]!;
  for (let i = 0; i < 40; i++) {
    if (i === 15) {
      console.log(`kill -9 replica ${members[1]!.id}`);
      members[1]!.kill();
    }
    if (i === 30) {
      restarted = await startMember(script, members[1]!.endpoint, [members[0]!.endpoint]);
      console.log(`replica restarted as ${restarted.id}`);
    }
    await write(`/docs/file-${i % 10}.txt`, `revision ${Math.floor(i / 10)} of file ${i % 10}`);
  }

  // Reads from each replica, from its own copy; then every replica's digest.
  const replicas = [members[0]!, restarted, members[2]!];
  let ok = true;
  for (const r of replicas) {
    const got = (await writer.group.call(r.id, { read: '/docs/file-3.txt' })) as { content: string; version: number };
    const want = expected.get('/docs/file-3.txt')!;
    console.log(`replica ${r.id} reads /docs/file-3.txt: "${got.content}" (version ${got.version})`);
    ok &&= got.content === want.content && got.version === want.version;
  }
  const want = digest([...expected].map(([k, v]) => [k, { data: Buffer.from(v.content).toString('base64'), version: v.version }]));
  const digests = await Promise.all(replicas.map((r) => writer.group.call(r.id, { digest: true })));
  console.log(`digests: ${digests.join(' ')} (expected ${want})`);
  ok &&= digests.every((d) => d === want);
  console.log(`every replica, the restarted one included, holds the same files at the right versions: ${ok}`);
  await node.close();
  stopAll([...members, restarted]);
  process.exit(ok ? 0 : 1);
}
