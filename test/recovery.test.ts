// Recovery on open: after a clean close everything is there; after a torn or damaged tail the
// store opens at the last valid commit, reports what it dropped, and goes on writing.
import { spawnSync } from 'node:child_process'
import { openSync, closeSync, existsSync, ftruncateSync, readSync, unlinkSync, writeSync, fstatSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { Store } from '../lib/index.js'
import { expectVedError, SEGMENT_SIZE_BYTES_TEST, tempDirs } from './helpers.js'

const tempDir = tempDirs()
const COMMITS_BEFORE = 50

function segmentPath(dir: string, segmentIndex: number): string {
  return join(dir, `${segmentIndex.toString(16).padStart(16, '0')}.seg`)
}

interface LastCommit {
  dir: string
  /** Log offsets: the last commit's frame lies in [frameStart, frameEnd). */
  frameStart: number
  frameEnd: number
  segmentIndex: number
}

/**
 * Erases the CHECKPOINT slots that name commit `seq` or a later one: the state of a store
 * whose writer died after writing that commit and before its fdatasync and checkpoint. (A
 * checkpoint names only durable commits, so damage to a checkpointed commit is not a torn
 * tail but corruption: see 'a checkpointed commit' below.)
 */
function forgetCheckpointsFrom(dir: string, seq: number): void {
  const fd = openSync(join(dir, 'CHECKPOINT'), 'r+')
  try {
    for (const slotOffset of [0, 4096]) {
      const slot = Buffer.alloc(64)
      if (readSync(fd, slot, 0, 64, slotOffset) < 64) continue
      if (slot.readBigUInt64LE(8) >= BigInt(seq)) writeSync(fd, Buffer.alloc(64), 0, 64, slotOffset)
    }
  } finally {
    closeSync(fd)
  }
}

/**
 * Writes COMMITS_BEFORE commits, then one last commit whose log extent it records, and closes.
 * Unless `checkpointed`, the checkpoints naming the last commit are erased (see above).
 * Returns where the last commit's frame lies.
 */
async function writeWithKnownLastCommit(checkpointIntervalCommits: number, checkpointed = false): Promise<LastCommit> {
  const dir = tempDir()
  const store = await Store.open(dir, { segmentSizeBytes: SEGMENT_SIZE_BYTES_TEST, checkpointIntervalCommits })
  for (let i = 0; i < COMMITS_BEFORE; i++) await store.put(`k${i}`, { i, pad: 'p'.repeat(200) })
  const before = store.stats().logEndOffset
  const lastSeq = await store.transaction((txn) => {
    txn.put(`k${COMMITS_BEFORE}`, { i: COMMITS_BEFORE, big: 'b'.repeat(20_000) })
    txn.put('last', COMMITS_BEFORE)
    txn.put('k0', 'overwritten by the last commit')
  })
  const after = store.stats().logEndOffset
  await store.close()
  if (!checkpointed) forgetCheckpointsFrom(dir, lastSeq)
  expect(after).toBeGreaterThan(before)
  // A frame never crosses a segment boundary (it starts at the next one when it does not fit).
  const segmentIndex = Math.floor((after - 1) / SEGMENT_SIZE_BYTES_TEST)
  const frameStart = Math.max(before, segmentIndex * SEGMENT_SIZE_BYTES_TEST)
  expect(after - frameStart).toBeGreaterThanOrEqual(2 * 4096)
  return { dir, frameStart, frameEnd: after, segmentIndex }
}

async function expectRecoveredBeforeLast(dir: string): Promise<void> {
  const store = await Store.open(dir, { segmentSizeBytes: SEGMENT_SIZE_BYTES_TEST })
  try {
    expect(store.get('last')).toBeUndefined()
    expect(store.get(`k${COMMITS_BEFORE}`)).toBeUndefined()
    expect(store.get('k0')).toEqual({ i: 0, pad: 'p'.repeat(200) })
    for (let i = 0; i < COMMITS_BEFORE; i++) expect((store.get(`k${i}`) as { i: number }).i).toBe(i)
    const { recovery, seq } = store.stats()
    expect(recovery.recoveredSeq).toBe(seq)
    expect(recovery.droppedBytes > 0 || recovery.tailReason !== '').toBe(true)
    // Writing goes on after the damaged tail, and survives another reopen.
    await store.put('after', 'recovery')
    await store.put(`k${COMMITS_BEFORE}`, 'rewritten')
  } finally {
    await store.close()
  }
  await using reopened = await Store.open(dir, { segmentSizeBytes: SEGMENT_SIZE_BYTES_TEST })
  expect(reopened.get('after')).toBe('recovery')
  expect(reopened.get(`k${COMMITS_BEFORE}`)).toBe('rewritten')
  expect(reopened.get('last')).toBeUndefined()
  expect((reopened.get(`k${COMMITS_BEFORE - 1}`) as { i: number }).i).toBe(COMMITS_BEFORE - 1)
}

function truncateSegment(path: string, sizeBytes: number): void {
  const fd = openSync(path, 'r+')
  try {
    expect(fstatSync(fd).size).toBeGreaterThan(sizeBytes)
    ftruncateSync(fd, sizeBytes)
  } finally {
    closeSync(fd)
  }
}

function flipBytes(path: string, offset: number, count: number): void {
  const fd = openSync(path, 'r+')
  try {
    const bytes = Buffer.alloc(count)
    readSync(fd, bytes, 0, count, offset)
    for (let i = 0; i < count; i++) bytes[i] = bytes[i]! ^ 0x5a
    writeSync(fd, bytes, 0, count, offset)
  } finally {
    closeSync(fd)
  }
}

describe('clean close', () => {
  it('reopens with every commit and no dropped bytes', async () => {
    const dir = tempDir()
    let seq = 0
    {
      await using store = await Store.open(dir, { segmentSizeBytes: SEGMENT_SIZE_BYTES_TEST })
      for (let i = 0; i < 300; i++) seq = await store.put(`k${i}`, 'v'.repeat(i * 10))
      await store.tree('t').put('x', 1)
      seq = store.stats().seq
    }
    for (let round = 0; round < 3; round++) {
      await using store = await Store.open(dir, { segmentSizeBytes: SEGMENT_SIZE_BYTES_TEST })
      const stats = store.stats()
      expect(stats.seq).toBe(seq)
      expect(stats.recovery.recoveredSeq).toBe(seq)
      expect(stats.recovery.droppedBytes).toBe(0)
      expect(stats.recovery.tailReason).toBe('')
      for (let i = 0; i < 300; i += 13) expect(store.get(`k${i}`)).toBe('v'.repeat(i * 10))
      expect(store.tree('t').get('x')).toBe(1)
      expect(stats.segments).toBeGreaterThan(1)
    }
  })
})

describe('torn tail', () => {
  it('a last segment truncated in the middle of the last commit', async () => {
    const last = await writeWithKnownLastCommit(1_000_000)
    const cut = Math.floor((last.frameStart + last.frameEnd) / 2)
    truncateSegment(segmentPath(last.dir, last.segmentIndex), cut - last.segmentIndex * SEGMENT_SIZE_BYTES_TEST)
    await expectRecoveredBeforeLast(last.dir)
  })

  it('a last segment truncated right after the commit record page', async () => {
    const last = await writeWithKnownLastCommit(1_000_000)
    truncateSegment(segmentPath(last.dir, last.segmentIndex), last.frameStart + 4096 - last.segmentIndex * SEGMENT_SIZE_BYTES_TEST)
    await expectRecoveredBeforeLast(last.dir)
  })

  it('flipped bits in the body of the last commit', async () => {
    const last = await writeWithKnownLastCommit(1_000_000)
    const offset = Math.floor((last.frameStart + last.frameEnd) / 2) - last.segmentIndex * SEGMENT_SIZE_BYTES_TEST
    flipBytes(segmentPath(last.dir, last.segmentIndex), offset, 3)
    await expectRecoveredBeforeLast(last.dir)
  })

  it('flipped bits in the commit record of the last commit', async () => {
    const last = await writeWithKnownLastCommit(1_000_000)
    flipBytes(segmentPath(last.dir, last.segmentIndex), last.frameStart + 64 - last.segmentIndex * SEGMENT_SIZE_BYTES_TEST, 1)
    await expectRecoveredBeforeLast(last.dir)
  })

  it('truncated and flipped, with only an older checkpoint', async () => {
    const last = await writeWithKnownLastCommit(1)
    const path = segmentPath(last.dir, last.segmentIndex)
    const segmentStart = last.segmentIndex * SEGMENT_SIZE_BYTES_TEST
    flipBytes(path, last.frameStart + 4096 + 100 - segmentStart, 8)
    truncateSegment(path, last.frameEnd - 4096 - segmentStart)
    await expectRecoveredBeforeLast(last.dir)
  })
})

describe('a checkpointed commit', () => {
  // A checkpoint names only a commit whose fdatasync succeeded. When its frame no longer
  // validates, durable data was damaged: opening at an older commit would silently lose
  // acknowledged commits, so open refuses with ECORRUPT where the frame failed.
  it('damaged body: ECORRUPT naming the damaged page, on writable and read-only opens', async () => {
    const last = await writeWithKnownLastCommit(1, true)
    const damaged = last.frameStart + 4096 + 100
    flipBytes(segmentPath(last.dir, last.segmentIndex), damaged - last.segmentIndex * SEGMENT_SIZE_BYTES_TEST, 8)
    for (const options of [{ segmentSizeBytes: SEGMENT_SIZE_BYTES_TEST }, { readOnly: true }]) {
      const error = await expectVedError(Store.open(last.dir, options), 'ECORRUPT')
      expect(error.message).toMatch(/was durable \(CHECKPOINT names it\)/)
      expect(error.segment).toBe(last.segmentIndex)
      expect(error.offset).toBe((damaged - (damaged % 4096)) % SEGMENT_SIZE_BYTES_TEST)
    }
  })

  it('truncated frame: ECORRUPT, never the older commit', async () => {
    const last = await writeWithKnownLastCommit(1_000_000, true)
    const cut = Math.floor((last.frameStart + last.frameEnd) / 2)
    truncateSegment(segmentPath(last.dir, last.segmentIndex), cut - last.segmentIndex * SEGMENT_SIZE_BYTES_TEST)
    const error = await expectVedError(Store.open(last.dir, { segmentSizeBytes: SEGMENT_SIZE_BYTES_TEST }), 'ECORRUPT')
    expect(error.segment).toBe(last.segmentIndex)
  })
})

describe('a commit that a later record names durable', () => {
  // With sync: true every record says which commit was durable when it was sealed. A frame
  // that does not validate, followed by a record saying it was durable, is damage to durable
  // data even with no checkpoint naming it (the window since the last checkpoint).
  it('damaged body, no checkpoint past it: ECORRUPT, never the older commit', async () => {
    const dir = tempDir()
    const store = await Store.open(dir, { segmentSizeBytes: SEGMENT_SIZE_BYTES_TEST, checkpointIntervalCommits: 1_000_000 })
    for (let i = 0; i < 10; i++) await store.put(`k${i}`, { i })
    const before = store.stats().logEndOffset
    await store.put('middle', { big: 'm'.repeat(20_000) })
    const after = store.stats().logEndOffset
    // Each of these was sealed after 'middle' was durable, and its record says so.
    for (let i = 10; i < 15; i++) await store.put(`k${i}`, { i })
    await store.close()
    forgetCheckpointsFrom(dir, 2)
    const segmentIndex = Math.floor((after - 1) / SEGMENT_SIZE_BYTES_TEST)
    const frameStart = Math.max(before, segmentIndex * SEGMENT_SIZE_BYTES_TEST)
    flipBytes(segmentPath(dir, segmentIndex), frameStart + 4096 + 100 - segmentIndex * SEGMENT_SIZE_BYTES_TEST, 8)
    const error = await expectVedError(Store.open(dir, { segmentSizeBytes: SEGMENT_SIZE_BYTES_TEST }), 'ECORRUPT')
    expect(error.message).toMatch(/was durable \(the record at segment \d+ offset \d+ says so\)/)
    expect(error.segment).toBe(Math.floor(before / SEGMENT_SIZE_BYTES_TEST))
  })

  it('the same damage in the last commit, which nothing names durable, is a torn tail', async () => {
    const last = await writeWithKnownLastCommit(1_000_000)
    const offset = last.frameStart + 4096 + 100 - last.segmentIndex * SEGMENT_SIZE_BYTES_TEST
    flipBytes(segmentPath(last.dir, last.segmentIndex), offset, 8)
    await expectRecoveredBeforeLast(last.dir)
  })
})

describe('no valid commit', () => {
  it('a store whose first commit record is damaged is ECORRUPT and names segment and offset', async () => {
    const dir = tempDir()
    const store = await Store.open(dir, { segmentSizeBytes: SEGMENT_SIZE_BYTES_TEST })
    await store.close()
    flipBytes(segmentPath(dir, 0), 100, 16)
    const error = await expectVedError(Store.open(dir, { segmentSizeBytes: SEGMENT_SIZE_BYTES_TEST }), 'ECORRUPT')
    expect(error.segment).toBe(0)
    expect(typeof error.offset).toBe('number')
    expect(error.message).toMatch(/segment|offset/)
    await expectVedError(Store.open(dir, { readOnly: true }), 'ECORRUPT')
  })
})

describe('the scan on open stays bounded', () => {
  const INTERVAL = 64
  const COMMITS_PER_LIFE = 40
  const fixture = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'kill-after-commits.mjs')

  /** One writer's life: open, COMMITS_PER_LIFE commits, SIGKILL. Returns the recovery report it opened with. */
  function killedWriter(dir: string): { scannedCommits: number; startedFromCheckpoint: boolean } {
    const child = spawnSync(process.execPath, [fixture, dir, String(SEGMENT_SIZE_BYTES_TEST), String(INTERVAL), String(COMMITS_PER_LIFE)], { encoding: 'utf8', timeout: 60_000 })
    expect(child.signal).toBe('SIGKILL')
    return JSON.parse(child.stdout.trim().split('\n')[0]!)
  }

  it('by the checkpoint interval, however many writers died before reaching it', async () => {
    // Each life is shorter than the interval: counted per process, no writer ever checkpointed
    // and each open scanned the commits of all the lives before it (8 x 40 here).
    const dir = tempDir()
    const scans: number[] = []
    for (let life = 0; life < 8; life++) scans.push(killedWriter(dir).scannedCommits)
    await using store = await Store.open(dir, { segmentSizeBytes: SEGMENT_SIZE_BYTES_TEST, checkpointIntervalCommits: INTERVAL, maxSpaceAmplification: 0 })
    scans.push(store.stats().recovery.scannedCommits)
    expect(store.get('n')).toBe(8 * COMMITS_PER_LIFE)
    for (let n = 1; n <= 8 * COMMITS_PER_LIFE; n++) expect(store.get(`k${n}`)).toBe(n)
    // A checkpoint is due once INTERVAL commits pass the newest one; the writer that passes it
    // may die one batch later (each commit here is its own batch).
    for (const scanned of scans) expect(scanned).toBeLessThanOrEqual(INTERVAL + 2)
  }, 120_000)

  it('after a long scan, by a checkpoint the open itself writes, even if that writer is then killed', async () => {
    const dir = tempDir()
    {
      await using store = await Store.open(dir, { segmentSizeBytes: SEGMENT_SIZE_BYTES_TEST, checkpointIntervalCommits: 1_000_000, maxSpaceAmplification: 0 })
      for (let n = 1; n <= 300; n++) {
        await store.transaction((txn) => {
          txn.put(`k${n}`, n)
          txn.put('n', n)
        })
      }
    }
    // No checkpoint names anything past the first commit: the next open scans them all...
    forgetCheckpointsFrom(dir, 2)
    // ... and is killed without writing or closing: only the open could have checkpointed.
    const life = spawnSync(process.execPath, [fixture, dir, String(SEGMENT_SIZE_BYTES_TEST), String(INTERVAL), '0'], { encoding: 'utf8', timeout: 60_000 })
    expect(life.signal).toBe('SIGKILL')
    expect(JSON.parse(life.stdout.trim()).scannedCommits).toBeGreaterThan(300)
    await using reopened = await Store.open(dir, { segmentSizeBytes: SEGMENT_SIZE_BYTES_TEST, checkpointIntervalCommits: INTERVAL, maxSpaceAmplification: 0 })
    expect(reopened.get('n')).toBe(300)
    expect(reopened.stats().recovery.startedFromCheckpoint).toBe(true)
    expect(reopened.stats().recovery.scannedCommits).toBe(1)
  })
})

