/* The libFuzzer entry point every target in tests/fuzz/ defines. Built with
 * clang -fsanitize=fuzzer it is driven by libFuzzer; linked with replay.c it
 * is driven by a plain main() over a corpus (gcc, ASan+UBSan, for CI). */
#pragma once

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
