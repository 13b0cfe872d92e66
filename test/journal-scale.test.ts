// The journal at scale: 1,000,000 slices over 10 domains with a retention of 10,000 slices
// per domain. The journal stays within its bound (entries and bytes, as counted and as
// stored), lineages with an unsettled effect are kept past the window, and the store's
// size is flat over the second half of the run (background cleaning reclaims what
// compaction deleted).
import { describe, expect, it } from 'vitest'
import { defineDomain, Runtime } from '../lib/index.js'
import { isTimeBatch, splitBatch, timeSegments } from '../lib/journal/entry.js'
import { JOURNAL_TREE } from '../lib/journal/keys.js'
import { cleanerSettled, tempDirs } from './helpers.js'

const tempDir = tempDirs()

const SLICES = 1_000_000
const DOMAINS = 10
const KEEP_SLICES = 10_000
const WINDOW = 512
const MIB = 1024 * 1024

const Ticker = defineDomain({
  name: 'ticker',
  version: 1,
  state: { count: 0, last: '' },
  on: {
    tick(s, p: { n: number }) {
      s.count++
      s.last = `tick ${p.n}`
    },
    hold(s, _p: undefined, ctx) {
      s.last = 'holding'
      ctx.emit('never', undefined)
    },
  },
  effects: {
    // Never settles while the test runs: its lineage must outlive the window.
    never: (_payload: undefined, { signal }) => new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')))),
  },
})

async function journalQuiet(rt: Runtime): Promise<void> {
  for (;;) {
    const stats = rt.stats()
    if (stats.journal!.backlogDomains === 0 && stats.commitsHeld === 0 && stats.domainsReady === 0) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

describe('journal at scale', () => {
  it(`keeps ${KEEP_SLICES.toLocaleString('en')} slices per domain through ${SLICES.toLocaleString('en')} slices, and a flat store`, async () => {
    await using rt = await Runtime.open({
      path: tempDir(),
      domains: [Ticker],
      journal: { keepSlices: KEEP_SLICES, keepBytes: 64 * MIB },
      store: { segmentSizeBytes: 4 * MIB },
    })
    const handles = Array.from({ length: DOMAINS }, (_, d) => rt.domain(Ticker, `t${d}`))
    await handles[0]!.send('hold', undefined, { id: 'held-0' })
    await handles[1]!.send('hold', undefined, { id: 'held-1' })
    const fileBytes: number[] = []
    let started = 0
    for (const quarter of [1, 2, 3, 4]) {
      const until = (SLICES * quarter) / 4
      await new Promise<void>((resolve, reject) => {
        let inFlight = 0
        const next = (): void => {
          while (inFlight < WINDOW && started < until) {
            const n = started++
            inFlight++
            handles[n % DOMAINS]!.send('tick', { n }).then(() => {
              inFlight--
              if (started === until && inFlight === 0) resolve()
              else next()
            }, reject)
          }
        }
        next()
      })
      await journalQuiet(rt)
      // A cleaner still busy after 20 s shows as a bigger figure below, not as a hang.
      await cleanerSettled(rt.store)
      fileBytes.push(rt.store.stats().fileBytes)
    }
    const stats = rt.stats().journal!
    // 2 holds and 1,000,000 ticks were recorded.
    expect(stats.entriesWritten).toBe(SLICES + 2)
    let entries = 0
    let bytes = 0
    for (const { key, value } of rt.store.tree(JOURNAL_TREE).getRange({ start: 'e', end: 'f' })) {
      entries += isTimeBatch(value) ? timeSegments(value).reduce((sum, segment) => sum + segment.entries.length, 0) : splitBatch(value).length
      bytes += (key as string).length + value.length
    }
    // The window of each domain, plus the two held entries kept for their unsettled effect.
    expect(entries).toBe(DOMAINS * KEEP_SLICES + 2)
    expect(stats.entriesKept).toBe(2)
    expect(bytes).toBeLessThan(DOMAINS * 64 * MIB)
    for (const held of ['held-0', 'held-1']) {
      const tree = rt.journal.lineage(held)
      expect(tree.nodes.map((n) => [n.type, n.slice])).toEqual([['hold', 1]])
      expect(rt.journal.slices('ticker', held === 'held-0' ? 't0' : 't1', { to: 1 }).entries[0]!.effects[0]!.outcome).toEqual({ status: 'pending', attempt: 1 })
    }
    // stateAt works at the edge of the window and not past it.
    const count = handles[5]!.state.count
    expect(rt.journal.stateAt('ticker', 't5', count - KEEP_SLICES + 1).state).toMatchObject({ count: count - KEEP_SLICES + 1 })
    expect(rt.journal.stateAt('ticker', 't5', count - KEEP_SLICES - 1).reason).toBe('expired')
    console.log(`journal scale: store file MiB at each quarter ${fileBytes.map((b) => (b / MIB).toFixed(1)).join(', ')}; journal ${entries} entries, ${(bytes / MIB).toFixed(1)} MiB`)
    // Flat over the second half: no more than a quarter larger than at the midpoint.
    expect(fileBytes[3]!).toBeLessThanOrEqual(fileBytes[1]! * 1.25)
  }, 600_000)
})
