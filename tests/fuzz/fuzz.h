/* fuzz.h - the libFuzzer entry point every fuzz_<name>.c defines. */
#ifndef UDOS_FUZZ_H
#define UDOS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Must not crash, leak or trip a sanitizer for any input; returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
