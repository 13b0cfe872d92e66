// `ved stats <dir>`: the engine's figures for a store, read-only, alongside a running writer.
import type { Command } from 'commander'
import type { StoreStats } from '../store.js'
import { EXIT_OK, formatBytes, runCommand, writeJson, type CliIo, type CommonOptions } from './io.js'
import { openReadOnly } from './store.js'

/** What `ved stats --json` prints: the store's path and StoreStats, unchanged. */
export interface StatsReport extends StoreStats {
  path: string
}

export function registerStats(program: Command, io: CliIo, setExitCode: (code: number) => void): void {
  program
    .command('stats')
    .description('print a store\'s figures: seq, bytes, segments, recovery (read-only: works while a writer runs)')
    .argument('<dir>', 'the store directory')
    .option('--json', 'print one JSON object (StoreStats and path)', false)
    .action(async (dir: string, options: CommonOptions) => {
      setExitCode(await runCommand(io, 'ved stats', options, () => stats(io, dir, options)))
    })
}

async function stats(io: CliIo, dir: string, options: CommonOptions): Promise<number> {
  const store = await openReadOnly(dir)
  let report: StatsReport
  try {
    report = { path: store.path, ...store.stats() }
  } finally {
    await store.close()
  }
  if (options.json) writeJson(io, report)
  else io.stdout.write(formatStats(report))
  return EXIT_OK
}

/** The human-readable report: one figure per line, label column first. */
export function formatStats(report: StatsReport): string {
  const recovery = report.recovery
  const livePercent = report.fileBytes === 0 ? 0 : (100 * report.liveBytes) / report.fileBytes
  const rows: Array<[string, string]> = [
    ['store', report.path],
    ['seq', `${report.seq} (durable ${report.durableSeq})`],
    ['file', `${formatBytes(report.fileBytes)} (${report.fileBytes} bytes) in ${report.segments} segment${report.segments === 1 ? '' : 's'} of ${formatBytes(report.segmentSizeBytes)}`],
    ['live', `${formatBytes(report.liveBytes)} (${report.liveBytes} bytes, ${livePercent.toFixed(1)}% of the file)`],
    ['page size', `${report.pageSizeBytes} bytes`],
    ['log end', `offset ${report.logEndOffset}`],
    [
      'open',
      `${recovery.scannedCommits} commit${recovery.scannedCommits === 1 ? '' : 's'} scanned ` +
        `${recovery.startedFromCheckpoint ? 'from a checkpoint' : 'from the start of the log'} in ${recovery.openMs.toFixed(1)} ms; ` +
        (recovery.tailReason === '' ? 'the log ended cleanly' : `tail dropped (${recovery.droppedBytes} bytes): ${recovery.tailReason}`),
    ],
  ]
  if (report.poisoned) rows.push(['poisoned', 'yes: a failed fdatasync; writes fail with EIO until the store is reopened'])
  const width = Math.max(...rows.map(([label]) => label.length)) + 2
  return rows.map(([label, value]) => `${label.padEnd(width)}${value}\n`).join('')
}
