// Kernel parameters through /proc/sys. In this process's own network namespace the files are
// written directly through the runner (no process spawned); in another namespace one `nsenter --net=PATH sh -c` writes
// them all, because /proc/sys/net shows the namespace of the process that opens it.
//
//   cni (host side) ──writeSysctls(entries)──────────► /proc/sys/net/ipv4/conf/brv…/proxy_arp
//   cni (workload)  ──writeSysctls(entries, {netns})──► nsenter --net=PATH sh -c 'printf … > /proc/sys/…'

import { CommandError } from '../lib/index.ts';
import { shellQuote } from './command-runner.ts';
import type { CommandRunner } from './command-runner.ts';
import { inNetns } from './ip.ts';
import type { NetnsOption } from './ip.ts';

export const PROC_SYS = '/proc/sys';

/**
 * File of a sysctl key. Dotted keys (`net.ipv4.conf.eth0.forwarding`) become paths; a key that
 * already contains "/" is taken as a path below /proc/sys (needed for interface names with dots).
 */
export function sysctlPath(key: string): string {
  if (!/^[A-Za-z0-9_./-]+$/.test(key) || key.includes('..')) {
    throw new CommandError(`Invalid sysctl key "${key}": only letters, digits, "_", "-", "." and "/" are allowed`);
  }
  return `${PROC_SYS}/${key.includes('/') ? key.replace(/^\/+/, '') : key.replace(/\./g, '/')}`;
}

export type SysctlEntries = ReadonlyArray<readonly [key: string, value: string]>;

export async function writeSysctls(runner: CommandRunner, entries: SysctlEntries, opts: NetnsOption = {}): Promise<void> {
  if (entries.length === 0) return;
  for (const [, value] of entries) {
    if (!/^[A-Za-z0-9 _.:-]*$/.test(value)) throw new CommandError(`Invalid sysctl value "${value}"`);
  }
  if (opts.netns === undefined) {
    for (const [key, value] of entries) {
      const file = sysctlPath(key);
      try {
        await runner.writeProcFile(file, value);
      } catch (err) {
        throw new CommandError(`Cannot set sysctl "${key}" to "${value}" (${file}): ${(err as Error).message}`, { cause: err });
      }
    }
    return;
  }
  const script = entries.map(([key, value]) => `printf %s ${shellQuote(value)} > ${shellQuote(sysctlPath(key))}`).join(' && ');
  const { command, args } = inNetns(opts.netns, 'sh', ['-c', script]);
  await runner.run(command, args, { timeoutMs: opts.timeoutMs });
}

/** Value of a sysctl in this process's namespace (trimmed), or undefined when the key does not exist. */
export async function readSysctl(runner: CommandRunner, key: string): Promise<string | undefined> {
  return (await runner.readProcFile(sysctlPath(key)))?.trim();
}

/** Value of a sysctl in another namespace, or undefined when the key does not exist there. */
export async function readSysctlIn(runner: CommandRunner, key: string, netns: string): Promise<string | undefined> {
  const { command, args } = inNetns(netns, 'cat', [sysctlPath(key)]);
  try {
    return (await runner.run(command, args)).stdout.trim();
  } catch {
    return undefined;
  }
}
