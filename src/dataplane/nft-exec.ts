// Running nft: one `nft -f -` per transaction (atomic: all of it or nothing), `nft -c` to check a script
// without applying it, and `nft -j list table` to read brindle's table back — in this process's network
// namespace or in another one through nsenter (os/ip.ts's inNetns).
//
//   NftablesDriver ──runNft(script)──► [nsenter --net=PATH] nft -f -   (stdin: the script)

import { NFT_FAMILY, NFT_TABLE } from '../lib/index.ts';
import { CommandFailure, inNetns } from '../os/index.ts';
import type { CommandRunner } from '../os/index.ts';

export const NFT_BINARY = 'nft';

export interface NftExecOptions {
  /** Network namespace path; undefined = this process's own. */
  netns?: string;
  timeoutMs?: number;
}

/** The script line an nft error points at (`/dev/stdin:12:5-9: Error: …`), for the error message. */
function failedLine(script: string, stderr: string): string | undefined {
  const m = /(?:stdin|-):(\d+):/.exec(stderr);
  if (!m) return undefined;
  return script.split('\n')[Number(m[1]) - 1];
}

/** Applies a script as one transaction; `check` only validates it against the current ruleset. */
export async function runNft(runner: CommandRunner, script: string, opts: NftExecOptions & { check?: boolean } = {}): Promise<void> {
  if (script.trim() === '') return;
  const { command, args } = inNetns(opts.netns, NFT_BINARY, [...(opts.check ? ['-c'] : []), '-f', '-']);
  try {
    await runner.run(command, args, { input: script, timeoutMs: opts.timeoutMs });
  } catch (err) {
    if (!(err instanceof CommandFailure)) throw err;
    const line = failedLine(script, err.stderr);
    // nft repeats the offending line with carets; the first error line is what matters.
    const first = err.stderr.split('\n').find((l) => /Error:/.test(l)) ?? err.stderr.split('\n')[0] ?? '';
    const where = opts.netns ? ` in network namespace "${opts.netns}"` : '';
    throw new CommandFailure({
      command: err.command, args: err.args, exitCode: err.exitCode, signal: err.signal, stdout: err.stdout,
      stderr: `${first.trim()}${line !== undefined ? ` (script line "${line.length > 300 ? `${line.slice(0, 300)}...` : line}")` : ''}${where}`,
      timedOut: err.timedOut,
    }, { cause: err });
  }
}

/** `nft -j list table inet brindle` parsed, or undefined when the table does not exist. */
export async function listTableJson(runner: CommandRunner, opts: NftExecOptions = {}): Promise<unknown | undefined> {
  const { command, args } = inNetns(opts.netns, NFT_BINARY, ['-j', 'list', 'table', NFT_FAMILY, NFT_TABLE]);
  let stdout: string;
  try {
    stdout = (await runner.run(command, args, { timeoutMs: opts.timeoutMs })).stdout;
  } catch (err) {
    if (err instanceof CommandFailure && /No such file or directory/.test(err.stderr)) return undefined;
    throw err;
  }
  try {
    return JSON.parse(stdout);
  } catch (err) {
    throw new CommandFailure({ command, args, exitCode: 0, signal: null, stdout, stderr: `nft printed no JSON: ${String(err)}` }, { cause: err });
  }
}
