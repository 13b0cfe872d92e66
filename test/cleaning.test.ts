// Space reclamation (issue 5): the cleaner keeps the log bounded under endless overwrites,
// compact() gives space back on demand, snapshots keep reading what they pinned, readers
// follow a writer whose old segments are gone, and SIGKILL during cleaning loses nothing.
import { execFile } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { Store } from '../lib/index.js'
import { BATCHES, expectedAfter, key, KEYS } from './fixtures/cleaning-model.mjs'
import { cleanerSettled, expectVedError, expectVedErrorSync, FAULT_ADDON, FIXTURES, prng, runAndKill, tempDirs } from './helpers.js'

const tempDir = tempDirs()
const MIB = 1024 * 1024

/** Waits until the background cleaner has caught up; fails the test after 20 s. */
async function settled(store: Store): Promise<void> {
  if (!(await cleanerSettled(store))) throw new Error(`the cleaner did not settle: ${JSON.stringify(store.stats().cleaner)}`)
}

describe('background cleaning', () => {
  it('keeps file bytes under 2x live bytes plus one segment through 50 rounds of overwrites of 100K keys', async () => {
    const segmentSizeBytes = 4 * MIB
    await using store = await Store.open(tempDir(), { segmentSizeBytes, maxSpaceAmplification: 2 })
    const KEY_COUNT = 100_000
    const BATCH = 2_000
    const model = new Map<string, number>()
    let worstAtFlush = 0
    for (let round = 0; round < 50; round++) {
      for (let start = 0; start < KEY_COUNT; start += BATCH) {
        void store.transaction((txn) => {
          for (let i = start; i < start + BATCH; i++) {
            const k = `key${i}`
            // Deletes and re-inserts move through the key space from round to round.
            if ((i + round) % 11 === 0) {
              txn.del(k)
              model.delete(k)
            } else {
              txn.put(k, round * KEY_COUNT + i)
              model.set(k, round * KEY_COUNT + i)
            }
          }
        })
      }
      await store.flushed
      const atFlush = store.stats()
      worstAtFlush = Math.max(worstAtFlush, atFlush.fileBytes / (2 * atFlush.liveBytes + segmentSizeBytes))
      await settled(store)
      const s = store.stats()
      expect(s.fileBytes, `round ${round}: ${JSON.stringify({ ...s, recovery: undefined })}`).toBeLessThanOrEqual(2 * s.liveBytes + segmentSizeBytes)
      // Every segment deleted was proven free by a walk that agreed with the record.
      expect(s.cleaner.walkedSeq).toBeGreaterThan(0)
    }
    const s = store.stats()
    console.log(`cleaning: ${s.cleaner.segmentsDeleted} segments deleted, ${s.cleaner.relocatedKeys} keys relocated, log end ${s.logEndOffset} bytes, file ${s.fileBytes} bytes for ${s.liveBytes} live; worst file/bound right after a round ${worstAtFlush.toFixed(2)}`)
    expect(s.cleaner.segmentsDeleted).toBeGreaterThan(0)
    // Nothing lost or resurrected by relocation.
    let count = 0
    for (const { key: k, value } of store.getRange()) {
      expect(value).toBe(model.get(k as string))
      count++
    }
    expect(count).toBe(model.size)
  }, 240_000)

  it('holds file bytes near the target while an application always has a one-key put in flight', async () => {
    // No idle moment for background steps: each commit must carry the cleaning. Without the
    // floor of relocations past the target (native/store.cc), this settled at 4-6x live bytes.
    const segmentSizeBytes = 1 * MIB
    await using store = await Store.open<Buffer>(tempDir(), { segmentSizeBytes, sync: false, encoding: 'binary' })
    const KEY_COUNT = 20_000
    const value = Buffer.alloc(300, 7)
    for (let start = 0; start < KEY_COUNT; start += 500) {
      await store.transaction((txn) => {
        for (let i = start; i < start + 500; i++) txn.put(key(i), value)
      })
    }
    const random = prng(20_251_204)
    const inFlight: Promise<number>[] = []
    const ratios: number[] = []
    for (let n = 1; n <= 60_000; n++) {
      inFlight.push(store.put(key(Math.floor(random() * KEY_COUNT)), value))
      if (inFlight.length >= 64) await inFlight.shift()
      if (n % 5_000 === 0) {
        const s = store.stats()
        ratios.push(s.fileBytes / (2 * s.liveBytes + segmentSizeBytes))
      }
    }
    await Promise.all(inFlight)
    const sorted = [...ratios].sort((a, b) => a - b)
    const median = sorted[Math.floor(sorted.length / 2)]!
    console.log(`pipelined one-key puts: file / (2x live + 1 segment) while writing, median ${median.toFixed(2)}, worst ${sorted[sorted.length - 1]!.toFixed(2)}`)
    // The cleaner starts at 0.9 of the target and lags the writes by a pass, more so on a busy
    // machine: above 1 for a while is expected. The old pace sat at 2.2-2.5 here throughout.
    expect(median).toBeLessThan(1.8)
  }, 120_000)

  it('relocates blobs and paths, and a reopened store holds exactly what was written', async () => {
    const dir = tempDir()
    const model = new Map<string, unknown>()
    {
      // Background cleaning off: compact() does all of the moving, so it can be counted.
      await using store = await Store.open(dir, { segmentSizeBytes: 256 * 1024, maxSpaceAmplification: 0 })
      for (let round = 0; round < 12; round++) {
        await store.transaction((txn) => {
          for (let i = 0; i < 1500; i++) {
            // Every 10th value is a blob written once, among data that dies: cleaning must move it.
            if (i % 10 === 0 && round !== 0) continue
            const value = i % 10 === 0 ? { round, blob: 'z'.repeat(3000 + i) } : { round, i }
            txn.put(`k${i}`, value)
            model.set(`k${i}`, value)
          }
        })
      }
      const result = await store.compact()
      expect(result.relocatedKeys).toBeGreaterThan(0)
      expect(result.segmentsDeleted).toBeGreaterThan(0)
      for (const [k, v] of model) expect(store.get(k)).toEqual(v)
    }
    await using reopened = await Store.open(dir, { segmentSizeBytes: 256 * 1024 })
    for (const [k, v] of model) expect(reopened.get(k)).toEqual(v)
    expect([...reopened.getRange()].length).toBe(model.size)
  })

  it('moves a blob unread: reads before the flusher copies it in find it where it was, and damage since the check is caught', async () => {
    // The flusher waits 20 ms before each batch (the fault build's flushDelayMs), so reads made
    // while compact() runs see relocated blobs whose bytes are not copied in yet.
    const { stdout } = await promisify(execFile)(process.execPath, [join(FIXTURES, 'moved-blobs-child.mjs'), tempDir()], {
      env: { ...process.env, VED_ADDON_PATH: FAULT_ADDON },
      timeout: 60_000,
    })
    const report = JSON.parse(stdout.trim()) as {
      faultBuild: boolean
      pendingReads: number
      mismatches: unknown[]
      relocatedKeys: number
      reopenedMismatches: unknown[]
      damage: { flipped: number; compact: { relocatedKeys?: number; error?: string }; doomed: unknown; after: unknown; reopenedDoomed: unknown; reopenedAfter: unknown }
    }
    expect(report.faultBuild).toBe(true)
    expect(report.relocatedKeys).toBeGreaterThan(0)
    expect(report.pendingReads).toBeGreaterThan(0)
    expect(report.mismatches).toEqual([])
    expect(report.reopenedMismatches).toEqual([])
    // Damaged after the cleaner checked it, before the flusher copied it: the flusher's own
    // check rejects the frame, so the value stays ECORRUPT (without it, it read back as a
    // valid 5,000-character string with one character changed).
    const { damage } = report
    expect(damage.flipped).toBe(1)
    expect(damage.compact.error === undefined || damage.compact.error === 'ECORRUPT').toBe(true)
    expect(damage).toMatchObject({ doomed: 'ECORRUPT', after: 'damage', reopenedDoomed: 'ECORRUPT', reopenedAfter: 'damage' })
  })

  it('cleaning leaves a damaged blob where it is: still ECORRUPT, never other bytes', async () => {
    const dir = tempDir()
    const damaged = 'D'.repeat(6000)
    {
      await using store = await Store.open(dir, { segmentSizeBytes: 256 * 1024, maxSpaceAmplification: 0 })
      await store.put('damaged', damaged)
      await store.put('intact', 'I'.repeat(6000))
      for (let round = 0; round < 8; round++) {
        await store.transaction((txn) => {
          for (let i = 0; i < 1000; i++) txn.put(`g${i}`, { round, i })
        })
      }
    }
    // One byte in the middle of the blob's value, on disk, under its checksum.
    let flipped = 0
    for (const name of readdirSync(dir).filter((file) => file.endsWith('.seg'))) {
      const bytes = readFileSync(join(dir, name))
      const at = bytes.indexOf(Buffer.from('D'.repeat(64)))
      if (at < 0) continue
      bytes[at + 1000] = bytes[at + 1000]! ^ 0x01
      writeFileSync(join(dir, name), bytes)
      flipped++
    }
    expect(flipped).toBe(1)
    {
      await using store = await Store.open(dir, { segmentSizeBytes: 256 * 1024, maxSpaceAmplification: 0 })
      expectVedErrorSync(() => store.get('damaged'), 'ECORRUPT')
      const result = await store.compact()
      expect(result.relocatedKeys).toBeGreaterThan(0)
      expect(result.segmentsDeleted).toBeGreaterThan(0)
      expectVedErrorSync(() => store.get('damaged'), 'ECORRUPT')
      expect(store.get('intact')).toBe('I'.repeat(6000))
    }
    await using reopened = await Store.open(dir, { segmentSizeBytes: 256 * 1024 })
    expectVedErrorSync(() => reopened.get('damaged'), 'ECORRUPT')
    expect(reopened.get('intact')).toBe('I'.repeat(6000))
    // Not moved (a copy would carry a valid checksum): its segment is the one kept.
    const holding = readdirSync(dir).filter((file) => file.endsWith('.seg') && readFileSync(join(dir, file)).includes(Buffer.from('D'.repeat(64))))
    expect(holding.length).toBe(1)
  })

  it('a damaged blob keeps only itself: the leaf above it still moves', async () => {
    const dir = tempDir()
    const options = { segmentSizeBytes: 256 * 1024, maxSpaceAmplification: 0 }
    const garbage = async (store: Store, rounds: number): Promise<void> => {
      for (let round = 0; round < rounds; round++) {
        await store.transaction((txn) => {
          for (let i = 0; i < 1000; i++) txn.put(`g${i}`, { round, i, pad: 'x'.repeat(40) })
        })
      }
    }
    {
      await using store = await Store.open(dir, options)
      // `a0`, a blob, is the first key of its leaf; rewriting `a1` later moves that leaf to a
      // later segment while the blob stays in the first.
      await store.transaction((txn) => {
        const tree = txn.tree('A')
        tree.put('a0', 'B'.repeat(6000))
        for (let i = 1; i < 40; i++) tree.put(`a${i}`, `small ${i}`)
      })
      await garbage(store, 6)
      await store.tree('A').put('a1', 'LEAFMARK')
      // Past the leaf's segment: the head's segment is never a victim.
      await garbage(store, 12)
    }
    // A segment the cleaner deletes meanwhile holds nothing.
    const holds = (file: string, needle: string): boolean => {
      try {
        return readFileSync(join(dir, file)).includes(Buffer.from(needle))
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
        throw error
      }
    }
    const holding = (needle: string): string[] => readdirSync(dir).filter((file) => file.endsWith('.seg') && holds(file, needle))
    const [blobSegment] = holding('B'.repeat(64))
    const bytes = readFileSync(join(dir, blobSegment!))
    const at = bytes.indexOf(Buffer.from('B'.repeat(64)))
    bytes[at + 1000] = bytes[at + 1000]! ^ 0x01
    writeFileSync(join(dir, blobSegment!), bytes)
    const leafSegments = holding('LEAFMARK')
    expect(leafSegments).toHaveLength(1)
    expect(leafSegments).not.toContain(blobSegment)
    await using store = await Store.open(dir, options)
    expect(Number.parseInt(leafSegments[0]!, 16)).toBeLessThan(Math.floor(store.stats().logEndOffset / (256 * 1024)))
    const result = await store.compact()
    // The leaf moved and its segment goes (before, the touch for it moved nothing, so the
    // segment stayed and every pass touched it again); the blob did not move. The cleaner's
    // thread unlinks a freed segment after compact() returns.
    const goneBy = Date.now() + 10_000
    while (existsSync(join(dir, leafSegments[0]!)) && Date.now() < goneBy) await new Promise((resolve) => setTimeout(resolve, 20))
    expect(existsSync(join(dir, leafSegments[0]!)), JSON.stringify(result)).toBe(false)
    expect(holding('B'.repeat(64))).toEqual([blobSegment])
    expectVedErrorSync(() => store.tree('A').get('a0'), 'ECORRUPT')
    expect(store.tree('A').get('a1')).toBe('LEAFMARK')
    expect(store.tree('A').get('a39')).toBe('small 39')
  })

  it('maxSpaceAmplification: 0 turns background cleaning off; compact() still cleans', async () => {
    await using store = await Store.open(tempDir(), { segmentSizeBytes: 256 * 1024, maxSpaceAmplification: 0 })
    for (let round = 0; round < 20; round++) {
      await store.transaction((txn) => {
        for (let i = 0; i < 500; i++) txn.put(`k${i}`, { round, i })
      })
    }
    const before = store.stats()
    expect(before.cleaner.segmentsDeleted).toBe(0)
    expect(before.fileBytes).toBeGreaterThan(4 * before.liveBytes)
    const result = await store.compact()
    expect(result.fileBytesBefore).toBe(before.fileBytes)
    expect(result.segmentsDeleted).toBeGreaterThan(0)
    expect(result.reclaimedBytes).toBeGreaterThan(0)
    expect(result.fileBytesAfter).toBeLessThan(before.fileBytes)
    expect(store.stats().fileBytes).toBe(result.fileBytesAfter)
  })

  it('rejects a bad maxSpaceAmplification with EINVAL', async () => {
    for (const bad of [1, 0.5, -1, 1001, Number.NaN, '2']) {
      await expectVedError(Store.open(tempDir(), { maxSpaceAmplification: bad as number }), 'EINVAL')
    }
  })

  it('compact() on a read-only store is EREADONLY', async () => {
    const dir = tempDir()
    await using writer = await Store.open(dir)
    await writer.put('a', 1)
    await using reader = await Store.open(dir, { readOnly: true })
    await expectVedError(reader.compact(), 'EREADONLY')
  })
})

