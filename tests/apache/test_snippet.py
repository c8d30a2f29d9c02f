"""`torrentweb apache-config`: the snippet works in a minimal httpd.conf with only the modules
it says it needs, and conf/httpd-torrentweb.conf is its current rendering."""
import re
import subprocess
from pathlib import Path

from torrentweb.apache.example import example_file
from torrentweb.apache.snippet import apache_config
from torrentweb.apache.standalone import wsgi_module_config
from torrentweb.cli import main
from torrentweb.config import load

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path, extra=""):
    (tmp_path / "www").mkdir()
    (tmp_path / "torrentweb.yaml").write_text(
        "docroot: www\nbase_url: https://example.org/\nstate_dir: state\n" + extra)
    return tmp_path / "torrentweb.yaml"


def test_cli_prints_the_snippet(tmp_path, capsys):
    path = write_config(tmp_path)
    assert main(["apache-config", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert out == apache_config(load(path))
    # the web seed maps onto the files' own URLs (their access rules apply), never the docroot
    assert 'RewriteRule "^/\\.torrentweb/seed/site/(.+)$" "/$1" [PT,L,E=TORRENTWEB_SEED:1,E=no-gzip:1]' in out
    assert f'"{tmp_path}/www/"' not in out and "SetHandler None\n    SetEnv no-gzip" not in out
    assert 'RewriteRule "^/announce$" "ws://127.0.0.1:6970/announce" [P,L]' in out


def test_snippet_passes_configtest_with_only_the_modules_it_names(tmp_path):
    path = write_config(tmp_path, "apache:\n  mode: embedded\n")
    snippet = apache_config(load(path))
    assert "process-group=%{GLOBAL}" in snippet
    named = re.search(r"Modules it needs:(.*?)\n#\s*\n|Modules it needs:(.*?)\(Debian", snippet, re.S)
    modules = set(re.findall(r"mod_(\w+)", named.group(0))) - {"wsgi", "deflate"}
    (tmp_path / "torrentweb.conf").write_text(snippet)
    loads = "\n".join(f"LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so" for m in sorted(modules))
    (tmp_path / "httpd.conf").write_text(f"""ServerRoot "{tmp_path}"
ServerName localhost
PidFile "{tmp_path}/httpd.pid"
ErrorLog "{tmp_path}/error.log"
Listen 127.0.0.1:1
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
{loads}
{wsgi_module_config()}
Include "{tmp_path}/torrentweb.conf"
""")
    check = subprocess.run(["/usr/sbin/apache2", "-t", "-f", str(tmp_path / "httpd.conf")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "Syntax OK" in check.stderr


def test_tracker_proxy_follows_the_tracker_config(tmp_path):
    path = write_config(tmp_path, "tracker:\n  http: 127.0.0.1:7001\n  websocket: null\n")
    snippet = apache_config(load(path))
    assert 'RewriteRule "^/(announce|scrape)$" "http://127.0.0.1:7001/$1" [P,L]' in snippet
    assert "ws://" not in snippet and "# (no websocket tracker)" in snippet


def test_example_in_conf_is_current():
    assert (ROOT / "conf" / "httpd-torrentweb.conf").read_text() == example_file(), \
        "regenerate it: .venv/bin/python -m torrentweb.apache.example --write"


def test_dynamic_pages_follow_their_selectors_and_can_be_off(tmp_path):
    path = write_config(tmp_path, "pages:\n  dynamic:\n    paths: [/blog/, /shop/]\n"
                                  "    content_types: [text/html, application/xhtml+xml]\n")
    snippet = apache_config(load(path))
    assert "%{REQUEST_URI} =~ m#^(/blog/|/shop/)#" in snippet
    assert "%{CONTENT_TYPE} =~ m#^(text/html|application/xhtml\\+xml)([ ;]|$)#i" in snippet
    assert "%{CONN_REMOTE_ADDR} != '127.0.0.2'" in snippet         # never the daemon's own fetch
    (tmp_path / "off").mkdir()
    off = apache_config(load(write_config(tmp_path / "off", "pages:\n  dynamic:\n    enabled: false\n")))
    assert "Lua" not in off.replace("mod_lua", "") and "(pages.dynamic is off" in off
