// Reading a domain's journal entries through their batches (entry.ts): the one lookup that
// the queries (reader.ts) and compaction (writer.ts) share.
//
// A domain's entries lie in two places (keys.ts): older ones in its own range of the domain
// region `e<id>\0<first>` (moved there by compaction, or kept for an unsettled lineage), newer
// ones in its segments of the time region's batches, reached by following the chain back from
// the seq its meta holds (`head`, JournalMeta[5]).
//
// Invariants:
// - Batches of one domain never overlap, and every domain-region batch of a domain holds
//   older slices than any of its time batches.
// - A chain is followed only while each batch holds a segment of the domain that ends before
//   the segment after it starts: a seq whose segment moved or was deleted ends the walk, and a
//   reused seq cannot lead into another domain's entries or loop.
import { splitBatch, timeSegmentOf, type TimeSegment } from './entry.js'
import { entryKey, entryRange, sliceOfEntryKey, timeKey } from './keys.js'

/** What the trees passed here offer (TreeView and SnapshotTree both do). */
export interface RangeTree {
  getRange(options: { start?: string; end?: string; reverse?: boolean; limit?: number }): Iterable<{ key: unknown; value: Uint8Array }>
  get(key: string): Uint8Array | undefined
}

export interface Batch {
  readonly key: string
  readonly first: number
  /** entries.length, known without splitting a time segment's entries. */
  readonly count: number
  readonly entries: Buffer[]
  /** The time segment the batch is, when it is one (compaction reads it without splitting it). */
  readonly segment?: TimeSegment
}

/** The largest slice number a key can hold (12 hex digits). */
export const SLICE_MAX = 0xffffffffffff - 1

/** No time batch (a chain's end, or a domain that has none). */
export const NO_SEQ = -1

/** Domain-region batches of domain `id` holding any slice in [from, to], oldest first (or newest first). */
export function* regionBatchesOf(tree: RangeTree, id: string, from: number, to: number, reverse = false): Generator<Batch> {
  const end = entryKey(id, Math.min(to, SLICE_MAX) + 1)
  if (reverse) {
    for (const { key, value } of tree.getRange({ start: entryRange(id).start, end, reverse: true })) {
      const batch = batchOf(key as string, value)
      if (batch.first + batch.entries.length <= from) return
      yield batch
    }
    return
  }
  // The batch holding `from` may start before it.
  let start = entryKey(id, from)
  for (const { key } of tree.getRange({ start: entryRange(id).start, end: entryKey(id, from + 1), reverse: true, limit: 1 })) start = key as string
  for (const { key, value } of tree.getRange({ start, end })) {
    const batch = batchOf(key as string, value)
    if (batch.first + batch.entries.length <= from) continue
    yield batch
  }
}

/** Time segments of domain `id`, newest first, from `head` back to the one holding `from`. */
export function* chainOf(tree: RangeTree, id: string, head: number, from: number): Generator<Batch> {
  let seq = head
  let next = Number.POSITIVE_INFINITY
  while (seq !== NO_SEQ) {
    const key = timeKey(seq)
    const value = tree.get(key)
    if (value === undefined) return
    const segment = timeSegmentOf(value, id)
    if (segment === null) return
    const entries = segment.entries
    if (segment.first + entries.length > next || !(segment.prev < seq)) return
    yield { key, first: segment.first, count: entries.length, entries }
    if (segment.first <= from) return
    next = segment.first
    seq = segment.prev
  }
}

/**
 * The entries of slices [from, to] of domain `id`, oldest first (or newest first). `first`: the
 * window's first slice; a time batch may still hold older entries that compaction expired
 * without writing the batch again, which are not returned.
 */
export function* entriesOf(tree: RangeTree, id: string, head: number, first: number, from: number, to: number, reverse = false): Generator<{ slice: number; bytes: Buffer }> {
  const chainFrom = Math.max(from, first)
  if (reverse) {
    yield* entriesIn(chainOf(tree, id, head, chainFrom), chainFrom, to, true)
    // Where the time region ends for this domain, the domain region takes over.
    yield* entriesIn(regionBatchesOf(tree, id, from, to, true), from, to, true)
    return
  }
  const chain = [...chainOf(tree, id, head, chainFrom)].reverse()
  const oldestInChain = chain.length === 0 ? Number.POSITIVE_INFINITY : Math.max(chain[0]!.first, chainFrom)
  yield* entriesIn(regionBatchesOf(tree, id, from, Math.min(to, oldestInChain - 1)), from, to, false)
  yield* entriesIn(chain, chainFrom, to, false)
}

function* entriesIn(batches: Iterable<Batch>, from: number, to: number, reverse: boolean): Generator<{ slice: number; bytes: Buffer }> {
  for (const batch of batches) {
    const count = batch.entries.length
    for (let i = 0; i < count; i++) {
      const index = reverse ? count - 1 - i : i
      const slice = batch.first + index
      if (slice >= from && slice <= to) yield { slice, bytes: batch.entries[index]! }
    }
  }
}

/** The entry of one slice, or undefined. */
export function entryAt(tree: RangeTree, id: string, head: number, first: number, slice: number): Buffer | undefined {
  for (const { bytes } of entriesOf(tree, id, head, first, slice, slice, true)) return bytes
  return undefined
}

function batchOf(key: string, value: Uint8Array): Batch {
  const entries = splitBatch(value)
  return { key, first: sliceOfEntryKey(key), count: entries.length, entries }
}
