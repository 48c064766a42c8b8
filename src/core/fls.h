/* SPDX-License-Identifier: MIT */
/*
 * Fiber-local storage: the keys weft_key_create() hands out, and each
 * fiber's values (struct fiber.fls). See fls.c.
 */
#ifndef WEFT_FLS_H
#define WEFT_FLS_H

struct fiber;

/*
 * Run the destructors of @f's values, as pthreads does at a thread's
 * exit (a value set again by a destructor gets up to four rounds), then
 * free them. On @f's own stack, as it ends. Fiber context.
 */
void weft__fls_exit(struct fiber *f);

#endif /* WEFT_FLS_H */
