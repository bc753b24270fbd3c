/* tests/mounted/fault_fs.h - what the fault-injecting backing server
 * (fault_fs.c) and the test using it (test_backing_faults.c) agree on: the
 * names of its faulty files and the bytes they start with. */
#ifndef SGF_TEST_FAULT_FS_H
#define SGF_TEST_FAULT_FS_H

#include <stdint.h>

/* Both files hold fault_size bytes of fault_byte() at start. A READ or
 * WRITE of FAULT_SHORT that starts before fault_at and reaches past it
 * moves the bytes up to fault_at and returns that short count (a disk
 * that did part of the transfer); one of FAULT_EIO that reaches past
 * fault_at fails -EIO as a whole; a request that starts at or after
 * fault_at fails -EIO on both. Everything else behaves as memory. */
#define FAULT_SHORT "fault-short"
#define FAULT_EIO "fault-eio"

static inline uint8_t fault_byte(uint64_t off)
{
	return (uint8_t)(off * 7 + (off >> 12) + 0x5a);
}

#endif
