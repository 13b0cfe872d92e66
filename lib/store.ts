// Store: the public handle of one open store.
//
//   Store.open -> [open] --close()--> [closing: ECLOSED for callers, commits draining]
//                                        --all commits settled--> native close -> [closed]
//
// Invariants:
// - Reads are synchronous and see the newest sealed version; writes seal synchronously and
//   return a promise that settles when the commit is durable (or failed).
// - Exactly one OpsWriter per writable store; transactions do not nest, and no store write
//   may start while a transaction callback runs (EINVAL), so the writer holds one commit.
// - Every method throws (or rejects with) ECLOSED from the moment close() is called.
// - close() settles every pending commit promise before the native close; none is dropped.
import { addon, limits, type Limits } from './addon.js'
import { SNAPSHOT_NEWEST, StoreCore, TREE_MISSING, type RangeEntry } from './core.js'
import { DurableQueue } from './durable.js'
import { describeValue, VedError } from './errors.js'
import type { Key } from './keys.js'
import type { NativeOpenOptions, NativeStats } from './native.js'
import { prepareDirectory, resolveDirectory, resolveOptions, type Encoding, type KeyEncoding, type ResolvedOptions, type StoreOptions } from './options.js'
import { KeyIterable, parseRange, RangeIterable, type RangeOptions, type RangeSource } from './range.js'
import { Snapshot } from './snapshot.js'
import { endTransaction, OpsWriter, Transaction, type TransactionContext } from './transaction.js'
import { verifyReportFrom, type VerifyOptions, type VerifyReport } from './verify.js'

/** What store.stats() returns: the native figures, unchanged. */
export type StoreStats = NativeStats

/** What store.compact() reclaimed. */
export interface CompactResult {
  /** File bytes of the segments deleted during this call. */
  reclaimedBytes: number
  segmentsDeleted: number
  /** Keys rewritten to empty segments. */
  relocatedKeys: number
  fileBytesBefore: number
  fileBytesAfter: number
  liveBytes: number
  /** Free segments still kept, because an open snapshot may read them. */
  segmentsWaiting: number
}

/** Steps one compact() call may take: each is a commit or a wait for a cleaner pass. */
const COMPACT_STEPS_MAX = 10_000
/**
 * Forced passes one compact() call asks for. Each empties what existed when it began; more
 * are needed only when the application keeps writing meanwhile, and then compact() stops
 * here rather than chase it.
 */
const COMPACT_PASSES_MAX = 16
/** While a cleaner pass runs, compact() checks back this often. */
const COMPACT_POLL_MS = 1
/** Keys one compact() commit rewrites: nothing else waits on these commits. */
const COMPACT_RELOCATIONS_PER_COMMIT = 4096
/**
 * Keys one background cleaning commit rewrites when the application is not writing: small,
 * so the event loop runs other work between steps.
 */
const BACKGROUND_RELOCATIONS_PER_COMMIT = 256

/** Guards the constructor: stores are made by Store.open only. */
const CONSTRUCT = Symbol('Store.construct')

/** What TreeView needs from its Store's private state; set by Store's static block. */
interface StoreInternals {
  core(store: Store<any, any>): StoreCore
  readSource(store: Store<any, any>, treeName: string): RangeSource
  readTree(store: Store<any, any>, treeName: string): number
  writeOne(store: Store<any, any>, treeName: string, key: Key, value: unknown, isDelete: boolean): Promise<number>
  commitBytes(store: Store<any, any>, trees: ReadonlyArray<TreeBytes>): Promise<number>
}
let internals: StoreInternals

/** The writes of one named tree for commitBytes: key -> value bytes, or null to delete. */
export type TreeBytes = readonly [name: string, writes: ReadonlyMap<string, Uint8Array | null>]

/**
 * Seals already-encoded writes as one atomic commit, in the order given: what
 * `store.transaction(txn => txn.tree(name).put(key, bytes) / .del(key) ...)` would commit,
 * without a Transaction and its trees per commit or the codec per value. For the runtime,
 * whose drain holds its writes as bytes; the store's encoding must be 'binary'. Not exported
 * from the package. Resolves once durable; rejects (nothing committed) as a transaction would.
 */
export function commitBytes(store: Store<Buffer, string>, trees: ReadonlyArray<TreeBytes>): Promise<number> {
  return internals.commitBytes(store, trees)
}

