/* codec.c - zstd and zlib behind one small streaming interface, and the
 * `auto` compression heuristic. */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

const char *udos_codec_name(int codec)
{
	switch (codec) {
	case UDOS_CODEC_NONE:
		return "none";
	case UDOS_CODEC_ZLIB:
		return "zlib";
	case UDOS_CODEC_ZSTD:
		return "zstd";
	}
	return "unknown";
}

int udos_codec_parse(int *codec_out, int *level_out, const char *spec)
{
	const char *num = NULL;
	int codec, lo, hi;
	char *end;
	long level;

	if (!spec)
		return udos__err(-EINVAL, "missing compression spec");
	if (strcmp(spec, "none") == 0) {
		*codec_out = UDOS_CODEC_NONE;
		*level_out = 0;
		return 0;
	}
	if (!strncmp(spec, "zstd:", 5)) {
		codec = UDOS_CODEC_ZSTD, lo = 1, hi = 19, num = spec + 5;
	} else if (!strncmp(spec, "zlib:", 5) || !strncmp(spec, "zlib+", 5)) {
		codec = UDOS_CODEC_ZLIB, lo = 1, hi = 9, num = spec + 5;
	} else if (!strcmp(spec, "zstd")) {
		codec = UDOS_CODEC_ZSTD, lo = hi = 3, num = "3";
	} else if (!strcmp(spec, "zlib")) {
		codec = UDOS_CODEC_ZLIB, lo = hi = 6, num = "6";
	} else {
		return udos__err(-EINVAL, "unknown compression '%s' (use "
				 "zstd:N, zlib:N or none)", spec);
	}
	errno = 0;
	level = strtol(num, &end, 10);
	if (errno || end == num || *end || level < lo || level > hi)
		return udos__err(-EINVAL, "bad compression level in '%s' "
				 "(%s takes %d to %d)", spec,
				 udos_codec_name(codec), lo, hi);
	*codec_out = codec;
	*level_out = (int)level;
	return 0;
}

/* ---- compression ------------------------------------------------------- */

struct udos__zenc {
	int codec;
	int level;
	ZSTD_CCtx *zs;
	z_stream zl;
	bool zl_init;
};

int udos__zenc_new(udos__zenc **out, int codec, int level)
{
	udos__zenc *z = udos__calloc(1, sizeof(*z));

	*out = NULL;
	if (!z)
		return udos__err(-ENOMEM, "out of memory (compressor)");
	z->codec = codec;
	z->level = level;
	if (codec == UDOS_CODEC_ZSTD) {
		z->zs = ZSTD_createCCtx();
		if (!z->zs ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(
			    z->zs, ZSTD_c_compressionLevel, level)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(z->zs,
							ZSTD_c_checksumFlag,
							0))) {
			udos__zenc_free(z);
			return udos__err(UDOS_ECODEC, "cannot set up zstd");
		}
	} else if (codec == UDOS_CODEC_ZLIB) {
		if (deflateInit(&z->zl, level) != Z_OK) {
			free(z);
			return udos__err(UDOS_ECODEC, "cannot set up zlib");
		}
		z->zl_init = true;
	} else if (codec != UDOS_CODEC_NONE) {
		free(z);
		return udos__err(-EINVAL, "unknown codec %d", codec);
	}
	*out = z;
	return 0;
}

int udos__zenc_codec(const udos__zenc *z)
{
	return z->codec;
}

static int zstd_run(udos__zenc *z, udos_buf *out, const void *in, size_t len,
		    bool end)
{
	ZSTD_inBuffer ib = { in, len, 0 };
	ZSTD_EndDirective mode = end ? ZSTD_e_end : ZSTD_e_continue;

	for (;;) {
		size_t room = ZSTD_CStreamOutSize(), left;
		int rc = udos_buf_reserve(out, room);
		if (rc < 0)
			return rc;
		ZSTD_outBuffer ob = { out->data + out->len, room, 0 };
		left = ZSTD_compressStream2(z->zs, &ob, &ib, mode);
		if (ZSTD_isError(left))
			return udos__err(UDOS_ECODEC, "zstd: %s",
					 ZSTD_getErrorName(left));
		out->len += ob.pos;
		if (end ? left == 0 : ib.pos == ib.size)
			return 0;
	}
}

static int zlib_run(udos__zenc *z, udos_buf *out, const void *in, size_t len,
		    bool end)
{
	z->zl.next_in = (Bytef *)in;
	z->zl.avail_in = (uInt)len;
	for (;;) {
		size_t room = 64 * 1024;
		int rc = udos_buf_reserve(out, room), zr;
		if (rc < 0)
			return rc;
		z->zl.next_out = out->data + out->len;
		z->zl.avail_out = (uInt)room;
		zr = deflate(&z->zl, end ? Z_FINISH : Z_NO_FLUSH);
		out->len += room - z->zl.avail_out;
		if (zr == Z_STREAM_END) {
			deflateReset(&z->zl);
			return 0;
		}
		if (zr != Z_OK && zr != Z_BUF_ERROR)
			return udos__err(UDOS_ECODEC, "zlib: deflate error %d",
					 zr);
		if (!end && z->zl.avail_in == 0 && z->zl.avail_out != 0)
			return 0;
	}
}

