// Shared helpers of the benchmark suite: configuration, keys and values, a seeded random
// order, temp directories, tinybench wrappers, statistics and formatting.
//
// Workload: none by itself; every workload module imports from here.
// Units: tinybench reports milliseconds; these helpers convert to us, ms and ops/s, and
// every formatted figure carries its unit.
// Machine: whatever runs `npm run bench`; machineInfo() describes it and the report prints it,
// so a figure is never quoted without the machine it came from.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pack } from 'msgpackr'
import { Bench } from 'tinybench'

/** Every value is a string whose msgpack encoding (str8 header + 98 bytes) is exactly 100 bytes. */
export const VALUE_SIZE_BYTES = 100
const VALUE_STRING_LENGTH = VALUE_SIZE_BYTES - 2
/** Distinct values cycled through; enough that values differ, few enough to stay in cache. */
export const VALUE_POOL_COUNT = 1024
/** Random-order table: a power of two so `cursor & mask` wraps without a branch. */
const ORDER_COUNT = 1 << 20

export function readConfig(argv = process.argv.slice(2), env = process.env) {
  const quick = argv.includes('--quick')
  const keyCount = env.BENCH_KEYS ? Number(env.BENCH_KEYS) : quick ? 100_000 : 1_000_000
  if (!Number.isInteger(keyCount) || keyCount < 1000) {
    throw new RangeError(`BENCH_KEYS must be an integer >= 1000, got ${env.BENCH_KEYS}`)
  }
  const seed = env.BENCH_SEED ? Number(env.BENCH_SEED) : 0x5eed
  return {
    quick,
    keyCount,
    seed,
    /** Parent of the temp directory; must be a real disk for the durability figures to mean anything. */
    tmpRoot: env.BENCH_DIR ?? os.tmpdir(),
    /** Time budget (ms) of each throughput task (random get, batched puts), over all rounds. */
    throughputTimeMs: quick ? 900 : 6000,
    /** Full scans per store. */
    scanIterations: quick ? 3 : 5,
    /** Interleaved rounds (ved, lmdb, ved, lmdb, ...) each comparison is split into. */
    rounds: 3,
    /** Samples per durable-latency task, over all rounds. */
    latencyIterations: quick ? 600 : 3000,
    /** Hard stop of each latency task (all rounds), in case a store is far slower than expected. */
    latencyCapMs: quick ? 10_000 : 30_000,
    /** Samples per store size of the commit-cost workload, and the hard stop per size. */
    commitIterations: quick ? 500 : 2000,
    commitCapMs: quick ? 10_000 : 30_000,
    /** Commits in the log of the open-time store, and open runs measured. */
    openCommitCount: env.BENCH_OPEN_COMMITS ? Number(env.BENCH_OPEN_COMMITS) : 100_000,
    openRuns: quick ? 7 : 21,
  }
}

export function keyOf(index) {
  return 'key-' + String(index).padStart(9, '0')
}

export function makeKeys(count) {
  const keys = new Array(count)
  for (let i = 0; i < count; i++) keys[i] = keyOf(i)
  return keys
}

export function makeValues() {
  const values = new Array(VALUE_POOL_COUNT)
  for (let i = 0; i < VALUE_POOL_COUNT; i++) {
    const head = `value-${String(i).padStart(6, '0')}-`
    values[i] = head + 'abcdefghijklmnopqrstuvwxyz'.repeat(4).slice(0, VALUE_STRING_LENGTH - head.length)
    assert(pack(values[i]).length === VALUE_SIZE_BYTES, 'value must encode to 100 bytes')
  }
  return values
}

export function valueOf(values, index) {
  return values[index & (VALUE_POOL_COUNT - 1)]
}

/** A fixed pseudo-random sequence of key indexes in [0, keyCount), the same for every store. */
export function makeOrder(keyCount, seed) {
  const order = new Uint32Array(ORDER_COUNT)
  let x = seed >>> 0 || 1
  for (let i = 0; i < ORDER_COUNT; i++) {
    // xorshift32: cheap, seeded, good enough to defeat locality.
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    order[i] = x % keyCount
  }
  return { order, mask: ORDER_COUNT - 1 }
}

export function makeTempDir(tmpRoot) {
  return fs.mkdtempSync(path.join(tmpRoot, 'ved-bench-'))
}

export function assert(condition, message) {
  if (!condition) throw new Error(`bench check failed: ${message}`)
}

export function gc() {
  globalThis.gc?.()
}

/**
 * tinybench (sequential mode) keeps iterating until BOTH `iterations` and `timeMs` are
 * reached, so each is a minimum; `capMs` is the hard stop that keeps a slow store from
 * stretching the run (the task then ends 'aborted-with-statistics' and its samples count).
 */
function newBench(name, { iterations = 0, timeMs = 0, warmupIterations = 16, warmupTimeMs = 250, retainSamples = false, capMs = 0 }) {
  return new Bench({
    name,
    iterations,
    time: timeMs,
    warmup: warmupIterations > 0 || warmupTimeMs > 0,
    warmupIterations,
    warmupTime: warmupTimeMs,
    throws: true,
    retainSamples,
    timestampProvider: 'performanceNow',
    ...(capMs ? { signal: AbortSignal.timeout(capMs) } : {}),
  })
}

/**
 * A task is a function or `{ fn, beforeAll }` (beforeAll gets 'warmup' or 'run', so a task
 * can tell its warmup calls from the measured ones). Says whether fn is async up front, so
 * tinybench makes no extra detection call.
 */
