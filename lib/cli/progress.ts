// Progress of a long command (verify, compact): a bar on stderr when stderr is a terminal,
// and nothing otherwise, so that logs and pipes get no control characters; there the
// command's plain summary, printed when it is done, is the whole output.
import cliProgress from 'cli-progress'
import type { CliIo } from './io.js'

/** Redraws per second at most: smooth enough to watch, cheap next to the work measured. */
const PROGRESS_FPS_MAX = 10

export interface Progress {
  /** `done` of `total` units so far. `total` may be an estimate that changes between calls. */
  update(done: number, total: number): void
  /** Removes the bar and shows the cursor again. Idempotent. */
  stop(): void
}

/**
 * Starts a progress bar labelled `label` counting `unit`s ("verify [====    ] 52% | 5200/10000
 * pages | 3s") on io.stderr if it is a terminal; otherwise returns a Progress that draws nothing.
 */
export function startProgress(io: CliIo, label: string, unit: string): Progress {
  const stream = io.stderr as NodeJS.WriteStream
  if (stream.isTTY !== true) return { update: () => {}, stop: () => {} }
  const bar = new cliProgress.SingleBar({
    stream,
    format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {duration_formatted}`,
    fps: PROGRESS_FPS_MAX,
    // A hidden cursor would stay hidden if the command is interrupted in a native call.
    hideCursor: false,
    clearOnComplete: true,
  })
  bar.start(1, 0)
  let stopped = false
  return {
    update(done: number, total: number): void {
      if (stopped) return
      // An estimate may fall below what is done already; the bar must never pass 100%.
      bar.setTotal(Math.max(total, done, 1))
      bar.update(done)
    },
    stop(): void {
      if (stopped) return
      stopped = true
      bar.stop()
    },
  }
}
