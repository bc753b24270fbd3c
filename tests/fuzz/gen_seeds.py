#!/usr/bin/env python3
# tests/fuzz/gen_seeds.py - writes the seed corpora of tests/fuzz/<harness>/:
# a handful of small valid inputs per harness, in each harness's input
# format (see its header comment). Rerun after changing a format; the
# output is deterministic. Usage: tests/fuzz/gen_seeds.py
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# opcodes (linux/fuse.h)
LOOKUP, FORGET, GETATTR, SETATTR, READLINK, SYMLINK, MKNOD, MKDIR = 1, 2, 3, 4, 5, 6, 8, 9
UNLINK, RMDIR, RENAME, LINK, OPEN, READ, WRITE, STATFS, RELEASE = 10, 11, 12, 13, 14, 15, 16, 17, 18
FSYNC, SETXATTR, GETXATTR, LISTXATTR, REMOVEXATTR, FLUSH, INIT = 20, 21, 22, 23, 24, 25, 26
OPENDIR, READDIR, RELEASEDIR, FSYNCDIR, ACCESS, CREATE, INTERRUPT = 27, 28, 29, 30, 34, 35, 36
DESTROY, BATCH_FORGET, FALLOCATE, READDIRPLUS, RENAME2, LSEEK = 38, 42, 43, 44, 45, 46

INIT_EXT, MAX_PAGES, ASYNC_READ = 1 << 30, 1 << 22, 1


def inhdr(opcode, unique, nodeid, body):
    return struct.pack('<IIQQIIII', 40 + len(body), opcode, unique, nodeid, 0, 0, 0, 0) + body


def init_in(major=7, minor=38, flags=INIT_EXT | MAX_PAGES | ASYNC_READ, flags2=0, n=64):
    b = struct.pack('<IIIIII', major, minor, 65536, flags, flags2, 0)
    return (b + bytes(64))[:n]


def write(harness, name, data):
    d = os.path.join(HERE, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


# ---- fuzz_dispatch: flags byte, then u16 length + message records ----
def records(*msgs):
    return b''.join(struct.pack('<H', len(m)) + m for m in msgs)


def read_in(size, off=0):
    return struct.pack('<QQIIIII', 1, off, size, 0, 0, 0, 0)


def seeds_dispatch():
    init = inhdr(INIT, 2, 0, init_in())
    # unique bits 1..3 pick the fake filesystem's behaviour (fuzz_fs.c)
    u = lambda n, mode: (n << 4) | (mode << 1)
    write('fuzz_dispatch', 'lookup_getattr', b'\x00' + records(
        init, inhdr(LOOKUP, u(1, 0), 1, b'file\0'),
        inhdr(GETATTR, u(2, 0), 2, struct.pack('<IIQ', 0, 0, 0)),
        inhdr(FORGET, u(3, 0), 2, struct.pack('<Q', 1))))
    write('fuzz_dispatch', 'read_write_kept', b'\x01' + records(
        inhdr(OPEN, u(1, 4), 2, struct.pack('<II', 2, 0)),
        inhdr(READ, u(2, 5), 2, read_in(4096)),
        inhdr(WRITE, u(3, 6), 2, struct.pack('<QQIIIII', 1, 0, 5, 0, 0, 0, 0) + b'hello'),
        inhdr(INTERRUPT, u(4, 0) | 1, 0, struct.pack('<Q', u(3, 6))),
        inhdr(READ, u(5, 4), 2, read_in(100)),
        inhdr(RELEASE, u(6, 0), 2, struct.pack('<QIIQ', 1, 0, 0, 0))))
    write('fuzz_dispatch', 'dirs', b'\x01' + records(
        inhdr(MKDIR, u(1, 0), 1, struct.pack('<II', 0o755, 0o22) + b'd\0'),
        inhdr(OPENDIR, u(2, 0), 300, struct.pack('<II', 0, 0)),
        inhdr(READDIR, u(3, 5), 300, read_in(4096)),
        inhdr(READDIRPLUS, u(4, 0), 300, read_in(4096)),
        inhdr(RELEASEDIR, u(5, 0), 300, struct.pack('<QIIQ', 1, 0, 0, 0)),
        inhdr(RENAME, u(6, 0), 1, struct.pack('<Q', 1) + b'd\0e\0'),
        inhdr(RMDIR, u(7, 6), 1, b'e\0')))
    write('fuzz_dispatch', 'xattr_misc', b'\x0d' + records(
        inhdr(SETXATTR, u(1, 0), 2, struct.pack('<IIII', 3, 0, 0, 0) + b'user.a\0abc'),
        inhdr(GETXATTR, u(2, 0), 2, struct.pack('<II', 0, 0) + b'user.a\0'),
        inhdr(LISTXATTR, u(3, 5), 2, struct.pack('<II', 64, 0)),
        inhdr(STATFS, u(4, 0), 1, b''),
        inhdr(SYMLINK, u(5, 7), 1, b'l\0target\0'),
        inhdr(READLINK, u(6, 0), 5, b''),
        inhdr(LSEEK, u(7, 0), 2, struct.pack('<QQII', 1, 10, 3, 0)),
        inhdr(DESTROY, u(8, 0), 0, b'')))
    write('fuzz_dispatch', 'no_init', b'\x00' + records(
        inhdr(LOOKUP, u(1, 0), 1, b'x\0'),
        inhdr(INIT, u(2, 0), 0, init_in(major=8, n=16)),
        inhdr(INIT, u(3, 0), 0, init_in(minor=20))))


seeds_dispatch()
