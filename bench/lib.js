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
    /** Time budget (ms) of each throughput task (random get, batched puts). */
    throughputTimeMs: quick ? 700 : 3000,
    /** Full scans per store. */
    scanIterations: quick ? 2 : 5,
    /** Samples per durable-latency task, split over `latencyRounds` interleaved rounds. */
    latencyIterations: quick ? 600 : 3000,
    latencyRounds: 3,
    /** Samples per store size of the commit-cost workload. */
    commitIterations: quick ? 500 : 2000,
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

function newBench(name, { iterations, timeMs, warmupIterations = 16, warmupTimeMs = 250, retainSamples = false }) {
  return new Bench({
    name,
    iterations,
    time: timeMs,
    warmupIterations,
    warmupTime: warmupTimeMs,
    throws: true,
    retainSamples,
    timestampProvider: 'performanceNow',
  })
}

/** Says whether fn is async up front, so tinybench makes no extra detection call. */
function fnOptions(fn) {
  return { async: fn.constructor.name === 'AsyncFunction' }
}

function resultOf(task) {
  const result = task.result
  if (result.state !== 'completed') {
    throw result.error ?? new Error(`task ${task.name} ended in state ${result.state}`)
  }
  return result
}

/**
 * Runs one task alone and returns its latency statistics (ms per iteration).
 * Stops at whichever of `iterations` and `timeMs` comes first (0 disables a limit).
 */
export async function measure(name, fn, options) {
  const bench = newBench(name, options)
  bench.add(name, fn, fnOptions(fn))
  await bench.run()
  return resultOf(bench.tasks[0]).latency
}

/**
 * Runs several tasks in `rounds` interleaved rounds (a, b, c, a, b, c, ...), so that a slow
 * phase of a shared virtual disk hits all of them alike, and returns each task's samples
 * (ms) merged over the rounds, keyed by name.
 */
export async function measureInterleaved(tasks, { iterations, rounds, timeMs }) {
  const samples = Object.fromEntries(Object.keys(tasks).map((name) => [name, []]))
  const iterationsPerRound = Math.ceil(iterations / rounds)
  for (let round = 0; round < rounds; round++) {
    for (const [name, fn] of Object.entries(tasks)) {
      const bench = newBench(name, {
        iterations: iterationsPerRound,
        timeMs: Math.ceil(timeMs / rounds),
        warmupIterations: round === 0 ? 50 : 10,
        retainSamples: true,
      })
      bench.add(name, fn, fnOptions(fn))
      await bench.run()
      samples[name].push(...resultOf(bench.tasks[0]).latency.samples)
    }
  }
  return samples
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
