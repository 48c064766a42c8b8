/* SPDX-License-Identifier: MIT */
/* The descriptor debuggers read (debug.c, tools/gdb/weft.py). */
#ifndef WEFT_DEBUG_H
#define WEFT_DEBUG_H

struct weft__debug_info;

extern const struct weft__debug_info weft__debug;

#endif /* WEFT_DEBUG_H */
