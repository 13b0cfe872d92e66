// Instance: one domain (definition + key) in memory, and the bounded cache that holds them.
//
// Invariants:
// - An instance holds only bookkeeping (meta, queued intents) and a memo of its plain fields
//   (the stored bytes, and primitive values decoded); its state stays in the store, map()
//   entries are read by each slice, so dropping an idle instance loses nothing.
// - An instance is evictable only when idle: nothing queued, not waiting to run, no send
//   with an id in flight. A busy instance stays even past the cache bound.
// - `queued` holds the engine keys (inbox, timer, outbox) of queued intents, so the same
//   durable intent is never queued twice (a resume scan and a gate release may both see it).
import type { JournalMeta } from '../journal/entry.js'
import { decode, encodeCounts } from './codec.js'
import type { DomainDefinition, IntentInfo } from './domain.js'
import { domainId, indexKey, metaKey, readMetaBytes } from './keys.js'
import type { FieldMemo, Reads } from './draft.js'

/** Stored per domain, rewritten by every slice. */
export interface Meta {
  /** Definition version the state is in. */
  v: number
  /** Slices applied so far. */
  n: number
  /** Entry count of each map() field. */
  z: Record<string, number>
  /** Replies remembered so far (the ring's write position). */
  r: number
  /** The journal's counts for this domain (lib/journal/writer.ts); absent until it records a slice. */
  j?: JournalMeta
}

export type IntentSource =
  | { readonly kind: 'send'; readonly resolve: (value: unknown) => void; readonly reject: (error: unknown) => void; readonly remember: boolean }
  | { readonly kind: 'inbox'; readonly key: string }
  | { readonly kind: 'timer'; readonly key: string }
  | { readonly kind: 'settle'; readonly key: string; readonly attempt: number }
  /** Brings a domain stored by an older definition version up to date, with no handler. */
  | { readonly kind: 'migrate' }

/**
 * The entry of `Instance.queued` for a stored intent: its engine key, plus the attempt for a
 * settlement (an outbox key is reused by each retry of its effect, and a stale outcome of
 * an earlier attempt must not hide the current one).
 */
export function queuedKeyOf(source: IntentSource): string | null {
  switch (source.kind) {
    case 'send':
    case 'migrate':
      return null
    case 'settle':
      return `${source.key}#${source.attempt}`
    default:
      return source.key
  }
}

export interface QueuedIntent {
  readonly info: IntentInfo
  /** Encoded payload; null for none. */
  readonly payload: Buffer | null
  readonly source: IntentSource
}

export class Instance {
  readonly definition: DomainDefinition
  readonly key: string
  /** `<name>\0<key>`, shared by every engine key of this domain. */
  readonly id: string
  /** The engine key of the meta, made once: a key built per write is hashed per write. */
  readonly metaKey: string
  /** The key of its entry in the index of domains (keys.ts); written with its first slice. */
  readonly indexKey: string
  /** No stored meta was found: the drain that writes the meta writes the index entry too. */
  needsIndex = false
  readonly queue: QueuedIntent[] = []
  // The two collections below are made on first use: most domains never queue a stored intent
  // or a send with an id, and r1's 10,000 domains load a few thousand instances per second.
  #queued: Set<string> | null = null
  #pendingIds: Map<string, Promise<unknown>> | null = null
  inReady = false
  /** A migrate intent is queued (at most one at a time). */
  migrationQueued = false
  /** The meta changed in this drain and is not in PendingWrites yet. */
  metaDirty = false
  /** When the instance was last used (InstanceCache's counter): eviction spares recent ones. */
  usedAt = 0
  /** Dropped from the cache: whoever kept a reference (a handle) must look the domain up again. */
  evicted = false
  /**
   * The journal's open time batch (its number) and this domain's segment in it, so that
   * recording finds the segment without a lookup by id (lib/journal/writer.ts). The cache
   * evicts only between drains, so a domain has one instance, and one segment, per batch.
   */
  journalBatch = -1
  journalSegment = 0
  /**
   * Plain fields as the store (with pending writes) holds them: filled by drafts' reads,
   * updated by the deltas of slices that succeed, cleared by a migration (draft.ts).
   */
  readonly fields = new Map<string, FieldMemo>()
  #meta: Meta | null = null

  constructor(definition: DomainDefinition, key: string) {
    this.definition = definition
    this.key = key
    this.id = domainId(definition.name, key)
    this.metaKey = metaKey(this.id)
    this.indexKey = indexKey(this.id)
  }

  /** The meta as the next slice sees it (read once, then kept current by the slices). */
  meta(reads: Reads): Meta {
    if (this.#meta === null) {
      const bytes = readMetaBytes((engineKey) => reads.get(engineKey), this.id)
      const stored = bytes === undefined ? null : (decode(bytes) as Meta)
      this.needsIndex = stored === null
      // One shape for every meta, j included: slices update it in place.
      this.#meta = stored === null ? { v: this.definition.version, n: 0, z: {}, r: 0, j: undefined } : { v: stored.v, n: stored.n, z: stored.z, r: stored.r, j: stored.j }
    }
    return this.#meta
  }

