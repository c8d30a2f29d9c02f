"""What starts a real origin for the tests, the demo and the benchmarks alike.

A development package of its own (distribution `torrentweb-harness`, harness/pyproject.toml),
installed editable into the dev venv by requirements-test.txt and never part of the product
wheel. The product never imports it (tests/test_layers.py).

- `ports`: free loopback ports outside the ephemeral range;
- `processes`: `Process` (own process group, stopped by PID) and `wait_for`;
- `apache`: a real httpd with mod_wsgi from a config of ours (`start_apache`, `http_get`);
- `php`: Debian's mod_php or php-fpm behind that httpd;
- `daemon`: the real `torrentweb seeder`, ready on READY=1 (`Daemon`, `make_site`, `start_daemon`);
- `browser`: Debian's Chromium through Playwright, a fresh context each time (`chromium`).
"""
