import net from 'node:net';
import { fileURLToPath } from 'node:url';

/** True when this module runs as built JavaScript (the installed package), false under tsx (a checkout). */
const BUILT = import.meta.url.endsWith('.js');

/** The CLI entry point: main.js in the package, main.ts in a checkout. */
export const MAIN_SCRIPT = fileURLToPath(new URL(BUILT ? './main.js' : './main.ts', import.meta.url));

/** Absolute, so children resolve tsx whatever their working directory. Only a checkout needs it (tsx is a dev dependency). */
function tsxLoader(): string {
  return import.meta.resolve('tsx');
}

/** `node [--import tsx] <script> ...args`: TypeScript scripts go through tsx, JavaScript runs as it is. */
export function scriptCommand(script: string, args: readonly string[]): { command: string; args: string[] } {
  if (script.endsWith('.ts')) return { command: process.execPath, args: ['--import', tsxLoader(), script, ...args] };
  return { command: process.execPath, args: [script, ...args] };
}

/** `horus ...args` as a child process of this one. */
export function horusCommand(args: readonly string[]): { command: string; args: string[] } {
  return scriptCommand(MAIN_SCRIPT, args);
}

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/**
 * `count` distinct free ports below Linux's ephemeral range (32768+), so that outgoing connections
 * of other programs cannot take them between this check and the member's bind. Ascending.
 */
export async function pickFreePorts(count: number, host = '127.0.0.1', lo = 20000, hi = 32000): Promise<number[]> {
  const chosen = new Set<number>();
  for (let tries = 0; chosen.size < count; tries++) {
    if (tries > count * 50) throw new Error(`could not find ${count} free ports on ${host} in ${lo}..${hi}`);
    const p = lo + Math.floor(Math.random() * (hi - lo));
    if (chosen.has(p)) continue;
    if (await canBind(host, p)) chosen.add(p);
  }
  return [...chosen].sort((a, b) => a - b);
}
