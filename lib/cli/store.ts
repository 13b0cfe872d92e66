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
