// Journal compaction steps taken apart: how long each step and each of its parts took
// (stats().journal and the opt-in stepTiming of lib/runtime/timing.ts), and how far compaction
// got. With many domains over a small window, every domain's entries are in the time region
// and the steps reach them through the waiting set and its chains.
//
//   node bench/journal-steps.js [domains] [rounds] [keepSlices]
//     domains     default 20000, each sent one slice per round (256 in flight)
//     rounds      default 5; the run then waits 2 s for compaction to catch up
//     keepSlices  default 2
//
// Prints the steps (count, p50 / p99 / max), the entries deleted of those past the window,
// the backlog left, then per part (backlog, cursor, waiting, lingering, flush): p50 / p99 /
// max and the total, in us.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { defineDomain, Runtime } from '../dist/index.js'
import { resetStepTiming, STEP_PHASES, stepTiming } from '../dist/runtime/timing.js'
import { percentile, pump } from './lib.js'

const [domainArg = '20000', roundArg = '5', keepArg = '2'] = process.argv.slice(2)
const DOMAINS = Number(domainArg)
const ROUNDS = Number(roundArg)
const KEEP_SLICES = Number(keepArg)
const WINDOW = 256
const SETTLE_MS = 2000

const Counter = defineDomain({ name: 'counter', version: 1, state: { count: 0 }, on: { bump: (s) => void s.count++ } })

const us = (ms) => (ms * 1000).toFixed(0)
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ved-journal-steps-'))
const rt = await Runtime.open({ path: dir, domains: [Counter], journal: { keepSlices: KEEP_SLICES } })
try {
  resetStepTiming(true)
  const handles = Array.from({ length: DOMAINS }, (_, i) => rt.domain(Counter, `d${i}`))
  for (let round = 0; round < ROUNDS; round++) await pump(DOMAINS, WINDOW, (i) => handles[i].send('bump'))
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
  const j = rt.stats().journal
  const over = DOMAINS * Math.max(0, ROUNDS - KEEP_SLICES)
  console.log(
    `domains=${DOMAINS} rounds=${ROUNDS} keepSlices=${KEEP_SLICES}: ${j.steps} steps, step p50 ${us(j.stepMsP50)} us, p99 ${us(j.stepMsP99)} us, max ${j.stepMsMax.toFixed(1)} ms; ` +
      `deleted ${j.entriesDeleted} of ${over} past the window ${SETTLE_MS / 1000} s after the last send; backlog ${j.backlogDomains}`,
  )
  const parts = STEP_PHASES.map((phase) => {
    const samples = stepTiming.phaseMs[phase]
    const totalMs = samples.reduce((sum, ms) => sum + ms, 0)
    return `${phase} ${us(percentile(samples, 0.5))} / ${us(percentile(samples, 0.99))} / ${us(Math.max(0, ...samples))} us (total ${totalMs.toFixed(0)} ms)`
  })
  console.log(`  parts, p50 / p99 / max: ${parts.join('; ')}`)
} finally {
  resetStepTiming(false)
  await rt.close()
  fs.rmSync(dir, { recursive: true, force: true })
}
