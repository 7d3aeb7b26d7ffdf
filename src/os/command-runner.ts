// Runs external programs (ip, nsenter, sysctl, nft, ...) for the layers that touch the host: an
// argument array (never a shell line), optional stdin, a timeout, captured output, and on failure a
// CommandFailure that quotes the command line, the exit status and stderr. Code above this takes a
// CommandRunner so unit tests can hand it the FakeRunner (fake-runner.ts) instead.
//
//   cni / dataplane ──run(cmd, args, {input})──► ProcessRunner ──spawn──► ip -batch - / nsenter …

import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { CommandError } from '../lib/index.ts';

export interface RunOptions {
  /** Written to the child's stdin, which is then closed; without it stdin is /dev/null. */
  input?: string;
  /** Kill the child (SIGKILL) and fail after this many milliseconds; default 30 s. */
  timeoutMs?: number;
  /** Environment of the child; default the parent's. */
  env?: NodeJS.ProcessEnv;
  /** Exit codes that count as success besides 0 (e.g. `[1]` for a "not found is fine" probe). */
  okCodes?: readonly number[];
}

export interface CommandResult {
  /** Exit code; -1 when the child was killed by a signal or never started. */
  code: number;
  stdout: string;
  stderr: string;
}

export interface CommandRunner {
  run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandResult>;
  /** Writes a /proc/sys file of this process's own namespace (no process needed). */
  writeProcFile(path: string, value: string): Promise<void>;
  /** Reads a /proc/sys file of this process's own namespace; undefined when it does not exist. */
  readProcFile(path: string): Promise<string | undefined>;
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;

/** Shell-style quoting for messages and logs only; commands are never run through a shell line. */
export function formatCommandLine(command: string, args: readonly string[]): string {
  return [command, ...args].map(shellQuote).join(' ');
}

export function shellQuote(word: string): string {
  if (word !== '' && /^[A-Za-z0-9_./:=@%+,-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A command that could not start, exited non-zero, was killed or timed out. */
export class CommandFailure extends CommandError {
  readonly command: string;
  readonly args: readonly string[];
  readonly exitCode: number;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;

  constructor(
    init: { command: string; args: readonly string[]; exitCode: number; signal: string | null; stdout: string; stderr: string; timedOut?: boolean; input?: string },
    options?: { cause?: unknown },
  ) {
    const line = formatCommandLine(init.command, init.args);
    const how = init.timedOut
      ? 'timed out and was killed'
      : init.signal
        ? `was killed by ${init.signal}`
        : init.exitCode === -1
          ? 'could not be started'
          : `exited with status ${init.exitCode}`;
    const err = init.stderr.trim();
    super(`Command "${line}" ${how}${err ? `: "${err.replace(/\s*\n\s*/g, '; ')}"` : ''}`, options);
    this.name = 'CommandFailure';
    this.command = init.command;
    this.args = init.args;
    this.exitCode = init.exitCode;
    this.signal = init.signal;
    this.stdout = init.stdout;
    this.stderr = init.stderr;
    this.timedOut = init.timedOut === true;
  }
}

/** The real runner: child_process.spawn without a shell. */
export class ProcessRunner implements CommandRunner {
  async writeProcFile(path: string, value: string): Promise<void> {
    // Synchronous on purpose: /proc writes do not block and this saves a thread-pool round trip.
    writeFileSync(path, value);
  }

  async readProcFile(path: string): Promise<string | undefined> {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  }

  run(command: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      let child;
      try {
        child = spawn(command, args, {
          env: options.env ?? process.env,
          stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        });
      } catch (err) {
        reject(new CommandFailure({ command, args, exitCode: -1, signal: null, stdout: '', stderr: String(err) }, { cause: err }));
        return;
      }
      const out: Buffer[] = [];
      const errOut: Buffer[] = [];
      let timedOut = false;
      let spawnError: Error | undefined;
      child.stdout!.on('data', (b: Buffer) => out.push(b));
      child.stderr!.on('data', (b: Buffer) => errOut.push(b));
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.on('error', (err) => {
        spawnError = err;
      });
      if (options.input !== undefined) {
        // EPIPE when the child exits without reading is reported through the exit status instead.
        child.stdin!.on('error', () => undefined);
        child.stdin!.end(options.input);
      }
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const stdout = Buffer.concat(out).toString('utf8');
        const stderr = Buffer.concat(errOut).toString('utf8') || (spawnError ? String(spawnError.message) : '');
        const exitCode = code ?? -1;
        if (!timedOut && !spawnError && signal === null && (exitCode === 0 || options.okCodes?.includes(exitCode))) {
          resolve({ code: exitCode, stdout, stderr });
          return;
        }
        reject(new CommandFailure({ command, args, exitCode: spawnError ? -1 : exitCode, signal, stdout, stderr, timedOut }, spawnError ? { cause: spawnError } : undefined));
      });
    });
  }
}
