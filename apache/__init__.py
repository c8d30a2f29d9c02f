"""The Apache side, through mod_wsgi: the HTML output filter and the WSGI middleware."""
