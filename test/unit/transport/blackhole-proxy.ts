// A loopback TCP proxy that can behave like a blackhole route for established connections: while cut,
// it forwards nothing (bytes are held, as unacknowledged data waits in a sender's kernel); after a heal,
// each held stream resumes only at its next TCP retransmission, as a real connection in retransmission
// back-off does. Streams that held nothing pass through at once, so a fresh connection made after the
// heal works right away. It cannot drop a SYN (it accepts every connection): a dial made during a cut
// completes its TCP handshake and only its data is held, as when a cut falls just after the SYN-ACK.
// SYN loss is modelled by the stopped listener of transport-syn-blackhole.test.ts.
import net from 'node:net';

/** Linux's minimum retransmission timeout for data; each retransmission doubles it. */
const DATA_RTO_MS = 200;

/** One direction of one proxied connection. */
class Pipe {
  held: Buffer[] = [];
  /** When the first held byte arrived (its first transmission was lost); -1 while nothing is held. */
  heldSince = -1;
  resumeTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly proxy: BlackholeProxy,
    readonly to: net.Socket,
  ) {}

  push(chunk: Buffer): void {
    if (!this.proxy.isCut && this.held.length === 0) {
      this.to.write(chunk);
      return;
    }
    if (this.heldSince < 0) this.heldSince = performance.now();
    this.held.push(chunk);
    if (!this.proxy.isCut) this.scheduleResume();
  }

  /** After a heal: the held bytes go at the first retransmission time not before now. */
  scheduleResume(): void {
    if (this.held.length === 0 || this.resumeTimer !== null) return;
    const rto = DATA_RTO_MS;
    const now = performance.now();
    // Retransmissions go at heldSince + rto * (2^k - 1), k = 1, 2, ...: the back-off doubles each time.
    let k = 1;
    while (this.heldSince + rto * (2 ** k - 1) < now) k++;
    const at = this.heldSince + rto * (2 ** k - 1);
    this.resumeTimer = setTimeout(() => {
      this.resumeTimer = null;
      if (this.proxy.isCut) return; // cut again before the retransmission: stays held
      const bytes = Buffer.concat(this.held);
      this.held = [];
      this.heldSince = -1;
      this.to.write(bytes);
      this.proxy.resumed.push({ bytes: bytes.length, afterHealMs: performance.now() - this.proxy.healedAt });
    }, at - now);
  }

  drop(): void {
    if (this.resumeTimer !== null) clearTimeout(this.resumeTimer);
    this.resumeTimer = null;
    this.held = [];
  }
}

export class BlackholeProxy {
  isCut = false;
  healedAt = 0;
  /** Held streams that resumed after a heal: how many bytes, how long after the heal. */
  readonly resumed: { bytes: number; afterHealMs: number }[] = [];
  /** Connections accepted so far, and the clients of those still open. */
  accepted = 0;
  readonly clients = new Set<net.Socket>();
  private readonly pipes = new Set<Pipe>();
  private readonly sockets = new Set<net.Socket>();
  /** Connections whose client closed while bytes were held: their far end learns at the heal. */
  private readonly closeAtHeal = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<BlackholeProxy> {
    const server = net.createServer({ noDelay: true });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new BlackholeProxy(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (client) => proxy.accept(client, targetHost, targetPort));
    return proxy;
  }

  /** The route goes: nothing is forwarded from now on, in either direction. */
  cut(): void {
    this.isCut = true;
  }

  /** The route is back: new bytes flow, held streams resume at their next retransmission. */
  heal(): void {
    this.isCut = false;
    this.healedAt = performance.now();
    for (const s of this.closeAtHeal) s.destroy();
    this.closeAtHeal.clear();
    for (const p of this.pipes) p.scheduleResume();
  }

  async close(): Promise<void> {
    for (const p of this.pipes) p.drop();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket, host: string, port: number): void {
    this.accepted++;
    this.clients.add(client);
    client.on('close', () => this.clients.delete(client));
    const upstream = net.connect({ host, port, noDelay: true });
    client.setNoDelay(true);
    const up = new Pipe(this, upstream);
    const down = new Pipe(this, client);
    for (const p of [up, down]) this.pipes.add(p);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('error', () => {});
    }
    client.on('data', (chunk: Buffer) => up.push(chunk));
    upstream.on('data', (chunk: Buffer) => down.push(chunk));
    // A side that closes across a cut: its reset is lost, and what it had in flight with it. The far
    // end hears of it once the route is back (its next retransmission draws a reset).
    const closed = (to: net.Socket, pipe: Pipe): void => {
      if (this.isCut || pipe.held.length > 0) {
        pipe.drop();
        this.closeAtHeal.add(to);
      } else {
        to.destroy();
      }
    };
    client.on('close', () => closed(upstream, up));
    upstream.on('close', () => closed(client, down));
    const forget = (): void => {
      if (!client.destroyed || !upstream.destroyed) return;
      this.pipes.delete(up);
      this.pipes.delete(down);
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('close', forget);
    upstream.on('close', forget);
  }
}
