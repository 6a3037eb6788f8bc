// Start an example's members as real processes on loopback, and kill them with SIGKILL.
// Each member runs `<script> member <port> <seed endpoints...>` and prints `ready <member id>`
// once it is in the group; everything else it prints is echoed with its port as a prefix.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { pickFreePorts, scriptCommand } from '../../src/cli/spawn.js';

export interface Member {
  endpoint: string;
  /** Its member id in the group (`host:port/incarnation`), from its `ready` line. */
  id: string;
  proc: ChildProcess;
  /** kill -9. */
  kill(): void;
}

/** `onLine` hears every other line a member prints (they are echoed too). */
export type LineListener = (endpoint: string, line: string) => void;

export async function startMembers(script: string, count: number, onLine?: LineListener): Promise<Member[]> {
  const ports = await pickFreePorts(count);
  const endpoints = ports.map((p) => `127.0.0.1:${p}`);
  const members: Member[] = [];
  // One at a time: the first founds the group, the others join it through those before them.
  for (const [i, endpoint] of endpoints.entries()) members.push(await startMember(script, endpoint, endpoints.slice(0, i), onLine));
  return members;
}

export function startMember(script: string, endpoint: string, seeds: string[], onLine?: LineListener): Promise<Member> {
  const { command, args } = scriptCommand(script, ['member', endpoint, ...seeds]);
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`member ${endpoint} did not join within 60 s`)), 60_000);
    proc.once('exit', (code) => reject(new Error(`member ${endpoint} exited (${code}) before it joined`)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const ready = /^ready (\S+)/.exec(line);
      if (ready) {
        clearTimeout(timer);
        resolve({ endpoint, id: ready[1]!, proc, kill: () => proc.kill('SIGKILL') });
      } else {
        console.log(`  [${endpoint.split(':')[1]}] ${line}`);
        onLine?.(endpoint, line);
      }
    });
  });
}

export function stopAll(members: Member[]): void {
  for (const m of members) if (m.proc.exitCode === null) m.proc.kill('SIGTERM');
}
