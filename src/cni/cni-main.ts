// Process entry of the plugin binaries: chooses brindle-cni or brindle-ipam by the name the program
// was started under (runtimes exec the file named by the config's "type"), reads stdin, runs the
// command and hands stdout and the exit status back. `brindle-cni install|build|serve` load their
// modules lazily so a runtime's ADD never pays for them.
//
//   runtime ──exec /opt/cni/bin/brindle-cni (CNI_* env, config on stdin)──► cniMain ──► runPlugin ──► stdout, exit status

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { runPlugin } from './cni-plugin.ts';
import type { PluginKind } from './cni-plugin.ts';

/** brindle-ipam when the shim says so (BRINDLE_CNI_KIND) or the program's file name does, else brindle-cni. */
export function pluginKindFor(argv1: string | undefined, env: NodeJS.ProcessEnv = process.env): PluginKind {
  if (env.BRINDLE_CNI_KIND === 'ipam' || env.BRINDLE_CNI_KIND === 'cni') return env.BRINDLE_CNI_KIND;
  return basename(argv1 ?? '').includes('ipam') ? 'ipam' : 'cni';
}

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // No stdin at all (closed, a terminal in non-blocking mode): VERSION still answers.
    if (code === 'EBADF' || code === 'EAGAIN' || code === 'ENXIO' || code === 'EINVAL') return '';
    throw err;
  }
}

/** Runs the binary: a CNI command, or `install` / `build` / `serve` when asked for by a person. */
export async function cniMain(argv: readonly string[] = process.argv): Promise<number> {
  const kind = pluginKindFor(argv[1]);
  const sub = argv[2];
  if (sub === 'serve') {
    const { serveCommand } = await import('./cni-server.ts');
    return serveCommand(argv.slice(3));
  }
  if (sub === 'install' || sub === 'build' || sub === '--help' || sub === '-h') {
    const { installCommand } = await import('./install.ts');
    return installCommand(kind, argv.slice(2));
  }
  const out = await runPlugin(kind, readStdin(), { env: process.env });
  if (out.stdout) process.stdout.write(out.stdout);
  return out.exitCode;
}
