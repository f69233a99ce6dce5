"""The ctypes table against the contract: Tests/abi/signatures.txt (every export as a normalised
C prototype) and Include/dtd.h (typedefs, structs, #define constants).

The expected ctypes type of every C spelling is derived here from the header's typedefs, so a
table entry with the right spelling but the wrong ctypes type fails too.
"""
from __future__ import annotations

import ctypes
import re
from ctypes import POINTER, c_char, c_char_p, c_double, c_float, c_int32, c_int64, c_uint64, c_void_p

import pytest

import dtd
from dtd import _capi as C
from dtd import _loader
from dtd.errors import DTDError
from support import HEADER, SIGNATURES

HEADER_TEXT = HEADER.read_text()
HEADER_CODE = re.sub(r"/\*.*?\*/", "", HEADER_TEXT, flags=re.S)

BUILTIN = {"void": None, "char": c_char, "int32_t": c_int32, "int64_t": c_int64, "uint64_t": c_uint64,
           "float": c_float, "double": c_double}
# typedef int32_t dtd_status;  ->  {"dtd_status": "int32_t"}
SCALAR_TYPEDEFS = dict((alias, base) for base, alias in
                       re.findall(r"typedef\s+(\w+)\s+(dtd_\w+)\s*;", HEADER_CODE))
OPAQUE = set(re.findall(r"typedef\s+struct\s+(dtd_\w+)\s+\1\s*;", HEADER_CODE))
STRUCT_BODIES = dict((name, body) for name, body in
                     re.findall(r"typedef\s+struct\s+(dtd_\w+)\s*\{(.*?)\}\s*\1\s*;", HEADER_CODE, flags=re.S))


def expected_ctype(spelling: str):
    """The ctypes type a C type spelled as in dtd.h must be bound with."""
    stars = spelling.count("*")
    base = spelling.replace("const ", "").replace("*", "").strip()
    if base in OPAQUE:  # handles: an address
        return {1: c_void_p, 2: POINTER(c_void_p)}[stars]
    if base in STRUCT_BODIES:
        scalar = getattr(C, base)
    else:
        scalar = BUILTIN[SCALAR_TYPEDEFS.get(base, base)]
    if stars == 0:
        return scalar
    if stars == 1 and scalar is c_char:
        return c_char_p
    assert stars == 1, spelling
    return POINTER(scalar)


def signature_lines() -> list[str]:
    return [line.strip() for line in SIGNATURES.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def test_capi_table_matches_signatures_txt_line_for_line():
    table = [entry.prototype for entry in C.FUNCTIONS.values()]
    lines = signature_lines()
    assert len(lines) == len(set(lines))
    missing = [line for line in lines if line not in table]
    extra = [line for line in table if line not in lines]
    assert not missing and not extra, f"missing from _capi: {missing}\nnot in signatures.txt: {extra}"
    assert table == lines  # same (header) order


def test_capi_table_prototype_comments_match_entries():
    """Each entry's '# <prototype>' comment in _capi.py is the prototype it binds."""
    source = (_loader._PACKAGE_DIR / "_capi.py").read_text()
    comments = re.findall(r"^# (\S.*\bdtd_\w+\(.*\))$", source, flags=re.M)
    assert comments == [entry.prototype for entry in C.FUNCTIONS.values()]


@pytest.mark.parametrize("name", list(C.FUNCTIONS))
def test_capi_entry_ctypes_match_the_c_types(name):
    entry = C.FUNCTIONS[name]
    assert [t.ctype for t in entry.argtypes] == [expected_ctype(t.spelling) for t in entry.argtypes]
    assert entry.restype.ctype == expected_ctype(entry.restype.spelling)
    assert getattr(C, name).__name__ == name
    assert getattr(C, name).c_function is entry


@pytest.mark.parametrize("name", list(C.FUNCTIONS))
def test_capi_entry_binds_or_reports_unsupported(name):
    """Exported functions bind with the table's types; functions the loaded library does not
    export yet (sections 6-7 in builds that predate them) raise DTDError(UNSUPPORTED) when
    called, without having broken loading."""
    entry = C.FUNCTIONS[name]
    library = _loader.library()
    if hasattr(library.cdll, name):
        bound = entry.bind()
        assert list(bound.argtypes) == [t.ctype for t in entry.argtypes]
        assert bound.restype == entry.restype.ctype
    else:
        with pytest.raises(DTDError) as info:
            getattr(C, name)(*([None] * len(entry.argtypes)))
        assert info.value.status == C.DTD_ERROR_UNSUPPORTED
        assert name in info.value.message and library.path in info.value.message


def test_capi_missing_symbol_raises_only_when_called():
    @C.c_function([C.int64_t], C.dtd_status)
    def dtd_no_such_function(value, /) -> int: ...

    try:
        assert not dtd_no_such_function.c_function.is_available()
        with pytest.raises(DTDError) as info:
            dtd_no_such_function(1)
        assert info.value.status == C.DTD_ERROR_UNSUPPORTED
        assert "dtd_no_such_function" in info.value.message
        assert dtd.version()  # the library stays usable
    finally:
        del C.FUNCTIONS["dtd_no_such_function"]


@pytest.mark.parametrize("struct", sorted(STRUCT_BODIES))
def test_capi_struct_mirrors_header_field_for_field(struct):
    fields = re.findall(r"^\s*([\w ]+?\**)\s*(\w+)\s*;", STRUCT_BODIES[struct], flags=re.M)
    mirror = getattr(C, struct)._fields_
    assert [name for _, name in fields] == [name for name, _ in mirror]
    assert [expected_ctype(spelling.strip()) for spelling, _ in fields] == [t for _, t in mirror]


def test_capi_structs_cover_the_header():
    assert sorted(STRUCT_BODIES) == ["dtd_audit_record", "dtd_audit_summary", "dtd_full_backward_query",
                                     "dtd_full_backward_region", "dtd_full_backward_sample",
                                     "dtd_full_backward_sizes", "dtd_full_backward_unit", "dtd_ledger_entry",
                                     "dtd_root_info", "dtd_root_query"]
    # dtd_audit_record nests dtd_root_info; the ledger dtype numpy uses is the same layout.
    assert C.dtd_audit_record._fields_[0] == ("root", C.dtd_root_info)
    assert dtd.LEDGER_DTYPE.itemsize == ctypes.sizeof(C.dtd_ledger_entry)


NUMERIC_DEFINES = dict(re.findall(r"^#define\s+(DTD_\w+)\s+(-?[0-9][0-9.eE+-]*)\b", HEADER_TEXT, flags=re.M))


@pytest.mark.parametrize("name", sorted(NUMERIC_DEFINES))
def test_capi_constant_matches_header_define(name):
    assert getattr(C, name) == float(NUMERIC_DEFINES[name])


def test_capi_constants_exist_in_header():
    ours = {name for name in vars(C) if re.fullmatch(r"DTD_[A-Z0-9_]+", name)}
    assert ours == set(NUMERIC_DEFINES)
    assert len(NUMERIC_DEFINES) > 50


def test_capi_status_names_cover_every_status():
    codes = {name: int(value) for name, value in NUMERIC_DEFINES.items()
             if name == "DTD_OK" or name.startswith("DTD_ERROR_")}
    assert C.STATUS_NAMES == {value: name for name, value in codes.items()}


def test_capi_is_not_star_exported():
    assert "_capi" not in dtd.__all__
    assert not any(name.startswith("dtd_") for name in dtd.__all__)
