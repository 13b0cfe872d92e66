// store.verify(): ok on good stores; on damaged ones it names the kind of damage and the
// segment and offset of the damaged page. Damage is made by editing segment files after a
// clean close: raw flips (checksums catch them) and rewritten frames whose checksums were
// recomputed (only the tree invariants catch those).
import { closeSync, openSync, readSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Store, type VerifyProgress } from '../lib/index.js'
import { crc32c, expectVedError, expectVedErrorSync, prng, SEGMENT_SIZE_BYTES_TEST, SMALL as SMALL_SEGMENTS, tempDirs } from './helpers.js'

// These tests damage pages at known offsets after the fact: no background cleaning may move
// or delete them first.
const SMALL = { ...SMALL_SEGMENTS, maxSpaceAmplification: 0 }

const tempDir = tempDirs()
const PAGE = 4096

function segmentPath(dir: string, segmentIndex: number): string {
  return join(dir, `${segmentIndex.toString(16).padStart(16, '0')}.seg`)
}

function readAt(dir: string, logOffset: number, length: number): Buffer {
  const fd = openSync(segmentPath(dir, Math.floor(logOffset / SEGMENT_SIZE_BYTES_TEST)), 'r')
  try {
    const bytes = Buffer.alloc(length)
    expect(readSync(fd, bytes, 0, length, logOffset % SEGMENT_SIZE_BYTES_TEST)).toBe(length)
    return bytes
  } finally {
    closeSync(fd)
  }
}

function writeAt(dir: string, logOffset: number, bytes: Buffer): void {
  const fd = openSync(segmentPath(dir, Math.floor(logOffset / SEGMENT_SIZE_BYTES_TEST)), 'r+')
  try {
    writeSync(fd, bytes, 0, bytes.length, logOffset % SEGMENT_SIZE_BYTES_TEST)
  } finally {
    closeSync(fd)
  }
}

function flipByte(dir: string, logOffset: number): void {
  const byte = readAt(dir, logOffset, 1)
  byte[0] = byte[0]! ^ 0x10
  writeAt(dir, logOffset, byte)
}

/** Fills a store with enough keys for a multi-level tree, large values, deletes and named trees. */
async function fill(store: Store, seed: number): Promise<Map<string, unknown>> {
  const random = prng(seed)
  const model = new Map<string, unknown>()
  for (let batch = 0; batch < 20; batch++) {
    await store.transaction((txn) => {
      for (let i = 0; i < 100; i++) {
        const key = `k${Math.floor(random() * 3000).toString().padStart(5, '0')}`
        if (random() < 0.15) {
          txn.del(key)
          model.delete(key)
        } else {
          const value = random() < 0.05 ? { big: 'b'.repeat(2000 + Math.floor(random() * 30_000)) } : { i, pad: 'p'.repeat(Math.floor(random() * 200)) }
          txn.put(key, value)
          model.set(key, value)
        }
      }
      txn.tree('side').put(`s${batch}`, batch)
    })
  }
  return model
}

/** Log extent of the next commit: [start, end), the record at start, body after it. */
async function commitWithExtent(store: Store, fn: () => Promise<unknown>): Promise<{ start: number; end: number }> {
  const before = store.stats().logEndOffset
  await fn()
  const end = store.stats().logEndOffset
  const segmentStart = Math.floor((end - 1) / SEGMENT_SIZE_BYTES_TEST) * SEGMENT_SIZE_BYTES_TEST
  return { start: Math.max(before, segmentStart), end }
}

