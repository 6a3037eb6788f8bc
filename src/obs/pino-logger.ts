import pino from 'pino';
import type { LogFields, Logger, LogLevel } from '../core/logger.js';

/** Structured JSON logs through pino, behind our Logger interface. */
export function pinoLogger(opts: { level?: LogLevel; name?: string; destination?: number } = {}): Logger {
  const base = pino({ level: opts.level ?? 'info', name: opts.name ?? 'horus' }, pino.destination({ dest: opts.destination ?? 2, sync: false }));
  return wrap(base);
}

function wrap(p: pino.Logger): Logger {
  return {
    trace: (msg: string, f?: LogFields) => p.trace(f ?? {}, msg),
    debug: (msg: string, f?: LogFields) => p.debug(f ?? {}, msg),
    info: (msg: string, f?: LogFields) => p.info(f ?? {}, msg),
    warn: (msg: string, f?: LogFields) => p.warn(f ?? {}, msg),
    error: (msg: string, f?: LogFields) => p.error(f ?? {}, msg),
    child: (b: LogFields) => wrap(p.child(b)),
  };
}
