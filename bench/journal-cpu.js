// CPU per slice and log bytes written, journal on / off: the measurement behind the journal's
// cost analysis (BENCHMARKS.md, "Causal journal"). CPU time (process.cpuUsage: every thread,
// the flusher's too) is steadier than throughput on a shared 2-core VM; run the modes in
// turns and compare minima.
//
//   node bench/journal-cpu.js [on|off|nocompact] [domains] [cleaning on|off]
//     on         the journal with its defaults (1,000 slices kept per domain)
//     off        journal: false
//     nocompact  the journal with a retention nothing reaches (recording without compaction)
//     domains    how many domains the sends go round (default 1; the j1 row also uses 10000)
//     cleaning   off: maxSpaceAmplification 0, so fileBytes is every byte the log got
//
// Prints one line: mode, domains, CPU us per slice (user, system), minor page faults per slice, slices/s of each round,
// the commits since open (stats().seq), the native commit call's mean and p90 over the measured
// rounds (bench/commit-timer.js), the store's file and live MiB, and the journal's counters.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { defineDomain, Runtime } from '../dist/index.js'
import { timeNativeCommits } from './commit-timer.js'
import { mean, percentile, pump } from './lib.js'

const [mode = 'on', domainArg = '1', cleaning = 'on'] = process.argv.slice(2)
const JOURNAL = { on: undefined, off: false, nocompact: { keepSlices: 1e9, keepBytes: 1e12 } }
if (!(mode in JOURNAL) || !['on', 'off'].includes(cleaning)) throw new Error('usage: node bench/journal-cpu.js [on|off|nocompact] [domains] [cleaning on|off]')
const DOMAINS = Number(domainArg)
const WINDOW = 256
const ROUND = 30_000
const ROUNDS = 3

const Counter = defineDomain({ name: 'counter', version: 1, state: { count: 0, label: 'bench' }, on: { bump: (s) => void s.count++ } })

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ved-journal-cpu-'))
const store = cleaning === 'off' ? { maxSpaceAmplification: 0 } : {}
const nativeCommits = timeNativeCommits()
const rt = await Runtime.open({ path: dir, domains: [Counter], journal: JOURNAL[mode], store })
const handles = Array.from({ length: DOMAINS }, (_, i) => rt.domain(Counter, `d${i}`))
const bump = (i) => handles[i % DOMAINS].send('bump')

try {
  await pump(5_000, WINDOW, bump)
  const rates = []
  nativeCommits.start()
  const cpuBefore = process.cpuUsage()
  const faultsBefore = process.resourceUsage().minorPageFault
  for (let round = 0; round < ROUNDS; round++) rates.push(await pump(ROUND, WINDOW, bump))
  const cpu = process.cpuUsage(cpuBefore)
  const faults = process.resourceUsage().minorPageFault - faultsBefore
  const slices = ROUND * ROUNDS
  const stats = rt.store.stats()
  const mib = (bytes) => (bytes / 1048576).toFixed(1)
  console.log(
    `${mode} domains=${DOMAINS} cleaning=${cleaning}: cpu ${((cpu.user + cpu.system) / slices).toFixed(2)} us/slice ` +
      `(user ${(cpu.user / slices).toFixed(2)}, sys ${(cpu.system / slices).toFixed(2)}); ${(faults / slices).toFixed(2)} minor faults/slice; ` +
      `${rates.map((rate) => `${(rate / 1000).toFixed(1)}k`).join(' ')} slices/s; ${stats.seq} commits; native commit call mean ${(mean(nativeCommits.samples) * 1000).toFixed(1)} us, p90 ${(percentile(nativeCommits.samples, 0.9) * 1000).toFixed(1)} us; file ${mib(stats.fileBytes)} MiB, live ${mib(stats.liveBytes)} MiB; ` +
      `journal ${JSON.stringify(rt.stats().journal)}`,
  )
} finally {
  await rt.close()
  fs.rmSync(dir, { recursive: true, force: true })
}
