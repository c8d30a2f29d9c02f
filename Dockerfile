# torrentweb: Apache httpd (with mod_wsgi and torrentweb's page filter), the seeder daemon and its
# built-in tracker in one Debian bookworm image. README, section "Docker":
#   docker build -t torrentweb .
#   docker run -d --name torrentweb -p 8080:80 -p 6881:6881 -p 6881:6881/udp -p 6969:6969/udp \
#     -v /srv/site:/var/www/html:ro -v torrentweb-state:/var/lib/torrentweb \
#     -v /srv/torrentweb.yaml:/etc/torrentweb/torrentweb.yaml:ro torrentweb
# Without volumes it serves the demo site (demo/site) at http://localhost:8080/.

# --- the browser loader's npm packages (webtorrent 3 wants a newer Node than Debian's 18) ------
FROM node:20-bookworm-slim AS loader
WORKDIR /opt/torrentweb/loader
COPY loader/package.json loader/package-lock.json loader/.npmrc ./
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
COPY loader/ ./

# --- the venv: Debian's own python3 (Apache's www-data workers load it), mod_wsgi built with apxs -
FROM debian:bookworm-slim AS build
# Unpinned on purpose: Debian stable only ships security and bug fixes, and a pinned version
# disappears from the mirrors at the next point release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends apache2-dev gcc libc6-dev python3-dev python3-venv \
 && rm -rf /var/lib/apt/lists/*
# The package is built into a wheel (with the loader's files from the stage above) and installed
# into the venv: no checkout in the image, templates and loader found as package data.
WORKDIR /opt/torrentweb
COPY setup.py ./src/
COPY core/ src/core/
COPY seeder/ src/seeder/
COPY apache/ src/apache/
COPY conf/ src/conf/
COPY --from=loader /opt/torrentweb/loader src/loader/
RUN /usr/bin/python3 -m venv .venv \
 && .venv/bin/pip wheel --no-cache-dir --no-deps -w /tmp/dist ./src \
 && .venv/bin/pip install --no-cache-dir "$(ls /tmp/dist/torrentweb-*.whl)[apache]" \
 && .venv/bin/mod_wsgi-express module-config > wsgi.load \
 && rm -rf src /tmp/dist

# --- the image: no compiler, no headers, no Node --------------------------------------------
FROM debian:bookworm-slim
LABEL org.opencontainers.image.title="torrentweb" \
      org.opencontainers.image.description="BitTorrent for a web site's heavy content, beside Apache httpd"
# apache2 serves the site, python3 + libpython3.11 run the venv and mod_wsgi; tini is PID 1.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends apache2 libpython3.11 python3 tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --gid www-data --home-dir /var/lib/torrentweb --no-create-home \
      --shell /usr/sbin/nologin torrentweb
COPY --from=build /opt/torrentweb /opt/torrentweb
COPY docker/apache-site.conf /etc/apache2/sites-available/torrentweb.conf
COPY docker/torrentweb.yaml /etc/torrentweb/torrentweb.yaml
COPY docker/entrypoint.sh /usr/local/bin/torrentweb-entrypoint
COPY demo/site/ /var/www/html/
# Debian's module layout: mod_wsgi from the venv, the modules torrentweb's Apache snippet needs;
# Apache's logs go to the container's stdout/stderr.
RUN cp /opt/torrentweb/wsgi.load /etc/apache2/mods-available/wsgi_torrentweb.load \
 && a2enmod -q wsgi_torrentweb alias mime headers env rewrite remoteip proxy proxy_http proxy_wstunnel deflate lua filter setenvif \
 && a2dissite -q 000-default && a2ensite -q torrentweb \
 && ln -sf /dev/stdout /var/log/apache2/access.log \
 && ln -sf /dev/stderr /var/log/apache2/error.log \
 && ln -sf /dev/stdout /var/log/apache2/other_vhosts_access.log \
 && rm -f /var/www/html/index.debian.html \
 && install -d -o torrentweb -g www-data -m 2770 /var/lib/torrentweb \
 && install -d -m 0755 /run/torrentweb \
 && chmod 0755 /usr/local/bin/torrentweb-entrypoint
ENV PATH="/opt/torrentweb/.venv/bin:${PATH}" \
    TORRENTWEB_CONFIG=/etc/torrentweb/torrentweb.yaml \
    LANG=C.UTF-8
# The document root (mount it read-only) and the state directory (catalogue, torrents/).
VOLUME ["/var/www/html", "/var/lib/torrentweb"]
# 80: Apache (pages, assets = web seed, .torrent files, HTTP and WebSocket tracker behind a proxy).
# 6881 TCP+UDP: BitTorrent peers (TCP, uTP). 6969/udp: the UDP tracker (Apache cannot proxy UDP).
EXPOSE 80 6881/tcp 6881/udp 6969/udp
HEALTHCHECK --interval=30s --timeout=10s --start-period=10m \
  CMD ["/bin/sh", "-c", "torrentweb status -c \"$TORRENTWEB_CONFIG\" > /dev/null"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/torrentweb-entrypoint"]
