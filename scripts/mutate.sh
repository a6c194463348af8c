#!/usr/bin/env bash
# mutate.sh — a mutation check of the test suite: applies, one at a time in a scratch copy of the
# tree, a seeded random sample of mechanical mutations to the numerical code (src/kernels,
# src/layers, src/train, src/model: an operator swapped, a comparison loosened or tightened, an
# index shifted by one, a constant changed, && and || swapped), rebuilds, runs the whole suite
# with ctest --stop-on-failure under a time limit, and reports which mutants survived. A mutant
# that does not compile is stillborn: it is reported, not counted, and another is drawn.
#
# usage: scripts/mutate.sh [-n COUNT] [--seed S] [--timeout SECONDS] [--scratch DIR] [--list]
#                          [--known FILE]
#   -n COUNT         mutants to run (default 40)
#   --seed S         the sample's seed (default 1): the same seed draws the same mutants
#   --timeout SECS   per mutant, for the suite (default 300; a mutant that runs out is killed)
#   --scratch DIR    the scratch copy (default /tmp/fovea-mutate; its contents are replaced)
#   --list           print every mutation site and exit
#   --known FILE     instead of a sample, every mutant listed in FILE (tests/known_mutants.tsv:
#                    bugs that once passed the suite), one per line: PATH, OLD, NEW, WHAT,
#                    separated by tabs (\n in NEW for a new line; OLD must occur once in PATH)
# JOBS sets the build and test parallelism (2). The report is also written to DIR/report.txt.
# Run it outside CI: a mutant costs a rebuild and a suite run, about half a minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v python3 >/dev/null || { echo "mutate.sh: needs python3" >&2; exit 2; }
exec python3 - "$PWD" "$@" <<'PY'
import os, random, re, shutil, subprocess, sys, time

root, args = sys.argv[1], sys.argv[2:]
count, seed, timeout, scratch, list_only, known = 40, 1, 300, "/tmp/fovea-mutate", False, None
jobs = os.environ.get("JOBS", "2")
i = 0
try:
    while i < len(args):
        a = args[i]
        if a == "-n": count = int(args[i + 1]); i += 2
        elif a == "--seed": seed = int(args[i + 1]); i += 2
        elif a == "--timeout": timeout = int(args[i + 1]); i += 2
        elif a == "--scratch": scratch = args[i + 1]; i += 2
        elif a == "--list": list_only = True; i += 1
        elif a == "--known": known = args[i + 1]; i += 2
        elif a in ("-h", "--help"):
            with open(os.path.join(root, "scripts/mutate.sh")) as f:
                for line in f.read().split("\n")[1:20]:
                    print(line[2:])
            sys.exit(0)
        else: raise ValueError("unknown option '%s'" % a)
except (IndexError, ValueError) as e:
    print("mutate.sh: %s (see scripts/mutate.sh --help)" % (e if str(e) else "bad arguments"), file=sys.stderr)
    sys.exit(2)
if count < 1 or timeout < 1:
    print("mutate.sh: -n and --timeout must be positive", file=sys.stderr)
    sys.exit(2)

DIRS = ["src/kernels", "src/layers", "src/train", "src/model"]
# (kind, pattern, replacement function). Binary operators are spaced in this code base
# (clang-format), which tells `a * b` from `float *p` and `a - b` from `-x`.
SWAP = {" + ": " - ", " - ": " + ", " * ": " / ", " / ": " * ", " += ": " -= ", " -= ": " += "}
CMP = {" < ": " <= ", " <= ": " < ", " > ": " >= ", " >= ": " > ", " == ": " != ", " != ": " == "}
OPS = [
    ("operator", re.compile(r" (?:\+|-|\*|/|\+=|-=) "), lambda m: SWAP[m.group(0)]),
    ("comparison", re.compile(r" (?:<|<=|>|>=|==|!=) "), lambda m: CMP[m.group(0)]),
    ("logic", re.compile(r" (?:&&|\|\|) "), lambda m: " || " if "&" in m.group(0) else " && "),
    ("index+1", re.compile(r"\[([^\[\]]+)\]"), lambda m: "[%s + 1]" % m.group(1)),
    ("index-1", re.compile(r"\[([^\[\]]+)\]"), lambda m: "[%s - 1]" % m.group(1)),
    ("constant", re.compile(r"(?<![\w.])(\d+\.\d*(?:e[-+]?\d+)?f?|\d+)(?![\w.])"), None),
]

def new_constant(tok):
    if re.fullmatch(r"\d+", tok):
        return str(int(tok) + 1)
    suffix = "f" if tok.endswith("f") else ""
    v = float(tok.rstrip("f"))
    return repr(v * 2 if v else 1.0) + suffix

def sites():
    out = []
    for d in DIRS:
        for name in sorted(os.listdir(os.path.join(root, d))):
            if not name.endswith(".c"):
                continue
            path = os.path.join(d, name)
            with open(os.path.join(root, path)) as f:
                lines = f.read().split("\n")
            in_comment = False
            for n, line in enumerate(lines, 1):
                s = line.strip()
                if in_comment:
                    if "*/" in s: in_comment = False
                    continue
                if s.startswith("/*"):
                    in_comment = "*/" not in s
                    continue
                # Comments, preprocessor lines, strings (messages), declarations of sizes.
                if not s or s.startswith(("//", "*", "#")) or '"' in line or "'" in line:
                    continue
                code = line.split("/*")[0].split("//")[0]
                for kind, rx, rep in OPS:
                    for m in rx.finditer(code):
                        new = rep(m) if rep else new_constant(m.group(0))
                        if kind.startswith("index") and re.fullmatch(r"\s*\d*\s*", m.group(1)):
                            continue  # an array declaration's size or []
                        out.append((path, n, m.start(), m.group(0), new, kind))
    return out

