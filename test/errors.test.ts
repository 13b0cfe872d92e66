// Every coded error of the issue, each from the situation that causes it.
import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { addon } from '../lib/addon.js'
import { STATUS_NAMES, Store, VedError } from '../lib/index.js'
import { crc32c, expectVedError, expectVedErrorSync, FIXTURES, SMALL, tempDirs } from './helpers.js'

const tempDir = tempDirs()
const TRY_OPEN = join(FIXTURES, 'try-open.mjs')

interface OpenResult {
  ok: boolean
  code?: string
  name?: string
  message?: string
}

function openInWorker(dir: string, options: object): Promise<OpenResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(TRY_OPEN, { workerData: { dir, options } })
    worker.once('message', (message: OpenResult) => resolve(message))
    worker.once('error', reject)
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`worker exited with ${code}`))
    })
  })
}

async function openInChild(dir: string, options: object): Promise<OpenResult> {
  const { stdout } = await promisify(execFile)(process.execPath, [TRY_OPEN, dir, JSON.stringify(options)])
  return JSON.parse(stdout) as OpenResult
}

describe('status table', () => {
  it('lib and the addon list the same codes in the same order', () => {
    expect(addon.statusNames()).toEqual([...STATUS_NAMES])
  })

  it('VedError carries code, message and corruption details', () => {
    const error = new VedError('ECORRUPT', 'bad page', { segment: 3, offset: 8192 })
    expect(error).toBeInstanceOf(Error)
    expect(error.code).toBe('ECORRUPT')
    expect(error.segment).toBe(3)
    expect(error.offset).toBe(8192)
    expect(error.message).toBe('ECORRUPT: bad page')
    expect(new VedError('EIO', 'x').segment).toBeUndefined()
  })
})

describe('ELOCKED', () => {
  it('a second writer in the same process', async () => {
    const dir = tempDir()
    await using store = await Store.open(dir, SMALL)
    await expectVedError(Store.open(dir, SMALL), 'ELOCKED')
    // The refused open did not disturb the writer.
    await store.put('k', 1)
    expect(store.get('k')).toBe(1)
  })

  it('a second writer in a worker thread', async () => {
    const dir = tempDir()
    await using _store = await Store.open(dir, SMALL)
    expect(await openInWorker(dir, SMALL)).toMatchObject({ ok: false, code: 'ELOCKED', name: 'VedError' })
  })

  it('a second writer in another process', async () => {
    const dir = tempDir()
    await using _store = await Store.open(dir, SMALL)
    expect(await openInChild(dir, SMALL)).toMatchObject({ ok: false, code: 'ELOCKED', name: 'VedError' })
  })

  it('released by close: the next writer opens', async () => {
    const dir = tempDir()
    const store = await Store.open(dir, SMALL)
    await store.close()
    expect(await openInWorker(dir, SMALL)).toEqual({ ok: true })
    expect(await openInChild(dir, SMALL)).toEqual({ ok: true })
    await using again = await Store.open(dir, SMALL)
    expect(again.closed).toBe(false)
  })
})

describe('the directory', () => {
  it('a file, or a path through one, is EINVAL for a writer (ENOTSTORE read-only)', async () => {
    const file = join(tempDir(), 'a-file')
    writeFileSync(file, 'not a directory')
    await expectVedError(Store.open(file, SMALL), 'EINVAL')
    await expectVedError(Store.open(file, { ...SMALL, create: false }), 'EINVAL')
    await expectVedError(Store.open(join(file, 'store'), SMALL), 'EINVAL')
    await expectVedError(Store.open(file, { readOnly: true }), 'ENOTSTORE')
  })

  it('missing parents are created with the store', async () => {
    const dir = join(tempDir(), 'a', 'b', 'store')
    {
      await using store = await Store.open(dir, SMALL)
      await store.put('k', 1)
    }
    await using reopened = await Store.open(dir, { ...SMALL, create: false })
    expect(reopened.get('k')).toBe(1)
  })
})

