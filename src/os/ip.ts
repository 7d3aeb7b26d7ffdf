// iproute2 helpers: program with one `ip -batch -` per step, read back with `ip -json`, and run
// either in this process's network namespace or in another one through `nsenter --net=PATH` (Node
// never switches namespaces itself: setns() is per thread and Node has several).
//
//   caller ──ipBatch(lines, {netns})──► [nsenter --net=PATH] ip -batch -   (stdin: one command per line)
//   caller ──ipJson(args, {netns})────► [nsenter --net=PATH] ip -json …    ──► parsed objects

import { CommandFailure } from './command-runner.ts';
import type { CommandRunner } from './command-runner.ts';

export interface NetnsOption {
  /** Path of the network namespace to act in (/run/netns/NAME, /proc/PID/ns/net); default this process's. */
  netns?: string;
  timeoutMs?: number;
}

export const IP_BINARY = 'ip';
export const NSENTER_BINARY = 'nsenter';

/** The command and arguments that run `command args` inside `netns` (or as is without one). */
export function inNetns(netns: string | undefined, command: string, args: readonly string[]): { command: string; args: string[] } {
  if (netns === undefined) return { command, args: [...args] };
  return { command: NSENTER_BINARY, args: [`--net=${netns}`, command, ...args] };
}

/** Runs iproute2 commands as one batch; a failure names the batch line that failed. */
export async function ipBatch(runner: CommandRunner, lines: readonly string[], opts: NetnsOption = {}): Promise<void> {
  if (lines.length === 0) return;
  const { command, args } = inNetns(opts.netns, IP_BINARY, ['-batch', '-']);
  try {
    await runner.run(command, args, { input: lines.join('\n') + '\n', timeoutMs: opts.timeoutMs });
  } catch (err) {
    if (!(err instanceof CommandFailure)) throw err;
    const m = /Command failed -:(\d+)/.exec(err.stderr);
    const failed = m ? lines[Number(m[1]) - 1] : undefined;
    const where = opts.netns ? ` in network namespace "${opts.netns}"` : '';
    const stderr = err.stderr.replace(/\n?Command failed -:\d+\s*$/, '').trim();
    throw new CommandFailure(
      {
        command: err.command,
        args: err.args,
        exitCode: err.exitCode,
        signal: err.signal,
        stdout: err.stdout,
        stderr: failed !== undefined ? `${stderr} (batch line "${failed}"${where})` : `${stderr}${where ? ` (${where.trim()})` : ''}`,
        timedOut: err.timedOut,
      },
      { cause: err },
    );
  }
}

/** Runs `ip -json ARGS` and parses the output ([] when ip prints nothing). */
export async function ipJson<T = unknown>(runner: CommandRunner, args: readonly string[], opts: NetnsOption = {}): Promise<T[]> {
  const { command, args: full } = inNetns(opts.netns, IP_BINARY, ['-json', ...args]);
  const { stdout } = await runner.run(command, full, { timeoutMs: opts.timeoutMs });
  const text = stdout.trim();
  if (text === '') return [];
  try {
    return JSON.parse(text) as T[];
  } catch (err) {
    throw new CommandFailure({ command, args: full, exitCode: 0, signal: null, stdout, stderr: `output is not JSON: ${String(err)}` }, { cause: err });
  }
}

/** The error says the device (link) does not exist. */
export function isNoSuchDevice(err: unknown): boolean {
  return err instanceof CommandFailure && /Cannot find device|does not exist|No such device/i.test(err.stderr);
}

/** The error says the object being created is already there. */
export function isAlreadyExists(err: unknown): boolean {
  return err instanceof CommandFailure && /File exists/i.test(err.stderr);
}

/** The error says a namespace path given to ip/nsenter does not exist or is not a namespace. */
export function isBadNetns(err: unknown): boolean {
  return err instanceof CommandFailure && /(nsenter|netns).*(No such file|Invalid argument|cannot open)|Invalid "netns" value/i.test(err.stderr);
}

/** The fields brindle reads from `ip -json link show`. */
export interface IpLink {
  ifindex: number;
  ifname: string;
  address?: string;
  mtu?: number;
  operstate?: string;
  flags?: string[];
  link_netnsid?: number;
  link?: string;
}

export interface IpAddrInfo {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  scope?: string;
}

export interface IpAddrLink extends IpLink {
  addr_info?: IpAddrInfo[];
}

export interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
  flags?: string[];
  type?: string;
}

/**
 * Whether this process's own namespace has a link of that name, read from /proc/self/net/dev (no
 * process spawned); undefined when the file cannot be read (the caller then asks ip).
 */
export async function linkPresentHere(runner: CommandRunner, name: string): Promise<boolean | undefined> {
  const text = await runner.readProcFile('/proc/self/net/dev');
  if (text === undefined) return undefined;
  return text.split('\n').some((line) => line.trimStart().startsWith(`${name}:`));
}

/** The link, or undefined when there is none of that name. */
export async function getLink(runner: CommandRunner, name: string, opts: NetnsOption = {}): Promise<IpLink | undefined> {
  try {
    const links = await ipJson<IpLink>(runner, ['link', 'show', 'dev', name], opts);
    return links[0];
  } catch (err) {
    if (isNoSuchDevice(err)) return undefined;
    throw err;
  }
}

export async function listLinks(runner: CommandRunner, opts: NetnsOption = {}): Promise<IpLink[]> {
  return ipJson<IpLink>(runner, ['link', 'show'], opts);
}

export async function listAddresses(runner: CommandRunner, opts: NetnsOption & { dev?: string } = {}): Promise<IpAddrLink[]> {
  return ipJson<IpAddrLink>(runner, ['addr', 'show', ...(opts.dev ? ['dev', opts.dev] : [])], opts);
}

/** Routes of the main table for one family. */
export async function listRoutes(runner: CommandRunner, family: 4 | 6, opts: NetnsOption = {}): Promise<IpRoute[]> {
  return ipJson<IpRoute>(runner, [`-${family}`, 'route', 'show'], opts);
}