def show(s):
    return "%s:%d: %s: '%s' -> '%s'" % (s[0], s[1], s[5], s[3].strip(), s[4].strip())

def known_sites(path):
    out = []
    with open(path) as f:
        for n, line in enumerate(f.read().split("\n"), 1):
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) != 4:
                sys.exit("mutate.sh: %s:%d: expected PATH, OLD, NEW, WHAT separated by tabs" % (path, n))
            src, old, new, what = fields
            with open(os.path.join(root, src)) as g:
                text = g.read()
            if text.count(old) != 1:
                sys.exit("mutate.sh: %s:%d: '%s' occurs %d times in %s, not once"
                         % (path, n, old, text.count(old), src))
            at = text.index(old)
            line_no = text.count("\n", 0, at) + 1
            col = at - (text.rfind("\n", 0, at) + 1)
            out.append((src, line_no, col, old, new.replace("\\n", "\n"), what))
    return out

all_sites = known_sites(known) if known else sites()
if known:
    count = len(all_sites)
if list_only:
    for s in all_sites:
        print(show(s))
    print("%d mutation sites" % len(all_sites))
    sys.exit(0)

def run(cmd, **kw):
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, **kw)

report_lines = []
def say(line=""):
    print(line, flush=True)
    report_lines.append(line)

# The scratch copy: tracked and untracked (not ignored) files, as the working tree has them.
files = run(["git", "-C", root, "ls-files", "-co", "--exclude-standard", "-z"]).stdout.split("\0")
if os.path.isdir(scratch):
    shutil.rmtree(scratch)
os.makedirs(scratch)
for f in files:
    if f and os.path.isfile(os.path.join(root, f)):
        os.makedirs(os.path.dirname(os.path.join(scratch, f)) or scratch, exist_ok=True)
        shutil.copy2(os.path.join(root, f), os.path.join(scratch, f))
build = os.path.join(scratch, "build")
if known:
    say("mutate.sh: the %d mutants of %s, %d s each; scratch copy %s"
        % (count, known, timeout, scratch))
else:
    say("mutate.sh: %d sites in %s; seed %d, %d mutants, %d s each; scratch copy %s"
        % (len(all_sites), ", ".join(DIRS), seed, count, timeout, scratch))
t0 = time.time()
r = run(["cmake", "-S", scratch, "-B", build, "-DCMAKE_BUILD_TYPE=Release"])
if r.returncode == 0:
    r = run(["cmake", "--build", build, "-j" + jobs])
if r.returncode == 0:
    r = run(["ctest", "--test-dir", build, "-j" + jobs, "--timeout", str(timeout)], timeout=timeout * 4)
if r.returncode != 0:
    say("mutate.sh: the unmutated tree does not build or pass its tests in the scratch copy:")
    say(r.stdout[-3000:])
    sys.exit(1)
say("unmutated: builds and passes (%.0f s)" % (time.time() - t0))

order = list(range(len(all_sites)))
if not known:
    random.Random(seed).shuffle(order)
killed, survived, stillborn, done = [], [], [], 0
for idx in order:
    if done == count:
        break
    s = all_sites[idx]
    path = os.path.join(scratch, s[0])
    with open(path) as f:
        original = f.read()
    lines = original.split("\n")
    line = lines[s[1] - 1]
    lines[s[1] - 1] = line[:s[2]] + s[4] + line[s[2] + len(s[3]):]
    with open(path, "w") as f:
        f.write("\n".join(lines))
    t = time.time()
    try:
        b = run(["cmake", "--build", build, "-j" + jobs])
        if b.returncode != 0:
            stillborn.append(s)
            say("stillborn  %s (does not compile)" % show(s))
            continue
        done += 1
        # In a process group of its own, so that the time limit ends the tests ctest started.
        c = subprocess.Popen(["ctest", "--test-dir", build, "-j" + jobs, "--stop-on-failure",
                              "--timeout", str(timeout)], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
        try:
            out = c.communicate(timeout=timeout)[0]
            failed = re.findall(r"\d+ - (\S+) \(", out)
            ok = c.returncode == 0
            why = "by " + ", ".join(failed) if failed else "(ctest exit %d)" % c.returncode
        except subprocess.TimeoutExpired:
            os.killpg(c.pid, 9)
            c.communicate()
            ok, why = False, "by the time limit"
        tag = "[%d/%d]" % (done, count)
        if ok:
            survived.append(s)
            say("%-8s SURVIVED %s (%.0f s)" % (tag, show(s), time.time() - t))
            say("           %s" % line.strip())
            say("        -> %s" % lines[s[1] - 1].strip())
        else:
            killed.append(s)
            say("%-8s killed   %s %s (%.0f s)" % (tag, show(s), why, time.time() - t))
    finally:
        with open(path, "w") as f:
            f.write(original)
# Leave the scratch build matching the tree.
run(["cmake", "--build", build, "-j" + jobs])
say()
n = len(killed) + len(survived)
say("%d of %d mutants killed (%.0f%%), %d survived, %d stillborn; %s; %.0f s"
    % (len(killed), n, 100.0 * len(killed) / n if n else 0, len(survived), len(stillborn),
       known if known else "seed %d" % seed, time.time() - t0))
for s in survived:
    say("  survivor: %s" % show(s))
with open(os.path.join(scratch, "report.txt"), "w") as f:
    f.write("\n".join(report_lines) + "\n")
sys.exit(0)
PY
