/* udos/error.h - status codes and the per-thread error detail. */
#ifndef UDOS_ERROR_H
#define UDOS_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef UDOS_API
#define UDOS_API __attribute__((visibility("default")))
#endif

/*
 * Every udos function that can fail returns an int: 0 (or a positive count
 * where documented) on success, negative on failure.
 *
 *  -1 .. -4095   a negated errno, passed up untouched (-ENOENT, -ENOSPC ...).
 *                A missing *file* given by the caller is -ENOENT.
 *  below -5000   a store condition, one of the codes below.
 *
 * A missing *object* is always UDOS_ENOTFOUND, never -ENOENT: a missing pack
 * file is corruption (UDOS_ECORRUPT) and callers must tell the two apart.
 */
enum udos_error {
	UDOS_OK = 0,
	UDOS_ENOTFOUND = -5001, /* no object with that id */
	UDOS_ECORRUPT = -5002,  /* hash mismatch, bad checksum, bad record */
	UDOS_EFORMAT = -5003,   /* unknown or newer on-disk format version */
	UDOS_ELOCKED = -5004,   /* another process is writing packs */
	UDOS_EINDEX = -5005,    /* RocksDB reported an error */
	UDOS_ECODEC = -5006,    /* compressor or decompressor failure */
	UDOS_ENOTSTORE = -5007, /* the folder is not a udos container */
	UDOS_EEXIST = -5008,    /* init on a container or non-empty folder */
	UDOS_ECHANGED = -5009,  /* a source changed size while being read */
	UDOS_EHASH = -5010,     /* content does not have the expected hash */
	UDOS_EAMBIGUOUS = -5011, /* an id prefix matches several objects */
};

/* A static, lowercase description of any code (errno range included). */
UDOS_API const char *udos_strerror(int code);

/*
 * A one-line detail of the last failure on this thread, naming the object,
 * path or offset and the cause ("pack 3 offset 4096: bad record checksum").
 * Valid only right after a call returned negative; "" if none was set.
 * The string is owned by the library and lives until the next udos call on
 * this thread.
 */
UDOS_API const char *udos_error_detail(void);

#ifdef __cplusplus
}
#endif
#endif
