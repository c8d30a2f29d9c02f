/*! torrentweb loader: takes a page's assets from its BitTorrent swarm, falls back to HTTP.
 *
 * Injected by torrentweb's Apache filter as a classic <script defer> with an integrity hash.
 * Settings come from the script element's data-* attributes (rendered from `loader:` in the
 * YAML): data-bundle, data-deadline, data-scrape, data-upload-limit, data-seed-time,
 * data-metered-upload, data-p2p, data-max-file-size.
 *
 * Hot page: elements swapped by the filter carry data-torrent-src / -srcset / -poster; this
 * script puts the bytes back: blob URLs from the swarm, or the plain URL whenever anything goes
 * wrong. Cold page (links and loader, nothing swapped): the page loads by plain HTTP; after its
 * load event this script seeds, from the browser's HTTP cache, the pieces of the page's torrents
 * it can verify, and downloads nothing.
 *
 * The visitor's say: no peer-to-peer at all when localStorage['torrentweb-opt-out'] is '1'
 * (window.torrentweb.optOut() / optIn()), when navigator.connection.saveData is set, or when
 * the site disables it (data-p2p="0"); no uploading on metered connections unless the site
 * opts in (data-metered-upload="1"). Peers in a swarm see each other's IP addresses.
 */
(function () {
  'use strict'

  var OPT_OUT_KEY = 'torrentweb-opt-out'
  var SWAPPED = ['src', 'srcset', 'poster']
  var SELECTOR = '[data-torrent-src],[data-torrent-srcset],[data-torrent-poster]'
  var script = document.currentScript
  var cfg = readSettings(script ? script.dataset : {})
  var client = null
  var pending = new Set()          // elements still waiting for their bytes
  var timers = []

  var api = window.torrentweb = {
    version: '0.1.0',
    mode: undefined,               // hot: swapped elements from the swarm | cold: seed the HTTP cache
    state: 'starting',             // starting | off:<reason> | swarm | done | cold | seeding | stopped
    seeding: undefined,            // once all is shown: true while this tab seeds, else false
    cached: { pieces: 0, bytes: 0, files: [], skipped: [] },   // cold: what this tab seeds, and why not the rest
    elements: [],                  // [{url, via}] as each element is shown; via = swarm | webseed | http
    fallbacks: [],                 // [{infoHash, reason}]: why a torrent's web seed was added
    timing: {},                    // ms since navigation: start, bundle, torrents, firstWire, done
    optOut: function () {
      try { localStorage.setItem(OPT_OUT_KEY, '1') } catch (e) { /* storage blocked: still stop */ }
      stop('off:opt-out')
    },
    optIn: function () {
      try { localStorage.removeItem(OPT_OUT_KEY) } catch (e) { /* nothing to undo */ }
    },
    optedOut: function () { return optedOut() }
  }

  // The settings come from the site's YAML through the tag's data-* attributes (loadertag.py),
  // the one source of their defaults: a tag without them is not ours to guess, so the page
  // stays on plain HTTP (null here, 'off:settings' below).
  function readSettings (d) {
    var keys = ['bundle', 'p2p', 'deadline', 'scrape', 'uploadLimit', 'seedTime', 'meteredUpload', 'maxFileSize']
    var num = function (v) { var n = parseFloat(v); return isFinite(n) && n >= 0 ? n : NaN }
    if (keys.some(function (k) { return d[k] === undefined || d[k] === '' })) return null
    var out = {
      bundle: d.bundle,
      deadlineMs: num(d.deadline) * 1000,
      scrape: d.scrape !== '0',
      uploadLimit: num(d.uploadLimit),
      seedTimeMs: num(d.seedTime) * 1000,
      meteredUpload: d.meteredUpload === '1',
      p2p: d.p2p !== '0',
      maxFileSize: num(d.maxFileSize)
    }
    return [out.deadlineMs, out.uploadLimit, out.seedTimeMs, out.maxFileSize].some(isNaN) ? null : out
  }

  function mark (name) {
    if (!(name in api.timing)) api.timing[name] = Math.round(performance.now())
  }

  function optedOut () {
    try { return localStorage.getItem(OPT_OUT_KEY) === '1' } catch (e) { return false }
  }

  function connection () { return navigator.connection || {} }

  function blockedReason () {
    if (!cfg) return 'settings'
    if (!cfg.p2p) return 'site'
    if (optedOut()) return 'opt-out'
    if (connection().saveData) return 'save-data'
    if (typeof RTCPeerConnection === 'undefined') return 'no-webrtc'
    if (typeof WebSocket === 'undefined') return 'no-websocket'
    return null
  }

  function metered () {
    var c = connection()
    return c.metered === true || c.type === 'cellular'
  }

  // --- putting bytes back --------------------------------------------------------------------

  function restore (el, via) {
    if (el.hasAttribute('data-torrent-state')) return
    if (el._torrentwebStream) {               // a stream that failed: the plain URL instead
      el._torrentwebStream = false
      el.setAttribute('data-torrent-src', el._torrentwebUrl)
    }
    SWAPPED.forEach(function (attr) {
      var url = el.getAttribute('data-torrent-' + attr)
      if (url === null) return
      el.removeAttribute('data-torrent-' + attr)
      el.setAttribute(attr, url)
    })
    finish(el, via || 'http', el.getAttribute('src') || el.getAttribute('srcset'))
  }

  function finish (el, via, url) {
    if (el.hasAttribute('data-torrent-state')) return       // shown already (swarm or HTTP)
    el.setAttribute('data-torrent-state', via)
    pending.delete(el)
    api.elements.push({ url: url, via: via, stream: !!el._torrentwebStream })
    var media = mediaOf(el)
    if (media && !el._torrentwebStream) {      // a stream is playing already: leave it be
      if (media !== el && !media.querySelector('[data-torrent-src]')) media.load()
      else if (media === el) el.load()
    }
    if (pending.size === 0 && api.state === 'swarm') { api.state = 'done'; mark('done') }
  }

  function mediaOf (el) {
    if (el.tagName === 'VIDEO' || el.tagName === 'AUDIO') return el
    var p = el.parentElement
    return el.tagName === 'SOURCE' && p && (p.tagName === 'VIDEO' || p.tagName === 'AUDIO') ? p : null
  }

  function restoreAll (reason) {
    Array.prototype.forEach.call(document.querySelectorAll(SELECTOR), function (el) { restore(el, 'http') })
    if (reason) api.state = reason
  }

  function stop (reason) {
    timers.forEach(clearTimeout)
    timers = []
    restoreAll(reason)
    if (client) { client.destroy(); client = null }
    api.seeding = false
  }

  // --- the swarm -----------------------------------------------------------------------------

  function absolute (url) { return new URL(url, document.baseURI) }

  function samePath (url, file, torrent) {
    var path = decodeURIComponent(url.pathname)
    var parts = file.path.split(/[/\\]/)
    if (parts.length > 1) return path === '/' + parts.slice(1).join('/')   // multi-file: name/rel
    return torrent.urlList.some(function (seed) {                          // single-file: its URL
      try { return decodeURIComponent(absolute(seed).pathname) === path } catch (e) { return false }
    })
  }

  // Each swapped attribute is a list of (url, descriptor); srcset keeps its descriptors.
  function wanted (el) {
    var out = []
    SWAPPED.forEach(function (attr) {
      var value = el.getAttribute('data-torrent-' + attr)
      if (value === null) return
      var parts = attr === 'srcset' ? value.split(',') : [value]
      parts.forEach(function (part) {
        var t = part.trim().split(/\s+/)
        if (t[0]) out.push({ attr: attr, url: absolute(t[0]), descriptor: attr === 'srcset' ? t.slice(1).join(' ') : '' })
      })
    })
    return out
  }

  function inView (el) {
    var target = el.tagName === 'SOURCE' ? el.parentElement : el
    var r = target.getBoundingClientRect()
    return r.bottom >= 0 && r.top <= innerHeight && r.right >= 0 && r.left <= innerWidth
  }

  function filesFor (el, torrents) {
    return wanted(el).map(function (w) {
      for (var i = 0; i < torrents.length; i++) {
        var t = torrents[i]
        var f = t.files.find(function (file) { return samePath(w.url, file, t) })
        if (f) return { want: w, file: f, torrent: t }
      }
      return null
    })
  }

  async function show (el, parts) {
    var values = {}
    var via = 'swarm'
    for (var i = 0; i < parts.length; i++) {
      var p = parts[i]
      var blob = await p.file.blob()
      var url = URL.createObjectURL(new Blob([blob], { type: p.file.type || blob.type }))
      if (p.torrent._torrentwebWebSeed) via = 'webseed'
      values[p.want.attr] = (values[p.want.attr] ? values[p.want.attr] + ', ' : '') +
        (p.want.descriptor ? url + ' ' + p.want.descriptor : url)
    }
    if (!pending.has(el)) return        // HTTP won the race (hard deadline)
    Object.keys(values).forEach(function (attr) {
      el.removeAttribute('data-torrent-' + attr)
      el.setAttribute(attr, values[attr])
    })
    finish(el, via, parts[0].want.url.href)
  }

  function useWebSeed (torrent, reason) {
    if (torrent._torrentwebWebSeed || torrent.destroyed) return
    torrent._torrentwebWebSeed = true
    api.fallbacks.push({ infoHash: torrent.infoHash, reason: reason })
    torrent.urlList.forEach(function (url) { torrent.addWebSeed(url) })
  }

  // WebTorrent creates torrent.discovery (and its tracker client) a tick after client.add;
  // no tracker reply can arrive before the WebSocket opens, so polling per tick misses none.
  function whenDiscovery (torrent, fn) {
    (function poll () {
      if (torrent.destroyed) return
      if (torrent.discovery) fn(torrent.discovery)
      else setTimeout(poll, 5)
    })()
  }

  function watchTracker (torrent) {
    // The announce reply carries the swarm's seeder count (a scrape in the same round trip):
    // none -> the web seed at once. A tracker that cannot be reached -> the same. (No timer
    // here: WebTorrent announces only once its WebRTC offers are ready, which can take a
    // while; the deadline covers a tracker that accepts but never answers.)
    var answered = false
    whenDiscovery(torrent, function (discovery) {
      if (!discovery.tracker || usable().length === 0) return useWebSeed(torrent, 'tracker-error')
      discovery.tracker.on('update', function (data) {
        answered = true
        if (cfg.scrape && !data.complete && torrent.numPeers === 0) useWebSeed(torrent, 'no-seeders')
      })
    })
    // Browsers speak only ws(s):// to trackers: the swarm is out of reach once every one of
    // them has failed to connect (other URLs in the torrent only add harmless warnings).
    var usable = function () { return (torrent.announce || []).filter(function (u) { return /^wss?:/.test(u) }) }
    var failed = new Set()
    torrent.on('warning', function (err) {
      var text = String(err && err.message)
      console.debug('torrentweb: ' + torrent.infoHash + ': ' + text)
      var m = /^(?:Error connecting to|Connection error:?) *(\S*)/.exec(text)
      if (!m) return
      failed.add(m[1] || text)
      if (!answered && failed.size >= usable().length) useWebSeed(torrent, 'tracker-error')
    })
  }

  async function fetchTorrent (link) {
    var res = await fetch(link.href, { credentials: 'same-origin' })
    if (!res.ok) throw new Error(link.href + ': HTTP ' + res.status)
    return new Uint8Array(await res.arrayBuffer())
  }

  function addTorrent (buf) {
    return new Promise(function (resolve, reject) {
      // rarest first: visitors arriving together then hold different pieces and trade them
      // (WebTorrent's default, sequential, has them all wait for the same piece); a streamed
      // file still gets its next pieces first through its own stream selection
      var torrent = client.add(buf, { deselect: true, strategy: 'rarest' }, resolve)
      torrent.once('error', reject)
      torrent.once('wire', function () { mark('firstWire') })
      if (metered() && !cfg.meteredUpload) {
        // No uploading: peers stay choked (they cannot request), our own requests go out.
        torrent.on('wire', function (wire) { wire.unchoke = function () {} })
      }
      watchTracker(torrent)
    })
  }

  function whenDone (parts, fn) {
    var waiting = parts.filter(function (p) { return !p.file.done })
    if (waiting.length === 0) return fn()
    var left = waiting.length
    waiting.forEach(function (p) {
      p.file.once('done', function () { if (--left === 0) fn() })
    })
  }

  function schedule (el, parts) {
    parts.forEach(function (p) {
      if (!p.file.done) p.file.select(inView(el) ? 1 : 0)
    })
    var src = mediaOf(el) && parts.length === 1 && parts[0].want.attr === 'src' ? parts[0] : null
    if (src && mediaType(src.file)) {
      stream(el, src).catch(function (err) {
        api.error = 'stream: ' + (err && err.message)
        if (pending.has(el)) restore(el, 'http')
      })
    } else {
      whenDone(parts, function () { show(el, parts).catch(function () { restore(el, 'http') }) })
    }
    watchSwarm(el, parts)
  }

  function received (parts) {
    var torrents = Array.from(new Set(parts.map(function (p) { return p.torrent })))
    return torrents.reduce(function (n, t) { return n + t.received }, 0)
  }

  // The origin is the backstop, not a peer among equals: the web seed joins only once the
  // swarm has delivered nothing for a deadline (from the start: nothing at all). A swarm that
  // keeps delivering is left to finish; in a flash crowd a fixed deadline would send every
  // visitor to the origin at once, which is what the swarm is there to prevent.
  function watchSwarm (el, parts) {
    var last = received(parts)
    var since = Date.now()
    var check = function () {
      if (!pending.has(el) || el._torrentwebPlaying) return
      var got = received(parts)
      if (got !== last) { last = got; since = Date.now() }
      if (Date.now() - since >= cfg.deadlineMs) {
        parts.forEach(function (p) { useWebSeed(p.torrent, 'deadline') })
        return watchStall(el, parts)
      }
      timers.push(setTimeout(check, 250))
    }
    timers.push(setTimeout(check, 250))
  }

  // Never worse than plain HTTP: once the web seed is in, an element whose bytes stop coming
  // gets its plain URL, after a deadline when no web seed connection is left, after three when
  // one is but has delivered nothing (404, refused, CORS). A web seed that has delivered is the
  // origin at work: a capped one can take longer than a deadline per piece, and starting over
  // by plain HTTP would only make the origin send the bytes twice.
  function watchStall (el, parts) {
    var torrents = Array.from(new Set(parts.map(function (p) { return p.torrent })))
    var last = -1
    var since = Date.now()
    var check = function () {
      if (!pending.has(el) || el._torrentwebPlaying) return
      var got = received(parts)
      if (got !== last) { last = got; since = Date.now() }
      var seeds = [].concat.apply([], torrents.map(function (t) {
        return t.wires.filter(function (w) { return w.type === 'webSeed' && !w.destroyed })
      }))
      if (seeds.some(function (w) { return w.downloaded > 0 })) since = Date.now()  // it delivers
      if (Date.now() - since >= cfg.deadlineMs * (seeds.length ? 3 : 1)) {
        api.fallbacks.push({ infoHash: torrents[0].infoHash, reason: 'stalled', bytes: got })
        return restore(el, 'http')
      }
      timers.push(setTimeout(check, 250))
    }
    check()
  }

  // --- media: played while it downloads (MediaSource), for the types MSE takes as a byte stream

  var MSE_TYPES = {
    'video/webm': [['V_VP9', 'vp9'], ['V_VP8', 'vp8'], ['V_AV1', 'av01.0.08M.08'], ['A_OPUS', 'opus'], ['A_VORBIS', 'vorbis']],
    'audio/webm': [['A_OPUS', 'opus'], ['A_VORBIS', 'vorbis']],
    'audio/mpeg': null
  }

  function mediaType (file) {
    var type = file.type === 'audio/webm' || file.type === 'video/webm' || file.type === 'audio/mpeg' ? file.type : null
    return type && typeof MediaSource !== 'undefined' ? type : null
  }

  async function mseType (file) {
    var type = mediaType(file)
    var codecs = MSE_TYPES[type]
    if (!codecs) return MediaSource.isTypeSupported(type) ? type : null
    // WebM names its codecs (CodecID) in the Tracks element, before the first cluster.
    var head = new Uint8Array(await file.arrayBuffer({ start: 0, end: Math.min(file.length, 65536) - 1 }))
    var text = String.fromCharCode.apply(null, head)
    var found = codecs.filter(function (c) { return text.indexOf(c[0]) >= 0 }).map(function (c) { return c[1] })
    var full = type + '; codecs="' + found.join(',') + '"'
    return found.length && MediaSource.isTypeSupported(full) ? full : null
  }

  async function stream (el, part) {
    var media = mediaOf(el)
    var type = await mseType(part.file)
    if (!type) {                                         // not a stream MSE takes: whole file
      return whenDone([part], function () { show(el, [part]).catch(function () { restore(el, 'http') }) })
    }
    var source = new MediaSource()
    var url = URL.createObjectURL(source)
    await new Promise(function (resolve) {
      source.addEventListener('sourceopen', resolve, { once: true })
      el._torrentwebStream = true
      el._torrentwebUrl = el.getAttribute('data-torrent-src')
      el.removeAttribute('data-torrent-src')
      el.setAttribute('src', url)
      if (el !== media) media.load()
    })
    var buffer = source.addSourceBuffer(type)
    media.addEventListener('timeupdate', function () { if (media.currentTime > 0) el._torrentwebPlaying = true })
    for await (var chunk of part.file) {
      await append(buffer, media, chunk)
    }
    source.endOfStream()
    finish(el, part.torrent._torrentwebWebSeed ? 'webseed' : 'swarm', part.want.url.href)
  }

  async function append (buffer, media, chunk) {
    for (;;) {
      try {
        buffer.appendBuffer(chunk)
        await new Promise(function (resolve, reject) {
          buffer.addEventListener('updateend', resolve, { once: true })
          buffer.addEventListener('error', reject, { once: true })
        })
        return
      } catch (err) {
        if (err.name !== 'QuotaExceededError') throw err
        await new Promise(function (resolve) { setTimeout(resolve, 1000) })   // let it play
        if (media.currentTime > 10 && !buffer.updating) {
          buffer.remove(0, media.currentTime - 10)
          await new Promise(function (resolve) { buffer.addEventListener('updateend', resolve, { once: true }) })
        }
      }
    }
  }

  // --- cold: the page came by plain HTTP; seed what the browser already holds ----------------

  // The same-origin URLs this page fetched (resource timing) or shows: the candidates for its
  // torrents' files. Nothing else is read: the HTTP cache has only what the page displayed.
  function displayedUrls () {
    var urls = new Set(performance.getEntriesByType('resource').map(function (e) { return e.name }))
    Array.prototype.forEach.call(document.querySelectorAll('img,video,audio,source'), function (el) {
      if (el.currentSrc) urls.add(el.currentSrc)
    })
    return Array.from(urls).map(absolute).filter(function (u) { return u.origin === location.origin })
  }

  // The bytes of url from the HTTP cache, or an error: 'only-if-cached' never goes to the network
  // (a miss is a network error), so the origin sends nothing a second time.
  async function fromCache (url, length) {
    var res = await fetch(url.href, { cache: 'only-if-cached', mode: 'same-origin', credentials: 'same-origin' })
    if (res.status !== 200) throw new Error('HTTP ' + res.status)
    var buf = new Uint8Array(await res.arrayBuffer())
    if (buf.length !== length) throw new Error(buf.length + ' bytes cached, the torrent says ' + length)
    return buf
  }

  // An abstract-chunk-store of the pieces read from the HTTP cache, handed to WebTorrent as its
  // preloadedStore: WebTorrent hashes each piece it gets from here against the torrent
  // (_verifyPieces) and announces only those that match. get() waits until fill() has read the
  // cache, which it does once the torrent's metadata is parsed.
  function CachedStore () {
    var self = this
    self.torrent = null
    self.chunks = []
    self.filled = new Promise(function (resolve) { self.fill = function (chunks) { self.chunks = chunks; resolve() } })
  }
  Object.defineProperty(CachedStore.prototype, 'chunkLength', { get: function () { return this.torrent.pieceLength } })
  CachedStore.prototype.put = function (index, buf, cb) {
    this.chunks[index] = buf
    if (cb) queueMicrotask(function () { cb(null) })
  }
  CachedStore.prototype.get = function (index, opts, cb) {
    if (typeof opts === 'function') { cb = opts; opts = null }
    var self = this
    self.filled.then(function () {
      var buf = self.chunks[index]
      if (!buf) return cb(new Error('piece ' + index + ' not in the HTTP cache'))
      var offset = (opts && opts.offset) || 0
      var length = (opts && opts.length) || buf.length - offset
      cb(null, buf.subarray(offset, offset + length))
    })
  }
  CachedStore.prototype.close = CachedStore.prototype.destroy = function (cb) {
    this.chunks = []
    if (cb) queueMicrotask(function () { cb(null) })
  }

  // Each file's bytes (or null) -> the pieces wholly covered by cached files.
  function piecesOf (torrent, bytes) {
    var chunks = []
    for (var index = 0; index < torrent.pieces.length; index++) {
      var start = index * torrent.pieceLength
      var end = Math.min(start + torrent.pieceLength, torrent.length)
      var spans = []
      var whole = torrent.files.every(function (file, i) {
        if (file.offset >= end || file.offset + file.length <= start) return true
        if (!bytes[i]) return false
        spans.push(bytes[i].subarray(Math.max(start - file.offset, 0), Math.min(end - file.offset, file.length)))
        return true
      })
      if (!whole || spans.length === 0) continue
      if (spans.length === 1) { chunks[index] = spans[0]; continue }
      var piece = new Uint8Array(end - start)
      spans.reduce(function (at, span) { piece.set(span, at); return at + span.length }, 0)
      chunks[index] = piece
    }
    return chunks
  }

  async function readCache (torrent) {
    var urls = displayedUrls()
    return Promise.all(torrent.files.map(async function (file) {
      var url = urls.find(function (u) { return samePath(u, file, torrent) })
      var skip = function (reason) { api.cached.skipped.push({ path: file.path, reason: reason }); return null }
      if (!url) return skip('not shown')
      if (file.length > cfg.maxFileSize) return skip('larger than max_file_size')
      try {
        var buf = await fromCache(url, file.length)
        api.cached.files.push(url.href)
        return buf
      } catch (err) {
        return skip('not cached: ' + (err && err.message))
      }
    }))
  }

  // Resolves with the torrent once WebTorrent has verified what the cache held (the torrent then
  // announces itself), or with null, before any announce, when no whole piece was cached.
  function addCached (buf) {
    if (!client) return null                        // stopped meanwhile
    return new Promise(function (resolve, reject) {
      var store = new CachedStore()
      var torrent = client.add(buf, { deselect: true, preloadedStore: store, storeCacheSlots: 0 }, resolve)
      store.torrent = torrent
      torrent.once('error', reject)
      torrent.once('metadata', function () {
        readCache(torrent).then(function (bytes) {
          var chunks = piecesOf(torrent, bytes)
          if (chunks.length === 0) { torrent.destroy(); resolve(null) }
          store.fill(chunks)
        }, reject)
      })
    })
  }

  function loaded () {
    if (document.readyState === 'complete') return Promise.resolve()
    return new Promise(function (resolve) { addEventListener('load', function () { setTimeout(resolve) }, { once: true }) })
  }

  async function cold (links) {
    // No uploading on metered connections unless the site says so, and a cold tab would only
    // upload: it does not join at all.
    if (metered() && !cfg.meteredUpload) { api.state = 'off:metered'; api.seeding = false; return }
    api.state = 'cold'
    await loaded()                  // nothing of ours competes with the page's own loading
    if (api.state !== 'cold') return                // opted out meanwhile
    mark('start')
    var files = Array.prototype.map.call(links, fetchTorrent)
    files.forEach(function (p) { p.catch(function () {}) })     // awaited below
    var WebTorrent = (await import(cfg.bundle)).default
    mark('bundle')
    if (api.state !== 'cold') return
    newClient(WebTorrent)
    var torrents = (await Promise.all(files.map(function (p) { return p.then(addCached) }))).filter(Boolean)
    mark('torrents')
    if (api.state !== 'cold') return
    api.cached.pieces = torrents.reduce(function (n, t) {
      return n + t.pieces.filter(function (_, i) { return t.bitfield.get(i) }).length
    }, 0)
    api.cached.bytes = torrents.reduce(function (n, t) { return n + t.downloaded }, 0)
    if (api.cached.pieces === 0) return stop('off:not-cached')
    api.state = 'seeding'
    api.seeding = true
    if (cfg.seedTimeMs > 0) timers.push(setTimeout(function () { stop('stopped') }, cfg.seedTimeMs))
  }

  // --- start ---------------------------------------------------------------------------------

  function newClient (WebTorrent) {
    var upload = cfg.uploadLimit > 0 ? cfg.uploadLimit : -1   // throttles the whole connection
    client = new WebTorrent({
      webSeeds: false,               // the origin is the backstop: added late, by useWebSeed
      uploadLimit: upload,
      tracker: { rtcConfig: { iceServers: [] } }
    })
    client.on('error', function () { stop('off:error') })
    api.client = client
  }

  function keepSeeding () {
    api.seeding = !(metered() && !cfg.meteredUpload)
    if (!api.seeding) { stop(api.state); return }
    if (cfg.seedTimeMs > 0) timers.push(setTimeout(function () { stop('stopped') }, cfg.seedTimeMs))
  }

  async function start () {
    var links = document.querySelectorAll('link[rel~="torrent"][href]')
    var elements = Array.prototype.slice.call(document.querySelectorAll(SELECTOR))
    api.mode = elements.length ? 'hot' : 'cold'
    if (links.length === 0) { restoreAll('off:no-torrent'); return }
    var why = blockedReason()
    if (why) { restoreAll('off:' + why); return }
    if (api.mode === 'cold') return cold(links)
    elements.forEach(function (el) { pending.add(el) })

    var files = Array.prototype.map.call(links, fetchTorrent)   // while the bundle loads
    files.forEach(function (p) { p.catch(function () {}) })     // awaited below
    mark('start')
    var WebTorrent = (await import(cfg.bundle)).default
    mark('bundle')
    newClient(WebTorrent)
    api.state = 'swarm'
    var torrents = await Promise.all(files.map(function (p) { return p.then(addTorrent) }))
    mark('torrents')

    elements.sort(function (a, b) { return inView(b) - inView(a) })   // visible first
    elements.forEach(function (el) {
      var parts = filesFor(el, torrents)
      if (parts.length === 0 || parts.some(function (p) { return !p || p.file.length > cfg.maxFileSize })) {
        restore(el, 'http')
      } else {
        schedule(el, parts)
      }
    })
    if (pending.size === 0) api.state = 'done'
    var seeded = function () { if (pending.size === 0) keepSeeding(); else timers.push(setTimeout(seeded, 250)) }
    seeded()
  }

  addEventListener('pagehide', function () { if (client) { client.destroy(); client = null } })

  // A defer script runs once the document is parsed; an async one (a placement that keeps the
  // loader's fetch out of a cold page's way) may run before: the elements are looked up after.
  var parsed = document.readyState !== 'loading' ? Promise.resolve() : new Promise(function (resolve) {
    document.addEventListener('DOMContentLoaded', resolve, { once: true })
  })
  parsed.then(start).catch(function (err) {
    api.error = String(err && err.message || err)
    stop('off:error')
  })
})()
