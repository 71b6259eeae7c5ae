import pino, { type Logger } from 'pino';

/**
 * JSON logs on stdout. Anything that looks like a credential is redacted by path, as a second line
 * of defence: code must not log secrets in the first place.
 */
export const REDACTED_PATHS = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  '*.secretAccessKey',
  '*.accessKeyId',
  '*.apiKey',
  '*.token',
  '*.password',
  'secretAccessKey',
  'apiKey',
  'token',
  'password',
];

export function createLogger(component: string, level = process.env.SWITCHYARD_LOG_LEVEL ?? 'info'): Logger {
  return pino({
    name: `switchyard-${component}`,
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { component },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

export type { Logger };
