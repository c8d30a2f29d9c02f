<?php
// torrentweb's dynamic pages inside PHP: what apache/dynamic.lua does for CGI and proxied apps,
// for PHP pages without Lua in the request path (mod_lua's per-request Lua state costs more than
// a small PHP page; README "Dynamic pages"). The snippet makes this PHP's auto_prepend_file
// (php_admin_value for mod_php, PHP_ADMIN_VALUE for php-fpm through mod_proxy_fcgi) and sets
// TORRENTWEB_DYNAMIC_PAGE (the page's file name) only for the requests that pages.dynamic
// selects; the Lua filter then leaves the response alone (the X-Torrentweb-Dynamic header,
// which Apache removes). It reads the request by getenv(), which builds no $_SERVER.
//
// It reads the same instructions (<dir>/pages/<name>.lua, core/page/dynamic.py: a `return {...}`
// of hex-escaped strings, parsed here as data) and keeps the same rules: buffer the body (at
// most TORRENTWEB_DYNAMIC_MAX_PAGE_SIZE), and if it starts with exactly the prefix insert the
// markup; apply each swap whose element occurs once. On any doubt the body passes unchanged.

namespace Torrentweb\Dynamic;

// PHP hands the buffer over each CHUNK bytes (and allocates that much at once: not the size cap)
const CHUNK = 65536;
const STRING = '"((?:[^"\\\\]++|\\\\x[0-9a-f]{2})*+)"';

/** The page's instructions, or null (unreadable: pass the page, as if nothing to add). Its
 * strings hold printable ASCII and \xHH escapes only, which stripcslashes() reads. */
function parse(string $src): ?array
{
    $s = STRING;
    $pair = '\\{' . $s . ',' . $s . '\\}';
    if (!preg_match('/^return \\{v=2,prefix=' . $s . ',head=' . $s . ',etag=' . $s
                    . ',edits=\\{((?:' . $pair . ',?)*)\\}\\}\\n?\\z/', $src, $m)) {
        return null;
    }
    $edits = [];
    if ($m[4] !== '' && preg_match_all('/' . $pair . '/', $m[4], $pairs, PREG_SET_ORDER)) {
        foreach ($pairs as $p) {
            $edits[] = [stripcslashes($p[1]), stripcslashes($p[2])];
        }
    }
    return ['prefix' => stripcslashes($m[1]), 'head' => stripcslashes($m[2]),
            'etag' => stripcslashes($m[3]), 'edits' => $edits];
}

function ask_daemon(string $dir, string $name, string $target): void
{
    $marker = "$dir/requests/$name";
    if (file_exists($marker)) {
        return;
    }
    $tmp = $marker . '.' . getmypid() . '.' . hrtime(true) . '.tmp';
    if (@file_put_contents($tmp, $target) === strlen($target)) {
        @rename($tmp, $marker);
    } else {
        @unlink($tmp);
    }
}

function rewrite(string $body, array $page): ?string
{
    $prefix = $page['prefix'];
    if (strncmp($body, $prefix, strlen($prefix)) !== 0) {
        return null;
    }
    $out = [$prefix, $page['head']];
    $pos = strlen($prefix);
    foreach ($page['edits'] as [$original, $replacement]) {
        $s = strpos($body, $original, $pos);
        if ($s !== false && strpos($body, $original, $s + strlen($original)) === false) {
            $out[] = substr($body, $pos, $s - $pos);
            $out[] = $replacement;
            $pos = $s + strlen($original);
        }
    }
    $out[] = substr($body, $pos);
    return implode('', $out);
}

/** The response's headers by lower-case name (the last one of each). */
function response_headers(): array
{
    $headers = [];
    foreach (headers_list() as $line) {
        $colon = strpos($line, ':');
        if ($colon !== false) {
            $headers[strtolower(substr($line, 0, $colon))] = ltrim(substr($line, $colon + 1));
        }
    }
    return $headers;
}

/** The page's instructions for this response, or null: pass it unchanged. A page without
 * current ones gets a marker for the daemon (as in the Lua filter, also when it is too large). */
