// JournalWriter: records every slice into the journal tree, in the slice's own commit, and
// compacts what falls out of the retention window in the background.
//
//   slice -> record(): entry (into its domain's time batch of this drain) + locator + effect
//            index keys -> PendingWrites (the domain's JournalMeta counts entries and bytes and
//            names its newest time batch; over the bound -> backlog)
//   timer -> step(): for backlog domains, their oldest entries in the domain region first;
//            a domain still over its bound then waits for the cursor, which takes the time
//            region's oldest batches in order: entries of a domain over its bound are
//            deleted, the rest move to their domain's region. At most STEP_ENTRIES_MAX
//            entries per step -> PendingWrites -> the next drain's commit
//   sweep -> every SWEEP_INTERVAL_MS, the metas of registered domains, a chunk per tick:
//            idle domains whose oldest entry aged out, and domains with kept entries
//
// Invariants:
// - An entry and its index keys are written and deleted in the same commit as the domain's
//   JournalMeta, so the counts always match the entries on disk.
// - Retention per domain: entries of slices [first, n] are the window; compaction deletes
//   from `first` while the window is over keepSlices, keepBytes or keepMs. An entry whose
//   lineage (root) has an unsettled effect is not deleted: it leaves the window as a "kept"
//   entry (k marker) and is deleted by a later step once that lineage settled.
// - Bounded work: a step deletes or moves at most STEP_ENTRIES_MAX entries (plus the rest of
//   one batch); the backlog and the waiting set hold each domain at most once (bounded by the
//   number of domains). Neither reads more of the journal than what it deletes or moves.
// - The cursor only ever takes the oldest time batch, so for each domain what is left in the
//   time region is its newest entries, and its chain from `head` stays whole.
import { limits } from '../addon.js'
import { VedError } from '../errors.js'
import { decode, encode } from '../runtime/codec.js'
import type { DomainDefinition } from '../runtime/domain.js'
import type { Instance, Meta, QueuedIntent } from '../runtime/instance.js'
import type { PendingWrites } from '../runtime/writes.js'
import { NO_SEQ, regionBatchesOf, SLICE_MAX, type Batch } from './batches.js'
import { accountedBytes, chainHeader, decodeHeader, encodeBatch, encodeChainBatch, encodeEntry, peekEntry, splitBatch, type ChainHeader, type EntryHeader, type JournalMeta, type StoredEffect } from './entry.js'
import { accountedKeyLength, effectKey, entryKey, keptKey, keptRange, locatorKey, seqOfTimeKey, sliceOfEntryKey, TIME_RANGE, timeKey, unsettledKey } from './keys.js'
import type { JournalRetention } from './options.js'

/**
 * Entries deleted by one step at most: keeps the commit it rides on short, yet lets compaction
 * keep up with one domain running flat out (512 fell behind: 22K of 94K deleted by the end of a
 * 95K-slice burst, the journal past its bound while the burst lasted).
 */
const STEP_ENTRIES_MAX = 4096
/** Pause between steps while the backlog is not empty (a step also runs when a domain first goes over). */
const STEP_INTERVAL_MS = 5
/** How often idle domains are checked for entries past keepMs. */
const SWEEP_INTERVAL_MS = 60_000
/** Metas read per sweep tick. */
const SWEEP_CHUNK = 1024

export interface JournalHost {
  readonly writes: PendingWrites
  definitionOf(name: string): DomainDefinition | undefined
  definitions(): Iterable<DomainDefinition>
  instance(definition: DomainDefinition, key: string): Instance
  metaChanged(instance: Instance): void
  scheduleDrain(): void
  /** False once the runtime closed or failed: no more steps. */
  running(): boolean
}

