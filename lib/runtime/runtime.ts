// Runtime: opens a store and runs domains on it.
//
//   send / inbox / timer / settlement --> instance queue --> ready list
//   drain (one synchronous pass):  for each ready instance, one slice -> PendingWrites
//                                   ... up to SLICES_PER_COMMIT_MAX slices ...
//                                   one commit (commitBytes: sealed; the next drain may start)
//   output gate: when that commit is durable -> replies, effects, messages, timers, records
//
// Invariants:
// - A domain runs one slice at a time, in queue order; different domains interleave.
// - Nothing a slice produced leaves the process before its commit is durable: replies,
//   effect dispatches, deliveries to other domains, timer alarms and slice records all wait
//   for the commit's promise. Commits resolve in order, so releases happen in slice order.
// - A failed commit (EIO, ENOSPC) poisons the runtime: its in-memory bookkeeping may be
//   ahead of the store, so every pending and later send rejects with that error; reopen.
// - Resume: on open (and when a definition is first registered) the durable inbox, outbox
//   and timers of that definition's domains are scanned: inbox messages queue, unsettled
//   effects dispatch again with their id, timers arm (a due one fires at once).
import { randomBytes } from 'node:crypto'
import { describeValue, VedError, type VedErrorCode } from '../errors.js'
import { limits } from '../addon.js'
import { Store } from '../store.js'
import { decode, encode } from './codec.js'
import { checkIntent } from './context.js'
import { isDefinition, type DomainDefinition, type IntentInfo } from './domain.js'
import { EffectRunner, type EffectJob } from './effects.js'
import { DomainHandle, INSTANCE_SLOT, type HandleHost, type SendOptions } from './handle.js'
import { InstanceCache, type Instance, type QueuedIntent } from './instance.js'
import { checkDomainKey, checkEngineKey, domainId, GLOBAL_KEY, kindRange, registryKey, replyKey, splitKindKey } from './keys.js'
import { errorInfo, type SliceRecord } from './record.js'
import { runSlice, type OutboxEntry, type SliceEnv, type SliceOutputs, type StoredIntent } from './slice.js'
import { resolveOptions, sendId, type Resolved, type RuntimeOptions, type RuntimeStats } from './options.js'
import { Ring } from './ring.js'
import { TimerSet } from './timers.js'
import { sliceTiming } from './timing.js'
import { stateView } from './views.js'
import { PendingWrites } from './writes.js'
import { Journal } from '../journal/reader.js'
import { JOURNAL_SEND_ID_BYTES_MAX } from '../journal/keys.js'
import { JournalWriter } from '../journal/writer.js'


const CONSTRUCT = Symbol('Runtime.construct')
/** The value of a domain's entry in the index of domains (keys.ts). */
const EMPTY_VALUE = Buffer.alloc(0)

/**
 * A drain stops taking slices past this many value bytes. With each slice at most a quarter
 * of the transaction limit (slice.ts), a commit stays under the limit.
 */
const COMMIT_VALUE_BYTES_SOFT_MAX = Math.floor(limits.txnSizeBytesMax / 4)

export class Runtime implements AsyncDisposable, HandleHost {
  readonly #store: Store<Buffer>
  readonly #writes: PendingWrites
  readonly #options: Resolved
  readonly #definitions = new Map<string, DomainDefinition>()
  readonly #cache: InstanceCache
  readonly #ready = new Ring<Instance>()
  readonly #effects: EffectRunner
  readonly #timers: TimerSet
  readonly #env: SliceEnv
  readonly #journalWriter: JournalWriter | null
  readonly #journal: Journal
  /** Commits sealed and not yet released by the gate. */
  readonly #held = new Set<Promise<unknown>>()
  readonly #quietWaiters: Array<() => void> = []
  #inboxSeq: number
  /**
   * Ids of sends without one: `<name>/<key>/~<open>:<n>`, a random tag per open plus a
   * counter. Unique across opens like a UUID per send, at the cost of one random tag per
   * open (randomUUID per send was ~4% of a slice's CPU time); naming the domain lets the
   * journal find the intent without an index key per send (lib/journal/keys.ts).
   */
  readonly #openTag = randomBytes(9).toString('base64url')
  #sendCount = 0
  /** Instances whose meta changed in the current drain. */
  readonly #dirtyMetas: Instance[] = []
  #inboxSeqDirty = false
  #drainScheduled = false
  #closing: Promise<void> | null = null
  #failure: unknown = null

