// Write workloads. Every timed write is awaited until durable (see stores.js for how each
// store is opened and why lmdb also awaits `db.flushed`).
//
// (b) Batched puts: each iteration is one awaited transaction of 1000 puts overwriting
//     existing keys in a fixed pseudo-random order (same keys and values for both stores).
//     Units: puts per second (1000 / mean transaction time). Goal: ved >= lmdb (target 1.5x).
// (d) Sequential awaited durable single-put transactions, one at a time, on the loaded
//     stores: ved `await store.transaction(txn => txn.put(k, v))`, lmdb `await db.put(k, v)`
//     (its fastest durable single write), and a raw baseline: `fs.writeSync` of 4 KiB over a
//     pre-written file + `fs.fdatasyncSync`, all in the same process. Units: microseconds per transaction, p50 and p99.
//     Goals: ved p50 <= 0.6x lmdb's, and <= 1.3x the raw write + fdatasync.
// (e) Commit cost of a one-key transaction on stores holding 1K, 100K and 1M keys (sizes
//     above BENCH_KEYS are skipped): the time `transaction()` takes to return (the work on
//     the calling thread: run the callback, encode, seal), and the time until its promise
//     resolves (durable). Units: microseconds, p50. Goal: flat, largest/smallest <= 1.5x.
//     A commit also carries up to twice its own pages of the cleaner's relocations, so a store
//     with garbage behind it pays for cleaning in its seals: the 1M-key store is the one rows
//     a-d used, with row b's overwrites to clean, the others are fresh. The goal rows measure
//     after store.compact() on every store, so they compare sizes; a third row gives the seal
//     before compacting, as the stores were left. Each row gives the keys relocated per commit.
// Every comparison runs its contenders alternately in rounds (see lib.js measureInterleaved)
// so that drift of a shared virtual disk does not favour whichever ran first.
// Machine: as printed in the report header (see lib.js machineInfo).
import fs from 'node:fs'
import path from 'node:path'
import { BATCH_SIZE, checkLoaded, fillVed, openVedStore } from './stores.js'
import {
  assert,
  fmtOps,
  fmtRatio,
  fmtUs,
  log,
  mean,
  measureInterleaved,
  met,
  percentile,
  valueOf,
} from './lib.js'

/** The raw baseline writes one page per sync, like a one-key commit at best. */
const RAW_WRITE_SIZE_BYTES = 4096
/** Pre-written once and cycled through, so every write overwrites already-written blocks. */
const RAW_FILE_SIZE_BYTES = 16 * 1024 * 1024

export async function benchBatchedPuts({ ved, lmdb, keys, values, order, config }) {
  const { order: indexes, mask } = order
  // Starts past the random-get region of the order table so the keys are not all cached.
  let vedCursor = 1 << 19
  let lmdbCursor = 1 << 19
  const tasks = {
    ved: async () => {
      await ved.transaction((txn) => {
        for (let j = 0; j < BATCH_SIZE; j++, vedCursor++) {
          txn.put(keys[indexes[vedCursor & mask]], valueOf(values, vedCursor))
        }
      })
    },
    lmdb: async () => {
      await lmdb.transaction(() => {
        for (let j = 0; j < BATCH_SIZE; j++, lmdbCursor++) {
          lmdb.put(keys[indexes[lmdbCursor & mask]], valueOf(values, lmdbCursor))
        }
      })
      await lmdb.flushed
    },
  }
  const samples = await measureInterleaved(tasks, {
    rounds: config.rounds,
    timeMs: config.throughputTimeMs,
    warmupIterations: 4,
  })
  const putsPerSecond = {
    ved: (BATCH_SIZE * 1000) / mean(samples.ved),
    lmdb: (BATCH_SIZE * 1000) / mean(samples.lmdb),
  }
  const ratio = putsPerSecond.ved / putsPerSecond.lmdb
  return [
    {
      id: 'b',
      workload: `batched puts, ${BATCH_SIZE} random existing keys per durable transaction`,
      ved: fmtOps(putsPerSecond.ved, 'puts'),
      reference: `lmdb ${fmtOps(putsPerSecond.lmdb, 'puts')}`,
      ratio: `${fmtRatio(ratio)} lmdb throughput`,
      goal: '>= 1x (target 1.5x)',
      met: met(ratio >= 1),
    },
  ]
}

function prepareRawFile(dir) {
  const file = path.join(dir, 'raw-fdatasync.bin')
  const fd = fs.openSync(file, 'w+')
  const chunk = Buffer.alloc(1024 * 1024)
  for (let offset = 0; offset < RAW_FILE_SIZE_BYTES; offset += chunk.length) {
    fs.writeSync(fd, chunk, 0, chunk.length, offset)
  }
  fs.fsyncSync(fd)
  return { file, fd }
}