int udos__zenc_run(udos__zenc *z, udos_buf *out, const void *in, size_t len,
		   bool end)
{
	/* zlib's avail_in is 32-bit: feed very large inputs in slices */
	const uint8_t *p = in;

	switch (z->codec) {
	case UDOS_CODEC_NONE:
		return udos_buf_append(out, in, len);
	case UDOS_CODEC_ZSTD:
		return zstd_run(z, out, in, len, end);
	case UDOS_CODEC_ZLIB:
		while (len > (1u << 30)) {
			int rc = zlib_run(z, out, p, 1u << 30, false);
			if (rc < 0)
				return rc;
			p += 1u << 30;
			len -= 1u << 30;
		}
		return zlib_run(z, out, p, len, end);
	}
	return udos__err(-EINVAL, "unknown codec %d", z->codec);
}

void udos__zenc_free(udos__zenc *z)
{
	if (!z)
		return;
	ZSTD_freeCCtx(z->zs);
	if (z->zl_init)
		deflateEnd(&z->zl);
	free(z);
}

size_t udos__zbound(int codec, size_t len)
{
	if (codec == UDOS_CODEC_ZSTD)
		return ZSTD_compressBound(len);
	if (codec == UDOS_CODEC_ZLIB)
		return compressBound((uLong)len) + 64;
	return len;
}

/* ---- decompression ----------------------------------------------------- */

struct udos__zdec {
	int codec;
	ZSTD_DCtx *zs;
	z_stream zl;
	bool zl_init;
};

int udos__zdec_new(udos__zdec **out, int codec)
{
	udos__zdec *z = udos__calloc(1, sizeof(*z));

	*out = NULL;
	if (!z)
		return udos__err(-ENOMEM, "out of memory (decompressor)");
	z->codec = codec;
	if (codec == UDOS_CODEC_ZSTD) {
		z->zs = ZSTD_createDCtx();
		if (!z->zs) {
			free(z);
			return udos__err(UDOS_ECODEC, "cannot set up zstd");
		}
	} else if (codec == UDOS_CODEC_ZLIB) {
		if (inflateInit(&z->zl) != Z_OK) {
			free(z);
			return udos__err(UDOS_ECODEC, "cannot set up zlib");
		}
		z->zl_init = true;
	}
	*out = z;
	return 0;
}

void udos__zdec_reset(udos__zdec *z)
{
	if (z->codec == UDOS_CODEC_ZSTD)
		ZSTD_DCtx_reset(z->zs, ZSTD_reset_session_only);
	else if (z->codec == UDOS_CODEC_ZLIB)
		inflateReset(&z->zl);
}

