// `ved journal` and `ved lineage` run as a user runs them (the compiled bin in a child
// process) against stores a Runtime made here: domains that message each other, an effect
// that fails and is retried (ctx.after, then emit with retryOf), one that fails for good,
// timers, a handler error, values JSON cannot hold. Covers human and --json output, the slice
// range (--from, --to, --limit), the tree's shape, unknown domains and intents (exit 1),
// retention (expired, truncated lineages), a journal that is off, and a runtime holding the
// store open for writing (with an effect still pending) while the commands run. The drawing
// and the range arithmetic are also tested directly, on answers made by hand.
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { drawTree, DEPTH_DRAWN_MAX, formatLineage } from '../lib/cli/lineage.js'
import { JOURNAL_LIMIT_DEFAULT, sliceRange, VALUE_WIDTH } from '../lib/cli/journal.js'
import { toJsonValue } from '../lib/cli/state.js'
import { defineDomain, Journal, map, Runtime, Store, type DomainDefinition, type LineageNode, type RuntimeOptions } from '../lib/index.js'
import { expectVedError, expectVedErrorSync, SMALL, tempDirs, ved } from './helpers.js'

const tempDir = tempDirs()


/** Effects of `wait` resolve when the test calls these. */
const held = new Map<string, () => void>()
/** Attempts of `push` that fail, per host: the first attempt of a host in this set fails. */
const failFirstPush = new Set<string>()

afterEach(() => {
  failFirstPush.clear()
  for (const release of held.values()) release()
  held.clear()
})

/** Logs lines; the first of a run acknowledges it to the deploy that sent it, so messages go both ways. */
const Audit = defineDomain({
  name: 'audit',
  version: 1,
  state: { lines: 0 },
  on: {
    log(s, p: { line: string }, ctx) {
      s.lines++
      if (ctx.intent.from !== null && p.line.startsWith('start')) ctx.send(ctx.intent.from.domain, ctx.intent.from.key, 'ack', { lines: s.lines })
      return s.lines
    },
  },
})

/**
 * Pushes a release to its hosts one at a time. A failed push is retried after a timer, as
 * the README shows (push.failed -> ctx.after -> retry -> emit with retryOf); `notify` always
 * fails and nothing retries it, so its outcome stays 'failed'.
 */
const Deploy = defineDomain({
  name: 'deploy',
  version: 1,
  state: { phase: 'idle', acked: 0, weight: 0 as number | bigint, hosts: map<string, { status: string }>() },
  on: {
    start(s, p: { hosts: string[] }, ctx) {
      s.phase = 'rolling'
      for (const host of p.hosts) s.hosts.set(host, { status: 'pending' })
      ctx.send('audit', 'main', 'log', { line: `start ${p.hosts.join(',')}` })
      ctx.emit('push', { host: p.hosts[0]! })
      ctx.emit('notify', { to: 'ops' })
      return p.hosts.length
    },
    ack(s, p: { lines: number }) {
      s.acked = p.lines
    },
    'push.failed'(_s, f: { id: string; attempt: number; payload: { host: string } }, ctx) {
      ctx.after(1, 'retry', { id: f.id, attempt: f.attempt, payload: f.payload })
    },
    retry(_s, p: { id: string; attempt: number; payload: { host: string } }, ctx) {
      ctx.emit('push', p.payload, { retryOf: { id: p.id, attempt: p.attempt } })
    },
    'push.done'(s, d: { payload: { host: string } }, ctx) {
      s.hosts.get(d.payload.host)!.status = 'done'
      const next = [...s.hosts.entries()].find(([, host]) => host.status === 'pending')
      if (next !== undefined) {
        ctx.after(1, 'next', { host: next[0] })
      } else {
        s.phase = 'done'
        // Longer than VALUE_WIDTH as JSON: the human output cuts it.
        ctx.send('audit', 'main', 'log', { line: `done ${'and dusted '.repeat(10)}` })
      }
    },
    next(_s, p: { host: string }, ctx) {
      ctx.emit('push', { host: p.host })
    },
    'notify.failed'() {},
    weigh(s, p: { big: bigint }) {
      s.weight = p.big
    },
    hold(s, p: { tag: string }, ctx) {
      s.phase = `holding ${p.tag}`
      ctx.emit('wait', { tag: p.tag })
    },
    'wait.done'(s) {
      s.phase = 'released'
    },
    boom(s) {
      s.phase = 'broken'
      throw new Error('no')
    },
  },
  effects: {
    async push(p: { host: string }, { attempt }) {
      if (attempt === 1 && failFirstPush.has(p.host)) throw new Error(`push ${p.host} failed`)
      return `pushed ${p.host}`
    },
    async notify(p: { to: string }) {
      throw new Error(`mail to ${p.to} bounced`)
    },
    wait(p: { tag: string }) {
      return new Promise<string>((resolve) => held.set(p.tag, () => resolve(p.tag)))
    },
  },
})

