// A small authoritative DNS server on loopback UDP for tests: answers SRV, A and AAAA queries from a
// record table the test changes while it runs (members come and go). Encoding by dns-packet.
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import dnsPacket, { type Answer } from 'dns-packet';

export interface SrvRecord {
  target: string;
  port: number;
  priority?: number;
  weight?: number;
}

export class TestDnsServer {
  readonly srv = new Map<string, SrvRecord[]>();
  readonly a = new Map<string, string[]>();
  readonly aaaa = new Map<string, string[]>();
  queries = 0;

  private constructor(
    private readonly socket: dgram.Socket,
    readonly address: string,
  ) {}

  static async start(): Promise<TestDnsServer> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const { port } = socket.address() as AddressInfo;
    const server = new TestDnsServer(socket, `127.0.0.1:${port}`);
    socket.on('message', (msg, rinfo) => server.answer(msg, rinfo));
    return server;
  }

  private answer(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    let q;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      return;
    }
    this.queries++;
    const answers: Answer[] = [];
    let known = false;
    for (const question of q.questions ?? []) {
      const name = question.name.toLowerCase();
      known ||= this.srv.has(name) || this.a.has(name) || this.aaaa.has(name);
      if (question.type === 'SRV')
        for (const r of this.srv.get(name) ?? [])
          answers.push({ type: 'SRV', name, ttl: 1, data: { target: r.target, port: r.port, priority: r.priority ?? 0, weight: r.weight ?? 0 } });
      if (question.type === 'A') for (const ip of this.a.get(name) ?? []) answers.push({ type: 'A', name, ttl: 1, data: ip });
      if (question.type === 'AAAA') for (const ip of this.aaaa.get(name) ?? []) answers.push({ type: 'AAAA', name, ttl: 1, data: ip });
    }
    const reply = dnsPacket.encode({
      type: 'response',
      id: q.id,
      // NXDOMAIN (rcode 3) for names we do not know: the resolver says ENOTFOUND.
      flags: dnsPacket.AUTHORITATIVE_ANSWER | (known ? 0 : 3),
      questions: q.questions,
      answers,
    });
    this.socket.send(reply, rinfo.port, rinfo.address);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
