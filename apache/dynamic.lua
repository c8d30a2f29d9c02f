-- torrentweb's output filter for pages that no file holds (PHP, CGI, proxied apps): mod_lua's
-- LuaOutputFilter, bound by the snippet to the responses pages.dynamic selects (FilterProvider).
--
-- It parses no HTML. The daemon fetched the page's anonymous view, ran the same scan, plan and
-- swap as for static pages, and wrote <dir>/pages/<sha1 of the request target>.lua (see
-- core/page/dynamic.py): a prefix, the markup that goes after it, literal element swaps. Here:
-- buffer the body (at most TORRENTWEB_DYNAMIC_MAX_PAGE_SIZE), and if it starts with exactly that
-- prefix insert the markup; apply each swap whose element occurs once. On any doubt (no file,
-- another prefix, a compressed or too large body, an error) the body passes unchanged.
-- A page without a current file gets a marker in <dir>/requests/ for the daemon. An empty file
-- (nothing to add) keeps this filter from running at all (the snippet's FilterProvider).

local cache = {}          -- file name -> {mtime, page}; one per Lua VM (LuaScope thread)

local function read_page(path, mtime)
    local hit = cache[path]
    if hit and hit[1] == mtime then
        return hit[2]
    end
    local chunk = loadfile(path, "t", {})
    local ok, page = false, nil
    if chunk then
        ok, page = pcall(chunk)
    end
    if not ok or type(page) ~= "table" or page.v ~= 2 then
        page = {v = 2}                     -- unreadable: pass the page, as if nothing to add
    end
    cache[path] = {mtime, page}
    return page
end

local function ask_daemon(r, dir, name, target)
    local marker = dir .. "/requests/" .. name
    if r:stat(marker) then
        return
    end
    local tmp = marker .. "." .. tostring(r:clock()) .. ".tmp"
    local f = io.open(tmp, "w")
    if f then
        f:write(target)
        f:close()
        os.rename(tmp, marker)
    end
end

local function page_for(r)
    local dir = r.subprocess_env["TORRENTWEB_DYNAMIC_DIR"]
    local target = r.unparsed_uri
    if not dir or not target or target:sub(1, 1) ~= "/" or #target > 2048 then
        return nil
    end
    -- the snippet's FilterProvider names the same file: sha1(%{REQUEST_URI} . '?' . %{QUERY_STRING})
    local name = r:sha1(r.uri .. "?" .. (r.args or ""))
    local path = dir .. "/pages/" .. name .. ".lua"
    local st = r:stat(path)
    local revalidate = tonumber(r.subprocess_env["TORRENTWEB_DYNAMIC_REVALIDATE"]) or 300
    if not st or os.time() - st.mtime / 1000000 > revalidate then      -- r:stat() gives µs
        ask_daemon(r, dir, name, target)
    end
    if not st then
        return nil
    end
    return read_page(path, st.mtime)
end

local function rewrite(body, page)
    local prefix = page.prefix
    if body:sub(1, #prefix) ~= prefix then
        return nil
    end
    local out, pos = {prefix, page.head}, #prefix + 1
    for _, edit in ipairs(page.edits) do
        local original, replacement = edit[1], edit[2]
        local s, e = body:find(original, pos, true)
        if s and not body:find(original, e + 1, true) then
            out[#out + 1] = body:sub(pos, s - 1)
            out[#out + 1] = replacement
            pos = e + 1
        end
    end
    out[#out + 1] = body:sub(pos)
    return table.concat(out)
end

local function with_seed(etag, seed)
    -- the page's own ETag, changed by what was added: "abc" -> "abc-tw<seed>"
    if etag:sub(-1) == '"' then
        return etag:sub(1, -2) .. "-tw" .. seed:sub(1, 8) .. '"'
    end
    return nil
end

function filter(r)
    if r.status ~= 200 or r.method ~= "GET" then
        return
    end
    local encoding = r.headers_out["Content-Encoding"]
    if encoding and encoding ~= "" and encoding ~= "identity" then
        return                             -- gzip is inflated before this filter; brotli is not
    end
    local ok, page = pcall(page_for, r)
    if not ok or not page or not page.prefix then
        return
    end
    local limit = tonumber(r.subprocess_env["TORRENTWEB_DYNAMIC_MAX_PAGE_SIZE"]) or 0
    local length = tonumber(r.headers_out["Content-Length"] or "")
    if length and length > limit then
        return
    end
    -- from here on the body is held until the end (or until it is too large)
    r.headers_out["Content-Length"] = nil
    local etag = r.headers_out["ETag"]
    if etag then
        local seeded = with_seed(etag, page.etag)
        if seeded then
            r.headers_out["ETag"] = seeded
        else
            r.headers_out["ETag"] = nil
        end
    end
    local parts, size = {}, 0
    coroutine.yield("")
    while bucket ~= nil do
        if parts == nil then
            coroutine.yield(bucket)           -- too large: the rest streams through
        else
            parts[#parts + 1] = bucket
            size = size + #bucket
            if size > limit then
                coroutine.yield(table.concat(parts))
                parts = nil
            else
                coroutine.yield("")
            end
        end
    end
    if parts ~= nil then
        local body = table.concat(parts)
        local done, out = pcall(rewrite, body, page)
        coroutine.yield((done and out) or body)
    end
end
