// Range iteration: getRange's options, and an iterator that pulls batches from native scan.
//
//   forward: [start, end)        batch 1 ... lastKey | next batch starts at lastKey + 0x00
//   reverse: [start, end) backwards  batch 1 ... lastKey | next batch ends (exclusive) at lastKey
//
// lastKey + 0x00 is the smallest key above lastKey in memcmp order. When lastKey already has
// the maximum key length that bound would be one byte too long; then no stored key extends
// lastKey, so the smallest key above it is lastKey without its trailing 0xff bytes and with
// its last byte incremented (none at all when lastKey is all 0xff).
//
// Invariants:
// - Each batch is decoded completely (keys and values copied out of the shared value buffer)
//   before it is handed out, so other reads between two next() calls cannot disturb it.
// - A store-level iteration pins one native snapshot when it starts, so all its batches read
//   the same version; the pin is released when the iteration ends (done, limit, return(),
//   an error) or, for an abandoned iterator, by the FinalizationRegistry, or at store close.
// - A snapshot-level iteration reads its snapshot's version and pins nothing.
import { limits } from './addon.js'
import { describeValue, VedError } from './errors.js'
import type { RangeEntry, StoreCore } from './core.js'
import { TREE_MISSING } from './core.js'
import type { Key } from './keys.js'

export interface RangeOptions {
  /** Smallest key returned (inclusive). Default: the first key. */
  start?: Key
  /** Keys returned are below this one (exclusive). Default: past the last key. */
  end?: Key
  /** Iterate from `end` (exclusive) down to `start` (inclusive). Default false. */
  reverse?: boolean
  /** At most this many pairs. Default: no limit. */
  limit?: number
}

/** First batch small, so `limit: 1` style lookups stay cheap; then larger batches. */
const BATCH_PAIRS_FIRST = 32
const BATCH_PAIRS_MAX = 1024

const RANGE_OPTION_NAMES = ['start', 'end', 'reverse', 'limit']

/** Checked getRange options with bounds copied as raw key bytes. */
export interface ParsedRange {
  start: Buffer | null
  end: Buffer | null
  reverse: boolean
  limit: number
  /** An empty `end` bound: no key is below it. */
  empty: boolean
  /** getKeys: values are not read. */
  keysOnly: boolean
}

export function parseRange(core: StoreCore, options: unknown): ParsedRange {
  if (options === undefined) return { start: null, end: null, reverse: false, limit: Infinity, empty: false, keysOnly: false }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new VedError('EINVAL', `range options must be an object, got ${describeValue(options)}`)
  }
  const input = options as Record<string, unknown>
  for (const name of Object.keys(input)) {
    if (!RANGE_OPTION_NAMES.includes(name)) {
      throw new VedError('EINVAL', `unknown range option "${name}"; known: ${RANGE_OPTION_NAMES.join(', ')}`)
    }
  }
  const reverse = input['reverse'] ?? false
  if (typeof reverse !== 'boolean') throw new VedError('EINVAL', `range option reverse must be a boolean, got ${describeValue(reverse)}`)
  const limit = input['limit'] ?? Infinity
  if (typeof limit !== 'number' || !(limit === Infinity || (Number.isInteger(limit) && limit >= 0))) {
    throw new VedError('EINVAL', `range option limit must be a non-negative integer, got ${describeValue(limit)}`)
  }
  const start = input['start'] === undefined ? null : core.boundBytes(input['start'], 'start')
  const endGiven = input['end'] !== undefined
  const end = endGiven ? core.boundBytes(input['end'], 'end') : null
  return { start, end, reverse, limit, empty: endGiven && end === null, keysOnly: false }
}

/** Where an iteration reads: the store's newest version (pinned per iteration) or a snapshot. */
export interface RangeSource {
  readonly core: StoreCore
  /** Throws ECLOSED when the store or snapshot is closed. */
  check(): void
  /** The snapshot id to read, or null to pin the newest version for this iteration. */
  readonly snapshot: number | null
  /** The tree id; TREE_MISSING reads as empty. */
  tree(): number
}

/** The iterable getRange returns; each iteration starts afresh and reads the version current then. */
export class RangeIterable<V = any, K = string> implements Iterable<RangeEntry<V, K>> {
  readonly #source: RangeSource
  readonly #range: ParsedRange

  constructor(source: RangeSource, range: ParsedRange) {
    this.#source = source
    this.#range = range
  }

  [Symbol.iterator](): RangeIterator<V, K> {
    return new RangeIterator<V, K>(this.#source, this.#range)
  }

  /** All pairs as an array. */
  toArray(): RangeEntry<V, K>[] {
    return Array.from(this)
  }
}

/** The iterable getKeys returns: the keys of a range in key order, their values never read. */
export class KeyIterable<K = string> implements Iterable<K> {
  readonly #source: RangeSource
  readonly #range: ParsedRange

  constructor(source: RangeSource, range: ParsedRange) {
    this.#source = source
    this.#range = { ...range, keysOnly: true }
  }

