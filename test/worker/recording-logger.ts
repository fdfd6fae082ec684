import type { WorkerLeaseLogger } from '../../src/worker/worker-lease.js';

export interface LogLine {
  level: 'info' | 'warn' | 'error';
  message: string;
  details: Record<string, unknown>;
}

/** A logger for the workers (and the worker lease) that keeps every line it is given, in order. */
export function recordingLogger(): WorkerLeaseLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const record = (level: LogLine['level']) => (details: object, message: string) => {
    lines.push({ level, message, details: { ...details } });
  };
  return { lines, info: record('info'), warn: record('warn'), error: record('error') };
}
