// What a runtime stored, read back without its definitions: lib/runtime/inspect.ts
// (listDomains, readState) called from code, and `ved domains` / `ved state` run as a user
// runs them (the compiled bin in a child process), against stores a Runtime made here. Covers
// human and --json output, --domain, --limit and --after (paging), map() fields, fields still at their default
// (absent), a definition newer than a domain's state, values JSON cannot hold, unknown
// domains and keys (ENODOMAIN, exit 1), stores no runtime wrote, and a runtime holding the
// store open for writing while the read-only commands run.
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { toJsonValue } from '../lib/cli/state.js'
import { defineDomain, listDomains, map, readState, Runtime, Store } from '../lib/index.js'
import { expectVedError, expectVedErrorSync, SMALL, tempDirs, ved } from './helpers.js'

const tempDir = tempDirs()


/** The state of an inventory: plain fields, and map() fields of items and of notes. */
function inventoryState() {
  return {
    label: 'new',
    count: 0,
    // Never written by any handler: it must never show up in the stored state.
    owner: 'nobody',
    big: 0 as number | bigint,
    items: map<string, { qty: number }>(),
    notes: map<string, string>(),
  }
}

/** An inventory per warehouse. */
const Inventory = defineDomain({
  name: 'inventory',
  version: 1,
  state: inventoryState(),
  on: {
    add(s, p: { item: string; qty: number }) {
      const item = s.items.get(p.item)
      if (item) item.qty += p.qty
      else s.items.set(p.item, { qty: p.qty })
      s.count += p.qty
    },
    remove(s, p: { item: string }) {
      s.items.delete(p.item)
    },
    rename(s, p: { label: string }) {
      s.label = p.label
    },
    note(s, p: { key: string; text: string }) {
      s.notes.set(p.key, p.text)
    },
    grow(s) {
      s.big = 2n ** 60n + 1n
    },
  },
})

/** A second definition, so that listings hold more than one name (and sort by it). */
const Audit = defineDomain({
  name: 'audit',
  version: 3,
  state: { seen: 0 },
  on: {
    see(s) {
      s.seen++
    },
  },
})

/**
 * Inventory at version 2: opening the store with it registers version 2, while a domain's
 * state stays at 1 until its next slice runs the migration.
 */
const InventoryV2 = defineDomain({
  name: 'inventory',
  version: 2,
  state: { ...inventoryState(), migrated: false },
  migrate(state) {
    state['migrated'] = true
  },
  on: {
    touch() {},
  },
})

/**
 * A closed store a runtime wrote: inventory keys 'north' (3 slices), 'south' (5 slices),
 * 'east side' (1 slice, a key with a space) and audit key 'x' (2 slices).
 */
async function makeRuntimeStore(): Promise<string> {
  const dir = tempDir()
  await using rt = await Runtime.open({ path: dir, domains: [Inventory, Audit], store: SMALL })
  const north = rt.domain(Inventory, 'north')
  await north.send('add', { item: 'bolt', qty: 10 })
  await north.send('add', { item: 'nut', qty: 4 })
  await north.send('rename', { label: 'North hall' })
  const south = rt.domain(Inventory, 'south')
  await south.send('add', { item: 'gear', qty: 1 })
  await south.send('remove', { item: 'gear' })
  // Entry keys are the last key component: anything goes, NUL and "__proto__" included.
  await south.send('note', { key: '__proto__', text: 'not a prototype' })
  await south.send('note', { key: 'a\0b', text: 'NUL inside' })
  await south.send('grow', undefined)
  await rt.domain(Inventory, 'east side').send('rename', { label: 'East' })
  await rt.domain(Audit, 'x').send('see', undefined)
  await rt.domain(Audit, 'x').send('see', undefined)
  return dir
}

/** The state of 'north' as readState and `ved state` report it: only what was written. */
const NORTH = { label: 'North hall', count: 14, items: { bolt: { qty: 10 }, nut: { qty: 4 } } }

/**
 * Rewrites a runtime store into the layout of before 2026-12-04: each domain's meta under its
 * `m<name>\0<key>` key instead of `s<name>\0<key>` (lib/runtime/keys.ts). Returns how many.
 */
async function toLegacyMetas(dir: string): Promise<number> {
  await using store = await Store.open<Buffer>(dir, { ...SMALL, encoding: 'binary' })
  const tree = store.tree<Buffer>('runtime')
  const metas = [...tree.getRange({ start: 's', end: 't' })].filter(({ key }) => (key as string).split('\0').length === 2)
  await store.transaction((txn) => {
    const writes = txn.tree<Buffer>('runtime')
    for (const { key, value } of metas) {
      writes.put(`m${(key as string).slice(1)}`, value)
      writes.del(key as string)
    }
  })
  return metas.length
}

