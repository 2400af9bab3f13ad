"""Read what the loader needs from ELF, Mach-O and PE headers, without tools.

Only the facts verification needs: the binary format, ELF class, byte order
and machine, the shared libraries an ELF file needs (``DT_NEEDED``), and the
``GLIBC_x.y`` symbol versions it requires (``.gnu.version_r``).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

ELF_MAGIC = b"\x7fELF"
_MACHO_MAGICS = {
    b"\xfe\xed\xfa\xce",
    b"\xce\xfa\xed\xfe",
    b"\xfe\xed\xfa\xcf",
    b"\xcf\xfa\xed\xfe",
}
_FAT_MACHO = b"\xca\xfe\xba\xbe"  # also Java class files: only trusted for native-looking names
_SHT_DYNAMIC = 6
_SHT_GNU_VERNEED = 0x6FFFFFFE
_DT_NEEDED = 1
_GLIBC_RE = re.compile(r"^GLIBC_(\d+)\.(\d+)(?:\.\d+)?$")

#: e_machine values worth naming in messages.
MACHINES = {
    3: "i386",
    8: "mips",
    20: "ppc",
    21: "ppc64",
    22: "s390",
    40: "arm",
    62: "x86_64",
    183: "aarch64",
    243: "riscv",
}

#: Bytes of a file's start that :func:`binary_format` needs.
HEAD_SIZE = 64


@dataclass(frozen=True, kw_only=True, slots=True)
class ElfInfo:
    bits: int  # 32 or 64
    little_endian: bool
    machine: int
    needed: tuple[str, ...]
    glibc: tuple[int, int] | None  # highest GLIBC_x.y required
    #: Why the section tables could not be read (a truncated or corrupt file), else None.
    problem: str | None = None

    @property
    def machine_name(self) -> str:
        return MACHINES.get(self.machine, f"e_machine {self.machine}")


def binary_format(head: bytes, name: str) -> str | None:
    """ "elf", "mach-o", "pe" or None for a file starting with ``head``."""
    magic = head[:4]
    if magic == ELF_MAGIC:
        return "elf"
    if magic in _MACHO_MAGICS:
        return "mach-o"
    native = name.endswith((".so", ".dylib", ".node")) or ".so." in name.rsplit("/", 1)[-1]
    if magic == _FAT_MACHO and native:
        return "mach-o"
    if head[:2] == b"MZ" and (native or name.lower().endswith((".pyd", ".dll", ".exe"))):
        return "pe"
    return None


def machine(head: bytes) -> int | None:
    """The e_machine of an ELF header (its first 20 bytes or more), or None when not ELF."""
    if head[:4] != ELF_MAGIC or len(head) < 20:
        return None
    (found,) = struct.unpack_from("<H" if head[5] == 1 else ">H", head, 18)
    return int(found)


def parse(data: bytes) -> ElfInfo:
    """Header, DT_NEEDED and GLIBC requirements of an ELF image.

    Malformed section tables give empty ``needed``/``glibc`` and a ``problem``
    rather than an exception: the architecture check still works from the
    header alone. Raises ValueError only for data that is not ELF at all."""
    if data[:4] != ELF_MAGIC or len(data) < 20:
        raise ValueError("not an ELF file")
    bits = 64 if data[4] == 2 else 32
    little = data[5] == 1
    end = "<" if little else ">"
    (machine,) = struct.unpack_from(end + "H", data, 18)
    needed: tuple[str, ...] = ()
    glibc: tuple[int, int] | None = None
    problem = None
    try:
        sections = _sections(data, bits, end)
        needed = tuple(_needed(data, sections, bits, end))
        glibc = _max_glibc(data, sections, end)
    except (struct.error, IndexError, UnicodeDecodeError, ValueError):
        problem = f"its section tables are truncated or corrupt ({len(data):,} bytes)"
    return ElfInfo(
        bits=bits, little_endian=little, machine=machine, needed=needed, glibc=glibc, problem=problem
    )


@dataclass(frozen=True, slots=True)
class _Section:
    type: int
    offset: int
    size: int
    link: int
    info: int


def _sections(data: bytes, bits: int, end: str) -> list[_Section]:
    if bits == 64:
        (shoff,) = struct.unpack_from(end + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x3A)
        layout, fields = end + "IIQQQQIIQQ", (1, 4, 5, 6, 7)
    else:
        (shoff,) = struct.unpack_from(end + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x2E)
        layout, fields = end + "IIIIIIIIII", (1, 4, 5, 6, 7)
    out = []
    for index in range(shnum):
        values = struct.unpack_from(layout, data, shoff + index * shentsize)
        out.append(_Section(*(values[i] for i in fields)))
    return out


def _string(data: bytes, table: _Section, offset: int) -> str:
    start = table.offset + offset
    stop = data.index(b"\0", start)
    return data[start:stop].decode("utf-8")


def _needed(data: bytes, sections: list[_Section], bits: int, end: str) -> list[str]:
    names = []
    entry = struct.Struct(end + ("qQ" if bits == 64 else "iI"))
    for section in sections:
        if section.type != _SHT_DYNAMIC:
            continue
        strtab = sections[section.link]
        for offset in range(section.offset, section.offset + section.size, entry.size):
            tag, value = entry.unpack_from(data, offset)
            if tag == 0:
                break
            if tag == _DT_NEEDED:
                names.append(_string(data, strtab, value))
    return names


def _max_glibc(data: bytes, sections: list[_Section], end: str) -> tuple[int, int] | None:
    best: tuple[int, int] | None = None
    for section in sections:
        if section.type != _SHT_GNU_VERNEED:
            continue
        strtab = sections[section.link]
        offset = section.offset
        for _ in range(section.info):
            _version, count, _file, aux, next_need = struct.unpack_from(end + "HHIII", data, offset)
            aux_offset = offset + aux
            for _ in range(count):
                _hash, _flags, _other, name, next_aux = struct.unpack_from(end + "IHHII", data, aux_offset)
                found = _GLIBC_RE.match(_string(data, strtab, name))
                if found:
                    version = (int(found.group(1)), int(found.group(2)))
                    best = version if best is None or version > best else best
                if not next_aux:
                    break
                aux_offset += next_aux
            if not next_need:
                break
            offset += next_need
    return best
