#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""weft.h's doc comments as the man page weft(3), and the check of them.

    weft-man.py [--version V] [-o OUT] WEFT_H
        Write the page (groff man macros) to OUT, or to stdout.
    weft-man.py --check [--lib LIBWEFT_SO | --exports FILE] WEFT_H
        Check that every exported symbol (nm -D --defined-only of the
        library, or the names in FILE one a line; without either, every
        WEFT_API declaration of WEFT_H) has a doc comment in WEFT_H in the
        layout below, and that every doc comment names the symbol it
        precedes. Exit 1, naming each fault, if not.

The layout (see "How each call is documented" in weft.h): a comment opened
with a slash and two stars, right before the declaration, whose first line
is "NAME() - what it does" (an object: "NAME - what it is"), then free
text, then for a function the parts "Context:", "Returns:" and "Errors:"
in that order, each at the start of a comment line; an object needs only
"Context:". Groups are the one-line comments "/* Title ---- */"; the
plain comments between declarations are the groups' prose.

Python 3 standard library only.
"""

import argparse
import re
import shutil
import subprocess
import sys

PARTS = ("Context:", "Returns:", "Errors:")
GROUP_RE = re.compile(r"^/\* (.+?) -{3,} \*/$")
SUMMARY_RE = re.compile(r"^(weft_[a-z0-9_]+)(\(\))? - (\S.*)$")
DECL_NAME_RE = re.compile(r"(weft_[a-z0-9_]+)\s*[(;]")


class Doc:
    """One doc comment and the declaration after it."""

    def __init__(self, line, lines):
        self.line = line          # where the comment starts, 1-based
        self.lines = lines        # its text, " * " stripped
        self.decl = []            # the declaration's lines
        self.decl_name = None     # the symbol it declares
        m = SUMMARY_RE.match(lines[0]) if lines else None
        self.name = m.group(1) if m else None
        self.is_func_title = bool(m and m.group(2))
        self.summary = m.group(3) if m else None
        self.body, self.parts = split_parts(lines[1:])


def split_parts(lines):
    """The free text, and {part: lines} of Context/Returns/Errors."""
    body, parts, cur = [], {}, None
    for ln in lines:
        for p in PARTS:
            if ln.startswith(p):
                cur = p
                parts[p] = [ln[len(p):].strip()]
                break
        else:
            if cur:
                parts[cur].append(ln)
            else:
                body.append(ln)
    return body, parts


def comment_text(raw):
    """The lines of a block comment, without /*, */ and leading " * "."""
    out = []
    for ln in raw:
        s = ln.rstrip()
        s = re.sub(r"^/\*\*?", "", s)
        s = re.sub(r"\*/$", "", s)
        s = re.sub(r"^ ?\*(?!/)", "", s) if s.lstrip().startswith("*") \
            else s
        if s.startswith(" "):
            s = s[1:]
        out.append(s.rstrip())
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return out


def parse(path):
    """The header as a list of items: ('group', title), ('prose', lines),
    ('code', lines), ('doc', Doc), in file order; and the top comment."""
    with open(path, encoding="utf-8") as f:
        src = f.read().split("\n")
    items, top, i, n = [], None, 0, len(src)
    pending_doc = None
    code = []

    def flush_code():
        nonlocal code
        while code and not code[-1].strip():
            code.pop()
        if code:
            items.append(("code", code))
        code = []

    while i < n:
        ln = src[i]
        m = GROUP_RE.match(ln)
        if m:
            flush_code()
            items.append(("group", m.group(1)))
            i += 1
            continue
        multi = ln.startswith("/*") and (ln.strip() in ("/*", "/**") or
                                         not ln.rstrip().endswith("*/"))
        if multi:
            start = i
            raw = [ln]
            i += 1
            while i < n and not src[i].rstrip().endswith("*/"):
                raw.append(src[i])
                i += 1
            raw.append(src[i])
            i += 1
            text = comment_text(raw)
            if ln.startswith("/**"):
                flush_code()
                pending_doc = Doc(start + 1, text)
                items.append(("doc", pending_doc))
            elif top is None and not items and not code:
                top = text
            else:
                flush_code()
                items.append(("prose", text))
            continue
        if pending_doc is not None:
            if not ln.strip():
                i += 1
                continue
            pending_doc.decl.append(ln)
            if ln.rstrip().endswith(";"):
                decl = " ".join(pending_doc.decl)
                m = DECL_NAME_RE.search(decl.replace("WEFT_API", ""))
                pending_doc.decl_name = m.group(1) if m else None
                pending_doc = None
            i += 1
            continue
        if "SPDX-License-Identifier" in ln:
            i += 1
            continue
        if not ln.strip():
            flush_code()
        else:
            code.append(ln)
        i += 1
    flush_code()
    return top, items


def declared_api(path):
    """Every name weft.h declares WEFT_API, as test_abi.sh finds them."""
    names = set()
    with open(path, encoding="utf-8") as f:
        for ln in f:
            if "WEFT_API" in ln and "#define" not in ln:
                for m in DECL_NAME_RE.finditer(ln):
                    names.add(m.group(1))
    return names


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for ln in out.splitlines():
        f = ln.split()
        if len(f) >= 3 and f[1] != "A":
            names.add(f[2].split("@")[0])
    return names


def check(path, names):
    _, items = parse(path)
    docs = {}
    faults = []
    for kind, it in items:
        if kind != "doc":
            continue
        where = "%s:%d" % (path, it.line)
        if not it.name:
            faults.append("%s: a doc comment must begin with "
                          "\"NAME() - what it does\"" % where)
            continue
        if it.decl_name != it.name:
            faults.append("%s: the doc comment of %s precedes %s" %
                          (where, it.name, it.decl_name or "no declaration"))
            continue
        is_func = "(" in " ".join(it.decl)
        if is_func != it.is_func_title:
            faults.append("%s: %s: write \"%s%s - ...\"" %
                          (where, it.name, it.name,
                           "()" if is_func else ""))
        need = PARTS if is_func else PARTS[:1]
        last = -1
        for p in need:
            if p not in it.parts:
                faults.append("%s: %s has no \"%s\" part" %
                              (where, it.name, p))
            elif not any(s.strip() for s in it.parts[p]):
                faults.append("%s: %s: \"%s\" is empty" %
                              (where, it.name, p))
        order = [p for p in PARTS if p in it.parts]
        for p in order:
            idx = it.lines.index(next(s for s in it.lines
                                      if s.startswith(p)))
            if idx < last:
                faults.append("%s: %s: the parts go Context, Returns, "
                              "Errors" % (where, it.name))
            last = idx
        docs[it.name] = it
    for name in sorted(names):
        if name not in docs:
            faults.append("%s: %s is exported but has no doc comment" %
                          (path, name))
    for f in faults:
        print("FAIL: " + f)
    if not faults:
        print("ok: %d exported symbols, each with a doc comment with %s" %
              (len(names), ", ".join(PARTS)))
    return 1 if faults else 0


# The man page -------------------------------------------------------------

def esc(s):
    """Text for a roff line: backslashes, leading dots, minus signs."""
    s = s.replace("\\", "\\e")
    s = re.sub(r"(?<![\w\\])-(?=[A-Za-z0-9])", r"\\-", s)
    return s


def inline(s):
    s = esc(s)
    s = re.sub(r"`([^`]+)`", r"\\fB\1\\fR", s)
    s = re.sub(r"@([A-Za-z_][A-Za-z0-9_]*)", r"\\fI\1\\fR", s)
    s = re.sub(r"\b(weft_[a-z0-9_]+)\(\)", r"\\fB\1\\fR()", s)
    return s


def text_line(s):
    s = inline(s.strip())
    if s.startswith((".", "'")):
        s = "\\&" + s
    return s


TERM_RE = re.compile(r"^(-E[A-Z0-9]+(?:, -E[A-Z0-9]+)*|-errno|[0-9]+)"
                     r"(?:\s{2,}(.*)|)$")


def indent_of(s):
    return len(s) - len(s.lstrip())


def prose(lines, out):
    """Paragraphs, bullet lists (" - ") and term lists ("-EINVAL  ...")."""
    paras, cur = [], []
    for ln in lines:
        if ln.strip():
            cur.append(ln)
        elif cur:
            paras.append(cur)
            cur = []
    if cur:
        paras.append(cur)
    for p in paras:
        out.append(".PP")
        block(p, out)


def block(p, out):
    """One paragraph: plain lines until a list item; a list item, bullet
    or term, runs on over the lines indented deeper than it."""
    i = 0
    in_list = False
    while i < len(p):
        ln = p[i]
        ind = indent_of(ln)
        s = ln.strip()
        bullet = s.startswith("- ")
        term = TERM_RE.match(s) if ind > 0 or in_list else None
        if bullet or term:
            if not in_list:
                out.append(".RS 2" if bullet else ".RS")
                in_list = True
            if bullet:
                out.append(".IP \\(bu 2")
                rest = [s[2:]]
            else:
                out.append(".TP 12")
                out.append(".B \"%s\"" % esc(term.group(1)))
                tail = term.group(2)
                rest = [tail] if tail else []
            i += 1
            while i < len(p) and indent_of(p[i]) > ind and \
                    not p[i].strip().startswith("- "):
                rest.append(p[i])
                i += 1
            out.extend(text_line(r) for r in rest if r.strip())
            continue
        if in_list and ind > 0:
            # An untermed item of a term list ("the other I/O errors").
            out.append(".TP 12")
            out.append("\\&")
            rest = [s]
            i += 1
            while i < len(p) and indent_of(p[i]) >= ind and \
                    not TERM_RE.match(p[i].strip()) and \
                    not p[i].strip().startswith("- "):
                rest.append(p[i])
                i += 1
            out.extend(text_line(r) for r in rest)
            continue
        if in_list:
            out.append(".RE")
            in_list = False
            out.append(".IP")
        out.append(text_line(s))
        i += 1
    if in_list:
        out.append(".RE")


def code_block(lines, out):
    out.append(".PP")
    out.append(".nf")
    out.append(".ft CR")
    for ln in lines:
        s = esc(ln.expandtabs(8).rstrip())
        if s.startswith((".", "'")):
            s = "\\&" + s
        out.append(s if s else "")
    out.append(".ft")
    out.append(".fi")


def doc_entry(d, out):
    out.append(".SS %s" % esc(d.name + ("()" if d.is_func_title else "")))
    out.append("%s \\- %s" % (text_line(d.name), inline(d.summary)))
    code_block([ln.replace("WEFT_API ", "", 1) for ln in d.decl], out)
    if any(s.strip() for s in d.body):
        prose(d.body, out)
    for p in PARTS:
        if p not in d.parts:
            continue
        lines = d.parts[p]
        out.append(".TP")
        out.append(".B %s" % p)
        first = [lines[0]] if lines[0] else []
        rest = lines[1:]
        head = []
        for ln in rest:
            if indent_of(ln) > 0 or not ln.strip():
                break
            head.append(ln)
        rest = rest[len(head):]
        out.extend(text_line(s) for s in first + head)
        if rest and not first + head:
            out.append("\\&")
        if rest:
            block(rest, out)


def page(path, version):
    top, items = parse(path)
    out = []
    out.append(".\\\" SPDX-License-Identifier: MIT")
    out.append(".\\\" Generated by tools/weft-man.py from include/weft.h;")
    out.append(".\\\" edit the comments there, not this file.")
    out.append(".TH WEFT 3 \"\" \"weft %s\" \"weft manual\"" % version)
    out.append(".nh")
    out.append(".SH NAME")
    out.append("weft \\- an M:N green-thread runtime")
    out.append(".SH SYNOPSIS")
    out.append(".nf")
    out.append(".B #include <weft.h>")
    out.append(".PP")
    out.append("Link with \\fI\\-lweft\\fR "
               "(\\fBpkg\\-config \\-\\-cflags \\-\\-libs weft\\fR).")
    out.append(".fi")
    out.append(".SH DESCRIPTION")
    if top:
        prose(top, out)
    group = None
    for kind, it in items:
        if kind == "group":
            group = it
            out.append(".SH %s" % esc(it.upper()))
        elif group is None:
            continue
        elif kind == "prose":
            prose(it, out)
        elif kind == "code":
            code_block(it, out)
        elif kind == "doc":
            doc_entry(it, out)
    out.append(".SH SEE ALSO")
    out.append(".BR io_uring (7),")
    out.append(".BR epoll (7),")
    out.append(".BR pthreads (7)")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("header")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--lib")
    ap.add_argument("--exports")
    ap.add_argument("--version", default="")
    ap.add_argument("-o", "--output")
    a = ap.parse_args()
    if a.check:
        if a.lib:
            if not shutil.which("nm"):
                print("no nm: checking weft.h's WEFT_API declarations")
                names = declared_api(a.header)
            else:
                names = exported(a.lib)
        elif a.exports:
            with open(a.exports, encoding="utf-8") as f:
                names = {s.strip() for s in f if s.strip()}
        else:
            names = declared_api(a.header)
        return check(a.header, names)
    text = page(a.header, a.version)
    if a.output:
        with open(a.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