describe('listDomains and readState', () => {
  it('list the definitions and the domains with slice counts and versions, in key order', async () => {
    const dir = await makeRuntimeStore()
    await using store = await Store.open<Buffer>(dir, { readOnly: true, encoding: 'binary' })
    const list = listDomains(store)
    expect(list.seq).toBe(store.stats().seq)
    expect(list.definitions).toEqual([
      { name: 'audit', version: 3 },
      { name: 'inventory', version: 1 },
    ])
    expect(list.domains).toEqual([
      { name: 'audit', key: 'x', slices: 2, version: 3, mapEntries: {} },
      { name: 'inventory', key: 'east side', slices: 1, version: 1, mapEntries: {} },
      { name: 'inventory', key: 'north', slices: 3, version: 1, mapEntries: { items: 2 } },
      { name: 'inventory', key: 'south', slices: 5, version: 1, mapEntries: { items: 0, notes: 2 } },
    ])
    expect(list.truncated).toBe(false)
  })

  it('read a store that keeps its metas under m, as stores written before 2026-12-04 do, and a runtime resumes it', async () => {
    const dir = await makeRuntimeStore()
    const before = await (async () => {
      await using store = await Store.open<Buffer>(dir, { readOnly: true, encoding: 'binary' })
      // Today's layout: the meta next to the fields, an empty entry in the index of domains.
      expect(store.tree<Buffer>('runtime').get('minventory\0north')).toEqual(Buffer.alloc(0))
      expect(store.tree<Buffer>('runtime').get('sinventory\0north')?.length).toBeGreaterThan(0)
      return listDomains(store).domains
    })()
    expect(await toLegacyMetas(dir)).toBe(4)
    {
      await using store = await Store.open<Buffer>(dir, { readOnly: true, encoding: 'binary' })
      expect(store.tree<Buffer>('runtime').get('sinventory\0north')).toBeUndefined()
      expect(listDomains(store).domains).toEqual(before)
      expect(readState(store, 'inventory', 'north')?.state).toEqual(NORTH)
      expect(readState(store, 'inventory', 'north')?.slices).toBe(3)
    }
    {
      await using rt = await Runtime.open({ path: dir, domains: [Inventory, Audit], store: SMALL })
      const north = rt.domain(Inventory, 'north')
      expect(north.state.count).toBe(14)
      expect(north.state.items.size).toBe(2)
      await north.send('add', { item: 'bolt', qty: 1 })
      expect(north.state.count).toBe(15)
    }
    await using store = await Store.open<Buffer>(dir, { readOnly: true, encoding: 'binary' })
    // The slice wrote north's meta under s: it wins over the stale one still under m.
    expect(store.tree<Buffer>('runtime').get('sinventory\0north')).toBeDefined()
    expect(listDomains(store).domains).toEqual(before.map((d) => (d.key === 'north' ? { ...d, slices: 4 } : d)))
    expect(readState(store, 'inventory', 'north')?.state).toEqual({ ...NORTH, count: 15, items: { bolt: { qty: 11 }, nut: { qty: 4 } } })
  })

  it('filter by name and cut at limit, saying so', async () => {
    const dir = await makeRuntimeStore()
    await using store = await Store.open<Buffer>(dir, { readOnly: true, encoding: 'binary' })
    const inventory = listDomains(store, { name: 'inventory' })
    expect(inventory.definitions).toEqual([{ name: 'inventory', version: 1 }])
    expect(inventory.domains.map((d) => d.key)).toEqual(['east side', 'north', 'south'])
    expect(inventory.truncated).toBe(false)
    const two = listDomains(store, { name: 'inventory', limit: 2 })
    expect(two.domains.map((d) => d.key)).toEqual(['east side', 'north'])
    expect(two.truncated).toBe(true)
    // Exactly as many as there are: nothing was cut.
    expect(listDomains(store, { name: 'inventory', limit: 3 }).truncated).toBe(false)
    // A name that is a prefix of another matches only itself.
    expect(listDomains(store, { name: 'inv' })).toMatchObject({ definitions: [], domains: [], truncated: false })
    expectVedErrorSync(() => listDomains(store, { limit: -1 }), 'EINVAL')
    expectVedErrorSync(() => listDomains(store, { name: 'a\0b' }), 'EINVAL')
  })

  it('after: pages through every domain exactly once, in order; after a name alone skips its keys', async () => {
    const dir = await makeRuntimeStore()
    await using store = await Store.open<Buffer>(dir, { readOnly: true, encoding: 'binary' })
    const all = listDomains(store).domains.map((d) => [d.name, d.key])
    const paged: string[][] = []
    let page = listDomains(store, { limit: 1 })
    for (;;) {
      paged.push(...page.domains.map((d) => [d.name, d.key]))
      const last = page.domains.at(-1)
      if (!page.truncated || last === undefined) break
      page = listDomains(store, { limit: 1, after: { name: last.name, key: last.key } })
    }
    expect(paged).toEqual(all)
    // Past every key of a name; past a domain that does not exist; within --domain's name only.
    expect(listDomains(store, { after: { name: 'audit' } }).domains.map((d) => d.key)).toEqual(['east side', 'north', 'south'])
    expect(listDomains(store, { after: { name: 'inventory', key: 'm' } }).domains.map((d) => d.key)).toEqual(['north', 'south'])
    expect(listDomains(store, { name: 'inventory', after: { name: 'audit', key: 'x' } }).domains).toHaveLength(3)
    expect(listDomains(store, { name: 'audit', after: { name: 'inventory' } }).domains).toEqual([])
    // The definitions are never paged.
    expect(listDomains(store, { after: { name: 'inventory' } })).toMatchObject({ domains: [], truncated: false })
    expect(listDomains(store, { after: { name: 'inventory' } }).definitions).toHaveLength(2)
    expectVedErrorSync(() => listDomains(store, { after: { name: '' } }), 'EINVAL')
    expectVedErrorSync(() => listDomains(store, { after: { name: 'a', key: 'b\0' } }), 'EINVAL')
  })

  it('readState: written fields and map entries; defaults, deleted and never-written entries absent; emptied maps {}', async () => {
    const dir = await makeRuntimeStore()
    await using store = await Store.open<Buffer>(dir, { readOnly: true, encoding: 'binary' })
    const north = readState(store, 'inventory', 'north')
    expect(north).toMatchObject({ name: 'inventory', key: 'north', slices: 3, version: 1, seq: store.stats().seq })
    expect(north!.state).toEqual(NORTH)
    // `owner` and `big` were never written: their defaults live in the definition only.
    expect(Object.keys(north!.state)).toEqual(['count', 'items', 'label'])
    const south = readState(store, 'inventory', 'south')!.state
    expect(Object.keys(south).sort()).toEqual(['big', 'count', 'items', 'notes'])
    // The only item was removed: the map is still there, empty.
    expect({ ...(south['items'] as object) }).toEqual({})
    expect(south['big']).toBe(2n ** 60n + 1n)
    const notes = south['notes'] as Record<string, unknown>
    expect(Object.keys(notes).sort()).toEqual(['__proto__', 'a\0b'])
    expect(notes['__proto__']).toBe('not a prototype')
    expect(notes['a\0b']).toBe('NUL inside')
    expect(readState(store, 'inventory', 'west')).toBeUndefined()
    expect(readState(store, 'nothing', 'north')).toBeUndefined()
    expectVedErrorSync(() => readState(store, '', 'north'), 'EINVAL')
  })

  it('read a live runtime through runtime.store; a store with another encoding is EINVAL', async () => {
    const dir = tempDir()
    await using rt = await Runtime.open({ path: dir, domains: [Inventory], store: SMALL })
    await rt.domain(Inventory, 'north').send('add', { item: 'bolt', qty: 2 })
    expect(readState(rt.store, 'inventory', 'north')!.state).toEqual({ count: 2, items: { bolt: { qty: 2 } } })
    await rt.domain(Inventory, 'north').send('add', { item: 'bolt', qty: 3 })
    expect(readState(rt.store, 'inventory', 'north')).toMatchObject({ slices: 2, state: { count: 5, items: { bolt: { qty: 5 } } } })
    await using msgpack = await Store.open(dir, { readOnly: true })
    expectVedErrorSync(() => listDomains(msgpack), 'EINVAL')
  })

  it('a definition newer than a domain state: the registry says 2, the domain 1 until its next slice', async () => {
    const dir = await makeRuntimeStore()
    {
      await using rt = await Runtime.open({ path: dir, domains: [InventoryV2], store: SMALL })
      await rt.domain(InventoryV2, 'north').send('touch', undefined)
    }
    await using store = await Store.open<Buffer>(dir, { readOnly: true, encoding: 'binary' })
    const list = listDomains(store, { name: 'inventory' })
    expect(list.definitions).toEqual([{ name: 'inventory', version: 2 }])
    expect(list.domains.map((d) => [d.key, d.version])).toEqual([
      ['east side', 1],
      ['north', 2],
      ['south', 1],
    ])
    // North ran more slices (the migration's and the touch's); the others none.
    expect(list.domains.map((d) => d.slices)).toEqual([1, expect.any(Number), 5])
    expect(list.domains[1]!.slices).toBeGreaterThan(3)
    expect(readState(store, 'inventory', 'north')!.state).toEqual({ ...NORTH, migrated: true })
  })
})

