#!/usr/bin/python3
"""Lists functions under src/ longer than a limit (100 lines by default).

Issue 14: no function over ~100 lines; a long function is split into named steps. Declarative
tables (an example configuration, the catalog migrations) are exempt: they are named in ALLOWED
below as "path:function", path relative to the repository root.

A function here is a definition that starts at column 0 (this tree does not indent namespace
bodies) with a signature holding "(", and ends at the next line that is exactly "}". Its length
counts from the first line of the signature to that closing brace. Functions defined inside a
class body are not measured.

Usage: check_function_length.py [--root DIR] [--limit N]   exit 1 and one line per long function
       check_function_length.py --self-test                 prove the check finds a long function
"""
import argparse
import pathlib
import re
import sys
import tempfile

ALLOWED: set[str] = {
    # Declarative tables: one entry per line, nothing to split into steps.
    "src/config/example.cc:exampleConfig",
    "src/catalog/migrations.cc:migrations",
}

NOT_A_FUNCTION = re.compile(
    r"^(namespace|struct|class|enum|union|extern|template\s*<[^>]*>\s*(struct|class))\b")
NAME_RE = re.compile(r"([A-Za-z_~][A-Za-z0-9_:~<>]*)\s*\(")


def functions(path: pathlib.Path):
    """Yields (name, first line number, length in lines) of each column-0 function in `path`."""
    lines = path.read_text(errors="replace").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line or line[0] in " \t#/}*" or NOT_A_FUNCTION.match(line):
            i += 1
            continue
        # Gather the signature up to the line that opens the body.
        j = i
        sig = line
        while j + 1 < len(lines) and not sig.rstrip().endswith(("{", ";")):
            if lines[j + 1] and lines[j + 1][0] not in " \t":
                break  # the next column-0 line starts something else
            j += 1
            sig += " " + lines[j].strip()
        if not sig.rstrip().endswith("{") or "(" not in sig or " = " in sig.split("(")[0]:
            i = j + 1
            continue
        end = j + 1
        while end < len(lines) and lines[end] != "}":
            end += 1
        if end >= len(lines) or lines[end] != "}":
            i = j + 1
            continue
        names = NAME_RE.findall(sig.split("{")[0])
        name = names[0].split("::")[-1] if names else "?"
        if "operator" in sig.split("(")[0]:
            name = "operator"
        yield name, i + 1, end - i + 1
        i = end + 1


def long_functions(root: pathlib.Path, limit: int) -> list[str]:
    found = []
    for path in sorted((root / "src").rglob("*")):
        if path.suffix not in (".cc", ".h"):
            continue
        rel = path.relative_to(root).as_posix()
        for name, line, length in functions(path):
            if length > limit and f"{rel}:{name}" not in ALLOWED:
                found.append(f"{rel}:{line}: {name} is {length} lines (limit {limit})")
    return found


def self_test() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        (root / "src" / "core").mkdir(parents=True)
        body = "\n".join(f"  x += {i};" for i in range(120))
        (root / "src" / "core" / "long.cc").write_text(
            "namespace ocpvdr {\n\nint shortOne(int x) {\n  return x;\n}\n\n"
            f"int Widget::longOne(int x,\n                    int y) {{\n{body}\n"
            "  return x;\n}\n\n"
            "}  // namespace ocpvdr\n")
        found = long_functions(root, 100)
        if len(found) != 1 or "longOne is 124 lines" not in found[0]:
            print("self-test failed: expected longOne (124 lines) only, found:", found)
            return 1
    print("self-test ok: a 124-line function is reported, a short one is not")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=pathlib.Path,
                    default=pathlib.Path(__file__).resolve().parents[2])
    ap.add_argument("--limit", default=100, type=int)
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    found = long_functions(args.root, args.limit)
    for f in found:
        print(f)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