describe('verify on good stores', () => {
  it('is ok for a new store, a filled one, after reopen, and read-only', async () => {
    const dir = tempDir()
    {
      await using store = await Store.open(dir, SMALL)
      const empty = await store.verify()
      expect(empty).toMatchObject({ ok: true, errors: [], errorsOmitted: 0, pagesChecked: 0, blobsChecked: 0, bytesChecked: PAGE })
      await fill(store, 1)
      const progress: VerifyProgress[] = []
      const report = await store.verify({ onProgress: (p) => progress.push(p) })
      expect(report.errors).toEqual([])
      expect(report.ok).toBe(true)
      expect(report.trees).toBe(2)
      expect(report.seq).toBe(store.stats().durableSeq)
      expect(report.pagesChecked).toBeGreaterThan(20)
      expect(report.blobsChecked).toBeGreaterThan(3)
      // Every reachable byte was checked: exactly the live bytes the commit record claims.
      expect(report.bytesChecked).toBe(store.stats().liveBytes)
      expect(progress.length).toBeGreaterThanOrEqual(1)
      expect(progress.at(-1)).toEqual({ pagesDone: report.bytesChecked / PAGE, pagesTotalEstimate: report.bytesChecked / PAGE })
    }
    await using reopened = await Store.open(dir, SMALL)
    expect((await reopened.verify()).ok).toBe(true)
    await using reader = await Store.open(dir, { readOnly: true })
    expect((await reader.verify()).errors).toEqual([])
  })

  it('covers commits that were pending when it was called, and refuses use after close', async () => {
    const store = await Store.open(tempDir(), SMALL)
    const writes = [store.put('a', 1), store.put('b', { big: 'x'.repeat(50_000) })]
    const report = await store.verify()
    await Promise.all(writes)
    expect(report).toMatchObject({ ok: true, blobsChecked: 1, pagesChecked: 1 })
    await expectVedError(store.verify({ onProgress: 7 as never }), 'EINVAL')
    await store.close()
    await expectVedError(store.verify(), 'ECLOSED')
  })
})