describe('ved domains', () => {
  it('prints the store, the definitions and a table of domains', async () => {
    const dir = await makeRuntimeStore()
    const result = await ved(['domains', dir])
    expect(result.status).toBe(0)
    expect(result.stderr).toBe('')
    expect(result.stdout).toMatch(new RegExp(`^store +${dir}$`, 'm'))
    expect(result.stdout).toMatch(/^seq +\d+$/m)
    expect(result.stdout).toMatch(/^definitions +audit \(version 3\), inventory \(version 1\)$/m)
    expect(result.stdout).toMatch(/^domains +4$/m)
    const table = result.stdout.split('\n\n')[1]!.trimEnd().split('\n')
    expect(table.map((line) => line.trim().split(/ {2,}/))).toEqual([
      ['NAME', 'KEY', 'SLICES', 'VERSION'],
      ['audit', 'x', '2', '3'],
      // A key with a space is quoted, so that it reads as one key.
      ['inventory', '"east side"', '1', '1'],
      ['inventory', 'north', '3', '1'],
      ['inventory', 'south', '5', '1'],
    ])
  })

  it('--json: the DomainList and the path, as listDomains reports it', async () => {
    const dir = await makeRuntimeStore()
    const result = await ved(['domains', dir, '--json'])
    expect(result.status).toBe(0)
    await using store = await Store.open<Buffer>(dir, { readOnly: true, encoding: 'binary' })
    expect(JSON.parse(result.stdout)).toEqual({ path: dir, ...listDomains(store) })
  })

  it('--domain and --limit; a bad --limit is a usage error (exit 2)', async () => {
    const dir = await makeRuntimeStore()
    const one = JSON.parse((await ved(['domains', dir, '--domain', 'inventory', '--limit', '1', '--json'])).stdout) as {
      definitions: unknown[]
      domains: Array<{ key: string }>
      truncated: boolean
    }
    expect(one.definitions).toEqual([{ name: 'inventory', version: 1 }])
    expect(one.domains.map((d) => d.key)).toEqual(['east side'])
    expect(one.truncated).toBe(true)
    const cut = await ved(['domains', dir, '--limit', '2'])
    expect(cut.status).toBe(0)
    expect(cut.stdout).toMatch(/^domains +the first 2 listed; more not shown \(--limit\)$/m)
    const all = JSON.parse((await ved(['domains', dir, '--limit', '0', '--json'])).stdout) as { domains: unknown[]; truncated: boolean }
    expect(all.domains).toHaveLength(4)
    expect(all.truncated).toBe(false)
    for (const bad of ['x', '-1', '1.5']) {
      const result = await ved(['domains', dir, '--limit', bad])
      expect(result.status, bad).toBe(2)
      expect(result.stderr).toContain('--limit')
    }
  })

  it('--after and --after-key continue a list --limit cut, as its next line says; --after-key alone is a usage error', async () => {
    const dir = await makeRuntimeStore()
    const cut = await ved(['domains', dir, '--limit', '2'])
    expect(cut.status).toBe(0)
    expect(cut.stdout).toMatch(/^next +--after inventory --after-key 'east side'$/m)
    const rest = JSON.parse((await ved(['domains', dir, '--after', 'inventory', '--after-key', 'east side', '--json'])).stdout) as {
      domains: Array<{ name: string; key: string }>
      truncated: boolean
    }
    expect(rest.domains.map((d) => d.key)).toEqual(['north', 'south'])
    expect(rest.truncated).toBe(false)
    const last = await ved(['domains', dir, '--after', 'inventory', '--after-key', 'north', '--limit', '1'])
    expect(last.stdout).not.toMatch(/^next/m)
    expect(last.stdout).toMatch(/^ +inventory +south +5 +1$/m)
    const names = JSON.parse((await ved(['domains', dir, '--after', 'audit', '--json'])).stdout) as { domains: Array<{ name: string }> }
    expect(names.domains.map((d) => d.name)).toEqual(['inventory', 'inventory', 'inventory'])
    const alone = await ved(['domains', dir, '--after-key', 'north'])
    expect(alone.status).toBe(2)
    expect(alone.stderr).toContain('--after')
  })

  it('a migration pending: the version column says so', async () => {
    const dir = await makeRuntimeStore()
    {
      await using _rt = await Runtime.open({ path: dir, domains: [InventoryV2], store: SMALL })
    }
    const result = await ved(['domains', dir, '--domain', 'inventory'])
    expect(result.status).toBe(0)
    expect(result.stdout).toMatch(/^definitions +inventory \(version 2\)$/m)
    expect(result.stdout).toMatch(/^ +inventory +north +3 +1 \(migrates to 2 on its next slice\)$/m)
  })

  it('a store no runtime wrote: no definitions, no domains, exit 0', async () => {
    const dir = tempDir()
    {
      await using store = await Store.open(dir, SMALL)
      await store.put('plain', 1)
    }
    const result = await ved(['domains', dir])
    expect(result.status).toBe(0)
    expect(result.stdout).toMatch(/^definitions +none /m)
    expect(result.stdout).toMatch(/^domains +0 /m)
    expect(JSON.parse((await ved(['domains', dir, '--json'])).stdout)).toMatchObject({ definitions: [], domains: [], truncated: false })
  })

  it('a directory that is not a store: ENOTSTORE, exit 1', async () => {
    const result = await ved(['domains', join(tempDir(), 'missing')])
    expect(result.status).toBe(1)
    expect(result.stderr).toMatch(/^ved domains: ENOTSTORE: .*\n$/)
  })
})