describe('a lost tail cannot come back', () => {
  it('the open zeroes the record pages where the next frame goes', async () => {
    const dir = tempDir()
    let end = 0
    {
      await using store = await Store.open(dir, { segmentSizeBytes: SEGMENT_SIZE_BYTES_TEST, maxSpaceAmplification: 0 })
      for (let n = 1; n <= 20; n++) await store.put(`k${n}`, n)
      end = store.stats().logEndOffset
    }
    // What a crash that lost part of a tail leaves: bytes past the end, and at the next
    // segment's start (where a frame that did not fit would have gone).
    const boundary = (Math.floor(end / SEGMENT_SIZE_BYTES_TEST) + 1) * SEGMENT_SIZE_BYTES_TEST
    const garbage = Buffer.alloc(4096, 0x5a)
    for (const at of [end, boundary]) {
      const path = segmentPath(dir, Math.floor(at / SEGMENT_SIZE_BYTES_TEST))
      const fd = openSync(path, existsSync(path) ? 'r+' : 'w+')
      try {
        writeSync(fd, garbage, 0, garbage.length, at % SEGMENT_SIZE_BYTES_TEST)
      } finally {
        closeSync(fd)
      }
    }
    await using store = await Store.open(dir, { segmentSizeBytes: SEGMENT_SIZE_BYTES_TEST, maxSpaceAmplification: 0 })
    expect(store.stats().logEndOffset).toBe(end)
    expect(store.stats().recovery.droppedBytes).toBeGreaterThan(0)
    for (const at of [end, boundary]) {
      const fd = openSync(segmentPath(dir, Math.floor(at / SEGMENT_SIZE_BYTES_TEST)), 'r')
      try {
        const page = Buffer.alloc(4096)
        readSync(fd, page, 0, 4096, at % SEGMENT_SIZE_BYTES_TEST)
        expect(page.every((byte) => byte === 0)).toBe(true)
      } finally {
        closeSync(fd)
      }
    }
    expect(store.get('k20')).toBe(20)
    await store.put('after', 1)
  })
})

