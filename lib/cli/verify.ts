// `ved verify <dir>`: every checksum and tree invariant of a store's newest durable version,
// read-only, alongside a running writer. Exit 0 when nothing was found, 1 when damage was.
//
// Damage is a finding, not a failure of the command: the whole report still goes to stdout
// (the summary, or with --json the report object), so a script sees every finding. stderr
// gets the same one line a failed command gives ("ved verify: ECORRUPT: ..."), so that
// "exit 1 means read stderr's first word" holds for verify too.
import type { Command } from 'commander'
import type { VerifyReport } from '../verify.js'
import { EXIT_FAILED, EXIT_OK, formatBytes, runCommand, writeJson, type CliIo, type CommonOptions } from './io.js'
import { startProgress } from './progress.js'
import { openReadOnly } from './store.js'

/** What `ved verify --json` prints: the store's path and VerifyReport, unchanged. */
export interface VerifyCliReport extends VerifyReport {
  path: string
}

export function registerVerify(program: Command, io: CliIo, setExitCode: (code: number) => void): void {
  program
    .command('verify')
    .description('check every checksum and tree invariant; exit 1 when damage is found (read-only: works while a writer runs)')
    .argument('<dir>', 'the store directory')
    .option('--json', 'print one JSON object (VerifyReport and path)', false)
    .action(async (dir: string, options: CommonOptions) => {
      setExitCode(await runCommand(io, 'ved verify', options, () => verify(io, dir, options)))
    })
}

async function verify(io: CliIo, dir: string, options: CommonOptions): Promise<number> {
  const store = await openReadOnly(dir)
  let report: VerifyCliReport
  const progress = startProgress(io, 'verify', 'pages')
  try {
    const result = await store.verify({ onProgress: ({ pagesDone, pagesTotalEstimate }) => progress.update(pagesDone, pagesTotalEstimate) })
    report = { path: store.path, ...result }
  } finally {
    // The bar goes before anything else is printed, also when the walk threw.
    progress.stop()
    await store.close()
  }
  if (options.json) writeJson(io, report)
  else io.stdout.write(formatVerify(report))
  if (report.ok) return EXIT_OK
  io.stderr.write(`ved verify: ECORRUPT: ${damageLine(report)}\n`)
  return EXIT_FAILED
}

/** The stderr line for a damaged store: how much was found and where the first finding is. */
function damageLine(report: VerifyCliReport): string {
  const count = report.errors.length + report.errorsOmitted
  const first = report.errors[0]
  const where = first === undefined ? '' : `; first: ${first.code} at segment ${first.segment}, offset ${first.offset}: ${first.message.replace(/\s*\n\s*/g, ' ')}`
  return `${count} finding${count === 1 ? '' : 's'} in ${report.path}${where}`
}

/** The human-readable report: figures one per line, then one line per finding. */
export function formatVerify(report: VerifyCliReport): string {
  const count = report.errors.length + report.errorsOmitted
  const rows: Array<[string, string]> = [
    ['store', report.path],
    ['version', `seq ${report.seq}, ${report.trees} tree${report.trees === 1 ? '' : 's'}`],
    [
      'checked',
      `${report.pagesChecked} page${report.pagesChecked === 1 ? '' : 's'}, ${report.blobsChecked} large value${report.blobsChecked === 1 ? '' : 's'}, ` +
        `${formatBytes(report.bytesChecked)} (${report.bytesChecked} bytes)`,
    ],
    ['result', report.ok ? 'ok: no damage found' : `DAMAGED: ${count} finding${count === 1 ? '' : 's'}`],
  ]
  const width = Math.max(...rows.map(([label]) => label.length)) + 2
  let text = rows.map(([label, value]) => `${label.padEnd(width)}${value}\n`).join('')
  // One finding per line, location first, so that `grep segment` or a sort by it works.
  for (const e of report.errors) text += `  segment ${e.segment} offset ${e.offset}: ${e.code}: ${e.message.replace(/\s*\n\s*/g, ' ')}\n`
  if (report.errorsOmitted > 0) text += `  ... and ${report.errorsOmitted} more not listed (verify keeps the first ${report.errors.length})\n`
  return text
}
