// `ved compact <dir>`: reclaims the space of overwritten and deleted data now (store.compact()),
// and reports what it gave back. It writes, so it needs the store to itself: while a runtime
// holds the store open for writing it fails with ELOCKED (there the runtime's background
// cleaning does this job, or the runtime calls store.compact(); see docs/api.md, "Space
// reclamation").
import type { CompactResult, Store } from '../store.js'
import { addCommand, printReport, withStore, type Cli } from './command.js'
import { EXIT_OK, formatBytes, formatRows, plural } from './io.js'
import { startProgress, type Progress } from './progress.js'
import { openWritable } from './store.js'

/** What `ved compact --json` prints: the store's path and CompactResult, unchanged. */
export interface CompactReport extends CompactResult {
  path: string
}

/**
 * How often the progress bar reads the cleaner's figures. store.compact() reports no progress
 * itself; it yields to the event loop between its commits and while a cleaner pass runs, so a
 * timer gets to run. Matches the bar's own redraw rate: reading more often would show nothing new.
 */
const PROGRESS_POLL_MS = 100

export function registerCompact(cli: Cli): void {
  addCommand(cli, {
    name: 'compact',
    description: 'reclaim the space of overwritten and deleted data now (opens for writing: ELOCKED while a writer runs)',
    arguments: [['<dir>', 'the store directory']],
    json: 'print one JSON object (CompactResult and path)',
    async run(io, [dir]: [string], options) {
      const report: CompactReport = await withStore(
        dir,
        async (store) => {
          const progress = startProgress(io, 'compact', 'KiB reclaimed')
          const watcher = watchReclaimed(store, progress)
          try {
            const result = await store.compact()
            watcher.finish(result.reclaimedBytes)
            return { path: store.path, ...result }
          } finally {
            watcher.stop()
            progress.stop()
          }
        },
        openWritable,
      )
      printReport(io, options, report, formatCompact)
      return EXIT_OK
    },
  })
}

/**
 * Shows the bytes of deleted segments (the cleaner's bytesReclaimed, counted from now) against
 * the file bytes before: compact() deletes only segments that existed when it was called, so
 * those bytes bound what it can reclaim. The bar ends short of 100% by what stays (the live
 * data's segments, nearly full segments); the summary printed after it says exactly.
 */
function watchReclaimed(store: Store, progress: Progress): { finish(reclaimedBytes: number): void; stop(): void } {
  const start = store.stats()
  const totalKiB = Math.ceil(start.fileBytes / 1024)
  const show = (reclaimedBytes: number): void => progress.update(Math.floor(reclaimedBytes / 1024), totalKiB)
  show(0)
  const timer = setInterval(() => {
    let reclaimed: number
    try {
      reclaimed = store.stats().cleaner.bytesReclaimed - start.cleaner.bytesReclaimed
    } catch {
      // Only the bar is lost: compact() itself rejects with whatever went wrong.
      return
    }
    show(reclaimed)
  }, PROGRESS_POLL_MS)
  return {
    finish: show,
    stop: () => clearInterval(timer),
  }
}

/** The human-readable report: one figure per line, label column first. */
export function formatCompact(report: CompactReport): string {
  const bytes = (n: number): string => `${formatBytes(n)} (${n} bytes)`
  const rows: Array<[string, string]> = [
    ['store', report.path],
    ['file before', bytes(report.fileBytesBefore)],
    ['file after', bytes(report.fileBytesAfter)],
    ['live', bytes(report.liveBytes)],
    ['reclaimed', `${bytes(report.reclaimedBytes)} in ${plural(report.segmentsDeleted, 'segment')} deleted`],
    ['relocated', `${plural(report.relocatedKeys, 'key')} rewritten out of emptied segments`],
    [
      'waiting',
      report.segmentsWaiting === 0
        ? '0 segments'
        : `${plural(report.segmentsWaiting, 'free segment')} not deleted yet (waiting for a checkpoint or an older snapshot); a later compact or the store's cleaning deletes them`,
    ],
  ]
  return formatRows(rows)
}
