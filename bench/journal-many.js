// Compaction across many domains over a small window: every domain's entries are in the time
// region, so the steps reach them through the waiting set (and its chains). Prints the steps'
// wall time (stats().journal) and how far compaction got by the end.
//
//   node bench/journal-many.js [domains] [rounds]
//     domains  default 20000, each sent one slice per round (256 in flight), keepSlices 2
//     rounds   default 5; the run then waits 2 s for compaction to catch up
//
// Prints one line: steps, stepMsP50 / stepMsP99 / stepMsMax, entries deleted (of
// domains x (rounds - 2) over the window) and the backlog left.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { defineDomain, Runtime } from '../dist/index.js'
import { pump } from './lib.js'

const [domainArg = '20000', roundArg = '5'] = process.argv.slice(2)
const DOMAINS = Number(domainArg)
const ROUNDS = Number(roundArg)
const KEEP_SLICES = 2
const WINDOW = 256
const SETTLE_MS = 2000

const Counter = defineDomain({ name: 'counter', version: 1, state: { count: 0 }, on: { bump: (s) => void s.count++ } })

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ved-journal-many-'))
const rt = await Runtime.open({ path: dir, domains: [Counter], journal: { keepSlices: KEEP_SLICES } })
try {
  const handles = Array.from({ length: DOMAINS }, (_, i) => rt.domain(Counter, `d${i}`))
  for (let round = 0; round < ROUNDS; round++) await pump(DOMAINS, WINDOW, (i) => handles[i].send('bump'))
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
  const j = rt.stats().journal
  const over = DOMAINS * Math.max(0, ROUNDS - KEEP_SLICES)
  console.log(
    `domains=${DOMAINS} rounds=${ROUNDS}: ${j.steps} steps, step p50 ${(j.stepMsP50 * 1000).toFixed(0)} us, p99 ${(j.stepMsP99 * 1000).toFixed(0)} us, max ${j.stepMsMax.toFixed(1)} ms; ` +
      `deleted ${j.entriesDeleted} of ${over} past the window ${SETTLE_MS / 1000} s after the last send; backlog ${j.backlogDomains}`,
  )
} finally {
  await rt.close()
  fs.rmSync(dir, { recursive: true, force: true })
}
