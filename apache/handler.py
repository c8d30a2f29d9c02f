def handle_request(environ, start_response):
    with open(environ["SCRIPT_FILENAME"], "rb") as f:
        body = f.read()
    start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))])
    return [body]
