"""torrentweb.page: what a page links and how it is rewritten, shared by the Apache side (the
filter, the middleware) and the daemon (page bundles, rendered copies).

    scan       the page's asset URLs (one tokenizer, one URL resolver)
    plan       which assets go into the page bundle, which keep their own torrent; the <head> markup
    inject     where the <head> markup goes (or None: the page passes unchanged)
    swap       src -> data-torrent-src for the browser loader
    loadertag  the loader's <script> and its settings
    render     PageFilter: a page rendered against the catalogue

Standard library only: it runs inside Apache's processes.
"""
