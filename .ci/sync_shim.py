#!/usr/bin/env python3
"""Checks that the crate takes its atomics, locks and cells from src/sync.rs.

Under `--cfg loom` the shim hands out loom's types, so a file that names
std's originals escapes the models. The check reads Rust, not lines:

- every `use` tree is expanded to full paths, so a nested
  `use std::{sync::{atomic::{AtomicBool, Ordering}}}` is caught as
  `std::sync::atomic::AtomicBool`;
- a path written out in code (`std::sync::atomic::AtomicU64::new`) is caught;
- every shim-covered type name used in code must be imported from
  `crate::sync` (or reached as `sync::Name`), or come from a crate other
  than std or core, so an import this script cannot parse still fails it.

Comments and string literals are stripped first. Files exempt from the
rule are listed in EXEMPT with their reasons. Usage: sync_shim.py DIR...
Exits 1 and prints file:line for each finding.
"""

import pathlib
import re
import sys

# file (relative to its DIR argument's parent) -> why it may use std's types
EXEMPT = {
    "src/sync.rs": "the shim itself",
    "src/clock.rs": "the calibrated clock's one-time calibration flag and the "
    "coarse clock's ticker thread, which no loom model runs (loom has no clock)",
}

TYPES = (
    "AtomicBool AtomicU8 AtomicU16 AtomicU32 AtomicU64 AtomicUsize AtomicI8 "
    "AtomicI16 AtomicI32 AtomicI64 AtomicIsize AtomicPtr Mutex MutexGuard "
    "RwLock Condvar UnsafeCell fence"
).split()
FORBIDDEN_PREFIXES = (
    "std::sync::atomic",
    "core::sync::atomic",
    "std::cell::UnsafeCell",
    "core::cell::UnsafeCell",
) + tuple(f"std::sync::{t}" for t in ("Mutex", "MutexGuard", "RwLock", "Condvar"))


def strip(src: str) -> str:
    """Blanks comments and string/char literals, keeping line numbers."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', src[i:]) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            m = re.match(r'r(#*)"', src[i:])
            end = src.find('"' + m.group(1), i + len(m.group(0)))
            j = n if end < 0 else end + 1 + len(m.group(1))
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            j += 1
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", src[i:]):
            m = re.match(r"'(\\.|[^\\'])'", src[i:])
            out.append(" " * len(m.group(0)))
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def expand(tree: str):
    """Full paths of a use tree: `a::{b, c::{d as e}}` -> a::b, a::c::d as e."""
    tree = re.sub(r"\s*(::|\{|\}|,)\s*", r"\1", tree.strip())
    tree = re.sub(r"\s+", " ", tree)

    def split_top(s):
        parts, depth, cur = [], 0, ""
        for ch in s:
            depth += (ch == "{") - (ch == "}")
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        return parts + ([cur] if cur else [])

    def go(prefix, s):
        i = s.find("{")
        if i < 0:
            yield prefix + s
            return
        head, body = s[:i], s[i + 1 : s.rfind("}")]
        for part in split_top(body):
            if part == "self":
                yield (prefix + head).rstrip(":")
            else:
                yield from go(prefix + head, part)

    yield from go("", tree)


def check(path: pathlib.Path, rel: str):
    raw = path.read_text()
    src = strip(raw)
    findings = []

    def line_of(pos):
        return src.count("\n", 0, pos) + 1

    imported = {}  # name -> full path
    globs = []
    use_spans = []
    for m in re.finditer(r"\buse\s+([^;]+);", src):
        use_spans.append((m.start(), m.end()))
        for p in expand(m.group(1)):
            p = re.sub(r"^::", "", p)
            # `x as y`: the path is x, the name is y
            p, _, alias = p.partition(" as ")
            name = alias or p.rsplit("::", 1)[-1]
            if p.endswith("*"):
                globs.append(p)
            imported[name] = p
            if p.startswith(FORBIDDEN_PREFIXES) or p in ("std::sync", "core::sync", "std::cell", "core::cell"):
                findings.append((line_of(m.start()), f"imports {p}"))

    def in_use(pos):
        return any(a <= pos < b for a, b in use_spans)

    for m in re.finditer(r"\b(?:std|core)\s*::\s*(?:sync\s*::\s*(?:atomic|Mutex|MutexGuard|RwLock|Condvar)|cell\s*::\s*UnsafeCell)\b", src):
        if not in_use(m.start()):
            written = re.sub(r"\s", "", m.group(0))
            findings.append((line_of(m.start()), f"names {written}"))

    for t in TYPES:
        for m in re.finditer(rf"(?<![\w:])(?:(\w+(?:\s*::\s*\w+)*)\s*::\s*)?\b{t}\b", src):
            if in_use(m.start()):
                continue
            qual = re.sub(r"\s", "", m.group(1) or "")
            if qual:
                root = qual.split("::")[0]
                if root in ("std", "core"):
                    continue  # reported above
                if qual.endswith("sync") and root in ("crate", "super", "sync", "self"):
                    continue
                if root not in ("crate", "super", "self", "sync"):
                    continue  # another crate's (tokio::sync::Mutex, loom::...)
                findings.append((line_of(m.start()), f"{qual}::{t} is not the shim's"))
                continue
            src_path = imported.get(t)
            if src_path is None:
                if globs:
                    continue  # `use super::*` in a test module: the parent's import is checked
                findings.append((line_of(m.start()), f"{t} used but not imported from crate::sync"))
            elif src_path.startswith(("crate::sync", "super::sync")) or re.match(r"(super::)+sync::", src_path):
                continue
            elif src_path.split("::")[0] in ("std", "core"):
                continue  # reported as an import
            elif src_path.split("::")[0] in ("crate", "super", "self"):
                continue  # a re-export of the crate's own: its origin is checked where it is defined
            # another crate's type of that name: allowed
    return sorted(set(findings))


def main():
    dirs = sys.argv[1:] or ["src"]
    bad = 0
    for d in dirs:
        base = pathlib.Path(d)
        for f in sorted(base.rglob("*.rs")):
            rel = f.as_posix()
            if rel in EXEMPT:
                continue
            for line, what in check(f, rel):
                print(f"{rel}:{line}: {what}")
                bad += 1
    if bad:
        print(f"{bad} use(s) of std's atomics, locks or cells outside src/sync.rs: "
              "use crate::sync instead (loom must see every atomic)")
        sys.exit(1)
    print("sync shim: every atomic, lock and cell comes from crate::sync")


if __name__ == "__main__":
    main()