describe('the segment ring', () => {
  const SEGMENT = 256 * 1024

  it('an old, nearly full segment of cold data does not wedge the window: commits go on', async () => {
    // 16 segments of window; cold data fills most of the first one and is never rewritten.
    await using store = await Store.open(tempDir(), { segmentSizeBytes: SEGMENT, maxStoreSizeBytes: 16 * SEGMENT })
    await store.transaction((txn) => {
      for (let i = 0; i < 55; i++) txn.put(`cold${i}`, 'c'.repeat(4000))
    })
    // Each put writes about two pages: 3000 of them cross the 16-segment window several times.
    for (let n = 0; n < 3000; n++) {
      await store.put('hot', `${'h'.repeat(200)}${n}`)
      if (n % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 5))
    }
    expect(store.stats().logEndOffset).toBeGreaterThan(3 * 16 * SEGMENT)
    for (let i = 0; i < 55; i++) expect(store.get(`cold${i}`)).toBe('c'.repeat(4000))
    expect(store.get('hot')).toBe(`${'h'.repeat(200)}2999`)
  })

  it('a store full of garbage rejects commits with ESTORESIZE, then compact() frees it at once', async () => {
    await using store = await Store.open(tempDir(), { segmentSizeBytes: SEGMENT, maxStoreSizeBytes: 8 * SEGMENT, maxSpaceAmplification: 0 })
    let puts = 0
    let error: unknown = null
    while (error === null && puts < 10_000) {
      try {
        await store.put('k', `${'v'.repeat(3000)}${puts}`)
        puts++
      } catch (e) {
        error = e
      }
    }
    expect((error as { code?: string }).code).toBe('ESTORESIZE')
    // The segments kept in reserve let the cleaner move data even now.
    const result = await store.compact()
    expect(result.segmentsDeleted).toBeGreaterThan(3)
    await store.put('k', 'after')
    expect(store.get('k')).toBe('after')
  })
})

