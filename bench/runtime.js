// Domain runtime workloads (lib/runtime/), against lmdb and an event-sourcing baseline in
// the same run. `npm run bench` runs them after the engine workloads; `node --expose-gc
// bench/run.js --runtime-only` runs only these, `--only r2` only the rows named.
//
// (r1) Slices per second, one-field update (`s.count++`), every send awaited until its
//      reply (= its slice is durable), RUNTIME_WINDOW sends in flight: to one domain, and
//      spread over 10,000 domains. Reference: lmdb `db.put` of one small value per write,
//      the same number in flight, each awaited (and `db.flushed`), to one key / 10,000 keys.
//      Both fdatasync before acknowledging. Units: slices/s vs puts/s. Goal >= 1x (target 2x).
// (r2) Execution-thread time spent on persistence per slice: from the handler's return to
//      the end of the slice's writes, plus, for the slice that ends a drain, the
//      commit call (encode + seal) of that drain; measured inside the runtime
//      (lib/runtime/timing.ts) during r1 (pipelined) and during sequential awaited sends
//      (one slice per commit). Units: us, p50 / p99. Goal p99 < 50 us (target 20 us).
// (r3) Snapshot cost of a one-entry change in a map() of 1K vs 1M entries (`--quick`: 100K):
//      the same r2 measure on sequential awaited sends that change one random entry.
//      Units: us p50; goal: 1M/1K within 2x.
// (r4) Recovery: a domain with RECOVERY_SLICES slices of history (1M; `--quick`: 100K) and
//      one message waiting in its inbox; time from `Runtime.open` to the start of that
//      message's handler. Baseline: an event-sourced system reading the same number of
//      intents from an append-only log file and replaying them through the same reducer
//      before it can handle the message. Units: ms p50 of RECOVERY_RUNS. Goal < 50 ms (10 ms).
// (j1) The causal journal's cost: r1's two workloads and r2's sequential sends with the
//      journal on (the default) and off (`journal: false`), alternating per round in one
//      process. Units: slices/s and us p99; goal: on >= 0.75x off (the journal costs at
//      most 25% of throughput).
// r1-r4 run with `journal: false`; j1 runs the journal on (the default) and off.
// Machine: as printed in the report header (see lib.js machineInfo).
import fs from 'node:fs'
import path from 'node:path'
import { Packr } from 'msgpackr'
import { defineDomain, map, Runtime } from '../dist/index.js'
import { resetSliceTiming, sliceTiming } from '../dist/runtime/timing.js'
import { fmtMs, fmtOps, fmtRatio, fmtUs, log, met, percentile, pump } from './lib.js'

const RUNTIME_WINDOW = 256
/** r1-r4 measure the runtime as issue 6 specifies it, without the journal; j1 puts the journal's cost next to them. */
const NO_JOURNAL = { journal: false }
const MANY_DOMAINS = 10_000
const RECOVERY_RUNS = 5
const FILL_PER_SLICE = 10_000

/** Set by the message that waits in the inbox during r4: when its handler started. */
let resumedAtMs = 0

const Counter = defineDomain({
  name: 'counter',
  version: 1,
  state: { count: 0, label: 'bench' },
  on: {
    bump(s) {
      s.count++
    },
    resume(s) {
      resumedAtMs = performance.now()
      s.count++
    },
  },
})

const Inventory = defineDomain({
  name: 'inventory',
  version: 1,
  state: { changes: 0, items: map() },
  on: {
    fill(s, p) {
      for (let i = p.from; i < p.to; i++) s.items.set(itemKey(i), { qty: i % 100, bin: `b${i % 977}` })
    },
    touch(s, p) {
      const item = s.items.get(itemKey(p.i))
      item.qty++
      s.changes++
    },
  },
})

const Starter = defineDomain({
  name: 'starter',
  version: 1,
  state: {},
  on: {
    kick(_s, _p, ctx) {
      ctx.send('counter', 'history', 'resume')
    },
  },
})

const itemKey = (i) => `item-${i.toString().padStart(8, '0')}`

/** Blocked time per slice (ms): the slice's own part, plus its drain's commit for the drain's last slice. */
function blockedSamples() {
  const samples = [...sliceTiming.sliceMs]
  let end = 0
  for (let c = 0; c < sliceTiming.commitMs.length; c++) {
    end += sliceTiming.commitSlices[c]
    if (end - 1 < samples.length) samples[end - 1] += sliceTiming.commitMs[c]
  }
  return samples
}

