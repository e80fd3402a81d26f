/* cli/cmd_validate.c - `udos validate`: integrity check, one line per finding. */
#include "cmd.h"

#include <stddef.h>
#include <stdio.h>

#include "opt.h"
#include "output.h"

struct validate_args {
	bool full;
	bool remote;
	bool json;
	const struct cli *cli; /* not an option: the store's id length */
};

#define A(f) offsetof(struct validate_args, f)
static const struct opt validate_opts[] = {
	{ 0, "full", OPT_BOOL, A(full), NULL, NULL,
	  "also decompress and re-hash every packed object" },
	{ 0, "remote", OPT_BOOL, A(remote), NULL, NULL,
	  "check the remote instead: manifest against a listing (--full: "
	  "every remote record)" },
	{ 0, "json", OPT_BOOL, A(json), NULL, NULL,
	  "JSON lines, then a summary object" },
	OPT_END_MARK
};
#undef A

static const struct opt_cmd validate_cmd = {
	"validate", "[--full] [--remote] [--json]",
	"Check the whole container and report every problem found.",
	"Each finding is a line '<kind>\\t<hash-or-path>\\t<message>' on\n"
	"stdout (kind as named by the library: record-checksum, loose-hash,\n"
	"index-dangling ...; '-' when there is neither hash nor path). With\n"
	"--json each finding is {\"kind\", \"hash\", \"path\", \"offset\",\n"
	"\"message\"} (hash and path may be null), and a last line\n"
	"{\"summary\": {\"findings\", \"loose_checked\", \"records_checked\",\n"
	"\"index_checked\", \"bytes_checked\", \"unreferenced_records\",\n"
	"\"tail_bytes\", \"unindexed_records\", \"residue_files\",\n"
	"\"evicted_packs\", \"evicted_records\"}}. Without\n"
	"--json the summary goes to stderr. Exit status 0 when clean, 1 with\n"
	"findings.\n\n"
	"What a writer at work or an interrupted one (killed, power cut) leaves\n"
	"is no finding: tail_bytes (unindexed bytes after the last commit),\n"
	"unindexed_records (intact ones among them, which the next writer\n"
	"indexes) and residue_files (its temporary files). Intact records past\n"
	"the last commit after a writer that closed mean an index older than\n"
	"its packs (index-behind); files that udos does not write are\n"
	"stray-file.\n\n"
	"Nothing is downloaded: of a pack evicted to the remote, the record\n"
	"file is checked, and the bytes only where the read-through cache\n"
	"holds them; evicted_records counts the records left unchecked, for\n"
	"'validate --remote [--full]'.\n\n"
	"With --remote the newest manifest of the remote is compared with a\n"
	"listing (missing objects, wrong sizes); with --remote --full every\n"
	"pack and record object is downloaded and checked (SHA-256 against\n"
	"the manifest, each record's entry checksum, XXH3 and content hash).\n"
	"The summary is {\"summary\": {\"packs\", \"missing\", \"bad_size\",\n"
	"\"bad\", \"records\"}} with --json; exit 1 when anything is wrong.\n",
	validate_opts,
};

static int on_finding(void *ctx, const udos_finding *f)
{
	const struct validate_args *a = ctx;
	char hex[UDOS_OID_HEXSZ + 1];
	const char *msg = f->message ? f->message : "";

	if (f->has_oid)
		cli_fmt_oid(a->cli, hex, &f->oid);
	if (a->json) {
		printf("{\"kind\":");
		json_str(stdout, udos_finding_name(f->kind));
		printf(",\"hash\":");
		if (f->has_oid)
			printf("\"%s\"", hex);
		else
			printf("null");
		printf(",\"path\":");
		if (f->path)
			json_str(stdout, f->path);
		else
			printf("null");
		printf(",\"offset\":%llu,\"message\":",
		       (unsigned long long)f->offset);
		json_str(stdout, msg);
		printf("}\n");
	} else {
		printf("%s\t%s\t%s\n", udos_finding_name(f->kind),
		       f->has_oid ? hex : f->path ? f->path : "-", msg);
	}
	return 0;
}

