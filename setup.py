"""torrentweb: the seeder daemon, the tracker and the Apache side, installed as `torrentweb.*`."""
from setuptools import setup

setup(
    name="torrentweb",
    version="0.1.0",
    description="BitTorrent for a web site's heavy content, beside Apache httpd",
    python_requires=">=3.11",
    packages=["torrentweb", "torrentweb.page", "torrentweb.seeder", "torrentweb.seeder.tracker",
              "torrentweb.apache", "torrentweb.conf", "torrentweb.loader"],
    package_dir={
        "torrentweb": "core",               # the shared layer: config, catalogue, page, naming, errors
        "torrentweb.page": "core/page",
        "torrentweb.seeder": "seeder",
        "torrentweb.seeder.tracker": "seeder/tracker",
        "torrentweb.apache": "apache",
        "torrentweb.conf": "conf",          # templates, the example YAML, the systemd unit
        "torrentweb.loader": "loader",      # the browser loader; build the wheel after `make npm`
    },
    package_data={
        "torrentweb.apache": ["*.wsgi", "*.html", "*.lua", "*.php"],
        "torrentweb.conf": ["*.in", "*.yaml", "*.conf", "*.service"],
        "torrentweb.loader": ["src/*.js", "node_modules/webtorrent/dist/webtorrent.min.js"],
    },
    install_requires=[
        "libtorrent==2.1.1",
        "watchdog>=6",
        "PyYAML>=6",
        "pydantic>=2.7,<3",        # validates the YAML against the config's dataclasses
        "websockets>=13",          # the WebSocket (WebTorrent) tracker
        "prometheus-client>=0.20",
    ],
    extras_require={"apache": ["mod_wsgi>=5"]},
    entry_points={"console_scripts": ["torrentweb=torrentweb.cli:main"]},
)
