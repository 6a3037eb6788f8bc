/**
 * The flags of `horus sim`, declared once: `npm run sim` (package.json) and `src/sim/cli.ts` run
 * this same command, so every flag parses, checks and reads alike whichever way it is started.
 */
import { availableParallelism } from 'node:os';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { intIn, numberIn } from './args.js';
import type { SimFlags } from './sim-cmd.js';

/** `--workers`: 1 to 256, or "auto" (one per core). */
export function workersArg(v: string): number {
  if (v === 'auto') return availableParallelism();
  const x = Number(v);
  if (v.trim() === '' || !Number.isInteger(x) || x < 1 || x > 256) throw new InvalidArgumentError('--workers must be a number in [1, 256], or "auto".');
  return x;
}

function oneOf<T extends string>(flag: string, kinds: readonly T[]): (v: string) => T {
  return (v) => {
    if (!(kinds as readonly string[]).includes(v)) throw new InvalidArgumentError(`${flag} takes ${kinds.map((k) => `"${k}"`).join(' or ')}.`);
    return v as T;
  };
}

/** The options commander hands to the action (before the checks that span several flags). */
export interface SimOptionValues {
  seeds: number;
  seed?: number;
  first: number;
  loss?: number;
  nodes?: number;
  messages?: number;
  faults?: boolean | 'all';
  adversary?: 'stranger' | 'member';
  duration?: number;
  workers: number;
  startTogether: boolean;
  security?: 'off' | 'pki';
  policy?: 'majority' | 'quorum' | 'weights' | 'partitionable';
  partitionable?: boolean;
  scenario?: 'tools' | 'news' | 'jobs' | 'monitor' | 'large';
  lwg?: boolean;
  verbose?: boolean;
  progress?: boolean;
}

/** Adds `sim` to the `horus` program. */
export function addSimCommand(program: Command): Command {
  return program
    .command('sim')
    .description('run seeded fault scenarios in the simulator and check them; last line "sim: N seeds, V violations"')
    .addOption(new Option('--seeds <n>', 'how many seeds to run').default(100).argParser(intIn(1, 10_000_000)).conflicts('seed'))
    .addOption(new Option('--seed <s>', 'replay one seed; prints its history hash').argParser(intIn(0, 2 ** 31 - 1)))
    .addOption(new Option('--first <s>', 'first seed').default(1).argParser(intIn(0, 2 ** 31 - 1)))
    .addOption(new Option('--loss <p>', 'frame loss probability (default: drawn per seed)').argParser(numberIn(0, 0.5)))
    .addOption(new Option('--nodes <k>', 'group size (default: drawn per seed); at most 64, or 1000 with --scenario large').argParser(intIn(2, 1000)))
    .addOption(new Option('--messages <m>', 'without --faults all: messages per sender (default: drawn per seed)').argParser(intIn(1, 1_000_000)))
    .addOption(
      new Option(
        '--faults <kind>',
        '"all": dynamic membership under crashes, restarts, pauses, partitions and leaves, with virtual synchrony checks',
      ).argParser(oneOf('--faults', ['all'] as const)),
    )
    .option('--no-faults', 'fixed membership with no pauses, partitions or broken links (only loss)')
    .addOption(
      new Option('--adversary <kind>', 'with --faults all: a stranger, or one member, also sends forged frames').argParser(
        oneOf('--adversary', ['stranger', 'member'] as const),
      ),
    )
    .addOption(new Option('--duration <ms>', 'with --faults all: virtual ms of traffic and faults per seed (default 14000)').argParser(intIn(4000, 1_000_000)))
    .addOption(
      new Option(
        '--security <mode>',
        'with --faults all: "pki" runs the group encrypted (CRYPT, a key per view) behind an ACL, with refused outsiders',
      ).argParser(oneOf('--security', ['off', 'pki'] as const)),
    )
    .addOption(
      new Option(
        '--policy <kind>',
        'with --faults all: the partition policy, "majority" of the last view (default), "quorum" (static: a majority of all the nodes), "weights" (1–3 per node) or "partitionable" (every side goes on, the sides merge; checked for extended virtual synchrony)',
      ).argParser(oneOf('--policy', ['majority', 'quorum', 'weights', 'partitionable'] as const)),
    )
    .addOption(new Option('--partitionable', 'with --faults all: the same as --policy partitionable').conflicts('policy'))
    .addOption(
      new Option(
        '--scenario <name>',
        '"tools": the toolkit (replicated map, locks, counters, a client, primary-backup, coordinator-cohort) under crashes and loss, with tool-level checks; ' +
          '"news": the News service (members and clients publishing and subscribing) under crashes, isolation and loss, with per-subscriber order, gap and duplicate checks; ' +
          '"jobs": the resource manager under crashes and isolation (never two copies of a job running; every runnable job running 15 s after the faults); ' +
          '"monitor": the monitor under crashes and isolation, often of the member running an action mid-action (one firing per episode on every member, its effect once, re-run only after its runner left); ' +
          '"large": a large group (--nodes, default 100) forms, loses 10 members at once, re-forms; vsync checks, frames per view change',
      ).argParser(oneOf('--scenario', ['tools', 'news', 'jobs', 'monitor', 'large'] as const)),
    )
    .option(
      '--lwg',
      'with --faults all: light-weight groups over one or two heavy-weight groups, joined and left under faults, with the virtual synchrony checks per light-weight group',
    )
    .option('--no-start-together', 'with --faults all: no seed starts its nodes at one instant joining by name (1 in 4 do by default)')
    .addOption(new Option('--workers <n>', 'spread the seeds over this many worker threads ("auto": one per core)').default(1).argParser(workersArg))
    .option('--verbose', 'with --seed: trace the run')
    .option('--progress', 'draw a progress bar on stderr (default: when stderr is a terminal)')
    .option('--no-progress', 'never draw the progress bar')
    .action(async (opts: SimOptionValues, cmd: Command) => {
      const { simCommand } = await import('./sim-cmd.js');
      const { partitionable, ...rest } = opts;
      const flags: SimFlags = { ...rest, ...(partitionable ? { policy: 'partitionable' as const } : {}) };
      // A flag given on the command line, not its default, is what the cross-flag checks look at.
      if (cmd.getOptionValueSource('startTogether') === 'default') delete flags.startTogether;
      process.exitCode = await simCommand(flags, process.stdout, process.stderr);
    });
}
