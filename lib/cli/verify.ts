// `ved verify <dir>`: every checksum and tree invariant of a store's newest durable version,
// read-only, alongside a running writer. Exit 0 when nothing was found, 1 when damage was.
//
// Damage is a finding, not a failure of the command: the whole report still goes to stdout
// (the summary, or with --json the report object), so a script sees every finding. stderr
// gets the same one line a failed command gives ("ved verify: ECORRUPT: ..."), so that
// "exit 1 means read stderr's first word" holds for verify too.
import type { VerifyReport } from '../verify.js'
import { addCommand, oneLine, printReport, withStore, type Cli } from './command.js'
import { EXIT_FAILED, EXIT_OK, formatBytes, formatRows, plural } from './io.js'
import { startProgress } from './progress.js'

/** What `ved verify --json` prints: the store's path and VerifyReport, unchanged. */
export interface VerifyCliReport extends VerifyReport {
  path: string
}

export function registerVerify(cli: Cli): void {
  addCommand(cli, {
    name: 'verify',
    description: 'check every checksum and tree invariant; exit 1 when damage is found (read-only: works while a writer runs)',
    arguments: [['<dir>', 'the store directory']],
    json: 'print one JSON object (VerifyReport and path)',
    async run(io, [dir]: [string], options) {
      const report: VerifyCliReport = await withStore(dir, async (store) => {
        const progress = startProgress(io, 'verify', 'pages')
        try {
          const result = await store.verify({ onProgress: ({ pagesDone, pagesTotalEstimate }) => progress.update(pagesDone, pagesTotalEstimate) })
          return { path: store.path, ...result }
        } finally {
          // The bar goes before anything else is printed, also when the walk threw.
          progress.stop()
        }
      })
      printReport(io, options, report, formatVerify)
      if (report.ok) return EXIT_OK
      io.stderr.write(`ved verify: ECORRUPT: ${damageLine(report)}\n`)
      return EXIT_FAILED
    },
  })
}

/** The stderr line for a damaged store: how much was found and where the first finding is. */
function damageLine(report: VerifyCliReport): string {
  const count = report.errors.length + report.errorsOmitted
  const first = report.errors[0]
  const where = first === undefined ? '' : `; first: ${first.code} at segment ${first.segment}, offset ${first.offset}: ${oneLine(first.message)}`
  return `${plural(count, 'finding')} in ${report.path}${where}`
}

/** The human-readable report: figures one per line, then one line per finding. */
export function formatVerify(report: VerifyCliReport): string {
  const count = report.errors.length + report.errorsOmitted
  const rows: Array<[string, string]> = [
    ['store', report.path],
    ['version', `seq ${report.seq}, ${plural(report.trees, 'tree')}`],
    ['checked', `${plural(report.pagesChecked, 'page')}, ${plural(report.blobsChecked, 'large value')}, ${formatBytes(report.bytesChecked)} (${report.bytesChecked} bytes)`],
    ['result', report.ok ? 'ok: no damage found' : `DAMAGED: ${plural(count, 'finding')}`],
  ]
  let text = formatRows(rows)
  // One finding per line, location first, so that `grep segment` or a sort by it works.
  for (const e of report.errors) text += `  segment ${e.segment} offset ${e.offset}: ${e.code}: ${oneLine(e.message)}\n`
  if (report.errorsOmitted > 0) text += `  ... and ${report.errorsOmitted} more not listed (verify keeps the first ${report.errors.length})\n`
  return text
}
