'use strict';
// A fastify app served with TCP Fast Open, and two requests to it through
// tfo.http.Agent.
//
// What it demonstrates: fastify's `serverFactory` returning a server with TFO
// on (`tfo.enableFastOpen(http.createServer(handler))`; calling
// `tfo.enableFastOpen(fastify.server)` after `ready()` does the same); the route
// tells from `tfo.fastOpenInfo(request.raw.socket)` whether the request arrived
// in the SYN. The first request has no cookie yet: its SYN asks for one and the
// request follows the handshake. The second is a returning client: the kernel
// sends the cookie and the request rides in the SYN (one round trip saved).
//
// What it prints, one line per request, then exits with code 0:
//   request 1 (first contact): cookie=requested synData=false; the server saw SYN data: false
//   request 2 (returning):     cookie=sent synData=true; the server saw SYN data: true
// Needs net.ipv4.tcp_fastopen=3 (client and server bits), e.g. in a private
// namespace: sudo unshare --net sh -c 'ip link set lo up; sysctl -qw net.ipv4.tcp_fastopen=3; node examples/fastify.js'
// (`npx tfo doctor` says what is missing). With a cookie already cached from an
// earlier run, request 1 sends it too.
//
// `require('tfo')` works here as in your application: the package refers to
// itself by its name (package.json "name" + "exports"). Run `npm run build` first.
const http = require('node:http');
const Fastify = require('fastify');
const tfo = require('tfo');

const fastify = Fastify({
  serverFactory(handler) {
    const server = http.createServer(handler);
    tfo.enableFastOpen(server); // any net.Server: before or after listen()
    return server;
  },
});
fastify.get('/hello', async (request) => ({ synData: tfo.fastOpenInfo(request.raw.socket).synData }));

// keepAlive: false, so each request opens a new connection (a pooled one would be reused).
const agent = new tfo.http.Agent({ keepAlive: false });

function get(port, path) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          body += chunk;
        });
        res.on('end', () => resolve({ client: res.socket.fastOpen, server: JSON.parse(body) }));
      })
      .on('error', reject);
  });
}

async function main() {
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  const { port } = fastify.server.address();
  const labels = ['request 1 (first contact):', 'request 2 (returning):    '];
  for (const label of labels) {
    const { client, server } = await get(port, '/hello');
    console.log(`${label} cookie=${client.cookie} synData=${client.synData}; the server saw SYN data: ${server.synData}`);
  }
  agent.destroy();
  await fastify.close();
}

main();
