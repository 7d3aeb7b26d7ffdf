// Stand-in CommandRunner for unit tests: records every call (command, args, stdin) and answers from
// rules the test registers, so plugin and dataplane logic can be tested without root or a kernel.
// A rule can fail the call with the same CommandFailure the real runner throws.
//
//   code under test ──run()──► FakeRunner.calls[] ; rules (first match wins) ──► result | CommandFailure

import { CommandFailure, formatCommandLine } from './command-runner.ts';
import type { CommandResult, CommandRunner, RunOptions } from './command-runner.ts';

export interface RecordedCall {
  command: string;
  args: string[];
  input: string | undefined;
  /** The call as one quoted line, for readable assertions. */
  line: string;
}

export interface FakeReply {
  stdout?: string;
  stderr?: string;
  /** Non-zero (and not in okCodes) makes the call throw CommandFailure. */
  code?: number;
}

type Matcher = string | RegExp | ((call: RecordedCall) => boolean);
type Responder = FakeReply | ((call: RecordedCall) => FakeReply | Promise<FakeReply>);

export class FakeRunner implements CommandRunner {
  readonly calls: RecordedCall[] = [];
  readonly #rules: Array<{ match: Matcher; reply: Responder; times: number }> = [];

  /**
   * Answer calls whose line starts with `match` (string), matches it (RegExp) or satisfies it
   * (function). `times` limits how often the rule applies (default: always). Later rules are
   * consulted only when earlier ones do not match.
   */
  on(match: Matcher, reply: Responder, times = Infinity): this {
    this.#rules.push({ match, reply, times });
    return this;
  }

  /** /proc files written (path → last value) and what readProcFile answers; set entries to simulate the kernel. */
  readonly procFiles = new Map<string, string>();

  async writeProcFile(path: string, value: string): Promise<void> {
    const call: RecordedCall = { command: 'write', args: [path, value], input: undefined, line: `write ${path} ${value}` };
    this.calls.push(call);
    const rule = this.#rules.find((r) => r.times > 0 && matches(r.match, call));
    if (rule) {
      rule.times--;
      const reply = typeof rule.reply === 'function' ? await rule.reply(call) : rule.reply;
      if ((reply.code ?? 0) !== 0) throw new Error(`${path}: ${reply.stderr ?? 'write failed'}`);
    }
    this.procFiles.set(path, value);
  }

  async readProcFile(path: string): Promise<string | undefined> {
    return this.procFiles.get(path);
  }

  /** Calls whose line contains the text, in order. */
  callsMatching(text: string | RegExp): RecordedCall[] {
    return this.calls.filter((c) => (typeof text === 'string' ? c.line.includes(text) : text.test(c.line)));
  }

  async run(command: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const call: RecordedCall = { command, args: [...args], input: options.input, line: formatCommandLine(command, args) };
    this.calls.push(call);
    const rule = this.#rules.find((r) => r.times > 0 && matches(r.match, call));
    let reply: FakeReply = {};
    if (rule) {
      rule.times--;
      reply = typeof rule.reply === 'function' ? await rule.reply(call) : rule.reply;
    }
    const code = reply.code ?? 0;
    const result = { code, stdout: reply.stdout ?? '', stderr: reply.stderr ?? '' };
    if (code !== 0 && !options.okCodes?.includes(code)) {
      throw new CommandFailure({ command, args, exitCode: code, signal: null, stdout: result.stdout, stderr: result.stderr });
    }
    return result;
  }
}

function matches(m: Matcher, call: RecordedCall): boolean {
  if (typeof m === 'string') return call.line.startsWith(m);
  if (m instanceof RegExp) return m.test(call.line);
  return m(call);
}
