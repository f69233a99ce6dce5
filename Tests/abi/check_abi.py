#!/usr/bin/env python3
"""ABI cross-check for libdtd: Include/dtd.h <-> Tests/abi/signatures.txt <-> `nm -D` of libdtd.so.

Usage (from anywhere; paths default to this repository):

    python3 Tests/abi/check_abi.py [path/to/libdtd.so]     # check everything, exit 1 on any failure
    python3 Tests/abi/check_abi.py --write                 # regenerate signatures.txt from the header

Checks, each printed as one "ok" or "FAIL" line with the details of every disagreement:

  1. header <-> table: every `DTD_API` declaration of Include/dtd.h (comments stripped), written as
     a normalised prototype, must be a line of signatures.txt and vice versa, character for
     character (the format is described at the top of signatures.txt).
  2. header/table <-> library: `nm -D --defined-only` must list exactly the table's functions,
     each bound to the version node DTD_1.
  3. nothing else exported: every global symbol of the library is `dtd_*` or the version node
     `DTD_1` (local symbols in .dynsym are not exported and are ignored, with a note).
  4. SONAME is libdtd.so.1.
  5. the header compiles as strict C99 and as C++11 with every warning an error
     (Tests/abi/header_compiles.c, which also freezes status codes and struct layouts).
  6. the compiler agrees that each table line is the header's type: a generated file assigns
     every function to a pointer of the table's prototype, compiled as C99 and C++11 with -Werror.

Only the Python standard library and binutils (nm, readelf) and gcc/g++ are used. Set CC / CXX
(or --cc / --cxx) to use other compilers.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEADER = REPO / "Include" / "dtd.h"
TABLE = REPO / "Tests" / "abi" / "signatures.txt"
COMPILE_PROBE = REPO / "Tests" / "abi" / "header_compiles.c"
DEFAULT_LIBRARY = REPO / ".build" / "release" / "libdtd.so"
EXPECTED_SONAME = "libdtd.so.1"
VERSION_NODE = "DTD_1"

C_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wstrict-prototypes"]
CXX_FLAGS = ["-x", "c++", "-std=c++11", "-Wall", "-Wextra", "-Werror", "-pedantic"]

QUALIFIERS = {"const", "volatile", "restrict"}
TAG_KEYWORDS = {"struct", "enum", "union"}

TABLE_PREAMBLE = """\
# Every function libdtd.so exports (ABI 1), one per line, as its normalised C prototype:
#   <return type> <name>(<parameter types, comma-separated>)   -- "void" for no parameters
# Types are spelled as in Include/dtd.h with parameter names removed, single spaces, and
# pointer stars written " *" / " **". The libffi harness calls every line; Tests/abi/check_abi.py
# fails when this table, the header and `nm -D` of libdtd.so disagree; the Python package's
# ctypes table is checked against it too.
"""


class ParseError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# Header parsing
# --------------------------------------------------------------------------------------------

def strip_comments(text: str) -> str:
    """Removes /* */ and // comments (keeping newlines, so line numbers survive) and blanks out
    string and character literals, which the header's declarations never contain."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ParseError("unterminated /* comment")
            out.append(re.sub(r"[^\n]", " ", text[i:end + 2]))
            i = end + 2
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (j - i - 1) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def strip_preprocessor(text: str) -> str:
    """Blanks out preprocessor directives (with their line continuations)."""
    lines = text.split("\n")
    out, continuing = [], False
    for line in lines:
        if continuing or line.lstrip().startswith("#"):
            continuing = line.rstrip().endswith("\\")
            out.append("")
        else:
            out.append(line)
    return "\n".join(out)


def normalise_type(tokens: list[str], where: str) -> str:
    """['const', 'dtd_network', '*', '*'] -> 'const dtd_network **'."""
    words = [t for t in tokens if t != "*"]
    stars = [t for t in tokens if t == "*"]
    if not words:
        raise ParseError(f"{where}: no type")
    first_star = tokens.index("*") if stars else len(tokens)
    if any(t != "*" for t in tokens[first_star:]):
        raise ParseError(f"{where}: qualifier after '*' is not supported by the table format: {' '.join(tokens)}")
    return " ".join(words) + (" " + "".join(stars) if stars else "")


