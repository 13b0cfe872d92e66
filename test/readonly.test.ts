// Read-only opens next to a working writer: in a worker thread, in another process and in the
// same thread. Each sees every commit the writer made durable.
import { fork, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { afterEach, describe, expect, it } from 'vitest'
import { Store } from '../lib/index.js'
import { FIXTURES, SMALL, tempDirs } from './helpers.js'

const tempDir = tempDirs()
const READER = join(FIXTURES, 'reader.mjs')

interface Reply {
  id: number
  ok: boolean
  [field: string]: unknown
}

/** Request/reply over a worker's or child's message channel. */
class Reader {
  #nextId = 1
  #waiting = new Map<number, (reply: Reply) => void>()
  readonly ready: Promise<Reply>
  readonly exited: Promise<number | null>
  readonly #post: (message: object) => void
  readonly #kill: () => void

  constructor(kind: 'worker' | 'process', dir: string) {
    let onReady!: (reply: Reply) => void
    this.ready = new Promise((resolve) => (onReady = resolve))
    this.#waiting.set(0, onReady)
    const onMessage = (reply: Reply): void => {
      const waiter = this.#waiting.get(reply.id)
      this.#waiting.delete(reply.id)
      waiter?.(reply)
    }
    if (kind === 'worker') {
      const worker = new Worker(READER, { workerData: { dir } })
      worker.on('message', onMessage)
      this.exited = new Promise((resolve, reject) => {
        worker.once('exit', resolve)
        worker.once('error', reject)
      })
      this.#post = (message) => worker.postMessage(message)
      this.#kill = () => void worker.terminate()
    } else {
      const child: ChildProcess = fork(READER, [dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      child.on('message', (message) => onMessage(message as Reply))
      this.exited = new Promise((resolve, reject) => {
        child.once('exit', (code) => resolve(code))
        child.once('error', reject)
      })
      this.#post = (message) => child.send(message)
      this.#kill = () => child.kill('SIGKILL')
    }
  }

  request(op: string, fields: object = {}): Promise<Reply> {
    const id = this.#nextId++
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve)
      this.#post({ id, op, ...fields })
    })
  }

  async close(): Promise<void> {
    const reply = await this.request('close')
    expect(reply).toMatchObject({ ok: true, closed: true })
    await this.exited
  }

  kill(): void {
    this.#kill()
  }
}

const readers: Reader[] = []
afterEach(() => {
  for (const reader of readers.splice(0)) reader.kill()
})

async function followWriter(kind: 'worker' | 'process'): Promise<void> {
  const dir = tempDir()
  await using writer = await Store.open(dir, SMALL)
  await writer.put('k0', 0)
  const reader = new Reader(kind, dir)
  readers.push(reader)
  expect(await reader.ready).toMatchObject({ ok: true, ready: true })
  expect(await reader.request('get', { key: 'k0' })).toMatchObject({ ok: true, present: true, value: 0 })

  for (let i = 1; i <= 30; i++) {
    const seq = await writer.put(`k${i}`, { i })
    // Durable, so the reader must see it now.
    expect(await reader.request('get', { key: `k${i}` })).toMatchObject({ ok: true, present: true, value: { i } })
    const stats = await reader.request('stats')
    expect(stats['seq']).toBeGreaterThanOrEqual(seq)
    if (i % 10 === 0) {
      const range = await reader.request('range', { options: { start: 'k', end: 'l' } })
      expect((range['entries'] as unknown[]).length).toBe(i + 1)
    }
  }

  // A snapshot in the reader stays frozen while the writer goes on.
  await writer.put('moving', 'old')
  expect(await reader.request('snapshot')).toMatchObject({ ok: true })
  await writer.put('moving', 'new')
  expect(await reader.request('snapshotGet', { key: 'moving' })).toMatchObject({ present: true, value: 'old' })
  expect(await reader.request('get', { key: 'moving' })).toMatchObject({ present: true, value: 'new' })

  // A tree the writer creates after the reader opened shows up once durable.
  expect(await reader.request('get', { tree: 'late', key: 'x' })).toMatchObject({ ok: true, present: false })
  await writer.tree('late').put('x', 'here')
  expect(await reader.request('get', { tree: 'late', key: 'x' })).toMatchObject({ ok: true, present: true, value: 'here' })

  // Deletes are seen too.
  await writer.del('k1')
  expect(await reader.request('get', { key: 'k1' })).toMatchObject({ ok: true, present: false })

  expect(await reader.request('write', { key: 'w' })).toMatchObject({ ok: true, code: 'EREADONLY' })
  await reader.close()
}

describe('read-only opens next to a writer', () => {
  it('in a worker thread', async () => {
    await followWriter('worker')
  })

  it('in another process', async () => {
    await followWriter('process')
  })

  it('in the same thread', async () => {
    const dir = tempDir()
    await using writer = await Store.open(dir, SMALL)
    await writer.put('a', 1)
    await using reader = await Store.open(dir, { readOnly: true })
    for (let i = 0; i < 50; i++) {
      await writer.put(`k${i}`, i)
      expect(reader.get(`k${i}`)).toBe(i)
    }
    expect(reader.getRange({ start: 'k' }).toArray().length).toBe(50)
    // Several readers at once.
    await using second = await Store.open(dir, { readOnly: true })
    expect(second.get('k49')).toBe(49)
  })

  it('opens while the writer is not running, and after it closed', async () => {
    const dir = tempDir()
    const writer = await Store.open(dir, SMALL)
    await writer.put('a', 1)
    await writer.close()
    await using reader = await Store.open(dir, { readOnly: true })
    expect(reader.get('a')).toBe(1)
    // A writer may open while a reader is open.
    await using again = await Store.open(dir, SMALL)
    await again.put('b', 2)
    expect(reader.get('b')).toBe(2)
  })
})
