import { trace } from '@opentelemetry/api';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

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
 * The one logger factory: JSON lines on stdout (or `destination`: tests read what a process would log; `toStderr()`
 * for processes whose stdout is a protocol channel, the MCP server over stdio), secrets redacted, `service` on every line.
 */
export function createLogger(service: string, level: LoggerOptions['level'] = process.env.LOG_LEVEL ?? 'info', destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    name: service,
    level,
    base: { service },
    redact: { paths: redactPaths, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin: traceMixin,
  };
  return destination ? pino(options, destination) : pino(options);
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

/** A synchronous stderr destination for createLogger (stdout is the protocol channel of an MCP server over stdio). */
export const toStderr = (): DestinationStream => pino.destination({ fd: 2, sync: true });
