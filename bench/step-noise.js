// The floor under the journal's compaction step times (stats().journal.stepMsP50/P99): a task
// that only spins for a fixed time, scheduled every millisecond on the execution thread while
// one domain runs flat out with the journal off. What it measures past its spin is the
// machine's (another thread or the VM taking the core, a garbage collection), not its own work.
//
//   node bench/step-noise.js [spin us]   (default 20, the step's deadline)
//
// Prints one line: the task's wall time p50 / p90 / p99 / max and how many runs took over 50 us.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { defineDomain, Runtime } from '../dist/index.js'
import { pump } from './lib.js'

const spinUs = Number(process.argv[2] ?? 20)
const Counter = defineDomain({ name: 'counter', version: 1, state: { count: 0, label: 'bench' }, on: { bump: (s) => void s.count++ } })
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ved-step-noise-'))
const rt = await Runtime.open({ path: dir, domains: [Counter], journal: false })
const one = rt.domain(Counter, 'one')
const tookMs = []
let running = true
function spin() {
  if (!running) return
  const startedMs = performance.now()
  while (performance.now() - startedMs < spinUs / 1000) {}
  tookMs.push(performance.now() - startedMs)
  setTimeout(spin, 1)
}
try {
  await pump(5_000, 256, () => one.send('bump'))
  spin()
  await pump(90_000, 256, () => one.send('bump'))
} finally {
  running = false
  await rt.close()
  fs.rmSync(dir, { recursive: true, force: true })
}
tookMs.sort((a, b) => a - b)
const us = (q) => (tookMs[Math.min(tookMs.length - 1, Math.floor(q * tookMs.length))] * 1000).toFixed(0)
const over = tookMs.filter((ms) => ms > 0.05).length
console.log(`spin ${spinUs} us, ${tookMs.length} runs: p50 ${us(0.5)} / p90 ${us(0.9)} / p99 ${us(0.99)} / max ${us(1)} us; over 50 us: ${over} (${((100 * over) / tookMs.length).toFixed(1)}%)`)