function taskParts(task) {
  const { fn, beforeAll } = typeof task === 'function' ? { fn: task } : task
  const options = { async: fn.constructor.name === 'AsyncFunction' }
  if (beforeAll) options.beforeAll = beforeAll
  return { fn, options }
}

function resultOf(task) {
  const result = task.result
  if (result.state === 'aborted-with-statistics') {
    log(`  note: ${task.name} hit its time cap after ${result.latency.samplesCount} samples`)
    return result
  }
  if (result.state !== 'completed') {
    throw result.error ?? new Error(`task ${task.name} ended in state ${result.state}`)
  }
  return result
}

/**
 * Runs one task alone and returns its latency statistics (ms per iteration).
 * Runs at least `iterations` times and for at least `timeMs` (0 disables either), at most `capMs`.
 */
export async function measure(name, task, options) {
  const bench = newBench(name, options)
  const { fn, options: fnOptions } = taskParts(task)
  bench.add(name, fn, fnOptions)
  await bench.run()
  return resultOf(bench.tasks[0]).latency
}

/**
 * Runs several tasks in `rounds` interleaved rounds (a, b, c, a, b, c, ...), so that a slow
 * phase of a shared virtual disk, a GC or a cache effect of the order hits all of them
 * alike, and returns each task's samples (ms per iteration) merged over the rounds, keyed
 * by name. `iterations`, `timeMs` and `capMs` are totals per task, split over the rounds;
 * the warmup runs in the first round only unless `warmupEveryRound`.
 */
export async function measureInterleaved(tasks, options) {
  const { rounds, iterations = 0, timeMs = 0, capMs = 0, warmupIterations = 16, warmupTimeMs = 250 } = options
  const samples = Object.fromEntries(Object.keys(tasks).map((name) => [name, []]))
  for (let round = 0; round < rounds; round++) {
    const warmup = round === 0 || options.warmupEveryRound === true
    for (const [name, task] of Object.entries(tasks)) {
      gc()
      const bench = newBench(name, {
        iterations: Math.ceil(iterations / rounds),
        timeMs: timeMs / rounds,
        capMs: Math.ceil(capMs / rounds),
        warmupIterations: warmup ? warmupIterations : 0,
        warmupTimeMs: warmup ? warmupTimeMs : 0,
        retainSamples: true,
      })
      const { fn, options: fnOptions } = taskParts(task)
      bench.add(name, fn, fnOptions)
      await bench.run()
      samples[name].push(...resultOf(bench.tasks[0]).latency.samples)
    }
  }
  return samples
}

export function mean(samples) {
  assert(samples.length > 0, 'mean of no samples')
  let sum = 0
  for (const sample of samples) sum += sample
  return sum / samples.length
}

/** Linear-interpolated percentile, the same rule tinybench uses. */
export function percentile(samples, fraction) {
  assert(samples.length > 0, 'percentile of no samples')
  const sorted = [...samples].sort((a, b) => a - b)
  const position = (sorted.length - 1) * fraction
  const low = Math.floor(position)
  const high = Math.ceil(position)
  return sorted[low] + (sorted[high] - sorted[low]) * (position - low)
}

export function fmtOps(opsPerSecond, unit) {
  if (opsPerSecond >= 1e6) return `${(opsPerSecond / 1e6).toFixed(2)} M ${unit}/s`
  if (opsPerSecond >= 1e3) return `${(opsPerSecond / 1e3).toFixed(1)} k ${unit}/s`
  return `${opsPerSecond.toFixed(0)} ${unit}/s`
}

export function fmtUs(ms) {
  const us = ms * 1000
  return us >= 100 ? `${us.toFixed(0)} us` : `${us.toFixed(1)} us`
}

export function fmtMs(ms) {
  return ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(2)} ms`
}

export function fmtRatio(ratio) {
  return `${ratio.toFixed(2)}x`
}

/** 'yes' / 'no', so a missed goal is stated, not hidden. */
export function met(condition) {
  return condition ? 'yes' : '**no**'
}

const FS_TYPES = {
  0xef53: 'ext4',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x01021994: 'tmpfs',
  0x794c7630: 'overlayfs',
  0x2fc12fc1: 'zfs',
}

export function fsTypeOf(dir) {
  try {
    const type = fs.statfsSync(dir).type
    return FS_TYPES[type] ?? `fs 0x${type.toString(16)}`
  } catch {
    return 'unknown fs'
  }
}

export function machineInfo(tmpRoot) {
  const cpus = os.cpus()
  const memoryGiB = (os.totalmem() / 2 ** 30).toFixed(0)
  return (
    `${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} cores, ${memoryGiB} GiB RAM, ` +
    `${os.type()} ${os.release()}, Node ${process.version}, data in ${tmpRoot} (${fsTypeOf(tmpRoot)})`
  )
}

export function markdownTable(header, rows) {
  const escape = (cell) => String(cell).replaceAll('|', '\\|')
  const lines = [
    `| ${header.map(escape).join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ]
  return lines.join('\n')
}

export function log(message) {
  process.stdout.write(`${message}\n`)
}

/**
 * Calls `start(i)` for i = 0 .. total - 1, at most `window` of its promises unsettled at once
 * (a closed loop: each settles before another starts); returns operations per second.
 */
export async function pump(total, window, start) {
  const startedMs = performance.now()
  let next = 0
  let done = 0
  await new Promise((resolve, reject) => {
    const launch = () => {
      while (next < total && next - done < window) {
        start(next++).then(() => {
          done++
          if (done === total) resolve()
          else launch()
        }, reject)
      }
    }
    launch()
  })
  return (total * 1000) / (performance.now() - startedMs)
}
