export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFields = Record<string, unknown>;

/** Our logging interface: pino behind it in real nodes, a recording logger in the simulator. */
export interface Logger {
  trace(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(bindings: LogFields): Logger;
}

const noop = (): void => {};
export const silentLogger: Logger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
};

/** Counts events and logs at most `perInterval` of them per interval: for bad input from the network. */
export class RateLimitedLog {
  private windowStart = -Infinity;
  private inWindow = 0;
  suppressed = 0;
  constructor(
    private readonly log: Logger,
    private readonly now: () => number,
    private readonly perInterval = 10,
    private readonly intervalMs = 1000,
  ) {}
  warn(msg: string, fields?: LogFields): void {
    const t = this.now();
    if (t - this.windowStart >= this.intervalMs) {
      if (this.suppressed > 0) this.log.warn('suppressed repeated warnings', { count: this.suppressed });
      this.windowStart = t;
      this.inWindow = 0;
      this.suppressed = 0;
    }
    if (this.inWindow++ < this.perInterval) this.log.warn(msg, fields);
    else this.suppressed++;
  }
}