  /** Replaces the meta in memory; the runtime writes it once per drain (encodeMeta). */
  setMeta(meta: Meta): void {
    this.#meta = meta
  }

  /** The meta if it was read already, else null (no store read). */
  get loadedMeta(): Meta | null {
    return this.#meta
  }

  encodeMeta(): Buffer {
    if (this.#meta === null) throw new Error('ved: encodeMeta before the meta was read')
    return encodeCounts(this.#meta as unknown as Record<string, unknown>, 'domain meta')
  }

  /** Engine keys (and settlement attempts) of the stored intents queued: see queuedKeyOf. */
  get queued(): Set<string> {
    return (this.#queued ??= new Set())
  }

  /** Sends with an id, queued or waiting for the gate: a repeat joins the first. */
  get pendingIds(): Map<string, Promise<unknown>> {
    return (this.#pendingIds ??= new Map())
  }

  get idle(): boolean {
    return this.queue.length === 0 && !this.inReady && (this.#pendingIds === null || this.#pendingIds.size === 0)
  }
}

/**
 * Instances by id, with eviction of idle ones past `sizeMax`.
 *
 * Recency is a counter stamped on each use, not Map re-insertion: deleting and re-adding
 * the hot entry of a 10,000-entry Map on every send made lookups the top of the profile
 * (46% of CPU time, 4x fewer slices per second). Eviction runs once the cache is past its
 * bound and goes below it by 1/EVICTION_FRACTION of it, in one O(N) pass, so a new instance
 * pays O(EVICTION_FRACTION).
 *
 * Which idle instances go: never one used within the last quarter of the bound's uses (the
 * working set), and among the others, evenly spread ones, not the least recently used. LRU
 * is the worst policy for domains taken in turns: 10,001 domains in a round over a cache of
 * 10,000 missed on every send (each miss a meta read, the whole round reloaded), and r1's
 * 10,000-domain workload shares its runtime with one more domain. Spread evictions miss
 * about 1/EVICTION_FRACTION of such a round; a small hot set stays, being recent.
 */
/**
 * Eviction goes this fraction of the bound below it. Larger: fewer reloads for domains taken
 * in turns (each evicted domain is a miss in the next round), more passes over the cache.
 * 8 missed 12.5% of r1's 10,001-domain round; at 64 a pass over 10,000 instances (~0.1 ms)
 * comes every 156 new instances.
 */
const EVICTION_FRACTION = 64

export class InstanceCache {
  readonly #instances = new Map<string, Instance>()
  readonly #sizeMax: number
  readonly #sizeAfterEviction: number
  /** Instances used within this many uses are not evicted while others can be. */
  readonly #recentUseCount: number
  #useCount = 0

  constructor(sizeMax: number) {
    this.#sizeMax = sizeMax
    this.#sizeAfterEviction = sizeMax - Math.max(1, Math.floor(sizeMax / EVICTION_FRACTION))
    this.#recentUseCount = Math.floor(sizeMax / 4)
  }

  get size(): number {
    return this.#instances.size
  }

  /** The instance with this id if it is in memory; does not count as a use. */
  peek(id: string): Instance | undefined {
    return this.#instances.get(id)
  }

  /** The instance of the domain, loaded if needed. `known`: an instance the caller kept, used when it is still cached. */
  get(definition: DomainDefinition, key: string, known: Instance | null = null): Instance {
    let instance = known
    if (instance === null || instance.evicted) {
      const id = domainId(definition.name, key)
      instance = this.#instances.get(id) ?? null
      if (instance === null) {
        instance = new Instance(definition, key)
        this.#instances.set(id, instance)
      }
    }
    instance.usedAt = ++this.#useCount
    return instance
  }

  all(): IterableIterator<Instance> {
    return this.#instances.values()
  }

  /** Drops idle instances when the cache is past its bound (busy ones stay, even past it). */
  evict(): void {
    if (this.#instances.size <= this.#sizeMax) return
    let excess = this.#instances.size - this.#sizeAfterEviction
    const recentFrom = this.#useCount - this.#recentUseCount
    const older: Instance[] = []
    const recent: Instance[] = []
    for (const instance of this.#instances.values()) {
      if (!instance.idle) continue
      if (instance.usedAt <= recentFrom) older.push(instance)
      else recent.push(instance)
    }
    // Evenly spread over the older ones (Map order is load order), then, only if they do not
    // suffice, the recent ones, oldest first.
    const fromOlder = Math.min(excess, older.length)
    const stride = older.length / Math.max(1, fromOlder)
    for (let i = 0; i < fromOlder; i++) this.#drop(older[Math.floor(i * stride)]!)
    excess -= fromOlder
    if (excess <= 0) return
    recent.sort((a, b) => a.usedAt - b.usedAt)
    for (let i = 0; i < Math.min(excess, recent.length); i++) this.#drop(recent[i]!)
  }

  #drop(instance: Instance): void {
    instance.evicted = true
    this.#instances.delete(instance.id)
  }
}
