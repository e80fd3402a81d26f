/* cli/transfer.c - the copy behind `udos import` and `udos export`. */
#include "transfer.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idlist.h"
#include "output.h"

struct out {
	struct cli *cli;
	const struct transfer_args *a;
	struct progress prog;
	size_t src_dsz, dst_dsz;
	bool same;
};

static const char *const status_name[] = {
	[UDOS_IMPORT_COPIED] = "copied",
	[UDOS_IMPORT_PRESENT] = "present",
	[UDOS_IMPORT_MISSING] = "missing",
	[UDOS_IMPORT_CORRUPT] = "corrupt",
};

static int object_fn(void *ctx, int status, const udos_oid *src_oid,
		     const udos_oid *dst_oid)
{
	struct out *o = ctx;
	char sh[UDOS_OID_HEXSZ + 1], dh[UDOS_OID_HEXSZ + 1];

	udos_oid_fmt_sz(sh, src_oid, o->src_dsz);
	if (dst_oid)
		udos_oid_fmt_sz(dh, dst_oid, o->dst_dsz);
	if (status == UDOS_IMPORT_MISSING || status == UDOS_IMPORT_CORRUPT) {
		progress_end(&o->prog);
		cli_msg(o->cli, status == UDOS_IMPORT_MISSING
					? "not found"
					: "corrupt in the source, not copied",
			sh);
	}
	if (o->a->json) {
		printf("{\"source\":\"%s\",\"hash\":", sh);
		if (dst_oid)
			printf("\"%s\"", dh);
		else
			fputs("null", stdout);
		printf(",\"status\":\"%s\"}\n", status_name[status]);
	} else if (status == UDOS_IMPORT_COPIED) {
		if (o->same)
			printf("%s\n", dh);
		else
			printf("%s %s\n", sh, dh);
	}
	return 0;
}

static void progress_fn(void *ctx, const udos_progress *p)
{
	progress_cb(&((struct out *)ctx)->prog, p);
}

static void summary(const struct cli *cli, const udos_import_result *r)
{
	char a[32], b[32];

	if (cli->quiet)
		return;
	fprintf(stderr, "udos %s: copied %llu objects (%s, %s stored), "
		"%llu already there", cli->cmd->name,
		(unsigned long long)r->copied, human_size(a, sizeof(a), r->bytes),
		human_size(b, sizeof(b), r->bytes_stored),
		(unsigned long long)r->skipped);
	if (r->missing)
		fprintf(stderr, ", %llu not found",
			(unsigned long long)r->missing);
	if (r->corrupt)
		fprintf(stderr, ", %llu corrupt",
			(unsigned long long)r->corrupt);
	fputc('\n', stderr);
}

int transfer_run(struct cli *cli, udos_store *dst, udos_store *src,
		 char **ids, int n, const struct transfer_args *a)
{
	udos_import_opts io = UDOS_IMPORT_OPTS_INIT;
	udos_import_result r;
	struct idlist l = { .dsz = udos_store_digest_size(src) };
	struct out o = { cli, a, { 0 }, l.dsz, udos_store_digest_size(dst),
			 false };
	int i, rc = 0;

	/* every id is checked before anything is copied */
	for (i = 0; i < n && !rc; i++)
		rc = idlist_push(cli, &l, ids[i], strlen(ids[i]));
	if (!rc && a->files_from)
		rc = idlist_read(cli, &l, a->files_from);
	if (rc)
		goto done;
	o.same = udos_store_hash_type(src) == udos_store_hash_type(dst);
	progress_init(&o.prog, cli->cmd->name[0] == 'i' ? "importing"
							: "exporting",
		      "objects", cli->quiet);
	io.flags = l.n || a->files_from ? 0 : UDOS_IMPORT_ALL;
	io.compress = cli_compress_mode(a->compress);
	io.on_object = object_fn;
	io.progress = progress_fn;
	io.ctx = &o;
	rc = udos_store_import(&r, dst, src, l.v, l.n, &io);
	progress_end(&o.prog);
	if (rc < 0) {
		cli_err(cli, rc, udos_store_path(dst));
		rc = EXIT_STORE;
		goto done;
	}
	summary(cli, &r);
	rc = r.missing || r.corrupt ? EXIT_NO : EXIT_OK;
done:
	free(l.v);
	return rc;
}