describe('compact()', () => {
  it('returns disk use to about one segment after everything is deleted', async () => {
    const segmentSizeBytes = 256 * 1024
    await using store = await Store.open(tempDir(), { segmentSizeBytes })
    for (let round = 0; round < 5; round++) {
      await store.transaction((txn) => {
        for (let i = 0; i < 2000; i++) txn.put(`k${i}`, { round, i, pad: 'p'.repeat(100) })
      })
    }
    expect(store.stats().fileBytes).toBeGreaterThan(4 * segmentSizeBytes)
    await store.transaction((txn) => {
      for (let i = 0; i < 2000; i++) txn.del(`k${i}`)
    })
    await store.compact()
    const s = store.stats()
    expect(s.liveBytes).toBe(4096)
    expect(s.segments).toBe(1)
    expect(s.fileBytes).toBeLessThanOrEqual(segmentSizeBytes)
  })

  it('keeps the segments an open snapshot reads, and frees them once it closes', async () => {
    const segmentSizeBytes = 256 * 1024
    await using store = await Store.open(tempDir(), { segmentSizeBytes })
    await store.transaction((txn) => {
      for (let i = 0; i < 1000; i++) txn.put(`k${i}`, { v: 'old', i, pad: 'o'.repeat(200) })
    })
    const snapshot = store.snapshot()
    for (let round = 0; round < 6; round++) {
      await store.transaction((txn) => {
        for (let i = 0; i < 1000; i++) txn.put(`k${i}`, { v: 'new', round, i })
      })
    }
    const during = await store.compact()
    expect(during.segmentsWaiting).toBeGreaterThan(0)
    // The snapshot reads its own version, every value, across the cleaning.
    for (let i = 0; i < 1000; i++) expect(snapshot.get(`k${i}`)).toEqual({ v: 'old', i, pad: 'o'.repeat(200) })
    expect([...snapshot.getRange()].length).toBe(1000)
    const held = store.stats().fileBytes
    snapshot.close()
    const after = await store.compact()
    expect(after.segmentsWaiting).toBe(0)
    expect(after.segmentsDeleted).toBeGreaterThan(0)
    expect(store.stats().fileBytes).toBeLessThan(held)
    for (let i = 0; i < 1000; i++) expect(store.get(`k${i}`)).toEqual({ v: 'new', round: 5, i })
  })

  it('a read-only store follows a writer whose old segments were deleted under it', async () => {
    const dir = tempDir()
    const segmentSizeBytes = 256 * 1024
    await using writer = await Store.open(dir, { segmentSizeBytes, maxSpaceAmplification: 0 })
    await writer.put('gen', 0)
    await using reader = await Store.open(dir, { readOnly: true, segmentSizeBytes })
    expect(reader.get('gen')).toBe(0)
    for (let gen = 1; gen <= 8; gen++) {
      await writer.transaction((txn) => {
        txn.put('gen', gen)
        for (let i = 0; i < 800; i++) txn.put(`k${i}`, { gen, i })
      })
    }
    const result = await writer.compact()
    expect(result.segmentsDeleted).toBeGreaterThan(0)
    expect(reader.get('gen')).toBe(8)
    for (let i = 0; i < 800; i += 37) expect(reader.get(`k${i}`)).toEqual({ gen: 8, i })
  })
})