describe('ENOTSTORE', () => {
  it('a directory whose HEADER is garbage', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'HEADER'), Buffer.from('this is not a ved store header, just some text. '.repeat(2)))
    writeFileSync(join(dir, 'notes.txt'), 'hello')
    await expectVedError(Store.open(dir, SMALL), 'ENOTSTORE')
    await expectVedError(Store.open(dir, { ...SMALL, readOnly: true }), 'ENOTSTORE')
  })

  it('a read-only open of a missing directory', async () => {
    await expectVedError(Store.open(join(tempDir(), 'missing'), { readOnly: true }), 'ENOTSTORE')
  })

  it('create: false on a directory without a store', async () => {
    const dir = join(tempDir(), 'empty')
    mkdirSync(dir)
    await expectVedError(Store.open(dir, { ...SMALL, create: false }), 'ENOTSTORE')
  })
})

describe('EFORMAT', () => {
  /** Rewrites HEADER with `patch` applied and a valid checksum. */
  function patchHeader(dir: string, patch: (header: Buffer) => void): void {
    const path = join(dir, 'HEADER')
    const header = readFileSync(path)
    expect(header.subarray(0, 8).toString('latin1')).toBe('VEDSTORE')
    expect(header.readUInt32LE(8)).toBe(1)
    expect(header.readUInt32LE(40)).toBe(crc32c(header.subarray(0, 40)))
    patch(header)
    header.writeUInt32LE(crc32c(header.subarray(0, 40)), 40)
    writeFileSync(path, header)
  }

  async function makeStore(): Promise<string> {
    const dir = tempDir()
    const store = await Store.open(dir, SMALL)
    await store.put('k', 1)
    await store.close()
    return dir
  }

  it('a store written by a newer format version', async () => {
    const dir = await makeStore()
    patchHeader(dir, (header) => header.writeUInt32LE(2, 8))
    await expectVedError(Store.open(dir, SMALL), 'EFORMAT')
    await expectVedError(Store.open(dir, { readOnly: true }), 'EFORMAT')
  })

  it('a store with another page size', async () => {
    const dir = await makeStore()
    patchHeader(dir, (header) => header.writeUInt32LE(header.readUInt32LE(12) * 2, 12))
    await expectVedError(Store.open(dir, SMALL), 'EFORMAT')
  })

  it('the unpatched header still opens (the test helper writes what native reads)', async () => {
    const dir = await makeStore()
    patchHeader(dir, () => {})
    await using store = await Store.open(dir, SMALL)
    expect(store.get('k')).toBe(1)
  })
})

describe('EKEYSIZE', () => {
  it('empty keys and keys over the maximum', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    const keySizeBytesMax = Store.limits.keySizeBytesMax
    expect(keySizeBytesMax).toBeGreaterThanOrEqual(1024)
    await expectVedError(store.put('', 1), 'EKEYSIZE')
    await expectVedError(store.put(new Uint8Array(0), 1), 'EKEYSIZE')
    await expectVedError(store.put('k'.repeat(keySizeBytesMax + 1), 1), 'EKEYSIZE')
    await expectVedError(store.put(Buffer.alloc(keySizeBytesMax + 1, 1), 1), 'EKEYSIZE')
    // Counted in UTF-8 bytes, not UTF-16 units: 'é' is 2 bytes.
    await expectVedError(store.put('é'.repeat(keySizeBytesMax / 2 + 1), 1), 'EKEYSIZE')
    await expectVedError(store.transaction((txn) => txn.del('k'.repeat(keySizeBytesMax + 1))), 'EKEYSIZE')
    expectVedErrorSync(() => store.get(''), 'EKEYSIZE')
    expectVedErrorSync(() => store.get('k'.repeat(keySizeBytesMax + 1)), 'EKEYSIZE')
    await store.put('é'.repeat(keySizeBytesMax / 2), 1)
  })

  it('a bad key inside a transaction commits nothing', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    await expectVedError(
      store.transaction((txn) => {
        txn.put('ok', 1)
        txn.put('', 2)
      }),
      'EKEYSIZE',
    )
    expect(store.get('ok')).toBeUndefined()
  })

  it('a key of the wrong type is EINVAL', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    await expectVedError(store.put(42 as never, 1), 'EINVAL')
    expectVedErrorSync(() => store.get(null as never), 'EINVAL')
  })
})

