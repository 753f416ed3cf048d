'use strict'
// The package's entry points besides 'tfo' itself: subpath → module under
// dist/ (without extension), and the name under which 'tfo' exposes each as a
// lazily loaded namespace (a getter, so `require('tfo')` does not load
// node:http, node:tls, ...). package.json "exports" lists the same subpaths
// (the tests check that the two agree).
module.exports = {
  subpaths: {
    './http': 'http/http',
    './https': 'http/https',
    './tls': 'http/tls',
    './undici': 'http/undici',
    './http2': 'http/http2',
  },
  lazy: ['http', 'https', 'tls', 'undici', 'http2'],
}