describe('verify on damaged stores', () => {
  /**
   * A store where tree 'cold' got one leaf (and a blob) from an early commit that later commits
   * never rewrite, so the damage lies in a reachable page that recovery does not re-check.
   */
  async function storeWithColdCommit(): Promise<{ dir: string; start: number; end: number }> {
    const dir = tempDir()
    await using store = await Store.open(dir, SMALL)
    await fill(store, 2)
    const cold = await commitWithExtent(store, () =>
      store.transaction((txn) => {
        txn.tree('cold').put('x', 'small')
        txn.tree('cold').put('y', { big: 'y'.repeat(9000) })
      }),
    )
    await fill(store, 3)
    // record | blob (3 pages) | leaf
    expect(cold.end - cold.start).toBe(5 * PAGE)
    return { dir, ...cold }
  }

  it('a flipped bit in a tree page: checksum finding at its segment and offset; reads throw ECORRUPT there', async () => {
    const { dir, end } = await storeWithColdCommit()
    const leaf = end - PAGE
    flipByte(dir, leaf + 3000)
    await using store = await Store.open(dir, SMALL)
    const report = await store.verify()
    expect(report.ok).toBe(false)
    expect(report.errors).toEqual([
      { code: 'checksum', segment: Math.floor(leaf / SEGMENT_SIZE_BYTES_TEST), offset: leaf % SEGMENT_SIZE_BYTES_TEST, message: 'page checksum mismatch' },
      expect.objectContaining({ code: 'entry-count' }),
      expect.objectContaining({ code: 'live-bytes' }),
    ])
    const error = expectVedErrorSync(() => store.tree('cold').get('x'), 'ECORRUPT')
    expect({ segment: error.segment, offset: error.offset }).toEqual({ segment: report.errors[0]!.segment, offset: report.errors[0]!.offset })
    // The rest of the store reads and verifies as before.
    expect(store.tree('side').get('s3')).toBe(3)
  })

  it('a flipped bit in a blob: blob finding at the blob; reading that value throws ECORRUPT', async () => {
    const { dir, start } = await storeWithColdCommit()
    const blob = start + PAGE
    flipByte(dir, blob + PAGE + 17)
    await using store = await Store.open(dir, SMALL)
    const report = await store.verify()
    expect(report.errors).toEqual([
      { code: 'blob', segment: Math.floor(blob / SEGMENT_SIZE_BYTES_TEST), offset: blob % SEGMENT_SIZE_BYTES_TEST, message: 'blob checksum mismatch' },
    ])
    expect(store.tree('cold').get('x')).toBe('small')
    const error = expectVedErrorSync(() => store.tree('cold').get('y'), 'ECORRUPT')
    expect({ segment: error.segment, offset: error.offset }).toEqual({ segment: report.errors[0]!.segment, offset: report.errors[0]!.offset })
  })

  /**
   * Rewrites the last frame of a closed store with `mutate` applied to its pages, then
   * recomputes every checksum (pages, body, record) so that it validates: only the tree
   * invariants can catch what `mutate` did. Returns the page offsets of the frame body.
   */
  function rewriteLastFrame(dir: string, frame: { start: number; end: number }, mutate: (record: Buffer, pages: Buffer[]) => void): number[] {
    const record = readAt(dir, frame.start, PAGE)
    const offsets: number[] = []
    const pages: Buffer[] = []
    for (let at = frame.start + PAGE; at < frame.end; at += PAGE) {
      offsets.push(at)
      pages.push(readAt(dir, at, PAGE))
    }
    for (const page of pages) expect(page[4]).not.toBe(3) // tree pages only, no blobs
    mutate(record, pages)
    const pageChecksums = Buffer.alloc(4 * pages.length)
    pages.forEach((page, i) => {
      page.writeUInt32LE(crc32c(page.subarray(4)), 0)
      pageChecksums.writeUInt32LE(page.readUInt32LE(0), 4 * i)
      writeAt(dir, offsets[i]!, page)
    })
    record.writeUInt32LE(crc32c(pageChecksums), 28)
    record.writeUInt32LE(crc32c(record.subarray(4)), 0)
    writeAt(dir, frame.start, record)
    return offsets
  }

  async function storeWithLastFrame(): Promise<{ dir: string; start: number; end: number }> {
    const dir = tempDir()
    await using store = await Store.open(dir, SMALL)
    await fill(store, 4)
    const last = await commitWithExtent(store, () => store.put('k00000', 'first'))
    return { dir, ...last }
  }

  it('an entry count in the record that its tree does not hold: entry-count finding at the record', async () => {
    const frame = await storeWithLastFrame()
    rewriteLastFrame(frame.dir, frame, (record) => {
      const entryCountAt = 128 + 40 // tree 0: u8 name length, 31 bytes name, u64 root, u64 entry count
      record.writeBigUInt64LE(record.readBigUInt64LE(entryCountAt) + 1n, entryCountAt)
    })
    await using store = await Store.open(frame.dir, SMALL)
    expect(store.get('k00000')).toBe('first')
    const report = await store.verify()
    expect(report.errors).toEqual([
      expect.objectContaining({ code: 'entry-count', segment: Math.floor(frame.start / SEGMENT_SIZE_BYTES_TEST), offset: frame.start % SEGMENT_SIZE_BYTES_TEST }),
    ])
  })

  it('a leaf key beyond its parent separator (checksums valid): key-order finding at that leaf', async () => {
    const frame = await storeWithLastFrame()
    let leafIndex = -1
    const offsets = rewriteLastFrame(frame.dir, frame, (_record, pages) => {
      // The commit wrote the leftmost leaf (it holds k00000) and its parents; the leaf comes first.
      leafIndex = pages.findIndex((page) => page[4] === 1)
      const leaf = pages[leafIndex]!
      const count = leaf.readUInt16LE(6)
      const lastCell = leaf.readUInt16LE(32 + 2 * (count - 1))
      expect(leaf.toString('latin1', lastCell + 8, lastCell + 9)).toBe('k')
      leaf.write('z', lastCell + 8, 'latin1') // still the largest key of its page
    })
    expect(offsets.length).toBeGreaterThanOrEqual(2)
    await using store = await Store.open(frame.dir, SMALL)
    const report = await store.verify()
    const leaf = offsets[leafIndex]!
    expect(report.errors).toEqual([
      expect.objectContaining({ code: 'key-order', segment: Math.floor(leaf / SEGMENT_SIZE_BYTES_TEST), offset: leaf % SEGMENT_SIZE_BYTES_TEST }),
    ])
  })
})
