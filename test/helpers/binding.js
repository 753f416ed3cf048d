'use strict'
// The raw addon, loaded as lib/base/native.ts loads it (node-gyp-build at the
// repository root: build/Release, else prebuilds/), for tests that call the
// binding without lib/. A worker thread that requires this gets its own
// instance (the addon is context-aware).
const path = require('node:path')

module.exports = require('node-gyp-build')(path.join(__dirname, '..', '..'))
