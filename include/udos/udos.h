/* udos/udos.h - the whole public API of udos, a content-addressed store. */
#ifndef UDOS_UDOS_H
#define UDOS_UDOS_H

#include "error.h"
#include "store.h"
#include "object.h"
#include "iter.h"
#include "maint.h"
#include "ingest.h"
#include "backup.h"
#include "remote.h"

#ifdef __cplusplus
extern "C" {
#endif

#define UDOS_VERSION_MAJOR 0
#define UDOS_VERSION_MINOR 1
#define UDOS_VERSION_PATCH 0
#define UDOS_VERSION_STRING "0.1.0"

/* The library's version string (may differ from the header's). */
UDOS_API const char *udos_version(void);

#ifdef __cplusplus
}
#endif
#endif
