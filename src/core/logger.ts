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

/**
 * A JSON.stringify replacer for log fields: bytes as their length (a Buffer is caught before its
 * toJSON turns it into an array of numbers), bigints, errors, maps and sets in a form JSON can say.
 */
export function logFieldValue(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key];
  if (raw instanceof Uint8Array) return `<${raw.length} bytes>`;
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (value instanceof Map) return [...value.entries()];
  if (value instanceof Set) return [...value.values()];
  return value;
}

/**
 * A log field written as `value`'s JSON, cut to `max` characters, made only when the line is
 * written: a trace line on a hot path costs an object, not a serialisation, while trace is off.
 */
export function lazyJson(value: unknown, max = 200): { toJSON(): string } {
  return {
    toJSON(): string {
      try {
        return (JSON.stringify(value, logFieldValue) ?? 'undefined').slice(0, max);
      } catch {
        return '<unserializable>';
      }
    },
  };
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
