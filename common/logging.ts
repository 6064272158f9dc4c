// JSON logs on stdout; per-job lines carry the job's namespace and name.
import winston from 'winston';

/**
 * What Ferry's code logs through: a winston Logger fits, and so does a test's
 * recorder. Components take a Logger rather than make one, so tests can
 * silence or read them.
 */
export interface Logger {
  debug(message: string, meta?: Record<string, unknown>): unknown;
  info(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
  error(message: string, meta?: Record<string, unknown>): unknown;
}

/** A Logger that drops everything (for tests and benchmarks). */
export const silentLogger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/**
 * `log` with `fields` on every line (a line's own meta wins on a clash), as
 * winston's `child()` does, for any Logger.
 */
export function withFields(log: Logger, fields: Record<string, unknown>): Logger {
  const at =
    (level: keyof Logger) =>
    (message: string, meta?: Record<string, unknown>): unknown =>
      log[level](message, { ...fields, ...meta });
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export function createLogger(
  component: string,
  level = process.env.FERRY_LOG_LEVEL ?? 'info',
): winston.Logger {
  return winston.createLogger({
    level,
    defaultMeta: { component },
    format: winston.format.combine(
      winston.format.timestamp(),
      winston.format.errors({ stack: true }),
      winston.format.json(),
    ),
    transports: [new winston.transports.Console()],
  });
}