export class Store<V = any, K extends string | Buffer = string> implements AsyncDisposable {
  readonly #core: StoreCore
  readonly #queue: DurableQueue
  /** null for read-only stores. */
  readonly #writer: OpsWriter | null
  readonly #txnContext: TransactionContext | null
  readonly #reads: RangeSource
  readonly #trees = new Map<string, TreeView<any, K>>()
  /** Sequence number of the newest commit this store sealed (writable stores). */
  #sealedSeq: number
  /** True while a transaction callback runs. */
  #inTransaction = false
  /** A background cleaning step is queued (setImmediate). */
  #cleaningScheduled = false
  /** The newest seq an application commit sealed (cleaning commits not counted). */
  #appSealedSeq = 0
  /** Relocations wait for the application's commits in flight to become durable. */
  #cleaningDeferred = false
  #closing: Promise<void> | null = null

  static {
    internals = {
      core: (store) => store.#core,
      readSource: (store, treeName) => store.#readSource(treeName),
      readTree: (store, treeName) => store.#readTree(treeName),
      writeOne: (store, treeName, key, value, isDelete) => store.#writeOne(treeName, key, value, isDelete),
      commitBytes: (store, trees) => store.#commitBytes(trees),
    }
  }

  /**
   * Opens (or creates) the store in directory `dir`. Rejects with ELOCKED when another writer
   * holds it, ENOTSTORE, EFORMAT, ECORRUPT for stores it cannot open, EINVAL for bad options.
   */
  static async open<V = any, K extends string | Buffer = string>(dir: string | URL, options?: StoreOptions): Promise<Store<V, K>> {
    const path = resolveDirectory(dir)
    const resolved = resolveOptions(options)
    prepareDirectory(path, resolved)
    const queue = new DurableQueue()
    let store: Store<V, K> | null = null
    const h = addon.open(path, nativeOpenOptions(resolved), (durableSeq, errorCode, failedFromSeq, failedToSeq, message, cleanerReady) => {
      queue.onDurable(durableSeq, errorCode, failedFromSeq, failedToSeq, message)
      if (store === null) return
      // Rejected commits never become durable: they are no longer in flight.
      if (errorCode !== 0 && failedToSeq >= store.#appSealedSeq) store.#appSealedSeq = 0
      if (cleanerReady || (store.#cleaningDeferred && durableSeq >= store.#appSealedSeq)) store.#scheduleCleaning()
    })
    try {
      store = new Store<V, K>(CONSTRUCT, new StoreCore(path, resolved, h), queue)
      return store
    } catch (error) {
      // The error that matters is the one above; a failing close on top would hide it.
      try {
        addon.close(h)
      } catch {}
      throw error
    }
  }

  /** The native build's limits (key, value, transaction size; trees). */
  static get limits(): Readonly<Limits> {
    return limits
  }

  /** Made by Store.open only. */
  constructor(token: typeof CONSTRUCT, core: StoreCore, queue: DurableQueue) {
    if (token !== CONSTRUCT) throw new VedError('EINVAL', 'use Store.open(dir, options) to open a store')
    this.#core = core
    this.#queue = queue
    const stats = core.stats()
    this.#sealedSeq = stats.seq
    queue.durableSeq = stats.durableSeq
    this.#reads = { core, snapshot: null, check: () => core.check(), tree: () => this.#readTree('') }
    if (core.options.readOnly) {
      this.#writer = null
      this.#txnContext = null
      return
    }
    const writer = new OpsWriter(core.codec, core.options.keyEncoding === 'string')
    this.#writer = writer
    this.#txnContext = { writer, defaultTree: this.#writeTree(''), treeIdForWrite: (name) => this.#writeTree(name) }
  }

  /** The absolute path of the store directory. */
  get path(): string {
    return this.#core.path
  }

  get readOnly(): boolean {
    return this.#core.options.readOnly
  }

  get encoding(): Encoding {
    return this.#core.options.encoding
  }

  get keyEncoding(): KeyEncoding {
    return this.#core.options.keyEncoding
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#core.closed
  }

  /** The value of `key` in the newest sealed version (maybe not durable yet), or undefined. */
  get(key: Key): V | undefined {
    this.#core.check()
    this.#core.refresh()
    return this.#core.get(SNAPSHOT_NEWEST, this.#readTree(''), key) as V | undefined
  }

  /** Pairs with start <= key < end in key order (reverse: descending). Each iteration reads one version. */
  getRange(options?: RangeOptions): RangeIterable<V, K> {
    this.#core.check()
    return new RangeIterable<V, K>(this.#reads, parseRange(this.#core, options))
  }

  /** The keys of getRange(options), without reading their values. */
  getKeys(options?: RangeOptions): KeyIterable<K> {
    this.#core.check()
    return new KeyIterable<K>(this.#reads, parseRange(this.#core, options))
  }

  /**
   * Runs `fn` with a Transaction, then seals its operations as one atomic commit. Resolves with
   * the commit's sequence number once it is durable. If `fn` throws, or is async (returns a
   * promise: EINVAL), nothing is committed.
   */
  transaction(fn: (txn: Transaction<V>) => void): Promise<number> {
    try {
      const writer = this.#beginWrite()
      if (typeof fn !== 'function') throw new VedError('EINVAL', `transaction needs a function, got ${describeValue(fn)}`)
      if (isAsyncFunction(fn)) throw asyncCallbackError()
      const txn = new Transaction<V>(this.#txnContext!)
      let result: unknown
      this.#inTransaction = true
      try {
        result = fn(txn)
      } finally {
        endTransaction(txn)
        this.#inTransaction = false
      }
      if (isPromiseLike(result)) {
        // Its later failures (ECLOSED from the ended txn) are expected: keep them from going unhandled.
        result.then(undefined, () => {})
        throw asyncCallbackError()
      }
      return this.#commit(writer)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** Sets `key` to `value`: a one-operation transaction. */
  put(key: Key, value: V): Promise<number> {
    return this.#writeOne('', key, value, false)
  }

  /** Removes `key` (no error when absent): a one-operation transaction. */
  del(key: Key): Promise<number> {
    return this.#writeOne('', key, undefined, true)
  }

  /** Pins the newest sealed version for reads until the snapshot is closed. */
  snapshot(): Snapshot<V, K> {
    this.#core.check()
    this.#core.refresh()
    return new Snapshot<V, K>(this.#core)
  }

  /**
   * Resolves when every commit sealed so far is durable (at once when none is pending); rejects
   * with the first error among them if one failed.
   */
  get flushed(): Promise<void> {
    if (this.#core.closed) return Promise.reject(new VedError('ECLOSED', 'store is closed'))
    return this.#queue.whenSettled(true)
  }

  /** The engine's figures: seq, durableSeq, file and live bytes, segments, recovery report. */
  stats(): StoreStats {
    this.#core.check()
    this.#core.refresh()
    return this.#core.stats()
  }

  /**
   * Cleans now, whatever the space target: walks the newest durable version, rewrites the live
   * pages of every segment worth emptying (ordinary commits), and deletes the segments that
   * hold nothing reachable once a checkpoint covers them. Segments an open snapshot may still
   * read are kept (counted in segmentsWaiting). Resolves with what was reclaimed.
   */
  async compact(): Promise<CompactResult> {
    this.#beginWrite()
    const core = this.#core
    const before = core.stats()
    let idleSteps = 0
    let start = true
    let passes = 0
    for (let i = 0; i < COMPACT_STEPS_MAX; i++) {
      const step = core.cleanStep(start, COMPACT_RELOCATIONS_PER_COMMIT)
      if (start) passes++
      start = false
      if (step.seq > 0) {
        this.#sealedSeq = step.seq
        await this.#queue.add(step.seq)
        idleSteps = 0
        continue
      }
      if (step.busy || step.waitingForCheckpoint) {
        await new Promise((resolve) => setTimeout(resolve, COMPACT_POLL_MS))
        continue
      }
      // The pass found nothing to move and nothing waits on a checkpoint: one more forced
      // pass confirms (the last relocations' segments become free only in the next one).
      if (++idleSteps >= 2 || passes >= COMPACT_PASSES_MAX) break
      start = true
    }
    const after = core.stats()
    return {
      reclaimedBytes: after.cleaner.bytesReclaimed - before.cleaner.bytesReclaimed,
      segmentsDeleted: after.cleaner.segmentsDeleted - before.cleaner.segmentsDeleted,
      relocatedKeys: after.cleaner.relocatedKeys - before.cleaner.relocatedKeys,
      fileBytesBefore: before.fileBytes,
      fileBytesAfter: after.fileBytes,
      liveBytes: after.liveBytes,
      segmentsWaiting: after.cleaner.segmentsWaiting,
    }
  }

  /**
   * Checks the store page by page: every page and large value reachable from the newest
   * durable version, their checksums and the tree invariants (key order, references, depth,
   * entry counts, live bytes). Waits for pending commits to settle first, so the version
   * checked includes every commit sealed before the call that became durable. Damage is
   * reported in the result (`ok: false`, `errors` with segment and offset), never thrown.
   */
  async verify(options?: VerifyOptions): Promise<VerifyReport> {
    this.#core.check()
    const onProgress = options?.onProgress ?? null
    if (onProgress !== null && typeof onProgress !== 'function') {
      throw new VedError('EINVAL', `verify onProgress must be a function, got ${describeValue(onProgress)}`)
    }
    // A failed commit is its own promise's error; verify checks what is durable either way.
    await this.#queue.whenSettled(false)
    this.#core.check()
    this.#core.refresh()
    const native = this.#core.verify(onProgress === null ? null : (pagesDone, pagesTotalEstimate) => onProgress({ pagesDone, pagesTotalEstimate }))
    return verifyReportFrom(native)
  }

  /** The named tree `name`: its own key space, committed atomically with the rest via txn.tree(name). */
  tree<T = V>(name: string): TreeView<T, K> {
    this.#core.check()
    if (typeof name !== 'string') throw new VedError('EINVAL', `a tree name must be a string, got ${describeValue(name)}`)
    let view = this.#trees.get(name)
    if (view === undefined) {
      // Writable stores create the tree now, so a bad name fails here rather than at first use.
      if (this.#writer !== null) this.#writeTree(name)
      view = new TreeView<any, K>(this, name)
      this.#trees.set(name, view)
    }
    return view as TreeView<T, K>
  }

  /**
   * Waits until every pending commit settled, then closes the native store (files, lock).
   * Idempotent: later calls return the same promise.
   */
  close(): Promise<void> {
    if (this.#closing === null) this.#closing = this.#close()
    return this.#closing
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  async #close(): Promise<void> {
    this.#core.markClosed()
    // Each commit's own promise carries its error; close only waits for all to settle.
    await this.#queue.whenSettled(false)
    try {
      this.#core.closeNative()
    } finally {
      this.#queue.rejectAll(new VedError('ECLOSED', 'store closed before the commit was reported durable'))
    }
  }

  #writeOne(treeName: string, key: Key, value: unknown, isDelete: boolean): Promise<number> {
    try {
      const writer = this.#beginWrite()
      const tree = treeName === '' ? this.#txnContext!.defaultTree : this.#writeTree(treeName)
      if (isDelete) writer.del(tree, key)
      else writer.put(tree, key, value)
      return this.#commit(writer)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  #commitBytes(trees: ReadonlyArray<TreeBytes>): Promise<number> {
    try {
      const writer = this.#beginWrite()
      if (this.#core.codec.encoding !== 'binary') throw new Error(`ved: commitBytes needs encoding 'binary', the store has '${this.#core.codec.encoding}'`)
      for (const [name, writes] of trees) {
        if (writes.size === 0) continue
        const tree = name === '' ? this.#txnContext!.defaultTree : this.#writeTree(name)
        for (const [key, bytes] of writes) {
          if (bytes === null) writer.del(tree, key)
          else writer.putBytes(tree, key, bytes)
        }
      }
      return this.#commit(writer)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** Checks that a write may start and returns the emptied writer. */
  #beginWrite(): OpsWriter {
    this.#core.check()
    if (this.#writer === null) throw new VedError('EREADONLY', 'store was opened readOnly')
    if (this.#inTransaction) {
      throw new VedError('EINVAL', 'a transaction callback is running: write through its txn argument, transactions do not nest')
    }
    this.#writer.reset()
    return this.#writer
  }

  #commit(writer: OpsWriter): Promise<number> {
    // The callback may have closed the store.
    this.#core.check()
    if (writer.count === 0) {
      const seq = this.#sealedSeq
      return this.#queue.whenSettled(false).then(() => seq)
    }
    const seq = this.#core.commit(writer)
    this.#sealedSeq = seq
    this.#appSealedSeq = seq
    writer.reset()
    return this.#queue.add(seq)
  }

  /**
   * The cleaner found relocations (or segments a checkpoint now covers): commit them on this
   * thread in small steps, between whatever else the event loop runs. Failures are left to
   * the application's own commits to report (a poisoned store rejects those).
   * While an application commit is in flight the steps wait: the application's next commit
   * carries relocations itself (sharing its branch pages, with no extra frame), and a
   * cleaning frame queued ahead of it would only delay its durability. The durable callback
   * resumes them once the application's commits are durable.
   */
  #scheduleCleaning(): void {
    if (this.#cleaningScheduled || this.#writer === null || this.#closing !== null) return
    this.#cleaningScheduled = true
    this.#cleaningDeferred = false
    setImmediate(() => {
      this.#cleaningScheduled = false
      if (this.#closing !== null || this.#core.closed || this.#inTransaction) return
      if (this.#appSealedSeq > this.#queue.durableSeq) {
        this.#cleaningDeferred = true
        return
      }
      let step
      try {
        step = this.#core.cleanStep(false, BACKGROUND_RELOCATIONS_PER_COMMIT)
      } catch {
        return
      }
      if (step.seq > 0) {
        this.#sealedSeq = step.seq
        this.#queue.add(step.seq).catch(() => {})
        if (step.relocationsLeft > 0) this.#scheduleCleaning()
      }
    })
  }

  #readSource(treeName: string): RangeSource {
    if (treeName === '') return this.#reads
    const core = this.#core
    return { core, snapshot: null, check: () => core.check(), tree: () => this.#readTree(treeName) }
  }

  #readTree(name: string): number {
    return this.#core.treeId(name)
  }

  #writeTree(name: string): number {
    const id = this.#core.treeId(name)
    if (id === TREE_MISSING) throw new Error(`ved: native gave no tree id for "${name}" in a writable store`)
    return id
  }
}

/** One named tree of a store: `store.tree(name)`. Reads see the newest sealed version. */
export class TreeView<V = any, K extends string | Buffer = string> {
  readonly name: string
  readonly #store: Store<any, K>

  /** Made by Store.tree only. */
  constructor(store: Store<any, K>, name: string) {
    this.#store = store
    this.name = name
  }

  get(key: Key): V | undefined {
    const core = internals.core(this.#store)
    core.check()
    core.refresh()
    return core.get(SNAPSHOT_NEWEST, internals.readTree(this.#store, this.name), key) as V | undefined
  }

  getRange(options?: RangeOptions): RangeIterable<V, K> {
    const core = internals.core(this.#store)
    core.check()
    return new RangeIterable<V, K>(internals.readSource(this.#store, this.name), parseRange(core, options))
  }

  getKeys(options?: RangeOptions): KeyIterable<K> {
    const core = internals.core(this.#store)
    core.check()
    return new KeyIterable<K>(internals.readSource(this.#store, this.name), parseRange(core, options))
  }

  put(key: Key, value: V): Promise<number> {
    return internals.writeOne(this.#store, this.name, key, value, false)
  }

  del(key: Key): Promise<number> {
    return internals.writeOne(this.#store, this.name, key, undefined, true)
  }
}

function nativeOpenOptions(options: ResolvedOptions): NativeOpenOptions {
  return {
    readOnly: options.readOnly,
    sync: options.sync,
    create: options.create,
    segmentSizeBytes: options.segmentSizeBytes,
    maxStoreSizeBytes: options.maxStoreSizeBytes,
    checkpointIntervalCommits: options.checkpointIntervalCommits,
    maxSpaceAmplification: options.maxSpaceAmplification,
    completionWait: options.completionWait,
    faultSeed: options.faultSeed,
  }
}

function isAsyncFunction(fn: Function): boolean {
  const tag = Object.prototype.toString.call(fn)
  return tag === '[object AsyncFunction]' || tag === '[object AsyncGeneratorFunction]'
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function'
}

function asyncCallbackError(): VedError {
  return new VedError('EINVAL', 'a transaction callback must be synchronous (it returned a promise); nothing was committed')
}

export type { RangeEntry, RangeOptions, StoreOptions }