/** What one slice did, in the writer's terms. */
export interface SliceParts {
  /** [path, before, after], migration changes first. */
  changes: Array<[string, Buffer | null, Buffer | null]>
  effects: ReadonlyArray<{ readonly id: string; readonly effect: string; readonly payload: Buffer | null; readonly attempt: number }>
  messages: ReadonlyArray<{ readonly id: string; readonly domain: string; readonly key: string; readonly type: string }>
  timers: ReadonlyArray<{ readonly id: string; readonly type: string; readonly due: number }>
  cancelled: readonly string[]
  reply: Buffer | null
  error: { name: string; message: string; code?: string } | null
  migrated: [number, number] | null
}

export interface JournalStats {
  /** Entries recorded since open. */
  entriesWritten: number
  /** Entries deleted by compaction since open. */
  entriesDeleted: number
  /** Entries that left the window but were kept for an unsettled lineage, since open. */
  entriesKept: number
  /** Compaction steps run since open. */
  steps: number
  /** Domains waiting for compaction (in the backlog, or over their bound in the time region). */
  backlogDomains: number
  /** Entries the cursor moved from the time region to their domain's region since open (still in their window). */
  entriesMoved: number
  /** Full sweeps of the stored domains finished since open. */
  sweeps: number
}

export class JournalWriter {
  readonly retention: JournalRetention
  readonly #host: JournalHost
  /** Domains over their bound: id -> [name, key]. Map order = step order. */
  readonly #backlog = new Map<string, [string, string]>()
  #stepTimer: NodeJS.Timeout | null = null
  #sweepTimer: NodeJS.Timeout | null = null
  /** Domains still over their bound once their domain region is compacted: the cursor's work. */
  readonly #waiting = new Map<string, [string, string]>()
  #stats: JournalStats = { entriesWritten: 0, entriesDeleted: 0, entriesKept: 0, steps: 0, backlogDomains: 0, entriesMoved: 0, sweeps: 0 }
  /** Seq of the next time batch: one past the newest stored (read at open, one key). */
  #nextSeq = 0
  /**
   * Unsettled effects per root, mirroring the `u` keys (read once at open, then kept by
   * record()): compaction asks for every entry it drops, and a map lookup is what that can afford.
   */
  readonly #unsettled = new Map<string, number>()
  /** The batch each domain is filling in the current drain (sealed before the commit). */
  readonly #open = new Map<string, OpenBatch>()

  /** Value bytes an entry keeps at most (payloads, reply, before/after); beyond, it keeps none. */
  readonly #valueBytesMax: number

  constructor(host: JournalHost, retention: JournalRetention) {
    this.#host = host
    this.retention = retention
    this.#valueBytesMax = Math.min(retention.keepBytes, ENTRY_VALUE_BYTES_MAX)
    for (const { key } of host.writes.journalTree.getRange({ ...TIME_RANGE, reverse: true, limit: 1 })) this.#nextSeq = seqOfTimeKey(key as string) + 1
    for (const { key } of host.writes.journalTree.getRange({ start: 'u', end: 'v' })) {
      const root = (key as string).slice(1, (key as string).lastIndexOf('\0'))
      this.#unsettled.set(root, (this.#unsettled.get(root) ?? 0) + 1)
    }
    this.#sweepTimer = setInterval(() => this.#sweep(), Math.min(SWEEP_INTERVAL_MS, retention.keepMs))
    this.#sweepTimer.unref()
  }

  /** Writes the batches of the slices recorded since the last seal; the runtime calls it before each commit. */
  seal(): void {
    for (const [id, batch] of this.#open) this.#seal(id, batch)
  }

  #seal(id: string, batch: OpenBatch): void {
    this.#host.writes.putJournal(batch.key, encodeChainBatch({ id, first: batch.first, prev: batch.prev }, batch.entries))
    this.#open.delete(id)
  }

