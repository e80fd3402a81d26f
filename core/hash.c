/* hash.c - SHA-256 and SHA-1 through OpenSSL EVP; XXH3-64 where only speed
 * matters. */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <xxhash.h>

/*
 * One hasher for every content hash (loose adds, pack writer, validate,
 * readers that verify, ingest workers): the store's hash type picks the
 * EVP digest once, at _new. Digests shorter than udos_oid (SHA-1) are
 * zero-padded, so ids of either type compare and index as 32 bytes.
 */
struct udos__hash {
	EVP_MD_CTX *ctx;
	const EVP_MD *md;
};

/* Digests fetched from the provider once: OpenSSL 3 looks the legacy
 * EVP_sha256() up again at every EVP_DigestInit_ex, which cost ~15% of
 * hashing a 3 KiB file. */
static EVP_MD *fetched_sha256, *fetched_sha1;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_mds(void)
{
	fetched_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	fetched_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
}

static const EVP_MD *hash_md(int hash_type)
{
	pthread_once(&fetch_once, fetch_mds);
	switch (hash_type) {
	case UDOS_HASH_SHA256:
		return fetched_sha256 ? fetched_sha256 : EVP_sha256();
	case UDOS_HASH_SHA1:
		return fetched_sha1 ? fetched_sha1 : EVP_sha1();
	}
	return NULL;
}

int udos_hash_type_parse(int *out, const char *name)
{
	if (name && !strcmp(name, "sha256"))
		*out = UDOS_HASH_SHA256;
	else if (name && !strcmp(name, "sha1"))
		*out = UDOS_HASH_SHA1;
	else
		return udos__err(-EINVAL, "unknown hash type '%s'",
				 name ? name : "");
	return 0;
}

const char *udos_hash_type_name(int hash_type)
{
	switch (hash_type) {
	case UDOS_HASH_SHA256: return "sha256";
	case UDOS_HASH_SHA1: return "sha1";
	}
	return NULL;
}

size_t udos_hash_digest_size(int hash_type)
{
	switch (hash_type) {
	case UDOS_HASH_SHA256: return 32;
	case UDOS_HASH_SHA1: return 20;
	}
	return 0;
}

int udos__hash_new(udos__hash **out, int hash_type)
{
	const EVP_MD *md = hash_md(hash_type);
	udos__hash *h;

	*out = NULL;
	if (!md)
		return udos__err(-EINVAL, "unknown hash type %d", hash_type);
	h = udos__alloc(sizeof(*h));
	if (!h)
		return udos__err(-ENOMEM, "out of memory (hasher)");
	h->md = md;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || !EVP_DigestInit_ex(h->ctx, md, NULL)) {
		EVP_MD_CTX_free(h->ctx);
		free(h);
		return udos__err(-ENOMEM, "cannot set up %s",
				 udos_hash_type_name(hash_type));
	}
	*out = h;
	return 0;
}

void udos__hash_reset(udos__hash *h)
{
	EVP_DigestInit_ex(h->ctx, h->md, NULL);
}

void udos__hash_update(udos__hash *h, const void *data, size_t len)
{
	if (len)
		EVP_DigestUpdate(h->ctx, data, len);
}

void udos__hash_final(udos_oid *out, udos__hash *h)
{
	unsigned int n = 0;

	memset(out, 0, sizeof(*out));
	EVP_DigestFinal_ex(h->ctx, out->id, &n);
	udos__hash_reset(h);
}

void udos__hash_free(udos__hash *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

int udos__hash_fd(udos_oid *out, uint64_t *size_out, udos__hash *h, int fd,
		  void *buf, size_t cap)
{
	uint64_t size = 0;

	for (;;) {
		ssize_t n = udos__read_full(fd, buf, cap);

		if (n < 0) {
			udos__hash_reset(h);
			return (int)n;
		}
		udos__hash_update(h, buf, (size_t)n);
		size += (uint64_t)n;
		if ((size_t)n < cap)
			break;
	}
	udos__hash_final(out, h);
	if (size_out)
		*size_out = size;
	return 0;
}

int udos_oid_hash_as(udos_oid *out, int hash_type, const void *data,
		     size_t len)
{
	const EVP_MD *md = hash_md(hash_type);
	unsigned int n = 0;

	if (!md)
		return udos__err(-EINVAL, "unknown hash type %d", hash_type);
	memset(out, 0, sizeof(*out));
	EVP_Digest(data, len, out->id, &n, md, NULL);
	return 0;
}

void udos_oid_hash(udos_oid *out, const void *data, size_t len)
{
	udos_oid_hash_as(out, UDOS_HASH_SHA256, data, len);
}

uint64_t udos__xxh3(const void *data, size_t len)
{
	return XXH3_64bits(data, len);
}

struct udos__xxh {
	XXH3_state_t *st;
};

udos__xxh *udos__xxh_new(void)
{
	udos__xxh *x = udos__alloc(sizeof(*x));

	if (!x)
		return NULL;
	x->st = XXH3_createState();
	if (!x->st) {
		free(x);
		return NULL;
	}
	XXH3_64bits_reset(x->st);
	return x;
}

void udos__xxh_reset(udos__xxh *x)
{
	XXH3_64bits_reset(x->st);
}

void udos__xxh_update(udos__xxh *x, const void *data, size_t len)
{
	XXH3_64bits_update(x->st, data, len);
}

uint64_t udos__xxh_digest(udos__xxh *x)
{
	return XXH3_64bits_digest(x->st);
}

void udos__xxh_free(udos__xxh *x)
{
	if (!x)
		return;
	XXH3_freeState(x->st);
	free(x);
}

/* SHA-256 of len bytes of fd at off, hex */
int udos__sha256_fd(char out[65], int fd, uint64_t off, uint64_t len)
{
	udos__hash *h = NULL;
	uint8_t *buf = udos__alloc(1u << 20);
	udos_oid o;
	int rc;

	if (!buf)
		return udos__err(-ENOMEM, "out of memory");
	rc = udos__hash_new(&h, UDOS_HASH_SHA256);
	while (rc == 0 && len) {
		size_t want = len > (1u << 20) ? 1u << 20 : (size_t)len;
		ssize_t got = udos__pread_full(fd, buf, want, off);
		if (got != (ssize_t)want) {
			rc = udos__err(got < 0 ? (int)got : -EIO,
				       "cannot read the file to hash");
			break;
		}
		udos__hash_update(h, buf, want);
		off += want;
		len -= want;
	}
	if (rc == 0) {
		udos__hash_final(&o, h);
		udos_oid_fmt(out, &o);
	}
	udos__hash_free(h);
	free(buf);
	return rc;
}