describe('ved state', () => {
  it('prints the state as pretty JSON; --json on one line; a map() field is an object of its entries', async () => {
    const dir = await makeRuntimeStore()
    const pretty = await ved(['state', dir, 'inventory', 'north'])
    expect(pretty.status).toBe(0)
    expect(pretty.stderr).toBe('')
    expect(JSON.parse(pretty.stdout)).toEqual(NORTH)
    expect(pretty.stdout).toBe(`${JSON.stringify(JSON.parse(pretty.stdout), null, 2)}\n`)
    const compact = await ved(['state', dir, 'inventory', 'north', '--json'])
    expect(compact.status).toBe(0)
    expect(compact.stdout.trimEnd()).not.toContain('\n')
    expect(JSON.parse(compact.stdout)).toEqual(NORTH)
    // Fields never written (owner, big) are not in the store, so not in the output.
    expect(Object.keys(JSON.parse(compact.stdout) as object)).not.toContain('owner')
  })

  it('values JSON cannot hold: a bigint as a decimal string; odd entry keys as they are; an emptied map as {}', async () => {
    const dir = await makeRuntimeStore()
    const result = await ved(['state', dir, 'inventory', 'south', '--json'])
    expect(result.status).toBe(0)
    expect(JSON.parse(result.stdout)).toEqual({
      big: (2n ** 60n + 1n).toString(),
      count: 1,
      items: {},
      // Computed: a literal `__proto__:` would set the expected object's prototype instead.
      notes: { ['__proto__']: 'not a prototype', 'a\0b': 'NUL inside' },
    })
    // A key with a space is one argument.
    expect(JSON.parse((await ved(['state', dir, 'inventory', 'east side', '--json'])).stdout)).toEqual({ label: 'East' })
  })

  it('an unknown domain name or key: ENODOMAIN, exit 1, saying which; --json adds the error to stdout', async () => {
    const dir = await makeRuntimeStore()
    const name = await ved(['state', dir, 'inventry', 'north'])
    expect(name.status).toBe(1)
    expect(name.stdout).toBe('')
    expect(name.stderr).toBe('ved state: ENODOMAIN: the store holds no domain named "inventry" (domains defined: audit, inventory)\n')
    const key = await ved(['state', dir, 'inventory', 'west'])
    expect(key.status).toBe(1)
    expect(key.stderr).toBe('ved state: ENODOMAIN: domain "inventory" has no key "west": no slice of it has committed\n')
    const json = await ved(['state', dir, 'inventory', 'west', '--json'])
    expect(json.status).toBe(1)
    expect(JSON.parse(json.stdout)).toEqual({ error: { code: 'ENODOMAIN', message: expect.stringContaining('"west"') } })
    const plain = tempDir()
    {
      await using store = await Store.open(plain, SMALL)
      await store.put('plain', 1)
    }
    const none = await ved(['state', plain, 'inventory', 'north'])
    expect(none.status).toBe(1)
    expect(none.stderr).toMatch(/^ved state: ENODOMAIN: .*no runtime has written to this store\)\n$/)
  })

  it('usage: a missing argument exits 2; --help says that defaults are not stored, and works with no native build', async () => {
    const dir = await makeRuntimeStore()
    const missing = await ved(['state', dir, 'inventory'])
    expect(missing.status).toBe(2)
    expect(missing.stderr).toContain("missing required argument 'key'")
    const help = await ved(['state', '--help'], { VED_ADDON_PATH: join(tempDir(), 'missing.node') })
    expect(help.status).toBe(0)
    expect(help.stdout).toContain('Fields never written (still at their default) are not in the store')
    const top = await ved(['--help'])
    for (const command of ['domains [options] <dir>', 'state [options] <dir> <domain> <key>']) expect(top.stdout).toContain(command)
  })
})

