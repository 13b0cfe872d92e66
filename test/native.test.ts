// Builds the native engine tests with CMake under AddressSanitizer and UBSan and runs them:
// the tree, the log format and recovery, without Node in the way.
import { execFileSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = join(import.meta.dirname, '..')
const buildDir = join(root, 'build', 'native-test')

describe('native engine tests (ASan + UBSan)', () => {
  it('builds and passes', () => {
    mkdirSync(buildDir, { recursive: true })
    execFileSync('cmake', [root, '-DCMAKE_BUILD_TYPE=Debug', '-DVED_SANITIZE=ON'], { cwd: buildDir, stdio: 'pipe' })
    execFileSync('cmake', ['--build', '.', '-j', '2'], { cwd: buildDir, stdio: 'pipe' })
    const out = execFileSync(join(buildDir, 'engine_test'), { cwd: buildDir, encoding: 'utf8' })
    expect(out).toMatch(/^\d+ passed, 0 failed/m)
  }, 300_000)
})