describe('cleaning and the rest of the store', () => {
  const SEGMENT = 256 * 1024

  it('a read-only store lets go of the segments the writer deleted', async () => {
    const dir = tempDir()
    await using writer = await Store.open(dir, { segmentSizeBytes: SEGMENT, maxSpaceAmplification: 0 })
    await writer.put('gen', 0)
    await using reader = await Store.open(dir, { readOnly: true, segmentSizeBytes: SEGMENT })
    for (let gen = 1; gen <= 20; gen++) {
      await writer.transaction((txn) => {
        txn.put('gen', gen)
        for (let i = 0; i < 800; i++) txn.put(`k${i}`, { gen, i, pad: 'p'.repeat(300) })
      })
      if (gen % 5 === 0) await writer.compact()
      expect(reader.get('gen')).toBe(gen)
    }
    // The reader looks for deleted segments at most every 100 ms, when it moves forward.
    await new Promise((resolve) => setTimeout(resolve, 150))
    await writer.put('gen', 21)
    expect(reader.get('gen')).toBe(21)
    const deleted = writer.stats().cleaner.segmentsDeleted
    expect(deleted).toBeGreaterThan(10)
    // Without letting go, the reader would still map every segment ever written.
    expect(reader.stats().segments).toBeLessThanOrEqual(writer.stats().segments + 2)
    for (let i = 0; i < 800; i += 97) expect(reader.get(`k${i}`)).toEqual({ gen: 20, i, pad: 'p'.repeat(300) })
  })

  it('opens from the oldest segment left when both CHECKPOINT slots are damaged', async () => {
    const dir = tempDir()
    {
      await using store = await Store.open(dir, { segmentSizeBytes: SEGMENT, maxSpaceAmplification: 0 })
      for (let gen = 0; gen < 8; gen++) {
        await store.transaction((txn) => {
          for (let i = 0; i < 800; i++) txn.put(`k${i}`, { gen, i })
        })
      }
      await store.compact()
      await store.put('last', 'yes')
    }
    expect(existsSync(join(dir, '0000000000000000.seg'))).toBe(false)
    const checkpoint = readFileSync(join(dir, 'CHECKPOINT'))
    // A byte of each slot's seq: both slot checksums fail.
    for (const at of [8, 4096 + 8]) checkpoint.writeUInt8(checkpoint.readUInt8(at) ^ 0xff, at)
    writeFileSync(join(dir, 'CHECKPOINT'), checkpoint)
    await using reopened = await Store.open(dir, { segmentSizeBytes: SEGMENT })
    expect(reopened.stats().recovery.startedFromCheckpoint).toBe(false)
    expect(reopened.get('last')).toBe('yes')
    for (let i = 0; i < 800; i += 37) expect(reopened.get(`k${i}`)).toEqual({ gen: 7, i })
  })
})

