// Crash safety: a child writes numbered transactions and is killed with SIGKILL at random
// moments. After every kill the store opens, holds every transaction the child reported
// durable, and is exactly a committed prefix: k1..k<last> present, nothing beyond, no torn
// transaction.
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Store } from '../lib/index.js'
import { FIXTURES, prng, runAndKill, SEGMENT_SIZE_BYTES_TEST, tempDirs } from './helpers.js'

const tempDir = tempDirs()
const WRITER = join(FIXTURES, 'crash-writer.mjs')
const ROUNDS = 50
const SNAPSHOT_ROUNDS = 25
/** 'snapshot': the writer also walks pinned snapshots while it writes (see crash-writer.mjs). */
type Mode = 'plain' | 'snapshot'
/** Upper bound of the random time the child writes before it is killed. */
const KILL_DELAY_MS_MAX = 150

/** Opens the store and checks it is a committed prefix holding everything acknowledged. */
async function checkPrefix(dir: string, acknowledged: number, previousLast: number): Promise<number> {
  await using store = await Store.open(dir, { segmentSizeBytes: SEGMENT_SIZE_BYTES_TEST })
  const last = (store.get('last') as number | undefined) ?? 0
  expect(last).toBeGreaterThanOrEqual(acknowledged)
  expect(last).toBeGreaterThanOrEqual(previousLast)
  let count = 0
  for (const { key, value } of store.getRange({ start: 'k', end: 'l' })) {
    const n = Number((key as string).slice(1))
    expect(n).toBeGreaterThanOrEqual(1)
    expect(n).toBeLessThanOrEqual(last)
    const expected = n % 16 === 0 ? { i: n, pad: 'x'.repeat(30_000) } : n
    expect(value).toEqual(expected)
    count++
  }
  // Exactly k1..k<last>: none missing, none beyond.
  expect(count).toBe(last)
  expect(store.get(`k${last + 1}`)).toBeUndefined()
  return last
}

describe('crash safety', () => {
  it(`every acknowledged commit survives SIGKILL (${ROUNDS} rounds)`, async () => {
    await killRounds(ROUNDS, 'plain')
  })

  it(`and when the kill lands while the writer reads a snapshot (${SNAPSHOT_ROUNDS} rounds)`, async () => {
    await killRounds(SNAPSHOT_ROUNDS, 'snapshot')
  })
})

async function killRounds(rounds: number, mode: Mode): Promise<void> {
  const seed = Number(process.env['VED_CRASH_SEED'] ?? Date.now() % 2 ** 31)
  // Printed so that a failing round can be replayed with VED_CRASH_SEED.
  console.log(`crash test (${mode}) seed ${seed}`)
  const random = prng(seed)
  const dir = tempDir()
  let last = 0
  let acknowledgedTotal = 0
  for (let round = 0; round < rounds; round++) {
    // One round in ten kills the child early, possibly while it opens (recovers) the store.
    const early = random() < 0.1
    const delayMs = Math.floor(random() * KILL_DELAY_MS_MAX)
    const result = await runAndKill(WRITER, [dir, String(SEGMENT_SIZE_BYTES_TEST), mode], early ? delayMs + 20 : delayMs, { fromSpawn: early })
    try {
      last = await checkPrefix(dir, result.acknowledged, last)
    } catch (error) {
      throw new Error(`round ${round} (seed ${seed}, delay ${delayMs} ms, early ${early}, acknowledged ${result.acknowledged}): ${String(error)}`, { cause: error })
    }
    acknowledgedTotal = Math.max(acknowledgedTotal, result.acknowledged)
  }
  console.log(`crash test (${mode}): ${rounds} rounds, store ends at transaction ${last}, highest acknowledged ${acknowledgedTotal}`)
  // The rounds made progress: the child wrote and acknowledged commits.
  expect(acknowledgedTotal).toBeGreaterThan(0)
  expect(last).toBeGreaterThanOrEqual(acknowledgedTotal)
}
