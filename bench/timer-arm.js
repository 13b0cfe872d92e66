// What arming the journal's next compaction step costs on the execution thread: a fresh
// setTimeout once the previous timer fired (its timer list is gone, so Node makes a new one)
// against refresh() of one Timeout kept for the purpose (lib/journal/writer.ts #armStep), and
// setImmediate for scale. Each sample arms the timer and waits for it to fire.
//
//   node bench/timer-arm.js
//
// Prints one line per way: the arming call's wall time p50 / p90 / p99 in microseconds.
const SAMPLES = 600
const DELAY_MS = 1

async function measure(label, arm) {
  const times = []
  for (let i = 0; i < SAMPLES; i++) {
    await new Promise((resolve) => {
      const startedMs = performance.now()
      arm(resolve)
      times.push(performance.now() - startedMs)
    })
  }
  times.sort((a, b) => a - b)
  const us = (q) => (times[Math.floor(q * times.length)] * 1000).toFixed(1)
  console.log(`${label}: p50 ${us(0.5)} / p90 ${us(0.9)} / p99 ${us(0.99)} us`)
}

await measure('setTimeout after the last fired', (resolve) => setTimeout(resolve, DELAY_MS))
let fired = null
const kept = setTimeout(() => fired(), DELAY_MS)
await new Promise((resolve) => {
  fired = resolve
})
await measure('refresh() of a kept Timeout', (resolve) => {
  fired = resolve
  kept.refresh()
})
await measure('setImmediate', (resolve) => setImmediate(resolve))
