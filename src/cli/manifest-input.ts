// Reads `-f FILE|DIR|-` arguments into validated manifest documents. Every file is parsed and
// validated before the caller writes anything, so bad input changes nothing in the store.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifests } from '../model/index.ts';
import type { ManifestDocument } from '../model/index.ts';
import { CliError, EXIT_USAGE } from './io.ts';
import type { CliIO } from './io.ts';

const MANIFEST_EXTENSIONS = /\.(ya?ml|json)$/i;

function filesOf(path: string, recursive: boolean): string[] {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new CliError(`Cannot read "${path}": no such file or directory`, EXIT_USAGE);
  }
  if (!st.isDirectory()) return [path];
  const out: string[] = [];
  for (const name of readdirSync(path).sort()) {
    const p = join(path, name);
    const s = statSync(p);
    if (s.isDirectory()) {
      if (recursive) out.push(...filesOf(p, true));
    } else if (MANIFEST_EXTENSIONS.test(name)) {
      out.push(p);
    }
  }
  return out;
}

/** Parses and validates all documents of all given files; throws on the first invalid one. */
export async function readManifestArgs(io: CliIO, files: string[], recursive = false): Promise<ManifestDocument[]> {
  if (files.length === 0) throw new CliError('no input: give -f FILE, -f DIR or -f - for standard input', EXIT_USAGE);
  const docs: ManifestDocument[] = [];
  for (const arg of files) {
    if (arg === '-') {
      docs.push(...parseManifests(await io.readStdin(), '<stdin>'));
      continue;
    }
    for (const file of filesOf(arg, recursive)) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        throw new CliError(`Cannot read "${file}": ${(err as Error).message}`, EXIT_USAGE);
      }
      docs.push(...parseManifests(text, file));
    }
  }
  return docs;
}
