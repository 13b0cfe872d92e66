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
import { decode, encode } from '../runtime/codec.js'
import type { DomainDefinition } from '../runtime/domain.js'
import type { Instance, Meta, QueuedIntent } from '../runtime/instance.js'
import { domainId, indexKey, readMetaBytes } from '../runtime/keys.js'
import { markStepPhase, stepTiming } from '../runtime/timing.js'
import type { PendingWrites } from '../runtime/writes.js'
import { NO_SEQ, regionBatchesOf, SLICE_MAX, type Batch } from './batches.js'
import { accountedBytes, decodeHeader, effectAccountedBytes, locatorAccountedBytes, DrainBatch, encodeBatch, encodeTimeBatch, peekEntry, plainRange, splitBatch, timeSegmentOf, timeSegments, type EntryHeader, type JournalMeta, type StoredEffect, type TimeSegment } from './entry.js'
import { accountedKeyLength, effectKey, entryKey, keptKey, keptRange, locatorKey, seqOfTimeKey, sliceOfEntryKey, TIME_RANGE, timeKey, unsettledKey } from './keys.js'
import type { JournalRetention } from './options.js'

/**
 * Entries deleted by one step at most: keeps the commit it rides on short, yet lets compaction
 * keep up with one domain running flat out (512 fell behind: 22K of 94K deleted by the end of a
 * 95K-slice burst, the journal past its bound while the burst lasted).
 */
const STEP_ENTRIES_MAX = 4096
/**
 * Live entries the cursor moves out of the time region per step at most: each is a scattered
 * write (the cost the time region avoids on the slice path), so a long run of them, such as
 * 10,000 domains' entries ahead of a busy domain's, is left to the chains instead.
 */
const CURSOR_MOVES_MAX = 256
/**
 * The cursor moves live entries only while at least this many domains wait: below, their
 * chains stay in memory (CHAINS_MAX) and reach their entries without a write; above, the
 * domains are taking turns and the region's oldest entries are the ones that expire, once the
 * few that do not are out of the way.
 */
const CURSOR_WAITING_MIN = 64
/**
 * ... or while this many waiting domains have no chain in memory: each would read its window's
 * headers (a round-robin domain's window is keepSlices batches), where moving the few live
 * batches that keep the cursor from their entries costs a write each.
 */
const CURSOR_UNCHAINED_MIN = 8
/** Domains whose chain is kept in memory (a chain is a few numbers per time batch of the window). */
const CHAINS_MAX = 256
/** Batches a chain walk reads per step at most, so that a long window is read over several steps. */
const CHAIN_READS_MAX = 4096
/** Pause between steps while the backlog is not empty (a step also runs when a domain first goes over). */
const STEP_INTERVAL_MS = 5
/**
 * Wall time a step works before it stops at its next check, in ms. A step runs on the execution
 * thread: a slice that arrives meanwhile waits for it, and the runtime's p99 target for the time
 * a slice is held up is 50 us. The checks come between batches and every LATE_CHECK_MASK + 1
 * entries, so a step overruns this by one unit of work at most.
 */
const STEP_TIME_MS = 0.02
const LATE_CHECK_MASK = 63
/** Pending writes past which a step asks for a commit even while more steps follow. */
const STEP_PENDING_MAX = 4096
/** Time batches #timeRead keeps from one step to the next at most. */
const TIME_READ_KEPT_MAX = 16
/** Steps whose wall time stepMsP99 is taken over. */
const STEP_SAMPLES = 1024

/** STEP_TIME_MS, unless a test set another (setStepTimeMs). */
let stepTimeMs = STEP_TIME_MS

/**
 * For tests: sets the wall time a step works before it stops (0: every step stops at its
 * first check after its first unit of work) and returns the value it replaces. Not exported by
 * the package: it lets a test cut steps where it wants them cut, which the clock alone does
 * only on a busy machine.
 */
