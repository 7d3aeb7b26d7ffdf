// Runs one BIRD 2 daemon for the agent: in a given network namespace (`nsenter --net=PATH bird -f`),
// with its config written atomically (checked by `bird -p` first, then temp + rename) and reloaded by
// `birdc configure` on change, restarted with backoff when it dies, stopped by its own PID only.
//
//   agent ──renderBirdConfig()──► supervisor.apply(text) ──► bird.conf ──birdc configure──► bird (child)
//
// Awkward cases: a config BIRD refuses never replaces the running one (the error is thrown to the
// caller, the old file stays); a crash while a reload is pending restarts with the newest file; a
// restart uses `-R` (graceful restart recovery) so the kernel routes BIRD left (`persist`) are kept
// until BGP has converged again; stop() during a backoff wait cancels the restart.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommandError } from '../lib/index.ts';
import { ProcessRunner, inNetns } from '../os/index.ts';
import type { CommandRunner } from '../os/index.ts';
import { readBirdSessions } from './bird-status.ts';
import type { BgpSession } from './bird-status.ts';

export const BIRD_BINARY = 'bird';
export const BIRDC_BINARY = 'birdc';
/** Where the agent's BIRD listens by default (brindlectl node status reads it). */
export const DEFAULT_BIRD_SOCKET = '/var/run/brindle/bird.ctl';

export interface BirdSupervisorOptions {
  /** Directory for bird.conf and the control socket (the caller creates and removes it). */
  runDir: string;
  /** Network namespace to run BIRD in (/run/netns/NAME, /proc/PID/ns/net); default this process's. */
  netns?: string;
  runner?: CommandRunner;
  birdBinary?: string;
  birdcBinary?: string;
  /** First restart delay, doubled on every quick death up to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** A run at least this long resets the backoff to its initial value. */
  stableAfterMs?: number;
  /** BIRD's log lines (stderr); default: dropped. */
  onLog?: (line: string) => void;
  /** Told of every exit that was not asked for, before the restart is scheduled. */
  onExit?: (info: { code: number | null; signal: NodeJS.Signals | null; restartInMs: number }) => void;
}

// BIRD children still running when this process exits (a crash, a failed test) are stopped by PID,
// so no daemon outlives its supervisor.
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of liveChildren) child.kill('SIGTERM');
  });
}

export class BirdSupervisor {
  readonly configPath: string;
  readonly socketPath: string;
  private readonly opts: Required<Omit<BirdSupervisorOptions, 'netns' | 'onLog' | 'onExit'>> & Pick<BirdSupervisorOptions, 'netns' | 'onLog' | 'onExit'>;
  private child: ChildProcess | undefined;
  private childExited: Promise<void> | undefined;
  private startedAt = 0;
  private backoffMs: number;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private current: string | undefined;
  private restartCount = 0;

  constructor(options: BirdSupervisorOptions) {
    this.opts = {
      runner: new ProcessRunner(),
      birdBinary: BIRD_BINARY,
      birdcBinary: BIRDC_BINARY,
      initialBackoffMs: 200,
      maxBackoffMs: 10_000,
      stableAfterMs: 30_000,
      ...options,
    };
    this.configPath = join(options.runDir, 'bird.conf');
    this.socketPath = join(options.runDir, 'bird.ctl');
    this.backoffMs = this.opts.initialBackoffMs;
  }

  /** PID of the running BIRD, if any. */
  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /** How many times BIRD was started again after dying. */
  get restarts(): number {
    return this.restartCount;
  }

  /**
   * Installs `config` and makes BIRD run it: the first call starts BIRD, later ones reload it when
   * the text changed. Returns false when nothing changed. Throws (keeping the old config) when BIRD
   * refuses the text.
   */
  async apply(config: string): Promise<boolean> {
    if (this.stopping) throw new CommandError(`BIRD supervisor for "${this.configPath}" is stopped`);
    if (config === this.current) return false;
    await this.writeChecked(config);
    this.current = config;
    if (!this.child && !this.restartTimer) {
      this.spawnBird(false);
      return true;
    }
    if (this.pid !== undefined) {
      // BIRD may have read the old file before its socket appeared: wait for it, then reload.
      try {
        await this.waitReady();
        await this.reload();
      } catch (err) {
        if (this.pid !== undefined) throw err;
      }
    }
    // A BIRD that died meanwhile, or is waiting to restart, reads the new file when it starts.
    return true;
  }

