// Logging for the CNI plugins. stdout is the protocol channel and never gets a log line: records go
// as JSON lines to the file the network config names (`log_file_path`), and warnings and errors
// also to stderr as one readable line, which runtimes show their users.
//
//   plugin ──log.info/warn(msg, fields)──► appendFileSync(log_file_path, {"time","level","msg","component":"cni",…})
//                                     └──► stderr (warn, error)

import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface CniLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** Adds request context (containerID, netns, …) to every later record. */
  with(fields: Record<string, unknown>): void;
}

export interface CniLoggerOptions {
  /** JSON-lines file; without it nothing goes to a file. */
  file?: string;
  level?: LogLevel;
  component: string;
  /** Where warnings and errors go as text; default process.stderr. */
  stderr?: { write(text: string): unknown };
}

export function createCniLogger(opts: CniLoggerOptions): CniLogger {
  const threshold = RANK[opts.level ?? 'info'];
  const stderr = opts.stderr ?? process.stderr;
  const context: Record<string, unknown> = { component: opts.component, pid: process.pid };
  let file = opts.file;
  if (file) {
    try {
      mkdirSync(dirname(file), { recursive: true });
    } catch {
      // reported by the first append below
    }
  }
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (RANK[level] >= RANK.warn) stderr.write(`brindle-${opts.component}: ${level}: ${msg}\n`);
    if (!file || RANK[level] < threshold) return;
    const record = { time: new Date().toISOString(), level, msg, ...context, ...(fields ?? {}) };
    try {
      appendFileSync(file, JSON.stringify(record) + '\n');
    } catch (err) {
      stderr.write(`brindle-${opts.component}: warn: cannot write log file "${file}": ${(err as Error).message}; logging to stderr only\n`);
      file = undefined;
    }
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    with: (f) => Object.assign(context, f),
  };
}