  /** Opens (or creates) the store at `options.path` and resumes the listed domains. */
  static async open(options: RuntimeOptions): Promise<Runtime> {
    const resolved = resolveOptions(options)
    const store = await Store.open<Buffer>(options.path, { ...options.store, encoding: 'binary' })
    try {
      const runtime = new Runtime(CONSTRUCT, store, resolved)
      for (const definition of options.domains ?? []) runtime.#register(definition)
      return runtime
    } catch (error) {
      await store.close().catch(() => {})
      throw error
    }
  }

  /** Made by Runtime.open only. */
  constructor(token: typeof CONSTRUCT, store: Store<Buffer>, options: Resolved) {
    if (token !== CONSTRUCT) throw new VedError('EINVAL', 'use Runtime.open({ path }) to open a runtime')
    this.#store = store
    this.#options = options
    this.#writes = new PendingWrites(store)
    this.#cache = new InstanceCache(options.domainCacheCount)
    this.#effects = new EffectRunner(options.effectConcurrency, (job, outcome) => this.#settle(job as SettleJob, outcome))
    this.#timers = new TimerSet((key) => this.#fireTimer(key))
    this.#journalWriter =
      options.journal === null
        ? null
        : new JournalWriter(
            {
              writes: this.#writes,
              definitionOf: (name) => this.#definitions.get(name),
              definitions: () => this.#definitions.values(),
              instance: (definition, key) => this.#cache.get(definition, key),
              metaChanged: (instance) => this.#env.metaChanged(instance),
              scheduleDrain: () => this.#scheduleDrain(),
              running: () => this.#closing === null && this.#failure === null,
              busy: () => this.#ready.length > 0 || this.#held.size > 0,
            },
            options.journal,
          )
    this.#journal = new Journal(store, { definitionOf: (name) => this.#definitions.get(name), enabled: options.journal !== null })
    const global = this.#writes.get(GLOBAL_KEY)
    this.#inboxSeq = global === undefined ? 0 : (decode(global) as { seq: number }).seq
    this.#env = {
      writes: this.#writes,
      checkDeterminism: options.checkDeterminism,
      replyMemoryCount: options.replyMemoryCount,
      observe: options.onSlice !== null,
      journal: this.#journalWriter,
      definitionOf: (name) => this.#definitions.get(name),
      nextInboxSeq: () => {
        this.#inboxSeqDirty = true
        return ++this.#inboxSeq
      },
      metaChanged: (instance) => {
        if (instance.metaDirty) return
        instance.metaDirty = true
        this.#dirtyMetas.push(instance)
      },
    }
  }

  /** The underlying store (encoding 'binary'); for inspection, not for writing runtime keys. */
  get store(): Store<Buffer> {
    return this.#store
  }

  /** The causal journal: the recent slices of each domain, lineages, who wrote what, past states. */
  get journal(): Journal {
    return this.#journal
  }

  get closed(): boolean {
    return this.#closing !== null
  }

  /**
   * The handle of domain `key` of `definition`. Registers the definition on first use: its
   * domains resume from that moment. Throws EVERSION when the store holds a newer version.
   */
  domain<D extends DomainDefinition<any, any, any, any>>(definition: D, key: string): DomainHandle<D> {
    this.#checkOpen()
    if (!isDefinition(definition)) throw new VedError('EINVAL', `runtime.domain needs a definition from defineDomain, got ${describeValue(definition)}`)
    checkDomainKey(definition.name, key)
    this.#register(definition)
    this.#migrateSoon(definition, key)
    return new DomainHandle<D>(this, definition, key)
  }

  /** Counts for monitoring and tests: domains in memory, domains waiting to run, commits behind the gate, effects running, timers armed. */
  stats(): RuntimeStats {
    return {
      domainsCached: this.#cache.size,
      domainsReady: this.#ready.length,
      commitsHeld: this.#held.size,
      effectsRunning: this.#effects.running,
      timersArmed: this.#timers.size,
      journal: this.#journalWriter?.stats() ?? null,
    }
  }

  /** Resolves when nothing is queued, no commit awaits its gate and no effect runs (timers may still be armed). */
  quiet(): Promise<void> {
    if (this.#isQuiet()) return Promise.resolve()
    return new Promise((resolve) => this.#quietWaiters.push(resolve))
  }

  /**
   * Stops taking sends (ECLOSED), rejects queued sends that have not run (ECLOSED; durable
   * inbox messages, timers and effects stay stored for the next open), aborts running
   * effects, releases what is already committed, and closes the store. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closing === null) this.#closing = this.#close()
    return this.#closing
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  // ---- HandleHost ----------------------------------------------------------------------

  send(handle: DomainHandle, type: string, payload: unknown, options: SendOptions | undefined): Promise<unknown> {
    const { definition, key } = handle
    try {
      this.#checkOpen()
      payload = checkIntent(definition, type, payload)
      const bytes = payload === undefined ? null : encode(payload, `the payload of ${definition.name}.${type}`)
      const userId = sendId(options)
      if (userId !== undefined && (typeof userId !== 'string' || userId.length === 0)) {
        throw new VedError('EINVAL', `send options.id must be a non-empty string, got ${describeValue(userId)}`)
      }
      const instance = this.#cache.get(definition, key, handle[INSTANCE_SLOT] as Instance | null)
      handle[INSTANCE_SLOT] = instance
      if (userId !== undefined) {
        // A key the engine refuses would fail the whole shared commit: refuse the send instead.
        checkEngineKey(replyKey(instance.id, userId), 'send options.id')
        if (this.#journalWriter !== null && Buffer.byteLength(userId) > JOURNAL_SEND_ID_BYTES_MAX) {
          throw new VedError('EKEYSIZE', `send options.id is over ${JOURNAL_SEND_ID_BYTES_MAX} bytes, the most the journal indexes`)
        }
        const pending = instance.pendingIds.get(userId)
        if (pending !== undefined) return pending
        const remembered = this.#writes.get(replyKey(instance.id, userId))
        if (remembered !== undefined) return this.#rememberedReply(remembered)
      }
      const id = userId ?? `${definition.name}/${key}/~${this.#openTag}:${(this.#sendCount++).toString(36)}`
      const info: IntentInfo = { id, type, causedBy: null, root: id, from: null }
      const promise = new Promise<unknown>((resolve, reject) => {
        this.#enqueue(instance, { info, payload: bytes, source: { kind: 'send', resolve, reject, remember: userId !== undefined } })
      })
      if (userId !== undefined) {
        instance.pendingIds.set(userId, promise)
        const forget = (): void => {
          instance.pendingIds.delete(userId)
        }
        promise.then(forget, forget)
      }
      return promise
    } catch (error) {
      return Promise.reject(error)
    }
  }

  state(definition: DomainDefinition, key: string): Record<string, unknown> {
    this.#checkOpen()
    const id = domainId(definition.name, key)
    // Map sizes come from the meta in memory when the domain is loaded: it may be ahead of PendingWrites inside a drain.
    return stateView(definition, id, this.#writes, () => this.#cache.peek(id)?.loadedMeta ?? null)
  }

  // ---- registration and resume -----------------------------------------------------------

  #register(definition: DomainDefinition): void {
    if (!isDefinition(definition)) throw new VedError('EINVAL', `domains must hold definitions from defineDomain, got ${describeValue(definition)}`)
    const known = this.#definitions.get(definition.name)
    if (known === definition) return
    if (known !== undefined) throw new VedError('EINVAL', `another definition named ${definition.name} is already registered in this runtime`)
    const stored = this.#writes.get(registryKey(definition.name))
    const storedVersion = stored === undefined ? 0 : (decode(stored) as { v: number }).v
    if (storedVersion > definition.version) {
      throw new VedError('EVERSION', `the store holds domain ${definition.name} at version ${storedVersion}, newer than this definition (version ${definition.version}); open it with the newer code`)
    }
    if (storedVersion > 0 && storedVersion < definition.version && definition.migrate === null) {
      throw new VedError('EVERSION', `the store holds domain ${definition.name} at version ${storedVersion}; version ${definition.version} needs a migrate function to open it`)
    }
    if (storedVersion < definition.version) {
      this.#writes.put(registryKey(definition.name), encode({ v: definition.version }, 'registry entry'))
      this.#scheduleDrain()
    }
    this.#definitions.set(definition.name, definition)
    this.#resume(definition)
  }

  #resume(definition: DomainDefinition): void {
    const name = definition.name
    for (const [engineKey, bytes] of this.#writes.prefixEntries(kindRange('i', name).start)) {
      const { key } = splitKindKey(engineKey, name)
      this.#enqueueStored(definition, key, engineKey, decode(bytes) as StoredIntent, 'inbox')
    }
    for (const [engineKey, bytes] of this.#writes.prefixEntries(kindRange('o', name).start)) {
      const { key, rest } = splitKindKey(engineKey, name)
      this.#dispatch(definition, key, engineKey, `${name}/${key}/${rest}`, decode(bytes) as OutboxEntry)
    }
    for (const [engineKey, bytes] of this.#writes.prefixEntries(kindRange('t', name).start)) {
      this.#timers.arm(engineKey, (decode(bytes) as StoredIntent).due ?? 0)
    }
  }

  // ---- queues and the drain ----------------------------------------------------------------

  #enqueue(instance: Instance, intent: QueuedIntent): void {
    instance.queue.push(intent)
    if (!instance.inReady) {
      instance.inReady = true
      this.#ready.push(instance)
    }
    this.#scheduleDrain()
  }

  /** Queues a migration of a domain stored by an older version, so its state is current without waiting for an intent. */
  #migrateSoon(definition: DomainDefinition, key: string): void {
    if (definition.version === 1) return
    const instance = this.#cache.get(definition, key)
    if (instance.migrationQueued) return
    const meta = instance.meta(this.#writes)
    if (meta.n === 0 || meta.v >= definition.version) return
    instance.migrationQueued = true
    const id = `${definition.name}/${key}/migrate-${meta.v}-${definition.version}`
    this.#enqueue(instance, { info: { id, type: 'ved.migrate', causedBy: null, root: id, from: null }, payload: null, source: { kind: 'migrate' } })
  }

  #enqueueStored(definition: DomainDefinition, key: string, engineKey: string, stored: StoredIntent, kind: 'inbox' | 'timer'): void {
    const instance = this.#cache.get(definition, key)
    if (instance.queued.has(engineKey)) return
    instance.queued.add(engineKey)
    const info: IntentInfo = { id: stored.id, type: stored.type, causedBy: stored.causedBy, root: stored.root, from: stored.from }
    this.#enqueue(instance, { info, payload: stored.payload, source: { kind, key: engineKey } })
  }

  #scheduleDrain(): void {
    if (this.#drainScheduled || this.#closing !== null || this.#failure !== null) return
    this.#drainScheduled = true
    queueMicrotask(() => this.#drain())
  }

  #drain(): void {
    this.#drainScheduled = false
    if (this.#closing !== null || this.#failure !== null) return
    const outputs: SliceOutputs[] = []
    let promise: Promise<number> | null
    try {
      // The byte bound keeps a commit of big slices under the engine's transaction limit.
      while (outputs.length < this.#options.slicesPerCommitMax && this.#writes.valueBytes < COMMIT_VALUE_BYTES_SOFT_MAX) {
        const instance = this.#ready.shift()
        if (instance === undefined) break
        instance.inReady = false
        const intent = instance.queue.shift()
        if (intent !== undefined) {
          const output = runSlice(this.#env, instance, intent)
          if (output !== null) outputs.push(output)
        }
        if (instance.queue.length > 0) {
          instance.inReady = true
          this.#ready.push(instance)
        }
      }
      for (const instance of this.#dirtyMetas) {
        this.#writes.put(instance.metaKey, instance.encodeMeta())
        if (instance.needsIndex) {
          this.#writes.put(instance.indexKey, EMPTY_VALUE)
          instance.needsIndex = false
        }
        instance.metaDirty = false
      }
      this.#dirtyMetas.length = 0
      if (this.#inboxSeqDirty) {
        this.#writes.put(GLOBAL_KEY, encode({ seq: this.#inboxSeq }, 'global counters'))
        this.#inboxSeqDirty = false
      }
      this.#journalWriter?.seal()
      const commitStartedMs = sliceTiming.enabled ? performance.now() : 0
      promise = this.#writes.commit()
      if (sliceTiming.enabled && promise !== null) {
        sliceTiming.commitMs.push(performance.now() - commitStartedMs)
        sliceTiming.commitSlices.push(outputs.length)
      }
      this.#journalWriter?.afterCommit()
    } catch (error) {
      // A bug or an engine refusal of the whole commit: the bookkeeping can no longer be trusted.
      this.#fail(error, outputs)
      return
    }
    if (promise !== null) this.#hold(promise, outputs)
    else this.#release(outputs)
    // Yield to I/O (durable callbacks, effect outcomes) before the next batch.
    if (this.#ready.length > 0 && !this.#drainScheduled) {
      this.#drainScheduled = true
      setImmediate(() => this.#drain())
    }
    this.#cache.evict()
    this.#notifyQuiet()
  }

  // ---- the output gate ---------------------------------------------------------------------

  #hold(promise: Promise<number>, outputs: SliceOutputs[]): void {
    const held = promise.then(
      () => this.#release(outputs),
      (error) => this.#fail(error, outputs),
    )
    this.#held.add(held)
    held.finally(() => {
      this.#held.delete(held)
      this.#notifyQuiet()
    })
  }

  #release(outputs: SliceOutputs[]): void {
    const open = this.#closing === null
    for (const output of outputs) {
      const source = output.intent.source
      if (source.kind === 'send') {
        if (output.ok) source.resolve(output.reply)
        else source.reject(output.error)
      }
      // The record first: it describes the slice whose outputs follow.
      if (output.record !== null) this.#observe(output.record)
      if (open) {
        const definition = output.instance.definition
        for (const effect of output.effects) this.#dispatch(definition, output.instance.key, effect.key, effect.id, effect.entry)
        for (const message of output.messages) this.#deliver(message.domain, message.domainKey, message.key, message.stored)
        for (const timer of output.timers) this.#timers.arm(timer.key, timer.stored.due ?? 0)
      }
      for (const key of output.cancelled) this.#timers.disarm(key)
    }
  }

  /** Hands a record to onSlice; a throwing listener must not stop the release of other outputs. */
  #observe(record: SliceRecord): void {
    try {
      this.#options.onSlice?.(record)
    } catch (error) {
      process.emitWarning(`ved: onSlice threw for ${record.domain}/${record.key} slice ${record.slice}: ${String((error as Error)?.message ?? error)}`)
    }
  }

  #fail(error: unknown, outputs: SliceOutputs[]): void {
    if (this.#failure === null) this.#failure = error
    for (const output of outputs) if (output.intent.source.kind === 'send') output.intent.source.reject(error)
    for (const instance of this.#cache.all()) rejectQueued(instance, error)
    this.#ready.clear()
    this.#timers.clear()
    this.#effects.close()
    this.#journalWriter?.close()
    this.#notifyQuiet()
  }

  // ---- effects, messages, timers -----------------------------------------------------------------

  #dispatch(definition: DomainDefinition, key: string, outboxKey: string, id: string, entry: OutboxEntry): void {
    const impl = definition.effects.get(entry.effect)
    // An effect the current definition no longer declares settles as failed, so its domain hears of it.
    const job: SettleJob = {
      id,
      effect: entry.effect,
      impl: impl ?? (() => Promise.reject(new VedError('EEFFECT', `domain ${definition.name} no longer declares effect ${entry.effect}`))),
      payload: entry.payload,
      attempt: entry.attempt,
      definition,
      key,
      outboxKey,
      root: entry.root,
    }
    this.#effects.dispatch(job)
  }

  #settle(job: SettleJob, outcome: { ok: true; result: unknown } | { ok: false; error: unknown }): void {
    if (this.#closing !== null || this.#failure !== null) return
    const payload = job.payload === null ? undefined : decode(job.payload)
    let bytes: Buffer
    let type = `${job.effect}.done`
    try {
      if (!outcome.ok) throw outcome.error
      bytes = encode({ id: job.id, payload, result: outcome.result }, `the result of effect ${job.id}`)
    } catch (error) {
      type = `${job.effect}.failed`
      bytes = encode({ id: job.id, payload, error: errorInfo(error), attempt: job.attempt }, `the failure of effect ${job.id}`)
    }
    const instance = this.#cache.get(job.definition, job.key)
    const queuedKey = `${job.outboxKey}#${job.attempt}`
    if (instance.queued.has(queuedKey)) return
    instance.queued.add(queuedKey)
    const info: IntentInfo = { id: `${job.id}#${job.attempt}`, type, causedBy: job.id, root: job.root, from: null }
    this.#enqueue(instance, { info, payload: bytes, source: { kind: 'settle', key: job.outboxKey, attempt: job.attempt } })
  }

  #deliver(name: string, key: string, engineKey: string, stored: StoredIntent): void {
    const definition = this.#definitions.get(name)
    // Unknown definitions keep the message in their inbox until they register.
    if (definition === undefined) return
    this.#enqueueStored(definition, key, engineKey, stored, 'inbox')
  }

  #fireTimer(engineKey: string): void {
    if (this.#closing !== null || this.#failure !== null) return
    const bytes = this.#writes.get(engineKey)
    if (bytes === undefined) return
    const name = engineKey.slice(1, engineKey.indexOf('\0'))
    const definition = this.#definitions.get(name)
    if (definition === undefined) return
    const { key } = splitKindKey(engineKey, name)
    this.#enqueueStored(definition, key, engineKey, decode(bytes) as StoredIntent, 'timer')
  }

  // ---- misc ---------------------------------------------------------------------------------------

  async #rememberedReply(bytes: Buffer): Promise<unknown> {
    // The first reply may be sealed but not yet durable: wait, as its own send would have.
    await this.#store.flushed
    const remembered = decode(bytes) as { ok: boolean; v?: Buffer | null; e?: { name: string; message: string; code?: string } }
    if (remembered.ok) return remembered.v === null || remembered.v === undefined ? undefined : decode(remembered.v)
    throw rememberedError(remembered.e ?? { name: 'Error', message: 'unknown error' })
  }

  #checkOpen(): void {
    if (this.#closing !== null) throw new VedError('ECLOSED', 'runtime is closed')
    if (this.#failure !== null) {
      const failure = this.#failure as { code?: unknown; message?: unknown }
      const code = (typeof failure.code === 'string' ? failure.code : 'EIO') as VedErrorCode
      throw new VedError(code, `runtime stopped after a failed commit (${String(failure.message ?? failure)}); reopen it`)
    }
  }

  #isQuiet(): boolean {
    return this.#ready.length === 0 && !this.#drainScheduled && this.#held.size === 0 && this.#effects.running === 0
  }

  #notifyQuiet(): void {
    if (this.#quietWaiters.length === 0 || !(this.#isQuiet() || this.#closing !== null || this.#failure !== null)) return
    for (const resolve of this.#quietWaiters.splice(0)) resolve()
  }

  async #close(): Promise<void> {
    const closed = new VedError('ECLOSED', 'runtime closed before this intent ran; it was not applied')
    for (const instance of this.#cache.all()) rejectQueued(instance, closed)
    this.#ready.clear()
    this.#timers.clear()
    this.#effects.close()
    this.#journalWriter?.close()
    await Promise.allSettled([...this.#held])
    this.#notifyQuiet()
    await this.#store.close()
  }
}

interface SettleJob extends EffectJob {
  readonly definition: DomainDefinition
  readonly key: string
  readonly outboxKey: string
  readonly root: string
}

function rejectQueued(instance: Instance, error: unknown): void {
  for (const intent of instance.queue) if (intent.source.kind === 'send') intent.source.reject(error)
  instance.queue.length = 0
  instance.queued.clear()
  instance.inReady = false
}

function rememberedError(info: { name: string; message: string; code?: string }): Error {
  if (info.name === 'VedError' && typeof info.code === 'string') return new VedError(info.code as VedErrorCode, info.message)
  return new VedError('EHANDLER', `${info.name}: ${info.message}`)
}
