#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The benchmark report: cooperative switching between fibers against
# preemptive switching between OS threads, and weft against Go's
# goroutines and Boost.Fiber (and its HTTP server against nginx and Go's
# net/http), measured side by side in one run on this machine. Installs what it needs with apt-get (a peer whose package
# cannot be installed is left out and the report says so), builds a
# release build and the Go peer, runs every benchmark with a progress
# line per step, prints each table as it comes and the summary at the
# end, and writes bench/results/<date>/REPORT.md with the machine, the
# exact commands, every table, the targets (met or NOT met, with the
# measured figure) and PNG charts
# (tools/bench_report.py, from the JSON lines each step writes).
# Every figure is the median of at least 5 runs, with min and max; every
# ratio divides two medians of this one run.
#
# Usage: tools/bench.sh [--quick] [--out DIR] [--only NAME[,NAME]]
#                       [--workers N] [--runs N] [--build DIR [--prebuilt]]
#                       [--no-peers]
#   --quick     few iterations, 1,000 echo and HTTP connections only (HTTP:
#               "/" only, 1 s runs; hostile: 2,000 idle and 200 slowloris
#               connections, no soak; fuzz: 10 s): about four minutes on 2
#               cores, not counting apt-get and the build
#   --out       where REPORT.md, the charts and the raw tables go
#               (default bench/results/<date>)
#   --only      benchmarks to run: switch, spawn, memory, steal, fine
#               (fine-grained tasks: fib without a cutoff, skynet, the spawn
#               loop, a million alive at once, perf counters), chan, echo,
#               http (weft-http against nginx and Go's net/http, driven by
#               wrk), hostile (weft-http and nginx under 10,000 idle
#               connections, 1,000 slowloris connections and a 10-minute
#               soak at 2,000 connections: tools/bench-http-hostile.sh),
#               fuzz (weft-http's request path under libFuzzer for 10
#               minutes: tests/fuzz_http.sh) (default: all); each takes
#               its Go and Boost peers (and http and hostile nginx) along
#   --workers   workers for the multi-worker rows (default: online CPUs),
#               passed to every program that takes --workers; http's
#               servers get the CPUs wrk does not use (all but one) unless
#               --workers is given
#   --runs      runs per figure, at least 5 (default 7; 5 with --quick and
#               for the slow memory, fine, echo and http benchmarks)
#   --build     use this configured meson build directory (ninja runs in
#               it) instead of build-bench
#   --prebuilt  with --build: take that directory as it is, built: no
#               apt-get, no reconfigure, no ninja, no Go build. A peer
#               whose program is not there (DIR/bench/peers/go-peer from
#               bench/peers/go/build.sh DIR/bench/peers, boost-peer from
#               meson) is left out and the report says why. For the
#               bench_quick test, which runs inside that build's meson test
#   --no-peers  leave out Go and Boost.Fiber (and nginx)
# Exits 0 if every weft benchmark ran, 1 if one failed (a peer that is
# missing or fails only leaves its cells "not installed" or "not run"),
# 2 on bad arguments or when the build fails.
set -u
caller=$(pwd)
cd "$(dirname "$0")/.." || exit 2
top=$(pwd)
# The report is Debian's python3 (with python3-matplotlib for the charts),
# not whatever python3 comes first in PATH.
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3) || {
	echo "tools/bench.sh: no python3 (package python3), which the report needs" >&2
	exit 2
}
# The weft benchmark programs, from the table BENCHMARKS in
# tools/bench_report.py: "name takes-workers slow" lines, in their order.
# A new bench/bench_NAME.c needs only its entry there.
mapfile -t benches < <("$py" tools/bench_report.py --list-benchmarks)
[ ${#benches[@]} -gt 0 ] ||
	{ echo "tools/bench.sh: tools/bench_report.py --list-benchmarks failed" >&2; exit 2; }
all_names=$(for b in "${benches[@]}"; do printf '%s,' "${b%% *}"; done)
all_names+="echo,http,hostile,fuzz"

quick=""
runs=""
out=""
only=$all_names
workers=""
workers_set=0
build=""
prebuilt=0
peers=1
argv=("$@")
usage_err() {
	echo "tools/bench.sh: $*" >&2
	echo "tools/bench.sh --help lists the options" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick="--quick" ;;
	--out|--runs|--only|--workers|--build)
		[ $# -ge 2 ] || usage_err "$1 needs a value"
		case "$1" in
		--out) out=$2 ;;
		--runs) runs=$2 ;;
		--only) only=$2 ;;
		--workers) workers=$2; workers_set=1 ;;
		--build) build=$2 ;;
		esac
		shift ;;
	--no-peers) peers=0 ;;
	--prebuilt) prebuilt=1 ;;
	-h|--help)
		sed -n '4,/^# 2 on bad arguments/p' "$0" | sed 's/^# \{0,1\}//'
		echo "Benchmark names for --only (tools/bench_report.py's BENCHMARKS, then the scripts): ${all_names//,/, }"
		exit 0 ;;
	*) usage_err "unknown option $1" ;;
	esac
	shift