async function throughput({ lmdb, config, dir }) {
  const total = config.quick ? 5_000 : 30_000
  const rt = await Runtime.open({ path: path.join(dir, 'rt-throughput'), domains: [Counter], ...NO_JOURNAL })
  const rows = []
  try {
    const one = [rt.domain(Counter, 'one')]
    const many = Array.from({ length: MANY_DOMAINS }, (_, i) => rt.domain(Counter, `d-${i}`))
    const value = { count: 1, label: 'bench' }
    const rates = { vedOne: [], vedMany: [], lmdbOne: [], lmdbMany: [] }
    let blocked = []
    let commitCount = 0
    for (let round = 0; round < config.rounds; round++) {
      resetSliceTiming(true)
      rates.vedOne.push(await pump(total, RUNTIME_WINDOW, () => one[0].send('bump')))
      rates.vedMany.push(await pump(total, RUNTIME_WINDOW, (i) => many[i % MANY_DOMAINS].send('bump')))
      blocked = blocked.concat(blockedSamples())
      commitCount += sliceTiming.commitMs.length
      resetSliceTiming(false)
      // lmdb resolves a put at commit and may sync after (overlappingSync): a put counts as
      // acknowledged once `db.flushed` resolved after it, as in stores.js.
      rates.lmdbOne.push(await pump(total, RUNTIME_WINDOW, () => lmdb.put('runtime-one', value).then(() => lmdb.flushed)))
      rates.lmdbMany.push(await pump(total, RUNTIME_WINDOW, (i) => lmdb.put(`runtime-${i % MANY_DOMAINS}`, value).then(() => lmdb.flushed)))
    }
    const median = (list) => percentile(list, 0.5)
    for (const [label, ved, ref] of [
      ['one domain', median(rates.vedOne), median(rates.lmdbOne)],
      [`${MANY_DOMAINS.toLocaleString('en')} domains`, median(rates.vedMany), median(rates.lmdbMany)],
    ]) {
      rows.push({
        id: 'r1',
        workload: `slices/s, one-field update, ${label}, ${RUNTIME_WINDOW} awaited sends in flight (median of ${config.rounds} x ${total.toLocaleString('en')})`,
        ved: fmtOps(ved, 'slices'),
        reference: `lmdb ${fmtOps(ref, 'puts')} (${label === 'one domain' ? 'one key' : `${MANY_DOMAINS.toLocaleString('en')} keys`})`,
        ratio: `${fmtRatio(ved / ref)} lmdb`,
        goal: '>= 1x (target 2x)',
        met: met(ved >= ref),
      })
    }
    rows.push(blockedRow(blocked, `pipelined (r1's slices, ${(blocked.length / Math.max(1, commitCount)).toFixed(0)} per commit on average)`))
    resetSliceTiming(true)
    for (let i = 0; i < (config.quick ? 500 : 2000); i++) await one[0].send('bump')
    const sequential = blockedSamples()
    resetSliceTiming(false)
    rows.push(blockedRow(sequential, 'sequential awaited sends (one slice per commit)'))
  } finally {
    resetSliceTiming(false)
    await rt.close()
  }
  return rows
}

function blockedRow(samples, label) {
  const p50 = percentile(samples, 0.5)
  const p99 = percentile(samples, 0.99)
  return {
    id: 'r2',
    workload: `execution thread blocked by persistence per slice, ${label}, ${samples.length.toLocaleString('en')} slices, p50 / p99`,
    ved: `${fmtUs(p50)} / ${fmtUs(p99)}`,
    reference: '-',
    ratio: '-',
    goal: 'p99 < 50 us (target 20 us)',
    met: met(p99 < 0.05),
  }
}

