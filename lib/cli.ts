#!/usr/bin/env node
// The `ved` command (package.json "bin"). Everything lives in cli/; this file only runs it,
// so that importing cli/ (tests, other tools) never parses process.argv or exits.
import { main } from './cli/main.js'

process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr })
