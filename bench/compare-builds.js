// Compares builds of the addon in one process, so that every build sees the same machine load;
// `node --expose-gc bench/compare-builds.js before=/path/a.node after=build/Release/ved.node`
// (after `npm run build:ts`). On a shared VM, runs of one build minutes apart differ by more
// than the changes worth measuring; alternating builds every ROUNDS-th of the samples does not.
// One build alone works too: its seal and durable latency by what precedes the commit.
//
// Each label=file gets its own copy of dist/ (under node_modules/.cache/ved-compare/, where
// bare imports still resolve) loaded with VED_ADDON_PATH=file, so the builds' stores, flusher
// threads and completion paths are fully separate; only one of them works at a time.
// `label=file,dir` copies the compiled JS from `dir` instead of dist/: a build of the
// TypeScript side (`git worktree add`, `npx tsc`, then name its dist/) with its addon, to
// compare changes in lib/ as well.
//
// Workloads (COMPARE_WORKLOADS, default all four), each build taking turns every round:
//   sequential  one-put transactions on a 100,000-key store, one at a time, each awaited until
//               durable (row d of bench/writes.js), with the raw 4 KiB write + fdatasync of
//               row d taking its turn too
//   idle        the same, after `await setTimeout(1 ms)` before each commit (an application
//               that commits now and then: the flusher has been idle for ~1 ms)
//   busy        the same, after 1 ms of JS work (a clock loop) before each commit (an
//               application that computes between commits: the JS thread is hot, the
//               flusher has been idle for ~1 ms)
//   runtime     sequential awaited sends to one domain (row r2 of bench/runtime.js,
//               "sequential"), blocked time per slice as lib/runtime/timing.ts measures it,
//               and its two parts: the slice's own (delta, pending writes) and the commit
//               (the store.transaction call: encode, seal, enqueue)
//   pipelined   row r1's workloads: 256 awaited sends in flight, COMPARE_PIPELINED_SENDS
//               (10,000) per turn, to one domain and round 10,001 domains (r1's 10,000 plus
//               its one domain, in one runtime); slices/s per turn and cpu per slice
// COMPARE_JOURNAL=off runs the runtime workloads with `journal: false`, as rows r1 and r2 do.
// Units: microseconds, p50 / p90 / p99 of COMPARE_ROUNDS (20) x COMPARE_PER_ROUND (150) samples
// per build (the first 5 of each turn are dropped as warm-up): until durable, and the seal (the
// transaction() call, time the JS thread is blocked); "cpu" is the process's user + system CPU
// time per commit or slice during the build's turns (its flusher thread included; busy: the
// 1 ms loop too).
// Machine: printed with the load average at the start and the end.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { keyOf, log, machineInfo, makeValues, percentile, valueOf } from './lib.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.join(here, '..')
const WORKLOADS = (process.env.COMPARE_WORKLOADS ?? 'sequential,idle,busy,runtime').split(',')
const ROUNDS = Number(process.env.COMPARE_ROUNDS ?? 20)
const PER_ROUND = Number(process.env.COMPARE_PER_ROUND ?? 150)
const WARMUP_PER_ROUND = 5
/** COMPARE_QUANTILES=0.5,0.99,0.999 for others than p50 / p90 / p99 (the headers still say p50 / p90 / p99). */
const QUANTILES = (process.env.COMPARE_QUANTILES ?? '0.5,0.9,0.99').split(',').map(Number)
const KEY_COUNT = 100_000
const JOURNAL = process.env.COMPARE_JOURNAL === 'off' ? { journal: false } : {}
const PIPELINED_SENDS = Number(process.env.COMPARE_PIPELINED_SENDS ?? 10_000)
const PIPELINED_WINDOW = 256
const PIPELINED_DOMAINS = 10_001
const RAW_WRITE_BYTES = 4096
const RAW_FILE_BYTES = 16 << 20

const loadavg = () => os.loadavg().map((l) => l.toFixed(2)).join(' ')
const us = (ms) => (ms * 1000).toFixed(1)
const quantiles = (samples) => QUANTILES.map((q) => us(percentile(samples, q))).join(' / ')
const cpuUs = () => {
  const { user, system } = process.cpuUsage()
  return user + system
}

async function loadBuilds(specs) {
  const builds = []
  for (const spec of specs) {
    const at = spec.indexOf('=')
    if (at <= 0) throw new RangeError(`expected label=path/to/ved.node, got ${spec}`)
    const label = spec.slice(0, at)
    const [addonPath, distPath = path.join(root, 'dist')] = spec.slice(at + 1).split(',')
    const file = path.resolve(addonPath)
    if (!fs.existsSync(file)) throw new RangeError(`${file} does not exist`)
    if (!fs.existsSync(path.join(distPath, 'index.js'))) throw new RangeError(`${distPath} holds no compiled index.js`)
    const copy = path.join(root, 'node_modules', '.cache', 'ved-compare', label)
    fs.rmSync(copy, { recursive: true, force: true })
    fs.cpSync(path.resolve(distPath), copy, { recursive: true })
    // dist/addon.js reads VED_ADDON_PATH once, when this copy is first imported.
    process.env.VED_ADDON_PATH = file
    const ved = await import(path.join(copy, 'index.js'))
    const timing = await import(path.join(copy, 'runtime', 'timing.js'))
    builds.push({ label, file, ved, timing })
  }
  delete process.env.VED_ADDON_PATH
  return builds
}