done
if [ -n "$runs" ] && ! [ "$runs" -ge 5 ] 2>/dev/null; then
	usage_err "--runs must be a number, at least 5"
fi
if [ -n "$workers" ] && ! [ "$workers" -ge 1 ] 2>/dev/null; then
	usage_err "--workers must be a number, at least 1"
fi
[ "$prebuilt" = 1 ] && [ -z "$build" ] && usage_err "--prebuilt needs --build DIR"
# The slow benchmarks (memory, fine, echo, http) take the fewest runs unless
# --runs says otherwise.
slow_runs=${runs:-5}
[ -n "$runs" ] || { [ -n "$quick" ] && runs=5 || runs=7; }
step_runs=$runs
[ -n "$workers" ] || workers=$(nproc)
# --out and --build are relative to where we were started.
case "$out" in ""|/*) ;; *) out="$caller/$out" ;; esac
case "$build" in ""|/*) ;; *) build="$caller/$build" ;; esac
IFS=, read -r -a names <<<"$only"
for name in "${names[@]}"; do
	case ",$all_names," in
	*",$name,"*) ;;
	*) usage_err "no benchmark named '$name' (there are $all_names)" ;;
	esac
done
wanted() {
	case ",$only," in *",$1,"*) return 0 ;; esac
	return 1
}

t_start=$(date +%s)

# Packages. The core ones must install; each peer's may fail alone.
core_pkgs=(meson ninja-build pkg-config gcc liburing-dev libck-dev)
extra_pkgs=(python3-matplotlib)
# perf, for fine's hardware counters.
wanted fine && extra_pkgs+=(linux-perf)
# http: weft-http's request parser, the load generator and the C peer.
if wanted http; then
	extra_pkgs+=(libhttp-parser-dev wrk)
	[ "$peers" = 1 ] && extra_pkgs+=(nginx)
fi
if wanted hostile; then
	extra_pkgs+=(libhttp-parser-dev wrk python3)
	[ "$peers" = 1 ] && extra_pkgs+=(nginx)
fi
# fuzz: libFuzzer is clang's (its runtime is in libclang-rt-14-dev).
wanted fuzz && extra_pkgs+=(libhttp-parser-dev clang libclang-rt-14-dev)
[ "$peers" = 1 ] && extra_pkgs+=(g++ golang-go libboost-fiber-dev libboost-context-dev)
pkg_ok() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"
}
apt_install() {
	local sudo_cmd=""
	[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo -n"
	$sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" \
		>/dev/null 2>&1
}
missing=()
# --prebuilt installs nothing: what is missing is left out, as when
# apt-get cannot install it.
[ "$prebuilt" = 1 ] || for p in "${core_pkgs[@]}" "${extra_pkgs[@]}"; do
	pkg_ok "$p" || missing+=("$p")
done
pkg_notes=()
if [ ${#missing[@]} -gt 0 ]; then
	echo "== installing: ${missing[*]}"
	sudo_cmd=""
	[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo -n"
	$sudo_cmd apt-get update -qq >/dev/null 2>&1
	if ! apt_install "${missing[@]}"; then
		for p in "${missing[@]}"; do
			apt_install "$p" || pkg_notes+=("apt-get install $p failed")
		done
	fi
	for p in "${core_pkgs[@]}"; do
		if ! pkg_ok "$p" && ! { [ "$p" = gcc ] && command -v gcc >/dev/null; }; then
			echo "tools/bench.sh: could not install $p, which the build needs" >&2
			exit 2
		fi
	done
fi

# The release build.
if [ -n "$build" ]; then
	dir=$(cd "$build" 2>/dev/null && pwd) || usage_err "--build $build: no such directory"
	[ -f "$dir/meson-info/intro-buildoptions.json" ] ||
		usage_err "--build $build is not a configured meson build directory"
	# weft-http is built only where meson found http_parser; a build
	# configured before libhttp-parser-dev was installed (above) has no
	# weft-http until meson looks again.
	if [ "$prebuilt" = 0 ] && wanted http && pkg_ok libhttp-parser-dev &&
		! grep -q 'weft-http' "$dir/build.ninja" 2>/dev/null; then
		echo "== reconfiguring $dir: http_parser is installed now, for tools/weft-http"
		meson setup --reconfigure "$dir" >/dev/null ||
			{ echo "tools/bench.sh: meson setup --reconfigure $dir failed" >&2; exit 2; }
	fi
	if [ "$prebuilt" = 1 ]; then
		echo "== using $dir as it is built (--prebuilt)"
	else
		echo "== building in $dir"
	fi
else
	dir="$top/build-bench"
	echo "== building (release) in build-bench"
	if [ -d "$dir" ]; then
		meson setup --reconfigure "$dir" >/dev/null
	else
		meson setup "$dir" --buildtype=release -Dtests=false -Dbench=true >/dev/null
	fi || { echo "tools/bench.sh: meson setup failed" >&2; exit 2; }
fi
if [ "$prebuilt" = 0 ] && ! ninja -C "$dir" >"$dir/bench-build.log" 2>&1; then
	tail -30 "$dir/bench-build.log" >&2
	echo "tools/bench.sh: the build failed (log: $dir/bench-build.log)" >&2
	exit 2
fi
opt() {
	grep -o "\"name\": \"$1\", \"value\": [^,]*" \
		"$dir/meson-info/intro-buildoptions.json" | sed 's/.*"value": //; s/"//g'
}
buildtype=$(opt buildtype)
sanitize=$(opt b_sanitize)
[ "$(opt bench)" = false ] &&
	usage_err "$dir is configured with -Dbench=false; it has no benchmarks"

date=$(date -u +%Y-%m-%d)
[ -n "$out" ] || out="$top/bench/results/$date"
mkdir -p "$out" || usage_err "cannot create $out"
out=$(cd "$out" && pwd)
rm -rf "$out/raw" "$out/data"
rm -f "$out"/*.png "$out/REPORT.md"
mkdir -p "$out/raw"

# A path as the report shows it: relative to the source tree when inside.
show() {
	case "$1" in
	"$top"/*) echo "${1#"$top"/}" ;;
	*) echo "$1" ;;
	esac
}

# The peers. Go is built here, Boost by meson (when Boost is installed).
peer_dir="$dir/bench/peers"
go_peer="" go_status="" boost_peer="" boost_status=""
if [ "$peers" = 0 ]; then
	go_status="not run: --no-peers"
	boost_status="not run: --no-peers"
elif [ "$prebuilt" = 1 ]; then
	if [ -x "$peer_dir/go-peer" ]; then
		go_peer="$peer_dir/go-peer"
	else
		go_status="not installed: no go-peer in $(show "$peer_dir") (--prebuilt; bench/peers/go/build.sh $(show "$peer_dir") builds it)"
	fi
else
	echo "== building the Go peer: bench/peers/go/build.sh $(show "$peer_dir")"
	if [ ! -x bench/peers/go/build.sh ]; then
		go_status="not installed: bench/peers/go/build.sh is not in this tree"
	else
		bench/peers/go/build.sh "$peer_dir" >"$out/raw/go-build.log" 2>&1
		case $? in
		0) go_peer="$peer_dir/go-peer" ;;
		3) go_status="not installed: no go command (package golang-go)" ;;
		*) go_status="not installed: the build failed (raw/go-build.log)"
		   tail -5 "$out/raw/go-build.log" >&2 ;;
		esac
	fi
fi
if [ "$peers" = 1 ]; then
	if [ -x "$peer_dir/boost-peer" ]; then
		boost_peer="$peer_dir/boost-peer"
	elif ! pkg_ok libboost-fiber-dev; then
		boost_status="not installed: package libboost-fiber-dev is missing"
	else
		boost_status="not installed: meson built no bench/peers/boost-peer in $(show "$dir") (configured with -Dboost=disabled, or before Boost was installed? meson setup --reconfigure it)"
	fi
fi
[ -n "$go_peer" ] && go_status="ok"
[ -n "$boost_peer" ] && boost_status="ok"

# Does program $1 (with subcommand $2) take --workers? Asked of its usage.
takes_workers() {
	"$@" --help 2>&1 | grep -q -- '--workers'
}

# The steps, in order. Each has a group (the --only name), a kind (weft,
# go or boost), a tag for rows that need one, a status before it runs
# ("" to run, else why not) and its command.
st_group=() st_kind=() st_tag=() st_pre=() st_cmd=()
notes=()
add_step() {
	local group=$1 kind=$2 tag=$3 pre=$4
	shift 4
	st_group+=("$group")
	st_kind+=("$kind")
	st_tag+=("$tag")
	st_pre+=("$pre")
	st_cmd+=("$(printf '%q ' "$@")")
}
# A weft benchmark program: bench_$1, with --workers if it takes it
# ($2 = 1) and we asked for it.
add_weft() {
	local exe="$dir/bench/bench_$1" pre="" w=()
	if [ ! -x "$exe" ]; then
		if [ -f "bench/bench_$1.c" ]; then
			pre="not run: bench/bench_$1.c is not built in $(show "$dir")"
		else
			pre="not run: bench/bench_$1.c is not in this tree yet"
		fi
	elif [ "$2" = 1 ]; then
		if takes_workers "$exe"; then
			w=(--workers "$workers")
		else
			notes+=("bench_$1 takes no --workers yet: its multi-worker rows use its own count (every online CPU, $(nproc))")
		fi
	fi
	add_step "$1" weft "" "$pre" "$exe" --runs "$step_runs" $quick "${w[@]}"
}
# A peer subcommand: kind $1, group $2, tag $3, with --workers if $4 = 1.
add_peer() {
	local kind=$1 group=$2 tag=$3 wflag=$4 exe pre="" w=()
	shift 4
	if [ "$kind" = go ]; then
		exe=${go_peer:-go-peer}
		[ -n "$go_peer" ] || pre=$go_status
	else
		exe=${boost_peer:-boost-peer}
		[ -n "$boost_peer" ] || pre=$boost_status
	fi
	if [ -z "$pre" ] && [ "$wflag" = 1 ]; then
		if takes_workers "$exe" "$1"; then
			w=(--workers "$workers")
		else
			notes+=("$kind-peer $1 takes no --workers: it uses its own worker counts")
		fi
	fi
	add_step "$group" "$kind" "$tag" "$pre" "$exe" "$@" --runs "$step_runs" $quick "${w[@]}"
}
# Can perf count the hardware events fine's counter table needs? On a VM
# without a virtual PMU it says "<not supported>" for each.
perf_events=cycles,instructions,cache-misses
perf_status=""
if wanted fine; then
	if ! command -v perf >/dev/null 2>&1; then
		perf_status="not installed: no perf command (package linux-perf)"
	else
		perf_probe=$(perf stat -x, -e "$perf_events" -- true 2>&1 >/dev/null)
		perf_rc=$?
		perf_bad=$(printf '%s\n' "$perf_probe" | awk -F, '!/^#/ && NF >= 3 && $1 !~ /^[0-9.]+$/ { printf "%s%s %s", sep, $3, $1; sep = ", " }')
		if [ "$perf_rc" != 0 ]; then
			perf_status="not supported: \`perf stat -x, -e $perf_events true\` failed (exit $perf_rc: $(printf '%s' "$perf_probe" | tail -1))"
		elif [ -n "$perf_bad" ]; then
			perf_status="not supported on this machine: \`perf stat -x, -e $perf_events true\` says $perf_bad (no hardware performance counters here, as in a VM without a virtual PMU)"
		else
			perf_status=ok
		fi
	fi
fi
# The peers of each benchmark (peers_NAME, if there is one) and the steps
# that follow its own (after_NAME).
peers_switch() {
	add_peer go switch "" 0 switch
	add_peer boost switch "" 0 switch
}
peers_spawn() {
	add_peer go spawn "" 1 spawn
	add_peer boost spawn "" 1 spawn
}
# Go parks its goroutines at each count weft does; row go.memory.parked
# gets the count as a tag.
peers_memory() {
	local counts="10000 100000 1000000" n t
	[ -n "$quick" ] && counts="10000"
	for n in $counts; do
		t=$((n / 1000))k
		[ "$n" = 1000000 ] && t=1m
		add_peer go memory "$t" 0 memory "$n"
	done
}
peers_steal() {
	add_peer go steal "" 1 fib
	add_peer boost steal "" 1 fib
}
peers_fine() {
	add_peer go fine "" 1 fine
	add_peer boost fine "" 1 fine
}
after_fine() {
	# The report's picture of a trace: one traced fib (WEFT_TRACE).
	if [ -x "$dir/bench/bench_fine" ]; then
		add_step fine weft trace "" "$dir/bench/bench_fine" --trace \
			"$out/raw/trace-fib.json" "$workers"
	fi
	# The counter table's rows come from perf stat around bench_fine.
	if [ "$perf_status" = ok ] && [ -x "$dir/bench/bench_fine" ]; then
		add_step fine weft "" "" bench/bench_perf.sh "$dir/bench/bench_fine" \
			--runs "$step_runs" $quick --workers "$workers"
	fi
}
peers_chan() {
	add_peer boost chan "" 0 chan
}
for b in "${benches[@]}"; do
	read -r name takes slow <<<"$b"
	wanted "$name" || continue
	# The slow benchmarks take the fewest runs unless --runs says otherwise.
	[ "$slow" = 1 ] && step_runs=$slow_runs
	add_weft "$name" "$takes"
	[ "$peers" = 1 ] && declare -F "peers_$name" >/dev/null && "peers_$name"
	declare -F "after_$name" >/dev/null && "after_$name"
	step_runs=$runs
done
if wanted echo; then
	# Each echo run takes seconds (a second even in quick mode).
	echo_runs=$slow_runs
	ego=()
	[ -n "$go_peer" ] && ego=(--go-peer "$go_peer")
	add_step echo weft "" "" tools/bench-echo.sh --build "$dir" \
		--runs "$echo_runs" --workers "$workers" $quick "${ego[@]}"
fi
# Why weft-http cannot run here ("" when it can): the http and hostile
# steps need wrk and a tools/weft-http built with http_parser.
weft_http_pre() {
	if ! command -v wrk >/dev/null 2>&1; then
		echo "not run: no wrk command, the load generator (package wrk could not be installed)"
	elif [ ! -x "$dir/tools/weft-http" ]; then
		if pkg_ok libhttp-parser-dev; then
			echo "not run: tools/weft-http is not built in $(show "$dir")"
		else
			echo "not run: no tools/weft-http in $(show "$dir"): it needs http_parser (package libhttp-parser-dev could not be installed)"
		fi
	fi
}
# The HTTP servers: weft-http on both backends, nginx and go-peer
# http-server, all driven by wrk. The servers share the CPUs wrk leaves
# them, so --workers goes along only when it was asked for.
nginx_status="" wrk_status=""
if wanted http; then
	hargs=(--build "$dir" --runs "$slow_runs")
	[ "$workers_set" = 1 ] && hargs+=(--workers "$workers")
	if [ "$peers" = 1 ]; then
		[ -n "$go_peer" ] && hargs+=(--go-peer "$go_peer")
		if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
			nginx_status=ok
		else
			nginx_status="not installed: no nginx command (package nginx)"
		fi
	else
		hargs+=(--servers "weft weft.epoll")
		nginx_status="not run: --no-peers"
	fi
	if command -v wrk >/dev/null 2>&1; then
		wrk_status=ok
	else
		wrk_status="not installed: no wrk command (package wrk could not be installed)"
	fi
	add_step http weft "" "$(weft_http_pre)" tools/bench-http.sh "${hargs[@]}" $quick
fi
# weft-http under hostile clients (idle, slowloris, and the soak unless
# --quick), and its request path under libFuzzer; both print "# goal:"
# lines, which the report turns into targets.
if wanted hostile; then
	hargs=(--build "$dir")
	[ "$workers_set" = 1 ] && hargs+=(--workers "$workers")
	[ "$peers" = 1 ] || hargs+=(--no-nginx)
	[ -n "$quick" ] || hargs+=(--soak)
	add_step hostile weft "" "$(weft_http_pre)" tools/bench-http-hostile.sh \
		"${hargs[@]}" $quick
fi
if wanted fuzz; then
	fuzz_secs=600
	[ -n "$quick" ] && fuzz_secs=10
	pre=""
	if ! command -v clang >/dev/null 2>&1; then
		pre="not installed: no clang command (packages clang and libclang-rt-14-dev)"
	elif ! pkg_ok libhttp-parser-dev; then
		pre="not installed: no http_parser (package libhttp-parser-dev)"
	fi
	add_step fuzz weft "" "$pre" tests/fuzz_http.sh "$top" "$fuzz_secs"
fi
n=${#st_group[@]}

# Everything the report needs besides the tables.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
boost_version=""
if [ -f /usr/include/boost/version.hpp ]; then
	boost_version=$(sed -n 's/^#define BOOST_LIB_VERSION "\(.*\)"/\1/p' \
		/usr/include/boost/version.hpp | tr _ .)
fi
{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "command=tools/bench.sh${argv[*]:+ ${argv[*]}}"
	echo "quick=${quick:+1}"
	echo "runs=$runs"
	echo "slow_runs=$slow_runs"
	echo "workers=$workers"
	echo "only=$only"
	echo "peers=$peers"
	echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
	echo "online_cpus=$(nproc)"
	echo "cores=$(lscpu -p=socket,core 2>/dev/null | grep -v '^#' | sort -u | wc -l)"
	echo "threads_per_core=$(lscpu 2>/dev/null | sed -n 's/^Thread(s) per core: *//p')"
	echo "memory=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "kernel=$(uname -srm)"
	echo "compiler=$(gcc --version | head -1)"
	echo "cxx=$(g++ --version 2>/dev/null | head -1)"
	echo "go=$(go version 2>/dev/null)"
	echo "go_status=$go_status"
	echo "nginx=$({ nginx -v || /usr/sbin/nginx -v; } 2>&1 | sed -n 's/^nginx version: nginx\///p' | head -1)"
	echo "nginx_status=$nginx_status"
	echo "wrk=$(wrk -v 2>&1 | head -1 | awk '{ print $2 }')"
	echo "wrk_status=$wrk_status"
	echo "boost=$boost_version"
	echo "boost_status=$boost_status"
	echo "build=$(show "$dir")"
	echo "buildtype=$buildtype"
	echo "sanitize=$sanitize"
	echo "load_before=$load_before"
	echo "max_map_count=$(cat /proc/sys/vm/max_map_count)"
	echo "perf=$(perf --version 2>/dev/null)"
	echo "perf_status=$perf_status"
	for p in "${pkg_notes[@]}"; do
		echo "note=$p"
	done
	for p in "${notes[@]}"; do
		echo "note=$p"
	done
	if [ "$buildtype" != release ] || [ "$sanitize" != none ]; then
		echo "note=$(show "$dir") is a $buildtype build (sanitizer: $sanitize), not a plain release build: its figures say little"
	fi
} >"$out/meta.txt"