def split_declarator(param: str, where: str) -> list[str]:
    """The type tokens of one parameter declaration, its name removed."""
    if re.search(r"[\[\]()]", param):
        raise ParseError(f"{where}: array or function-pointer parameter not supported: {param.strip()}")
    tokens = re.findall(r"[A-Za-z_]\w*|\*|\S", param)
    bad = [t for t in tokens if not (t == "*" or re.fullmatch(r"[A-Za-z_]\w*", t))]
    if bad:
        raise ParseError(f"{where}: unexpected token {bad[0]!r} in parameter {param.strip()!r}")
    if tokens == ["void"]:
        return tokens
    # The last identifier is the parameter's name when what precedes it is already a type,
    # i.e. contains an identifier that is neither a qualifier nor a tag keyword.
    if len(tokens) >= 2 and tokens[-1] != "*":
        base = [t for t in tokens[:-1] if t != "*" and t not in QUALIFIERS and t not in TAG_KEYWORDS]
        if base:
            return tokens[:-1]
    raise ParseError(f"{where}: parameter without a name: {param.strip()!r} "
                     "(the header names every parameter; the documentation refers to the names)")


def parse_header(path: Path) -> list[tuple[str, str, int]]:
    """[(name, normalised prototype, line number)] for every DTD_API declaration, in order."""
    raw = path.read_text(encoding="utf-8")
    text = strip_preprocessor(strip_comments(raw))
    results = []
    for match in re.finditer(r"\bDTD_API\b", text):
        line = text.count("\n", 0, match.start()) + 1
        end = text.find(";", match.end())
        if end < 0:
            raise ParseError(f"dtd.h:{line}: DTD_API declaration without ';'")
        decl = " ".join(text[match.end():end].split())
        where = f"dtd.h:{line}"
        m = re.fullmatch(r"(.+?)\b([A-Za-z_]\w*)\s*\((.*)\)", decl)
        if not m or "{" in decl:
            raise ParseError(f"{where}: not a function declaration: {decl!r}")
        ret_text, name, params_text = m.group(1), m.group(2), m.group(3)
        ret = normalise_type(re.findall(r"[A-Za-z_]\w*|\*", ret_text), where)
        params_text = params_text.strip()
        if not params_text:
            raise ParseError(f"{where}: {name}() has an empty parameter list; write (void)")
        params = [normalise_type(split_declarator(p, f"{where} ({name})"), where) for p in params_text.split(",")]
        if "void" in params and params != ["void"]:
            raise ParseError(f"{where}: {name}: 'void' mixed with other parameters")
        results.append((name, f"{ret} {name}({', '.join(params)})", line))
    if not results:
        raise ParseError("no DTD_API declarations found")
    return results


# --------------------------------------------------------------------------------------------
# Table, library, compilers
# --------------------------------------------------------------------------------------------

def parse_table(path: Path) -> list[tuple[str, str, int]]:
    """[(name, prototype, line number)] of signatures.txt; comment and blank lines skipped."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        m = re.fullmatch(r".+?\b([A-Za-z_]\w*)\((.*)\)", line)
        if not m:
            raise ParseError(f"signatures.txt:{number}: not '<return type> <name>(<types>)': {line!r}")
        rows.append((m.group(1), line, number))
    return rows


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True)


def library_symbols(library: Path) -> tuple[dict[str, tuple[str, str | None]], list[str]]:
    """Exported (global or weak) defined dynamic symbols: {name: (nm type, version)}, and the
    names of local symbols that nm -D also lists (they are not exported)."""
    proc = run(["nm", "-D", "--defined-only", str(library)])
    if proc.returncode != 0:
        raise ParseError(f"nm -D --defined-only {library} failed: {proc.stderr.strip()}")
    exported, local = {}, []
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:          # absolute symbols may have no address column
            kind, symbol = parts
        elif len(parts) == 3:
            _, kind, symbol = parts
        else:
            continue
        name, _, version = symbol.partition("@")
        version = version.lstrip("@") or None
        if kind.islower() and kind not in ("u", "v", "w"):
            local.append(name)
            continue
        exported[name] = (kind, version)
    return exported, local


def version_definitions(library: Path) -> set[str]:
    """The version nodes the library defines (readelf -V, section .gnu.version_d)."""
    try:
        text = subprocess.run(["readelf", "-V", str(library)], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return set()
    names, inside = set(), False
    for line in text.splitlines():
        if line.startswith("Version definition section"):
            inside = True
        elif line and not line.startswith(" "):
            inside = False
        elif inside and "Name:" in line:
            names.add(line.split("Name:")[1].split()[0])
    return names


def soname(library: Path) -> str | None:
    for tool in (["readelf", "-d"], ["objdump", "-p"]):
        if shutil.which(tool[0]) is None:
            continue
        proc = run(tool + [str(library)])
        m = re.search(r"SONAME\)?\s+(?:Library soname: \[)?([^\]\s]+)", proc.stdout)
        return m.group(1) if m else None
    raise ParseError("neither readelf nor objdump is installed")


def table_probe_source(table: list[tuple[str, str, int]]) -> str:
    """C source that takes the address of every table function into a pointer whose type is the
    table's prototype: a header declaration of another type is a compile error (-Werror)."""
    lines = ['/* generated by Tests/abi/check_abi.py from signatures.txt */', '#include "dtd.h"']
    for index, (name, proto, number) in enumerate(table):
        m = re.fullmatch(r"(.+?)\s*\b" + re.escape(name) + r"\((.*)\)", proto)
        ret, params = m.group(1), m.group(2)
        lines.append(f"/* signatures.txt:{number} */")
        lines.append(f"typedef {ret} (*dtd_table_fn_{index})({params});")
        lines.append(f"extern dtd_table_fn_{index} dtd_table_{index};")
        lines.append(f"dtd_table_fn_{index} dtd_table_{index} = &{name};")
    return "\n".join(lines) + "\n"


