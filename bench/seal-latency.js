// Wake-up latency between the JS thread and the flusher thread; `node --expose-gc
// bench/seal-latency.js` (after `npm run build:ts`). Not part of `npm run bench`: it isolates
// the two hand-offs that rows d and r2 of bench/run.js pay, so a change to either can be
// judged without the full run.
//
// Workload: a store of SEAL_KEYS keys (default 100,000, env SEAL_KEYS), `sync: true`; one-put
// transactions, one at a time, each awaited until durable, in three modes that differ only in
// what the JS thread does between the previous commit's resolution and the next seal:
//   back-to-back  nothing (row d of bench/writes.js)
//   idle-1ms      sleeps ~1 ms in the event loop (setTimeout 1), as an application that
//                 commits now and then; the flusher has been idle for that long
//   busy-1ms      runs 1 ms of JS (a clock loop) first, as the runtime does between commits
//                 when it has other work (r2 of bench/runtime.js)
// plus a raw baseline in the same process: 4 KiB `fs.writeSync` over a pre-written file +
// `fs.fdatasyncSync` (as row d). Modes run interleaved in rounds.
// Units: microseconds, p50 / p90 / p99 of SEAL_SAMPLES samples per mode (default 3000):
//   seal     the store.transaction() call (encode, seal, hand the frame to the flusher)
//   durable  from the call to the promise's resolution
// and, per 1000 commits, the JS thread's involuntary context switches (Linux: preemptions,
// e.g. by a flusher thread it woke onto its own CPU; busy-1ms counts those of its 1 ms loop too).
// Machine: printed at the top with the load average; figures from a busy machine move a
// lot between runs, so repeat and compare medians.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Store } from '../dist/index.js'
import { fmtUs, gc, keyOf, log, machineInfo, makeValues, percentile, valueOf } from './lib.js'

const KEY_COUNT = Number(process.env.SEAL_KEYS ?? 100_000)
const SAMPLES = Number(process.env.SEAL_SAMPLES ?? 3000)
const ROUNDS = 5
const WARMUP = 100
const RAW_WRITE_BYTES = 4096
const RAW_FILE_BYTES = 16 << 20

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** The main thread's involuntary context switches so far (NaN where /proc is missing). */
function involuntarySwitches() {
  try {
    const status = fs.readFileSync(`/proc/self/task/${process.pid}/status`, 'utf8')
    return Number(/nonvoluntary_ctxt_switches:\s*(\d+)/.exec(status)?.[1] ?? NaN)
  } catch {
    return NaN
  }
}

function busy(ms) {
  const end = performance.now() + ms
  while (performance.now() < end) {}
}

async function main() {
  const tmpRoot = process.env.BENCH_DIR ?? os.tmpdir()
  const dir = fs.mkdtempSync(path.join(tmpRoot, 'ved-seal-'))
  log(`seal-latency: ${KEY_COUNT} keys, ${SAMPLES} samples per mode; ${machineInfo(tmpRoot)}; load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  const values = makeValues()
  const store = await Store.open(path.join(dir, 'store'), { encoding: 'msgpack', sync: true })
  const rawFile = path.join(dir, 'raw.bin')
  const rawFd = fs.openSync(rawFile, 'w+')
  try {
    for (let base = 0; base < KEY_COUNT; base += 1000) {
      await store.transaction((txn) => {
        for (let i = base; i < Math.min(KEY_COUNT, base + 1000); i++) txn.put(keyOf(i), valueOf(values, i))
      })
    }
    const chunk = Buffer.alloc(1 << 20)
    for (let offset = 0; offset < RAW_FILE_BYTES; offset += chunk.length) fs.writeSync(rawFd, chunk, 0, chunk.length, offset)
    fs.fsyncSync(rawFd)
    const block = Buffer.alloc(RAW_WRITE_BYTES, 0xa5)
    let rawOffset = 0
    let cursor = 12345

    /** One commit; returns [seal ms, durable ms]. */
    const commit = async () => {
      cursor = (Math.imul(cursor, 1103515245) + 12345) >>> 0
      const i = cursor % KEY_COUNT
      const started = performance.now()
      const promise = store.transaction((txn) => txn.put(keyOf(i), valueOf(values, cursor)))
      const sealed = performance.now()
      await promise
      return [sealed - started, performance.now() - started]
    }
    const modes = {
      'back-to-back': () => commit(),
      'idle-1ms': async () => {
        await sleep(1)
        return commit()
      },
      'busy-1ms': () => {
        busy(1)
        return commit()
      },
      'raw fdatasync': async () => {
        const started = performance.now()
        fs.writeSync(rawFd, block, 0, RAW_WRITE_BYTES, rawOffset)
        fs.fdatasyncSync(rawFd)
        rawOffset = (rawOffset + RAW_WRITE_BYTES) % RAW_FILE_BYTES
        return [NaN, performance.now() - started]
      },
    }
    const samples = Object.fromEntries(Object.keys(modes).map((m) => [m, { seal: [], durable: [], preempted: 0 }]))
    for (const run of Object.values(modes)) for (let i = 0; i < WARMUP; i++) await run()
    const perRound = Math.ceil(SAMPLES / ROUNDS)
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, run] of Object.entries(modes)) {
        gc()
        const s = samples[name]
        const preemptedBefore = involuntarySwitches()
        for (let i = 0; i < perRound; i++) {
          const [seal, durable] = await run()
          if (!Number.isNaN(seal)) s.seal.push(seal)
          s.durable.push(durable)
        }
        s.preempted += involuntarySwitches() - preemptedBefore
      }
    }
    const fmt = (list) =>
      list.length === 0 ? '-' : [0.5, 0.9, 0.99].map((q) => fmtUs(percentile(list, q))).join(' / ')
    log('')
    log('| mode | seal p50 / p90 / p99 | durable p50 / p90 / p99 | JS preempted per 1000 |')
    log('|---|---|---|---|')
    for (const [name, s] of Object.entries(samples)) {
      const preempted = Number.isNaN(s.preempted) ? '-' : ((s.preempted * 1000) / s.durable.length).toFixed(0)
      log(`| ${name} | ${fmt(s.seal)} | ${fmt(s.durable)} | ${preempted} |`)
    }
    const ratio = percentile(samples['back-to-back'].durable, 0.5) / percentile(samples['raw fdatasync'].durable, 0.5)
    log('')
    log(`back-to-back durable p50 / raw fdatasync p50: ${ratio.toFixed(2)}x`)
    log(`cpu time of this process: ${JSON.stringify(process.cpuUsage())} (us user/system)`)
  } finally {
    fs.closeSync(rawFd)
    await store.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

await main()