async function mapSnapshotCost({ config, dir }) {
  const large = config.quick ? 100_000 : 1_000_000
  const rt = await Runtime.open({ path: path.join(dir, 'rt-map'), domains: [Inventory], ...NO_JOURNAL })
  const results = []
  try {
    for (const size of [1_000, large]) {
      const domain = rt.domain(Inventory, `inv-${size}`)
      for (let from = 0; from < size; from += FILL_PER_SLICE) await domain.send('fill', { from, to: Math.min(size, from + FILL_PER_SLICE) })
      if (domain.state.items.size !== size) throw new Error(`map fill: expected ${size} entries, found ${domain.state.items.size}`)
    }
    const iterations = config.quick ? 500 : 2000
    for (const size of [1_000, large]) {
      const domain = rt.domain(Inventory, `inv-${size}`)
      // Warm up, then measure; alternate sizes would mix their timings in one sample list.
      for (let i = 0; i < 100; i++) await domain.send('touch', { i: (i * 7919) % size })
      resetSliceTiming(true)
      let cursor = 12345
      for (let i = 0; i < iterations; i++) {
        cursor = (Math.imul(cursor, 1103515245) + 12345) >>> 0
        await domain.send('touch', { i: cursor % size })
      }
      results.push({ size, p50: percentile(blockedSamples(), 0.5), p99: percentile(blockedSamples(), 0.99) })
      resetSliceTiming(false)
    }
  } finally {
    resetSliceTiming(false)
    await rt.close()
  }
  const [small, big] = results
  const ratio = big.p50 / small.p50
  return [
    {
      id: 'r3',
      workload: `one-entry change in a map() of 1K vs ${big.size.toLocaleString('en')} entries: persistence per slice (delta + commit), p50 (p99)`,
      ved: `${fmtUs(small.p50)} (${fmtUs(small.p99)}) / ${fmtUs(big.p50)} (${fmtUs(big.p99)})`,
      reference: '-',
      ratio: `${fmtRatio(ratio)} (large/1K)`,
      goal: 'within 2x',
      met: met(ratio <= 2),
    },
  ]
}

async function recovery({ config, dir }) {
  const sliceCount = config.quick ? 100_000 : 1_000_000
  const storeDir = path.join(dir, 'rt-recovery')
  {
    const rt = await Runtime.open({ path: storeDir, domains: [Counter], ...NO_JOURNAL })
    const domain = rt.domain(Counter, 'history')
    await pump(sliceCount, RUNTIME_WINDOW, () => domain.send('bump'))
    if (domain.state.count !== sliceCount) throw new Error(`recovery: expected ${sliceCount} slices, count is ${domain.state.count}`)
    await rt.close()
  }
  const vedMs = []
  for (let run = 0; run < RECOVERY_RUNS; run++) {
    // A message waits in the inbox of the 1M-slice domain (its definition is not registered here).
    const kicker = await Runtime.open({ path: storeDir, domains: [Starter], ...NO_JOURNAL })
    await kicker.domain(Starter, 's').send('kick')
    await kicker.close()
    resumedAtMs = 0
    const openedMs = performance.now()
    const rt = await Runtime.open({ path: storeDir, domains: [Counter], ...NO_JOURNAL })
    await rt.quiet()
    if (resumedAtMs === 0) throw new Error('recovery: the waiting message did not run')
    vedMs.push(resumedAtMs - openedMs)
    if (rt.domain(Counter, 'history').state.count !== sliceCount + run + 1) throw new Error('recovery: wrong count after resume')
    await rt.close()
  }
  const logMs = eventSourcingReplay(path.join(dir, 'event-log.bin'), sliceCount)
  const ved = percentile(vedMs, 0.5)
  const baseline = percentile(logMs, 0.5)
  return [
    {
      id: 'r4',
      workload: `recovery: Runtime.open to the first resumed slice, domain with ${sliceCount.toLocaleString('en')} slices, p50 of ${RECOVERY_RUNS}`,
      ved: fmtMs(ved),
      reference: `event-sourcing replay of ${sliceCount.toLocaleString('en')} logged intents: ${fmtMs(baseline)}`,
      ratio: `${fmtRatio(baseline / ved)} faster`,
      goal: '< 50 ms (target 10 ms)',
      met: met(ved < 50),
    },
  ]
}

/**
 * The baseline: intents appended to a log file (length-prefixed msgpack, fsynced), then
 * recovered by reading the file and replaying every intent through the reducer. Returns
 * the replay times (ms), one per run.
 */
function eventSourcingReplay(file, intentCount) {
  const packr = new Packr({ useRecords: false })
  const fd = fs.openSync(file, 'w')
  const chunk = []
  let chunkBytes = 0
  for (let i = 0; i < intentCount; i++) {
    const record = packr.pack({ id: `intent-${i}`, type: 'bump', payload: null })
    const header = Buffer.alloc(4)
    header.writeUInt32LE(record.length)
    chunk.push(header, Buffer.from(record))
    chunkBytes += 4 + record.length
    if (chunkBytes > 1 << 20) {
      fs.writeSync(fd, Buffer.concat(chunk))
      chunk.length = 0
      chunkBytes = 0
    }
  }
  fs.writeSync(fd, Buffer.concat(chunk))
  fs.fsyncSync(fd)
  fs.closeSync(fd)
  const times = []
  for (let run = 0; run < RECOVERY_RUNS; run++) {
    const startedMs = performance.now()
    const bytes = fs.readFileSync(file)
    const state = { count: 0, label: 'bench' }
    for (let offset = 0; offset < bytes.length; ) {
      const length = bytes.readUInt32LE(offset)
      const intent = packr.unpack(bytes.subarray(offset + 4, offset + 4 + length))
      if (intent.type === 'bump') state.count++
      offset += 4 + length
    }
    if (state.count !== intentCount) throw new Error('event-sourcing replay: wrong count')
    times.push(performance.now() - startedMs)
  }
  fs.rmSync(file, { force: true })
  log(`  event-sourcing replay of ${intentCount} intents: ${times.map((t) => fmtMs(t)).join(', ')}`)
  return times
}