describe('a commit replayed after a crash', () => {
  it('does not chain the lost commit after it back in, even when byte for byte the same', async () => {
    // The runtime re-runs the slice a crash cut short, and a deterministic slice makes the same
    // commit again. Here the crash left commit A damaged and commit B after it intact (a
    // batch's pages reach the disk in any order); B chains to A's record. Once A is made
    // again at the same place, B must still not validate after it: B was never acknowledged.
    // sync: false, so that no record claims an earlier one durable (which makes A's damage an
    // ECORRUPT, not a torn tail: see 'a commit that a later record names durable').
    const dir = tempDir()
    const options = { segmentSizeBytes: SEGMENT_SIZE_BYTES_TEST, maxSpaceAmplification: 0, sync: false }
    const commitA = (txn: { put(key: string, value: unknown): void }): void => txn.put('a', 'the replayed commit')
    let aStart = 0
    {
      await using store = await Store.open(dir, options)
      for (let n = 1; n <= 5; n++) await store.put(`k${n}`, n)
      aStart = store.stats().logEndOffset
      await store.transaction(commitA)
      await store.put('b', 'never acknowledged')
    }
    // No checkpoint names A or B; a byte of A's first body page is damaged.
    unlinkSync(join(dir, 'CHECKPOINT'))
    expect(Math.floor(aStart / SEGMENT_SIZE_BYTES_TEST)).toBe(Math.floor((aStart + 2 * 4096) / SEGMENT_SIZE_BYTES_TEST))
    flipBytes(segmentPath(dir, Math.floor(aStart / SEGMENT_SIZE_BYTES_TEST)), (aStart % SEGMENT_SIZE_BYTES_TEST) + 4096 + 100, 1)
    {
      await using store = await Store.open(dir, options)
      expect(store.get('a')).toBeUndefined()
      expect(store.get('b')).toBeUndefined()
      expect(store.stats().logEndOffset).toBe(aStart)
      await store.transaction(commitA)
    }
    await using reopened = await Store.open(dir, options)
    expect(reopened.get('a')).toBe('the replayed commit')
    expect(reopened.get('b')).toBeUndefined()
    expect(reopened.get('k5')).toBe(5)
  })
})