describe('crash safety of cleaning', () => {
  const ROUNDS = 30
  const SEGMENT_SIZE_BYTES = 256 * 1024

  it(`SIGKILL while the cleaner relocates and deletes loses nothing (${ROUNDS} rounds)`, async () => {
    const seed = Number(process.env['VED_CRASH_SEED'] ?? Date.now() % 2 ** 31)
    console.log(`cleaning crash test seed ${seed}`)
    const random = prng(seed)
    const dir = tempDir()
    let last = 0
    for (let round = 0; round < ROUNDS; round++) {
      const delayMs = 50 + Math.floor(random() * 250)
      const { acknowledged } = await runAndKill(join(FIXTURES, 'cleaning-writer.mjs'), [dir, String(SEGMENT_SIZE_BYTES)], delayMs)
      await using store = await Store.open(dir, { segmentSizeBytes: SEGMENT_SIZE_BYTES, maxSpaceAmplification: 0 })
      const now = (store.get('last') as number | undefined) ?? 0
      const context = `round ${round} (seed ${seed}, delay ${delayMs} ms, acknowledged ${acknowledged}, last ${now})`
      expect(now, context).toBeGreaterThanOrEqual(acknowledged)
      expect(now, context).toBeGreaterThanOrEqual(last)
      // Exactly the state after transactions 1..now: nothing half-applied, nothing lost.
      for (let i = 0; i < KEYS; i++) expect(store.get(key(i)), `${context}, key ${i}`).toEqual(expectedAfter(now, i))
      last = now
    }
    console.log(`cleaning crash test: ${ROUNDS} rounds, ${last} transactions (${Math.floor(last / BATCHES)} rounds of the workload)`)
    // The workload ran long enough that cleaning had work: many rounds of full overwrites,
    // and the first segments are long gone.
    expect(last).toBeGreaterThan(3 * BATCHES)
    const segments = readdirSync(dir).filter((name) => name.endsWith('.seg')).map((name) => parseInt(name, 16))
    expect(Math.min(...segments)).toBeGreaterThan(0)
  }, 240_000)
})