/** A domain of many slices, each a small change, for the slice range and retention. */
const Counter = defineDomain({
  name: 'counter',
  version: 1,
  state: { count: 0 },
  on: {
    add(s, p: { n: number }) {
      s.count += p.n
      return s.count
    },
  },
})

/** Ticks `left` more times, each tick a timer set by the one before: one long chain of causes. */
const Ticker = defineDomain({
  name: 'ticker',
  version: 1,
  state: { ticks: 0 },
  on: {
    tick(s, p: { left: number }, ctx) {
      s.ticks++
      if (p.left > 0) ctx.after(1, 'tick', { left: p.left - 1 })
    },
  },
})

function open(path: string, extra: Partial<RuntimeOptions> = {}): Promise<Runtime> {
  return Runtime.open({ path, domains: [Deploy, Audit, Counter, Ticker] as DomainDefinition[], store: SMALL, ...extra })
}

/** Waits until nothing runs or waits (effects, timers, commits) and the journal's backlog is compacted. */
async function settled(rt: Runtime): Promise<void> {
  for (;;) {
    await rt.quiet()
    const stats = rt.stats()
    if ((stats.journal?.backlogDomains ?? 0) === 0 && stats.commitsHeld === 0 && stats.timersArmed === 0 && stats.domainsReady === 0) return
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/**
 * A closed store: deploy/web ran req-1 over hosts a and b (a's first push fails and is
 * retried), then weigh (a bigint) and boom (a handler error); audit/main logged and acked.
 */
async function makeDeployStore(): Promise<string> {
  const dir = tempDir()
  failFirstPush.add('a')
  await using rt = await open(dir)
  const web = rt.domain(Deploy, 'web')
  expect(await web.send('start', { hosts: ['a', 'b'] }, { id: 'req-1' })).toBe(2)
  await settled(rt)
  expect(web.state.phase).toBe('done')
  await web.send('weigh', { big: 2n ** 60n + 1n })
  await expect(web.send('boom', undefined)).rejects.toThrow('no')
  return dir
}

/** The JSON `ved journal --json` prints for these entries: toJsonValue, through JSON. */
function asJson(value: unknown): unknown {
  return JSON.parse(JSON.stringify(toJsonValue(value)))
}

/** The entry blocks of `ved journal` human output, by slice number: each block's lines. */
function blocks(stdout: string): Map<number, string[]> {
  const result = new Map<number, string[]>()
  for (const block of stdout.trimEnd().split('\n\n').slice(1)) {
    const lines = block.split('\n')
    result.set(Number(/^#(\d+) /.exec(lines[0]!)![1]), lines)
  }
  return result
}

interface DrawnNode {
  label: string
  depth: number
  /** Index of the parent line; null for a line at the top. */
  parent: number | null
  connector: '├─' | '└─' | null
}

/**
 * The tree `ved lineage` drew, read back: each node line's depth from where its connector
 * sits, and its parent as the nearest line above one level up. Checks that every line's
 * prefix is made of guides ("│  " or "   ") only, as the drawing promises.
 */
function readTree(lines: string[]): DrawnNode[] {
  const nodes: DrawnNode[] = []
  for (const line of lines) {
    const match = /^((?:│ {2}| {3})*)(├─ |└─ )?(.*)$/.exec(line)!
    const depth = match[2] === undefined ? 0 : match[1]!.length / 3 + 1
    let parent: number | null = null
    for (let i = nodes.length - 1; i >= 0 && depth > 0; i--) {
      if (nodes[i]!.depth === depth - 1) {
        parent = i
        break
      }
    }
    nodes.push({ label: match[3]!.replace(/ {2}◀ asked$/, ''), depth, parent, connector: match[2] === undefined ? null : (match[2].trim() as '├─' | '└─') })
  }
  // Among the children of one parent, only the last is drawn with └─.
  for (let i = 0; i < nodes.length; i++) {
    const children = nodes.filter((node) => node.parent === i)
    expect(children.map((child) => child.connector)).toEqual(children.map((_, at) => (at === children.length - 1 ? '└─' : '├─')))
  }
  return nodes
}

/** The lines of the tree in `ved lineage` output: after the header rows and any "caused by" line. */
function treeLines(stdout: string): string[] {
  const body = stdout.split('\n\n')[1]!.split('\n').filter((line) => line.length > 0)
  return body.filter((line) => !line.startsWith('… caused by'))
}

/** Parent label of each node label (labels without their intent id: "domain/key #slice type"). */
function edges(nodes: DrawnNode[]): Array<[string, string | null]> {
  const short = (label: string): string => label.replace(/ \(.*\)$/, '')
  return nodes.map((node) => [short(node.label), node.parent === null ? null : short(nodes[node.parent]!.label)])
}

const ISO = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z'

describe('ved journal', () => {
  it('prints one block per slice: intent, lineage, changes, effects and their outcome, messages, timers, reply, error', async () => {
    const dir = await makeDeployStore()
    const result = await ved(['journal', dir, 'deploy', 'web'])
    expect(result.stderr).toBe('')
    expect(result.status).toBe(0)
    const types = ['start', 'ack', 'push.failed', 'notify.failed', 'retry', 'push.done', 'next', 'push.done', 'weigh', 'boom']
    expect(result.stdout.split('\n')[0]).toBe(`deploy/web: 10 entries, slices 1 to 10 of 10`)
    const byslice = blocks(result.stdout)
    expect([...byslice.keys()]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    // The order of ack, push.failed, notify.failed and retry depends on timing: compare as sets.
    expect([...byslice.values()].map((lines) => /^#\d+ {2}\S+ {2}(\S+) /.exec(lines[0]!)![1]).sort()).toEqual([...types].sort())

    const start = byslice.get(1)!
    expect(start[0]).toMatch(new RegExp(`^#1  ${ISO}  start  \\(req-1\\)$`))
    expect(start).toContain('  payload    {"hosts":["a","b"]}')
    expect(start).toContain('  change     phase: "idle" -> "rolling"')
    expect(start).toContain('  change     hosts.a: (absent) -> {"status":"pending"}')
    expect(start).toContain('  change     hosts.b: (absent) -> {"status":"pending"}')
    // push was emitted again by the retry (same id, attempt 2): this attempt's outcome is there.
    expect(start).toContainEqual(expect.stringMatching(/^ {2}effect {5}push attempt 1 \(deploy\/web\/000000000001\.\d\): outcome not here: retried by a later slice/))
    const notify = start.find((line) => line.includes('effect     notify'))!
    expect(notify).toMatch(/^ {2}effect {5}notify attempt 1 \(deploy\/web\/000000000001\.\d\): failed in #\d+: Error: mail to ops bounced$/)
    expect(start).toContainEqual(expect.stringMatching(/^ {2}message {4}log to audit\/main \(deploy\/web\/000000000001\.\d\)$/))
    expect(start).toContain('  reply      2')
    // An external request is its own root and has no cause: neither line is printed.
    expect(start.some((line) => /^ {2}(caused by|root|from) /.test(line))).toBe(false)

    const find = (type: string): string[] => [...byslice.values()].find((lines) => lines[0]!.includes(`  ${type}  `))!
    const failed = find('push.failed')
    expect(failed).toContainEqual(expect.stringMatching(/^ {2}caused by {2}deploy\/web\/000000000001\.\d$/))
    expect(failed).toContain('  root       req-1')
    expect(failed).toContainEqual(expect.stringMatching(new RegExp(`^ {2}timer {6}retry due ${ISO} \\(deploy/web/[0-9a-f]{12}\\.0\\)$`)))
    const retry = find('retry')
    expect(retry).toContainEqual(expect.stringMatching(/^ {2}effect {5}push attempt 2 \(deploy\/web\/000000000001\.\d\): done in #\d+: "pushed a"$/))
    const ack = find('ack')
    expect(ack).toContain('  from       audit/main')
    expect(ack).toContain('  root       req-1')
    expect(ack).toContain('  change     acked: 0 -> 1')

    const weigh = byslice.get(9)!
    // A bigint, converted as `ved state` converts it.
    expect(weigh).toContain(`  change     weight: 0 -> "${2n ** 60n + 1n}"`)
    expect(weigh).toContain(`  payload    {"big":"${2n ** 60n + 1n}"}`)
    const boom = byslice.get(10)!
    expect(boom[0]).toMatch(new RegExp(`^#10  ${ISO}  boom  \\(deploy/web/~[^)]+\\)$`))
    // The handler threw: the state is unchanged, the error is recorded, and there is no reply.
    expect(boom.slice(1)).toEqual(['  error      Error: no'])

    // A value longer than VALUE_WIDTH is cut, ending in "…".
    const audit = await ved(['journal', dir, 'audit', 'main'])
    expect(audit.status).toBe(0)
    const long = audit.stdout.split('\n').find((line) => line.startsWith('  payload    {"line":"done'))!
    const value = long.slice('  payload    '.length)
    expect([...value]).toHaveLength(VALUE_WIDTH)
    expect(value.endsWith('…')).toBe(true)
  })

  it('--json: path, domain, key, slices, the range and the entries as Journal.slices gives them, converted as ved state does', async () => {
    const dir = await makeDeployStore()
    const result = await ved(['journal', dir, 'deploy', 'web', '--json'])
    expect(result.status).toBe(0)
    const report = JSON.parse(result.stdout) as { entries: Array<{ changes: Array<Record<string, unknown>> }> }
    await using store = await Store.open<Buffer>(dir, { readOnly: true, encoding: 'binary' })
    const { entries } = new Journal(store).slices('deploy', 'web')
    expect(report).toEqual({ path: dir, domain: 'deploy', key: 'web', slices: 10, from: 1, to: 10, entries: asJson(entries) })
    // A bigint is a decimal string; the "before" of a path that was absent is left out, not null.
    expect(report.entries[8]!.changes).toEqual([{ path: 'weight', before: 0, after: (2n ** 60n + 1n).toString() }])
    expect(report.entries[0]!.changes[1]).toEqual({ path: 'hosts.a', after: { status: 'pending' } })
  })

  it('the newest n counts entries: slices run with the journal off do not shorten the answer', async () => {
    const dir = tempDir()
    for (const [journal, count] of [
      [true, 15],
      [false, 10],
      [true, 10],
    ] as const) {
      await using rt = await open(dir, journal ? {} : { journal: false })
      const counter = rt.domain(Counter, 'gap')
      for (let n = 0; n < count; n++) await counter.send('add', { n: 1 })
    }
    const result = await ved(['journal', dir, 'counter', 'gap', '--json'])
    expect(result.status).toBe(0)
    const report = JSON.parse(result.stdout) as { slices: number; from: number; to: number; entries: Array<{ slice: number }> }
    const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)
    // Slices 16 to 25 ran with the journal off: the newest 20 entries are 6..15 and 26..35.
    expect(report.entries.map((entry) => entry.slice)).toEqual([...range(6, 15), ...range(26, 35)])
    expect(report).toMatchObject({ slices: 35, from: 6, to: 35 })
    const limited = JSON.parse((await ved(['journal', dir, 'counter', 'gap', '--json', '--to', '30', '--limit', '8'])).stdout) as typeof report
    expect(limited.entries.map((entry) => entry.slice)).toEqual([13, 14, 15, 26, 27, 28, 29, 30])
  })

  it('--from, --to, --limit: the newest n by default, printed oldest first; --from alone pages forward', async () => {
    const dir = tempDir()
    {
      await using rt = await open(dir)
      const counter = rt.domain(Counter, 'c')
      for (let n = 1; n <= 30; n++) await counter.send('add', { n })
    }
    const slices = async (...options: string[]): Promise<number[]> => {
      const result = await ved(['journal', dir, 'counter', 'c', '--json', ...options])
      expect(result.status, options.join(' ')).toBe(0)
      return (JSON.parse(result.stdout) as { entries: Array<{ slice: number }> }).entries.map((entry) => entry.slice)
    }
    const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)
    expect(JOURNAL_LIMIT_DEFAULT).toBe(20)
    expect(await slices()).toEqual(range(11, 30))
    expect(await slices('--limit', '5')).toEqual(range(26, 30))
    expect(await slices('--to', '10', '--limit', '3')).toEqual([8, 9, 10])
    expect(await slices('--from', '4', '--limit', '3')).toEqual([4, 5, 6])
    expect(await slices('--from', '4', '--to', '6')).toEqual([4, 5, 6])
    expect(await slices('--from', '5', '--to', '25', '--limit', '2')).toEqual([24, 25])
    expect(await slices('--limit', '0')).toEqual(range(1, 30))
    expect(await slices('--from', '29')).toEqual([29, 30])
    // --to past the newest slice ends at the newest.
    expect(await slices('--to', '99', '--limit', '2')).toEqual([29, 30])

    // The header says where the others are.
    const human = await ved(['journal', dir, 'counter', 'c', '--from', '5', '--limit', '2'])
    expect(human.stdout.split('\n')[0]).toBe('counter/c: 2 entries, slices 5 to 6 of 30; older: --to 4; newer: --from 7')
    expect(blocks(human.stdout).get(6)).toEqual([expect.stringMatching(new RegExp(`^#6  ${ISO}  add  \\(counter/c/~[^)]+\\)$`)), '  payload    {"n":6}', '  change     count: 15 -> 21', '  reply      21'])

    // A range with no slice in it fails (exit 1), naming why; a malformed number is a usage error (exit 2).
    const past = await ved(['journal', dir, 'counter', 'c', '--from', '31'])
    expect(past.status).toBe(1)
    expect(past.stderr).toBe('ved journal: EINVAL: --from 31 is past the newest slice: the domain has 30 slices\n')
    const backwards = await ved(['journal', dir, 'counter', 'c', '--from', '7', '--to', '3'])
    expect(backwards.status).toBe(1)
    expect(backwards.stderr).toBe('ved journal: EINVAL: --from 7 is after --to 3: no slice is in that range\n')
    for (const bad of [
      ['--limit', 'x'],
      ['--limit', '-1'],
      ['--from', '0'],
      ['--to', '1.5'],
    ]) {
      const result = await ved(['journal', dir, 'counter', 'c', ...bad])
      expect(result.status, bad.join(' ')).toBe(2)
      expect(result.stderr).toContain(bad[0])
    }
  })

  it('an unknown domain name or key: ENODOMAIN, exit 1, naming it; --json adds the error to stdout', async () => {
    const dir = await makeDeployStore()
    const name = await ved(['journal', dir, 'deplo', 'web'])
    expect(name.status).toBe(1)
    expect(name.stdout).toBe('')
    expect(name.stderr).toBe('ved journal: ENODOMAIN: the store holds no domain named "deplo" (domains defined: audit, counter, deploy, ticker)\n')
    const key = await ved(['journal', dir, 'deploy', 'west'])
    expect(key.status).toBe(1)
    expect(key.stderr).toBe('ved journal: ENODOMAIN: domain "deploy" has no key "west": no slice of it has committed\n')
    const json = await ved(['journal', dir, 'deploy', 'west', '--json'])
    expect(json.status).toBe(1)
    expect(JSON.parse(json.stdout)).toEqual({ error: { code: 'ENODOMAIN', message: expect.stringContaining('"west"') } })
  })

  it('--help explains the range and works where no native build loads', async () => {
    const help = await ved(['journal', '--help'], { VED_ADDON_PATH: join(tempDir(), 'missing.node') })
    expect(help.status).toBe(0)
    expect(help.stdout).toContain('--from s alone starts at slice s and shows the first n the journal holds from there')
    const top = await ved(['--help'])
    for (const command of ['journal [options] <dir> <domain> <key>', 'lineage [options] <dir> <intentId>']) expect(top.stdout).toContain(command)
    expect(top.stdout).toContain('ENOINTENT')
  })
})

describe('ved lineage', () => {
  it('draws the causal tree from the root: messages both ways, the failed push, its retry timer and the retried push', async () => {
    const dir = await makeDeployStore()
    const result = await ved(['lineage', dir, 'req-1'])
    expect(result.stderr).toBe('')
    expect(result.status).toBe(0)
    const [header] = result.stdout.split('\n\n')
    expect(header!.split('\n')).toEqual(['intent  req-1', 'root    req-1', 'nodes   10'])
    const lines = treeLines(result.stdout)
    expect(lines[0]).toBe('deploy/web #1 start (req-1)  ◀ asked')
    const tree = readTree(lines)
    // Every node line reads "domain/key #slice type (intent id)".
    for (const node of tree) expect(node.label).toMatch(/^[a-z]+\/[a-z]+ #\d+ [a-z.]+ \([^)]+\)$/)
    const parents = edges(tree)
    const slice = (type: string, nth = 0): string => parents.filter(([label]) => label.endsWith(` ${type}`))[nth]![0]
    expect(parents).toHaveLength(10)
    expect(parents[0]).toEqual(['deploy/web #1 start', null])
    // start caused: the audit log (a message), both settlements of its effects.
    expect(new Set(parents.filter(([, parent]) => parent === 'deploy/web #1 start').map(([label]) => label))).toEqual(
      new Set(['audit/main #1 log', slice('push.failed'), slice('notify.failed')]),
    )
    // The audit log answered with an ack in deploy: a message back.
    expect(parents).toContainEqual([slice('ack'), 'audit/main #1 log'])
    // The failed push set the retry timer; the retry emitted attempt 2, whose settlement hangs under it.
    expect(parents).toContainEqual([slice('retry'), slice('push.failed')])
    expect(parents).toContainEqual([slice('push.done', 0), slice('retry')])
    expect(parents).toContainEqual([slice('next'), slice('push.done', 0)])
    expect(parents).toContainEqual([slice('push.done', 1), slice('next')])
    expect(parents).toContainEqual(['audit/main #2 log', slice('push.done', 1)])
    expect(result.stdout).not.toContain('truncated')
  })

  it('from an intent in the middle: the one chain of ancestors above it, marked, then its descendants', async () => {
    const dir = await makeDeployStore()
    const json = await ved(['lineage', dir, 'req-1', '--json'])
    const retryId = (JSON.parse(json.stdout) as { nodes: LineageNode[] }).nodes.find((node) => node.type === 'retry')!.intentId
    const result = await ved(['lineage', dir, retryId])
    expect(result.status).toBe(0)
    const lines = treeLines(result.stdout)
    expect(lines.find((line) => line.includes('◀ asked'))).toContain(` retry (${retryId})`)
    const parents = edges(readTree(lines))
    expect(parents.map(([label]) => label.replace(/ #\d+/, ''))).toEqual([
      'deploy/web start',
      'deploy/web push.failed',
      'deploy/web retry',
      'deploy/web push.done',
      'deploy/web next',
      'deploy/web push.done',
      'audit/main log',
    ])
    // A chain: each node under the one before it.
    expect(parents.slice(1).every(([, parent], i) => parent === parents[i]![0])).toBe(true)
  })

  it('--json: the LineageResult, as Journal.lineage gives it', async () => {
    const dir = await makeDeployStore()
    const result = await ved(['lineage', dir, 'req-1', '--json'])
    expect(result.status).toBe(0)
    await using store = await Store.open<Buffer>(dir, { readOnly: true, encoding: 'binary' })
    const answer = new Journal(store).lineage('req-1')
    expect(answer.nodes).toHaveLength(10)
    expect(JSON.parse(result.stdout)).toEqual(asJson(answer))
  })

  it('an unknown intent: ENOINTENT, exit 1, with the reason; a made id past its domain\'s newest slice too', async () => {
    const dir = await makeDeployStore()
    const unknown = await ved(['lineage', dir, 'req-404'])
    expect(unknown.status).toBe(1)
    expect(unknown.stdout).toBe('')
    expect(unknown.stderr).toBe(
      'ved lineage: ENOINTENT: the journal holds no intent "req-404": no slice ran it, or it is an id given to send() and retention dropped its entry\n',
    )
    const never = await ved(['lineage', dir, 'deploy/web/0000000000ff.0', '--json'])
    expect(never.status).toBe(1)
    expect(JSON.parse(never.stdout)).toEqual({ error: { code: 'ENOINTENT', message: expect.stringContaining('deploy/web/0000000000ff.0') } })
    const missing = await ved(['lineage', dir])
    expect(missing.status).toBe(2)
    expect(missing.stderr).toContain("missing required argument 'intentId'")
  })
})

describe('retention and a journal that is off', () => {
  it('expired slices and intents are answers (exit 0) that say so; a lineage whose ancestors are gone is marked truncated', async () => {
    const dir = tempDir()
    {
      await using rt = await open(dir, { journal: { keepSlices: 3 } })
      const counter = rt.domain(Counter, 'k')
      for (let n = 1; n <= 10; n++) await counter.send('add', { n })
      await rt.domain(Ticker, 't').send('tick', { left: 5 }, { id: 'tick-0' })
      await settled(rt)
    }
    const old = await ved(['journal', dir, 'counter', 'k', '--to', '5'])
    expect(old.status).toBe(0)
    expect(old.stderr).toBe('')
    expect(old.stdout).toBe('counter/k: slices 1 to 5 (of 10) are no longer in the journal: retention (keepSlices, keepMs, keepBytes) dropped them\n')
    const oldJson = await ved(['journal', dir, 'counter', 'k', '--to', '5', '--json'])
    expect(JSON.parse(oldJson.stdout)).toMatchObject({ slices: 10, from: 1, to: 5, entries: [], reason: 'expired' })
    // The newest 20 are 1..10, of which the journal holds 8..10.
    const recent = await ved(['journal', dir, 'counter', 'k'])
    expect(recent.stdout.split('\n')[0]).toBe('counter/k: 3 entries, slices 8 to 10 of 10; older: --to 7')

    // A made id of a slice retention dropped: expired, exit 0.
    const gone = await ved(['lineage', dir, 'ticker/t/000000000001.0'])
    expect(gone.status).toBe(0)
    expect(gone.stdout).toBe(
      'intent ticker/t/000000000001.0 is no longer in the journal: retention (keepSlices, keepMs, keepBytes) dropped its entry; its domain is still in the store\n',
    )
    const goneJson = await ved(['lineage', dir, 'ticker/t/000000000001.0', '--json'])
    expect(goneJson.status).toBe(0)
    expect(JSON.parse(goneJson.stdout)).toEqual({ root: null, nodes: [], truncated: false, reason: 'expired' })

    // The last tick (slice 6, set by slice 5): slices 1..3 are gone, so the tree starts at slice 4, marked.
    const last = await ved(['lineage', dir, 'ticker/t/000000000005.0'])
    expect(last.status).toBe(0)
    expect(last.stdout).toMatch(/^nodes {3}3 \(truncated\)$/m)
    expect(last.stdout).toContain('\n… caused by ticker/t/000000000002.0, which is not in this answer\n')
    expect(treeLines(last.stdout)).toEqual([
      'ticker/t #4 tick (ticker/t/000000000003.0)',
      '└─ ticker/t #5 tick (ticker/t/000000000004.0)',
      '   └─ ticker/t #6 tick (ticker/t/000000000005.0)  ◀ asked',
    ])
    expect(last.stdout).toMatch(/\ntruncated: the chain above the first node is cut: its cause is no longer in the journal\n$/)
    const lastJson = JSON.parse((await ved(['lineage', dir, 'ticker/t/000000000005.0', '--json'])).stdout) as { root: string; truncated: boolean }
    expect(lastJson).toMatchObject({ root: 'tick-0', truncated: true })
  })

  it('a domain that ran with the journal off: disabled, exit 0, saying so', async () => {
    const dir = tempDir()
    {
      await using rt = await open(dir, { journal: false })
      await rt.domain(Counter, 'off').send('add', { n: 1 })
      await rt.domain(Counter, 'off').send('add', { n: 2 })
    }
    const result = await ved(['journal', dir, 'counter', 'off'])
    expect(result.status).toBe(0)
    expect(result.stdout).toBe("counter/off: the journal holds nothing of this domain: its 2 slices ran with the journal off (Runtime.open's journal: false)\n")
    expect(JSON.parse((await ved(['journal', dir, 'counter', 'off', '--json'])).stdout)).toMatchObject({ slices: 2, entries: [], reason: 'disabled' })
    const lineage = await ved(['lineage', dir, 'counter/off/000000000001.0'])
    expect(lineage.status).toBe(0)
    expect(lineage.stdout).toBe(
      "intent counter/off/000000000001.0: the journal holds nothing of its domain: it ran with the journal off (Runtime.open's journal: false)\n",
    )
  })
})

describe('while a runtime holds the store open for writing', () => {
  it('ved journal and ved lineage read it (no lock taken), see a pending effect settle, and the runtime carries on', async () => {
    const dir = tempDir()
    await using rt = await open(dir)
    const web = rt.domain(Deploy, 'live')
    await web.send('hold', { tag: 'x' }, { id: 'hold-1' })
    await expectVedError(Store.open(dir, SMALL), 'ELOCKED')

    const pending = await ved(['journal', dir, 'deploy', 'live'])
    expect(pending.stderr).toBe('')
    expect(pending.status).toBe(0)
    expect(blocks(pending.stdout).get(1)).toContainEqual(expect.stringMatching(/^ {2}effect {5}wait attempt 1 \(deploy\/live\/000000000001\.0\): pending$/))
    const before = await ved(['lineage', dir, 'hold-1'])
    expect(before.status).toBe(0)
    expect(treeLines(before.stdout)).toEqual(['deploy/live #1 hold (hold-1)  ◀ asked'])

    held.get('x')!()
    await settled(rt)
    expect(web.state.phase).toBe('released')
    const done = await ved(['journal', dir, 'deploy', 'live', '--json'])
    const entries = (JSON.parse(done.stdout) as { entries: Array<{ intent: { type: string }; effects: Array<{ outcome: unknown }> }> }).entries
    expect(entries.map((entry) => entry.intent.type)).toEqual(['hold', 'wait.done'])
    expect(entries[0]!.effects[0]!.outcome).toEqual({ status: 'done', attempt: 1, slice: 2, result: 'x' })
    const after = await ved(['lineage', dir, 'hold-1'])
    expect(treeLines(after.stdout)).toEqual(['deploy/live #1 hold (hold-1)  ◀ asked', '└─ deploy/live #2 wait.done (deploy/live/000000000001.0#1)'])

    // The runtime was not disturbed: it keeps committing, and its own journal agrees.
    await web.send('weigh', { big: 1n })
    expect(rt.journal.slices('deploy', 'live').entries).toHaveLength(3)
  })
})

describe('the drawing and the range, on answers made by hand', () => {
  const node = (intentId: string, children: string[], extra: Partial<LineageNode> = {}): LineageNode => ({
    intentId,
    domain: 'd',
    key: 'k',
    slice: 1,
    type: 't',
    at: 0,
    causedBy: null,
    children,
    ...extra,
  })

  it('draws ├─ for children with siblings below, └─ for the last, │ under a parent with siblings still to come', () => {
    const nodes = [node('a', ['b', 'c']), node('b', ['d', 'e']), node('c', ['f']), node('d', []), node('e', []), node('f', [])]
    expect(drawTree(nodes, 'b')).toEqual([
      'd/k #1 t (a)',
      '├─ d/k #1 t (b)  ◀ asked',
      '│  ├─ d/k #1 t (d)',
      '│  └─ d/k #1 t (e)',
      '└─ d/k #1 t (c)',
      '   └─ d/k #1 t (f)',
    ])
  })

  it('one id on several nodes is drawn once each; a node no parent names still appears; odd names are quoted', () => {
    const nodes = [node('a', ['x', 'x']), node('x', [], { domain: 'one' }), node('x', [], { domain: 'two' }), node('lost', [], { key: 'east side' })]
    expect(drawTree(nodes, 'none')).toEqual(['d/k #1 t (a)', '├─ one/k #1 t (x)', '└─ two/k #1 t (x)', 'd/"east side" #1 t (lost)'])
  })

  it('a chain deeper than DEPTH_DRAWN_MAX stops indenting, says its depth, and stays linear in size', () => {
    const depth = 10_000
    const nodes = Array.from({ length: depth }, (_, i) => node(`n${i}`, i + 1 < depth ? [`n${i + 1}`] : []))
    const lines = drawTree(nodes, 'n0')
    expect(lines).toHaveLength(depth)
    const widest = 3 * DEPTH_DRAWN_MAX + '… └─ '.length
    expect(lines[DEPTH_DRAWN_MAX + 1]).toBe(`${'   '.repeat(DEPTH_DRAWN_MAX)}└─ d/k #1 t (n${DEPTH_DRAWN_MAX + 1})`)
    expect(lines[DEPTH_DRAWN_MAX + 2]).toBe(`… ${'   '.repeat(DEPTH_DRAWN_MAX)}└─ d/k #1 t (n${DEPTH_DRAWN_MAX + 2})  [depth ${DEPTH_DRAWN_MAX + 2}]`)
    expect(lines[depth - 1]).toBe(`… ${'   '.repeat(DEPTH_DRAWN_MAX)}└─ d/k #1 t (n${depth - 1})  [depth ${depth - 1}]`)
    for (const line of lines) expect(line.length).toBeLessThan(widest + 40)
  })

  it('formatLineage names both causes of a cut: a missing ancestor and the node cap', () => {
    const nodes = [node('a', ['b'], { causedBy: 'gone' }), node('b', [])]
    const text = formatLineage({ root: 'r', nodes, truncated: true }, 'b', 2)
    expect(text).toBe(
      [
        'intent  b',
        'root    r',
        'nodes   2 (truncated)',
        '',
        '… caused by gone, which is not in this answer',
        'd/k #1 t (a)',
        '└─ d/k #1 t (b)  ◀ asked',
        '',
        'truncated: the chain above the first node is cut: its cause is no longer in the journal; one answer holds at most 2 nodes: more of the tree is not shown',
        '',
      ].join('\n'),
    )
  })

  it('sliceRange: newest n by default and up to --to; --from alone anchors the start; 0 is no limit', () => {
    expect(sliceRange(30, { limit: 20 })).toEqual({ from: 11, to: 30 })
    expect(sliceRange(5, { limit: 20 })).toEqual({ from: 1, to: 5 })
    expect(sliceRange(30, { to: 10, limit: 3 })).toEqual({ from: 8, to: 10 })
    expect(sliceRange(30, { to: 99, limit: 3 })).toEqual({ from: 28, to: 30 })
    expect(sliceRange(30, { from: 4, limit: 3 })).toEqual({ from: 4, to: 30, limit: 3 })
    expect(sliceRange(30, { from: 4, limit: 0 })).toEqual({ from: 4, to: 30 })
    expect(sliceRange(30, { from: 5, to: 25, limit: 2 })).toEqual({ from: 24, to: 25 })
    expect(sliceRange(30, { from: 5, to: 25, limit: 0 })).toEqual({ from: 5, to: 25 })
    expect(sliceRange(30, { limit: 0 })).toEqual({ from: 1, to: 30 })
    expectVedErrorSync(() => sliceRange(30, { from: 31, limit: 20 }), 'EINVAL')
  })
})
