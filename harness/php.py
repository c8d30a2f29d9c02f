"""Real PHP behind a test's httpd: Debian's mod_php (mpm_prefork) or php-fpm (mod_proxy_fcgi,
any MPM), the two ways Debian serves PHP.

    with php_fpm(tmp_path) as fpm:                 # php-fpm8.2 in the foreground, stopped by PID
        start_apache(tmp, config, extra=fpm.apache_config)
    start_apache(tmp, config, extra=MOD_PHP, mpm="prefork")
"""
from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .processes import Process, wait_for

PHP_FPM = shutil.which("php-fpm8.2") or "/usr/sbin/php-fpm8.2"
MOD_PHP = """LoadModule php_module /usr/lib/apache2/modules/libphp8.2.so
<FilesMatch ".+\\.ph(ar|p|tml)$">
    SetHandler application/x-httpd-php
</FilesMatch>
"""


@dataclass
class PhpFpm:
    socket: Path
    process: Process

    @property
    def apache_config(self) -> str:
        """What Debian's php8.2-fpm conf (a2enconf php8.2-fpm) adds, with this socket."""
        return ("LoadModule proxy_fcgi_module /usr/lib/apache2/modules/mod_proxy_fcgi.so\n"
                '<FilesMatch ".+\\.ph(ar|p|tml)$">\n'
                f'    SetHandler "proxy:unix:{self.socket}|fcgi://localhost"\n'
                "</FilesMatch>\n")


@contextlib.contextmanager
def php_fpm(workdir: Path, user: str = "www-data", children: int = 4):
    """php-fpm with one static pool on a Unix socket that Apache's user may use."""
    root = Path(workdir) / "php-fpm"
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    sock = root / "fpm.sock"
    conf = root / "php-fpm.conf"
    conf.write_text(f"""[global]
pid = {root}/fpm.pid
error_log = {root}/error.log
daemonize = no
[www]
user = {user}
group = {user}
listen = {sock}
listen.owner = {user}
listen.group = {user}
listen.mode = 0660
pm = static
pm.max_children = {children}
catch_workers_output = yes
""")
    process = Process([PHP_FPM, "--nodaemonize", "--fpm-config", str(conf), "-R"],
                      log_path=root / "stdout.log")
    try:
        wait_for(lambda: sock.exists() or not process.alive(), 30, what="php-fpm's socket")
        if not process.alive():
            raise AssertionError(f"php-fpm exited:\n{process.log()}")
        yield PhpFpm(sock, process)
    finally:
        process.stop()
