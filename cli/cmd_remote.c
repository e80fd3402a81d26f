/* cli/cmd_remote.c - `udos remote set|show|unset`: the container's S3
 * remote (credentials never stored: they come from the environment). */
#include "cmd.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opt.h"
#include "output.h"

struct remote_args {
	const char *endpoint;
	const char *region;
	uint64_t cache_size;
	const char *ca_bundle;
	const char *grace;
	bool dry_run;
	bool json;
};

#define A(f) offsetof(struct remote_args, f)
static const struct opt remote_opts[] = {
	{ 0, "endpoint", OPT_STR, A(endpoint), "URL", NULL,
	  "set: the S3 endpoint, http(s)://HOST[:PORT] (required)" },
	{ 0, "region", OPT_STR, A(region), "REGION", NULL,
	  "set: the signing region (default us-east-1)" },
	{ 0, "cache-size", OPT_SIZE, A(cache_size), "SIZE", NULL,
	  "set: bound of the read-through cache (default 1G)" },
	{ 0, "ca-bundle", OPT_STR, A(ca_bundle), "FILE", NULL,
	  "set: PEM file of the CAs to trust over https" },
	{ 0, "grace", OPT_STR, A(grace), "DURATION", NULL,
	  "gc: keep what readers may still need for this long: N[s|m|h|d] "
	  "(default 1d)" },
	{ 0, "dry-run", OPT_BOOL, A(dry_run), NULL, NULL,
	  "gc: count what would be deleted, delete nothing" },
	{ 0, "json", OPT_BOOL, A(json), NULL, NULL,
	  "show, gc: one JSON object" },
	OPT_END_MARK
};
#undef A

static const struct opt_cmd remote_cmd = {
	"remote",
	"set s3://BUCKET[/PREFIX] --endpoint URL [--region R] "
	"[--cache-size SIZE] [--ca-bundle FILE] | show [--json] | unset | "
	"gc [--grace DURATION] [--dry-run] [--json]",
	"Set, show or remove the container's S3 remote, or collect its garbage.",
	"The remote is written to remote.conf in the container: URL, endpoint,\n"
	"region and cache bound, never credentials. Those are read at each\n"
	"use from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and\n"
	"AWS_SESSION_TOKEN, else from ~/.aws/credentials ([default] or\n"
	"$AWS_PROFILE); a session token is sent, signed, as\n"
	"x-amz-security-token. Over https the server's certificate must chain\n"
	"to a CA of the PEM file --ca-bundle FILE names (kept in remote.conf by\n"
	"its absolute path), else of the one AWS_CA_BUNDLE names, else of the\n"
	"system's; an untrusted one fails at once, naming both ways.\n"
	"'show --json' prints {\"url\", \"endpoint\", \"region\",\n"
	"\"cache_size\", \"clone\", \"ca_bundle\"}; exit 1 when there is no\n"
	"remote. 'unset'\n"
	"refuses while packs are evicted (their data is only on the remote)\n"
	"and on a clone. 'gc' deletes from the remote the manifest\n"
	"generations older than the grace (the newest, and any that was the\n"
	"newest within the grace, stay), then the objects under packs/ and\n"
	"deletions/ that no kept generation names and that are older than\n"
	"the grace (packs a repack dropped, uploads of a writer that lost the\n"
	"race), and incomplete multipart uploads older than the grace. Run it\n"
	"where the container pushes from; --json prints {\"generation\",\n"
	"\"manifests_kept\", \"manifests_deleted\", \"objects_named\",\n"
	"\"objects_young\", \"objects_deleted\", \"bytes_deleted\",\n"
	"\"uploads_aborted\", \"requests\", \"dry_run\"}.\n",
	remote_opts,
};

void cli_ca_bundle(char *out, size_t cap, const char *file)
{
	char *abs = file ? realpath(file, NULL) : NULL;

	snprintf(out, cap, "%s", abs ? abs : file ? file : "");
	free(abs);
}

/* "90", "90s", "15m", "12h", "1d" as seconds; -1 if malformed */
static int64_t parse_duration(const char *v)
{
	char *end;
	unsigned long long x;
	int64_t mul = 1;

	if (!*v || *v == '-')
		return -1;
	x = strtoull(v, &end, 10);
	if (end == v)
		return -1;
	if (*end == 'm')
		mul = 60;
	else if (*end == 'h')
		mul = 3600;
	else if (*end == 'd')
		mul = 86400;
	else if (*end && *end != 's')
		return -1;
	if (*end && end[1])
		return -1;
	if (x > (unsigned long long)INT64_MAX / (unsigned long long)mul)
		return -1;
	return (int64_t)x * mul;
}

