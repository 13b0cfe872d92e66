// The journal's per-slice encode alone: DrainBatch.append of a one-field update's entry (what
// a bump slice records), 128 entries to a drain as in row r1, the intent id built per slice as
// the runtime builds it; and the drain's batch (DrainBatch.encode, once per 128 entries, a
// one-domain drain as in j1's one-domain run). Compare builds of lib/ with it; row j1 is the
// whole journal's cost.
//
//   node bench/journal-encode.js [rounds]
//
// Prints, for each round of 200,000 entries, the mean us per entry of the appends and of the
// batch encodes.
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
const encodes = []
let batchBytes = 0
for (let round = 0; round < ROUNDS; round++) {
  let segment = -1
  let encodeMs = 0
  const started = performance.now()
  for (let n = 0; n < ENTRIES; n++) {
    if (n % 128 === 0) {
      if (n > 0) {
        const encodeStarted = performance.now()
        batchBytes = drain.encode().length
        encodeMs += performance.now() - encodeStarted
      }
      drain.reset()
      segment = drain.open('counter\0one', n, -1)
    }
    entry.i = `counter/one/~tag:${n.toString(36)}`
    entry.r = entry.i
    drain.append(segment, entry)
  }
  rounds.push(((performance.now() - started - encodeMs) * 1000) / ENTRIES)
  encodes.push((encodeMs * 1000) / ENTRIES)
}
const list = (values) => values.map((us) => us.toFixed(3)).join(' ')
console.log(`journal entry encode: ${list(rounds)} us per entry; batch encode (${batchBytes} bytes per 128 entries): ${list(encodes)} us per entry`)
