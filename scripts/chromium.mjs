// Where the dashboard's browser test finds Chromium, and how `npm test` gets it there (scripts/pretest.mjs).
// The browser test drives Debian's chromium with playwright-core, which downloads no browser itself.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** The browser the dashboard test drives: Debian's package puts it here. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** What to run to get it, as a user who is not root types it. */
export const INSTALL_COMMAND = 'sudo apt-get update && sudo apt-get install -y chromium';

/** The line the browser test skips with (and pretest prints) when the browser is missing. */
export function missingMessage(path = CHROMIUM_PATH) {
  return `${path} is missing, so the dashboard browser test is skipped; to run it, install Debian's chromium: ${INSTALL_COMMAND} (as root: apt-get install -y chromium), then run npm test again`;
}

/**
 * Why the browser test cannot run here, or null when it can. With HORUS_REQUIRE_BROWSER=1 (.ci/run)
 * it is never skipped: a missing browser fails the test instead.
 */
export function browserSkipReason(env = process.env, path = CHROMIUM_PATH) {
  if (existsSync(path) || env.HORUS_REQUIRE_BROWSER === '1') return null;
  return missingMessage(path);
}

function hasCommand(name) {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Makes sure Chromium is there: nothing to do if it is; installed with apt-get when this process
 * may (root, apt-get present, not turned off by HORUS_NO_BROWSER_INSTALL=1); otherwise says exactly
 * what to run. Returns 'present' | 'installed' | 'missing'. Every effect is injectable for tests.
 */
export function ensureChromium({
  path = CHROMIUM_PATH,
  env = process.env,
  exists = existsSync,
  isRoot = typeof process.getuid === 'function' && process.getuid() === 0,
  hasAptGet = () => hasCommand('apt-get'),
  run = (cmd, args, extraEnv) => execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...extraEnv } }),
  log = (line) => process.stdout.write(`${line}\n`),
} = {}) {
  if (exists(path)) return 'present';
  if (env.HORUS_NO_BROWSER_INSTALL !== '1' && isRoot && hasAptGet()) {
    log(`pretest: ${path} is missing; installing Debian's chromium for the dashboard browser test (apt-get install -y chromium)`);
    try {
      run('apt-get', ['update', '-qq'], {});
      run('apt-get', ['install', '-y', '-qq', 'chromium'], { DEBIAN_FRONTEND: 'noninteractive' });
    } catch (err) {
      log(`pretest: apt-get could not install chromium (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
    }
    if (exists(path)) return 'installed';
  }
  log(`pretest: ${missingMessage(path)}`);
  return 'missing';
}
