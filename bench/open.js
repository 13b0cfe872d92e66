// (f) Open time of a ved store whose log holds many commits.
//
// Workload: build a store with BENCH_OPEN_COMMITS (default 100K) single-put transactions,
// each its own commit (distinct keys, 100-byte values), written with `sync: false` and up
// to COMMIT_WINDOW in flight, then closed (close drains the flusher, so all are on disk).
// Then measure `Store.open(dir)` (defaults, writable) + one `get` + `close()` over several
// runs. The same is measured on a store with 1K commits, to show whether open time grows
// with history length. Units: milliseconds, p50 over the runs. Goal: p50 < 20 ms.
// Machine: as printed in the report header (see lib.js machineInfo).
import fs from 'node:fs'
import path from 'node:path'
import { openVedStore } from './stores.js'
import { assert, fmtMs, fmtRatio, gc, keyOf, log, measure, met, valueOf } from './lib.js'

/** Commits issued before awaiting them all; bounds memory, keeps the flusher batching. */
const COMMIT_WINDOW = 1000
const SMALL_COMMIT_COUNT = 1000

async function buildHistory(dir, values, commitCount) {
  const store = await openVedStore(dir, { sync: false })
  try {
    let pending = []
    for (let i = 0; i < commitCount; i++) {
      pending.push(store.transaction((txn) => txn.put(keyOf(i), valueOf(values, i))))
      if (pending.length === COMMIT_WINDOW) {
        await Promise.all(pending)
        pending = []
      }
    }
    await Promise.all(pending)
    const seq = store.stats().seq
    assert(seq >= commitCount, `store seq ${seq} after ${commitCount} commits`)
  } finally {
    await store.close()
  }
}

async function measureOpen(dir, values, runs) {
  const probe = keyOf(0)
  const expected = valueOf(values, 0)
  // One open outside the timing, to read the recovery report.
  const first = await openVedStore(dir)
  const recovery = first.stats().recovery
  await first.close()
  const latency = await measure(
    `open ${path.basename(dir)}`,
    async () => {
      const store = await openVedStore(dir)
      const value = store.get(probe)
      await store.close()
      if (value !== expected) throw new Error(`open: get(${probe}) returned ${value}`)
    },
    { iterations: runs, timeMs: 0, warmupIterations: 1, warmupTimeMs: 0, capMs: 60_000 },
  )
  return { p50: latency.p50, max: latency.max, recovery }
}

export async function benchOpen({ values, config, dir }) {
  const bigDir = path.join(dir, 'open-big')
  const smallDir = path.join(dir, 'open-small')
  try {
    const buildStarted = performance.now()
    await buildHistory(bigDir, values, config.openCommitCount)
    log(`  built ${config.openCommitCount} commits in ${fmtMs(performance.now() - buildStarted)}`)
    await buildHistory(smallDir, values, SMALL_COMMIT_COUNT)
    gc()
    const big = await measureOpen(bigDir, values, config.openRuns)
    const small = await measureOpen(smallDir, values, config.openRuns)
    log(`  recovery report (${config.openCommitCount} commits): ${JSON.stringify(big.recovery)}`)
    const count = config.openCommitCount.toLocaleString('en')
    return [
      {
        id: 'f',
        workload: `open + get + close, log of ${count} commits, p50 (max) of ${config.openRuns}`,
        ved: `${fmtMs(big.p50)} (${fmtMs(big.max)})`,
        reference: `ved, 1,000 commits: ${fmtMs(small.p50)}`,
        ratio: `${fmtRatio(big.p50 / small.p50)} the 1K-commit open`,
        goal: '< 20 ms',
        met: met(big.p50 < 20),
      },
    ]
  } finally {
    fs.rmSync(bigDir, { recursive: true, force: true })
    fs.rmSync(smallDir, { recursive: true, force: true })
  }
}
