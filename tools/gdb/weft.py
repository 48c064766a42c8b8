# SPDX-License-Identifier: MIT
"""gdb commands for weft programs: every fiber, and a parked one's stack.

Load it with `source tools/gdb/weft.py` (an installed libweft.so has it
auto-loaded: see the README). Then:

  weft fibers        every live fiber: id, name, state, what it waits on,
                     the worker running it
  weft bt ID         the backtrace of fiber ID (a parked or ready fiber
                     from its saved context; a running one from its
                     worker's thread)
  weft switch ID     show fiber ID's frames as the callers of the current
                     frame, so that frame, up, info locals, ... work on
                     them; `weft switch off` puts the thread's own back

It reads nothing but memory: the descriptor weft__debug (src/api/debug.c)
says where the fiber records are and how they are laid out, so it works
without weft's debug information (a release build), on a live process or
a core file, and never writes to the process. x86-64 only for now.
"""

import struct

import gdb
import gdb.unwinder

MAGIC = b"weft-db\0"
VERSION = 1
# The fields of struct weft__debug_info after magic and version, in order.
FIELDS = (
    "record_table record_nr_chunks record_chunk_shift record_max_chunks "
    "fiber_size fiber_id fiber_name fiber_name_size fiber_gen "
    "fiber_park_word fiber_wait_kind fiber_wait_arg fiber_wait_since_ds "
    "fiber_sp fiber_is_main fiber_stack stack_lo stack_size sched "
    "sched_nr_workers sched_workers sched_clock_ds worker_cur worker_thread "
    "ctx_rip ctx_rbp ctx_rbx ctx_r12 ctx_r13 ctx_r14 ctx_r15 ctx_frame "
    "wait_names nr_wait_names io_op_names nr_io_ops"
).split()

# park_word's low 3 bits (src/core/fiber.h).
RUNNING, PARKING, PARKED, READY, DEAD = range(5)
WAIT_IO_NAME = "I/O"


class WeftError(gdb.GdbError):
    pass


def _mem(addr, n):
    return bytes(gdb.selected_inferior().read_memory(addr, n))


def _u64(addr):
    return struct.unpack("<Q", _mem(addr, 8))[0]


def _u32(addr):
    return struct.unpack("<I", _mem(addr, 4))[0]


def _cstr(addr, limit=256):
    if not addr:
        return ""
    raw = _mem(addr, limit)
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


