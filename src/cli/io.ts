// The CLI's contact with the outside: output streams, stdin, environment and exit status, passed in
// so every command runs in-process under test with captured output.

import { readFileSync } from 'node:fs';

export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
  readStdin(): Promise<string>;
  env: NodeJS.ProcessEnv;
}

export function processIO(): CliIO {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    readStdin: async () => readFileSync(0, 'utf8'),
    env: process.env,
  };
}

/** Output and input captured in memory, for tests. */
export function memoryIO(stdin = '', env: NodeJS.ProcessEnv = {}): CliIO & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    stdout(text: string) { io.out += text; },
    stderr(text: string) { io.err += text; },
    readStdin: async () => stdin,
    env,
  };
  return io;
}

/** Exit statuses (kubectl/calicoctl convention): 1 operation failed, 2 usage or invalid input. */
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** An error the CLI reports as one line with a chosen exit status. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = EXIT_FAILED) {
    super(message);
    this.exitCode = exitCode;
    this.name = 'CliError';
  }
}