/** Runs `turn(build)` for every build, round after round; returns { label: { samples, cpu } }. */
async function alternate(builds, turn) {
  const results = Object.fromEntries(builds.map((b) => [b.label, { samples: [], cpuUs: 0, count: 0 }]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const build of builds) {
      globalThis.gc?.()
      const result = results[build.label]
      const cpuBefore = cpuUs()
      const samples = await turn(build)
      result.cpuUs += cpuUs() - cpuBefore
      result.count += samples.length
      result.samples.push(...samples.slice(WARMUP_PER_ROUND))
    }
  }
  return results
}

/** Before each commit: 'sequential' nothing, 'idle' 1 ms asleep in the event loop, 'busy' 1 ms of JS. */
async function storeWorkload(builds, dir, workload) {
  const values = makeValues()
  const stores = new Map()
  const rawFd = fs.openSync(path.join(dir, `raw-${workload}`), 'w+')
  try {
    for (const build of builds) {
      const store = await build.ved.Store.open(path.join(dir, `store-${build.label}-${workload}`), { encoding: 'msgpack' })
      stores.set(build.label, store)
      for (let base = 0; base < KEY_COUNT; base += 1000) {
        await store.transaction((txn) => {
          for (let i = base; i < base + 1000; i++) txn.put(keyOf(i), valueOf(values, i))
        })
      }
    }
    for (let offset = 0; offset < RAW_FILE_BYTES; offset += 1 << 20) fs.writeSync(rawFd, Buffer.alloc(1 << 20), 0, 1 << 20, offset)
    fs.fsyncSync(rawFd)
    const block = Buffer.alloc(RAW_WRITE_BYTES, 0xa5)
    let rawOffset = 0
    let cursor = 0x5eed
    const raw = { label: 'raw fdatasync' }
    const seals = Object.fromEntries(builds.map((b) => [b.label, []]))
    const results = await alternate([...builds, raw], async (build) => {
      const samples = []
      const turnSeals = []
      for (let i = 0; i < PER_ROUND; i++) {
        if (workload === 'idle') await new Promise((resolve) => setTimeout(resolve, 1))
        if (workload === 'busy') for (const end = performance.now() + 1; performance.now() < end; );
        const started = performance.now()
        if (build === raw) {
          fs.writeSync(rawFd, block, 0, RAW_WRITE_BYTES, rawOffset)
          fs.fdatasyncSync(rawFd)
          rawOffset = (rawOffset + RAW_WRITE_BYTES) % RAW_FILE_BYTES
        } else {
          cursor = (Math.imul(cursor, 1103515245) + 12345) >>> 0
          const promise = stores.get(build.label).transaction((txn) => txn.put(keyOf(cursor % KEY_COUNT), valueOf(values, cursor)))
          turnSeals.push(performance.now() - started)
          await promise
        }
        samples.push(performance.now() - started)
      }
      if (build !== raw) seals[build.label].push(...turnSeals.slice(WARMUP_PER_ROUND))
      return samples
    })
    const rawP50 = percentile(results[raw.label].samples, 0.5)
    for (const [label, r] of Object.entries(results)) {
      const durable = `${quantiles(r.samples)}${label === raw.label ? '' : `, p50 ${(percentile(r.samples, 0.5) / rawP50).toFixed(2)}x raw`}`
      const seal = label === raw.label ? '-' : quantiles(seals[label])
      log(`| ${label} | ${durable} | ${seal} | ${(r.cpuUs / r.count).toFixed(0)} |`)
    }
  } finally {
    fs.closeSync(rawFd)
    for (const store of stores.values()) await store.close()
  }
}

async function runtimeWorkload(builds, dir) {
  const runtimes = new Map()
  try {
    for (const build of builds) {
      const Counter = build.ved.defineDomain({
        name: 'counter',
        version: 1,
        state: { count: 0, label: 'bench' },
        on: {
          bump(s) {
            s.count++
          },
        },
      })
      const rt = await build.ved.Runtime.open({ path: path.join(dir, `rt-${build.label}`), domains: [Counter], ...JOURNAL })
      runtimes.set(build.label, { rt, domain: rt.domain(Counter, 'one') })
    }
    const parts = Object.fromEntries(builds.map((b) => [b.label, { slice: [], commit: [] }]))
    const results = await alternate(builds, async (build) => {
      const { domain } = runtimes.get(build.label)
      const { sliceTiming, resetSliceTiming } = build.timing
      resetSliceTiming(true)
      for (let i = 0; i < PER_ROUND; i++) await domain.send('bump')
      parts[build.label].slice.push(...sliceTiming.sliceMs.slice(WARMUP_PER_ROUND))
      parts[build.label].commit.push(...sliceTiming.commitMs.slice(WARMUP_PER_ROUND))
      // Blocked time per slice, as bench/runtime.js blockedSamples(): a drain's commit counts
      // for its last slice (here every drain has one slice).
      const samples = [...sliceTiming.sliceMs]
      let end = 0
      for (let c = 0; c < sliceTiming.commitMs.length; c++) {
        end += sliceTiming.commitSlices[c]
        if (end - 1 < samples.length) samples[end - 1] += sliceTiming.commitMs[c]
      }
      resetSliceTiming(false)
      return samples
    })
    for (const [label, r] of Object.entries(results)) {
      const { slice, commit } = parts[label]
      log(`| ${label} | ${quantiles(r.samples)} | ${quantiles(slice)} | ${quantiles(commit)} | ${(r.cpuUs / r.count).toFixed(0)} |`)
    }
  } finally {
    for (const { rt } of runtimes.values()) await rt.close()
  }
}

