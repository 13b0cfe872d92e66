// (g) Space reclamation under endless overwrites (issue 5).
//
// Workload: min(BENCH_KEYS, 100,000) keys loaded, then ROUNDS rounds that each overwrite
// every key once, in a pseudo-random order, 1000 puts per awaited durable transaction. Three
// stores run it side by side, taking turns transaction by transaction (so disk drift hits
// all alike): ved with background cleaning (the default, maxSpaceAmplification 2), ved with
// cleaning off (maxSpaceAmplification 0: the log only grows), and lmdb.
// Units: puts per second over all rounds; microseconds per transaction (seal to durable),
// p50 and p99; bytes on disk at the end (ved: stats().fileBytes, the segment files, right
// after the last commit and again once the cleaner has caught up, at most 10 s later; lmdb:
// the size of data.mdb), against ved's live bytes.
// Goals: cleaning costs at most 30% of the overwrite throughput (on/off >= 0.7); ved's files
// stay under 2x its live bytes plus one segment; reported next to lmdb's file.
// Machine: as printed in the report header (see lib.js machineInfo).
import fs from 'node:fs'
import path from 'node:path'
import { BATCH_SIZE, openLmdbStore, openVedStore } from './stores.js'
import { fmtOps, fmtRatio, fmtUs, log, met, percentile, valueOf } from './lib.js'

const KEY_COUNT_MAX = 100_000
/** How long the end-of-run measurement waits for the cleaner to catch up. */
const SETTLE_MS_MAX = 10_000
const SEGMENT_SIZE_BYTES = 4 * 1024 * 1024

/** Waits until the cleaner has walked the last durable version and has nothing queued; returns ms waited. */
async function settled(store) {
  const started = performance.now()
  for (;;) {
    const s = store.stats()
    const c = s.cleaner
    if (!c.busy && c.walkedSeq === s.durableSeq && c.backlogKeys === 0 && c.segmentsWaiting === 0) break
    if (performance.now() - started > SETTLE_MS_MAX) break
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  return performance.now() - started
}

export async function benchCleaning({ keys, values, order, config, dir }) {
  const keyCount = Math.min(keys.length, KEY_COUNT_MAX)
  const rounds = config.quick ? 5 : 20
  const on = await openVedStore(path.join(dir, 'clean-on'), { segmentSizeBytes: SEGMENT_SIZE_BYTES })
  const off = await openVedStore(path.join(dir, 'clean-off'), { segmentSizeBytes: SEGMENT_SIZE_BYTES, maxSpaceAmplification: 0 })
  const lmdbDir = path.join(dir, 'clean-lmdb')
  const lmdb = openLmdbStore(lmdbDir)
  try {
    const contenders = {
      on: (batch) => on.transaction((txn) => batch.forEach(([k, v]) => txn.put(k, v))),
      off: (batch) => off.transaction((txn) => batch.forEach(([k, v]) => txn.put(k, v))),
      lmdb: async (batch) => {
        await lmdb.transaction(() => batch.forEach(([k, v]) => lmdb.put(k, v)))
        await lmdb.flushed
      },
    }
    const names = Object.keys(contenders)
    const samples = { on: [], off: [], lmdb: [] }
    const totalMs = { on: 0, off: 0, lmdb: 0 }
    const { order: indexes, mask } = order
    let cursor = 0
    for (let round = -1; round < rounds; round++) {
      for (let base = 0; base < keyCount; base += BATCH_SIZE) {
        const batch = []
        for (let i = base; i < Math.min(base + BATCH_SIZE, keyCount); i++) {
          // Round -1 loads in key order; the timed rounds overwrite in a pseudo-random order.
          const index = round < 0 ? i : indexes[cursor++ & mask] % keyCount
          batch.push([keys[index], valueOf(values, index + round + 1)])
        }
        for (const name of names) {
          const started = performance.now()
          await contenders[name](batch)
          if (round < 0) continue
          const ms = performance.now() - started
          samples[name].push(ms)
          totalMs[name] += ms
        }
      }
      if (round >= 0 && round % 5 === 4) log(`  round ${round + 1}/${rounds}: ved files ${on.stats().fileBytes} bytes, live ${on.stats().liveBytes}`)
    }
    const puts = rounds * keyCount
    const rate = (name) => (puts * 1000) / totalMs[name]
    const atEnd = on.stats()
    const settleMs = await settled(on)
    const onStats = on.stats()
    const offStats = off.stats()
    const lmdbBytes = fs.statSync(path.join(lmdbDir, 'data.mdb')).size
    const bound = 2 * onStats.liveBytes + SEGMENT_SIZE_BYTES
    const c = onStats.cleaner
    return [
      {
        id: 'g1',
        workload: `overwrite ${keyCount.toLocaleString('en')} keys x ${rounds} rounds, random order, 1000 puts per durable txn, cleaning on vs off`,
        ved: `on ${fmtOps(rate('on'), 'puts')}, off ${fmtOps(rate('off'), 'puts')}`,
        reference: `lmdb ${fmtOps(rate('lmdb'), 'puts')}`,
        ratio: `on/off ${fmtRatio(rate('on') / rate('off'))}, on/lmdb ${fmtRatio(rate('on') / rate('lmdb'))}`,
        goal: 'on/off >= 0.7',
        met: met(rate('on') / rate('off') >= 0.7),
      },
      {
        id: 'g2',
        workload: 'the same: transaction latency, seal to durable',
        ved: `on p50 ${fmtUs(percentile(samples.on, 0.5))}, p99 ${fmtUs(percentile(samples.on, 0.99))}; off p99 ${fmtUs(percentile(samples.off, 0.99))}`,
        reference: `lmdb p50 ${fmtUs(percentile(samples.lmdb, 0.5))}, p99 ${fmtUs(percentile(samples.lmdb, 0.99))}`,
        ratio: `p99 on/lmdb ${fmtRatio(percentile(samples.on, 0.99) / percentile(samples.lmdb, 0.99))}`,
        goal: '-',
        met: '-',
      },
      {
        id: 'g3',
        workload: `the same: bytes on disk at the end (ved ${SEGMENT_SIZE_BYTES / 1024 / 1024} MiB segments)`,
        ved: `on ${(atEnd.fileBytes / 2 ** 20).toFixed(1)} MiB at the last commit, ${(onStats.fileBytes / 2 ** 20).toFixed(1)} MiB once the cleaner caught up (${settleMs.toFixed(0)} ms later; live ${(onStats.liveBytes / 2 ** 20).toFixed(1)} MiB; ${c.segmentsDeleted} segments deleted, ${c.relocatedKeys} keys relocated); off ${(offStats.fileBytes / 2 ** 20).toFixed(1)} MiB`,
        reference: `lmdb data.mdb ${(lmdbBytes / 2 ** 20).toFixed(1)} MiB`,
        ratio: `on/lmdb ${fmtRatio(onStats.fileBytes / lmdbBytes)}; written by ved on ${(onStats.logEndOffset / 2 ** 20).toFixed(0)} MiB of log`,
        goal: '<= 2x live + 1 segment, caught up',
        met: met(onStats.fileBytes <= bound),
      },
    ]
  } finally {
    await on.close()
    await off.close()
    await lmdb.close()
  }
}
