// EffectRunner: runs effect implementations with bounded concurrency, and hands each
// outcome back as a settlement. It never sees an effect before its slice is durable (the
// output gate, or a resume scan of the durable outbox, calls dispatch).
//
// Invariants:
// - At most `concurrency` implementations run at once; the rest wait in FIFO order.
// - After close(), nothing new starts, running implementations see their signal aborted,
//   and their outcomes are dropped: the outbox still holds them, so the next open
//   dispatches them again under the same id.
import { VedError } from '../errors.js'
import { decode } from './codec.js'
import type { EffectImpl } from './domain.js'

export interface EffectJob {
  readonly id: string
  readonly effect: string
  readonly impl: EffectImpl
  readonly payload: Buffer | null
  readonly attempt: number
}

export type Settle = (job: EffectJob, outcome: { ok: true; result: unknown } | { ok: false; error: unknown }) => void

export class EffectRunner {
  readonly #concurrency: number
  readonly #settle: Settle
  readonly #waiting: EffectJob[] = []
  readonly #abort = new AbortController()
  #running = 0
  #closed = false

  constructor(concurrency: number, settle: Settle) {
    this.#concurrency = concurrency
    this.#settle = settle
  }

  get running(): number {
    return this.#running
  }

  dispatch(job: EffectJob): void {
    if (this.#closed) return
    if (this.#running < this.#concurrency) this.#start(job)
    else this.#waiting.push(job)
  }

  close(): void {
    this.#closed = true
    this.#waiting.length = 0
    this.#abort.abort(new VedError('ECLOSED', 'the runtime closed while the effect ran; it is dispatched again on the next open'))
  }

  #start(job: EffectJob): void {
    this.#running++
    let promise: Promise<unknown>
    try {
      const payload = job.payload === null ? undefined : decode(job.payload)
      promise = Promise.resolve(job.impl(payload, { id: job.id, attempt: job.attempt, signal: this.#abort.signal }))
    } catch (error) {
      promise = Promise.reject(error)
    }
    promise.then(
      (result) => this.#finish(job, { ok: true, result }),
      (error) => this.#finish(job, { ok: false, error }),
    )
  }

  #finish(job: EffectJob, outcome: { ok: true; result: unknown } | { ok: false; error: unknown }): void {
    this.#running--
    if (this.#closed) return
    this.#settle(job, outcome)
    const next = this.#waiting.shift()
    if (next !== undefined) this.#start(next)
  }
}