export async function benchDurableLatency({ ved, lmdb, keys, values, order, config, dir }) {
  const { order: indexes, mask } = order
  const raw = prepareRawFile(dir)
  const block = Buffer.alloc(RAW_WRITE_SIZE_BYTES, 0xa5)
  let rawOffset = 0
  let vedCursor = 3 << 18
  let lmdbCursor = 3 << 18
  const tasks = {
    ved: async () => {
      const i = indexes[vedCursor++ & mask]
      await ved.transaction((txn) => {
        txn.put(keys[i], valueOf(values, vedCursor))
      })
    },
    lmdb: async () => {
      const i = indexes[lmdbCursor++ & mask]
      await lmdb.put(keys[i], valueOf(values, lmdbCursor))
      await lmdb.flushed
    },
    raw: () => {
      fs.writeSync(raw.fd, block, 0, RAW_WRITE_SIZE_BYTES, rawOffset)
      fs.fdatasyncSync(raw.fd)
      rawOffset = (rawOffset + RAW_WRITE_SIZE_BYTES) % RAW_FILE_SIZE_BYTES
    },
  }
  let samples
  try {
    samples = await measureInterleaved(tasks, {
      rounds: config.rounds,
      iterations: config.latencyIterations,
      capMs: config.latencyCapMs,
      warmupIterations: 50,
    })
  } finally {
    fs.closeSync(raw.fd)
    fs.rmSync(raw.file, { force: true })
  }
  const p50 = {}
  const p99 = {}
  for (const name of Object.keys(tasks)) {
    p50[name] = percentile(samples[name], 0.5)
    p99[name] = percentile(samples[name], 0.99)
  }
  const sampleCount = samples.ved.length
  const vsLmdb = p50.ved / p50.lmdb
  const vsRaw = p50.ved / p50.raw
  const workload = `sequential awaited durable 1-put transactions, ${sampleCount} each, p50 / p99`
  return [
    {
      id: 'd',
      workload: `${workload}: vs lmdb`,
      ved: `${fmtUs(p50.ved)} / ${fmtUs(p99.ved)}`,
      reference: `lmdb ${fmtUs(p50.lmdb)} / ${fmtUs(p99.lmdb)}`,
      ratio: `${fmtRatio(vsLmdb)} / ${fmtRatio(p99.ved / p99.lmdb)} lmdb latency`,
      goal: 'p50 <= 0.6x',
      met: met(vsLmdb <= 0.6),
    },
    {
      id: 'd',
      workload: `${workload}: vs raw 4 KiB overwrite + fdatasync`,
      ved: `${fmtUs(p50.ved)} / ${fmtUs(p99.ved)}`,
      reference: `raw ${fmtUs(p50.raw)} / ${fmtUs(p99.raw)}`,
      ratio: `${fmtRatio(vsRaw)} / ${fmtRatio(p99.ved / p99.raw)} raw latency`,
      goal: 'p50 <= 1.3x',
      met: met(vsRaw <= 1.3),
    },
  ]
}

function commitSizes(keyCount) {
  const sizes = [1_000, 100_000, 1_000_000].filter((size) => size < keyCount)
  sizes.push(keyCount)
  return sizes
}

/** One-key commits on `store`; the sample is the seal, `durable` gets the time to durable. */
function commitTask(store, keys, values, keyCount, durable) {
  let cursor = 0x9e37 ^ keyCount
  let recording = false
  return {
    // Warmup calls are not recorded, so both figures cover the same commits.
    beforeAll: (mode) => {
      recording = mode === 'run'
    },
    fn: async () => {
      cursor = (Math.imul(cursor, 1103515245) + 12345) >>> 0
      const i = cursor % keyCount
      const started = performance.now()
      const promise = store.transaction((txn) => {
        txn.put(keys[i], valueOf(values, cursor))
      })
      const sealed = performance.now()
      await promise
      const finished = performance.now()
      if (recording) durable.push(finished - started)
      return { overriddenDuration: sealed - started, overriddenIterationCost: finished - started }
    },
  }
}

async function openCommitStores(ved, keys, values, dir) {
  const stores = new Map()
  try {
    for (const size of commitSizes(keys.length)) {
      if (size === keys.length) {
        stores.set(size, ved)
        continue
      }
      const store = await openVedStore(path.join(dir, `commit-${size}`))
      stores.set(size, store)
      await fillVed(store, keys, values, size)
      checkLoaded(`ved ${size}`, (k) => store.get(k), keys, values, size)
    }
    return stores
  } catch (error) {
    await closeCommitStores(stores, ved, dir)
    throw error
  }
}

