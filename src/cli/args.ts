import { InvalidArgumentError } from 'commander';
import { parseEndpoint } from '../core/node-id.js';
import { isLoopbackHost } from '../dashboard/http-util.js';

/** Commander argument parsers: each throws InvalidArgumentError, which commander turns into a usage error. */

export function intIn(lo: number, hi: number): (v: string) => number {
  return (v) => {
    const x = Number(v);
    if (v.trim() === '' || !Number.isInteger(x) || x < lo || x > hi) throw new InvalidArgumentError(`expected an integer from ${lo} to ${hi}.`);
    return x;
  };
}

export function numberIn(lo: number, hi: number): (v: string) => number {
  return (v) => {
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x) || x < lo || x > hi) throw new InvalidArgumentError(`expected a number from ${lo} to ${hi}.`);
    return x;
  };
}

export function endpointArg(opts: { portZero?: boolean; loopback?: boolean } = {}): (v: string) => string {
  return (v) => {
    let ep;
    try {
      ep = parseEndpoint(v);
    } catch {
      throw new InvalidArgumentError('expected HOST:PORT, e.g. 127.0.0.1:7001.');
    }
    if (ep.port === 0 && !opts.portZero) throw new InvalidArgumentError('the port must be from 1 to 65535.');
    if (opts.loopback && !isLoopbackHost(ep.host)) throw new InvalidArgumentError('must be a loopback address (127.0.0.1, ::1 or localhost).');
    return v;
  };
}

/** Comma-separated endpoints; repeating the option adds to the list. */
export function endpointList(v: string, prev: string[] | undefined): string[] {
  const parse = endpointArg();
  const items = v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(parse);
  return [...(prev ?? []), ...items];
}

export function collect(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), v];
}

/** An admin/demo address as a base URL: `HOST:PORT` or `http://HOST:PORT[/]`, loopback only. */
export function baseUrlArg(v: string): string {
  const withScheme = /^https?:\/\//.test(v) ? v : `http://${v}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new InvalidArgumentError('expected HOST:PORT or http://HOST:PORT.');
  }
  if (u.protocol !== 'http:' || u.port === '' || u.pathname.replace(/\/+$/, '') !== '' || u.search !== '')
    throw new InvalidArgumentError('expected HOST:PORT or http://HOST:PORT.');
  if (!isLoopbackHost(u.hostname)) throw new InvalidArgumentError('must be a loopback address (127.0.0.1, ::1 or localhost).');
  return `http://${u.host}/`;
}
