// The journal's per-slice encode alone: DrainBatch.append of a one-field update's entry (what
// a bump slice records), 128 entries to a drain as in row r1, the intent id built per slice as
// the runtime builds it. Compare builds of lib/ with it; row j1 is the whole journal's cost.
//
//   node bench/journal-encode.js [rounds]
//
// Prints the mean us per entry of each round of 200,000.
import { DrainBatch } from '../dist/journal/entry.js'

const ROUNDS = Number(process.argv[2] ?? 5)
const ENTRIES = 200_000
const NONE = Object.freeze([])
const drain = new DrainBatch()
const entry = {
  at: Date.now(), i: '', y: 'bump', p: null, c: null, r: '', from: null,
  ch: [['count', Buffer.from([5]), Buffer.from([6])]],
  fx: NONE, ms: NONE, tm: NONE, cx: NONE, rp: null, er: null, mg: null, o: false, l: false,
}
const rounds = []
for (let round = 0; round < ROUNDS; round++) {
  let segment = -1
  const started = performance.now()
  for (let n = 0; n < ENTRIES; n++) {
    if (n % 128 === 0) {
      drain.reset()
      segment = drain.open('counter\0one', n, -1)
    }
    entry.i = `counter/one/~tag:${n.toString(36)}`
    entry.r = entry.i
    drain.append(segment, entry)
  }
  rounds.push(((performance.now() - started) * 1000) / ENTRIES)
}
console.log(`journal entry encode: ${rounds.map((us) => us.toFixed(3)).join(' ')} us per entry`)
