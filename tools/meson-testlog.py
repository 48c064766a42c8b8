#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# What one `meson test` run found, read from meson's own record of it,
# meson-logs/testlog.json (testlog-SETUP.json with --setup): one JSON
# object per test that ran, with its name, result, duration and output.
# tools/test.sh counts with it rather than scraping meson's text output.
#
# Usage: tools/meson-testlog.py WHAT TESTLOG.json
#   counts   one line "PASSED FAILED SKIPPED": OK; FAIL, ERROR, INTERRUPT,
#            TIMEOUT and UNEXPECTEDPASS; SKIP (an EXPECTEDFAIL counts in
#            none, as in meson's own summary)
#   ran      how many tests the log has
#   list     one line per test: number, name, result, seconds
#   failed   the name and result of each failed test, one per line
#   logs     each failed test's name, command and the last lines of its
#            output
# Exits 0, or 2 if the log cannot be read.
import json
import sys

BAD = {'FAIL', 'ERROR', 'INTERRUPT', 'TIMEOUT', 'UNEXPECTEDPASS'}
LOG_LINES = 40


def load(path):
    tests = []
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            line = line.strip()
            if line:
                tests.append(json.loads(line))
    return tests


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in (
            'counts', 'ran', 'list', 'failed', 'logs'):
        print('usage: meson-testlog.py counts|ran|list|failed|logs '
              'TESTLOG.json', file=sys.stderr)
        return 2
    what, path = sys.argv[1], sys.argv[2]
    try:
        tests = load(path)
    except (OSError, ValueError) as e:
        print(f'meson-testlog.py: {path}: {e}', file=sys.stderr)
        return 2
    if what == 'counts':
        ok = sum(t['result'] == 'OK' for t in tests)
        bad = sum(t['result'] in BAD for t in tests)
        skip = sum(t['result'] == 'SKIP' for t in tests)
        print(ok, bad, skip)
    elif what == 'ran':
        print(len(tests))
    elif what == 'list':
        width = len(str(len(tests)))
        for i, t in enumerate(tests, 1):
            print(f"{i:>{width}}/{len(tests)} {t['name']:<44} "
                  f"{t['result']:<14} {t['duration']:.2f}s")
    elif what == 'failed':
        for t in tests:
            if t['result'] in BAD:
                print(f"{t['name']} {t['result']}")
    else:
        for t in tests:
            if t['result'] not in BAD:
                continue
            print(f"--- {t['name']}: {t['result']} "
                  f"(exit {t.get('returncode')})")
            print('command: ' + ' '.join(t.get('command') or []))
            out = (t.get('stdout') or '') + (t.get('stderr') or '')
            for line in out.splitlines()[-LOG_LINES:]:
                print(line)
    return 0


if __name__ == '__main__':
    sys.exit(main())
