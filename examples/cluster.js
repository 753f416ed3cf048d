'use strict';
// Cluster workers that accept each other's TCP Fast Open cookies, because
// their keys are derived from one shared secret.
//
// What it demonstrates: a cookie is the server's key applied to the client's
// address, so a returning client's SYN data is only accepted by a listener with
// the same key. Three workers each listen on a socket of their own
// (`exclusive: true`) with `tfo.enableFastOpen(server, { keyRotation: { secret } })`:
// workers a and b share a secret, c has another. The primary, as a client,
// gets a cookie from a, then sends it to b (accepted: the request rides in the
// SYN) and to c (refused: the request follows the handshake, nothing lost).
// Every server of a fleet (processes, containers, hosts) does the same with
// the same secret. With the default round-robin scheduling (one listening
// socket, in the primary) call tfo.enableClusterFastOpen({ keyRotation: { secret } })
// in the primary before cluster.fork() instead.
//
// What it prints, then exits with code 0 (pids vary):
//   worker a (pid 101, key derived): cookie=requested synData=false
//   worker b (pid 102, key derived): cookie=sent synData=true
//   worker c (pid 103, key derived): cookie=sent synData=false
// Needs net.ipv4.tcp_fastopen=3, e.g. in a private namespace:
// sudo unshare --net sh -c 'ip link set lo up; sysctl -qw net.ipv4.tcp_fastopen=3; node examples/cluster.js'
//
// `require('tfo')` works as in your application (the package refers to itself
// by name). Run `npm run build` first.
const cluster = require('node:cluster');
const http = require('node:http');
const tfo = require('tfo');

// At least 16 bytes; in production 32 random bytes from a secret store (e.g. process.env.TFO_SECRET).
const SHARED_SECRET = 'example-only shared secret, 32 B';
const OTHER_SECRET = 'another secret: another TFO key!';

if (cluster.isPrimary) {
  const workers = { a: SHARED_SECRET, b: SHARED_SECRET, c: OTHER_SECRET };
  const ports = {};
  for (const [name, secret] of Object.entries(workers)) {
    cluster.fork({ WORKER_NAME: name, WORKER_SECRET: secret }).on('message', ({ port }) => {
      ports[name] = port;
      if (Object.keys(ports).length === Object.keys(workers).length) run(ports);
    });
  }
} else {
  const server = http.createServer((req, res) => {
    res.end(`worker ${process.env.WORKER_NAME} (pid ${process.pid}, key ${server.fastOpen.key.source})`);
  });
  tfo.enableFastOpen(server, { keyRotation: { secret: process.env.WORKER_SECRET } });
  // exclusive: a socket of its own (so a key of its own), bound by the worker itself:
  // the primary does not see it listen, so the worker says where.
  server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => process.send({ port: server.address().port }));
  process.on('disconnect', () => server.close()); // cluster.disconnect() only closes the servers it made
}

async function run(ports) {
  const agent = new tfo.http.Agent({ keepAlive: false }); // a new connection per request
  for (const name of ['a', 'b', 'c']) {
    const { who, fastOpen } = await new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: ports[name], path: '/', agent }, (res) => {
          let who = '';
          res.setEncoding('utf8').on('data', (chunk) => {
            who += chunk;
          });
          res.on('end', () => resolve({ who, fastOpen: res.socket.fastOpen }));
        })
        .on('error', reject);
    });
    console.log(`${who}: cookie=${fastOpen.cookie} synData=${fastOpen.synData}`);
  }
  agent.destroy();
  cluster.disconnect(); // the workers close their servers and exit, then so does the primary
}
