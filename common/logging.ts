// JSON logs on stdout; per-job lines carry the job's namespace and name.
import winston from 'winston';

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