class Layout:
    """The descriptor, read once per command."""

    def __init__(self):
        try:
            addr = int(gdb.parse_and_eval("(unsigned long)&weft__debug"))
        except gdb.error:
            raise WeftError("weft: no weft__debug symbol: is this a weft "
                            "program, with its symbol table?")
        raw = _mem(addr, 16 + 8 * len(FIELDS))
        if raw[:8] != MAGIC:
            raise WeftError("weft: weft__debug has the wrong magic")
        version = struct.unpack_from("<Q", raw, 8)[0]
        if version != VERSION:
            raise WeftError("weft: descriptor version %d, this script "
                            "reads %d" % (version, VERSION))
        vals = struct.unpack_from("<%dQ" % len(FIELDS), raw, 16)
        self.__dict__.update(zip(FIELDS, vals))
        self.wait = [_cstr(_u64(self.wait_names + 8 * i))
                     for i in range(self.nr_wait_names)]
        self.io_ops = [_cstr(_u64(self.io_op_names + 8 * i))
                       for i in range(self.nr_io_ops)]

    def workers(self):
        """[(index, worker address, running fiber address, pthread_t)]."""
        n = _u32(self.sched + self.sched_nr_workers)
        arr = _u64(self.sched + self.sched_workers)
        out = []
        if not arr:
            return out
        for i in range(n):
            w = _u64(arr + 8 * i)
            out.append((i, w, _u64(w + self.worker_cur),
                        _u64(w + self.worker_thread)))
        return out

    def fibers(self):
        """Every live fiber record, as a dict."""
        table = _u64(self.record_table)
        nr = _u32(_u64(self.record_nr_chunks))
        per = 1 << self.record_chunk_shift
        size = self.fiber_size
        out = []
        for c in range(min(nr, self.record_max_chunks)):
            base = _u64(table + 8 * c)
            if not base:
                continue
            chunk = _mem(base, per * size)
            for i in range(per):
                off = i * size
                gen = struct.unpack_from("<I", chunk, off + self.fiber_gen)[0]
                if not gen & 1:
                    continue
                out.append(self._fiber(base + off, chunk, off))
        out.sort(key=lambda f: f["id"])
        return out

    def _fiber(self, addr, chunk, off):
        def u(field, fmt):
            return struct.unpack_from(fmt, chunk, off + field)[0]

        name = chunk[off + self.fiber_name:
                     off + self.fiber_name + self.fiber_name_size]
        stack = u(self.fiber_stack, "<Q")
        lo = size = 0
        if stack:
            lo = _u64(stack + self.stack_lo)
            size = _u64(stack + self.stack_size)
        return {
            "addr": addr,
            "id": u(self.fiber_id, "<Q"),
            "name": name.split(b"\0", 1)[0].decode("utf-8", "replace"),
            "park": u(self.fiber_park_word, "<I"),
            "wait_kind": u(self.fiber_wait_kind, "<I"),
            "wait_arg": u(self.fiber_wait_arg, "<Q"),
            "sp": u(self.fiber_sp, "<Q"),
            "main": chunk[off + self.fiber_is_main] != 0,
            "stack_lo": lo,
            "stack_hi": lo + size,
        }

    def describe(self, f, running_on):
        """What @f does, in weft_dump's words (src/api/dump.c)."""
        if running_on is not None:
            return "runs on worker %d" % running_on
        st = f["park"] & 7
        if st in (RUNNING, READY):
            return "is ready to run"
        if st == PARKING:
            return "is parking"
        kind = f["wait_kind"] & 0xff
        arg = f["wait_arg"]
        name = self.wait[kind] if kind < len(self.wait) else ""
        if name == WAIT_IO_NAME:
            op = (f["wait_kind"] >> 8) & 0xff
            opname = self.io_ops[op] if op < len(self.io_ops) else "I/O"
            return "waits for a %s on fd %d" % (opname, arg & 0xffffffff)
        if name == "weft_join":
            return "waits in weft_join for fiber %d" % arg
        if name == "weft_join_any":
            return "waits in weft_join_any for one of %d fibers" % arg
        if name == "weft_select":
            return "waits in weft_select over %d cases" % arg
        if name == "sleep":
            if arg == (1 << 63) - 1:
                return "sleeps without limit"
            return "sleeps until %d ns" % arg
        if name.startswith("channel "):
            return "waits to %s on channel 0x%x" % (
                name.split(" ", 1)[1], arg)
        if name:
            return "waits in %s on 0x%x" % (name, arg)
        return "is parked, on a wait weft does not name"


def _find(layout, fid):
    for f in layout.fibers():
        if f["id"] == fid:
            return f
    raise WeftError("weft: no live fiber %d" % fid)


def _running(layout):
    """{fiber address: (worker index, pthread_t)}"""
    return {cur: (i, thr) for i, _, cur, thr in layout.workers() if cur}


def _thread_for(pthread):
    for t in gdb.selected_inferior().threads():
        try:
            h = t.handle()
        except (AttributeError, gdb.error):
            continue
        if h and int.from_bytes(bytes(h), "little") == pthread:
            return t
    return None


class FiberUnwinder(gdb.unwinder.Unwinder):
    """While a fiber is switched to, the selected thread's innermost
    frame unwinds into the fiber's saved context instead of its own
    callers."""

    def __init__(self):
        super().__init__("weft-fiber")
        self.regs = None  # {register: value} of the fiber's top frame
        self.below = 0    # the fiber's saved sp: below all its frames
        self.thread = None

    def __call__(self, pending):
        if self.regs is None or pending.level() != 0:
            return None
        if gdb.selected_thread() != self.thread:
            return None
        # Frame 0 stays the thread's own, but takes an id just below the
        # fiber's frames, so that gdb sees the fiber's stack as outer
        # to it (the fiber's stack may sit anywhere in memory).
        pc = pending.read_register("rip")
        sp = gdb.Value(self.below).cast(pending.read_register("rsp").type)
        info = pending.create_unwind_info(_FrameId(sp, pc))
        for reg, val in self.regs.items():
            typ = pending.read_register(reg).type
            info.add_saved_register(reg, gdb.Value(val).cast(typ))
        return info


class _FrameId:
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


_unwinder = FiberUnwinder()
gdb.unwinder.register_unwinder(None, _unwinder, replace=True)


