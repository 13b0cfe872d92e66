// `ved stats <dir>`: the engine's figures for a store, read-only, alongside a running writer.
import type { StoreStats } from '../store.js'
import { addCommand, printReport, withStore, type Cli } from './command.js'
import { EXIT_OK, formatBytes, formatRows, plural } from './io.js'

/** What `ved stats --json` prints: the store's path and StoreStats, unchanged. */
export interface StatsReport extends StoreStats {
  path: string
}

export function registerStats(cli: Cli): void {
  addCommand(cli, {
    name: 'stats',
    description: "print a store's figures: seq, bytes, segments, recovery (read-only: works while a writer runs)",
    arguments: [['<dir>', 'the store directory']],
    json: 'print one JSON object (StoreStats and path)',
    async run(io, [dir]: [string], options) {
      const report: StatsReport = await withStore(dir, (store) => ({ path: store.path, ...store.stats() }))
      printReport(io, options, report, formatStats)
      return EXIT_OK
    },
  })
}

/** The human-readable report: one figure per line, label column first. */
export function formatStats(report: StatsReport): string {
  const recovery = report.recovery
  const livePercent = report.fileBytes === 0 ? 0 : (100 * report.liveBytes) / report.fileBytes
  const rows: Array<[string, string]> = [
    ['store', report.path],
    ['seq', `${report.seq} (durable ${report.durableSeq})`],
    ['file', `${formatBytes(report.fileBytes)} (${report.fileBytes} bytes) in ${plural(report.segments, 'segment')} of ${formatBytes(report.segmentSizeBytes)}`],
    ['live', `${formatBytes(report.liveBytes)} (${report.liveBytes} bytes, ${livePercent.toFixed(1)}% of the file)`],
    ['page size', `${report.pageSizeBytes} bytes`],
    ['log end', `offset ${report.logEndOffset}`],
    [
      'open',
      `${plural(recovery.scannedCommits, 'commit')} scanned ` +
        `${recovery.startedFromCheckpoint ? 'from a checkpoint' : 'from the start of the log'} in ${recovery.openMs.toFixed(1)} ms; ` +
        (recovery.tailReason === '' ? 'the log ended cleanly' : `tail dropped (${recovery.droppedBytes} bytes): ${recovery.tailReason}`),
    ],
  ]
  if (report.poisoned) rows.push(['poisoned', 'yes: a failed fdatasync; writes fail with EIO until the store is reopened'])
  return formatRows(rows)
}