async function closeCommitStores(stores, ved, dir) {
  for (const [size, store] of stores) {
    if (store === ved) continue
    await store.close()
    fs.rmSync(path.join(dir, `commit-${size}`), { recursive: true, force: true })
  }
}

/**
 * One-key commits on each store, the stores taking turns: seal and durable p50, and the keys
 * the cleaner's relocations added per commit (warmup commits may carry some: a slight overcount).
 */
async function measureCommits(stores, keys, values, config) {
  const tasks = {}
  const durable = {}
  for (const [size, store] of stores) {
    durable[size] = []
    tasks[size] = commitTask(store, keys, values, size, durable[size])
  }
  const relocatedBefore = new Map([...stores].map(([size, store]) => [size, store.stats().cleaner.relocatedKeys]))
  const seal = await measureInterleaved(tasks, {
    rounds: config.rounds,
    iterations: config.commitIterations,
    capMs: config.commitCapMs,
    warmupIterations: 50,
    warmupTimeMs: 0,
  })
  return [...stores].map(([size, store]) => ({
    size,
    sealP50: percentile(seal[size], 0.5),
    durableP50: percentile(durable[size], 0.5),
    relocatedPerCommit: (store.stats().cleaner.relocatedKeys - relocatedBefore.get(size)) / Math.max(1, durable[size].length),
  }))
}

export async function benchCommitCost({ ved, keys, values, config, dir }) {
  // Untimed commits first, so the JIT is warm before the smallest store is measured;
  // otherwise the first size would look slow and the ratio flatter than it is.
  for (let i = 0; i < 300; i++) await ved.transaction((txn) => txn.put(keys[i], valueOf(values, i + 1)))
  const stores = await openCommitStores(ved, keys, values, dir)
  let asLeft
  let compacted
  try {
    asLeft = await measureCommits(stores, keys, values, config)
    for (const store of stores.values()) await store.compact()
    compacted = await measureCommits(stores, keys, values, config)
  } finally {
    await closeCommitStores(stores, ved, dir)
  }
  assert(asLeft.length >= 2, 'commit cost needs two sizes')
  const sizes = asLeft.map((r) => compact(r.size)).join(' / ')
  const label = `${compact(asLeft[asLeft.length - 1].size)}/${compact(asLeft[0].size)}`
  const ratioOf = (results, field) => results[results.length - 1][field] / results[0][field]
  const relocations = (results) => results.map((r) => r.relocatedPerCommit.toFixed(1)).join(' / ')
  for (const [name, results] of [['as left', asLeft], ['compacted', compacted]]) {
    log(`  commit cost by size, ${name}: ${results.map((r) => `${compact(r.size)} seal ${fmtUs(r.sealP50)} durable ${fmtUs(r.durableP50)}`).join('; ')}`)
  }
  const sealRatio = ratioOf(compacted, 'sealP50')
  const durableRatio = ratioOf(compacted, 'durableP50')
  return [
    {
      id: 'e',
      workload: `1-key transaction, transaction() call (seal), p50 at ${sizes} keys, each store compacted first (keys relocated by the cleaner per commit: ${relocations(compacted)})`,
      ved: compacted.map((r) => fmtUs(r.sealP50)).join(' / '),
      reference: '-',
      ratio: `${fmtRatio(sealRatio)} (${label})`,
      goal: '<= 1.5x',
      met: met(sealRatio <= 1.5),
    },
    {
      id: 'e',
      workload: `1-key transaction, until durable, p50 at ${sizes} keys, each store compacted first`,
      ved: compacted.map((r) => fmtUs(r.durableP50)).join(' / '),
      reference: '-',
      ratio: `${fmtRatio(durableRatio)} (${label})`,
      goal: '<= 1.5x',
      met: met(durableRatio <= 1.5),
    },
    {
      id: 'e',
      workload: `the seal again before compacting: the stores as rows a-d left them, the ${compact(asLeft[asLeft.length - 1].size)}-key one with row b's garbage to clean (keys relocated per commit: ${relocations(asLeft)}; until durable ${asLeft.map((r) => fmtUs(r.durableP50)).join(' / ')})`,
      ved: asLeft.map((r) => fmtUs(r.sealP50)).join(' / '),
      reference: '-',
      ratio: `${fmtRatio(ratioOf(asLeft, 'sealP50'))} (${label})`,
      goal: '- (cleaning pays its way in each commit: rows g)',
      met: '-',
    },
  ]
}

function compact(count) {
  if (count >= 1e6 && count % 1e6 === 0) return `${count / 1e6}M`
  if (count >= 1e3 && count % 1e3 === 0) return `${count / 1e3}K`
  return String(count)
}
