// Row b's batched puts taken apart: the measurement behind the engine's CPU and memory
// figures (BENCHMARKS.md, "Engine CPU and memory"; docs/design.md, "Cleaner walks" and
// "Seal memory is recycled"). Loads 1,000,000 ascending keys (as the bench does), then runs
// ROUNDS durable transactions of 1000 puts to random existing keys and prints, per
// transaction: the seal (transaction() returning) and the total until durable (medians and
// means, ms), minor page faults while sealing, and CPU time of every thread
// (process.cpuUsage). With LMDB=1, lmdb runs the same transaction after each of ved's.
// The store's stats at the end show the cleaner's passes and relocations.
//
//   node bench/batched-cpu.js                       ROUNDS=200 LMDB=1 for the comparison
//   perf record -g -o perf.data node --perf-basic-prof bench/batched-cpu.js
//   perf record -e page-faults -g node bench/batched-cpu.js
//
// Per-thread perf samples: `perf script -F tid,ip,sym` and count by tid (the JS thread, the
// flusher and the cleaner are the three busy ones). Data in os.tmpdir() (or BENCH_DIR).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { open as openLmdb } from 'lmdb'
import { Store } from '../dist/index.js'
import { makeKeys, makeOrder, makeValues, valueOf } from './lib.js'

const KEY_COUNT = 1_000_000
const BATCH = 1000
const ROUNDS = Number(process.env.ROUNDS || 200)
const WITH_LMDB = process.env.LMDB === '1'

const dir = fs.mkdtempSync(path.join(process.env.BENCH_DIR || os.tmpdir(), 'ved-batched-cpu-'))
try {
  const keys = makeKeys(KEY_COUNT)
  const values = makeValues()
  const { order, mask } = makeOrder(KEY_COUNT, 24301)
  const store = await Store.open(path.join(dir, 'ved'), { encoding: 'msgpack', sync: true })
  const lmdb = WITH_LMDB ? openLmdb({ path: path.join(dir, 'lmdb'), encoding: 'msgpack', noSync: false }) : null
  for (let base = 0; base < KEY_COUNT; base += BATCH) {
    await store.transaction((txn) => {
      for (let i = base; i < base + BATCH; i++) txn.put(keys[i], valueOf(values, i))
    })
    if (lmdb !== null) {
      await lmdb.transaction(() => {
        for (let i = base; i < base + BATCH; i++) lmdb.put(keys[i], valueOf(values, i))
      })
      await lmdb.flushed
    }
  }
  let vedCursor = 1 << 19
  let lmdbCursor = 1 << 19
  const seal = []
  const total = []
  const lmdbTotal = []
  let vedCpuMs = 0
  let lmdbCpuMs = 0
  let faults = 0
  for (let r = 0; r < ROUNDS; r++) {
    const faultsBefore = process.resourceUsage().minorPageFault
    const cpuBefore = process.cpuUsage()
    const started = performance.now()
    const promise = store.transaction((txn) => {
      for (let j = 0; j < BATCH; j++, vedCursor++) txn.put(keys[order[vedCursor & mask]], valueOf(values, vedCursor))
    })
    const sealed = performance.now()
    faults += process.resourceUsage().minorPageFault - faultsBefore
    await promise
    total.push(performance.now() - started)
    seal.push(sealed - started)
    const cpu = process.cpuUsage(cpuBefore)
    vedCpuMs += (cpu.user + cpu.system) / 1000
    if (lmdb !== null) {
      const lmdbCpuBefore = process.cpuUsage()
      const lmdbStarted = performance.now()
      await lmdb.transaction(() => {
        for (let j = 0; j < BATCH; j++, lmdbCursor++) lmdb.put(keys[order[lmdbCursor & mask]], valueOf(values, lmdbCursor))
      })
      await lmdb.flushed
      lmdbTotal.push(performance.now() - lmdbStarted)
      const lmdbCpu = process.cpuUsage(lmdbCpuBefore)
      lmdbCpuMs += (lmdbCpu.user + lmdbCpu.system) / 1000
    }
  }
  const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1]
  const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length
  const ms = (x) => x.toFixed(2)
  console.log(`ved: seal median ${ms(median(seal))} ms, mean ${ms(mean(seal))}; until durable median ${ms(median(total))}, mean ${ms(mean(total))}`)
  console.log(`ved: minor page faults per seal ${(faults / ROUNDS).toFixed(0)}; CPU per transaction, every thread ${ms(vedCpuMs / ROUNDS)} ms`)
  if (lmdb !== null) {
    console.log(`lmdb: until durable median ${ms(median(lmdbTotal))} ms, mean ${ms(mean(lmdbTotal))}; CPU per transaction ${ms(lmdbCpuMs / ROUNDS)} ms`)
    console.log(`ved/lmdb throughput (means): ${(mean(lmdbTotal) / mean(total)).toFixed(2)}x`)
  }
  const stats = store.stats()
  console.log(`ved: file ${(stats.fileBytes / 2 ** 20).toFixed(0)} MiB, live ${(stats.liveBytes / 2 ** 20).toFixed(0)} MiB; cleaner passes ${stats.cleaner.passes}, relocated keys ${stats.cleaner.relocatedKeys}`)
  await store.close()
  if (lmdb !== null) await lmdb.close()
} finally {
  fs.rmSync(dir, { recursive: true, force: true })
}
