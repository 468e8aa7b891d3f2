/* Random bytes from the kernel (getrandom(2)). */
#pragma once

#include <stddef.h>

void random_bytes(void *buf, size_t size);
