// Runs a CNI plugin binary exactly as a container runtime does (the job libcni does for podman and
// containerd): CNI_* variables in the environment, the network config on stdin, the result or error
// JSON read from stdout, optionally from inside a host network namespace. Root tests, bench/cni and
// the lab drive brindle-cni and the reference plugins through it.
//
//   execPlugin({binary, command, conf, hostNetns}) ──spawn [nsenter --net=HOST] BINARY──► {exitCode, signal, json, ms}

import { spawn } from 'node:child_process';

export interface ExecPluginOptions {
  binary: string;
  command: string;
  conf: unknown;
  containerId?: string;
  netns?: string;
  ifname?: string;
  /** CNI_ARGS, e.g. "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p". */
  args?: string;
  /** CNI_PATH entries. */
  path?: string[];
  /** Run the plugin inside this network namespace (its "host"), through nsenter. */
  hostNetns?: string;
  /** Extra environment (e.g. BRINDLE_CNI_CRASH_AT for fault injection). */
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface ExecPluginResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout parsed, when it is JSON. */
  json: Record<string, unknown> | undefined;
  /** Wall time from spawn to exit. */
  ms: number;
}

export function execPlugin(opts: ExecPluginOptions): Promise<ExecPluginResult> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: opts.command,
    ...(opts.containerId !== undefined ? { CNI_CONTAINERID: opts.containerId } : {}),
    ...(opts.netns !== undefined ? { CNI_NETNS: opts.netns } : {}),
    ...(opts.ifname !== undefined ? { CNI_IFNAME: opts.ifname } : {}),
    ...(opts.args !== undefined ? { CNI_ARGS: opts.args } : {}),
    CNI_PATH: (opts.path ?? []).join(':'),
    ...(opts.env ?? {}),
  };
  const [command, args] = opts.hostNetns ? ['nsenter', [`--net=${opts.hostNetns}`, opts.binary]] : [opts.binary, []];
  const stdin = typeof opts.conf === 'string' ? opts.conf : JSON.stringify(opts.conf);
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      const ms = performance.now() - t0;
      const stdout = Buffer.concat(out).toString('utf8');
      let json: Record<string, unknown> | undefined;
      try {
        json = stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ exitCode, signal, stdout, stderr: Buffer.concat(err).toString('utf8'), json, ms });
    });
  });
}
