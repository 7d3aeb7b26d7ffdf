// Puts the plugins where runtimes find them: bundles brindle-cni into one CommonJS file with esbuild
// (one node process parsing one file, no TypeScript loader), writes brindle-cni and brindle-ipam as
// small shell shims next to it (they hand the call to a brindle CNI server on the local socket when
// one runs, else run the bundle), and writes a conflist (cniVersion 1.0.0, the newest Debian 12's
// runtimes know) naming the datastore.
//
//   brindle-cni install --bin-dir /opt/cni/bin --conf-dir /etc/cni/net.d --datastore sqlite:/var/lib/brindle/brindle.db
//     ──► BIN/.brindle-plugin.cjs (bundle) + BIN/brindle-cni, BIN/brindle-ipam (sh shims) ──► CONF/10-brindle.conflist
//
// The native SQLite binding cannot be bundled: the bundle loads it from this checkout's
// node_modules by absolute path, so the checkout must stay where it was when installing.

import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDatastoreLocator } from '../datastore/index.ts';
import { INSTALL_VERSION } from './cni-result.ts';
import type { PluginKind } from './cni-plugin.ts';

export const PLUGIN_ENTRY = fileURLToPath(new URL('./plugin-entry.ts', import.meta.url));
export const DEFAULT_CONFLIST_NAME = '10-brindle.conflist';
export const DEFAULT_NETWORK_NAME = 'brindle';
export const DEFAULT_LOG_FILE = '/var/log/brindle/cni.log';
export const BUNDLE_FILE_NAME = '.brindle-plugin.cjs';
/** Where the shims look for a CNI server (the agent's), unless BRINDLE_CNI_SOCKET says otherwise. */
export const DEFAULT_SHIM_SOCKET = '/run/brindle/cni.sock';

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The plugin file a runtime executes. With a server socket present the call goes over curl (a few
 * ms instead of a Node start-up); 421 (server in another network namespace), 503 or no answer
 * falls back to the bundle, with the saved stdin. Fault injection always takes the bundle.
 */
export function renderShim(o: { kind: PluginKind; bundle: string; node: string; socket: string }): string {
  return `#!/bin/sh
# brindle-${o.kind} CNI plugin (shim written by \`brindle-cni install\`): uses the brindle CNI server
# on the socket when one runs in this network namespace, else the self-contained bundle.
BUNDLE=${shQuote(o.bundle)}
NODE=${shQuote(o.node)}
SOCK="\${BRINDLE_CNI_SOCKET:-${o.socket}}"
BRINDLE_CNI_KIND=${o.kind}
export BRINDLE_CNI_KIND
if [ -S "$SOCK" ] && [ -z "$BRINDLE_CNI_CRASH_AT" ] && command -v curl >/dev/null 2>&1; then
  conf=$(cat; printf x)
  conf=\${conf%x}
  out=$(printf '%s' "$conf" | curl -s --max-time 60 --unix-socket "$SOCK" -H "x-cni-shim-pid: $$" \\
    -H "x-cni-command: $CNI_COMMAND" -H "x-cni-containerid: $CNI_CONTAINERID" -H "x-cni-netns: $CNI_NETNS" \\
    -H "x-cni-ifname: $CNI_IFNAME" -H "x-cni-args: $CNI_ARGS" -H "x-cni-path: $CNI_PATH" \\
    -H "x-brindle-datastore: $BRINDLE_DATASTORE" --data-binary @- -w '%{http_code}' http://brindle/v1/${o.kind} 2>/dev/null)
  code=\${out#"\${out%???}"}
  body=\${out%???}
  case "$code" in
    200) [ -n "$body" ] && printf '%s\\n' "$body"; exit 0 ;;
    500) printf '%s\\n' "$body"; exit 1 ;;
  esac
  printf '%s' "$conf" | "$NODE" "$BUNDLE" "$@"
  exit $?
fi
exec "$NODE" "$BUNDLE" "$@"
`;
}

/** Bundles the plugin into `outFile` (CommonJS, so it runs from a file without an extension). */
export async function buildPluginBundle(outFile: string): Promise<void> {
  const esbuild = await import('esbuild');
  const require = createRequire(import.meta.url);
  const sqlitePath = require.resolve('better-sqlite3');
  mkdirSync(dirname(outFile), { recursive: true });
  await esbuild.build({
    entryPoints: [PLUGIN_ENTRY],
    outfile: outFile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    minify: true,
    legalComments: 'none',
    logLevel: 'error',
    banner: { js: `#!/usr/bin/env node\nconst __brindle_import_meta_url = require('node:url').pathToFileURL(__filename).href;` },
    define: { 'import.meta.url': '__brindle_import_meta_url' },
    // The installer itself needs esbuild; a runtime's ADD never loads it.
    external: ['esbuild'],
    plugins: [
      {
        name: 'native-sqlite-by-path',
        setup(build) {
          build.onResolve({ filter: /^better-sqlite3$/ }, () => ({ path: sqlitePath, external: true }));
        },
      },
    ],
  });
  chmodSync(outFile, 0o755);
}

export interface InstallOptions {
  binDir: string;
  confDir: string;
  /** Datastore locator written into the conflist; without it the plugin uses $BRINDLE_DATASTORE or the default. */
  datastore?: string;
  name?: string;
  nodename?: string;
  mtu?: number;
  logFile?: string;
  conflistName?: string;
  /** CNI server socket the shims try first (default /run/brindle/cni.sock). */
  socket?: string;
  /** Extra keys merged into the plugin object (e.g. ipam pools). */
  extra?: Record<string, unknown>;
}

export interface InstallResult {
  /** The shims runtimes execute. */
  binaries: string[];
  bundle: string;
  conflist: string;
}