function instructions(array $headers, string $dir, string $name): ?array
{
    if (http_response_code() !== 200) {
        return null;
    }
    $type = $headers['content-type'] ?? (string) ini_get('default_mimetype');
    $types = (string) getenv('TORRENTWEB_DYNAMIC_TYPES');
    if ($types === '' || !preg_match("#^($types)([ ;]|$)#i", $type)) {
        return null;
    }
    $encoding = $headers['content-encoding'] ?? '';
    if ($encoding !== '' && $encoding !== 'identity' && $encoding !== 'gzip') {
        return null;                            // brotli and the like: not read here
    }
    $path = "$dir/pages/$name.lua";
    $st = @stat($path);
    $revalidate = (int) (getenv('TORRENTWEB_DYNAMIC_REVALIDATE') ?: 300);
    if ($st === false || time() - $st['mtime'] > $revalidate) {
        $target = (string) getenv('REQUEST_URI');
        if ($target !== '' && $target[0] === '/' && strlen($target) <= 2048) {
            ask_daemon($dir, $name, $target);
        }
    }
    if ($st === false || $st['size'] === 0) {
        return null;
    }
    return parse((string) @file_get_contents($path));
}

/** The body with what torrentweb adds, and its headers changed; null: pass it unchanged. */
function finish(string $body, array $headers, array $page, int $limit): ?string
{
    $length = $headers['content-length'] ?? null;
    $gzip = ($headers['content-encoding'] ?? '') === 'gzip';
    if ($gzip) {                                // the app's ob_gzhandler: read as INFLATE would
        $body = @gzdecode($body, $limit + 1);
        if ($body === false) {
            return null;
        }
    }
    if (($length !== null && (int) $length > $limit) || strlen($body) > $limit) {
        return null;
    }
    $etag = $headers['etag'] ?? null;
    if (headers_sent() && ($length !== null || $etag !== null || $gzip)) {
        return null;                            // too late to change them
    }
    $out = rewrite($body, $page);
    if ($out === null) {
        return null;
    }
    if (!headers_sent()) {
        header_remove('Content-Length');
        if ($gzip) {
            header_remove('Content-Encoding');  // the site's DEFLATE, if any, compresses again
        }
        if ($etag !== null) {
            // the page's own ETag, changed by what was added: "abc" -> "abc-tw<seed>"
            header_remove('ETag');
            if (str_ends_with($etag, '"')) {
                header('ETag: ' . substr($etag, 0, -1) . '-tw' . substr($page['etag'], 0, 8) . '"');
            }
        }
    }
    return $out;
}

(function (): void {
    $name = (string) getenv('TORRENTWEB_DYNAMIC_PAGE');
    $dir = (string) getenv('TORRENTWEB_DYNAMIC_DIR');
    if (strlen($name) !== 40 || $dir === '' || ((string) getenv('REQUEST_METHOD')) !== 'GET'
        || (int) (getenv('TORRENTWEB_DYNAMIC_MAX_PAGE_SIZE') ?: 0) <= 0 || headers_sent()) {
        return;
    }
    $st = @stat("$dir/pages/$name.lua");
    if ($st !== false && $st['size'] === 0) {
        return;                                 // nothing to add (the Lua filter's -s test)
    }
    header('X-Torrentweb-Dynamic: php');        // the Lua filter's sign to stay away
    $limit = (int) getenv('TORRENTWEB_DYNAMIC_MAX_PAGE_SIZE');
    $held = '';                                 // the body so far; null: too large, streaming
    ob_start(function (string $buffer, int $phase) use (&$held, $dir, $name, $limit) {
        if ($held === null) {
            return $buffer;
        }
        if (!($phase & PHP_OUTPUT_HANDLER_CLEAN)) {  // ob_clean(): the app drops what it wrote
            $held .= $buffer;
        }
        $large = strlen($held) > $limit;
        if (!$large && !($phase & PHP_OUTPUT_HANDLER_FINAL)) {
            return '';
        }
        $out = null;
        try {
            $headers = response_headers();
            $page = instructions($headers, $dir, $name);
            if ($page !== null && !$large) {
                $out = finish($held, $headers, $page, $limit);
            }
        } catch (\Throwable $e) {
        }
        $out ??= $held;
        $held = $large ? null : '';
        return $out;
    }, CHUNK);
})();

$own = get_cfg_var('auto_prepend_file');        // the site's own prepend file still runs
if (is_string($own) && $own !== '' && realpath($own) !== __FILE__) {
    require $own;
}
