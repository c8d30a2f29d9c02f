"""bench/RESULTS.md: each benchmark rewrites only its own section, between its markers."""
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def replace_section(text: str, name: str, section: str) -> str:
    """`text` with the section of bench/NAME.py replaced (or appended); the others untouched.
    NAME#PART: one of several sections a benchmark writes (`bench/NAME.py PART`)."""
    script, _, part = name.partition("#")
    label = f"bench/{script}.py" + (f" {part}" if part else "")
    begin, end = f"<!-- {label}: begin -->", f"<!-- {label}: end -->"
    block = f"{begin}\n{section.rstrip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        return head + block + rest.split(end, 1)[1]
    return (text.rstrip() + "\n\n" if text.strip() else "# Benchmark results\n\n") + block + "\n"


def write_section(name: str, section: str, path: Path = RESULTS):
    text = path.read_text() if path.exists() else ""
    path.write_text(replace_section(text, name, section))