export function renderConflist(opts: Omit<InstallOptions, 'binDir' | 'confDir'>): Record<string, unknown> {
  const plugin: Record<string, unknown> = {
    type: 'brindle-cni',
    ...(opts.datastore ? { datastore: opts.datastore } : {}),
    ...(opts.nodename ? { nodename: opts.nodename } : {}),
    ...(opts.mtu ? { mtu: opts.mtu } : {}),
    log_file_path: opts.logFile ?? DEFAULT_LOG_FILE,
    ipam: { type: 'brindle-ipam' },
    ...(opts.extra ?? {}),
  };
  return { cniVersion: INSTALL_VERSION, name: opts.name ?? DEFAULT_NETWORK_NAME, plugins: [plugin] };
}

/** Writes a file by rename, so a runtime never reads half of it. */
function writeAtomic(path: string, text: string, mode = 0o644): void {
  const tmp = `${path}.brindle-tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

export async function installCni(opts: InstallOptions): Promise<InstallResult> {
  if (opts.datastore) parseDatastoreLocator(opts.datastore);
  mkdirSync(opts.binDir, { recursive: true });
  mkdirSync(opts.confDir, { recursive: true });
  const work = mkdtempSync(join(opts.binDir, '.brindle-build-'));
  const bundle = join(opts.binDir, BUNDLE_FILE_NAME);
  const binaries = [join(opts.binDir, 'brindle-cni'), join(opts.binDir, 'brindle-ipam')];
  try {
    const built = join(work, BUNDLE_FILE_NAME);
    await buildPluginBundle(built);
    // Rename into place: a runtime exec'ing the old file mid-install keeps a whole one.
    renameSync(built, bundle);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  for (const [i, target] of binaries.entries()) {
    const kind: PluginKind = i === 0 ? 'cni' : 'ipam';
    writeAtomic(target, renderShim({ kind, bundle, node: process.execPath, socket: opts.socket ?? DEFAULT_SHIM_SOCKET }), 0o755);
  }
  const conflist = join(opts.confDir, opts.conflistName ?? DEFAULT_CONFLIST_NAME);
  writeAtomic(conflist, JSON.stringify(renderConflist(opts), null, 2) + '\n');
  return { binaries, bundle, conflist };
}

const USAGE = `Usage:
  brindle-cni install --bin-dir DIR --conf-dir DIR [--datastore LOCATOR] [--name NAME]
                      [--nodename NAME] [--mtu N] [--log-file PATH] [--conflist-name FILE] [--socket PATH]
      Bundle the plugins into DIR (brindle-cni, brindle-ipam) and write the conflist
      (cniVersion ${INSTALL_VERSION}) into the conf dir. LOCATOR is sqlite:PATH or etcd:URL[,URL...].
      The plugins use a CNI server on --socket (default ${DEFAULT_SHIM_SOCKET}) when one runs.
  brindle-cni serve [--socket PATH]
      Answer CNI calls on the socket (the fast path; the agent can host the same server).
  brindle-cni build --out FILE
      Only bundle the plugin into FILE.
As a CNI plugin it is run by a container runtime with CNI_COMMAND and friends set.
`;

/** `brindle-cni install|build …`: returns the exit status. */
export async function installCommand(_kind: PluginKind, args: readonly string[], out: { write(s: string): unknown } = process.stdout, err: { write(s: string): unknown } = process.stderr): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === '--help' || sub === '-h') {
    out.write(USAGE);
    return 0;
  }
  const flags = new Map<string, string>();
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    const eq = a.indexOf('=');
    const key = eq > 0 ? a.slice(0, eq) : a;
    if (!key.startsWith('--')) {
      err.write(`brindle-cni ${sub}: unexpected argument "${a}"\n${USAGE}`);
      return 2;
    }
    const value = eq > 0 ? a.slice(eq + 1) : rest[++i];
    if (value === undefined) {
      err.write(`brindle-cni ${sub}: ${key} needs a value\n`);
      return 2;
    }
    flags.set(key.slice(2), value);
  }
  const allowed = sub === 'build' ? ['out'] : ['bin-dir', 'conf-dir', 'datastore', 'name', 'nodename', 'mtu', 'log-file', 'conflist-name', 'socket'];
  for (const k of flags.keys()) {
    if (!allowed.includes(k)) {
      err.write(`brindle-cni ${sub}: unknown option "--${k}"\n${USAGE}`);
      return 2;
    }
  }
  try {
    if (sub === 'build') {
      const file = flags.get('out');
      if (!file) {
        err.write(`brindle-cni build: --out FILE is required\n`);
        return 2;
      }
      await buildPluginBundle(file);
      out.write(`${file}\n`);
      return 0;
    }
    const binDir = flags.get('bin-dir');
    const confDir = flags.get('conf-dir');
    if (!binDir || !confDir) {
      err.write(`brindle-cni install: --bin-dir and --conf-dir are required\n${USAGE}`);
      return 2;
    }
    const mtuText = flags.get('mtu');
    const mtu = mtuText === undefined ? undefined : Number(mtuText);
    if (mtu !== undefined && (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535)) {
      err.write(`brindle-cni install: --mtu "${mtuText}" is not a whole number from 68 to 65535\n`);
      return 2;
    }
    const r = await installCni({
      binDir,
      confDir,
      datastore: flags.get('datastore'),
      name: flags.get('name'),
      nodename: flags.get('nodename'),
      mtu,
      logFile: flags.get('log-file'),
      conflistName: flags.get('conflist-name'),
      socket: flags.get('socket'),
    });
    out.write(`installed ${r.binaries.join(', ')} (bundle ${r.bundle})\nwrote ${r.conflist}\n`);
    return 0;
  } catch (e) {
    err.write(`brindle-cni ${sub}: ${(e as Error).message}\n`);
    return 1;
  }
}