describe('while a runtime holds the store open for writing', () => {
  it('ved domains and ved state read it (no lock taken) and follow its commits; the runtime carries on', async () => {
    const dir = tempDir()
    await using rt = await Runtime.open({ path: dir, domains: [Inventory], store: SMALL })
    const north = rt.domain(Inventory, 'north')
    await north.send('add', { item: 'bolt', qty: 1 })
    // The runtime holds the writer's lock: a second writer is refused.
    await expectVedError(Store.open(dir, SMALL), 'ELOCKED')

    const first = await ved(['domains', dir, '--json'])
    expect(first.status).toBe(0)
    expect((JSON.parse(first.stdout) as { domains: unknown[] }).domains).toEqual([
      { name: 'inventory', key: 'north', slices: 1, version: 1, mapEntries: { items: 1 } },
    ])
    const state = await ved(['state', dir, 'inventory', 'north'])
    expect(state.status).toBe(0)
    expect(JSON.parse(state.stdout)).toEqual({ count: 1, items: { bolt: { qty: 1 } } })

    // A send resolves once its slice is durable; a read-only open sees every durable commit.
    for (let i = 0; i < 5; i++) await north.send('add', { item: `part${i}`, qty: 1 })
    await rt.domain(Inventory, 'south').send('rename', { label: 'South' })
    const later = JSON.parse((await ved(['domains', dir, '--json'])).stdout) as { domains: Array<{ key: string; slices: number }> }
    expect(later.domains.map((d) => [d.key, d.slices])).toEqual([
      ['north', 6],
      ['south', 1],
    ])
    const laterState = JSON.parse((await ved(['state', dir, 'inventory', 'north', '--json'])).stdout) as { count: number; items: object }
    expect(laterState.count).toBe(6)
    expect(Object.keys(laterState.items)).toHaveLength(6)

    // The runtime was not disturbed: it keeps committing, and its own view agrees.
    expect(await north.send('add', { item: 'bolt', qty: 1 })).toBeUndefined()
    expect(north.state.count).toBe(7)
  })
})

