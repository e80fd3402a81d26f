/* hash.c - SHA-256 through OpenSSL EVP; XXH3-64 where only speed matters. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>

#include <openssl/evp.h>
#include <xxhash.h>

struct udos__sha256 {
	EVP_MD_CTX *ctx;
};

int udos__sha256_new(udos__sha256 **out)
{
	udos__sha256 *h = udos__alloc(sizeof(*h));

	*out = NULL;
	if (!h)
		return udos__err(-ENOMEM, "out of memory (hasher)");
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || !EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(h->ctx);
		free(h);
		return udos__err(-ENOMEM, "cannot set up SHA-256");
	}
	*out = h;
	return 0;
}

void udos__sha256_reset(udos__sha256 *h)
{
	EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
}

void udos__sha256_update(udos__sha256 *h, const void *data, size_t len)
{
	if (len)
		EVP_DigestUpdate(h->ctx, data, len);
}

void udos__sha256_final(udos_oid *out, udos__sha256 *h)
{
	unsigned int n = 0;

	EVP_DigestFinal_ex(h->ctx, out->id, &n);
	udos__sha256_reset(h);
}

void udos__sha256_free(udos__sha256 *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void udos_oid_hash(udos_oid *out, const void *data, size_t len)
{
	unsigned int n = 0;

	EVP_Digest(data, len, out->id, &n, EVP_sha256(), NULL);
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
