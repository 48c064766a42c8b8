// SPDX-License-Identifier: MIT

// The JSON side of go-peer's output, as bench/bench_common.h writes it
// for the C programs: if the environment names a file in WEFT_BENCH_JSON,
// every row and every comment also goes there as one JSON object per
// line, appended with one write on an O_APPEND descriptor, so that
// several programs may share the file. tools/bench_report.py reads these
// objects, never the text.

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// jsonOut is what every object carries: the program (printMachine), its
// options and the unit of its rows (printHeader).
var jsonOut struct {
	prog   string
	unit   string
	o      *opts
	file   *os.File
	opened bool
}

// jsonWrite appends v as one line to WEFT_BENCH_JSON, if that is set.
func jsonWrite(v map[string]any) {
	if !jsonOut.opened {
		jsonOut.opened = true
		if path := os.Getenv("WEFT_BENCH_JSON"); path != "" {
			f, err := os.OpenFile(path,
				os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err != nil {
				fail("WEFT_BENCH_JSON=%s: %v", path, err)
			}
			jsonOut.file = f
		}
	}
	if jsonOut.file == nil {
		return
	}
	v["prog"] = jsonOut.prog
	b, err := json.Marshal(v)
	if err != nil {
		fail("json: %v", err)
	}
	if _, err := jsonOut.file.Write(append(b, '\n')); err != nil {
		fail("WEFT_BENCH_JSON: %v", err)
	}
}

// note prints a comment ("# " and the formatted text, which ends with a
// newline) and writes a note object per line.
func note(format string, a ...any) {
	text := fmt.Sprintf(format, a...)
	fmt.Print("# " + text)
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		jsonWrite(map[string]any{"kind": "note", "text": line})
	}
}

// jsonRow writes the row object of r: its runs in run order.
func jsonRow(r *row, med, min, max, ref float64) {
	params := map[string]any{}
	if jsonOut.o != nil {
		params["runs"] = jsonOut.o.runs
		params["quick"] = jsonOut.o.quick
		params["workers"] = jsonOut.o.workers
	}
	var ratio any
	if ref > 0 {
		ratio = med / ref
	}
	jsonWrite(map[string]any{"kind": "row", "name": r.name,
		"params": params, "unit": jsonOut.unit, "iters": r.iters,
		"samples": r.order, "median": med, "min": min, "max": max,
		"ratio": ratio})
}