describe('toJsonValue (what ved state prints for values msgpack holds and JSON does not)', () => {
  it('converts bigint, Map, Set, bytes and typed arrays, keeps Dates and odd keys, recursively', () => {
    const value = {
      big: 12345678901234567890n,
      when: new Date(0),
      map: new Map<unknown, unknown>([
        ['a', 1n],
        [2, new Set([1, 2])],
      ]),
      bytes: Buffer.from([1, 2, 255]),
      floats: new Float64Array([0.5, 1.5]),
      list: [1n, { deep: new Map([['k', 'v']]) }],
    }
    // JSON.parse makes "__proto__" an own key, as msgpack decoding does.
    const proto = JSON.parse('{"__proto__": {"x": 1}}') as Record<string, unknown>
    expect(JSON.parse(JSON.stringify(toJsonValue(value)))).toEqual({
      big: '12345678901234567890',
      when: '1970-01-01T00:00:00.000Z',
      map: { a: '1', 2: [1, 2] },
      bytes: { type: 'Buffer', data: [1, 2, 255] },
      floats: [0.5, 1.5],
      list: ['1', { deep: { k: 'v' } }],
    })
    // A key named "__proto__" stays a key of the output, not its prototype.
    expect(JSON.stringify(toJsonValue(proto))).toBe('{"__proto__":{"x":1}}')
    expect(toJsonValue(null)).toBeNull()
    expect(toJsonValue('text')).toBe('text')
  })
})
