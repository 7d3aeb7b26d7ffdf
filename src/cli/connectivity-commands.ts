// `brindlectl connectivity test --simulate --cases FILE`: runs reachability cases (shared/conformance
// format) through the policy evaluator, with no kernel: one row per case with its cell counts and, for a
// failing probe, the expected and observed matrices side by side. Exit status 1 when any case fails.
// The same command on real packets (without --simulate) arrives with `brindlectl lab`.
//
//   --cases FILE ──► runConformance (calc) ──► table | json

import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { caseFailed, runConformance } from '../calc/index.ts';
import type { CaseResult, ConformanceRun, ProbeResult } from '../calc/index.ts';
import type { AnyResource } from '../model/index.ts';
import { CliError, EXIT_FAILED, EXIT_USAGE } from './io.ts';

export interface ConnectivityCommandDeps {
  loadResources(): Promise<AnyResource[]>;
  stdout(text: string): void;
  stderr(text: string): void;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function padStart(s: string, n: number): string {
  return s.length >= n ? s : ' '.repeat(n - s.length) + s;
}

/** Expected and observed matrices side by side; rows that differ are marked with `*`. */
export function sideBySide(p: ProbeResult): string[] {
  const keyWidth = Math.max(4, ...p.rows.map((r) => r.length));
  const width = Math.max(8, p.columns.length);
  const lines = [`    ${pad('', keyWidth)}  ${pad('expected', width)}  observed`];
  p.rows.forEach((row, i) => {
    const mark = p.expected[i].split('').some((ch, j) => ch !== '-' && ch !== p.observed[i][j]) ? '*' : ' ';
    lines.push(`  ${mark} ${pad(row, keyWidth)}  ${pad(p.expected[i], width)}  ${p.observed[i]}`);
  });
  lines.push(`    columns: ${p.columns.join(' ')}`);
  return lines;
}

function probeTitle(c: CaseResult, p: ProbeResult): string {
  const where = p.step === 0 ? 'initial probes' : `step ${p.step}${p.stepDescription ? ` (${p.stepDescription})` : ''}`;
  return `${c.id} ${where}: ${p.protocol}/${p.port}: ${p.failed} wrong`;
}

export function formatRunText(run: ConformanceRun): string {
  const idWidth = Math.max(4, ...run.cases.map((c) => c.id.length));
  const lines = [`${pad('CASE', idWidth)}  ${padStart('PASSED', 6)}  ${padStart('FAILED', 6)}  ${padStart('SKIPPED', 7)}  RESULT`];
  for (const c of run.cases) {
    const result = c.error ? 'ERROR' : c.failed > 0 ? 'FAIL' : 'ok';
    lines.push(`${pad(c.id, idWidth)}  ${padStart(String(c.passed), 6)}  ${padStart(String(c.failed), 6)}  ${padStart(String(c.skipped), 7)}  ${result}`);
  }
  const failed = run.cases.filter(caseFailed);
  for (const c of failed) {
    lines.push('');
    if (c.error) {
      lines.push(`${c.id}: ${c.error}`);
      continue;
    }
    for (const p of c.probes) {
      if (p.failed === 0) continue;
      lines.push(probeTitle(c, p), ...sideBySide(p));
    }
  }
  const cells = run.cases.reduce((n, c) => n + c.passed + c.failed, 0);
  lines.push('', `${run.cases.length} cases: ${run.cases.length - failed.length} passed, ${failed.length} failed (${cells} probes evaluated, simulated)`);
  return `${lines.join('\n')}\n`;
}

export function registerConnectivityCommands(program: Command, deps: ConnectivityCommandDeps): void {
  const conn = program.command('connectivity').description('reachability tests between pods');
  conn
    .command('test')
    .description('run reachability cases (shared/conformance format) and compare with their expected matrices')
    .option('--simulate', 'evaluate the cases with the policy evaluator instead of real packets')
    .requiredOption('--cases <file>', 'cases file (YAML, shared/conformance format)')
    .option('--only <ids>', 'comma-separated case ids to run')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (opts: { simulate?: boolean; cases: string; only?: string; output: string }) => {
      if (opts.output !== 'text' && opts.output !== 'json') {
        throw new CliError(`unknown output format "${opts.output}" (expected text or json)`, EXIT_USAGE);
      }
      if (!opts.simulate) {
        throw new CliError('connectivity test on real packets needs the lab runner, which arrives with `brindlectl lab`; add --simulate to evaluate the cases with the policy evaluator', EXIT_USAGE);
      }
      let text: string;
      try {
        text = readFileSync(opts.cases, 'utf8');
      } catch (err) {
        throw new CliError(`cannot read cases file "${opts.cases}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT_USAGE);
      }
      const only = opts.only?.split(',').map((s) => s.trim()).filter((s) => s !== '');
      let run: ConformanceRun;
      try {
        run = runConformance(text, { only });
      } catch (err) {
        throw new CliError(`cases file "${opts.cases}": ${(err as Error).message}`, EXIT_USAGE);
      }
      if (run.unknownIds.length > 0) {
        throw new CliError(`--only: no case with id ${run.unknownIds.map((i) => `"${i}"`).join(', ')} in "${opts.cases}"`, EXIT_USAGE);
      }
      if (opts.output === 'json') deps.stdout(`${JSON.stringify(run, null, 2)}\n`);
      else deps.stdout(formatRunText(run));
      if (run.cases.some(caseFailed)) process.exitCode = EXIT_FAILED;
    });
}