int udos__zdec_run(udos__zdec *z, const uint8_t **in, size_t *in_len,
		   uint8_t *out, size_t out_cap, size_t *out_len, bool *done)
{
	*out_len = 0;
	*done = false;
	if (z->codec == UDOS_CODEC_ZSTD) {
		ZSTD_inBuffer ib = { *in, *in_len, 0 };
		ZSTD_outBuffer ob = { out, out_cap, 0 };
		size_t r = ZSTD_decompressStream(z->zs, &ob, &ib);
		if (ZSTD_isError(r))
			return udos__err(UDOS_ECODEC, "zstd: %s",
					 ZSTD_getErrorName(r));
		*in += ib.pos;
		*in_len -= ib.pos;
		*out_len = ob.pos;
		*done = r == 0;
		return 0;
	}
	if (z->codec == UDOS_CODEC_ZLIB) {
		uInt ain = *in_len > (1u << 30) ? (1u << 30) : (uInt)*in_len;
		uInt aout = out_cap > (1u << 30) ? (1u << 30) : (uInt)out_cap;
		int zr;

		z->zl.next_in = (Bytef *)*in;
		z->zl.avail_in = ain;
		z->zl.next_out = out;
		z->zl.avail_out = aout;
		zr = inflate(&z->zl, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
			return udos__err(UDOS_ECODEC, "zlib: inflate error %d",
					 zr);
		*in += ain - z->zl.avail_in;
		*in_len -= ain - z->zl.avail_in;
		*out_len = aout - z->zl.avail_out;
		*done = zr == Z_STREAM_END;
		return 0;
	}
	/* none: a plain copy */
	size_t n = *in_len < out_cap ? *in_len : out_cap;
	memcpy(out, *in, n);
	*in += n;
	*in_len -= n;
	*out_len = n;
	return 0;
}

int udos__zdec_once(udos__zdec *z, const uint8_t *in, size_t in_len,
		    uint8_t *out, size_t out_cap, size_t *out_len)
{
	size_t r;

	*out_len = 0;
	if (z->codec != UDOS_CODEC_ZSTD)
		return 1;
	r = ZSTD_decompressDCtx(z->zs, out, out_cap, in, in_len);
	if (ZSTD_isError(r))
		return udos__err(UDOS_ECODEC, "zstd: %s", ZSTD_getErrorName(r));
	*out_len = r;
	return 0;
}

void udos__zdec_free(udos__zdec *z)
{
	if (!z)
		return;
	ZSTD_freeDCtx(z->zs);
	if (z->zl_init)
		inflateEnd(&z->zl);
	free(z);
}

/* ---- auto heuristic ---------------------------------------------------- */

struct trial {
	ZSTD_CCtx *cctx;
	uint8_t *buf;
};

static pthread_key_t trial_key;
static pthread_once_t trial_once = PTHREAD_ONCE_INIT;

static void trial_free(void *p)
{
	struct trial *t = p;

	ZSTD_freeCCtx(t->cctx);
	free(t->buf);
	free(t);
}

static void trial_key_init(void)
{
	pthread_key_create(&trial_key, trial_free);
}

static struct trial *trial_get(void)
{
	struct trial *t;

	pthread_once(&trial_once, trial_key_init);
	t = pthread_getspecific(trial_key);
	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->cctx = ZSTD_createCCtx();
	t->buf = malloc(ZSTD_compressBound(UDOS_AUTO_SAMPLE));
	if (!t->cctx || !t->buf) {
		trial_free(t);
		return NULL;
	}
	pthread_setspecific(trial_key, t);
	return t;
}

static bool has_magic(const uint8_t *p, size_t n)
{
	static const struct {
		size_t off, len;
		const char *m;
	} magics[] = {
		{ 0, 2, "\x1f\x8b" },			/* gzip */
		{ 0, 4, "\x28\xb5\x2f\xfd" },		/* zstd */
		{ 0, 6, "\xfd" "7zXZ\0" },		/* xz */
		{ 0, 3, "BZh" },			/* bzip2 */
		{ 0, 4, "PK\x03\x04" },			/* zip, docx, jar */
		{ 0, 8, "\x89PNG\r\n\x1a\n" },		/* png */
		{ 0, 3, "\xff\xd8\xff" },		/* jpeg */
		{ 0, 4, "GIF8" },			/* gif */
		{ 0, 6, "7z\xbc\xaf\x27\x1c" },		/* 7z */
		{ 0, 4, "\x04\x22\x4d\x18" },		/* lz4 */
		{ 0, 4, "OggS" },			/* ogg */
		{ 0, 4, "fLaC" },			/* flac */
		{ 4, 4, "ftyp" },			/* mp4, mov, heic */
		{ 8, 4, "WEBP" },			/* webp */
		{ 0, 3, "ID3" },			/* mp3 */
		{ 0, 4, "\x89HDF" },			/* hdf5 (often chunked
							   compressed) */
	};

	for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++) {
		if (n >= magics[i].off + magics[i].len &&
		    !memcmp(p + magics[i].off, magics[i].m, magics[i].len))
			return true;
	}
	return false;
}

bool udos__auto_rules_out(const void *head, size_t head_len, uint64_t total)
{
	return total < UDOS_AUTO_MIN_SIZE || head_len < UDOS_AUTO_MIN_SIZE ||
	       has_magic(head, head_len);
}

bool udos__worth_compressing(const void *head, size_t head_len,
			     uint64_t total)
{
	struct trial *t;
	size_t n = head_len < UDOS_AUTO_SAMPLE ? head_len : UDOS_AUTO_SAMPLE;
	size_t c;

	if (udos__auto_rules_out(head, head_len, total))
		return false;
	t = trial_get();
	if (!t)
		return true;
	c = ZSTD_compressCCtx(t->cctx, t->buf, ZSTD_compressBound(n), head, n,
			      1);
	if (ZSTD_isError(c))
		return false;
	return UDOS_AUTO_WORTH(c, n);
}

int udos__codec_choose(int compress, int def, const void *head,
		       size_t head_len, uint64_t total, bool *once)
{
	if (once)
		*once = false;
	if (def == UDOS_CODEC_NONE)
		return UDOS_CODEC_NONE;
	if (compress == UDOS_COMPRESS_YES)
		return def;
	if (compress != UDOS_COMPRESS_AUTO)
		return UDOS_CODEC_NONE;
	if (once && total <= UDOS_AUTO_SAMPLE && head_len >= total) {
		*once = !udos__auto_rules_out(head, head_len, total);
		return *once ? def : UDOS_CODEC_NONE;
	}
	return udos__worth_compressing(head, head_len, total) ? def
							      : UDOS_CODEC_NONE;
}
