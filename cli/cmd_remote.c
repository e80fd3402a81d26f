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
	{ 0, "json", OPT_BOOL, A(json), NULL, NULL,
	  "show: one JSON object" },
	OPT_END_MARK
};
#undef A

static const struct opt_cmd remote_cmd = {
	"remote",
	"set s3://BUCKET[/PREFIX] --endpoint URL [--region R] "
	"[--cache-size SIZE] [--ca-bundle FILE] | show [--json] | unset",
	"Set, show or remove the container's S3 remote.",
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
	"and on a clone.\n",
	remote_opts,
};

void cli_ca_bundle(char *out, size_t cap, const char *file)
{
	char *abs = file ? realpath(file, NULL) : NULL;

	snprintf(out, cap, "%s", abs ? abs : file ? file : "");
	free(abs);
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
