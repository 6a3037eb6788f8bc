// `npm run build`: a clean dist/ with the ESM JavaScript and .d.ts files of src/, plus the dashboard's
// static files, which tsc does not copy. `npm pack` runs it (prepack), so the package is always fresh.
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
rmSync(`${root}dist`, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', `${root}tsconfig.build.json`], { stdio: 'inherit' });
cpSync(`${root}src/dashboard/public`, `${root}dist/dashboard/public`, { recursive: true });
