#!/usr/bin/env node
// The `horus` command. The installed package runs its built JavaScript (dist/); a source checkout,
// which has no build, runs the TypeScript through tsx (a dev dependency) so `npx horus` needs no build step.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import(new URL('../dist/cli/main.js', import.meta.url).href);
}
