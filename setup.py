"""torrentweb: the seeder daemon, the tracker and the Apache side, installed as `torrentweb.*`."""
from setuptools import setup

setup(
    name="torrentweb",
    version="0.1.0",
    description="BitTorrent for a web site's heavy content, beside Apache httpd",
    python_requires=">=3.11",
    packages=["torrentweb", "torrentweb.seeder", "torrentweb.seeder.tracker", "torrentweb.apache"],
    package_dir={
        "torrentweb": "core",
        "torrentweb.seeder": "seeder",
        "torrentweb.seeder.tracker": "seeder/tracker",
        "torrentweb.apache": "apache",
    },
    package_data={"torrentweb.apache": ["*.wsgi", "*.html"]},
    install_requires=[
        "libtorrent==2.1.1",
        "watchdog>=6",
        "PyYAML>=6",
        "aiohttp>=3.9",
        "websockets>=13",          # the WebSocket (WebTorrent) tracker
        "prometheus-client>=0.20",
    ],
    extras_require={"apache": ["mod_wsgi>=5"]},
    entry_points={"console_scripts": ["torrentweb=torrentweb.cli:main"]},
)
