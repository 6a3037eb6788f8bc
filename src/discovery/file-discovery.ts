import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HorusError } from '../core/errors.js';
import { checkedContacts, type Discovery } from './discovery.js';

/** Largest file read: contact points, not data. */
const MAX_FILE_BYTES = 1024 * 1024;

/**
 * Contact points from a shared file or directory, read afresh at each call. A file holds one
 * `host:port` per line (blank lines and `#` comments ignored) or a JSON array of them; a directory
 * holds one such file per node (each node writes its own file, e.g. on a shared volume), read in
 * name order. Hidden files (`.name`) are skipped, so a node can write `.tmp` and rename.
 */
export class FileDiscovery implements Discovery {
  readonly description: string;
  constructor(private readonly path: string) {
    this.description = `file ${path}`;
  }

  async contacts(): Promise<string[]> {
    let info;
    try {
      info = await stat(this.path);
    } catch (err) {
      throw new HorusError('ERR_CONFIG', `${this.description}: ${(err as NodeJS.ErrnoException).code ?? 'cannot read'}`, { cause: err });
    }
    if (!info.isDirectory()) return checkedContacts(await readList(this.path), this.description);
    const names = (await readdir(this.path)).filter((n) => !n.startsWith('.')).sort();
    const all: string[] = [];
    for (const n of names) {
      const p = join(this.path, n);
      if ((await stat(p)).isFile()) all.push(...(await readList(p)));
    }
    return checkedContacts(all, this.description);
  }
}

async function readList(file: string): Promise<string[]> {
  const info = await stat(file);
  if (info.size > MAX_FILE_BYTES) throw new HorusError('ERR_CONFIG', `file ${file}: ${info.size} bytes, more than a contact list (${MAX_FILE_BYTES})`);
  const text = await readFile(file, 'utf8');
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (err) {
      throw new HorusError('ERR_CONFIG', `file ${file}: not a JSON array of HOST:PORT strings (${(err as Error).message})`);
    }
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string'))
      throw new HorusError('ERR_CONFIG', `file ${file}: not a JSON array of HOST:PORT strings`);
    return parsed;
  }
  return text
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter((l) => l !== '');
}
