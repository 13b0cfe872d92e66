// How commands open a store. The engine (and so the native addon) is imported on first use,
// not at startup: `ved --help` and usage errors work even where no native build loads, and
// ENOBINARY then reaches runCommand as a VedError like any other failure.
import type { Store } from '../store.js'

/**
 * Opens the store in `dir` read-only: it takes no lock, so it works while a writer (a
 * runtime, another tool) has the store open, and it never changes a byte on disk.
 * Rejects with ENOTSTORE (no directory, or not a store), EFORMAT, ECORRUPT, ENOBINARY.
 */
export async function openReadOnly(dir: string): Promise<Store> {
  const { Store } = await import('../store.js')
  return Store.open(dir, { readOnly: true })
}

/**
 * openReadOnly with encoding 'binary', the way the runtime opens its store: values come back
 * as the runtime's own encoded bytes, for lib/runtime/inspect.ts to decode.
 */
export async function openRuntimeReadOnly(dir: string): Promise<Store<Buffer>> {
  const { Store } = await import('../store.js')
  return Store.open<Buffer>(dir, { readOnly: true, encoding: 'binary' })
}

/**
 * Opens the store in `dir` for writing, for a command that changes it (compact). Never creates
 * a store (`create: false`): a mistyped path must fail with ENOTSTORE, not leave a new empty
 * store behind. Background cleaning is off (`maxSpaceAmplification: 0`) so that everything
 * reclaimed while the command runs is the command's own work, counted in its report; the
 * option is not stored, so the store's own runtime keeps its setting. Rejects with ELOCKED
 * when another process (a runtime, another tool) has the store open for writing, and with
 * ENOTSTORE, EFORMAT, ECORRUPT, ENOBINARY as openReadOnly does.
 */
export async function openWritable(dir: string): Promise<Store> {
  const { Store } = await import('../store.js')
  // A writable open takes the lock before it looks for a store, so on a directory holding no
  // store it leaves a LOCK file behind even with create: false. A read-only open first fails
  // with the same ENOTSTORE and writes nothing; it costs one more recovery scan, which a
  // checkpoint bounds.
  await (await Store.open(dir, { readOnly: true })).close()
  return Store.open(dir, { create: false, maxSpaceAmplification: 0 })
}
