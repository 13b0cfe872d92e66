// The domain runtime's core: plain fields and map() fields, send and reply, the read-only
// state view, failing handlers and bad input (nothing applied), sends with ids, resume of
// state after a reopen, and the lineage a handler sees.
import { Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import { defineDomain, map, Runtime, type SliceRecord, type StandardSchemaV1 } from '../lib/index.js'
import { expectVedError, expectVedErrorSync, SMALL, tempDirs } from './helpers.js'

const tempDir = tempDirs()

/** A hand-written Standard Schema: accepts { n: integer }. */
const countSchema: StandardSchemaV1<unknown, { n: number }> = {
  '~standard': {
    version: 1,
    vendor: 'test',
    validate: (value) =>
      typeof value === 'object' && value !== null && Number.isInteger((value as { n?: unknown }).n)
        ? { value: value as { n: number } }
        : { issues: [{ message: 'n must be an integer', path: ['n'] }] },
  },
}

const Counter = defineDomain({
  name: 'counter',
  version: 1,
  state: {
    count: 0,
    label: 'new',
    history: [] as number[],
    tags: map<string, { weight: number }>(),
  },
  on: {
    add: {
      schema: countSchema,
      handle(s, p: { n: number }) {
        s.count += p.n
        s.history.push(p.n)
        return s.count
      },
    },
    tag(s, p: { name: string; weight: number }) {
      const existing = s.tags.get(p.name)
      if (existing) existing.weight += p.weight
      else s.tags.set(p.name, { weight: p.weight })
      return s.tags.size
    },
    untag(s, p: { name: string }) {
      return s.tags.delete(p.name)
    },
    rename(s, p: { label: string }) {
      s.label = p.label
    },
    breakAfterWrite(s) {
      s.count = -1
      s.label = 'broken'
      s.tags.set('ghost', { weight: 1 })
      throw new Error('handler failed after writing')
    },
    badReply() {
      return { fn: () => 1 }
    },
    badState(s) {
      ;(s as { history: unknown[] }).history = [Symbol('x')]
    },
    asyncHandler: (async () => 1) as unknown as () => number,
    whoAmI(_s, _p: undefined, ctx) {
      return { intent: ctx.intent, slice: ctx.slice, ids: [ctx.id(), ctx.id()], random: ctx.random() }
    },
  },
})

async function open(path: string, extra: Partial<Parameters<typeof Runtime.open>[0]> = {}): Promise<Runtime> {
  return Runtime.open({ path, domains: [Counter], store: SMALL, ...extra })
}

describe('send and reply', () => {
  it('applies slices in order and resolves with each reply once durable', async () => {
    await using rt = await open(tempDir())
    const a = rt.domain(Counter, 'a')
    const replies = await Promise.all([a.send('add', { n: 1 }), a.send('add', { n: 2 }), a.send('add', { n: 3 })])
    expect(replies).toEqual([1, 3, 6])
    expect(a.state.count).toBe(6)
    expect(a.state.history).toEqual([1, 2, 3])
    expect(a.state.label).toBe('new')
    // Durable means the store's durable seq covers it.
    const stats = rt.store.stats()
    expect(stats.durableSeq).toBe(stats.seq)
  })

  it('gives each slice the committed state, whatever an earlier handler kept or assigned and dropped', async () => {
    // Loaded domains remember their plain fields between slices (draft.ts, FieldMemo): a kept
    // object, a failed slice's assignments and an unchanged reassignment must not leak into it.
    let kept: { tags: string[] } | null = null
    const Memo = defineDomain({
      name: 'memo',
      version: 1,
      state: { n: 0, flag: false, note: null as string | null, box: { tags: [] as string[] } },
      on: {
        keep(s) {
          s.box.tags.push('a')
          kept = s.box
          s.n += 1
        },
        assignThenThrow(s) {
          s.n = 100
          s.flag = true
          s.note = 'lost'
          throw new Error('no')
        },
        same(s) {
          s.n = s.n + 0
          s.note = 'kept'
        },
        read: (s) => ({ n: s.n, flag: s.flag, note: s.note, box: s.box }),
      },
    })
    await using rt = await Runtime.open({ path: tempDir(), domains: [Memo], store: SMALL })
    const m = rt.domain(Memo, 'm')
    await m.send('keep')
    kept!.tags.push('leaked')
    await expect(m.send('assignThenThrow')).rejects.toThrow('no')
    await m.send('same')
    expect(await m.send('read')).toEqual({ n: 1, flag: false, note: 'kept', box: { tags: ['a'] } })
    const [, , third] = await Promise.all([m.send('keep'), m.send('assignThenThrow').catch(() => null), m.send('read')])
    expect(third).toEqual({ n: 2, flag: false, note: 'kept', box: { tags: ['a', 'a'] } })
    expect(m.state.n).toBe(2)
  })

  it('hands handlers a state that reads like a plain object without a prototype', async () => {
    const { inspect } = await import('node:util')
    const Shape = defineDomain({
      name: 'shape',
      version: 1,
      state: { n: 1, tags: ['a'] },
      on: {
        look: (s) => ({ proto: Object.getPrototypeOf(s), keys: Object.keys(s), spread: { ...s }, json: JSON.stringify(s), shown: inspect(s) }),
        define(s) {
          Object.defineProperty(s, 'n', { value: 2 })
        },
      },
    })
    await using rt = await Runtime.open({ path: tempDir(), domains: [Shape], store: SMALL })
    const d = rt.domain(Shape, 'd')
    expect(await d.send('look')).toEqual({ proto: null, keys: ['n', 'tags'], spread: { n: 1, tags: ['a'] }, json: '{"n":1,"tags":["a"]}', shown: "{ n: 1, tags: [ 'a' ] }" })
    await expectVedError(d.send('define'), 'EINVAL')
    expect(d.state.n).toBe(1)
  })

  it('keeps domains apart by key', async () => {
    await using rt = await open(tempDir())
    await rt.domain(Counter, 'a').send('add', { n: 5 })
    await rt.domain(Counter, 'b').send('add', { n: 7 })
    expect(rt.domain(Counter, 'a').state.count).toBe(5)
    expect(rt.domain(Counter, 'b').state.count).toBe(7)
    expect(rt.domain(Counter, 'c').state.count).toBe(0)
  })

  it('resumes the state after a reopen', async () => {
    const dir = tempDir()
    {
      await using rt = await open(dir)
      const a = rt.domain(Counter, 'a')
      await a.send('add', { n: 4 })
      await a.send('tag', { name: 'x', weight: 2 })
      await a.send('rename', { label: 'kept' })
    }
    await using rt = await open(dir)
    const a = rt.domain(Counter, 'a')
    expect(a.state.count).toBe(4)
    expect(a.state.label).toBe('kept')
    expect(a.state.tags.get('x')).toEqual({ weight: 2 })
    const who = (await a.send('whoAmI')) as { slice: number }
    expect(who.slice).toBe(4)
  })

  it('gives the state view no way to write', async () => {
    await using rt = await open(tempDir())
    const a = rt.domain(Counter, 'a')
    await a.send('add', { n: 1 })
    expectVedErrorSync(() => {
      ;(a.state as { count: number }).count = 10
    }, 'EINVAL')
    // A read is a copy: mutating it changes nothing stored.
    ;(a.state.history as number[]).push(99)
    expect(a.state.history).toEqual([1])
    expect(Object.keys(a.state)).toEqual(['count', 'label', 'history', 'tags'])
  })
})

describe('map() fields', () => {
  it('sets, mutates in place, deletes, counts and iterates in key order', async () => {
    await using rt = await open(tempDir())
    const a = rt.domain(Counter, 'a')
    expect(await a.send('tag', { name: 'b', weight: 1 })).toBe(1)
    expect(await a.send('tag', { name: 'a', weight: 1 })).toBe(2)
    expect(await a.send('tag', { name: 'b', weight: 5 })).toBe(2)
    expect(a.state.tags.get('b')).toEqual({ weight: 6 })
    expect(a.state.tags.size).toBe(2)
    expect([...a.state.tags.keys()]).toEqual(['a', 'b'])
    expect(await a.send('untag', { name: 'a' })).toBe(true)
    expect(await a.send('untag', { name: 'a' })).toBe(false)
    expect(a.state.tags.has('a')).toBe(false)
    expect(a.state.tags.size).toBe(1)
    expect([...a.state.tags.entries()]).toEqual([['b', { weight: 6 }]])
  })

  it('stores one engine key per entry and rewrites only the changed one', async () => {
    const records: SliceRecord[] = []
    await using rt = await open(tempDir(), { onSlice: (record) => records.push(record) })
    const a = rt.domain(Counter, 'a')
    for (let i = 0; i < 50; i++) await a.send('tag', { name: `t${i}`, weight: i })
    await a.send('tag', { name: 't7', weight: 100 })
    const last = records.at(-1)!
    expect(last.changes).toEqual([{ key: 'tags\0t7', before: { weight: 7 }, after: { weight: 107 } }])
    let entries = 0
    for (const _ of rt.store.tree('runtime').getRange({ start: 'scounter\0a\0tags\0', end: 'scounter\0a\0tags\x01' })) entries++
    expect(entries).toBe(50)
  })
})

describe('failures change nothing', () => {
  it('a throwing handler leaves the state exactly as it was and rejects with its error', async () => {
    const records: SliceRecord[] = []
    await using rt = await open(tempDir(), { onSlice: (record) => records.push(record) })
    const a = rt.domain(Counter, 'a')
    await a.send('add', { n: 3 })
    await a.send('tag', { name: 'x', weight: 1 })
    await expect(a.send('breakAfterWrite')).rejects.toThrow('handler failed after writing')
    expect(a.state.count).toBe(3)
    expect(a.state.label).toBe('new')
    expect(a.state.tags.has('ghost')).toBe(false)
    expect(a.state.tags.size).toBe(1)
    // The failure is recorded as a slice of its own.
    expect(records.at(-1)).toMatchObject({ slice: 3, error: { message: 'handler failed after writing' }, changes: [] })
    expect(await a.send('add', { n: 1 })).toBe(4)
  })

  it('refuses an unknown intent type, a payload the schema rejects and an unencodable payload, enqueuing nothing', async () => {
    const records: SliceRecord[] = []
    await using rt = await open(tempDir(), { onSlice: (record) => records.push(record) })
    const a = rt.domain(Counter, 'a')
    await expectVedError(a.send('nope' as 'add', { n: 1 }), 'EINTENT')
    const rejected = await expectVedError(a.send('add', { n: 1.5 }), 'ESCHEMA')
    expect(rejected.message).toContain('n: n must be an integer')
    await expectVedError(a.send('tag', { name: 'x', weight: Symbol('w') as unknown as number }), 'EENCODE')
    await rt.quiet()
    expect(records).toEqual([])
    expect(a.state.count).toBe(0)
    expect(rt.store.tree('runtime').get('mcounter\0a')).toBeUndefined()
  })

  it('fails the slice on an unencodable reply or state value, and on an async handler', async () => {
    await using rt = await open(tempDir())
    const a = rt.domain(Counter, 'a')
    await a.send('add', { n: 2 })
    await expectVedError(a.send('badReply'), 'EENCODE')
    await expectVedError(a.send('badState'), 'EENCODE')
    await expectVedError(a.send('asyncHandler'), 'EINVAL')
    expect(a.state.history).toEqual([2])
  })

  it('rejects sends after close with ECLOSED, and bad arguments with EINVAL', async () => {
    const dir = tempDir()
    const rt = await open(dir)
    // One runtime (one writer) per store.
    await expectVedError(open(dir), 'ELOCKED')
    const a = rt.domain(Counter, 'a')
    expectVedErrorSync(() => rt.domain({ name: 'x' } as never, 'a'), 'EINVAL')
    expectVedErrorSync(() => rt.domain(Counter, 'a\0b'), 'EINVAL')
    await expectVedError(a.send('add', { n: 1 }, { id: '' }), 'EINVAL')
    // A misspelled option would turn de-duplication off unseen: refused, the slice not run.
    const misspelled = await expectVedError(a.send('add', { n: 1 }, { idd: 'req' } as never), 'EINVAL')
    expect(misspelled.message).toContain('did you mean "id"?')
    await expectVedError(a.send('add', { n: 1 }, 'req' as never), 'EINVAL')
    // Refused before it could reach (and fail) a commit shared with other slices.
    await expectVedError(a.send('add', { n: 1 }, { id: 'x'.repeat(2000) }), 'EKEYSIZE')
    expect(await a.send('add', { n: 1 })).toBe(1)
    await rt.close()
    await expectVedError(a.send('add', { n: 1 }), 'ECLOSED')
    expectVedErrorSync(() => rt.domain(Counter, 'b'), 'ECLOSED')
    expectVedErrorSync(() => a.state, 'ECLOSED')
    await expectVedError(Runtime.open({ path: 42 } as never), 'EINVAL')
    const unknown = await expectVedError(Runtime.open({ path: tempDir(), efectConcurrency: 2 } as never), 'EINVAL')
    expect(unknown.message).toContain('did you mean "effectConcurrency"?')
    expectVedErrorSync(() => defineDomain({ name: 'bad', version: 0, state: {}, on: {} }), 'EINVAL')
    // A misspelled migrate would leave stored domains unmigrated, unseen.
    const misspelledConfig = expectVedErrorSync(() => defineDomain({ name: 'bad', version: 2, state: {}, on: {}, migrat: () => {} } as never), 'EINVAL')
    expect(misspelledConfig.message).toContain('did you mean "migrate"?')
    expectVedErrorSync(() => defineDomain({ name: 'bad', version: 1, state: { f: () => 1 }, on: {} }), 'EENCODE')
  })
})

describe('sends with an id', () => {
  it('applies an id once and answers repeats with the first reply, also after a reopen', async () => {
    const dir = tempDir()
    {
      await using rt = await open(dir)
      const a = rt.domain(Counter, 'a')
      const [first, repeat] = await Promise.all([a.send('add', { n: 5 }, { id: 'req-1' }), a.send('add', { n: 5 }, { id: 'req-1' })])
      expect([first, repeat]).toEqual([5, 5])
      expect(await a.send('add', { n: 5 }, { id: 'req-1' })).toBe(5)
      await expect(a.send('breakAfterWrite', undefined, { id: 'req-2' })).rejects.toThrow('handler failed')
      expect(a.state.count).toBe(5)
    }
    await using rt = await open(dir)
    const a = rt.domain(Counter, 'a')
    expect(await a.send('add', { n: 5 }, { id: 'req-1' })).toBe(5)
    const remembered = await expectVedError(a.send('breakAfterWrite', undefined, { id: 'req-2' }), 'EHANDLER')
    expect(remembered.message).toContain('handler failed after writing')
    expect(a.state.count).toBe(5)
    expect(await a.send('add', { n: 1 }, { id: 'req-3' })).toBe(6)
  })

  it('forgets the oldest ids beyond replyMemoryCount', async () => {
    await using rt = await open(tempDir(), { replyMemoryCount: 2 })
    const a = rt.domain(Counter, 'a')
    for (const id of ['r1', 'r2', 'r3']) await a.send('add', { n: 1 }, { id })
    expect(await a.send('add', { n: 1 }, { id: 'r3' })).toBe(3)
    expect(await a.send('add', { n: 1 }, { id: 'r1' })).toBe(4)
  })
})

describe('context', () => {
  it('gives the intent lineage, the slice number, deterministic ids and a seeded random()', async () => {
    const dir = tempDir()
    let first: { intent: unknown; slice: number; ids: string[]; random: number }
    {
      await using rt = await open(dir)
      first = (await rt.domain(Counter, 'a').send('whoAmI', undefined, { id: 'w-1' })) as typeof first
    }
    expect(first.intent).toEqual({ id: 'w-1', type: 'whoAmI', causedBy: null, root: 'w-1', from: null })
    expect(first.slice).toBe(1)
    expect(first.ids).toEqual(['counter/a/000000000001.0', 'counter/a/000000000001.1'])
    // The same slice number of the same domain in another store draws the same number.
    await using rt = await open(tempDir())
    const again = (await rt.domain(Counter, 'a').send('whoAmI')) as typeof first
    expect(again.random).toBe(first.random)
    expect(again.random).toBeGreaterThanOrEqual(0)
    expect(again.random).toBeLessThan(1)
  })
})

describe('types', () => {
  it('carries payload and reply types from the handlers to send (checked by tsc in npm test)', async () => {
    await using rt = await open(tempDir())
    const a = rt.domain(Counter, 'a')
    const count: number = await a.send('add', { n: 1 })
    const size: number = await a.send('tag', { name: 'x', weight: 1 })
    const label: string = a.state.label
    const weight: number | undefined = a.state.tags.get('x')?.weight
    expect([count, size, label, weight]).toEqual([1, 1, 'new', 1])
    const wrong = async (): Promise<void> => {
      // @ts-expect-error: the payload of 'add' is { n: number }
      await a.send('add', { x: 1 })
      // @ts-expect-error: no handler named 'missing'
      await a.send('missing')
      // @ts-expect-error: the reply of 'add' is a number
      const text: string = await a.send('add', { n: 1 })
      // @ts-expect-error: the view is read-only
      a.state.count = 1
      void text
    }
    void wrong
  })
})

describe('the runtime codec', () => {
  it('writes numbers, booleans and null with the bytes msgpackr writes', async () => {
    // The fast path must match msgpackr byte for byte: a field's new bytes are compared with
    // bytes msgpackr wrote (defaults, stores written by earlier versions) to find changes.
    const { encode } = await import('../lib/runtime/codec.js')
    const packr = new Packr({ useRecords: false, copyBuffers: true })
    const values: unknown[] = [true, false, null, 0, -0, 0.5, -0.5, NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 53), Number.MIN_VALUE]
    for (const edge of [0x7f, 0xff, 0xffff, 0xffffffff, 0x20, 0x80, 0x8000, 0x80000000]) values.push(edge - 1, edge, edge + 1, -edge - 1, -edge, -edge + 1)
    let seed = 7
    for (let i = 0; i < 20_000; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      const magnitude = 2 ** ((seed % 60) - 4)
      values.push(Math.floor((seed / 0xffffffff - 0.5) * magnitude), (seed / 0xffffffff - 0.5) * magnitude)
    }
    for (const value of values) expect([value, encode(value, 'v')]).toEqual([value, Buffer.from(packr.pack(value))])
  })
})

describe('the meta encoder', () => {
  it('writes msgpack that decodes to the meta, leaving undefined out and passing what it cannot write to msgpackr', async () => {
    const { decode, encodeCounts } = await import('../lib/runtime/codec.js')
    const manyMaps = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`map${i}`, i * 1000]))
    const metas: Array<Record<string, unknown>> = [
      { v: 1, n: 0, z: {}, r: 0, j: undefined },
      { v: 3, n: 2 ** 40, z: { items: 70_000, 'ünïcödé': 1 }, r: 12, j: [1, 2, 3_000_000, Date.now(), 0] },
      { v: 1, n: 5, z: manyMaps, r: 0 },
      { v: 1, n: 5, z: { ['long-field-name-'.repeat(4)]: 1 }, r: 0 },
      { v: 1, n: -1.5, z: { a: -70_000 }, r: 0, j: [0.25, -1, -200, -40_000, -3_000_000_000] },
    ]
    for (const meta of metas) {
      const expected = Object.fromEntries(Object.entries(meta).filter(([, value]) => value !== undefined))
      expect(decode(encodeCounts(meta, 'meta'))).toEqual(expected)
    }
  })
})