describe('EVALUESIZE and ETXNSIZE', () => {
  it('a value over the maximum', async () => {
    await using store = await Store.open(tempDir(), { ...SMALL, encoding: 'binary' })
    const over = Buffer.alloc(Store.limits.valueSizeBytesMax + 1)
    await expectVedError(store.put('k', over), 'EVALUESIZE')
    await expectVedError(store.transaction((txn) => txn.put('k', over)), 'EVALUESIZE')
    expect(store.get('k')).toBeUndefined()
  })

  it('a string value over the maximum in UTF-8 bytes', async () => {
    await using store = await Store.open(tempDir(), { ...SMALL, encoding: 'string' })
    const over = 'é'.repeat(Store.limits.valueSizeBytesMax / 2 + 1)
    await expectVedError(store.put('k', over), 'EVALUESIZE')
  })

  it('a transaction over the maximum commits nothing', async () => {
    await using store = await Store.open(tempDir(), { ...SMALL, encoding: 'binary' })
    const { valueSizeBytesMax, txnSizeBytesMax } = Store.limits
    const value = Buffer.alloc(valueSizeBytesMax, 7)
    const fitting = Math.floor(txnSizeBytesMax / (valueSizeBytesMax + 64))
    let puts = 0
    await expectVedError(
      store.transaction((txn) => {
        for (let i = 0; i <= fitting + 1; i++) {
          txn.put(`k${i}`, value)
          puts++
        }
      }),
      'ETXNSIZE',
    )
    expect(puts).toBeGreaterThanOrEqual(fitting)
    expect(store.get('k0')).toBeUndefined()
    // The store goes on.
    await store.put('small', Buffer.from([1]))
  })
})

describe('EENCODE', () => {
  it('values the encoding cannot represent', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    await expectVedError(store.put('k', undefined), 'EENCODE')
    await expectVedError(store.put('k', (() => 1) as never), 'EENCODE')
    await expectVedError(store.put('k', Symbol('s') as never), 'EENCODE')
    await expectVedError(store.put('k', 2n ** 70n), 'EENCODE')
    expect(store.get('k')).toBeUndefined()
  })

  it('keys with lone surrogates', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    await expectVedError(store.put('a\uD800b', 1), 'EENCODE')
    expectVedErrorSync(() => store.get('\uDC00'), 'EENCODE')
  })

  it('an unencodable value inside a transaction commits nothing', async () => {
    await using store = await Store.open(tempDir(), { ...SMALL, encoding: 'string' })
    await expectVedError(
      store.transaction((txn) => {
        txn.put('a', 'fine')
        txn.put('b', 17 as never)
      }),
      'EENCODE',
    )
    expect(store.get('a')).toBeUndefined()
  })
})

describe('ECLOSED', () => {
  it('use after close', async () => {
    const store = await Store.open(tempDir(), SMALL)
    await store.close()
    expectVedErrorSync(() => store.get('k'), 'ECLOSED')
    await expectVedError(store.put('k', 1), 'ECLOSED')
  })
})