  stats(): JournalStats {
    let backlogDomains = this.#backlog.size
    for (const id of this.#waiting.keys()) if (!this.#backlog.has(id)) backlogDomains++
    return { ...this.#stats, backlogDomains }
  }

  close(): void {
    if (this.#stepTimer !== null) clearTimeout(this.#stepTimer)
    if (this.#sweepTimer !== null) clearInterval(this.#sweepTimer)
    this.#stepTimer = null
    this.#sweepTimer = null
    this.#backlog.clear()
    this.#waiting.clear()
  }

  /** Writes the entry of one slice and its index keys; returns the domain's new JournalMeta. */
  record(instance: Instance, intent: QueuedIntent, slice: number, now: number, parts: SliceParts, meta: JournalMeta | undefined): JournalMeta {
    const writes = this.#host.writes
    const info = intent.info
    const id = instance.id
    const source = intent.source
    // Only ids the sender chose need an index key: the runtime's own ids name their domain.
    const hasLocator = source.kind === 'send' && source.remember
    const bytes = encodeEntry({
      at: now,
      i: info.id,
      y: info.type,
      p: intent.payload,
      c: info.causedBy,
      r: info.root,
      from: info.from,
      ch: parts.changes,
      fx: parts.effects,
      ms: parts.messages,
      tm: parts.timers,
      cx: parts.cancelled,
      rp: parts.reply,
      er: parts.error,
      mg: parts.migrated,
      // A slice too big to keep twice (its values again in the journal) keeps its shape only.
      o: valueBytesOf(intent.payload, parts) > this.#valueBytesMax,
      l: hasLocator,
    })
    let batch = this.#open.get(id)
    if (batch !== undefined && batch.bytes + bytes.length > BATCH_BYTES_MAX) {
      this.#seal(id, batch)
      batch = undefined
    }
    if (batch === undefined) {
      // A domain with nothing in its window starts a new chain: its old head may be gone.
      const prev = meta !== undefined && meta[1] > 0 && meta[5] !== undefined ? meta[5] : NO_SEQ
      const seq = this.#nextSeq++
      batch = { key: timeKey(seq), seq, first: slice, prev, entries: [], bytes: 0 }
      this.#open.set(id, batch)
    }
    batch.entries.push(bytes)
    batch.bytes += bytes.length
    // Counted now, so that the drain's bound on a commit's bytes sees the entry before the batch is written.
    writes.countBytes(bytes.length)
    if (hasLocator) writes.putJournal(locatorKey(info.id, id, slice), EMPTY)
    if (source.kind === 'settle' && info.causedBy !== null) {
      // The effect is settled (for this attempt): its lineage no longer holds entries back.
      const effectBytes = writes.getJournal(effectKey(info.causedBy))
      if (effectBytes !== undefined) {
        const effect = decode(effectBytes) as StoredEffect
        if (effect.a === source.attempt) {
          effect.o = [info.type.endsWith('.done'), slice]
          writes.putJournal(effectKey(info.causedBy), encode(effect, 'an effect record'))
        }
      }
      this.#settled(info.root, info.causedBy)
    }
    for (const effect of parts.effects) {
      const stored: StoredEffect = { d: [instance.definition.name, instance.key], s: slice, i: info.id, a: effect.attempt, o: null }
      writes.putJournal(effectKey(effect.id), encode(stored, 'an effect record'))
      // A retry may be emitted while its first attempt is still unsettled: count it once.
      if (effect.attempt === 1 || writes.getJournal(unsettledKey(info.root, effect.id)) === undefined) {
        writes.putJournal(unsettledKey(info.root, effect.id), EMPTY)
        this.#unsettled.set(info.root, (this.#unsettled.get(info.root) ?? 0) + 1)
      }
    }
    this.#stats.entriesWritten++
    const size = accountedBytes(accountedKeyLength(id), bytes.length + 4, info.id, info.root, hasLocator, effectIdsOf(parts), id.length)
    const next: JournalMeta =
      meta === undefined ? [slice, 1, size, now, 0, batch.seq] : [meta[0], meta[1] + 1, meta[2] + size, meta[1] === 0 ? now : meta[3], meta[4], batch.seq]
    if (this.#over(next, now) || (source.kind === 'settle' && next[4] > 0)) this.#enqueue(id, instance.definition.name, instance.key)
    return next
  }

  #settled(root: string, effectId: string): void {
    const key = unsettledKey(root, effectId)
    if (this.#host.writes.getJournal(key) === undefined) return
    this.#host.writes.delJournal(key)
    const count = (this.#unsettled.get(root) ?? 1) - 1
    if (count > 0) this.#unsettled.set(root, count)
    else this.#unsettled.delete(root)
  }

  #over(meta: JournalMeta, now: number): boolean {
    const { keepSlices, keepBytes, keepMs } = this.retention
    return meta[1] > keepSlices || meta[2] > keepBytes || (meta[1] > 0 && now - meta[3] > keepMs)
  }

  #windowOver(window: Window, now: number): boolean {
    const { keepSlices, keepBytes, keepMs } = this.retention
    return window.count > keepSlices || window.bytes > keepBytes || (window.count > 0 && now - window.oldestAt > keepMs)
  }

  #enqueue(id: string, name: string, key: string): void {
    if (!this.#backlog.has(id)) this.#backlog.set(id, [name, key])
    if (this.#stepTimer === null && this.#host.running()) this.#stepTimer = setTimeout(() => this.#step(), STEP_INTERVAL_MS)
  }

  /** One compaction step over the backlog, then the cursor; its writes commit with the next drain. */
  #step(): void {
    this.#stepTimer = null
    if (!this.#host.running()) return
    this.#stats.steps++
    let budget = STEP_ENTRIES_MAX
    const now = Date.now()
    // A domain's region is compacted at most once per step: the tree read here does not show
    // this step's own pending writes.
    const regionDone = new Set<string>()
    for (const [id, [name, key]] of this.#backlog) {
      if (budget <= 0) break
      this.#backlog.delete(id)
      const definition = this.#host.definitionOf(name)
      if (definition === undefined) continue
      const used = this.#compactRegion(this.#host.instance(definition, key), now, budget)
      budget -= used.processed
      regionDone.add(id)
      // Not done within the budget: back to the end of the line.
      if (!used.done) this.#backlog.set(id, [name, key])
      else if (used.over) this.#waiting.set(id, [name, key])
    }
    if (budget > 0 && this.#waiting.size > 0) budget -= this.#advance(now, budget, regionDone)
    if (budget < STEP_ENTRIES_MAX) this.#host.scheduleDrain()
    if (this.#backlog.size > 0 || this.#waiting.size > 0) this.#stepTimer = setTimeout(() => this.#step(), STEP_INTERVAL_MS)
  }

  /**
   * Deletes what one domain has past its bound in its domain region, oldest first, within
   * `budget` entries. A batch whose oldest entries expire loses them: the rest is written again
   * under the key of its first kept slice. An expired entry of an unsettled lineage moves to a
   * batch of its own. `over`: the region ran out with the domain still over its bound, so the
   * rest is in the time region, for the cursor.
   */
  #compactRegion(instance: Instance, now: number, budget: number): { processed: number; done: boolean; over: boolean } {
    const writes = this.#host.writes
    const id = instance.id
    const meta: Meta = instance.meta(writes)
    if (meta.j === undefined) return { processed: 0, done: true, over: false }
    const window = windowOf(meta.j)
    if (window.kept > 0) this.#dropSettledKept(instance, window, budget)
    let done = window.processed < budget || window.kept === 0
    let exhausted = true
    if (done) {
      for (const batch of regionBatchesOf(writes.journalTree, id, window.first, SLICE_MAX)) {
        const cut = this.#cut(id, window, batch, now, budget)
        this.#replace(id, batch, cut.index, cut.moved, false)
        if (cut.stop === 'budget') done = false
        if (cut.stop !== 'end') {
          exhausted = false
          break
        }
      }
    }
    let over = false
    if (done && exhausted && this.#windowOver(window, now)) {
      // What is left is in the time region; without a chain (a meta from before the time
      // region), nothing is left at all (possible when one entry alone is over keepBytes).
      if (window.count > 0 && meta.j[5] !== undefined && meta.j[5] !== NO_SEQ) over = true
      else {
        window.count = 0
        window.bytes = 0
        window.oldestAt = now
      }
    }
    if (changed(window, meta.j)) {
      instance.setMeta({ ...meta, j: metaOf(window, meta.j) })
      this.#host.metaChanged(instance)
    }
    return { processed: window.processed, done, over }
  }

  /** Kept entries whose lineage has settled since: deleted now. */
  #dropSettledKept(instance: Instance, window: Window, budget: number): void {
    const writes = this.#host.writes
    const id = instance.id
    for (const { key } of writes.journalTree.getRange(keptRange(id))) {
      if (window.processed >= budget) break
      const slice = sliceOfEntryKey(key as string)
      const alone = writes.getJournal(entryKey(id, slice))
      const entry = alone === undefined ? null : decodeHeader(splitBatch(alone)[0]!)
      if (entry !== null && this.#pinned(entry.r)) continue
      if (entry !== null) {
        writes.delJournal(entryKey(id, slice))
        this.#deleteIndexes(instance.id, slice, entry)
        this.#stats.entriesDeleted++
      }
      writes.delJournal(key as string)
      window.kept--
      window.processed++
    }
  }

  /**
   * Expires the oldest entries of `batch` while the domain is over its bound: deleted, or for
   * an unsettled lineage kept (returned in `moved`). `index`: the first entry still in the window.
   */
  #cut(id: string, window: Window, batch: Batch, now: number, budget: number): { index: number; moved: Array<[number, Buffer]>; stop: 'under' | 'budget' | 'end' } {
    const moved: Array<[number, Buffer]> = []
    const count = batch.entries.length
    let index = batch.first < window.first ? Math.min(count, window.first - batch.first) : 0
    for (; index < count; index++) {
      const slice = batch.first + index
      const bytesOfEntry = batch.entries[index]!
      const peek = peekEntry(bytesOfEntry)
      // The oldest entry of the window is the one in hand.
      window.oldestAt = peek.at
      if (!this.#windowOver(window, now)) return { index, moved, stop: 'under' }
      if (window.processed >= budget) return { index, moved, stop: 'budget' }
      // Most entries own no index key and pin nothing: only those that may are decoded.
      const entry = peek.indexed || this.#unsettled.size > 0 ? decodeHeader(bytesOfEntry) : null
      if (entry !== null && this.#pinned(entry.r)) {
        moved.push([slice, bytesOfEntry])
        window.kept++
        this.#stats.entriesKept++
      } else {
        if (entry !== null) this.#deleteIndexes(id, slice, entry)
        this.#stats.entriesDeleted++
      }
      window.processed++
      window.count--
      const keyLength = accountedKeyLength(id)
      window.bytes -= entry === null ? keyLength + bytesOfEntry.length + 4 : accountedBytes(keyLength, bytesOfEntry.length + 4, entry.i, entry.r, entry.l, entry.fx, id.length)
      window.first = slice + 1
    }
    return { index, moved, stop: 'end' }
  }

  /**
   * Writes what #cut left of a batch: kept entries to batches of their own, the rest under the
   * domain-region key of its first slice. A time batch always goes (its rest moves); a
   * domain-region batch only when something was cut.
   */
  #replace(id: string, batch: Batch, cut: number, moved: Array<[number, Buffer]>, fromTime: boolean): void {
    if (cut === 0 && !fromTime) return
    const writes = this.#host.writes
    // Delete first: a moved entry of the batch's first slice takes the same key again.
    writes.delJournal(batch.key)
    for (const [slice, entry] of moved) {
      writes.putJournal(entryKey(id, slice), encodeBatch([entry]))
      writes.putJournal(keptKey(id, slice), EMPTY)
    }
    if (cut < batch.entries.length) writes.putJournal(entryKey(id, batch.first + cut), encodeBatch(cut === 0 ? batch.entries : batch.entries.slice(cut)))
  }

  /** Writes what #cut left of a time batch back under its own key. */
  #keepInTime(batch: Batch, header: ChainHeader, cut: number, moved: Array<[number, Buffer]>): void {
    const writes = this.#host.writes
    for (const [slice, entry] of moved) {
      writes.putJournal(entryKey(header.id, slice), encodeBatch([entry]))
      writes.putJournal(keptKey(header.id, slice), EMPTY)
    }
    if (cut === 0) return
    writes.putJournal(batch.key, encodeChainBatch({ id: header.id, first: batch.first + cut, prev: header.prev }, batch.entries.slice(cut)))
  }

  /**
   * The cursor: takes the time region's oldest batches in order while some domain waits, at
   * most `budget` entries. Returns the entries it deleted, kept or moved.
   */
  #advance(now: number, budget: number, regionDone: Set<string>): number {
    let used = 0
    for (const { key, value } of this.#host.writes.journalTree.getRange(TIME_RANGE)) {
      if (used >= budget || this.#waiting.size === 0) return used
      const step = this.#advanceBatch(key as string, value, now, budget - used, regionDone)
      used += step.used
      if (step.stop) return used
    }
    // The region's end: nothing left there is over any bound.
    this.#waiting.clear()
    return used
  }

  #advanceBatch(key: string, value: Uint8Array, now: number, budget: number, regionDone: Set<string>): { used: number; stop: boolean } {
    const header = chainHeader(value)
    if (header === null) throw new VedError('ECORRUPT', `journal key ${JSON.stringify(key)} of the time region holds a domain-region batch`)
    const id = header.id
    const batch: Batch = { key, first: header.first, entries: splitBatch(value) }
    const separator = id.indexOf('\0')
    const name = id.slice(0, separator)
    const definition = this.#host.definitionOf(name)
    if (definition === undefined) {
      // No definition, no meta to count against: its entries keep their place in the window.
      this.#replace(id, batch, 0, [], true)
      this.#stats.entriesMoved += batch.entries.length
      return { used: batch.entries.length, stop: false }
    }
    const instance = this.#host.instance(definition, id.slice(separator + 1))
    let used = 0
    const before = instance.meta(this.#host.writes).j
    if (before !== undefined && this.#over(before, now) && !regionDone.has(id)) {
      // Its older entries, in its domain region, go first.
      regionDone.add(id)
      const region = this.#compactRegion(instance, now, budget)
      used += region.processed
      if (!region.done) {
        this.#backlog.set(id, [name, id.slice(separator + 1)])
        return { used, stop: true }
      }
    }
    const meta = instance.meta(this.#host.writes)
    if (meta.j === undefined) {
      this.#replace(id, batch, 0, [], true)
      this.#stats.entriesMoved += batch.entries.length
      return { used: used + batch.entries.length, stop: false }
    }
    const window = windowOf(meta.j)
    const cut = this.#cut(id, window, batch, now, budget - used)
    const over = this.#windowOver(window, now)
    if (!over) this.#waiting.delete(id)
    used += window.processed
    if (this.#waiting.size === 0 && cut.stop !== 'end') {
      // The cursor stops here: what is left of the batch keeps its place (and its seq, which
      // the domain's next batch names), so a busy domain's entries are never moved.
      this.#keepInTime(batch, header, cut.index, cut.moved)
    } else {
      this.#replace(id, batch, cut.index, cut.moved, true)
      const movedCount = batch.entries.length - cut.index
      this.#stats.entriesMoved += movedCount
      used += movedCount
    }
    if (changed(window, meta.j)) {
      instance.setMeta({ ...meta, j: metaOf(window, meta.j) })
      this.#host.metaChanged(instance)
    }
    if (over && cut.stop === 'budget') {
      // The rest of its excess just moved to its domain region.
      this.#backlog.set(id, [name, id.slice(separator + 1)])
      return { used, stop: true }
    }
    return { used, stop: false }
  }

  #pinned(root: string): boolean {
    return this.#unsettled.has(root)
  }

  /** Deletes the index keys that still point at an entry being deleted. */
  #deleteIndexes(id: string, slice: number, entry: EntryHeader): void {
    const writes = this.#host.writes
    if (entry.l) writes.delJournal(locatorKey(entry.i, id, slice))
    // A retry re-emits an effect under the same id: its x key then belongs to the later slice.
    for (const effectId of entry.fx) {
      const effectBytes = writes.getJournal(effectKey(effectId))
      if (effectBytes !== undefined && (decode(effectBytes) as StoredEffect).s === slice) writes.delJournal(effectKey(effectId))
    }
  }

  // ---- the sweep: domains that do not run slices still age -----------------------------------

  #sweepCursor: Iterator<[string, Buffer]> | null = null

  #sweep(): void {
    if (!this.#host.running() || this.#sweepCursor !== null) return
    this.#sweepCursor = this.#metas()
    this.#sweepChunk()
  }

  *#metas(): Generator<[string, Buffer]> {
    for (const definition of [...this.#host.definitions()]) {
      const prefix = `m${definition.name}\0`
      yield* this.#host.writes.prefixEntries(prefix)
    }
  }

  #sweepChunk(): void {
    const cursor = this.#sweepCursor
    if (cursor === null || !this.#host.running()) {
      this.#sweepCursor = null
      return
    }
    const now = Date.now()
    for (let i = 0; i < SWEEP_CHUNK; i++) {
      const next = cursor.next()
      if (next.done === true) {
        this.#sweepCursor = null
        this.#stats.sweeps++
        return
      }
      const [metaKey, bytes] = next.value
      const meta = decode(bytes) as Meta
      if (meta.j === undefined) continue
      if (meta.j[4] > 0 || this.#over(meta.j, now)) {
        const body = metaKey.slice(1)
        const separator = body.indexOf('\0')
        this.#enqueue(body, body.slice(0, separator), body.slice(separator + 1))
      }
    }
    setImmediate(() => this.#sweepChunk())
  }
}

const EMPTY = Buffer.alloc(0)

/** A batch holds entries up to this many bytes; a burst past it starts another. */
const BATCH_BYTES_MAX = 1024 * 1024

interface OpenBatch {
  readonly key: string
  readonly seq: number
  readonly first: number
  readonly prev: number
  readonly entries: Buffer[]
  bytes: number
}

/** A domain's retention counts while compaction changes them (JournalMeta's first five fields). */
interface Window {
  first: number
  count: number
  bytes: number
  oldestAt: number
  kept: number
  /** Entries deleted, kept or moved in this step for this domain. */
  processed: number
}

function windowOf(j: JournalMeta): Window {
  return { first: j[0], count: j[1], bytes: j[2], oldestAt: j[3], kept: j[4], processed: 0 }
}

function metaOf(window: Window, j: JournalMeta): JournalMeta {
  const next: JournalMeta = [window.first, window.count, window.bytes, window.oldestAt, window.kept]
  if (j[5] !== undefined) next.push(j[5])
  return next
}

function changed(window: Window, j: JournalMeta): boolean {
  return window.first !== j[0] || window.count !== j[1] || window.bytes !== j[2] || window.oldestAt !== j[3] || window.kept !== j[4]
}

/**
 * Value bytes one entry may keep, whatever keepBytes says: a quarter of the engine's value
 * limit, so an entry always fits in one value next to the slice's own writes.
 */
const ENTRY_VALUE_BYTES_MAX = Math.floor(limits.valueSizeBytesMax / 4)

function* effectIdsOf(parts: SliceParts): Generator<string> {
  for (const effect of parts.effects) yield effect.id
}

function valueBytesOf(payload: Buffer | null, parts: SliceParts): number {
  let bytes = (payload?.length ?? 0) + (parts.reply?.length ?? 0)
  for (const [, before, after] of parts.changes) bytes += (before?.length ?? 0) + (after?.length ?? 0)
  for (const effect of parts.effects) bytes += effect.payload?.length ?? 0
  return bytes
}