function counterOf(build) {
  return build.ved.defineDomain({ name: 'counter', version: 1, state: { count: 0, label: 'bench' }, on: { bump: (s) => void s.count++ } })
}

/** `total` sends, PIPELINED_WINDOW in flight, each to handles[i % handles.length]; returns slices/s. */
async function pumpSends(handles, total) {
  const startedMs = performance.now()
  let started = 0
  let done = 0
  await new Promise((resolve, reject) => {
    const next = () => {
      if (started >= total) return
      handles[started++ % handles.length].send('bump').then(() => (++done === total ? resolve() : next()), reject)
    }
    for (let i = 0; i < PIPELINED_WINDOW; i++) next()
  })
  return (total * 1000) / (performance.now() - startedMs)
}

async function pipelinedWorkload(builds, dir) {
  const runtimes = new Map()
  try {
    for (const build of builds) {
      const Counter = counterOf(build)
      const rt = await build.ved.Runtime.open({ path: path.join(dir, `rt-pipelined-${build.label}`), domains: [Counter], ...JOURNAL })
      const many = Array.from({ length: PIPELINED_DOMAINS }, (_, i) => rt.domain(Counter, `d-${i}`))
      runtimes.set(build.label, { rt, one: [rt.domain(Counter, 'one')], many })
    }
    for (const shape of ['one', 'many']) {
      const rates = Object.fromEntries(builds.map((b) => [b.label, []]))
      const results = await alternate(builds, async (build) => {
        const rate = await pumpSends(runtimes.get(build.label)[shape], PIPELINED_SENDS)
        rates[build.label].push(rate)
        return new Array(PIPELINED_SENDS + WARMUP_PER_ROUND).fill(0)
      })
      for (const [label, r] of Object.entries(results)) {
        const sorted = rates[label]
        log(`| ${label} | ${shape === 'one' ? 'one domain' : `${PIPELINED_DOMAINS} domains`} | ${(percentile(sorted, 0.5) / 1000).toFixed(1)} k (${(Math.min(...sorted) / 1000).toFixed(1)}-${(Math.max(...sorted) / 1000).toFixed(1)} k) | ${(r.cpuUs / r.count).toFixed(2)} |`)
      }
    }
  } finally {
    for (const { rt } of runtimes.values()) await rt.close()
  }
}

async function main() {
  const builds = await loadBuilds(process.argv.slice(2).filter((arg) => !arg.startsWith('-')))
  if (builds.length === 0) throw new RangeError('name at least one build: label=path/to/ved.node')
  const tmpRoot = process.env.BENCH_DIR ?? os.tmpdir()
  const dir = fs.mkdtempSync(path.join(tmpRoot, 'ved-compare-'))
  log(`compare-builds: ${builds.map((b) => `${b.label}=${path.relative(process.cwd(), b.file)}`).join(', ')}`)
  log(`machine: ${machineInfo(tmpRoot)}; load ${loadavg()}; ${ROUNDS} rounds x ${PER_ROUND} per build`)
  try {
    for (const workload of WORKLOADS) {
      log('')
      if (workload === 'sequential' || workload === 'idle' || workload === 'busy') {
        const before = { sequential: '', idle: ' after 1 ms idle', busy: ' after 1 ms of JS work' }[workload]
        log(`${workload}: one-put transactions${before}, us`)
        log('| build | until durable p50 / p90 / p99 | seal p50 / p90 / p99 | cpu us per commit |')
        log('|---|---|---|---|')
        await storeWorkload(builds, dir, workload)
      } else if (workload === 'runtime') {
        log('runtime: blocked time per slice, sequential awaited sends, us')
        log('| build | blocked p50 / p90 / p99 | slice part | commit part | cpu us per slice |')
        log('|---|---|---|---|---|')
        await runtimeWorkload(builds, dir)
      } else if (workload === 'pipelined') {
        log(`pipelined: ${PIPELINED_WINDOW} awaited sends in flight, ${PIPELINED_SENDS} per turn`)
        log('| build | domains | slices/s median (min-max) of turns | cpu us per slice |')
        log('|---|---|---|---|')
        await pipelinedWorkload(builds, dir)
      } else {
        throw new RangeError(`unknown workload ${workload} (sequential, idle, busy, runtime, pipelined)`)
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
  log('')
  log(`load at the end ${loadavg()}`)
}

await main()