export function setStepTimeMs(ms: number): number {
  const before = stepTimeMs
  stepTimeMs = ms
  return before
}
/** Keys #frontKey reads at a time. */
const FRONT_KEYS_FETCH = 64
/** Keys #front holds past #frontStart while seal() appends to it. */
const FRONT_KEYS_MAX = 4096
/** Bytes of sealed time batches #sealed holds at most. */
const SEALED_BYTES_MAX = 8 * 1024 * 1024
/** Domains #regionEmpty remembers at most. */
const REGION_EMPTY_MAX = 65_536
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
  /** Slices are ready to run or commits wait to be durable (a step's writes can wait for the drain that follows). */
  busy(): boolean
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
  /** Wall time of the longest compaction step since open, in ms: a step runs on the execution thread, and slices queued behind it wait for it. */
  stepMsMax: number
  /** Wall time of all compaction steps since open, in ms. */
  stepMsTotal: number
  /** The median wall time of the last STEP_SAMPLES (1,024) compaction steps, in ms (0 before the first). */
  stepMsP50: number
  /** The 99th percentile of the same. */
  stepMsP99: number
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
  /**
   * Backlog domains whose region waits for the commit (#regionDone), set aside until then:
   * left in the backlog, every step walked past them again (up to the whole backlog).
   */
  readonly #deferred = new Map<string, [string, string]>()
  /**
   * The pause before the next step, made once and re-armed (refresh): a fresh setTimeout after
   * the last one fired took 17-19 us at p90 and 57-66 us at p99 here, against 2.5 / 11-14 us for
   * a refresh (`node bench/timer-arm.js`).
   */
  #stepTimer: NodeJS.Timeout | null = null
  #stepArmed = false
  /** A slice put its domain in the backlog: the timer is armed once the drain's commit is issued (afterCommit). */
  #stepWanted = false
  /** The next step when the last one stopped at its deadline with work left: it runs as soon as the slices queued meanwhile did. */
  #stepImmediate: NodeJS.Immediate | null = null
  #sweepTimer: NodeJS.Timeout | null = null
  /** Domains still over their bound once their domain region is compacted: their excess is in the time region. */
  readonly #waiting = new Map<string, [string, string]>()
  /** Domains whose oldest time batch still holds entries older than their window (#trimTime). */
  readonly #lingering = new Map<string, { name: string; key: string; batchKey: string; seen: number }>()
  /** Time batches of domains compacted through their chain, least recently used first (at most CHAINS_MAX). */
  readonly #chains = new Map<string, Chain>()
  #stats: JournalStats = { entriesWritten: 0, entriesDeleted: 0, entriesKept: 0, steps: 0, stepMsMax: 0, stepMsTotal: 0, stepMsP50: 0, stepMsP99: 0, backlogDomains: 0, entriesMoved: 0, sweeps: 0 }
  /** Wall time of the last STEP_SAMPLES steps, in ms (a ring; step n at n % STEP_SAMPLES). */
  readonly #stepMs = new Float64Array(STEP_SAMPLES)
  /** Seq of the next time batch: one past the newest stored (read at open, one key). */
  #nextSeq = 0
  /**
   * Unsettled effects per root, mirroring the `u` keys (read once at open, then kept by
   * record()): compaction asks for every entry it drops, and a map lookup is what that can afford.
   */
  readonly #unsettled = new Map<string, number>()
  /** The entries recorded since the last seal: the next time batch (sealed before the commit). */
  readonly #drain = new DrainBatch()
  /** Seq of the drain's time batch, taken by its first entry; NO_SEQ while it has none. */
  #drainSeq = NO_SEQ
  /** Counts the seals: an instance whose journalBatch is not this has no segment in #drain. */
  #batchNumber = 0
  /**
   * Time batches compaction read whole, as their segments (null: removed), and those a step
   * changed (#timeDirty), written once at the end of the step: the cursor and the chains cut
   * into the same batch for many domains, which must not be read or encoded again for each.
   * Kept from step to step (up to TIME_READ_KEPT_MAX batches; only compaction changes a stored
   * batch), since a busy domain's oldest batch expires over several short steps.
   */
  readonly #timeRead = new Map<string, Array<TimeSegment | null>>()
  readonly #timeDirty = new Set<string>()
  /**
   * Domains known to have nothing in the domain region: a busy domain's entries stay in the
   * time region, and reading its empty region range was a tenth of each step. Only this writer
   * puts domain-region keys (#putRegion), which takes the domain out.
   */
  readonly #regionEmpty = new Set<string>()
  /**
   * The bytes of time batches sealed since open, while the cursor has not reached them (at most
   * SEALED_BYTES_MAX, the oldest kept): a busy domain's batches expire whole, and reading each
   * back from the store copied it twice (the map to the value buffer, that to a Buffer) for a
   * third of a step. Only this writer writes the time region, and each write goes through here.
   */
  readonly #sealed = new Map<string, Buffer>()
  #sealedBytes = 0
  /** performance.now() past which a step stops at its next check (#late). */
  #deadlineMs = Number.POSITIVE_INFINITY
  /** The cursor's keys of the time region (#frontKey), oldest first from #frontStart. */
  #front: string[] = []
  #frontStart = 0
  /**
   * #front ends with the newest batch: a read of the store found no more, and seal() appends
   * each batch since. Cleared when the list grows past FRONT_KEYS_MAX (its tail is read again).
   */
  #frontComplete = false
  /** The step stopped at its deadline (not at its budget or for want of work). */
  #cutShort = false
  /** Batches chain walks read since open (#progress). */
  #chainReads = 0
  /** #progress() when the step started. */
  #progressAtStart = 0
  /**
   * Domains whose domain region was compacted since the last commit, and whether to its end
   * (false: the step stopped in it). The region is read from the store, which does not show the
   * pending writes of the steps since, so it is compacted at most once per commit; and a domain
   * whose region is not done has none of its time entries cut before it is (oldest first).
   * Cleared by seal(), just before the commit.
   */
  readonly #regionDone = new Map<string, boolean>()
  /** Steps wrote since the last commit (cleared by seal()). */
  #uncommitted = false

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

  /** Writes the time batch of the slices recorded since the last seal; the runtime calls it before each commit. */
  seal(): void {
    this.#clearRegionDone()
    this.#uncommitted = false
    if (this.#drainSeq === NO_SEQ) return
    const seq = this.#drainSeq
    const drain = this.#drain
    const key = timeKey(seq)
    const bytes = drain.encode()
    this.#host.writes.putJournal(key, bytes)
    if (this.#frontComplete) {
      // Bounded: batches the cursor does not reach (domains within their bounds) would pile up.
      if (this.#front.length - this.#frontStart < FRONT_KEYS_MAX) this.#front.push(key)
      else this.#frontComplete = false
    }
    if (this.#sealedBytes + bytes.length <= SEALED_BYTES_MAX) {
      this.#sealed.set(key, bytes)
      this.#sealedBytes += bytes.length
    }
    if (this.#chains.size > 0) {
      for (let segment = 0; segment < drain.segments; segment++) {
        const id = drain.idAt(segment)
        const chain = this.#chains.get(id)
        if (chain === undefined) continue
        // A chain is only cached while its domain's window is not empty, so the new segment follows it.
        if (drain.prevAt(segment) === NO_SEQ) this.#chains.delete(id)
        else chain.batches.push({ seq, first: drain.firstAt(segment) })
      }
    }
    drain.reset()
    this.#drainSeq = NO_SEQ
    this.#batchNumber++
  }

  stats(): JournalStats {
    let backlogDomains = this.#backlog.size
    for (const id of this.#deferred.keys()) if (!this.#backlog.has(id)) backlogDomains++
    const listed = (id: string): boolean => this.#backlog.has(id) || this.#deferred.has(id)
    for (const id of this.#waiting.keys()) if (!listed(id)) backlogDomains++
    for (const id of this.#lingering.keys()) if (!listed(id) && !this.#waiting.has(id)) backlogDomains++
    const samples = this.#stepMs.slice(0, Math.min(this.#stats.steps, STEP_SAMPLES)).sort()
    const at = (q: number): number => (samples.length === 0 ? 0 : samples[Math.min(samples.length - 1, Math.floor(samples.length * q))]!)
    return { ...this.#stats, stepMsP50: at(0.5), stepMsP99: at(0.99), backlogDomains }
  }

  close(): void {
    if (this.#stepTimer !== null) clearTimeout(this.#stepTimer)
    if (this.#stepImmediate !== null) clearImmediate(this.#stepImmediate)
    if (this.#sweepTimer !== null) clearInterval(this.#sweepTimer)
    this.#stepTimer = null
    this.#stepArmed = false
    this.#stepWanted = false
    this.#stepImmediate = null
    this.#sweepTimer = null
    this.#backlog.clear()
    this.#deferred.clear()
    this.#waiting.clear()
    this.#chains.clear()
    this.#lingering.clear()
    this.#regionEmpty.clear()
    this.#regionDone.clear()
    this.#uncommitted = false
    this.#sealed.clear()
    this.#sealedBytes = 0
    this.#front = []
    this.#frontStart = 0
    this.#frontComplete = false
    this.#timeRead.clear()
  }

  /** Writes the entry of one slice and its index keys; returns the domain's new JournalMeta. */
  record(instance: Instance, intent: QueuedIntent, slice: number, now: number, parts: SliceParts, meta: JournalMeta | undefined): JournalMeta {
    const writes = this.#host.writes
    const info = intent.info
    const id = instance.id
    const source = intent.source
    // Only ids the sender chose need an index key: the runtime's own ids name their domain.
    const hasLocator = source.kind === 'send' && source.remember
    // A drain past DRAIN_BATCH_BYTES_MAX goes on in another batch (its domains' segments chained to this one).
    if (this.#drain.entries.offset > DRAIN_BATCH_BYTES_MAX) this.seal()
    let segment = instance.journalBatch === this.#batchNumber ? instance.journalSegment : -1
    if (segment < 0) {
      if (this.#drainSeq === NO_SEQ) this.#drainSeq = this.#nextSeq++
      // A domain with nothing in its window starts a new chain: its old head may be gone.
      const prev = meta !== undefined && meta[1] > 0 && meta[5] !== undefined ? meta[5] : NO_SEQ
      segment = this.#drain.open(id, slice, prev)
      instance.journalBatch = this.#batchNumber
      instance.journalSegment = segment
    }
    const length = this.#drain.append(segment, {
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
    // Counted now, so that the drain's bound on a commit's bytes sees the entry before the batch is written.
    writes.countBytes(length)
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
    let size = accountedKeyLength(id) + length + 4
    if (hasLocator) size += locatorAccountedBytes(info.id, id.length)
    for (const effect of parts.effects) {
      size += effectAccountedBytes(effect.id, info.root, id.length)
      const stored: StoredEffect = { d: [instance.definition.name, instance.key], s: slice, i: info.id, a: effect.attempt, o: null }
      writes.putJournal(effectKey(effect.id), encode(stored, 'an effect record'))
      // A retry may be emitted while its first attempt is still unsettled: count it once.
      if (effect.attempt === 1 || writes.getJournal(unsettledKey(info.root, effect.id)) === undefined) {
        writes.putJournal(unsettledKey(info.root, effect.id), EMPTY)
        this.#unsettled.set(info.root, (this.#unsettled.get(info.root) ?? 0) + 1)
      }
    }
    this.#stats.entriesWritten++
    let next: JournalMeta
    if (meta === undefined) next = [slice, 1, size, now, 0, this.#drainSeq]
    else {
      // In place: a new array per slice outlived the drain (it is the domain's meta until its
      // next slice), so each was promoted and collected by the old generation.
      if (meta[1] === 0) meta[3] = now
      meta[1]++
      meta[2] += size
      meta[5] = this.#drainSeq
      next = meta
    }
    if (this.#over(next, now) || (source.kind === 'settle' && next[4] > 0)) {
      this.#addToBacklog(id, instance.definition.name, instance.key)
      this.#stepWanted = true
    }
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

  #addToBacklog(id: string, name: string, key: string): void {
    if (!this.#backlog.has(id) && !this.#deferred.has(id)) this.#backlog.set(id, [name, key])
  }

  #enqueue(id: string, name: string, key: string): void {
    this.#addToBacklog(id, name, key)
    this.#armStep()
  }

  /**
   * The runtime calls it once a drain's commit is with the flusher: what record() wanted
   * scheduled is scheduled now, so that arming a timer is not on the way to the commit.
   */
  afterCommit(): void {
    if (!this.#stepWanted) return
    this.#stepWanted = false
    this.#armStep()
  }

  /** The next step after STEP_INTERVAL_MS, unless one is armed or follows at once already. */
  #armStep(): void {
    if (this.#stepArmed || this.#stepImmediate !== null || !this.#host.running()) return
    this.#stepArmed = true
    if (this.#stepTimer === null) {
      this.#stepTimer = setTimeout(() => {
        this.#stepArmed = false
        this.#step()
      }, STEP_INTERVAL_MS)
    } else this.#stepTimer.refresh()
  }

  /**
   * One compaction step over the backlog, then the cursor. It stops at STEP_TIME_MS; cut short,
   * the next step follows as soon as the slices queued meanwhile ran (setImmediate), else after
   * STEP_INTERVAL_MS. Its writes ride the next drain's commit: while the runtime is busy, a
   * step cut short does not ask for one (a commit of its own per step cost an fdatasync each,
   * which the slices' next commit then queued behind); the last of a run of steps does, and so
   * does any step once STEP_PENDING_MAX writes are pending. Reads see the pending writes (PendingWrites.getJournal,
   * #regionDone), so a step need not wait for the commit of the one before.
   */
  #step(): void {
    this.#stepImmediate = null
    if (!this.#host.running()) return
    this.#stats.steps++
    const startedMs = performance.now()
    this.#deadlineMs = startedMs + stepTimeMs
    this.#cutShort = false
    this.#progressAtStart = this.#progress()
    const wrote = this.#stepWork()
    this.#deadlineMs = Number.POSITIVE_INFINITY
    const tookMs = performance.now() - startedMs
    this.#stats.stepMsTotal += tookMs
    if (tookMs > this.#stats.stepMsMax) this.#stats.stepMsMax = tookMs
    this.#stepMs[(this.#stats.steps - 1) % STEP_SAMPLES] = tookMs
    const more = this.#backlog.size > 0 || this.#deferred.size > 0 || this.#waiting.size > 0 || this.#lingering.size > 0
    const goingOn = more && this.#cutShort
    if (wrote) this.#uncommitted = true
    // Also when this step wrote nothing: the writes of the steps before it wait for a commit.
    if (this.#uncommitted && (!goingOn || !this.#host.busy() || this.#host.writes.size >= STEP_PENDING_MAX)) this.#host.scheduleDrain()
    // Never armed here: a step runs from the armed timer (which disarms first) or from the
    // immediate, and nothing a step calls arms it.
    if (goingOn) this.#stepImmediate = setImmediate(() => this.#step())
    else if (more) this.#armStep()
  }

  /**
   * True once the step is past its deadline; every loop of a step checks it between units of
   * work. Never before the step has something to show (#progress): a step stopped before its
   * first unit of work would chain another that could stop there too, for as long as the steps
   * overrun their time (a slow or preempted machine), and compaction would not move.
   */
  #late(): boolean {
    if (this.#progress() === this.#progressAtStart) return false
    if (performance.now() <= this.#deadlineMs) return false
    this.#cutShort = true
    return true
  }

  /** The store shows every region as it is again (a commit, or no step writes pending): the set-aside domains rejoin the backlog. */
  #clearRegionDone(): void {
    this.#regionDone.clear()
    for (const [id, entry] of this.#deferred) if (!this.#backlog.has(id)) this.#backlog.set(id, entry)
    this.#deferred.clear()
  }

  /** Grows with each unit of compaction's work: entries deleted, kept or moved, chain batches read. */
  #progress(): number {
    const stats = this.#stats
    return stats.entriesDeleted + stats.entriesKept + stats.entriesMoved + this.#chainReads
  }

  /** The work of one step, within STEP_ENTRIES_MAX entries; true when it changed something to commit. */
  #stepWork(): boolean {
    let budget = STEP_ENTRIES_MAX
    const now = Date.now()
    const timed = stepTiming.enabled
    let markedMs = timed ? performance.now() : 0
    const regionDone = this.#regionDone
    // Nothing of the steps' pending: the store shows every region as it is.
    if (!this.#uncommitted) this.#clearRegionDone()
    for (const [id, [name, key]] of this.#backlog) {
      // Its region again after the commit: set aside until then.
      if (regionDone.has(id)) {
        this.#backlog.delete(id)
        this.#deferred.set(id, [name, key])
        continue
      }
      if (budget <= 0 || this.#late()) break
      this.#backlog.delete(id)
      const definition = this.#host.definitionOf(name)
      if (definition === undefined) continue
      const used = this.#compactRegion(this.#host.instance(definition, key), now, budget)
      budget -= used.processed
      regionDone.set(id, used.done && used.exhausted)
      // Not done within the budget: back to the end of the line.
      if (!used.done) this.#backlog.set(id, [name, key])
      else if (used.over) this.#waiting.set(id, [name, key])
    }
    if (timed) markedMs = markStepPhase('backlog', markedMs)
    if (budget > 0 && this.#waiting.size > 0 && !this.#late()) budget -= this.#advance(now, budget)
    if (timed) markedMs = markStepPhase('cursor', markedMs)
    // Each waiting domain once per step at most: a domain not done goes back to the end of the
    // line, where the count stops the loop before it comes round again. Not a copy of the set,
    // which grows with the domains (docs/design.md, "Compaction in short steps").
    let unvisited = this.#waiting.size
    for (const [id, [name, key]] of this.#waiting) {
      if (unvisited-- <= 0 || budget <= 0 || this.#late()) break
      // Its region holds older entries still: they go first, after the commit.
      if (regionDone.get(id) === false) continue
      const definition = this.#host.definitionOf(name)
      if (definition === undefined) {
        this.#waiting.delete(id)
        continue
      }
      const used = this.#compactChain(this.#host.instance(definition, key), now, budget)
      budget -= used.processed
      if (used.done && !used.over) this.#waiting.delete(id)
      else {
        // To the end of the line, so that one long chain does not starve the others.
        this.#waiting.delete(id)
        this.#waiting.set(id, [name, key])
      }
    }
    if (timed) markedMs = markStepPhase('waiting', markedMs)
    if (budget > 0 && this.#lingering.size > 0 && !this.#late()) budget -= this.#trimLingering(budget)
    if (timed) markedMs = markStepPhase('lingering', markedMs)
    this.#flushTimeEdits()
    if (timed) markStepPhase('flush', markedMs)
    return budget < STEP_ENTRIES_MAX
  }

  /**
   * Deletes what one domain has past its bound in its domain region, oldest first, within
   * `budget` entries. A batch whose oldest entries expire loses them: the rest is written again
   * under the key of its first kept slice. An expired entry of an unsettled lineage moves to a
   * batch of its own. `over`: the region ran out with the domain still over its bound, so the
   * rest is in the time region, for the cursor.
   */
  #compactRegion(instance: Instance, now: number, budget: number): { processed: number; done: boolean; over: boolean; exhausted: boolean } {
    const writes = this.#host.writes
    const id = instance.id
    const meta: Meta = instance.meta(writes)
    if (meta.j === undefined) return { processed: 0, done: true, over: false, exhausted: true }
    const window = windowOf(meta.j)
    if (window.kept > 0) this.#dropSettledKept(instance, window, budget)
    let done = window.processed < budget || window.kept === 0
    let exhausted = true
    if (done && !this.#regionEmpty.has(id)) {
      let read = 0
      for (const batch of regionBatchesOf(writes.journalTree, id, window.first, SLICE_MAX)) {
        read++
        const cut = this.#cut(id, window, batch, now, budget)
        this.#replace(id, batch, cut.index, cut.moved, false)
        if (cut.stop === 'budget') done = false
        if (cut.stop !== 'end') {
          exhausted = false
          break
        }
      }
      if (read === 0) this.#markRegionEmpty(id)
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
    return { processed: window.processed, done, over, exhausted }
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
    const count = batch.count
    let index = batch.first < window.first ? Math.min(count, window.first - batch.first) : 0
    // The common case of a busy domain: the count alone keeps the window over for the next
    // entries, nothing is pinned and none of them owns an index key. They go at once, from the
    // stored bytes; the loop below would come to the same counts one entry at a time.
    const take = Math.min(count - index, window.count - this.retention.keepSlices, budget - window.processed)
    if (take > 0 && this.#unsettled.size === 0) {
      const plain = plainRange(batch, index, index + take)
      if (plain !== null) {
        index += take
        window.oldestAt = plain.oldestAt
        window.processed += take
        window.count -= take
        window.bytes -= take * (accountedKeyLength(id) + 4) + plain.bytes
        window.first = batch.first + index
        this.#stats.entriesDeleted += take
        if (index === count) return { index, moved, stop: 'end' }
        // As the loop's first turn would, without splitting the batch (oldestAt is the entry at `index`).
        if (!this.#windowOver(window, now)) return { index, moved, stop: 'under' }
      }
    }
    for (; index < count; index++) {
      const slice = batch.first + index
      const bytesOfEntry = batch.entries[index]!
      const peek = peekEntry(bytesOfEntry)
      // The oldest entry of the window is the one in hand.
      window.oldestAt = peek.at
      if (!this.#windowOver(window, now)) return { index, moved, stop: 'under' }
      if (window.processed >= budget || ((index & LATE_CHECK_MASK) === LATE_CHECK_MASK && this.#late())) return { index, moved, stop: 'budget' }
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
    if (fromTime) this.#setTimeSegment(batch.key, id, null)
    else writes.delJournal(batch.key)
    for (const [slice, entry] of moved) {
      this.#putRegion(id, slice, encodeBatch([entry]))
      writes.putJournal(keptKey(id, slice), EMPTY)
    }
    if (cut < batch.count) this.#putRegion(id, batch.first + cut, encodeBatch(cut === 0 ? batch.entries : batch.entries.slice(cut)))
  }

  /**
   * The cursor: the time region's oldest batches, while some domain waits. A batch of a domain
   * over its bound loses its expired entries (that is all a domain needs when the region's
   * oldest entries are the oldest of each domain, as when domains take turns); a batch of a
   * domain within its bound moves to that domain's region, at most CURSOR_MOVES_MAX per step,
   * so that a few idle domains' entries do not keep the others off this path. Returns the
   * entries processed; what the cursor does not reach, #compactChain does.
   */
  #advance(now: number, budget: number): number {
    let used = 0
    let moves = 0
    const movesAllowed = this.#waiting.size >= CURSOR_WAITING_MIN || this.#unchained() >= CURSOR_UNCHAINED_MIN
    if (this.#frontStart >= FRONT_KEYS_FETCH) {
      this.#front = this.#front.slice(this.#frontStart)
      this.#frontStart = 0
    }
    // A label: a segment may end the walk over its batch's segments and the batches alike.
    batches: for (let position = this.#frontStart; ; position++) {
      const key = this.#frontKey(position)
      if (key === undefined) break
      const segments = this.#segmentsOf(key)
      // A batch deleted since it was listed (its seq never comes back).
      if (segments.length === 0 && position === this.#frontStart) this.#frontStart++
      for (let index = 0; index < segments.length; index++) {
        const header = segments[index]
        if (header === null || header === undefined) continue
        if (used >= budget || this.#waiting.size === 0 || this.#late()) break batches
        const batch = timeBatch(key, header)
        const found = this.#domainOf(header.id)
        const meta = found?.instance.meta(this.#host.writes)
        if (found !== null && meta?.j !== undefined && this.#over(meta.j, now)) {
          const step = this.#expireOldest(found, batch, header, now, budget - used)
          used += step.used
          if (step.stop) break batches
          continue
        }
        // A few waiting domains are cheaper to reach through their chains than by moving what lies ahead of them.
        if (moves >= CURSOR_MOVES_MAX || !movesAllowed) break batches
        // Within its window (or of a domain not defined here, with no meta to count against);
        // entries a step already expired (#trimTime) do not move.
        const skip = meta?.j === undefined ? 0 : Math.min(batch.count, Math.max(0, meta.j[0] - batch.first))
        this.#replace(header.id, batch, skip, [], true)
        if (this.#lingering.get(header.id)?.batchKey === batch.key) this.#lingering.delete(header.id)
        this.#chainMoved(header.id, batch, true)
        this.#stats.entriesMoved += batch.count - skip
        moves += batch.count - skip
        used += batch.count
      }
    }
    return used
  }

  /**
   * The time region's key at `position` of #front, the cursor's list of the region's keys oldest
   * first, read FRONT_KEYS_FETCH at a time (keys only) when the list runs out; undefined past
   * the region's end. The list stays valid across steps: a new batch always takes a seq past
   * every stored one and a deleted seq is never written again, so its only stale keys are of
   * deleted batches, which read as batches without segments.
   */
  #frontKey(position: number): string | undefined {
    if (position < this.#front.length || this.#frontComplete) return this.#front[position]
    const last = this.#front[this.#front.length - 1]
    // `last` + NUL: the smallest key above it.
    const range = { start: last === undefined ? TIME_RANGE.start : `${last}\0`, end: TIME_RANGE.end, limit: FRONT_KEYS_FETCH }
    let read = 0
    for (const key of this.#host.writes.journalTree.getKeys(range)) {
      this.#front.push(key as string)
      read++
    }
    // Every batch sealed so far is committed (seal() runs just before the commit, steps between
    // drains): from here seal() appends, and the store need not be read again (a read of 64
    // keys took up to a few hundred us, the largest part of the slowest steps).
    if (read < FRONT_KEYS_FETCH) this.#frontComplete = true
    return this.#front[position]
  }

  /** Waiting domains whose chain is not in memory, counted up to CURSOR_UNCHAINED_MIN. */
  #unchained(): number {
    let count = 0
    for (const id of this.#waiting.keys()) {
      if (!this.#chains.has(id) && ++count >= CURSOR_UNCHAINED_MIN) break
    }
    return count
  }

  /** The domain a domain id names, if it is defined in this runtime. */
  #domainOf(id: string): { instance: Instance; name: string; key: string } | null {
    const separator = id.indexOf('\0')
    const name = id.slice(0, separator)
    const definition = this.#host.definitionOf(name)
    if (definition === undefined) return null
    const key = id.slice(separator + 1)
    return { instance: this.#host.instance(definition, key), name, key }
  }

  /** The cursor's batch is the oldest time batch of a domain over its bound: its region first, then this batch. */
  #expireOldest(found: { instance: Instance; name: string; key: string }, batch: Batch, header: TimeSegment, now: number, budget: number): { used: number; stop: boolean } {
    const { instance, name, key } = found
    const id = instance.id
    let used = 0
    const regionDone = this.#regionDone
    const done = regionDone.get(id)
    if (done === false) {
      // Its region's older entries go first, after the commit.
      this.#backlog.set(id, [name, key])
      return { used, stop: true }
    }
    if (done === undefined) {
      const region = this.#compactRegion(instance, now, budget)
      regionDone.set(id, region.done && region.exhausted)
      used += region.processed
      if (!region.done) {
        this.#backlog.set(id, [name, key])
        return { used, stop: true }
      }
      if (!region.exhausted) {
        // Within its bound again before its region ran out: nothing of this batch goes.
        this.#waiting.delete(id)
        return { used, stop: false }
      }
    }
    const meta = instance.meta(this.#host.writes)
    const window = windowOf(meta.j!)
    const cut = this.#cut(id, window, batch, now, budget - used)
    this.#trimTime(batch, header, cut.index, cut.moved)
    this.#chainMoved(id, batch, cut.index === batch.count)
    used += window.processed
    this.#setWindow(instance, meta, window)
    if (!this.#windowOver(window, now)) this.#waiting.delete(id)
    else this.#waiting.set(id, [name, key])
    return { used, stop: cut.stop === 'budget' }
  }

  /** Writes what #cut left of a time batch back under its own key (its seq, which the domain's next batch names). */
  #trimTime(batch: Batch, header: TimeSegment, cut: number, moved: Array<[number, Buffer]>): void {
    const writes = this.#host.writes
    for (const [slice, entry] of moved) {
      this.#putRegion(header.id, slice, encodeBatch([entry]))
      writes.putJournal(keptKey(header.id, slice), EMPTY)
    }
    if (cut === batch.count) {
      this.#setTimeSegment(batch.key, header.id, null)
      if (this.#lingering.get(header.id)?.batchKey === batch.key) this.#lingering.delete(header.id)
      return
    }
    // Partly expired: its expired entries stay until the batch goes whole or its domain rests
    // (#trimLingering). Writing the rest again now would copy a burst's batch (a blob of
    // up to 128 entries) to drop the one or two entries each step expires.
    if (batch.first + cut > header.first && !this.#lingering.has(header.id)) {
      const separator = header.id.indexOf('\0')
      this.#lingering.set(header.id, { name: header.id.slice(0, separator), key: header.id.slice(separator + 1), batchKey: batch.key, seen: -1 })
    }
  }

  /**
   * Writes the partly expired time batches again without their expired entries, once their
   * domain has run no slice for a step (a busy domain's next steps expire more of the same
   * batch): then the stored journal holds exactly each domain's window.
   */
  #trimLingering(budget: number): number {
    const writes = this.#host.writes
    let used = 0
    for (const [id, lingering] of this.#lingering) {
      if (used >= budget) break
      const definition = this.#host.definitionOf(lingering.name)
      const meta = definition === undefined ? undefined : this.#host.instance(definition, lingering.key).meta(writes)
      if (meta !== undefined && meta.n !== lingering.seen) {
        lingering.seen = meta.n
        continue
      }
      this.#lingering.delete(id)
      const segment = this.#timeSegment(lingering.batchKey, id)
      const first = meta?.j?.[0]
      if (segment === null || first === undefined || first <= segment.first) continue
      const skip = first - segment.first
      this.#setTimeSegment(lingering.batchKey, id, skip >= segment.count ? null : { id, first, prev: segment.prev, count: segment.count - skip, entries: segment.entries.slice(skip) })
      used++
    }
    return used
  }

  /**
   * Every domain-region write goes here, so that #regionEmpty never names a domain with region
   * entries, and so that the domain's region is not read again (nor its time entries cut)
   * before the commit shows the write (#regionDone; #compactRegion sets it after its own).
   */
  #putRegion(id: string, slice: number, bytes: Buffer): void {
    this.#regionEmpty.delete(id)
    this.#regionDone.set(id, false)
    this.#host.writes.putJournal(entryKey(id, slice), bytes)
  }

  #markRegionEmpty(id: string): void {
    // Bounded: forgetting costs one range read of an empty region.
    if (this.#regionEmpty.size >= REGION_EMPTY_MAX) this.#regionEmpty.clear()
    this.#regionEmpty.add(id)
  }

  #setWindow(instance: Instance, meta: Meta, window: Window): void {
    if (meta.j === undefined || !changed(window, meta.j)) return
    instance.setMeta({ ...meta, j: metaOf(window, meta.j) })
    this.#host.metaChanged(instance)
  }

  // ---- chains: a waiting domain's time batches, oldest first ----------------------------------

  /**
   * Deletes a waiting domain's expired time entries wherever they lie, through its chain:
   * read back from `head` once (at most CHAIN_READS_MAX batches a step, resumed in the next)
   * and then kept in memory as batches are sealed and cut.
   */
  #compactChain(instance: Instance, now: number, budget: number): { processed: number; done: boolean; over: boolean } {
    const writes = this.#host.writes
    const id = instance.id
    const meta = instance.meta(writes)
    if (meta.j === undefined) return { processed: 0, done: true, over: false }
    const window = windowOf(meta.j)
    const chain = this.#chainOf(id, meta.j)
    const walk = this.#walk(id, chain, window.first)
    // A read of a batch header costs a fraction of a write: 16 count as one entry of the budget.
    window.processed = Math.ceil(walk.reads / 16)
    if (!walk.complete) return { processed: window.processed, done: false, over: true }
    let done = true
    while (chain.start < chain.batches.length && this.#windowOver(window, now)) {
      const link = chain.batches[chain.start]!
      const header = this.#timeSegment(timeKey(link.seq), id)
      if (header === null) {
        chain.start++
        continue
      }
      const batch = timeBatch(timeKey(link.seq), header)
      const cut = this.#cut(id, window, batch, now, budget)
      this.#trimTime(batch, header, cut.index, cut.moved)
      if (cut.index === batch.count) chain.start++
      if (cut.stop === 'budget') done = false
      if (cut.stop !== 'end') break
    }
    if (done && chain.start >= chain.batches.length && this.#windowOver(window, now)) {
      // Nothing left to delete (possible when one entry alone is over keepBytes).
      window.count = 0
      window.bytes = 0
      window.oldestAt = now
    }
    this.#compactChainArray(chain)
    this.#setWindow(instance, meta, window)
    return { processed: window.processed, done, over: this.#windowOver(window, now) }
  }

  #chainOf(id: string, j: JournalMeta): Chain {
    let chain = this.#chains.get(id)
    if (chain !== undefined) {
      // Most recently used last: the first in map order is the one to drop.
      this.#chains.delete(id)
      this.#chains.set(id, chain)
      return chain
    }
    const head = j[1] > 0 && j[5] !== undefined ? j[5] : NO_SEQ
    chain = { batches: [], start: 0, walked: [], pending: head, next: Number.POSITIVE_INFINITY }
    this.#chains.set(id, chain)
    if (this.#chains.size > CHAINS_MAX) this.#chains.delete(this.#chains.keys().next().value!)
    return chain
  }

  /** Reads a chain back from its head, at most CHAIN_READS_MAX batches; complete once it reached the window's first slice. */
  #walk(id: string, chain: Chain, first: number): { complete: boolean; reads: number } {
    let reads = 0
    for (; chain.pending !== NO_SEQ; reads++) {
      if (reads >= CHAIN_READS_MAX || ((reads & LATE_CHECK_MASK) === LATE_CHECK_MASK && this.#late())) return { complete: false, reads }
      const header = this.#timeSegment(timeKey(chain.pending), id)
      if (header === null || !(header.prev < chain.pending)) break
      const count = header.count
      if (header.first + count > chain.next) break
      chain.walked.push({ seq: chain.pending, first: header.first })
      this.#chainReads++
      if (header.first <= first) break
      chain.next = header.first
      chain.pending = header.prev
    }
    chain.pending = NO_SEQ
    chain.batches = chain.walked.reverse().concat(chain.batches.slice(chain.start))
    chain.walked = []
    chain.start = 0
    return { complete: true, reads }
  }

  #compactChainArray(chain: Chain): void {
    if (chain.start > 64 && chain.start * 2 > chain.batches.length) {
      chain.batches = chain.batches.slice(chain.start)
      chain.start = 0
    }
  }

  /** The cursor took (or cut into) a domain's oldest time batch: its chain in memory follows. */
  #chainMoved(id: string, batch: Batch, gone: boolean): void {
    const chain = this.#chains.get(id)
    if (chain === undefined) return
    const oldest = chain.pending === NO_SEQ ? chain.batches[chain.start] : undefined
    if (oldest === undefined || timeKey(oldest.seq) !== batch.key) {
      // Not the batch the chain starts with (or still being read): read it again when needed.
      this.#chains.delete(id)
      return
    }
    if (gone) chain.start++
  }

  // ---- time batches as a step changes them ----------------------------------------------------

  /** The segments of the time batch at `key` as this step left them. */
  #segmentsOf(key: string): Array<TimeSegment | null> {
    let segments = this.#timeRead.get(key)
    if (segments === undefined) {
      const bytes = this.#sealed.get(key) ?? this.#host.writes.getJournal(key)
      segments = bytes === undefined ? [] : timeSegments(bytes)
      this.#timeRead.set(key, segments)
    }
    return segments
  }

  /** Domain `id`'s segment of the time batch at `key`, as this step left it; null when it has none. */
  #timeSegment(key: string, id: string): TimeSegment | null {
    const read = this.#timeRead.get(key)
    if (read !== undefined) return read.find((segment) => segment?.id === id) ?? null
    // A chain reads one domain's segment: the others are skipped unsplit.
    const value = this.#sealed.get(key) ?? this.#host.writes.getJournal(key)
    return value === undefined ? null : timeSegmentOf(value, id)
  }

  /** Replaces (or with null removes) domain `id`'s segment of the time batch at `key`; written by #flushTimeEdits. */
  #setTimeSegment(key: string, id: string, segment: TimeSegment | null): void {
    const segments = this.#segmentsOf(key)
    const index = segments.findIndex((candidate) => candidate?.id === id)
    if (index < 0) return
    segments[index] = segment
    this.#timeDirty.add(key)
  }

  #flushTimeEdits(): void {
    const writes = this.#host.writes
    let deleted = false
    for (const key of this.#timeDirty) {
      this.#forgetSealed(key)
      const segments = this.#timeRead.get(key)!.filter((segment) => segment !== null)
      if (segments.length > 0) writes.putJournal(key, encodeTimeBatch(segments))
      else {
        writes.delJournal(key)
        deleted = true
      }
    }
    // The cursor's list starts at the oldest batch still stored.
    if (deleted) {
      while (this.#frontStart < this.#front.length && this.#timeDirty.has(this.#front[this.#frontStart]!) && this.#timeRead.get(this.#front[this.#frontStart]!)!.every((segment) => segment === null)) this.#frontStart++
    }
    for (const key of this.#timeDirty) if (this.#timeRead.get(key)!.every((segment) => segment === null)) this.#timeRead.delete(key)
    this.#timeDirty.clear()
    if (this.#timeRead.size > TIME_READ_KEPT_MAX) this.#timeRead.clear()
  }

  #forgetSealed(key: string): void {
    const bytes = this.#sealed.get(key)
    if (bytes === undefined) return
    this.#sealed.delete(key)
    this.#sealedBytes -= bytes.length
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

  /** [index key, meta] of every domain of a known definition (lib/runtime/keys.ts). */
  *#metas(): Generator<[string, Buffer]> {
    const writes = this.#host.writes
    for (const definition of [...this.#host.definitions()]) {
      for (const [engineKey] of writes.prefixEntries(indexKey(domainId(definition.name, '')))) {
        const meta = readMetaBytes((key) => writes.get(key), engineKey.slice(1))
        if (meta !== undefined) yield [engineKey, meta]
      }
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

/**
 * A drain's time batch takes entries while it holds fewer bytes than this; a drain past it
 * starts another. Compaction writes a partly expired batch again whole, so a batch stays far
 * below the value limit (it exceeds this by one entry at most).
 */
const DRAIN_BATCH_BYTES_MAX = 1024 * 1024

/** One time batch of a chain. */
interface ChainLink {
  readonly seq: number
  readonly first: number
}

/** A domain's time batches, oldest first from `start`; while `pending` is not NO_SEQ, still being read back from the head. */
interface Chain {
  batches: ChainLink[]
  start: number
  /** Read so far by the walk, newest first. */
  walked: ChainLink[]
  /** Seq the walk reads next. */
  pending: number
  /** First slice of the batch the walk read last (the next older one must end before it). */
  next: number
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

function valueBytesOf(payload: Buffer | null, parts: SliceParts): number {
  let bytes = (payload?.length ?? 0) + (parts.reply?.length ?? 0)
  // Indexed loops, as in entry.ts's writeEntry: this runs for every slice.
  const changes = parts.changes
  for (let k = 0; k < changes.length; k++) bytes += (changes[k]![1]?.length ?? 0) + (changes[k]![2]?.length ?? 0)
  const effects = parts.effects
  for (let k = 0; k < effects.length; k++) bytes += effects[k]!.payload?.length ?? 0
  return bytes
}

/** A time segment as a Batch, its entries split only if something asks for them. */
function timeBatch(key: string, segment: TimeSegment): Batch {
  return {
    key,
    first: segment.first,
    count: segment.count,
    get entries() {
      return segment.entries
    },
    segment,
  }
}