def compile_probe(compiler: str, flags: list[str], label: str, source: Path = COMPILE_PROBE) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [compiler, *flags, "-I", str(REPO / "Include"), "-c", str(source), "-o", os.path.join(tmp, "probe.o")]
        proc = run(cmd)
        shown = " ".join(cmd[:-2] + ["-o", "<tmp>/probe.o"])
        if proc.returncode != 0 or proc.stderr.strip():
            return False, f"{label}: {shown}\n{(proc.stderr or proc.stdout).rstrip()}"
        return True, f"{label}: {shown}"


# --------------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------------

class Report:
    def __init__(self) -> None:
        self.failures = 0

    def ok(self, what: str) -> None:
        print(f"ok    {what}")

    def fail(self, what: str, details: list[str]) -> None:
        self.failures += 1
        print(f"FAIL  {what}")
        for d in details:
            for line in d.split("\n"):
                print(f"        {line}")


def duplicates(rows: list[tuple[str, str, int]]) -> list[str]:
    seen, out = {}, []
    for name, _, line in rows:
        if name in seen:
            out.append(f"{name} at lines {seen[name]} and {line}")
        seen.setdefault(name, line)
    return out


def check(args: argparse.Namespace) -> int:
    report = Report()
    header = parse_header(HEADER)
    table = parse_table(TABLE)
    print(f"header  {HEADER.relative_to(REPO)}: {len(header)} DTD_API functions")
    print(f"table   {TABLE.relative_to(REPO)}: {len(table)} prototypes")

    for label, rows in (("header", header), ("table", table)):
        dups = duplicates(rows)
        if dups:
            report.fail(f"{label} declares no function twice", dups)

    h = {name: (proto, line) for name, proto, line in header}
    t = {name: (proto, line) for name, proto, line in table}

    # 1. header <-> table
    details = []
    for name, (proto, line) in h.items():
        if name not in t:
            details.append(f"only in header (dtd.h:{line}): {proto}")
    for name, (proto, line) in t.items():
        if name not in h:
            details.append(f"only in table (signatures.txt:{line}): {proto}")
    for name in h.keys() & t.keys():
        if h[name][0] != t[name][0]:
            details.append(f"{name} differs:\n  header (dtd.h:{h[name][1]}):          {h[name][0]}\n"
                           f"  table  (signatures.txt:{t[name][1]}): {t[name][0]}")
    if details:
        report.fail("header and signature table declare the same prototypes", sorted(details))
    else:
        report.ok(f"header and signature table agree on all {len(h)} prototypes")
    if [n for n, _, _ in header] != [n for n, _, _ in table] and set(h) == set(t):
        print("note  the table lists the functions in another order than the header (run --write to reorder)")

    # 2-4. the library
    library = Path(args.library)
    if not library.is_file():
        report.fail(f"library {library} exists", [f"no such file; build first: swift build -c release"])
        return finish(report, args)
    exported, local = library_symbols(library)
    print(f"library {library}: {len(exported)} exported dynamic symbols"
          + (f" (plus {len(local)} local symbols in .dynsym, not exported, ignored)" if local else ""))
    functions = {n: v for n, v in exported.items() if n.startswith("dtd_")}

    missing = sorted(set(t) - set(functions))
    extra = sorted(set(functions) - set(t))
    details = [f"declared but not exported by the library: {n}" for n in missing]
    details += [f"exported by the library but not in the table/header: {n}" for n in extra]
    if details:
        report.fail(f"library exports exactly the table's {len(t)} functions "
                    f"({len(missing)} missing, {len(extra)} extra)", details)
    else:
        report.ok(f"library exports exactly the table's {len(t)} functions")

    not_functions = sorted(n for n in functions if functions[n][0] not in ("T", "W", "i"))
    if not_functions:
        report.fail("every dtd_* export is a function (nm type T, W or i)",
                    [f"{n}: nm type {functions[n][0]}" for n in not_functions])
    # GNU ld and gold also emit the node as an absolute symbol; lld only as a version definition.
    if VERSION_NODE in exported or VERSION_NODE in version_definitions(library):
        report.ok(f"the version node {VERSION_NODE} is defined (the version script was applied)")
    else:
        report.fail(f"the version node {VERSION_NODE} is defined (the version script was applied)",
                    [f"neither nm -D nor readelf -V lists {VERSION_NODE}; was Sources/DTD/dtd.map passed to the linker?"])
    versions_known = any(v is not None for _, v in exported.values())
    if versions_known:
        unversioned = sorted(f"{n}: version {v or '(none)'}" for n, (_, v) in functions.items() if v != VERSION_NODE)
        if unversioned:
            report.fail(f"every dtd_* export is bound to version node {VERSION_NODE}", unversioned)
        else:
            report.ok(f"every dtd_* export is bound to version node {VERSION_NODE}")
    else:
        print(f"skip  per-symbol version check: this nm prints no symbol versions (binutils < 2.35?)")

    foreign = sorted(f"{n} (nm type {k})" for n, (k, _) in exported.items()
                     if not n.startswith("dtd_") and n != VERSION_NODE)
    if foreign:
        report.fail(f"nothing but dtd_* and the version node {VERSION_NODE} is exported ({len(foreign)} others)", foreign)
    else:
        report.ok(f"nothing but dtd_* and the version node {VERSION_NODE} is exported")

    name = soname(library)
    if name == EXPECTED_SONAME:
        report.ok(f"SONAME is {EXPECTED_SONAME}")
    else:
        report.fail(f"SONAME is {EXPECTED_SONAME}", [f"found: {name or '(no SONAME)'}"])

    # 5. the header compiles as C99 and C++11
    for compiler, flags, label in ((args.cc, C_FLAGS, "C99"), (args.cxx, CXX_FLAGS, "C++11")):
        if shutil.which(compiler) is None:
            report.fail(f"header compiles as {label}", [f"compiler {compiler!r} not found"])
            continue
        ok, detail = compile_probe(compiler, flags, label)
        if ok:
            report.ok(f"header compiles cleanly as {detail}")
        else:
            report.fail(f"header compiles cleanly as {label}", [detail])

    # 6. the compiler's view of table <-> header
    with tempfile.TemporaryDirectory() as tmp:
        generated = Path(tmp) / "table_probe.c"
        generated.write_text(table_probe_source(table), encoding="utf-8")
        for compiler, flags, label in ((args.cc, C_FLAGS, "C99"), (args.cxx, CXX_FLAGS, "C++11")):
            if shutil.which(compiler) is None:
                continue
            ok, detail = compile_probe(compiler, flags, label, generated)
            if ok:
                report.ok(f"every table prototype has the header's type ({label}, {len(table)} function pointers)")
            else:
                report.fail(f"every table prototype has the header's type ({label})", [detail])

    return finish(report, args)


