"""scripts/try-wordpress end to end: Debian's WordPress (pretty permalinks: every page through
WordPress's rewrite to /index.php) on its own MariaDB, php-fpm, httpd and daemon; the post's page
gets its link, aria2c takes its bundle from the web seed, Chromium shows its photo from the swarm
once hot, and what an anonymous visitor cannot see stays out. The script prints each check and
exits 0 only when all passed; here it must, and it must leave no process behind.

Its packages come from scripts/install-deps; a test never installs them itself."""
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "try-wordpress"
PACKAGES = ("wordpress", "wordpress-theme-twentytwentythree", "mariadb-server", "php8.2-mysql")

pytestmark = pytest.mark.slow


def installed(package: str) -> bool:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return "install ok installed" in out.stdout


def running(pattern: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True).stdout
    return out.splitlines()


@pytest.mark.timeout(600)
def test_wordpress_posts_page_is_linked_its_photo_comes_from_the_swarm_and_nothing_private_leaks():
    missing = [p for p in PACKAGES if not installed(p)]
    if missing:
        pytest.skip(f"not installed: {' '.join(missing)} (scripts/install-deps)")
    out = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=540)
    report = out.stdout[-6000:] + out.stderr[-3000:]
    assert out.returncode == 0, report
    summary = re.search(r"^(\d+) checks passed, 0 failed", out.stdout, re.M)
    assert summary and int(summary.group(1)) >= 25, report
    for must in ('the page carries <link rel="torrent">', "aria2c's files are byte-identical to the uploads",
                 "Apache's log has no GET of an upload", "the private post (editor, after the daemon looked)"):
        assert f"ok    {must}" in out.stdout, report
    assert not running("try-wordpress-"), running("try-wordpress-")      # its httpd, mariadbd, php-fpm
