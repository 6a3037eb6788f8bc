// Network namespaces for real-partition tests (root and iproute2 only).
//
// A lab is one hub namespace holding a bridge, and N host namespaces, each with an `eth0` veth whose
// peer is a port of that bridge, addressed 10.77.0.(i+1)/16. Nothing is created in the root namespace,
// so two labs (two test runs at once) cannot clash, whatever addresses they use.
//
// A cut between two hosts is a route on both sides. Mode 'sink' (default) routes the peer's /32 into
// a veth pair that leads nowhere, with a fixed neighbour entry, so packets leave and vanish: a SYN
// waits for its timeout and an open connection retransmits into the void, as across a real cut. Mode
// 'blackhole' is `ip route add blackhole <peer>/32`: segments vanish too, but the kernel refuses new
// local sends at once (connect() fails with EINVAL), which a real network never does.
//
// Names start with `hpt-<pid>-`: a lab left behind by a killed run is found by its dead pid and
// removed (its processes killed) when the next lab is created. Labs are also removed on exit and on
// SIGINT/SIGTERM.
import { execFile, execFileSync, spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';

const run = promisify(execFile);
const PREFIX = 'hpt-';
/** Where a cut host's packets go: never answered, never delivered. */
const SINK_MAC = '02:00:00:00:de:ad';

export type CutMode = 'sink' | 'blackhole';

export interface NetLabOptions {
  hosts: number;
  /** How a cut is made (see the file comment). */
  cut?: CutMode;
}

export interface LabHost {
  index: number;
  /** The namespace's name (for `ip netns exec`). */
  ns: string;
  /** Its address on the lab's bridge. */
  addr: string;
}

function ipPath(): string | null {
  for (const p of ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip']) {
    try {
      execFileSync(p, ['-V'], { stdio: 'ignore' });
      return p;
    } catch {
      // next
    }
  }
  return null;
}

const IP = ipPath();

/**
 * Why real-partition tests cannot run here (null: they can): not root, no iproute2, or namespaces
 * refused (a container without CAP_SYS_ADMIN).
 */
export function netnsUnavailable(): string | null {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'network namespaces need root (run as root, or in a VM/container where you are root)';
  if (IP === null) return "iproute2's `ip` command is not installed";
  const probe = `${PREFIX}${process.pid}-probe`;
  try {
    execFileSync(IP, ['netns', 'add', probe], { stdio: 'pipe' });
    execFileSync(IP, ['netns', 'del', probe], { stdio: 'pipe' });
  } catch (err) {
    return `cannot create a network namespace: ${(err as { stderr?: Buffer }).stderr?.toString().trim() ?? String(err)}`;
  }
  return null;
}

function ip(args: string[], input?: string): Promise<string> {
  const child = run(IP!, args, { maxBuffer: 1 << 20 });
  if (input !== undefined) {
    child.child.stdin!.end(input);
  }
  return child.then(
    (r) => r.stdout,
    (err: Error & { stderr?: string }) => {
      throw new Error(`ip ${args.join(' ')}: ${err.stderr?.trim() || err.message}${input ? `\n${input}` : ''}`);
    },
  );
}

/** Several `ip` commands in one namespace, one process (`ip -n NS -batch -`). */
function ipBatch(ns: string, lines: string[]): Promise<string> {
  if (lines.length === 0) return Promise.resolve('');
  return ip(['-n', ns, '-batch', '-'], lines.join('\n') + '\n');
}

/**
 * A long-lived `ip -n NS -force -batch -` in one namespace: a cut is a few lines written to it, not a
 * process spawned (which takes tens to hundreds of ms on a loaded machine), so all hosts get their
 * routes within a few ms of each other. Each run ends with a marker command whose output says the
 * lines before it were done; what they wrote on stderr is an error.
 */
class IpShell {
  private readonly p: ChildProcessByStdio<Writable, Readable, Readable>;
  private out = '';
  private err = '';
  private chain: Promise<void> = Promise.resolve();
  private waiter: (() => void) | null = null;
  private exited = false;

  constructor(readonly ns: string) {
    this.p = spawn(IP!, ['-n', ns, '-force', '-batch', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.p.stdout.setEncoding('utf8').on('data', (d: string) => {
      this.out += d;
      if (/^\d+: lo:/m.test(this.out)) {
        this.out = '';
        this.waiter?.();
      }
    });
    this.p.stderr.setEncoding('utf8').on('data', (d: string) => (this.err += d));
    this.p.on('exit', () => {
      this.exited = true;
      this.waiter?.();
    });
    this.p.stdin.on('error', () => {
      // the shell is gone: the next run() reports it
    });
  }

  run(lines: readonly string[]): Promise<void> {
    const next = this.chain.then(async () => {
      if (this.exited) throw new Error(`ip shell of ${this.ns} has exited: ${this.err}`);
      const done = new Promise<void>((resolve) => (this.waiter = resolve));
      this.p.stdin.write([...lines, 'link show dev lo'].join('\n') + '\n');
      await done;
      this.waiter = null;
      // stderr is another pipe: give an error written before the marker time to arrive.
      await new Promise((r) => setTimeout(r, 5));
      const err = this.err.trim();
      this.err = '';
      if (err !== '') throw new Error(`ip -n ${this.ns}: ${err}\n${lines.join('\n')}`);
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  close(): void {
    if (!this.exited) this.p.kill('SIGKILL');
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function listNetns(): string[] {
  if (IP === null) return [];
  const out = execFileSync(IP, ['netns', 'list'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n !== '');
}

/** SIGKILLs the processes inside the namespaces and deletes them (synchronous: usable on exit). */
function removeNamespacesSync(names: readonly string[]): void {
  if (IP === null || names.length === 0) return;
  for (const ns of names) {
    let pids: number[] = [];
    try {
      pids = execFileSync(IP, ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
    } catch {
      // already gone
    }
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
  }
  try {
    execFileSync(IP, ['-force', '-batch', '-'], { input: names.map((n) => `netns del ${n}`).join('\n') + '\n', stdio: ['pipe', 'ignore', 'ignore'] });
  } catch {
    // -force goes on past errors; what failed was already gone
  }
}

/** Removes labs whose creating process is dead (a run killed before its cleanup). Returns their names. */
export function removeStaleLabs(): string[] {
  const stale = listNetns().filter((n) => {
    const m = /^hpt-(\d+)-/.exec(n);
    return m !== null && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]));
  });
  removeNamespacesSync(stale);
  return stale;
}

const liveLabs = new Set<NetLab>();
let hooksInstalled = false;
function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const lab of liveLabs) lab.destroySync();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    // Whoever handles the signal first exits; our namespaces go in the 'exit' handler above.
    process.once(sig, () => process.exit(128 + (sig === 'SIGINT' ? 2 : 15)));
  }
}

let labCounter = 0;

export class NetLab {
  readonly hosts: LabHost[];
  readonly hub: string;
  readonly mode: CutMode;
  /** Pairs `a<b` whose traffic is cut, as `a,b`. */
  private readonly cuts = new Set<string>();
  private destroyed = false;
  private shells: IpShell[] = [];

  private constructor(name: string, hosts: number, mode: CutMode) {
    this.hub = `${name}-hub`;
    this.mode = mode;
    this.hosts = Array.from({ length: hosts }, (_, i) => ({ index: i, ns: `${name}-${i}`, addr: `10.77.${Math.floor((i + 1) / 256)}.${(i + 1) % 256}` }));
  }

  /** Creates the hub, the bridge and the hosts. Throws (after removing what it made) if `ip` fails. */
  static async create(opts: NetLabOptions): Promise<NetLab> {
    const why = netnsUnavailable();
    if (why !== null) throw new Error(why);
    removeStaleLabs();
    installHooks();
    const lab = new NetLab(`${PREFIX}${process.pid}-${labCounter++}`, opts.hosts, opts.cut ?? 'sink');
    liveLabs.add(lab);
    try {
      await ip(['netns', 'add', lab.hub]);
      await ipBatch(lab.hub, ['link set lo up', 'link add br0 type bridge', 'link set br0 up']);
      // Hosts one by one for the namespaces (cheap), then each host's links in one batch, in parallel.
      for (const h of lab.hosts) await ip(['netns', 'add', h.ns]);
      await Promise.all(
        lab.hosts.map(async (h) => {
          await ip(['link', 'add', 'eth0', 'netns', h.ns, 'type', 'veth', 'peer', 'name', `p${h.index}`, 'netns', lab.hub]);
          await ipBatch(h.ns, [
            'link set lo up',
            `addr add ${h.addr}/16 dev eth0`,
            'link set eth0 up',
            // The sink: a veth pair inside the host; what is routed into it reaches no one.
            'link add sink type veth peer name sinkp',
            'link set sink up',
            'link set sinkp up',
          ]);
          await ipBatch(lab.hub, [`link set p${h.index} master br0`, `link set p${h.index} up`]);
        }),
      );
      lab.shells = lab.hosts.map((h) => new IpShell(h.ns));
      await Promise.all(lab.shells.map((sh) => sh.run([])));
    } catch (err) {
      lab.destroySync();
      throw err;
    }
    return lab;
  }

  /** The command prefix that runs a program in host `i`'s namespace. */
  exec(i: number): string[] {
    return [IP!, 'netns', 'exec', this.hosts[i]!.ns];
  }

  get ipPath(): string {
    return IP!;
  }

  /** The pairs currently cut, as [a, b] with a < b. */
  cutPairs(): [number, number][] {
    return [...this.cuts].map((k) => k.split(',').map(Number) as [number, number]);
  }

  /**
   * Makes the network exactly this partition: hosts in different sets cannot reach each other; a host
   * in no set is alone. Hosts in one set can talk (cuts between them are healed).
   */
  async partition(sets: readonly (readonly number[])[]): Promise<void> {
    const side = new Map<number, number>();
    sets.forEach((s, k) => s.forEach((h) => side.set(h, k)));
    const want = new Set<string>();
    for (let a = 0; a < this.hosts.length; a++) {
      for (let b = a + 1; b < this.hosts.length; b++) {
        const sa = side.get(a) ?? -1 - a;
        const sb = side.get(b) ?? -1 - b;
        if (sa !== sb) want.add(`${a},${b}`);
      }
    }
    await this.apply(want);
  }

  /** Cuts every host in `a` from every host in `b` (other cuts stay). */
  async cut(a: readonly number[], b: readonly number[]): Promise<void> {
    const want = new Set(this.cuts);
    for (const x of a) for (const y of b) if (x !== y) want.add(x < y ? `${x},${y}` : `${y},${x}`);
    await this.apply(want);
  }

  /** Removes every cut. */
  async heal(): Promise<void> {
    await this.apply(new Set());
  }

  private routeLines(peer: number, add: boolean): string[] {
    const dst = `${this.hosts[peer]!.addr}/32`;
    if (this.mode === 'blackhole') return [`route ${add ? 'add' : 'del'} blackhole ${dst}`];
    if (!add) return [`route del ${dst} dev sink`];
    return [`neigh replace ${this.hosts[peer]!.addr} lladdr ${SINK_MAC} dev sink nud permanent`, `route add ${dst} dev sink`];
  }

  private async apply(want: Set<string>): Promise<void> {
    if (this.destroyed) throw new Error('the lab is destroyed');
    const perHost = new Map<number, string[]>();
    const push = (h: number, lines: string[]): void => {
      let l = perHost.get(h);
      if (l === undefined) perHost.set(h, (l = []));
      l.push(...lines);
    };
    for (const k of this.cuts) {
      if (want.has(k)) continue;
      const [a, b] = k.split(',').map(Number) as [number, number];
      push(a, this.routeLines(b, false));
      push(b, this.routeLines(a, false));
    }
    for (const k of want) {
      if (this.cuts.has(k)) continue;
      const [a, b] = k.split(',').map(Number) as [number, number];
      push(a, this.routeLines(b, true));
      push(b, this.routeLines(a, true));
    }
    // All hosts at once: the cut should land everywhere within a few milliseconds.
    await Promise.all([...perHost].map(([h, lines]) => this.shells[h]!.run(lines)));
    this.cuts.clear();
    for (const k of want) this.cuts.add(k);
  }

  /** Kills whatever runs in the namespaces and deletes them. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    liveLabs.delete(this);
    for (const sh of this.shells) sh.close();
    const mine = new Set([this.hub, ...this.hosts.map((h) => h.ns)]);
    removeNamespacesSync(listNetns().filter((n) => mine.has(n)));
  }

  async destroy(): Promise<void> {
    this.destroySync();
    await Promise.resolve();
  }
}
