#!/usr/bin/python3
"""Checks that no module under src/ includes a header of a module declared after it.

The order is declared once, in src/CMakeLists.txt (`foreach(mod core config ... cli)`): a module
may include only its own headers and those of modules listed before it. An upward include is a
dependency cycle waiting to happen, so this check fails CI on one.

Usage: check_module_order.py [--root DIR]   check the tree (exit 1 and one line per violation)
       check_module_order.py --self-test     prove the check fails on a deliberately wrong include
"""
import argparse
import pathlib
import re
import shutil
import sys
import tempfile

ORDER_RE = re.compile(r"foreach\(mod\s+([^)]*)\)")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"/]+)/[^"]+"', re.MULTILINE)


def declared_order(root: pathlib.Path) -> list[str]:
    text = (root / "src" / "CMakeLists.txt").read_text()
    m = ORDER_RE.search(text)
    if not m:
        raise SystemExit("src/CMakeLists.txt: no `foreach(mod ...)` module order found")
    return m.group(1).split()


def violations(root: pathlib.Path) -> list[str]:
    order = declared_order(root)
    rank = {name: i for i, name in enumerate(order)}
    found = []
    for mod in order:
        folder = root / "src" / mod
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.suffix not in (".h", ".cc", ".hpp", ".cpp"):
                continue
            text = path.read_text(errors="replace")
            for m in INCLUDE_RE.finditer(text):
                target = m.group(1)
                if target in rank and rank[target] > rank[mod]:
                    line = text.count("\n", 0, m.start()) + 1
                    rel = path.relative_to(root)
                    found.append(f"{rel}:{line}: module '{mod}' includes '{m.group(1)}/...', "
                                 f"declared after it in src/CMakeLists.txt ({' '.join(order)})")
    return found


def self_test(root: pathlib.Path) -> int:
    with tempfile.TemporaryDirectory(prefix="module-order-") as tmp:
        copy = pathlib.Path(tmp)
        shutil.copytree(root / "src", copy / "src")
        clean = violations(copy)
        if clean:
            print("self-test: the tree itself has violations:\n" + "\n".join(clean))
            return 1
        order = declared_order(copy)
        low, high = order[0], order[-1]
        victim = next((copy / "src" / low).glob("*.h"))
        victim.write_text(f'#include "{high}/commands.h"\n' + victim.read_text())
        bad = violations(copy)
        if len(bad) != 1 or f"module '{low}' includes '{high}/...'" not in bad[0]:
            print("self-test: a deliberately wrong include was not caught: " + repr(bad))
            return 1
        print("self-test: ok (caught: " + bad[0].split(": ", 1)[1] + ")")
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(pathlib.Path(__file__).resolve().parents[2]))
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    root = pathlib.Path(args.root)
    if args.self_test:
        return self_test(root)
    found = violations(root)
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} upward include(s)")
        return 1
    print(f"module order: ok ({' < '.join(declared_order(root))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
