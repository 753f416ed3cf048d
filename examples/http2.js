'use strict';
// HTTP/2 over TLS with TCP Fast Open: the second session's TLS ClientHello
// rides in the SYN.
//
// What it demonstrates: `tfo.enableFastOpen()` on an http2.createSecureServer,
// and `tfo.http2.connect()` — http2.connect's options, events and errors —
// opening two sessions one after the other. The first has no cookie yet: its
// SYN asks the server for one. The second is a returning client: the kernel
// sends the cookie and the TLS ClientHello rides in the SYN, so the first
// response comes one round trip sooner. `session.fastOpen` says what happened;
// `tfo.fastOpenInfo(req.socket)` tells the server.
//
// What it prints, one line per session, then exits with code 0:
//   session 1 (first contact): cookie=requested synData=false synDataBytes=0; server saw SYN data: false; :status 200
//   session 2 (returning):     cookie=sent synData=true synDataBytes=358; server saw SYN data: true; :status 200
// (synDataBytes is the ClientHello: ~360 bytes on Node 20, ~1,580 on Node 22+
// with its post-quantum key share, which fits loopback's SYN but not a
// 1,500-byte path's: see the README on ecdhCurve.)
// Needs net.ipv4.tcp_fastopen=3, e.g. in a private namespace:
// sudo unshare --net sh -c 'ip link set lo up; sysctl -qw net.ipv4.tcp_fastopen=3; node examples/http2.js'
//
// The certificate in fixtures/ is self-signed for localhost / 127.0.0.1 / ::1
// and only for this example (its private key is public). `require('tfo')`
// works as in your application (the package refers to itself by name). Run
// `npm run build` first.
const fs = require('node:fs');
const http2 = require('node:http2');
const path = require('node:path');
const tfo = require('tfo');

const key = fs.readFileSync(path.join(__dirname, 'fixtures', 'localhost-key.pem'));
const cert = fs.readFileSync(path.join(__dirname, 'fixtures', 'localhost-cert.pem'));

const server = http2.createSecureServer({ key, cert }, (req, res) => {
  res.end(JSON.stringify({ synData: tfo.fastOpenInfo(req.socket).synData }));
});
tfo.enableFastOpen(server); // any net.Server, TLS and HTTP/2 ones included

function get(authority) {
  return new Promise((resolve, reject) => {
    const session = tfo.http2.connect(authority, { ca: cert });
    session.on('error', reject);
    const req = session.request({ ':path': '/' });
    let status = 0;
    let body = '';
    req.on('response', (headers) => {
      status = headers[':status'];
    });
    req.setEncoding('utf8').on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      const fastOpen = session.fastOpen;
      session.close(() => resolve({ status, fastOpen, server: JSON.parse(body) }));
    });
    req.on('error', reject);
  });
}

server.listen(0, '127.0.0.1', async () => {
  const authority = `https://127.0.0.1:${server.address().port}`;
  for (const label of ['session 1 (first contact):', 'session 2 (returning):    ']) {
    const { status, fastOpen, server: seen } = await get(authority);
    console.log(
      `${label} cookie=${fastOpen.cookie} synData=${fastOpen.synData} synDataBytes=${fastOpen.synDataBytes}; server saw SYN data: ${seen.synData}; :status ${status}`,
    );
  }
  server.close();
});
