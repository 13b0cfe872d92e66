// The durability queue behind transaction promises and `flushed`, driven directly with the
// calls the native flusher makes (including failed batches, which only a fault-injection build
// can produce end to end).
import { describe, expect, it } from 'vitest'
import { DurableQueue } from '../lib/durable.js'
import { STATUS_NAMES, VedError } from '../lib/errors.js'

const EIO = STATUS_NAMES.indexOf('EIO')
const ENOSPC = STATUS_NAMES.indexOf('ENOSPC')

/** Records how each promise settled, without leaving rejections unhandled. */
function track<T>(promise: Promise<T>): { state: () => string } {
  let state = 'pending'
  promise.then(
    (value) => (state = `resolved ${String(value)}`),
    (error: VedError) => (state = `rejected ${error.code}`),
  )
  return { state: () => state }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('DurableQueue', () => {
  it('resolves every commit up to the durable sequence, in order, with its own seq', async () => {
    const queue = new DurableQueue()
    const commits = [1, 2, 3, 4].map((seq) => track(queue.add(seq)))
    queue.onDurable(2, 0, 0, 0, '')
    await tick()
    expect(commits.map((c) => c.state())).toEqual(['resolved 1', 'resolved 2', 'pending', 'pending'])
    queue.onDurable(4, 0, 0, 0, '')
    await tick()
    expect(commits.map((c) => c.state())).toEqual(['resolved 1', 'resolved 2', 'resolved 3', 'resolved 4'])
    expect(queue.durableSeq).toBe(4)
  })

  it('rejects a failed range with the coded error and resolves the rest', async () => {
    const queue = new DurableQueue()
    const commits = [10, 11, 12, 13].map((seq) => track(queue.add(seq)))
    queue.onDurable(10, ENOSPC, 11, 12, 'no space left on device')
    await tick()
    expect(commits.map((c) => c.state())).toEqual(['resolved 10', 'rejected ENOSPC', 'rejected ENOSPC', 'pending'])
    queue.onDurable(13, 0, 0, 0, '')
    await tick()
    expect(commits[3]!.state()).toBe('resolved 13')
  })

  it('gives the rejected promises a VedError carrying the native message', async () => {
    const queue = new DurableQueue()
    const promise = queue.add(1)
    queue.onDurable(0, EIO, 1, 1, 'fdatasync failed: store is poisoned')
    const error = await promise.catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(VedError)
    expect(error).toMatchObject({ code: 'EIO' })
    expect((error as VedError).message).toContain('fdatasync failed')
  })

  it('maps an unknown status to EIO and says so', async () => {
    const queue = new DurableQueue()
    const promise = queue.add(1)
    queue.onDurable(0, 99, 1, 1, 'strange')
    const error = (await promise.catch((caught: unknown) => caught)) as VedError
    expect(error.code).toBe('EIO')
    expect(error.message).toContain('99')
  })

  it('whenSettled waits for the commits pending when it was called', async () => {
    const queue = new DurableQueue()
    await queue.whenSettled(true) // nothing pending: at once
    void queue.add(1)
    const flushed = track(queue.whenSettled(true))
    void queue.add(2)
    queue.onDurable(1, 0, 0, 0, '')
    await tick()
    expect(flushed.state()).toBe('resolved undefined')
    queue.onDurable(2, 0, 0, 0, '')
  })

  it('whenSettled(true) rejects with the first failure it covers; whenSettled(false) does not', async () => {
    const queue = new DurableQueue()
    const first = track(queue.add(1))
    const second = track(queue.add(2))
    const strict = track(queue.whenSettled(true))
    const lenient = track(queue.whenSettled(false))
    queue.onDurable(0, EIO, 1, 1, 'failed')
    await tick()
    expect(strict.state()).toBe('pending')
    queue.onDurable(2, 0, 0, 0, '')
    await tick()
    expect([first.state(), second.state()]).toEqual(['rejected EIO', 'resolved 2'])
    expect(strict.state()).toBe('rejected EIO')
    expect(lenient.state()).toBe('resolved undefined')
  })

  it('rejectAll settles everything left (nothing is dropped at close)', async () => {
    const queue = new DurableQueue()
    const commits = [1, 2].map((seq) => track(queue.add(seq)))
    const flushed = track(queue.whenSettled(false))
    queue.rejectAll(new VedError('ECLOSED', 'closed'))
    await tick()
    expect(commits.map((c) => c.state())).toEqual(['rejected ECLOSED', 'rejected ECLOSED'])
    expect(flushed.state()).toBe('resolved undefined')
  })

  it('stays correct over many commits settled in batches', async () => {
    const queue = new DurableQueue()
    const results: number[] = []
    for (let seq = 1; seq <= 5000; seq++) void queue.add(seq).then((s) => results.push(s))
    for (let durable = 100; durable <= 5000; durable += 100) queue.onDurable(durable, 0, 0, 0, '')
    await tick()
    expect(results.length).toBe(5000)
    expect(results.every((s, i) => s === i + 1)).toBe(true)
    await queue.whenSettled(true)
  })

  it('refuses sequence numbers that do not increase', () => {
    const queue = new DurableQueue()
    void queue.add(5)
    expect(() => queue.add(5)).toThrow(/not above/)
  })
})
