'use strict'
// The version the package says it is and the one CHANGELOG.md describes agree;
// CHANGELOG follows Keep a Changelog (a version heading `## [x.y.z] - date`
// or `- Unreleased` while it is not published, known section names only);
// `engines`, the README's platform section and the CI script name the same
// Node majors.
const t = require('tap')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
const changelog = fs.readFileSync(path.join(root, 'CHANGELOG.md'), 'utf8')
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8')
const ci = fs.readFileSync(path.join(root, '.ci', 'run'), 'utf8')

t.test('package.json version is the newest CHANGELOG version', async (t) => {
  const versions = [...changelog.matchAll(/^## \[([^\]]+)\](.*)$/gm)].map((m) => ({ v: m[1], rest: m[2] }))
  const released = versions.filter((x) => x.v !== 'Unreleased')
  t.ok(released.length > 0, 'CHANGELOG has a version heading')
  t.equal(released[0].v, pkg.version, "the newest heading is package.json's version")
  for (const x of released) {
    t.match(x.rest, /^ - (\d{4}-\d{2}-\d{2}|Unreleased)$/, `## [${x.v}] has a date, or says Unreleased`)
  }
})

t.test("CHANGELOG sections are Keep a Changelog's", async (t) => {
  const known = new Set(['Added', 'Changed', 'Deprecated', 'Removed', 'Fixed', 'Security'])
  const sections = [...changelog.matchAll(/^### (.+)$/gm)].map((m) => m[1].trim())
  t.ok(sections.length > 0)
  for (const s of sections) t.ok(known.has(s), `section "${s}"`)
})

t.test('engines, README and CI name the same Node majors', async (t) => {
  const majors = [...pkg.engines.node.matchAll(/\^(\d+)\./g)].map((m) => Number(m[1])).sort((a, b) => a - b)
  t.ok(majors.length >= 1, `engines: ${pkg.engines.node}`)
  const m = ci.match(/^NODE_MAJORS=\(([\d ]+)\)/m)
  t.ok(m, '.ci/run sets NODE_MAJORS')
  const ciMajors = m
    ? m[1]
        .trim()
        .split(/\s+/)
        .map(Number)
        .sort((a, b) => a - b)
    : []
  t.same(ciMajors, majors, 'CI tests every major engines allows, and no other')
  const platform = readme.split(/^## Platform support$/m)[1]?.split(/^## /m)[0] ?? ''
  for (const v of majors) t.match(platform, new RegExp(`\\b${v}\\.\\d+\\.\\d+\\b`), `README's platform section names the exact Node ${v} release CI tests`)
})
