// Flipped bits in committed, synced data: a store is filled (every commit checkpointed, so
// every commit is known durable), closed, and each round flips one random bit of a copy of it
// (in the log below its end, or in CHECKPOINT). Expected, for every round:
//   - open fails with ECORRUPT naming the damaged page, or succeeds at the last commit;
//   - every read returns the committed value or throws ECORRUPT naming the damaged page
//     (the page or blob that holds the flipped bit), never another value;
//   - verify() reports the same damaged page exactly when some read failed.
// A bit in a dead page (an old version), in a blob's padding or in an old commit record is
// harmless: everything reads and verifies.
import { cpSync, readdirSync, statSync } from 'node:fs'
import { closeSync, openSync, readSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Store, VedError } from '../lib/index.js'
import { prng, SEGMENT_SIZE_BYTES_TEST, tempDirs } from './helpers.js'

const tempDir = tempDirs()
const ROUNDS = Number(process.env['VED_BITFLIP_ROUNDS'] ?? 150)
const TREES = ['', 'a', 'b'] as const
// No background cleaning: the flipped page must stay where the test put it.
const OPTIONS = { segmentSizeBytes: SEGMENT_SIZE_BYTES_TEST, checkpointIntervalCommits: 1, maxSpaceAmplification: 0 }
/** The largest value written: a blob spans at most this many bytes from its start. */
const BLOB_SIZE_BYTES_MAX = 64 * 1024

type Model = Map<string, Map<string, string>>

async function buildBase(seed: number): Promise<{ dir: string; model: Model; logEndOffset: number }> {
  const random = prng(seed)
  const dir = tempDir()
  const model: Model = new Map(TREES.map((t) => [t, new Map()]))
  await using store = await Store.open(dir, OPTIONS)
  for (let commit = 0; commit < 60; commit++) {
    await store.transaction((txn) => {
      for (let i = 0; i < 12; i++) {
        const tree = TREES[Math.floor(random() * TREES.length)]!
        const key = `k${Math.floor(random() * 400)}`
        const target = tree === '' ? txn : txn.tree(tree)
        if (random() < 0.15) {
          target.del(key)
          model.get(tree)!.delete(key)
        } else {
          const length = random() < 0.1 ? 1300 + Math.floor(random() * 40_000) : Math.floor(random() * 300)
          const value = `${commit}.${i}:${'x'.repeat(length)}`
          target.put(key, value)
          model.get(tree)!.set(key, value)
        }
      }
    })
  }
  return { dir, model, logEndOffset: store.stats().logEndOffset }
}

function flipBit(path: string, offset: number, bit: number): void {
  const fd = openSync(path, 'r+')
  try {
    const byte = Buffer.alloc(1)
    readSync(fd, byte, 0, 1, offset)
    byte[0] = byte[0]! ^ (1 << bit)
    writeSync(fd, byte, 0, 1, offset)
  } finally {
    closeSync(fd)
  }
}

/** An ECORRUPT whose segment and offset name a page or blob holding the log byte `flipped`. */
function expectNamesFlip(error: unknown, flipped: number | null): void {
  expect(error).toBeInstanceOf(VedError)
  expect((error as VedError).code).toBe('ECORRUPT')
  const { segment, offset } = error as VedError
  expect(typeof segment).toBe('number')
  expect(typeof offset).toBe('number')
  if (flipped === null) return // CHECKPOINT damage cannot make a read fail (asserted by the caller)
  const at = segment! * SEGMENT_SIZE_BYTES_TEST + offset!
  expect(at).toBeLessThanOrEqual(flipped)
  expect(flipped - at).toBeLessThan(BLOB_SIZE_BYTES_MAX)
}

describe('flipped bits in committed, synced pages', () => {
  it(`${ROUNDS} rounds: ECORRUPT with segment and offset, or the committed value; never another value`, async () => {
    const seed = Number(process.env['VED_BITFLIP_SEED'] ?? Date.now() % 2 ** 31)
    console.log(`bitflip seed ${seed}`)
    const random = prng(seed)
    const base = await buildBase(seed)
    const segments = readdirSync(base.dir).filter((name) => name.endsWith('.seg')).sort()
    const outcomes = { openCorrupt: 0, readCorrupt: 0, harmless: 0, checkpoint: 0 }
    for (let round = 0; round < ROUNDS; round++) {
      const dir = tempDir()
      cpSync(base.dir, dir, { recursive: true })
      let flipped: number | null = null
      const inCheckpoint = random() < 0.08
      let where: string
      if (inCheckpoint) {
        const offset = Math.floor(random() * 2) * 4096 + Math.floor(random() * 64)
        flipBit(join(dir, 'CHECKPOINT'), offset, Math.floor(random() * 8))
        where = `CHECKPOINT byte ${offset}`
        outcomes.checkpoint++
      } else {
        flipped = Math.floor(random() * base.logEndOffset)
        const index = Math.floor(flipped / SEGMENT_SIZE_BYTES_TEST)
        const name = segments[index]!
        expect(statSync(join(dir, name)).size).toBeGreaterThan(flipped % SEGMENT_SIZE_BYTES_TEST)
        flipBit(join(dir, name), flipped % SEGMENT_SIZE_BYTES_TEST, Math.floor(random() * 8))
        where = `log offset ${flipped}`
      }
      try {
        await checkRound(dir, base.model, flipped, outcomes)
      } catch (error) {
        throw new Error(`round ${round} (seed ${seed}, ${where}): ${String(error)}`, { cause: error })
      }
    }
    console.log(`bitflip: ${ROUNDS} rounds, ${JSON.stringify(outcomes)}`)
    // Both detection paths ran, and most flips land in dead or harmless bytes.
    expect(outcomes.readCorrupt).toBeGreaterThan(0)
    expect(outcomes.harmless).toBeGreaterThan(0)
  })
})

async function checkRound(dir: string, model: Model, flipped: number | null, outcomes: Record<string, number>): Promise<void> {
  let store: Store
  try {
    store = await Store.open(dir, OPTIONS)
  } catch (error) {
    expect(flipped).not.toBeNull() // a damaged CHECKPOINT slot falls back to the other or to the log
    expectNamesFlip(error, flipped)
    outcomes['openCorrupt']!++
    return
  }
  try {
    let failed: VedError | null = null
    for (const tree of TREES) {
      const view = tree === '' ? store : store.tree(tree)
      for (const [key, value] of model.get(tree)!) {
        try {
          expect(view.get(key)).toBe(value)
        } catch (error) {
          if (!(error instanceof VedError)) throw error
          expectNamesFlip(error, flipped)
          failed ??= error
        }
      }
      // Nothing extra: a scan sees exactly the model's keys (or stops at the damage).
      try {
        expect(view.getRange().toArray().map(({ key }) => key)).toEqual([...model.get(tree)!.keys()].sort())
      } catch (error) {
        if (!(error instanceof VedError)) throw error
        expectNamesFlip(error, flipped)
        failed ??= error
      }
    }
    const report = await store.verify()
    if (failed === null) {
      expect(report.errors).toEqual([])
      outcomes['harmless']!++
    } else {
      expect(report.ok).toBe(false)
      expect(report.errors.map(({ segment, offset }) => ({ segment, offset }))).toContainEqual({ segment: failed.segment, offset: failed.offset })
      outcomes['readCorrupt']!++
    }
  } finally {
    await store.close()
  }
}