def finish(report: Report, args: argparse.Namespace) -> int:
    if report.failures:
        print(f"\nABI check FAILED: {report.failures} check(s) failed")
        return 1
    print("\nABI check passed")
    return 0


def write_table() -> int:
    header = parse_header(HEADER)
    preamble = TABLE_PREAMBLE
    if TABLE.exists():
        lines = TABLE.read_text(encoding="utf-8").split("\n")
        kept = []
        for line in lines:
            if not line.startswith("#"):
                break
            kept.append(line)
        if kept:
            preamble = "\n".join(kept) + "\n"
    old = set(r[1] for r in parse_table(TABLE)) if TABLE.exists() else set()
    new = [proto for _, proto, _ in header]
    TABLE.write_text(preamble + "\n".join(new) + "\n", encoding="utf-8")
    added = [p for p in new if p not in old]
    removed = sorted(old - set(new))
    print(f"wrote {TABLE.relative_to(REPO)}: {len(new)} prototypes ({len(added)} added, {len(removed)} removed)")
    for p in added:
        print(f"  + {p}")
    for p in removed:
        print(f"  - {p}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("library", nargs="?", default=str(DEFAULT_LIBRARY),
                        help="path to libdtd.so (default: .build/release/libdtd.so of this repository)")
    parser.add_argument("--write", action="store_true", help="regenerate signatures.txt from the header and exit")
    parser.add_argument("--cc", default=os.environ.get("CC", "gcc"), help="C compiler for the C99 probe (default $CC or gcc)")
    parser.add_argument("--cxx", default=os.environ.get("CXX", "g++"), help="C++ compiler for the C++11 probe (default $CXX or g++)")
    args = parser.parse_args()
    try:
        return write_table() if args.write else check(args)
    except ParseError as error:
        print(f"FAIL  {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
