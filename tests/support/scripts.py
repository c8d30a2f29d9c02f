"""Import a repository script that is not a package module (bench/*.py, demo/make-assets.py)."""
import contextlib
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def script_module(relpath: str, name: str):
    """The script at ROOT/relpath as module `name`, registered in sys.modules while in use
    (dataclasses look their module up there)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / relpath)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[name]
