// Standard Schema validation with a real library (zod, a devDependency for this test only):
// payload schemas (send and ctx.send), map() entry schemas, the plain-fields schema.
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineDomain, map, Runtime } from '../lib/index.js'
import { expectVedError, SMALL, tempDirs } from './helpers.js'

const tempDir = tempDirs()

const Host = z.object({ status: z.enum(['pending', 'updated']), attempts: z.number().int().min(0) })

const Fleet = defineDomain({
  name: 'fleet',
  version: 1,
  state: { release: '', hosts: map<string, z.infer<typeof Host>>({ schema: Host }) },
  schema: z.object({ release: z.string().max(10) }),
  on: {
    add: {
      schema: z.object({ host: z.string().min(1), attempts: z.number().int().default(0) }),
      handle(s, p: { host: string; attempts: number }) {
        s.hosts.set(p.host, { status: 'pending', attempts: p.attempts })
        return p.attempts
      },
    },
    corrupt(s, p: { host: string }) {
      s.hosts.set(p.host, { status: 'exploded' as 'pending', attempts: -1 })
    },
    release(s, p: { release: string }) {
      s.release = p.release
    },
    forward(_s, p: { host: unknown }, ctx) {
      ctx.send('fleet', 'other', 'add', { host: p.host })
    },
  },
})

describe('Standard Schema (zod)', () => {
  it('validates and transforms a payload; a rejected one is never enqueued', async () => {
    await using rt = await Runtime.open({ path: tempDir(), domains: [Fleet], store: SMALL })
    const fleet = rt.domain(Fleet, 'eu')
    // The schema's default fills attempts: the handler sees the validator's output.
    expect(await fleet.send('add', { host: 'a' } as { host: string; attempts: number })).toBe(0)
    const error = await expectVedError(fleet.send('add', { host: '', attempts: 1 }), 'ESCHEMA')
    expect(error.message).toContain('host')
    expect(fleet.state.hosts.size).toBe(1)
  })

  it('refuses a map entry or plain field the state schemas reject, leaving the state as it was', async () => {
    await using rt = await Runtime.open({ path: tempDir(), domains: [Fleet], store: SMALL })
    const fleet = rt.domain(Fleet, 'eu')
    await fleet.send('add', { host: 'a', attempts: 2 })
    await expectVedError(fleet.send('corrupt', { host: 'a' }), 'ESCHEMA')
    expect(fleet.state.hosts.get('a')).toEqual({ status: 'pending', attempts: 2 })
    await expectVedError(fleet.send('release', { release: 'far-too-long-a-name' }), 'ESCHEMA')
    expect(fleet.state.release).toBe('')
    await fleet.send('release', { release: 'v42' })
    expect(fleet.state.release).toBe('v42')
  })

  it('validates a cross-domain payload in the sending slice', async () => {
    await using rt = await Runtime.open({ path: tempDir(), domains: [Fleet], store: SMALL })
    await expectVedError(rt.domain(Fleet, 'eu').send('forward', { host: 42 }), 'ESCHEMA')
    await rt.quiet()
    expect(rt.domain(Fleet, 'other').state.hosts.size).toBe(0)
  })
})