def _saved_regs(layout, f):
    if not layout.ctx_frame:
        raise WeftError("weft: no saved-context layout for this "
                        "architecture")
    sp = f["sp"]
    if not sp or not (f["stack_lo"] <= sp < f["stack_hi"]):
        raise WeftError("weft: fiber %d has no saved context (sp 0x%x)"
                        % (f["id"], sp))
    regs = {"rsp": sp + layout.ctx_frame}
    for reg in ("rip", "rbp", "rbx", "r12", "r13", "r14", "r15"):
        regs[reg] = _u64(sp + getattr(layout, "ctx_" + reg))
    if not regs["rip"]:
        raise WeftError(
            "weft: fiber %d's saved context reads as zeros: this core "
            "file lacks its stack (gcore cannot save memory next to "
            "MADV_GUARD_INSTALL guard pages; run the program with "
            "WEFT_STACK_GUARD=mprotect to gcore it, or take a kernel "
            "core dump)" % f["id"])
    return regs


def _switch(layout, f):
    running = _running(layout)
    if f["addr"] in running:
        raise WeftError("weft: fiber %d runs on worker %d: its frames are "
                        "that worker's thread's (weft bt shows them)"
                        % (f["id"], running[f["addr"]][0]))
    _unwinder.regs = _saved_regs(layout, f)
    _unwinder.below = f["sp"]
    _unwinder.thread = gdb.selected_thread()
    gdb.invalidate_cached_frames()


def _switch_off():
    _unwinder.regs = None
    _unwinder.thread = None
    gdb.invalidate_cached_frames()


def _parse_id(arg):
    try:
        return int(arg.split()[0], 0)
    except (ValueError, IndexError):
        raise WeftError("weft: give a fiber id (weft fibers lists them)")


class WeftPrefix(gdb.Command):
    """Commands for weft programs: weft fibers, weft bt ID, weft switch ID."""

    def __init__(self):
        super().__init__("weft", gdb.COMMAND_DATA, prefix=True)


class WeftFibers(gdb.Command):
    """List every live fiber: id, name, state and wait, worker."""

    def __init__(self):
        super().__init__("weft fibers", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        layout = Layout()
        running = _running(layout)
        fibers = layout.fibers()
        print("weft: %d fibers, %d workers" % (len(fibers),
                                               len(layout.workers())))
        for f in fibers:
            on = running.get(f["addr"])
            name = ' "%s"' % f["name"] if f["name"] else ""
            main = " (main)" if f["main"] else ""
            print("  fiber %d%s%s %s" % (f["id"], name, main,
                                         layout.describe(
                                             f, on[0] if on else None)))


class WeftBt(gdb.Command):
    """Print the backtrace of fiber ID: weft bt ID [bt options]."""

    def __init__(self):
        super().__init__("weft bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        fid = _parse_id(arg)
        rest = " ".join(arg.split()[1:])
        layout = Layout()
        f = _find(layout, fid)
        running = _running(layout)
        if f["addr"] in running:
            idx, thr = running[f["addr"]]
            t = _thread_for(thr)
            print("fiber %d runs on worker %d" % (fid, idx))
            if t is None:
                raise WeftError("weft: no thread for worker %d" % idx)
            old = gdb.selected_thread()
            t.switch()
            try:
                gdb.execute("bt " + rest)
            finally:
                old.switch()
            return
        old = _unwinder.regs, _unwinder.below, _unwinder.thread
        _switch(layout, f)
        try:
            out = gdb.execute("bt " + rest, to_string=True)
        finally:
            _unwinder.regs, _unwinder.below, _unwinder.thread = old
            gdb.invalidate_cached_frames()
        # Frame #0 is the thread's own; the fiber's begin at #1.
        lines = out.splitlines()
        print("fiber %d \"%s\" %s" % (fid, f["name"],
                                      layout.describe(f, None)))
        for line in lines:
            if line.startswith("#0 "):
                continue
            if line.startswith("#"):
                num, _, tail = line[1:].partition(" ")
                if num.isdigit():
                    line = "#%-2d %s" % (int(num) - 1, tail.lstrip())
            print(line)


class WeftSwitch(gdb.Command):
    """Show fiber ID's frames as callers of frame 0: weft switch ID | off."""

    def __init__(self):
        super().__init__("weft switch", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        if arg.strip() == "off":
            _switch_off()
            print("weft: the thread's own frames again")
            return
        layout = Layout()
        f = _find(layout, _parse_id(arg))
        _switch(layout, f)
        gdb.execute("frame 1")
        print("weft: fiber %d's frames start at frame 1; `weft switch "
              "off` to leave" % f["id"])


WeftPrefix()
WeftFibers()
WeftBt()
WeftSwitch()
