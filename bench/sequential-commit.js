// Row r2's sequential case taken apart: what one slice's commit writes and how long the
// native seal takes, after r1's 10,000-domain phase has filled the store (as in npm run bench).
// `node --expose-gc bench/sequential-commit.js` (after `npm run build:ts`); SENDS (5000);
// JOURNAL=on runs the journal with its defaults (row j1's sequential case), else it is off.
//
// Phases: 2,000 sequential sends to one domain (warm-up), then r1's pipelined phases (one
// domain and 10,000 domains, 256 sends in flight, 30,000 each, 3 rounds), then SENDS
// sequential sends to the one domain, measured. Journal off, as rows r1-r2, unless JOURNAL=on.
// Units: KiB of log per commit (stats().logEndOffset), keys relocated per commit, and per
// slice in microseconds, p50 / p99: blocked (lib/runtime/timing.ts), of which the native
// commit call (addon.commit, wrapped here).
// Machine: printed with the load average.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { defineDomain, Runtime } from '../dist/index.js'
import { resetSliceTiming, sliceTiming } from '../dist/runtime/timing.js'
import { timeNativeCommits } from './commit-timer.js'
import { machineInfo, percentile, pump } from './lib.js'

const SENDS = Number(process.env.SENDS ?? 5000)
const Counter = defineDomain({ name: 'counter', version: 1, state: { count: 0, label: 'bench' }, on: { bump(s) { s.count++ } } })

const nativeCommits = timeNativeCommits()
const nativeMs = nativeCommits.samples

const us = (list, q) => (percentile(list, q) * 1000).toFixed(1)
console.log(`${machineInfo(os.tmpdir())}; load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`)
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ved-seq-'))
const journalOn = process.env.JOURNAL === 'on'
const rt = await Runtime.open({ path: dir, domains: [Counter], journal: journalOn ? undefined : false })
try {
  const one = rt.domain(Counter, 'one')
  for (let i = 0; i < 2000; i++) await one.send('bump')
  const many = Array.from({ length: 10_000 }, (_, i) => rt.domain(Counter, `d-${i}`))
  for (let round = 0; round < 3; round++) {
    await pump(30_000, 256, () => one.send('bump'))
    await pump(30_000, 256, (i) => many[i % many.length].send('bump'))
  }
  const before = rt.store.stats()
  resetSliceTiming(true)
  nativeCommits.start()
  for (let i = 0; i < SENDS; i++) await one.send('bump')
  nativeCommits.stop()
  const after = rt.store.stats()
  // As row r2 counts it (bench/runtime.js): a commit's time goes to its last slice; a commit
  // without slices (the journal's compaction alone) to the slice before it.
  const sliceMs = [...sliceTiming.sliceMs]
  const commitMs = [...sliceTiming.commitMs]
  const blocked = [...sliceMs]
  let end = 0
  for (let c = 0; c < commitMs.length; c++) {
    end += sliceTiming.commitSlices[c]
    if (end > 0 && end - 1 < blocked.length) blocked[end - 1] += commitMs[c]
  }
  resetSliceTiming(false)
  const commits = after.seq - before.seq
  console.log(`${SENDS} sequential sends, ${commits} commits: ${((after.logEndOffset - before.logEndOffset) / 1024 / commits).toFixed(1)} KiB of log per commit, ${((after.cleaner.relocatedKeys - before.cleaner.relocatedKeys) / commits).toFixed(2)} keys relocated per commit`)
  console.log(`journal ${journalOn ? 'on' : 'off'}: blocked per slice p50 / p99: ${us(blocked, 0.5)} / ${us(blocked, 0.99)} us; of which the slice's writes ${us(sliceMs, 0.5)} / ${us(sliceMs, 0.99)} us, the commit call ${us(commitMs, 0.5)} / ${us(commitMs, 0.99)} us (${commitMs.length} commits), the native commit call ${us(nativeMs, 0.5)} / ${us(nativeMs, 0.99)} us`)
  console.log(`load at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`)
} finally {
  await rt.close()
  fs.rmSync(dir, { recursive: true, force: true })
}