echo "== $n steps, $runs runs per figure, $workers workers for the multi-worker rows${quick:+, quick}"
printf 'n\tgroup\tkind\ttag\tstatus\trc\tseconds\tfile\tcommand\treason\n' >"$out/steps.tsv"
weft_failed=0
for ((i = 0; i < n; i++)); do
	g=${st_group[$i]}
	k=${st_kind[$i]}
	t=${st_tag[$i]}
	f=$(printf '%02d-%s-%s%s' $((i + 1)) "$g" "$k" "${t:+-$t}")
	cmd=()
	eval "cmd=(${st_cmd[$i]})"
	shown=$(for a in "${cmd[@]}"; do printf '%s ' "$(show "$a")"; done)
	shown=${shown% }
	if [ -n "${st_pre[$i]}" ]; then
		echo "== [$((i + 1))/$n] $g: $shown: ${st_pre[$i]}"
		status=${st_pre[$i]%%:*}
		printf '%s\t%s\t%s\t%s\t%s\t-\t0\t-\t%s\t%s\n' $((i + 1)) "$g" "$k" \
			"$t" "$status" "$shown" "${st_pre[$i]#*: }" >>"$out/steps.tsv"
		# A weft program that is in the tree but not built is a failure;
		# one that is not written yet only leaves its rows "not run".
		case "${st_pre[$i]}" in
		*"is not built"*) weft_failed=1 ;;
		esac
		continue
	fi
	echo "== [$((i + 1))/$n] $g: $shown"
	t0=$(date +%s.%N)
	# The step's rows as JSON lines (bench/bench_common.h,
	# tools/bench-json.sh), which the report reads; the text is for people.
	rm -f "$out/raw/$f.jsonl"
	WEFT_BENCH_JSON="$out/raw/$f.jsonl" "${cmd[@]}" 2>"$out/raw/$f.err" |
		tee "$out/raw/$f.txt"
	rc=${PIPESTATUS[0]}
	t1=$(date +%s.%N)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	if [ -s "$out/raw/$f.err" ]; then
		sed 's/^/   stderr: /' "$out/raw/$f.err" | tail -20 >&2
	else
		rm -f "$out/raw/$f.err"
	fi
	status=ok
	reason=""
	if [ "$rc" != 0 ]; then
		status=failed
		reason="exit $rc: $(tail -1 "$out/raw/$f.err" 2>/dev/null)"
		[ "$k" = weft ] && weft_failed=1
		echo "== [$((i + 1))/$n] $g: FAILED ($reason)"
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' $((i + 1)) "$g" "$k" \
		"$t" "$status" "$rc" "$secs" "raw/$f.txt" "$shown" "$reason" \
		>>"$out/steps.tsv"
done
echo "total_seconds=$(($(date +%s) - t_start))" >>"$out/meta.txt"

echo "== report: tools/bench_report.py $(show "$out")"
if ! "$py" tools/bench_report.py "$out"; then
	echo "tools/bench.sh: the report could not be written" >&2
	exit 1
fi
echo "== report: $(show "$out")/REPORT.md"
exit "$weft_failed"
