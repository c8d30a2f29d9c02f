// The npm bittorrent-tracker server as a baseline for bench/tracker.py: HTTP /announce and
// WebSocket on one port, quiet (logging each announce halves its throughput), whitelisting
// the same info-hashes as ours and opentracker. Usage: node tracker_npm.mjs PORT WHITELIST
import fs from 'node:fs'
import Server from 'bittorrent-tracker/server'

const [port, whitelistPath] = process.argv.slice(2)
const allowed = new Set(fs.readFileSync(whitelistPath, 'ascii').split('\n').filter(Boolean))
const server = new Server({
  udp: false, http: true, ws: true, stats: false, trustProxy: false,
  filter: (infoHash, params, cb) => cb(allowed.has(infoHash) ? null : new Error('not tracked here'))
})
server.on('error', e => console.error('error: ' + e.message))
server.on('listening', () => console.log('listening ' + server.http.address().port))
server.listen(Number(port), '127.0.0.1')
process.on('SIGTERM', () => server.close(() => process.exit(0)))
