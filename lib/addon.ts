// The loaded native addon, one per JS realm (main thread or worker).
//
// Loading happens once, at module load: the addon is handed the VedError class so that it
// throws coded errors directly, and its limits are read once because they are compile-time
// constants of the native build.
import { VedError } from './errors.js'
import { KEY_END_OFFSET, loadAddon, type NativeAddon } from './native.js'

export const addon: NativeAddon = loadAddon()
addon.init(VedError)

export type Limits = ReturnType<NativeAddon['limits']>

/** The native build's limits; constant for the life of the process. */
export const limits: Readonly<Limits> = Object.freeze({ ...addon.limits() })

// The key buffer holds a start key at 0 and an end key at KEY_END_OFFSET, so a key may not
// be longer than that slot. A native build that allows more would overwrite the end key.
if (!(limits.keySizeBytesMax > 0 && limits.keySizeBytesMax <= KEY_END_OFFSET)) {
  throw new Error(`ved: native keySizeBytesMax ${limits.keySizeBytesMax} does not fit the key buffer slot of ${KEY_END_OFFSET} bytes`)
}
