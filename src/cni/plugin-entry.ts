// Entry point that esbuild bundles into the installed brindle-cni / brindle-ipam file: runs the
// plugin and sets the exit status. Development runs go through src/bin/brindle-cni.ts instead.
//
//   /opt/cni/bin/brindle-cni (bundle of this file) ──► cniMain(process.argv) ──► exit status

import { cniMain } from './cni-main.ts';

cniMain(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`brindle-cni: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
