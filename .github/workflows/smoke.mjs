// Run by prebuild.yml after prebuildify: loads the package (prebuildify moved the binary out
// of build/, so node-gyp-build can only find the prebuild) and round-trips a store.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { addonPath } from '../../dist/addon.js'
import { Store } from '../../dist/index.js'

const dir = join(mkdtempSync(join(tmpdir(), 'ved-smoke-')), 'store')
const writer = await Store.open(dir)
const seq = await writer.put('release', { version: 'v42' })
await writer.close()
const reader = await Store.open(dir, { readOnly: true })
const value = reader.get('release')
await reader.close()
if (value?.version !== 'v42') throw new Error(`smoke: read back ${JSON.stringify(value)} at seq ${seq}`)
if (!/[/\\]prebuilds[/\\]/.test(addonPath)) throw new Error(`smoke: loaded ${addonPath}, not a prebuild`)
console.log(`smoke ok: ${addonPath}, seq ${seq}`)