async function journalCost({ config, dir }) {
  const total = config.quick ? 5_000 : 30_000
  const sequentialCount = config.quick ? 500 : 2000
  const modes = [
    ['on', {}],
    ['off', { journal: false }],
  ]
  const runtimes = {}
  const rates = { on: { one: [], many: [], p99: [] }, off: { one: [], many: [], p99: [] } }
  /** Per round, [p50, p99] of the compaction steps' wall time after the one-domain run (journal on). */
  const stepP99 = []
  try {
    for (const [mode, options] of modes) runtimes[mode] = await Runtime.open({ path: path.join(dir, `rt-journal-${mode}`), domains: [Counter], ...options })
    for (let round = 0; round < config.rounds; round++) {
      for (const [mode] of modes) {
        const rt = runtimes[mode]
        const one = rt.domain(Counter, 'one')
        const many = Array.from({ length: MANY_DOMAINS }, (_, i) => rt.domain(Counter, `d-${i}`))
        rates[mode].one.push(await pump(total, RUNTIME_WINDOW, () => one.send('bump')))
        if (mode === 'on') stepP99.push([rt.stats().journal.stepMsP50, rt.stats().journal.stepMsP99])
        rates[mode].many.push(await pump(total, RUNTIME_WINDOW, (i) => many[i % MANY_DOMAINS].send('bump')))
        resetSliceTiming(true)
        for (let i = 0; i < sequentialCount; i++) await one.send('bump')
        rates[mode].p99.push(percentile(blockedSamples(), 0.99))
        resetSliceTiming(false)
      }
    }
  } finally {
    resetSliceTiming(false)
    for (const rt of Object.values(runtimes)) await rt.close()
  }
  const median = (list) => percentile(list, 0.5)
  const rows = []
  for (const [label, key] of [
    ['one domain', 'one'],
    [`${MANY_DOMAINS.toLocaleString('en')} domains`, 'many'],
  ]) {
    const on = median(rates.on[key])
    const off = median(rates.off[key])
    rows.push({
      id: 'j1',
      workload: `journal on vs off: slices/s, r1's ${label} (median of ${config.rounds} x ${total.toLocaleString('en')})`,
      ved: fmtOps(on, 'slices'),
      reference: `journal off ${fmtOps(off, 'slices')}`,
      ratio: `${fmtRatio(on / off)} off`,
      goal: '>= 0.75x off',
      met: met(on >= 0.75 * off),
    })
  }
  const on = median(rates.on.p99)
  const off = median(rates.off.p99)
  rows.push({
    id: 'j1',
    workload: `journal on vs off: blocked per slice p99, sequential awaited sends (median of ${config.rounds} x ${sequentialCount.toLocaleString('en')})`,
    ved: fmtUs(on),
    reference: `journal off ${fmtUs(off)}`,
    ratio: `${fmtRatio(on / off)} off`,
    goal: 'p99 < 50 us, as r2',
    met: met(on < 0.05),
  })
  const step = median(stepP99.map(([, p99]) => p99))
  rows.push({
    id: 'j1',
    workload: `compaction step wall time p50 / p99 (stats().journal), one domain flat out (medians of ${config.rounds} rounds)`,
    ved: `${fmtUs(median(stepP99.map(([p50]) => p50)))} / ${fmtUs(step)}`,
    reference: '-',
    ratio: '-',
    goal: 'p99 < 50 us, as r2',
    met: met(step < 0.05),
  })
  return rows
}

export const RUNTIME_WORKLOADS = [
  ['runtime: slices/s and blocked time (r1, r2)', throughput, ['r1', 'r2']],
  ['runtime: journal cost (j1)', journalCost, ['j1']],
  ['runtime: map snapshot cost (r3)', mapSnapshotCost, ['r3']],
  ['runtime: recovery (r4)', recovery, ['r4']],
]
