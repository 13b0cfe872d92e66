// Journal on against off in one process, rounds alternating: the ratio row j1 reports, with
// more and shorter rounds, for comparing changes on a shared machine (a busy neighbour slows
// both modes of a round alike; compare the median ratio of runs made back to back).
//
//   node --expose-gc bench/journal-ab.js [domains] [rounds] [slices per round]
//     domains  how many domains the sends go round (default 1; row j1 also uses 10000)
//     rounds   rounds per mode (default 8), each `slices` awaited sends with 256 in flight
//     slices   default 20000
//
// Prints one line: the median and best slices/s of each mode and their ratios.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { defineDomain, Runtime } from '../dist/index.js'
import { pump } from './lib.js'

const [domainArg = '1', roundArg = '8', sliceArg = '20000'] = process.argv.slice(2)
const DOMAINS = Number(domainArg)
const ROUNDS = Number(roundArg)
const SLICES = Number(sliceArg)
const WINDOW = 256

const Counter = defineDomain({ name: 'counter', version: 1, state: { count: 0, label: 'bench' }, on: { bump: (s) => void s.count++ } })

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ved-journal-ab-'))
const modes = {
  on: await Runtime.open({ path: path.join(dir, 'on'), domains: [Counter] }),
  off: await Runtime.open({ path: path.join(dir, 'off'), domains: [Counter], journal: false }),
}

try {
  /** Per mode: the i-th send goes to domain i % DOMAINS. */
  const bump = {}
  for (const [mode, rt] of Object.entries(modes)) {
    const handles = Array.from({ length: DOMAINS }, (_, i) => rt.domain(Counter, `d${i}`))
    bump[mode] = (i) => handles[i % DOMAINS].send('bump')
    // Every domain has run a slice (and has a meta) before the timed rounds.
    await pump(Math.max(5_000, 2 * DOMAINS), WINDOW, bump[mode])
  }
  const rates = { on: [], off: [] }
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of Object.keys(modes)) {
      globalThis.gc?.()
      rates[mode].push(await pump(SLICES, WINDOW, bump[mode]))
    }
  }
  const median = (list) => [...list].sort((a, b) => a - b)[list.length >> 1]
  const best = (list) => Math.max(...list)
  const k = (rate) => `${(rate / 1000).toFixed(1)}k`
  console.log(
    `domains=${DOMAINS} rounds=${ROUNDS}x${SLICES}: on median ${k(median(rates.on))} best ${k(best(rates.on))} | ` +
      `off median ${k(median(rates.off))} best ${k(best(rates.off))} | on/off median ${(median(rates.on) / median(rates.off)).toFixed(2)}x, best ${(best(rates.on) / best(rates.off)).toFixed(2)}x`,
  )
} finally {
  for (const rt of Object.values(modes)) await rt.close()
  fs.rmSync(dir, { recursive: true, force: true })
}