static int validate_remote(struct cli *cli, const struct validate_args *a)
{
	udos_remote_check c;
	uint64_t bad;
	int rc = udos_remote_validate(&c, cli->st, a->full);

	if (rc < 0)
		return cli_err(cli, rc, NULL);
	bad = c.missing + c.bad_size + c.bad;
	if (bad && !a->json)
		printf("remote\t-\t%s\n", udos_error_detail());
	if (a->json)
		printf("{\"summary\":{\"packs\":%llu,\"missing\":%llu,"
		       "\"bad_size\":%llu,\"bad\":%llu,\"records\":%llu}}\n",
		       (unsigned long long)c.packs,
		       (unsigned long long)c.missing,
		       (unsigned long long)c.bad_size,
		       (unsigned long long)c.bad,
		       (unsigned long long)c.records);
	else if (!cli->quiet)
		fprintf(stderr, "udos validate: remote: %llu packs, %llu "
			"missing, %llu of a wrong size, %llu bad, %llu records "
			"checked\n", (unsigned long long)c.packs,
			(unsigned long long)c.missing,
			(unsigned long long)c.bad_size,
			(unsigned long long)c.bad,
			(unsigned long long)c.records);
	return bad ? EXIT_NO : EXIT_OK;
}

int cmd_validate(struct cli *cli, int argc, char **argv)
{
	struct validate_args a = { 0 };
	udos_validate_result r = { 0 };
	struct progress prog;
	char hs[32];
	int n, rc;

	n = opt_parse(&validate_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (n > 0)
		return opt_usage_error(&validate_cmd, "unexpected argument",
				       argv[0]);
	rc = cli_open_store(cli);
	if (rc)
		return rc;
	a.cli = cli;
	if (a.remote)
		return validate_remote(cli, &a);
	progress_init(&prog, "validating", "objects", cli->quiet);
	rc = udos_store_validate(&r, cli->st, a.full ? UDOS_VALIDATE_FULL : 0,
				 on_finding, &a, progress_cb, &prog);
	progress_end(&prog);
	fflush(stdout);
	if (rc < 0) {
		cli_err(cli, rc, udos_store_path(cli->st));
		return EXIT_STORE;
	}
	if (a.json)
		printf("{\"summary\":{\"findings\":%llu,\"loose_checked\":%llu,"
		       "\"records_checked\":%llu,\"index_checked\":%llu,"
		       "\"bytes_checked\":%llu,\"unreferenced_records\":%llu,"
		       "\"tail_bytes\":%llu,\"unindexed_records\":%llu,"
		       "\"residue_files\":%llu,\"evicted_packs\":%llu,"
		       "\"evicted_records\":%llu}}\n",
		       (unsigned long long)r.findings,
		       (unsigned long long)r.loose_checked,
		       (unsigned long long)r.records_checked,
		       (unsigned long long)r.index_checked,
		       (unsigned long long)r.bytes_checked,
		       (unsigned long long)r.unreferenced_records,
		       (unsigned long long)r.tail_bytes,
		       (unsigned long long)r.unindexed_records,
		       (unsigned long long)r.residue_files,
		       (unsigned long long)r.evicted_packs,
		       (unsigned long long)r.evicted_records);
	else if (!cli->quiet)
		fprintf(stderr,
			"udos validate: %llu findings; checked %llu loose, "
			"%llu records, %llu index entries, %s",
			(unsigned long long)r.findings,
			(unsigned long long)r.loose_checked,
			(unsigned long long)r.records_checked,
			(unsigned long long)r.index_checked,
			human_size(hs, sizeof(hs), r.bytes_checked));
	if (!a.json && !cli->quiet) {
		if (r.unindexed_records)
			fprintf(stderr, "; %llu intact records an interrupted "
					"writer left unindexed (the next writer "
					"indexes them)",
				(unsigned long long)r.unindexed_records);
		if (r.tail_bytes)
			fprintf(stderr, "; %llu unindexed tail bytes (the next "
					"writer removes what fails its checks)",
				(unsigned long long)r.tail_bytes);
		if (r.residue_files)
			fprintf(stderr, "; %llu temporary files of interrupted "
					"writers", (unsigned long long)r.residue_files);
		if (r.evicted_records)
			fprintf(stderr, "; %llu records of %llu evicted packs "
					"not checked (their data is on the "
					"remote: run 'udos validate --remote "
					"[--full]')",
				(unsigned long long)r.evicted_records,
				(unsigned long long)r.evicted_packs);
		fputc('\n', stderr);
	}
	return r.findings ? EXIT_NO : EXIT_OK;
}
