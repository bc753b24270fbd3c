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


# ---- fuzz_init: options, max_write pages (u16), max_pages, client
# max_pages, client max_read / 1000, then the INIT argument ----
def seeds_init():
    PT = 1 << 37  # FUSE_PASSTHROUGH
    write('fuzz_init', 'plain', bytes([0, 0, 0, 0, 0, 0]) + init_in())
    write('fuzz_init', 'passthrough', bytes([4, 16, 0, 8, 64, 0]) +
          init_in(flags=INIT_EXT | MAX_PAGES, flags2=PT >> 32, minor=40))
    write('fuzz_init', 'old_minor_short', bytes([1, 1, 0, 0, 0, 5]) + init_in(minor=28, n=16))
    write('fuzz_init', 'major8', bytes([0, 0, 0, 0, 0, 0]) + init_in(major=8, n=16))
    write('fuzz_init', 'no_ext_24', bytes([2, 4, 0, 0, 1, 0]) + init_in(flags=MAX_PAGES, n=24))


# ---- fuzz_client: records of call, ctl, u16 length, reply bytes ----
def outhdr(body, error=0):
    return struct.pack('<IiQ', 16 + len(body), error, 0) + body


def rec(call, body, error=0, ctl=3):
    m = outhdr(body, error)
    return struct.pack('<BBH', call, ctl, len(m)) + m


def init_out(minor=38, flags=INIT_EXT | MAX_PAGES | ASYNC_READ, max_write=1 << 20, pages=256):
    return struct.pack('<IIIIHHIIHHI', 7, minor, 65536, flags, 16, 12, max_write, 1, pages,
                       0, 0) + bytes(28)


def attr():
    return struct.pack('<QQQQQQIIIIIIIIII', 2, 100, 1, 0, 0, 0, 0, 0, 0, 0o100644, 1, 0,
                       0, 0, 4096, 0)


def dirent(ino, off, name, typ=8):
    b = struct.pack('<QQII', ino, off, len(name), typ) + name
    return b + bytes(-len(b) % 8)


def seeds_client():
    W = 'fuzz_client'
    write(W, 'meta', rec(0, init_out()) + rec(0, struct.pack('<QII', 1, 0, 0) + attr()) +
          rec(1, struct.pack('<QQQQII', 5, 1, 1, 1, 0, 0) + attr()) +
          rec(2, struct.pack('<QQQQQIIII', 100, 50, 50, 10, 5, 4096, 255, 4096, 0) +
              bytes(24)) +
          rec(8, b'', error=-2) + rec(7, b'', error=-17))
    write(W, 'io', rec(0, init_out(pages=16)) + rec(3, struct.pack('<QII', 7, 1, 0)) +
          rec(4, b'x' * 100) + rec(5, struct.pack('<II', 1000, 0)) + rec(12, b''))
    write(W, 'readdir', rec(0, init_out(flags=MAX_PAGES)) + rec(13, struct.pack('<QII', 3, 0, 0)) +
          rec(6, dirent(1, 1, b'.', 4) + dirent(1, 2, b'..', 4) + dirent(9, 3, b'file')))
    write(W, 'old_init', rec(0, init_out(minor=28, flags=0)[:24]) + rec(9, b''))
    write(W, 'not_fuse', struct.pack('<BBH', 0, 0, 5) + b'hello')


# ---- fuzz_stream: u16 buffer size, then stream bytes ----
def seeds_stream():
    W = 'fuzz_stream'
    msgs = inhdr(INIT, 2, 0, init_in()) + inhdr(LOOKUP, 4, 1, b'x\0') + inhdr(STATFS, 6, 1, b'')
    write(W, 'three', struct.pack('<H', 4096) + msgs)
    write(W, 'too_big', struct.pack('<H', 60) + inhdr(WRITE, 8, 2, bytes(100)) + msgs)
    write(W, 'bad_len', struct.pack('<H', 4096) + msgs + struct.pack('<IIQ', 8, 1, 10))
    write(W, 'cut', struct.pack('<H', 4096) + msgs[:-5])


# ---- fuzz_virtq: 14-byte header, then guest memory (gpa 0 up) ----
F, W, I = 1, 2, 4  # VRING_DESC_F_NEXT, _WRITE, _INDIRECT


def vq_hdr(log2, flags, rd_max=8, wr_max=8, last_avail=0, split=0, desc=0, avail=64, used=96):
    return struct.pack('<BBBBHHHHH', log2, flags, rd_max, wr_max, last_avail, split, desc,
                       avail, used)


def vq_mem(descs, heads, used_idx=0, size=1024, extra=()):
    # num 4: desc table at 0 (64 bytes), avail at 64, used at 96, data from 256
    m = bytearray(size)
    for i, (addr, ln, fl, nx) in enumerate(descs):
        struct.pack_into('<QIHH', m, 16 * i, addr, ln, fl, nx)
    struct.pack_into('<HH', m, 64, 0, len(heads))
    for i, h in enumerate(heads):
        struct.pack_into('<H', m, 68 + 2 * i, h)
    struct.pack_into('<HH', m, 96, 0, used_idx)
    for off, b in extra:
        m[off:off + len(b)] = b
    return bytes(m)


