/* cli/cmd_pull.c - `udos clone` and `udos pull`: read-only containers
 * made and kept up to date from a remote alone. */
#include "cmd.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "opt.h"
#include "output.h"

struct pull_args {
	const char *endpoint;
	const char *region;
	uint64_t cache_size;
	const char *ca_bundle;
	bool json;
};

#define A(f) offsetof(struct pull_args, f)
static const struct opt clone_opts[] = {
	{ 0, "endpoint", OPT_STR, A(endpoint), "URL", NULL,
	  "the S3 endpoint, http(s)://HOST[:PORT] (required)" },
	{ 0, "region", OPT_STR, A(region), "REGION", NULL,
	  "the signing region (default us-east-1)" },
	{ 0, "cache-size", OPT_SIZE, A(cache_size), "SIZE", NULL,
	  "bound of the read-through cache (default 1G)" },
	{ 0, "ca-bundle", OPT_STR, A(ca_bundle), "FILE", NULL,
	  "PEM file of the CAs to trust over https" },
	{ 0, "json", OPT_BOOL, A(json), NULL, NULL,
	  "print the summary as one JSON object" },
	OPT_END_MARK
};
static const struct opt pull_opts[] = {
	{ 0, "json", OPT_BOOL, A(json), NULL, NULL,
	  "print the summary as one JSON object" },
	OPT_END_MARK
};
#undef A

static const struct opt_cmd clone_cmd = {
	"clone", "s3://BUCKET[/PREFIX] DIR --endpoint URL [--region R] "
		 "[--cache-size SIZE] [--ca-bundle FILE] [--json]",
	"Make DIR a read-only container reading the remote's packs.",
	"The newest manifest gives the configuration; the record files are\n"
	"downloaded and checked against it, and the index is built from them.\n"
	"Pack data stays remote and is read through the cache. 'udos pull'\n"
	"brings the clone to newer generations. Summary: generation, packs,\n"
	"objects, deletion marks; with --json {\"generation\",\n"
	"\"packs_added\", \"packs_removed\", \"objects\", \"deletions\",\n"
	"\"requests\"}. Objects the manifest marks deleted are not in the\n"
	"clone. --ca-bundle as for 'udos remote set'.\n",
	clone_opts,
};

static const struct opt_cmd pull_cmd = {
	"pull", "[--json]",
	"Bring a clone up to the remote's newest manifest generation.",
	"Only the record files of new packs are downloaded; packs the new\n"
	"manifest no longer lists (repacked) leave the index. --json as for\n"
	"clone.\n",
	pull_opts,
};

static void summary(const udos_pull_result *r, bool json)
{
	if (json)
		printf("{\"generation\":%" PRIu64 ",\"packs_added\":%" PRIu64
		       ",\"packs_removed\":%" PRIu64 ",\"objects\":%" PRIu64
		       ",\"deletions\":%" PRIu64 ",\"requests\":%" PRIu64
		       "}\n",
		       r->generation, r->packs_added, r->packs_removed,
		       r->objects, r->deletions, r->requests);
	else
		printf("generation %" PRIu64 ": %" PRIu64 " packs added, %"
		       PRIu64 " removed, %" PRIu64 " objects indexed, %" PRIu64
		       " deletion marks\n",
		       r->generation, r->packs_added, r->packs_removed,
		       r->objects, r->deletions);
}

int cmd_clone(struct cli *cli, int argc, char **argv)
{
	struct pull_args a = { 0 };
	udos_remote_conf c;
	udos_pull_result r;
	int n, rc;

	n = opt_parse(&clone_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (n != 2)
		return opt_usage_error(&clone_cmd, "want a URL and a folder",
				       NULL);
	if (!a.endpoint)
		return opt_usage_error(&clone_cmd, "missing", "--endpoint");
	memset(&c, 0, sizeof(c));
	c.cache_size = a.cache_size;
	snprintf(c.url, sizeof(c.url), "%s", argv[0]);
	snprintf(c.endpoint, sizeof(c.endpoint), "%s", a.endpoint);
	snprintf(c.region, sizeof(c.region), "%s", a.region ? a.region : "");
	cli_ca_bundle(c.ca_bundle, sizeof(c.ca_bundle), a.ca_bundle);
	rc = udos_remote_clone(&r, argv[1], &c);
	if (rc < 0) {
		cli_err(cli, rc, argv[1]);
		return EXIT_STORE;
	}
	summary(&r, a.json);
	return EXIT_OK;
}

int cmd_pull(struct cli *cli, int argc, char **argv)
{
	struct pull_args a = { 0 };
	udos_pull_result r;
	int n, rc;

	n = opt_parse(&pull_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (n > 0)
		return opt_usage_error(&pull_cmd, "unexpected argument",
				       argv[0]);
	rc = cli_open_store(cli);
	if (rc)
		return rc;
	rc = udos_remote_pull(&r, cli->st);
	if (rc < 0) {
		cli_err(cli, rc, NULL);
		return EXIT_STORE;
	}
	summary(&r, a.json);
	return EXIT_OK;
}
