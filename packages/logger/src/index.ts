import { trace } from '@opentelemetry/api';
import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Fields that must never reach a log line, wherever they appear. */
export const redactPaths = [
  'password',
  '*.password',
  'token',
  '*.token',
  'accessToken',
  '*.accessToken',
  'refreshToken',
  '*.refreshToken',
  'secret',
  '*.secret',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["x-cos-principal"]',
  'req.headers["x-cos-signature"]',
  'variables.password',
  'variables.input.password',
  'variables.refreshToken',
];

/**
 * The one logger factory: JSON lines on stdout, secrets redacted, `service` on every line. `fd` 2 logs to stderr
 * instead, for processes whose stdout is a protocol channel (the MCP server over stdio).
 */
export function createLogger(service: string, level: LoggerOptions['level'] = process.env.LOG_LEVEL ?? 'info', fd: 1 | 2 = 1): Logger {
  const options: LoggerOptions = {
    name: service,
    level,
    base: { service },
    redact: { paths: redactPaths, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin: traceMixin,
  };
  return fd === 1 ? pino(options) : pino(options, pino.destination({ fd, sync: true }));
}

/**
 * trace_id / span_id of the active OpenTelemetry span on every line logged inside it. With tracing off (no SDK
 * registered) the API has no active span and this adds nothing.
 */
export function traceMixin(): Record<string, string> {
  const sc = trace.getActiveSpan()?.spanContext();
  if (!sc || !trace.isSpanContextValid(sc)) return {};
  return { trace_id: sc.traceId, span_id: sc.spanId };
}