static int remote_gc(struct cli *cli, const struct remote_args *a)
{
	udos_remote_gc_opts o = UDOS_REMOTE_GC_OPTS_INIT;
	udos_remote_gc_result r;
	int rc;

	if (a->grace) {
		o.grace = parse_duration(a->grace);
		if (o.grace < 0)
			return opt_usage_error(&remote_cmd, "grace must be "
					       "N[s|m|h|d]", a->grace);
	}
	o.dry_run = a->dry_run;
	cli->mode = CMD_READ_STORE;
	rc = cli_open_store(cli);
	if (rc)
		return rc;
	rc = udos_remote_gc(&r, cli->st, &o);
	if (rc < 0) {
		cli_err(cli, rc, NULL);
		return EXIT_STORE;
	}
	if (a->json)
		printf("{\"generation\":%" PRIu64 ",\"manifests_kept\":%" PRIu64
		       ",\"manifests_deleted\":%" PRIu64
		       ",\"objects_named\":%" PRIu64
		       ",\"objects_young\":%" PRIu64
		       ",\"objects_deleted\":%" PRIu64
		       ",\"bytes_deleted\":%" PRIu64
		       ",\"uploads_aborted\":%" PRIu64
		       ",\"requests\":%" PRIu64 ",\"dry_run\":%s}\n",
		       r.generation, r.manifests_kept, r.manifests_deleted,
		       r.objects_named, r.objects_young, r.objects_deleted,
		       r.bytes_deleted, r.uploads_aborted, r.requests,
		       a->dry_run ? "true" : "false");
	else
		printf("%s %" PRIu64 " objects (%" PRIu64 " bytes), %" PRIu64
		       " manifest generations and %" PRIu64 " incomplete "
		       "uploads; kept generation %" PRIu64 " and %" PRIu64
		       " others, %" PRIu64 " named objects, %" PRIu64
		       " younger than the grace\n",
		       a->dry_run ? "would delete" : "deleted",
		       r.objects_deleted, r.bytes_deleted, r.manifests_deleted,
		       r.uploads_aborted, r.generation,
		       r.manifests_kept ? r.manifests_kept - 1 : 0,
		       r.objects_named, r.objects_young);
	return EXIT_OK;
}

int cmd_remote(struct cli *cli, int argc, char **argv)
{
	struct remote_args a = { 0 };
	udos_remote_conf c;
	int n, rc;

	n = opt_parse(&remote_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (n < 1)
		return opt_usage_error(&remote_cmd, "missing action", NULL);
	if (!strcmp(argv[0], "set")) {
		memset(&c, 0, sizeof(c));
		if (n != 2)
			return opt_usage_error(&remote_cmd, "set takes one URL",
					       NULL);
		if (!a.endpoint)
			return opt_usage_error(&remote_cmd, "set needs",
					       "--endpoint");
		c.cache_size = a.cache_size;
		snprintf(c.url, sizeof(c.url), "%s", argv[1]);
		snprintf(c.endpoint, sizeof(c.endpoint), "%s", a.endpoint);
		snprintf(c.region, sizeof(c.region), "%s",
			 a.region ? a.region : "");
		cli_ca_bundle(c.ca_bundle, sizeof(c.ca_bundle), a.ca_bundle);
		cli->mode = CMD_READ_STORE;
		rc = cli_open_store(cli);
		if (rc)
			return rc;
		rc = udos_remote_set(cli->st, &c);
		if (rc == -EINVAL) {
			cli_msg(cli, udos_error_detail(), NULL);
			return EXIT_USAGE;
		}
		return rc < 0 ? cli_err(cli, rc, argv[1]) : EXIT_OK;
	}
	if (n != 1)
		return opt_usage_error(&remote_cmd, "unexpected argument",
				       argv[1]);
	if (!strcmp(argv[0], "gc"))
		return remote_gc(cli, &a);
	cli->mode = CMD_READ_STORE;
	rc = cli_open_store(cli);
	if (rc)
		return rc;
	if (!strcmp(argv[0], "unset")) {
		rc = udos_remote_unset(cli->st);
		return rc < 0 ? cli_err(cli, rc, NULL) : EXIT_OK;
	}
	if (strcmp(argv[0], "show"))
		return opt_usage_error(&remote_cmd, "unknown action", argv[0]);
	rc = udos_remote_get(&c, cli->st);
	if (rc == UDOS_ENOTFOUND) {
		if (a.json)
			printf("null\n");
		else
			cli_msg(cli, "no remote", udos_store_path(cli->st));
		return EXIT_NO;
	}
	if (rc < 0)
		return cli_err(cli, rc, NULL);
	if (a.json) {
		printf("{\"url\":");
		json_str(stdout, c.url);
		printf(",\"endpoint\":");
		json_str(stdout, c.endpoint);
		printf(",\"region\":");
		json_str(stdout, c.region);
		printf(",\"cache_size\":%" PRIu64 ",\"clone\":%s,"
		       "\"ca_bundle\":",
		       c.cache_size, c.clone ? "true" : "false");
		if (*c.ca_bundle)
			json_str(stdout, c.ca_bundle);
		else
			printf("null");
		printf("}\n");
	} else {
		printf("%s\nendpoint %s\nregion %s\ncache size %" PRIu64
		       "\n%s",
		       c.url, c.endpoint, c.region, c.cache_size,
		       c.clone ? "clone (read-only)\n" : "");
		if (*c.ca_bundle)
			printf("ca bundle %s\n", c.ca_bundle);
	}
	return EXIT_OK;
}
