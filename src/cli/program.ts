/**
 * The `horus` command line (entry point: main.ts). Exit codes: 0 success, 1 the operation failed (nothing running, unknown
 * group, missing key, violations), 2 bad usage (bad argument or config). Command modules are loaded
 * only when their command runs, so `--help` and argument errors answer fast.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { HorusError } from '../core/errors.js';
import type { LogLevel } from '../core/logger.js';
import { baseUrlArg, collect, endpointArg, endpointList, intIn, numberIn } from './args.js';
import { DEFAULT_ADMIN_URL } from './query-cmds.js';
import { addSimCommand } from './sim-options.js';

const LOG_LEVELS: LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'silent'];

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

const print = (line: string): void => {
  process.stdout.write(line + '\n');
};

export function buildProgram(): Command {
  const program = new Command('horus')
    .description('Horus group communication: run nodes and the demo, query nodes, simulate, benchmark.')
    .version(version(), '-V, --version')
    .enablePositionalOptions()
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();

  program
    .command('node')
    .description('run a long-lived node, with its admin endpoint and dashboard on loopback')
    .option('--listen <host:port>', 'TCP endpoint of this node (port 0: any free port)', endpointArg({ portZero: true }))
    .option('--seeds <host:port,...>', 'other nodes; with fixed membership, the other members (repeatable)', endpointList)
    .option('--config <file>', 'JSON config file (flags override it); see conf/node.example.json')
    .option(
      '--admin <host:port>',
      `admin API and dashboard (default ${DEFAULT_ADMIN_URL.slice(7, -1)}); beyond loopback it needs a token (HORUS_ADMIN_TOKEN, adminToken, or one printed at start)`,
      endpointArg({ portZero: true }),
    )
    .option('--no-admin', 'no admin endpoint')
    .option('--discovery <spec>', 'find other nodes: dns-srv:NAME, dns-a:NAME:PORT, file:PATH or k8s:[NAMESPACE/]SERVICE[:PORT_NAME]')
    .addOption(
      new Option('--expect-contacts <n>', 'safe bootstrap: found a group only once n contact points (this node included) are known and stable').argParser(
        intIn(1, 1000),
      ),
    )
    .option('--health <host:port>', 'probe endpoint for orchestrators, any interface: GET /livez and /readyz only', endpointArg({ portZero: true }))
    .option('--join <group>', 'join a group: fixed membership is this node plus its seeds (repeatable)', collect)
    .option('--stack <spec>', "stack for --join groups, top first, e.g. 'STABLE:FC:FRAG:NAK:COM'")
    .addOption(new Option('--log-level <level>', 'JSON log level on stderr').choices(LOG_LEVELS))
    .addOption(new Option('--membership <kind>', 'fixed member lists, or dynamic joins through GMS').choices(['fixed', 'dynamic']))
    .option('--kv <group>', "host the demo's replicated key-value service on this group")
    .option('--check', 'check the flags and config file, print the resolved configuration as JSON, and exit')
    .option('--load <ops-per-sec>', 'with --kv: background operations per second', numberIn(0, 1000))
    .addOption(
      new Option('--security <mode>', 'authenticate and encrypt connections: pki, psk or off (default off; docs/security.md)').choices(['off', 'psk', 'pki']),
    )
    .option('--key <file>', 'pki: this node private key (horus keygen)')
    .option('--cert <file>', 'pki: this node certificate (horus cert sign)')
    .option('--ca <file>', 'pki: a CA public key file or base64 key to trust (repeatable)', collect)
    .option('--psk-file <file>', 'psk: file holding the shared secret (mode 0600)')
    .action(async (opts: Record<string, unknown>) => {
      const { runNodeCommand } = await import('./node-cmd.js');
      await runNodeCommand({
        ...(opts.listen !== undefined ? { listen: opts.listen as string } : {}),
        ...(opts.seeds !== undefined ? { seeds: opts.seeds as string[] } : {}),
        ...(opts.config !== undefined ? { config: opts.config as string } : {}),
        ...(opts.admin !== undefined && opts.admin !== true ? { admin: opts.admin as string | false } : {}),
        ...(opts.health !== undefined ? { health: opts.health as string } : {}),
        ...(opts.check === true ? { check: true } : {}),
        ...(opts.discovery !== undefined ? { discovery: opts.discovery as string } : {}),
        ...(opts.expectContacts !== undefined ? { expectContacts: opts.expectContacts as number } : {}),
        ...(opts.join !== undefined ? { join: opts.join as string[] } : {}),
        ...(opts.stack !== undefined ? { stack: opts.stack as string } : {}),
        ...(opts.logLevel !== undefined ? { logLevel: opts.logLevel as LogLevel } : {}),
        ...(opts.membership !== undefined ? { membership: opts.membership as 'fixed' | 'dynamic' } : {}),
        ...(opts.kv !== undefined ? { kv: opts.kv as string } : {}),
        ...(opts.load !== undefined ? { load: opts.load as number } : {}),
        ...(opts.security !== undefined ? { security: opts.security as 'off' | 'psk' | 'pki' } : {}),
        ...(opts.key !== undefined ? { key: opts.key as string } : {}),
        ...(opts.cert !== undefined ? { cert: opts.cert as string } : {}),
        ...(opts.ca !== undefined ? { ca: opts.ca as string[] } : {}),
        ...(opts.pskFile !== undefined ? { pskFile: opts.pskFile as string } : {}),
        ...(process.env.HORUS_ADMIN_TOKEN ? { adminToken: process.env.HORUS_ADMIN_TOKEN } : {}),
      });
      process.exit(0);
    });

  program
    .command('keygen')
    .description('make an Ed25519 key pair: FILE (private, mode 0600) and FILE.pub')
    .requiredOption('--out <file>', 'private key file to create (never overwritten)')
    .action(async (opts: { out: string }) => {
      const { keygenCommand } = await import('./security-cmds.js');
      await keygenCommand(opts.out, print);
    });

  const cert = program.command('cert').description('node certificates for security pki');
  cert
    .command('sign')
    .description("sign a node's public key with a CA key, allowing it the given endpoints")
    .requiredOption('--ca-key <file>', 'the CA private key (or the node own key, for a self-signed allow-list certificate)')
    .requiredOption('--key <file>', "the node's public key file (FILE.pub from horus keygen)")
    .requiredOption('--subject <name>', 'the node name')
    .requiredOption('--endpoint <host:port>', 'an endpoint the node may listen on: HOST:PORT, HOST:* or * (repeatable)', collect)
    .addOption(new Option('--days <n>', 'validity in days').default(365).argParser(intIn(1, 36500)))
    .option('--issuer <name>', 'the CA name written into the certificate', 'horus-ca')
    .requiredOption('--out <file>', 'certificate file to write')
    .action(async (opts: { caKey: string; key: string; subject: string; endpoint: string[]; days: number; issuer: string; out: string }) => {
      const { certSignCommand } = await import('./security-cmds.js');
      await certSignCommand(
        { caKey: opts.caKey, key: opts.key, subject: opts.subject, endpoints: opts.endpoint, days: opts.days, issuer: opts.issuer, out: opts.out },
        print,
      );
    });
  cert
    .command('show')
    .description('print a certificate')
    .argument('<file>')
    .option('--json', 'print the raw JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      const { certShowCommand } = await import('./security-cmds.js');
      certShowCommand(file, opts.json === true, print);
    });

  const adminOption = (): Option =>
    new Option(
      '--admin <address>',
      `admin endpoint of the node (HOST:PORT or URL; default: a demo started in this directory, else ${DEFAULT_ADMIN_URL.slice(7, -1)})`,
    )
      .env('HORUS_ADMIN')
      .argParser(baseUrlArg);

  program
    .command('status')
    .description("show a running node's identity and groups (or a demo's members)")
    .addOption(adminOption())
    .option('--json', 'print the raw JSON')
    .action(async (opts: { admin?: string; json?: boolean }) => {
      const { statusCommand } = await import('./query-cmds.js');
      await statusCommand(opts, print);
    });

  program
    .command('groups')
    .description('list the groups of a running node')
    .addOption(adminOption())
    .option('--json', 'print the raw JSON')
    .action(async (opts: { admin?: string; json?: boolean }) => {
      const { groupsCommand } = await import('./query-cmds.js');
      await groupsCommand(opts, print);
    });

  program
    .command('view')
    .description("show a group's current view and view history as a running node sees it")
    .argument('<group>', 'group name')
    .addOption(adminOption())
    .option('--json', 'print the raw JSON')
    .action(async (group: string, opts: { admin?: string; json?: boolean }) => {
      const { viewCommand } = await import('./query-cmds.js');
      await viewCommand(group, opts, print);
    });

  program
    .command('demo')
    .description('run N member processes on loopback with a replicated key-value service and the dashboard')
    .addOption(new Option('--nodes <n>', 'members to start').default(3).argParser(intIn(1, 16)))
    .addOption(new Option('--port <port>', 'dashboard port (default 7080, or a free one if taken; 0: any free port)').argParser(intIn(0, 65535)))
    .option('--group <name>', 'group the members form', 'kv')
    .addOption(new Option('--load <ops-per-sec>', 'background operations per second per member').default(2).argParser(numberIn(0, 100)))
    .addOption(new Option('--membership <kind>', 'fixed member list, or dynamic joins through GMS').choices(['fixed', 'dynamic']).default('dynamic'))
    .addOption(new Option('--log-level <level>', "members' JSON log level (on this terminal's stderr)").choices(LOG_LEVELS).default('warn'))
    .option('--no-state-file', 'do not write .horus/demo.json (which lets `horus kv` find the demo)')
    .addOption(new Option('--security <mode>', 'members authenticate and encrypt with a demo CA (pki), or not (off)').choices(['pki', 'off']).default('pki'))
    .action(
      async (opts: {
        nodes: number;
        port?: number;
        group: string;
        load: number;
        membership: 'fixed' | 'dynamic';
        logLevel: LogLevel;
        stateFile: boolean;
        security: 'pki' | 'off';
      }) => {
        const { runDemoCommand } = await import('./demo.js');
        await runDemoCommand({
          nodes: opts.nodes,
          ...(opts.port !== undefined ? { port: opts.port } : {}),
          group: opts.group,
          load: opts.load,
          membership: opts.membership,
          logLevel: opts.logLevel,
          stateFile: opts.stateFile,
          security: opts.security,
        });
        process.exit(0);
      },
    );

  const kv = program.command('kv').description("read and write the demo's replicated key-value service");
  const kvOptions = (c: Command): Command =>
    c
      .addOption(
        new Option('--url <address>', 'the demo (default: .horus/demo.json, else 127.0.0.1:7080), or a member admin endpoint')
          .env('HORUS_URL')
          .argParser(baseUrlArg),
      )
      .option('--member <name>', 'ask this member (m1, m2, ...) rather than any live one')
      .option('--json', 'print the raw JSON');
  type KvOpts = { url?: string; member?: string; json?: boolean };
  kvOptions(kv.command('get').description('print the value of KEY').argument('<key>')).action(async (key: string, opts: KvOpts) => {
    const { kvGet } = await import('./kv-cmd.js');
    await kvGet(key, opts, print);
  });
  kvOptions(kv.command('put').description('set KEY to VALUE at every member').argument('<key>').argument('<value>')).action(
    async (key: string, value: string, opts: KvOpts) => {
      const { kvPut } = await import('./kv-cmd.js');
      await kvPut(key, value, opts, print);
    },
  );
  kvOptions(kv.command('del').description('delete KEY at every member').argument('<key>')).action(async (key: string, opts: KvOpts) => {
    const { kvDel } = await import('./kv-cmd.js');
    await kvDel(key, opts, print);
  });
  kvOptions(kv.command('list').description('print every key and value')).action(async (opts: KvOpts) => {
    const { kvList } = await import('./kv-cmd.js');
    await kvList(opts, print);
  });

  const news = program.command('news').description('the News service: topic publish/subscribe with back issues (docs/services.md)');
  news
    .command('serve')
    .description('run a News member node (the service is the group `news`; start several with --seeds)')
    .requiredOption('--listen <host:port>', 'TCP endpoint of this member', endpointArg())
    .option('--seeds <host:port,...>', 'other members (repeatable)', endpointList)
    .option('--group <name>', 'the News group', 'news')
    .addOption(new Option('--back-issues <n>', 'back issues kept per subject (default 100)').argParser(intIn(1, 1_000_000)))
    .addOption(new Option('--back-issue-seconds <s>', 'drop back issues older than this (default: keep whatever their age)').argParser(intIn(1, 365 * 86400)))
    .option('--admin <host:port>', 'admin endpoint on loopback (GET /api/services lists the service); none by default', endpointArg({ loopback: true }))
    .addOption(new Option('--log-level <level>', 'JSON log level on stderr').choices(LOG_LEVELS))
    .action(
      async (opts: {
        listen: string;
        seeds?: string[];
        group: string;
        backIssues?: number;
        backIssueSeconds?: number;
        admin?: string;
        logLevel?: LogLevel;
      }) => {
        const { newsServe } = await import('./news-cmd.js');
        process.exitCode = await newsServe(opts, print);
        process.exit();
      },
    );
  const newsClientOptions = (c: Command): Command =>
    c
      .requiredOption('--connect <host:port,...>', 'News members to talk to (repeatable; the client fails over between them)', endpointList)
      .option('--group <name>', 'the News group', 'news')
      .option('--listen <host:port>', 'this client node endpoint, where members answer (default 127.0.0.1:0)', endpointArg({ portZero: true }))
      .addOption(new Option('--log-level <level>', 'JSON log level on stderr').choices(LOG_LEVELS));
  newsClientOptions(news.command('pub').description('publish MESSAGE to SUBJECT; prints where it went as JSON').argument('<subject>').argument('<message>'))
    .option('--json', 'MESSAGE is JSON (else it is posted as a string)')
    .action(async (subject: string, message: string, opts: { connect: string[]; group: string; listen?: string; logLevel?: LogLevel; json?: boolean }) => {
      const { newsPub } = await import('./news-cmd.js');
      process.exitCode = await newsPub(subject, message, opts, print);
    });
  newsClientOptions(
    news.command('sub').description('print the postings of PATTERN (wildcards: * one token, > the rest) as JSON lines until Ctrl-C').argument('<pattern>'),
  )
    .addOption(new Option('--back <n>', 'first the newest n back issues of each matching subject').default(0).argParser(intIn(0, 1_000_000)))
    .addOption(new Option('--after <pos>', 'resume after this position (a printed "pos"), instead of back issues').argParser(intIn(0, 2 ** 32 - 1)))
    .action(async (pattern: string, opts: { connect: string[]; group: string; listen?: string; logLevel?: LogLevel; back: number; after?: number }) => {
      const { newsSub } = await import('./news-cmd.js');
      process.exitCode = await newsSub(pattern, opts, print);
      process.exit();
    });

  /** Comma-separated labels; repeating the option adds to the list. */
  const labelList = (v: string, prev: string[] | undefined): string[] => [
    ...(prev ?? []),
    ...v
      .split(',')
      .map((l) => l.trim())
      .filter((l) => l !== ''),
  ];
  const jobs = program.command('jobs').description('the resource and recovery manager: members offer resources and run jobs; clients submit, list, cancel');
  jobs
    .command('serve')
    .description('run a member of the jobs group that offers its resources and runs the jobs placed on it')
    .requiredOption('--listen <host:port>', 'TCP endpoint of this node (port 0: any free port)', endpointArg({ portZero: true }))
    .option('--seeds <host:port,...>', 'other members (repeatable)', endpointList)
    .option('--group <name>', 'the jobs group', 'jobs')
    .option('--labels <label,...>', 'labels this node offers (repeatable)', labelList)
    .addOption(new Option('--cpus <n>', 'CPUs this node offers').default(1).argParser(numberIn(0, 65_536)))
    .addOption(new Option('--memory <mb>', 'memory this node offers, in MB').default(1024).argParser(numberIn(0, 1 << 30)))
    .option('--admin <host:port>', 'admin API and dashboard on this endpoint (default: none)', endpointArg({ portZero: true }))
    .addOption(
      new Option('--lease-ms <ms>', 'a job dies this long after its node last renewed it (keep below the failure-detection lease)')
        .default(700)
        .argParser(intIn(20, 600_000)),
    )
    .addOption(new Option('--log-level <level>', 'JSON log level on stderr').choices(LOG_LEVELS).default('warn'))
    .action(
      async (opts: {
        listen: string;
        seeds?: string[];
        group: string;
        labels?: string[];
        cpus: number;
        memory: number;
        admin?: string;
        leaseMs: number;
        logLevel: LogLevel;
      }) => {
        const { runJobsServe } = await import('./jobs-cmd.js');
        await runJobsServe(
          {
            listen: opts.listen,
            seeds: opts.seeds ?? [],
            group: opts.group,
            labels: opts.labels ?? [],
            cpus: opts.cpus,
            memory: opts.memory,
            admin: opts.admin ?? false,
            leaseMs: opts.leaseMs,
            logLevel: opts.logLevel,
          },
          print,
        );
        process.exit(0);
      },
    );
  const jobsClient = (c: Command): Command =>
    c
      .requiredOption('--connect <host:port,...>', 'members of the jobs group to ask (repeatable)', endpointList)
      .option('--group <name>', 'the jobs group', 'jobs')
      .addOption(new Option('--timeout-ms <ms>', 'give up after this long').default(10_000).argParser(intIn(1, 3_600_000)))
      .option('--json', 'print the raw JSON');
  type JobsClientOpts = { connect: string[]; group: string; timeoutMs: number; json?: boolean };
  jobsClient(
    jobs
      .command('submit')
      .description('submit a job: the command after -- (run as a child process), or --handler NAME')
      .argument('[command...]', 'the command line, after --')
      .option('--needs <label>', 'a label the node must offer (repeatable)', collect)
      .addOption(new Option('--cpus <n>', 'CPUs the job needs').default(0).argParser(numberIn(0, 65_536)))
      .addOption(new Option('--memory <mb>', 'memory the job needs, in MB').default(0).argParser(numberIn(0, 1 << 30)))
      .addOption(new Option('--restart <policy>', 'start it again when it ends').choices(['always', 'on-failure', 'never']).default('on-failure'))
      .addOption(new Option('--max-failures <k>', 'give up after k failures...').default(5).argParser(intIn(1, 1000)))
      .addOption(new Option('--window <s>', '...within this many seconds').default(30).argParser(numberIn(0, 86_400)))
      .option('--name <name>', 'a name for people')
      .option('--handler <name>', 'run a handler the member program registered, instead of a command')
      .option('--args <json>', 'with --handler: its arguments, as JSON'),
  ).action(
    async (
      command: string[],
      opts: JobsClientOpts & {
        needs?: string[];
        cpus: number;
        memory: number;
        restart: 'always' | 'on-failure' | 'never';
        maxFailures: number;
        window: number;
        name?: string;
        handler?: string;
        args?: string;
      },
    ) => {
      const { jobsSubmit } = await import('./jobs-cmd.js');
      process.exitCode = await jobsSubmit(
        command,
        {
          ...opts,
          needs: opts.needs ?? [],
          windowS: opts.window,
        },
        print,
      );
    },
  );
  jobsClient(jobs.command('list').description('list the jobs: state, node, restarts')).action(async (opts: JobsClientOpts) => {
    const { jobsList } = await import('./jobs-cmd.js');
    process.exitCode = await jobsList(opts, print);
  });
  jobsClient(jobs.command('cancel').description('cancel a job: its node stops it').argument('<id>')).action(async (id: string, opts: JobsClientOpts) => {
    const { jobsCancel } = await import('./jobs-cmd.js');
    process.exitCode = await jobsCancel(id, opts, print);
  });

  const monitor = program
    .command('monitor')
    .description('reactive monitoring: rules over sensor values, evaluated by a group; each firing runs its action once per episode');
  monitor
    .command('serve')
    .description('run a member of the monitor group (actions: log, and run CMD ARGS...)')
    .requiredOption('--listen <host:port>', 'TCP endpoint of this node (port 0: any free port)', endpointArg({ portZero: true }))
    .option('--seeds <host:port,...>', 'other members (repeatable)', endpointList)
    .option('--group <name>', 'the monitor group', 'monitor')
    .option('--rule <rule>', "a rule, e.g. 'when avg(queue_len) > 100 for 10s then log' (repeatable)", collect)
    .option('--admin <host:port>', 'admin API and dashboard on this endpoint (default: none)', endpointArg({ portZero: true }))
    .addOption(new Option('--log-level <level>', 'JSON log level on stderr').choices(LOG_LEVELS).default('warn'))
    .action(async (opts: { listen: string; seeds?: string[]; group: string; rule?: string[]; admin?: string; logLevel: LogLevel }) => {
      const { runMonitorServe } = await import('./monitor-cmd.js');
      await runMonitorServe(
        { listen: opts.listen, seeds: opts.seeds ?? [], group: opts.group, rules: opts.rule ?? [], admin: opts.admin ?? false, logLevel: opts.logLevel },
        print,
      );
      process.exit(0);
    });
  const monitorClient = (c: Command): Command =>
    c
      .requiredOption('--connect <host:port,...>', 'members of the monitor group to ask (repeatable)', endpointList)
      .option('--group <name>', 'the monitor group', 'monitor')
      .addOption(new Option('--timeout-ms <ms>', 'give up after this long').default(10_000).argParser(intIn(1, 3_600_000)))
      .option('--json', 'print the raw JSON');
  type MonitorClientOpts = { connect: string[]; group: string; timeoutMs: number; json?: boolean };
  monitorClient(
    monitor
      .command('report')
      .description('report a sensor value')
      .argument('<metric>')
      .argument('<value>', 'a number', numberIn(-Number.MAX_VALUE, Number.MAX_VALUE)),
  ).action(async (metric: string, value: number, opts: MonitorClientOpts) => {
    const { monitorReport } = await import('./monitor-cmd.js');
    process.exitCode = await monitorReport(metric, value, opts, print);
  });
  monitorClient(monitor.command('rule').description('add a rule').argument('<rule>', "e.g. 'when max(disk_used) >= 90 then run ./cleanup.sh'")).action(
    async (rule: string, opts: MonitorClientOpts) => {
      const { monitorRule } = await import('./monitor-cmd.js');
      process.exitCode = await monitorRule(rule, opts, print);
    },
  );
  monitorClient(monitor.command('rules').description('list the rules and their state')).action(async (opts: MonitorClientOpts) => {
    const { monitorRules } = await import('./monitor-cmd.js');
    process.exitCode = await monitorRules(opts, print);
  });
  monitorClient(monitor.command('history').description('list the firings: episode, executor, outcome')).action(async (opts: MonitorClientOpts) => {
    const { monitorHistory } = await import('./monitor-cmd.js');
    process.exitCode = await monitorHistory(opts, print);
  });

  addSimCommand(program);

  program
    .command('bench')
    .description('run the benchmarks (bench/run.ts); arguments after the options go to it')
    .argument('[args...]', 'arguments for the benchmark script')
    .option('--script <file>', 'benchmark entry point (default bench/run.ts)')
    .option('--progress', 'draw a progress bar on stderr (default: when stderr is a terminal)')
    .option('--no-progress', 'never draw the progress bar')
    // Options bench/run.ts knows (--filter, --scale, --list) are not ours: hand them over as they are.
    .allowUnknownOption()
    .passThroughOptions()
    .action(async (args: string[], opts: { script?: string; progress?: boolean }) => {
      const { benchCommand, DEFAULT_BENCH_SCRIPT } = await import('./bench-cmd.js');
      process.exitCode = await benchCommand(opts.script ?? DEFAULT_BENCH_SCRIPT, args, opts.progress !== undefined ? { progress: opts.progress } : {});
    });

  return program;
}

/** Bad usage (exit 2) vs a failed operation (exit 1). */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  if (err instanceof HorusError && err.name !== 'RemoteError' && (err.code === 'ERR_INVALID_ARGUMENT' || err.code === 'ERR_CONFIG')) return 2;
  return 1;
}

export async function main(argv: readonly string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[]);
  } catch (err) {
    const code = exitCodeOf(err);
    // Commander has already printed its own message (and help hint).
    if (!(err instanceof CommanderError)) {
      const cmd = program.args[0];
      const prefix = `horus${cmd && program.commands.some((c) => c.name() === cmd) ? ` ${cmd}` : ''}: `;
      process.stderr.write(err instanceof HorusError ? `${prefix}${err.message}\n` : `${prefix}${(err as Error)?.stack ?? String(err)}\n`);
    }
    process.exit(code);
  }
}