def seeds_virtq():
    W_ = 'fuzz_virtq'
    chain = [(256, 40, F, 1), (320, 8, F, 2), (512, 100, W | F, 3), (700, 60, W, 0)]
    write(W_, 'chain', vq_hdr(2, 0) + vq_mem(chain, [0]))
    write(W_, 'singles_event_idx', vq_hdr(2, 1) + vq_mem(
        [(256, 16, 0, 0), (300, 16, W, 0), (400, 1, 0, 0), (500, 64, W, 0)], [0, 1, 2, 3]))
    table = struct.pack('<QIHHQIHH', 256, 10, F, 1, 600, 30, W, 0)
    write(W_, 'indirect', vq_hdr(2, 0) + vq_mem([(800, 32, I, 0)], [0], extra=[(800, table)]))
    write(W_, 'loop', vq_hdr(2, 0) + vq_mem([(256, 4, F, 1), (260, 4, F, 0)], [0, 1]))
    write(W_, 'split_regions', vq_hdr(2, 2, split=600) + vq_mem([(550, 100, W, 0)], [0]))
    used = struct.pack('<HH', 0, 2) + struct.pack('<IIII', 0, 0, 1, 5)
    write(W_, 'driver', vq_hdr(2, 8, rd_max=2) + vq_mem([], [], extra=[(96, used)]))


# ---- fuzz_vhost: frontend ops (see fuzz_vhost.c's header comment) ----
def vh_std(k, a=0):
    return bytes([0, k, a])


def vh_raw(req, flags, payload=b'', fds=0):
    return bytes([1]) + struct.pack('<IIH', req, flags, len(payload)) + payload + bytes([fds])


def vh_mem(off, data):
    return bytes([2]) + struct.pack('<HB', off, len(data)) + data


def vh_fuse(opcode, arg=b'', room=None, q=1, how=0, ubits=0):
    if room is None:
        room = 16 + 256
    return bytes([6, q, opcode, how, ubits]) + struct.pack('<HB', room, len(arg)) + arg


VH_SETUP = bytes([5])
VH_GPA, VH_REQ_AT = 0x100000000, 8192
VU_VERSION, VU_NEED_REPLY = 1, 8


def vh_desc(q, i, addr, ln, flags, nxt):
    return vh_mem(q * 4096 + 16 * i, struct.pack('<QIHH', addr, ln, flags, nxt))


def seeds_vhost():
    W_ = 'fuzz_vhost'
    init = vh_fuse(INIT, init_in(), room=16 + 64)
    getattr_ = vh_fuse(GETATTR, struct.pack('<IIQ', 0, 0, 0), room=16 + 104)
    write(W_, 'setup_io', VH_SETUP + init + getattr_ +
          vh_fuse(LOOKUP, b'file\0', room=16 + 128) +
          vh_fuse(OPEN, struct.pack('<II', 2, 0), room=16 + 16) +
          vh_fuse(READ, struct.pack('<QQIIQII', 1, 0, 4096, 0, 0, 0, 0), room=16 + 4096,
                  how=1) +
          vh_fuse(WRITE, struct.pack('<QQIIQII', 1, 0, 5, 0, 0, 0, 0) + b'hello', room=24,
                  how=2) +
          vh_fuse(STATFS, room=16 + 80) +
          vh_fuse(FORGET, struct.pack('<Q', 1), room=0, q=0) +
          vh_fuse(DESTROY, room=16))
    qemu = vh_std(0) + vh_std(2) + vh_std(3) + vh_std(17) + vh_std(4) + vh_std(1, 6) + vh_std(5)
    for q in (0, 1):
        qemu += vh_std(10, q) + vh_std(11, q) + vh_std(6, q) + vh_std(7, q) + vh_std(8, q) + \
            vh_std(9, q) + vh_std(12, q)
    write(W_, 'qemu_order', qemu + init + getattr_)
    write(W_, 'destroy_init', VH_SETUP + init + vh_fuse(DESTROY, room=16) + init + getattr_)
    restart = b''
    for q, base in ((0, 0), (1, 2)):
        restart += vh_std(6, q) + vh_std(7, q | base << 1) + vh_std(8, q) + vh_std(9, q) + \
            vh_std(12, q)
    write(W_, 'vring_base', VH_SETUP + init + getattr_ + vh_std(14, 0) + vh_std(14, 1) +
          restart + init + getattr_)
    F, WR, IND = 1, 2, 4
    write(W_, 'crafted_loop', VH_SETUP + init +
          vh_desc(1, 0, VH_GPA + VH_REQ_AT, 56, F, 1) + vh_desc(1, 1, VH_GPA + VH_REQ_AT, 56, F, 0) +
          bytes([3, 1, 0, 4, 1]) + getattr_)
    headerless = vh_desc(1, 0, VH_GPA + VH_REQ_AT, 20, 0, 0) + bytes([3, 1, 0, 4, 1])
    write(W_, 'headerless', VH_SETUP + init + headerless * 6 + getattr_)
    write(W_, 'bad_version', VH_SETUP + vh_raw(1, 2) + init)
    region = struct.pack('<QQQQ', VH_GPA, 1 << 30, 0, 0)  # user 0: the harness's mapping
    write(W_, 'small_fd_region', VH_SETUP + init +
          vh_raw(5, VU_VERSION | VU_NEED_REPLY, struct.pack('<II', 1, 0) + region, fds=1) +
          getattr_)
    # a reset guest starts its rings from 0 again
    zero = vh_mem(1024, bytes(4)) + vh_mem(256, bytes(4)) + vh_mem(4096 + 1024, bytes(4)) + \
        vh_mem(4096 + 256, bytes(4))
    write(W_, 'reset_device', VH_SETUP + init + vh_std(16) + zero + VH_SETUP + init + getattr_)
    write(W_, 'unknown_need_reply', VH_SETUP + vh_raw(50, VU_VERSION | VU_NEED_REPLY, b'x' * 8) +
          vh_raw(7, VU_VERSION | VU_NEED_REPLY, fds=9) + init)


seeds_init()
seeds_client()
seeds_stream()
seeds_virtq()
seeds_vhost()
