// Durability promises: which sealed commits are still waiting for their fdatasync.
//
//   transaction() --commit()--> sealed (seq) --flusher batch + fdatasync--> durable
//                                   |                                         |
//                         pending entry added                     onDurable(durableSeq, 0, ...)
//                                   |                                 resolves seq <= durableSeq
//                                   +--flusher fails (EIO, ENOSPC)--> onDurable(d, code, from, to)
//                                                                     rejects seq in [from, to]
//
// Invariants:
// - Pending entries are in increasing seq order (native hands out increasing sequence
//   numbers, one commit at a time, on the JS thread).
// - Every entry is settled exactly once: resolved, rejected with its batch's error, or, if the
//   store closes with entries left (a native bug), rejected with ECLOSED. None is dropped.
// - A `whenSettled` waiter covers the entries pending when it was made; it settles once none
//   of them is pending, and (if it asked to) rejects with the first error among them.
// - onDurable runs on the JS thread (a thread-safe function), never concurrently with JS.
import { errorFromStatus, type VedError } from './errors.js'

interface PendingCommit {
  seq: number
  /** True once resolved or rejected (a failed range can settle entries behind the head). */
  settled: boolean
  resolve(seq: number): void
  reject(error: VedError): void
}

interface SettleWaiter {
  /** Settles when no pending commit with seq <= lastSeq is left. */
  lastSeq: number
  rejectOnFailure: boolean
  failure: VedError | null
  resolve(): void
  reject(error: VedError): void
}

/** Compacting the pending array costs O(n); doing it only past this head keeps it amortised O(1). */
const PENDING_HEAD_COMPACT_MIN = 1024

export class DurableQueue {
  /** The newest sequence number native reported durable. */
  durableSeq = 0
  #pending: PendingCommit[] = []
  /** Index of the first entry of #pending that may be unsettled. */
  #head = 0
  #waiters: SettleWaiter[] = []

  /** The promise of the commit `seq`, settled by a later onDurable. */
  add(seq: number): Promise<number> {
    const last = this.#pending[this.#pending.length - 1]
    if (last !== undefined && !(seq > last.seq)) throw new Error(`ved: commit seq ${seq} is not above the previous ${last.seq}`)
    return new Promise<number>((resolve, reject) => {
      this.#pending.push({ seq, settled: false, resolve, reject })
    })
  }

  /**
   * Resolves once every commit pending now is settled. With rejectOnFailure it rejects with the
   * first failure among them instead of resolving.
   */
  whenSettled(rejectOnFailure: boolean): Promise<void> {
    const last = this.#lastUnsettled()
    if (last === null) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      this.#waiters.push({ lastSeq: last.seq, rejectOnFailure, failure: null, resolve, reject })
    })
  }

  /** What the native DurableCallback reports about commits (Store.open forwards it here). */
  readonly onDurable = (durableSeq: number, errorCode: number, failedFromSeq: number, failedToSeq: number, message: string): void => {
    if (durableSeq > this.durableSeq) this.durableSeq = durableSeq
    if (errorCode !== 0) this.#rejectRange(failedFromSeq, failedToSeq, errorFromStatus(errorCode, message))
    this.#resolveUpTo(this.durableSeq)
    this.#compact()
    this.#settleWaiters()
  }

  /** Rejects every commit still pending (the store closed under them); none is lost. */
  rejectAll(error: VedError): void {
    this.#rejectRange(-Infinity, Infinity, error)
    this.#compact()
    this.#settleWaiters()
  }

  #rejectRange(fromSeq: number, toSeq: number, error: VedError): void {
    for (let i = this.#head; i < this.#pending.length; i++) {
      const entry = this.#pending[i]!
      if (entry.seq > toSeq) break
      if (entry.settled || entry.seq < fromSeq) continue
      entry.settled = true
      entry.reject(error)
    }
    for (const waiter of this.#waiters) {
      if (waiter.failure === null && waiter.lastSeq >= fromSeq) waiter.failure = error
    }
  }

  #resolveUpTo(durableSeq: number): void {
    for (let i = this.#head; i < this.#pending.length; i++) {
      const entry = this.#pending[i]!
      if (entry.seq > durableSeq) break
      if (entry.settled) continue
      entry.settled = true
      entry.resolve(entry.seq)
    }
  }

  #compact(): void {
    while (this.#head < this.#pending.length && this.#pending[this.#head]!.settled) this.#head++
    if (this.#head === this.#pending.length) {
      this.#pending = []
      this.#head = 0
    } else if (this.#head >= PENDING_HEAD_COMPACT_MIN && this.#head * 2 >= this.#pending.length) {
      this.#pending = this.#pending.slice(this.#head)
      this.#head = 0
    }
  }

  #settleWaiters(): void {
    if (this.#waiters.length === 0) return
    const first = this.#firstUnsettled()
    const remaining: SettleWaiter[] = []
    for (const waiter of this.#waiters) {
      if (first !== null && first.seq <= waiter.lastSeq) {
        remaining.push(waiter)
      } else if (waiter.rejectOnFailure && waiter.failure !== null) {
        waiter.reject(waiter.failure)
      } else {
        waiter.resolve()
      }
    }
    this.#waiters = remaining
  }

  #firstUnsettled(): PendingCommit | null {
    for (let i = this.#head; i < this.#pending.length; i++) if (!this.#pending[i]!.settled) return this.#pending[i]!
    return null
  }

  #lastUnsettled(): PendingCommit | null {
    for (let i = this.#pending.length - 1; i >= this.#head; i--) if (!this.#pending[i]!.settled) return this.#pending[i]!
    return null
  }
}
