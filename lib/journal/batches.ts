// Reading a domain's journal entries through their batches (entry.ts): the one lookup that
// the queries (reader.ts) and compaction (writer.ts) share.
//
// Invariants:
// - Batches of one domain never overlap: a batch `e<id>\0<first>` holds slices first ..
//   first + n - 1, and compaction only removes a batch's oldest entries (re-keying the rest)
//   or moves one entry into a batch of its own.
import { splitBatch } from './entry.js'
import { entryKey, entryRange, sliceOfEntryKey } from './keys.js'

/** What the trees passed here offer (TreeView and SnapshotTree both do). */
export interface RangeTree {
  getRange(options: { start?: string; end?: string; reverse?: boolean; limit?: number }): Iterable<{ key: unknown; value: Uint8Array }>
}

export interface Batch {
  readonly key: string
  readonly first: number
  readonly entries: Buffer[]
}

/** The largest slice number a key can hold (12 hex digits). */
export const SLICE_MAX = 0xffffffffffff - 1

/** Batches of domain `id` holding any slice in [from, to], oldest first (or newest first). */
export function* batchesOf(tree: RangeTree, id: string, from: number, to: number, reverse = false): Generator<Batch> {
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

/** The entries of slices [from, to] of domain `id`, oldest first (or newest first). */
export function* entriesOf(tree: RangeTree, id: string, from: number, to: number, reverse = false): Generator<{ slice: number; bytes: Buffer }> {
  for (const batch of batchesOf(tree, id, from, to, reverse)) {
    const count = batch.entries.length
    for (let i = 0; i < count; i++) {
      const index = reverse ? count - 1 - i : i
      const slice = batch.first + index
      if (slice >= from && slice <= to) yield { slice, bytes: batch.entries[index]! }
    }
  }
}

/** The entry of one slice, or undefined. */
export function entryAt(tree: RangeTree, id: string, slice: number): Buffer | undefined {
  for (const { bytes } of entriesOf(tree, id, slice, slice)) return bytes
  return undefined
}

function batchOf(key: string, value: Uint8Array): Batch {
  return { key, first: sliceOfEntryKey(key), entries: splitBatch(value) }
}