  /** `birdc configure`: BIRD compares old and new and restarts only the protocols that changed. */
  async reload(): Promise<void> {
    const r = await this.opts.runner.run(this.opts.birdcBinary, ['-s', this.socketPath, 'configure'], { timeoutMs: 10_000 });
    if (!/Reconfigured|Reconfiguration in progress|Nothing to do/i.test(r.stdout)) {
      throw new CommandError(`BIRD did not take "${this.configPath}": "${r.stdout.trim().replace(/\s*\n\s*/g, '; ')}"`);
    }
  }

  /** Waits until BIRD answers on its control socket. */
  async waitReady(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      if (this.pid !== undefined && existsSync(this.socketPath)) {
        try {
          const r = await this.opts.runner.run(this.opts.birdcBinary, ['-s', this.socketPath, 'show', 'status'], { timeoutMs: 2_000 });
          if (/Daemon is up and running/.test(r.stdout)) return;
          last = r.stdout;
        } catch (err) {
          last = String(err);
        }
      }
      await new Promise((res) => setTimeout(res, 20));
    }
    throw new CommandError(`BIRD at "${this.socketPath}" did not become ready within ${timeoutMs} ms${last ? `: "${last.trim()}"` : ''}`);
  }

  /** Stops BIRD (SIGTERM to its PID, SIGKILL after 5 s) and any pending restart. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const child = this.child;
    if (child && this.pid !== undefined) {
      const killTimer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      child.kill('SIGTERM');
      await this.childExited;
      clearTimeout(killTimer);
    }
    this.child = undefined;
  }

  private async writeChecked(config: string): Promise<void> {
    const tmp = `${this.configPath}.tmp-${process.pid}`;
    writeFileSync(tmp, config, { mode: 0o600 });
    try {
      const r = await this.opts.runner.run(this.opts.birdBinary, ['-p', '-c', tmp], { okCodes: [1], timeoutMs: 10_000 });
      if (r.code !== 0) throw new CommandError(`BIRD refused the new configuration (kept "${this.configPath}"): "${r.stderr.trim()}"`);
      renameSync(tmp, this.configPath);
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  private spawnBird(recovering: boolean): void {
    const args = ['-f', '-c', this.configPath, '-s', this.socketPath, ...(recovering ? ['-R'] : [])];
    const { command, args: full } = inNetns(this.opts.netns, this.opts.birdBinary, args);
    installExitHook();
    const child = spawn(command, full, { stdio: ['ignore', 'ignore', 'pipe'] });
    liveChildren.add(child);
    this.child = child;
    this.startedAt = Date.now();
    let buffered = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) this.opts.onLog?.(line);
    });
    child.on('error', (err) => this.opts.onLog?.(`cannot start "${command}": ${err.message}`));
    this.childExited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        liveChildren.delete(child);
        resolve();
        if (this.child !== child) return;
        this.child = undefined;
        if (this.stopping) return;
        if (Date.now() - this.startedAt >= this.opts.stableAfterMs) this.backoffMs = this.opts.initialBackoffMs;
        const delay = this.backoffMs;
        this.backoffMs = Math.min(this.backoffMs * 2, this.opts.maxBackoffMs);
        this.opts.onExit?.({ code, signal, restartInMs: delay });
        this.restartTimer = setTimeout(() => {
          this.restartTimer = undefined;
          if (this.stopping) return;
          this.restartCount++;
          this.spawnBird(true);
        }, delay);
      });
    });
  }

  /** The BGP sessions of this BIRD, from its control socket. */
  sessions(): Promise<BgpSession[]> {
    return readBirdSessions(this.socketPath, this.opts.runner, this.opts.birdcBinary);
  }

  /** The configuration BIRD runs (or will run at its next start). */
  installedConfig(): string | undefined {
    return existsSync(this.configPath) ? readFileSync(this.configPath, 'utf8') : undefined;
  }
}
