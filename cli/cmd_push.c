/* cli/cmd_push.c - `udos push`: sealed packs to the remote, then a new
 * manifest generation. */
#include "cmd.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "opt.h"
#include "output.h"

struct push_args {
	bool seal;
	long parallel; /* -1: not given */
	bool json;
};

#define A(f) offsetof(struct push_args, f)
static const struct opt push_opts[] = {
	{ 0, "seal", OPT_BOOL, A(seal), NULL, NULL,
	  "seal the current pack first, so that it is pushed too" },
	{ 0, "parallel", OPT_UINT, A(parallel), "N", "1..64",
	  "transfers at once (default 8)" },
	{ 0, "json", OPT_BOOL, A(json), NULL, NULL,
	  "print the summary as one JSON object" },
	OPT_END_MARK
};
#undef A

static const struct opt_cmd push_cmd = {
	"push", "[--seal] [--parallel N] [--json]",
	"Upload every sealed pack the remote lacks, then publish a manifest.",
	"Each pack goes as two objects, packs/<id>-<sha256> and its .rec\n"
	"beside it (multipart with a checked SHA-256 per part, retried with\n"
	"backoff). Then manifest generation G+1 is created only if absent: the\n"
	"commit point for readers and the fence against a second writer. A\n"
	"push that finds the remote moved past what this container last\n"
	"pushed fails (exit 3) and changes nothing; an interrupted push is\n"
	"resumed by running it again. The pack being appended to is not\n"
	"sealed and not pushed unless --seal. Summary on stdout: packs, bytes,\n"
	"resumed, generation; with --json {\"packs\", \"bytes\", \"resumed\",\n"
	"\"swept\", \"generation\", \"remote_packs\", \"deletions\",\n"
	"\"requests\"}. Deletion marks go too (docs/FORMAT.md): a clone or\n"
	"pull of the new generation no longer shows deleted objects.\n",
	push_opts,
};

int cmd_push(struct cli *cli, int argc, char **argv)
{
	struct push_args a = { .parallel = -1 };
	udos_push_opts o = UDOS_PUSH_OPTS_INIT;
	udos_push_result r;
	struct progress prog;
	int n, rc;

	n = opt_parse(&push_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (n > 0)
		return opt_usage_error(&push_cmd, "unexpected argument",
				       argv[0]);
	if (a.parallel >= 0)
		o.parallel = (unsigned)a.parallel;
	rc = cli_open_store(cli);
	if (rc)
		return rc;
	progress_init(&prog, "pushing", "packs", cli->quiet);
	o.seal = a.seal;
	o.progress = progress_cb;
	o.ctx = &prog;
	rc = udos_remote_push(&r, cli->st, &o);
	progress_end(&prog);
	if (rc < 0) {
		cli_err(cli, rc, NULL);
		return EXIT_STORE;
	}
	if (a.json)
		printf("{\"packs\":%" PRIu64 ",\"bytes\":%" PRIu64
		       ",\"resumed\":%" PRIu64 ",\"swept\":%" PRIu64
		       ",\"generation\":%" PRIu64 ",\"remote_packs\":%" PRIu64
		       ",\"deletions\":%" PRIu64 ",\"requests\":%" PRIu64
		       "}\n",
		       r.packs, r.bytes, r.resumed, r.swept, r.generation,
		       r.remote_packs, r.deletions, r.requests);
	else
		printf("pushed %" PRIu64 " packs (%" PRIu64 " bytes), %" PRIu64
		       " resumed; manifest generation %" PRIu64 " lists %"
		       PRIu64 " packs\n",
		       r.packs, r.bytes, r.resumed, r.generation,
		       r.remote_packs);
	return EXIT_OK;
}