  *[Symbol.iterator](): Generator<K, undefined> {
    // Leaving the loop early returns the inner iterator too, which releases its pin.
    for (const entry of new RangeIterator<unknown, K>(this.#source, this.#range)) yield entry.key
    return undefined
  }

  /** All keys as an array. */
  toArray(): K[] {
    return Array.from(this)
  }
}

interface PinHolder {
  core: StoreCore
  id: number
}

/** Releases the pin of an iterator dropped before it ended. */
const pinRegistry = new FinalizationRegistry<PinHolder>((holder) => holder.core.unpin(holder.id))

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined })

export class RangeIterator<V = any, K = string> implements IterableIterator<RangeEntry<V, K>> {
  readonly #source: RangeSource
  readonly #reverse: boolean
  readonly #keysOnly: boolean
  #start: Buffer | null
  #end: Buffer | null
  /** Pairs still allowed by `limit`, counting those in #batch not yet handed out. */
  #remaining: number
  #batch: RangeEntry<unknown, string | Buffer>[] = []
  #index = 0
  /** True once native reported the range exhausted or the limit was reached. */
  #exhausted: boolean
  #started = false
  #snapshot = -1
  /** The snapshot this iterator pinned itself, or null. */
  #pin: number | null = null
  #tree = TREE_MISSING
  #batchPairs = BATCH_PAIRS_FIRST

  constructor(source: RangeSource, range: ParsedRange) {
    this.#source = source
    this.#reverse = range.reverse
    this.#keysOnly = range.keysOnly
    this.#start = range.start
    this.#end = range.end
    this.#remaining = range.limit
    this.#exhausted = range.empty || range.limit === 0
  }

  [Symbol.iterator](): this {
    return this
  }

  next(): IteratorResult<RangeEntry<V, K>, undefined> {
    if (this.#index < this.#batch.length) {
      // Pairs fetched ahead are not handed out once the store or snapshot is closed.
      try {
        this.#source.check()
      } catch (error) {
        this.#finish()
        throw error
      }
    }
    while (this.#index >= this.#batch.length) {
      if (this.#exhausted) {
        this.#release()
        return DONE
      }
      try {
        this.#fetch()
      } catch (error) {
        // for...of does not call return() when next() throws: release the pin here.
        this.#finish()
        throw error
      }
    }
    const entry = this.#batch[this.#index]!
    this.#batch[this.#index++] = undefined as unknown as RangeEntry<unknown, string | Buffer>
    return { done: false, value: entry as unknown as RangeEntry<V, K> }
  }

  return(): IteratorResult<RangeEntry<V, K>, undefined> {
    this.#exhausted = true
    this.#batch = []
    this.#index = 0
    this.#release()
    return DONE
  }

  #fetch(): void {
    this.#source.check()
    if (!this.#started) this.#begin()
    if (this.#tree === TREE_MISSING) {
      this.#finish()
      return
    }
    const core = this.#source.core
    const batchPairs = Math.min(this.#remaining, this.#batchPairs)
    const batch = core.scan(this.#snapshot, this.#tree, this.#reverse, this.#start, this.#end, batchPairs, this.#keysOnly)
    this.#batchPairs = Math.min(this.#batchPairs * 2, BATCH_PAIRS_MAX)
    let entries = batch.entries
    if (entries.length > this.#remaining) entries = entries.slice(0, this.#remaining)
    this.#remaining -= entries.length
    this.#batch = entries
    this.#index = 0
    if (batch.done || this.#remaining === 0 || batch.lastKey === null) {
      if (!batch.done && batch.lastKey === null) throw new Error('ved: native scan returned no pairs but more remain')
      this.#finish()
      return
    }
    this.#continueAfter(batch.lastKey)
  }

  #begin(): void {
    this.#started = true
    const source = this.#source
    if (source.snapshot === null) source.core.refresh()
    this.#tree = source.tree()
    if (this.#tree === TREE_MISSING) return
    if (source.snapshot !== null) {
      this.#snapshot = source.snapshot
      return
    }
    const id = source.core.pin()
    this.#pin = id
    this.#snapshot = id
    pinRegistry.register(this, { core: source.core, id }, this)
  }

  /** Sets the bounds of the next batch so it holds only keys beyond `lastKey`. */
  #continueAfter(lastKey: Buffer): void {
    if (this.#reverse) {
      this.#end = lastKey
      return
    }
    const next = keyAbove(lastKey, limits.keySizeBytesMax)
    if (next === null) this.#finish()
    else this.#start = next
  }

  #finish(): void {
    this.#exhausted = true
    this.#release()
  }

  #release(): void {
    if (this.#pin === null) return
    const id = this.#pin
    this.#pin = null
    pinRegistry.unregister(this)
    this.#source.core.unpin(id)
  }
}

/**
 * The smallest key above `key` among keys of at most `keySizeBytesMax` bytes, or null when
 * there is none (see the header comment).
 */
export function keyAbove(key: Buffer, keySizeBytesMax: number): Buffer | null {
  if (key.length < keySizeBytesMax) {
    const next = Buffer.allocUnsafe(key.length + 1)
    key.copy(next, 0)
    next[key.length] = 0
    return next
  }
  let length = key.length
  while (length > 0 && key[length - 1] === 0xff) length--
  if (length === 0) return null
  const next = Buffer.from(key.subarray(0, length))
  next[length - 1] = next[length - 1]! + 1
  return next
}
