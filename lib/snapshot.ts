// Snapshot: a pinned, read-only view of one sealed version.
//
// Invariants:
// - A snapshot reads exactly the version that was newest when it was taken, whatever the
//   writer commits afterwards, until close(); then every read throws ECLOSED.
// - Its native pin is released exactly once: by close() / [Symbol.dispose], by the
//   FinalizationRegistry when the object is dropped unclosed, or by the store's close.
import type { RangeEntry, StoreCore } from './core.js'
import { VedError } from './errors.js'
import type { Key } from './keys.js'
import { KeyIterable, parseRange, RangeIterable, type RangeOptions, type RangeSource } from './range.js'

interface PinHolder {
  core: StoreCore
  id: number
}

const snapshotRegistry = new FinalizationRegistry<PinHolder>((holder) => holder.core.unpin(holder.id))

/** A read view of one tree at one pinned version; shared by Snapshot and SnapshotTree. */
export class PinnedReader implements RangeSource {
  readonly core: StoreCore
  readonly snapshot: number
  readonly #owner: Snapshot<any, any>
  readonly #treeName: string

  constructor(owner: Snapshot<any, any>, core: StoreCore, snapshot: number, treeName: string) {
    this.#owner = owner
    this.core = core
    this.snapshot = snapshot
    this.#treeName = treeName
  }

  check(): void {
    this.core.check()
    if (this.#owner.closed) throw new VedError('ECLOSED', 'snapshot is closed')
  }

  tree(): number {
    return this.core.treeId(this.#treeName)
  }

  get(key: Key): unknown {
    this.check()
    return this.core.get(this.snapshot, this.tree(), key)
  }

  getRange(options: RangeOptions | undefined): RangeIterable<any, any> {
    this.check()
    return new RangeIterable(this, parseRange(this.core, options))
  }

  getKeys(options: RangeOptions | undefined): KeyIterable<any> {
    this.check()
    return new KeyIterable(this, parseRange(this.core, options))
  }
}

export class Snapshot<V = any, K = string> implements Disposable {
  /** Sequence number of the commit this snapshot reads. */
  readonly seq: number
  readonly #core: StoreCore
  readonly #id: number
  readonly #reader: PinnedReader
  #closed = false

  /** Taken by Store.snapshot only. */
  constructor(core: StoreCore) {
    this.#core = core
    this.#id = core.pin()
    try {
      this.seq = core.snapshotSeq(this.#id)
    } catch (error) {
      core.unpin(this.#id)
      throw error
    }
    this.#reader = new PinnedReader(this, core, this.#id, '')
    snapshotRegistry.register(this, { core, id: this.#id }, this)
  }

  /** True after close() (or after the store closed). */
  get closed(): boolean {
    return this.#closed || this.#core.closed
  }

  /** The value of `key` at this snapshot, or undefined. */
  get(key: Key): V | undefined {
    return this.#reader.get(key) as V | undefined
  }

  /** Pairs of [start, end) at this snapshot, in key order (or reversed). */
  getRange(options?: RangeOptions): RangeIterable<V, K> {
    return this.#reader.getRange(options)
  }

  /** The keys of getRange(options), without reading their values. */
  getKeys(options?: RangeOptions): KeyIterable<K> {
    return this.#reader.getKeys(options)
  }

  /** The named tree `name` at this snapshot. */
  tree<T = V>(name: string): SnapshotTree<T, K> {
    this.#reader.check()
    if (typeof name !== 'string') throw new VedError('EINVAL', 'a tree name must be a string')
    return new SnapshotTree<T, K>(new PinnedReader(this, this.#core, this.#id, name), name)
  }

  /** Releases the pinned version. Idempotent. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    snapshotRegistry.unregister(this)
    this.#core.unpin(this.#id)
  }

  [Symbol.dispose](): void {
    this.close()
  }
}

/** A named tree read through a snapshot: `snapshot.tree(name)`. */
export class SnapshotTree<V = any, K = string> {
  readonly name: string
  readonly #reader: PinnedReader

  /** Made by Snapshot.tree only. */
  constructor(reader: PinnedReader, name: string) {
    this.#reader = reader
    this.name = name
  }

  get(key: Key): V | undefined {
    return this.#reader.get(key) as V | undefined
  }

  getRange(options?: RangeOptions): RangeIterable<V, K> {
    return this.#reader.getRange(options)
  }

  getKeys(options?: RangeOptions): KeyIterable<K> {
    return this.#reader.getKeys(options)
  }
}

export type { RangeEntry }
