// Throwaway network namespaces for root tests and benchmarks: every one is named `<prefix>-<random>`
// (prefix "brb" by default), tracked, and deleted when the test calls delete(), and otherwise when the
// process exits, is interrupted or terminated, so a failing test leaves nothing behind. A "test host"
// is a namespace set up like a workload host: loopback up and a default route out of an uplink
// veth into nowhere (proxy ARP only answers for 169.254.1.1 when a route to it leaves by another link).
//
//   test ──createTestHost()──► brb-1a2b3c4d (lo up, brbup0 198.18.0.1/30, default via 198.18.0.2)
//        ──createThrowawayNetns()──► brb-5e6f7a8b (a container) ──delete() / process exit──► ip netns del

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ProcessRunner } from './command-runner.ts';
import type { CommandResult, CommandRunner, RunOptions } from './command-runner.ts';
import { inNetns, ipBatch } from './ip.ts';
import { namedNetnsPath } from './netns.ts';

const live = new Set<string>();
let hooksInstalled = false;

function deleteNow(name: string): void {
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    // already gone
  }
  live.delete(name);
}

/** Deletes every namespace this process created and has not deleted yet (synchronous). */
export function deleteAllThrowawayNetns(): void {
  for (const name of [...live]) deleteNow(name);
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', deleteAllThrowawayNetns);
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.once(signal, () => {
      deleteAllThrowawayNetns();
      process.exit(code);
    });
  }
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Commands (or absolute paths) of `tools` that cannot be executed here. */
export function missingTools(tools: readonly string[]): string[] {
  const dirs = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter);
  return tools.filter((tool) => {
    const candidates = tool.includes('/') ? [tool] : dirs.map((d) => join(d, tool));
    return !candidates.some((p) => {
      try {
        accessSync(p, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
  });
}

/** Why a root test cannot run here (for node:test's `skip`), or undefined when it can. */
export function rootTestSkipReason(tools: readonly string[] = ['ip', 'nsenter']): string | undefined {
  if (!isRoot()) return 'needs root (creates network namespaces); CI runs as root';
  const missing = missingTools(tools);
  if (missing.length > 0) return `needs ${missing.map((t) => `"${t}"`).join(', ')} (scripts/ensure-deps.sh installs them)`;
  return undefined;
}

export class ThrowawayNetns {
  readonly name: string;
  readonly path: string;
  readonly runner: CommandRunner;

  constructor(name: string, runner: CommandRunner) {
    this.name = name;
    this.path = namedNetnsPath(name);
    this.runner = runner;
  }

  /** Runs a command inside this namespace (through nsenter). */
  run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandResult> {
    const c = inNetns(this.path, command, args);
    return this.runner.run(c.command, c.args, options);
  }

  /** Runs iproute2 commands inside this namespace as one batch. */
  ip(lines: readonly string[]): Promise<void> {
    return ipBatch(this.runner, lines, { netns: this.path });
  }

  get alive(): boolean {
    return live.has(this.name);
  }

  async delete(): Promise<void> {
    if (!live.has(this.name)) return;
    try {
      await this.runner.run('ip', ['netns', 'del', this.name]);
    } catch {
      // already gone
    }
    live.delete(this.name);
  }
}

/** A new empty namespace with loopback up, deleted at exit at the latest. */
export async function createThrowawayNetns(prefix = 'brb', runner: CommandRunner = new ProcessRunner()): Promise<ThrowawayNetns> {
  if (!/^[a-z][a-z0-9]*$/.test(prefix)) throw new Error(`namespace prefix "${prefix}" must be lower-case letters and digits`);
  installHooks();
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  live.add(name);
  try {
    await runner.run('ip', ['netns', 'add', name]);
    await runner.run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    deleteNow(name);
    throw err;
  }
  return new ThrowawayNetns(name, runner);
}

/** The uplink that gives a test host its default route (inside the host namespace only). */
export const TEST_HOST_UPLINK = { name: 'brbup0', peer: 'brbup1', address: '198.18.0.1/30', gateway: '198.18.0.2' } as const;

/**
 * A namespace that plays a workload host: loopback up and a default route out of a veth whose far
 * end goes nowhere. Nothing in it can reach the root namespace.
 */
export async function createTestHost(prefix = 'brb', runner: CommandRunner = new ProcessRunner()): Promise<ThrowawayNetns> {
  const host = await createThrowawayNetns(prefix, runner);
  try {
    await host.ip([
      `link add ${TEST_HOST_UPLINK.name} type veth peer name ${TEST_HOST_UPLINK.peer}`,
      `addr add ${TEST_HOST_UPLINK.address} dev ${TEST_HOST_UPLINK.name}`,
      `link set ${TEST_HOST_UPLINK.name} up`,
      `link set ${TEST_HOST_UPLINK.peer} up`,
      `route add default via ${TEST_HOST_UPLINK.gateway} dev ${TEST_HOST_UPLINK.name}`,
    ]);
  } catch (err) {
    await host.delete();
    throw err;
  }
  return host;
}