describe('EINVAL: options', () => {
  it('catches misspelled option names and suggests the right one', async () => {
    const error = await expectVedError(Store.open(tempDir(), { readonly: true } as never), 'EINVAL')
    expect(error.message).toContain('readOnly')
    const segment = await expectVedError(Store.open(tempDir(), { segmentSize: 1 << 20 } as never), 'EINVAL')
    expect(segment.message).toContain('segmentSizeBytes')
    const unknown = await expectVedError(Store.open(tempDir(), { colour: 'red' } as never), 'EINVAL')
    expect(unknown.message).toContain('colour')
  })

  it('refuses bad types and ranges', async () => {
    const bad: object[] = [
      { encoding: 'xml' },
      { encoding: 5 },
      { keyEncoding: 'utf16' },
      { sync: 'yes' },
      { readOnly: 1 },
      { create: null },
      { completionWait: 'off' },
      { segmentSizeBytes: 1000 },
      { segmentSizeBytes: 256 * 1024 + 1 },
      { segmentSizeBytes: 128 * 1024 },
      { segmentSizeBytes: 2 * 1024 * 1024 * 1024 },
      { segmentSizeBytes: 1.5 },
      { maxStoreSizeBytes: 100 },
      { maxStoreSizeBytes: '1TB' },
      { checkpointIntervalCommits: 0 },
      { faultSeed: -1 },
      { readOnly: true, create: true },
    ]
    for (const options of bad) await expectVedError(Store.open(tempDir(), options as never), 'EINVAL')
    await expectVedError(Store.open(tempDir(), 'fast' as never), 'EINVAL')
    await expectVedError(Store.open(tempDir(), null as never), 'EINVAL')
    await expectVedError(Store.open(42 as never), 'EINVAL')
    await expectVedError(Store.open(''), 'EINVAL')
  })

  it('accepts every option at its documented bounds; undefined counts as absent', async () => {
    await using store = await Store.open(tempDir(), {
      encoding: 'json',
      keyEncoding: 'binary',
      sync: false,
      readOnly: undefined,
      create: true,
      segmentSizeBytes: 256 * 1024,
      maxStoreSizeBytes: 64 * 1024 * 1024,
      checkpointIntervalCommits: 1,
      faultSeed: 0,
    })
    await store.put(Buffer.from([1]), { a: 1 })
    expect(store.get(Buffer.from([1]))).toEqual({ a: 1 })
    expect(store.encoding).toBe('json')
    expect(store.keyEncoding).toBe('binary')
    expect(store.readOnly).toBe(false)
  })
})

describe('EINVAL: fault injection outside a fault build', () => {
  it.skipIf(addon.isFaultBuild())('a non-zero faultSeed is refused by a production build', async () => {
    await expectVedError(Store.open(tempDir(), { ...SMALL, faultSeed: 1 }), 'EINVAL')
  })
})

describe('EREADONLY', () => {
  it('writes on a read-only store', async () => {
    const dir = tempDir()
    await using writer = await Store.open(dir, SMALL)
    await writer.put('k', 1)
    await using reader = await Store.open(dir, { readOnly: true })
    expect(reader.readOnly).toBe(true)
    expect(reader.get('k')).toBe(1)
    await expectVedError(reader.put('k', 2), 'EREADONLY')
    await expectVedError(reader.del('k'), 'EREADONLY')
    await expectVedError(reader.transaction((txn) => txn.put('k', 2)), 'EREADONLY')
    await expectVedError(reader.tree('t').put('k', 2), 'EREADONLY')
    // Reading a tree the writer never made is simply empty.
    expect(reader.tree('never').get('k')).toBeUndefined()
    expect(reader.tree('never').getRange().toArray()).toEqual([])
    await reader.flushed
    expect(writer.get('k')).toBe(1)
  })
})

describe('ETREELIMIT', () => {
  it('too many named trees', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    const { treeCountMax } = Store.limits
    let error: unknown = null
    for (let i = 0; i <= treeCountMax; i++) {
      try {
        store.tree(`t${i}`)
      } catch (caught) {
        error = caught
        break
      }
    }
    expect(error).toBeInstanceOf(VedError)
    expect((error as VedError).code).toBe('ETREELIMIT')
  })
})

describe('ESTORESIZE', () => {
  it('a commit that would grow the store past maxStoreSizeBytes is rejected; the store stays usable', async () => {
    const segmentSizeBytes = 256 * 1024
    await using store = await Store.open(tempDir(), { segmentSizeBytes, maxStoreSizeBytes: 4 * segmentSizeBytes, encoding: 'binary' })
    const value = Buffer.alloc(100 * 1024, 1)
    let error: unknown = null
    let written = 0
    for (let i = 0; i < 100 && error === null; i++) {
      try {
        await store.put(`k${i}`, value)
        written++
      } catch (caught) {
        error = caught
      }
    }
    expect(error).toBeInstanceOf(VedError)
    expect((error as VedError).code).toBe('ESTORESIZE')
    expect(written).toBeGreaterThan(0)
    expect((store.get('k0') as Buffer).length).toBe(value.length)
    expect(store.get(`k${written}`)).toBeUndefined()
  })
})
