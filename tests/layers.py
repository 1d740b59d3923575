#!/usr/bin/env python3
"""The layers of the source tree, checked from the #include lines of resolver/ and zones/.

Fails, naming the files, when
  - files include each other, directly or through others (an include cycle);
  - modules depend on each other in a circle: x.c or x.h includes y.h while y.c or y.h
    includes x.h, directly or through other modules (a module is x.c with x.h);
  - anything in zones/ includes a header from resolver/;
  - zones/ includes a header of an I/O library or calls I/O: sockets, threads, clocks, random
    sources, files, the event loop, HTTP. Headers that zones/ needs only for types
    (<sys/socket.h> for struct sockaddr, <time.h>) are allowed; their calls are not.

Usage: layers.py [SOURCE_ROOT]   (default: the directory above this file)
       layers.py --self-test      plants each kind of problem in a scratch tree, expects each found
Exit status 0 when the tree keeps its layers, 1 otherwise.
"""
import os
import re
import sys

AREAS = ("resolver", "zones")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)

# Headers of I/O that nothing in zones/ includes (prefixes end with "/").
ZONES_FORBIDDEN_HEADERS = (
    "uv.h", "curl/", "pthread.h", "threads.h", "unistd.h", "fcntl.h", "poll.h",
    "sys/epoll.h", "sys/select.h", "sys/stat.h", "sys/mman.h", "sys/random.h", "sys/time.h",
    "sys/file.h", "dirent.h", "netdb.h", "signal.h", "nghttp2/", "microhttpd.h", "fstrm.h",
    "ini.h", "systemd/",
)
# Calls that do I/O, and what zones/ would be doing with them.
ZONES_FORBIDDEN_CALLS = {
    "sockets": "socket socketpair bind connect listen accept accept4 send sendto sendmsg sendmmsg "
               "recv recvfrom recvmsg recvmmsg setsockopt getsockopt getsockname getpeername "
               "shutdown getaddrinfo gethostbyname gethostname poll select epoll_wait",
    "threads": "pthread_create pthread_join pthread_mutex_lock pthread_mutex_unlock "
               "pthread_cond_wait pthread_cond_signal pthread_rwlock_rdlock "
               "pthread_rwlock_wrlock thrd_create mtx_lock",
    "clocks": "clock_gettime gettimeofday time clock timespec_get sleep usleep nanosleep",
    "random sources": "rand random srand srandom rand_r drand48 lrand48 getrandom getentropy "
                      "arc4random arc4random_buf",
    "files": "fopen freopen fdopen fmemopen open openat creat read pread readv write pwrite "
             "writev close fclose fread fwrite fgets fgetc getline fputs fputc puts printf "
             "fprintf vfprintf perror fflush stat fstat lstat access unlink rename mkdir "
             "opendir readdir mmap json_load_file json_loadf json_dump_file json_dumpf "
             "ldns_rr_new_frm_fp ldns_rr_new_frm_fp_l ldns_zone_new_frm_fp "
             "ldns_zone_new_frm_fp_l ldns_pkt_print ldns_rr_print gzopen gzread",
    "the environment": "getenv setenv system popen fork execve execvp",
}
CALL = re.compile(r"(?<![\w.>])(" + "|".join(
    sorted({c for v in ZONES_FORBIDDEN_CALLS.values() for c in v.split()}, key=len,
           reverse=True)) + r")\s*\(")


def strip_c(text):
    """text with comments, string and character literals blanked (newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (min(j, n) - i - 1) + (c if j < n else ""))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def sources(root):
    for area in AREAS:
        for d, _, names in os.walk(os.path.join(root, area)):
            for name in sorted(names):
                if name.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(d, name), root)


def read_includes(root, files):
    """{file: [(kind, target, line)]} for every file; kind '"' or '<'."""
    incs = {}
    for f in files:
        with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fp:
            text = fp.read()
        incs[f] = [(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1)
                   for m in INCLUDE.finditer(text)]
    return incs


def find_cycles(graph):
    """One cycle (a list of nodes, first repeated last) per strongly connected component."""
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):  # Tarjan, iterative
        work = [(v, iter(sorted(graph.get(v, ()))))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            node, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    advanced = True
                    break
                if w in on:
                    low[node] = min(low[node], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1 or node in graph.get(node, ()):
                    sccs.append(set(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [shortest_cycle(graph, comp) for comp in sccs]


def shortest_cycle(graph, comp):
    """The shortest cycle through the smallest node of comp, staying inside comp."""
    start = min(comp)
    prev, queue = {start: None}, [start]
    for v in queue:
        for w in sorted(graph.get(v, ())):
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return path[::-1] + [start]
            if w in comp and w not in prev:
                prev[w] = v
                queue.append(w)
    return [start, start]


def module_of(f):
    """"resolver/serve/server.c" and ".h" -> "resolver/serve/server"; a module's shared
    helpers (snapshot_internal.h) belong to it."""
    m = f[:-2]
    return m[:-len("_internal")] if m.endswith("_internal") else m


# Circles being taken apart elsewhere: reported as a note, not a failure, while they last.
# Remove an entry once its circle is gone (the note then says so).
KNOWN_MODULE_CYCLES = []


def check(root):
    files = list(sources(root))
    known = set(files)
    incs = read_includes(root, files)
    problems, notes = [], []

    file_graph = {f: {t for k, t, _ in incs[f] if k == '"' and t in known} for f in files}
    file_cycles = find_cycles(file_graph)
    for cyc in file_cycles:
        problems.append("include cycle: " + " -> ".join(cyc))
    reported = [{module_of(f) for f in cyc} for cyc in file_cycles]

    mod_graph = {}
    for f in files:
        deps = mod_graph.setdefault(module_of(f), set())
        deps.update(module_of(t) for t in file_graph[f] if module_of(t) != module_of(f))
    for cyc in find_cycles(mod_graph):
        if set(cyc) in reported:  # the include cycle above
            continue
        if set(cyc) in KNOWN_MODULE_CYCLES:
            notes.append("known circle, to be removed: " + " -> ".join(cyc))
            continue
        problems.append("modules depend on each other in a circle: " + " -> ".join(cyc) +
                        " (via their .c and .h files)")

    for f in files:
        if not f.startswith("zones/"):
            continue
        for kind, target, line in incs[f]:
            if kind == '"' and target.startswith("resolver/"):
                problems.append(f"{f}:{line}: zones/ includes {target} from resolver/ "
                                "(zones/ stands below resolver/)")
            if kind == "<" and any(target == h or (h.endswith("/") and target.startswith(h))
                                   for h in ZONES_FORBIDDEN_HEADERS):
                problems.append(f"{f}:{line}: zones/ includes <{target}>, a header of I/O "
                                "(zones/ does no I/O)")
        with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fp:
            code = strip_c(fp.read())
        for m in CALL.finditer(code):
            line = code.count("\n", 0, m.start()) + 1
            what = next(k for k, v in ZONES_FORBIDDEN_CALLS.items() if m.group(1) in v.split())
            problems.append(f"{f}:{line}: zones/ calls {m.group(1)}() ({what}: "
                            "zones/ does no I/O)")
    seen = [set(n.split(": ", 1)[1].split(" -> ")) for n in notes]
    for known in KNOWN_MODULE_CYCLES:
        if known not in seen:
            notes.append("the circle " + " <-> ".join(sorted(known)) +
                         " is gone: remove it from KNOWN_MODULE_CYCLES")
    return files, problems, notes


SELF_TEST_TREE = {
    # a file cycle through three headers
    "zones/base/a.h": '#include "zones/base/b.h"\n',
    "zones/base/b.h": '#include "zones/base/c.h"\n',
    "zones/base/c.h": '#include "zones/base/a.h"\n',
    # modules in a circle through their .c files only
    "resolver/x.h": "int x(void);\n", "resolver/x.c": '#include "resolver/y.h"\n',
    "resolver/y.h": "int y(void);\n", "resolver/y.c": '#include "resolver/x.h"\n',
    # zones/ reaching up and doing I/O; the comment and the string must not count
    "zones/net/io.c": '#include <sys/socket.h>\n#include <uv.h>\n#include "resolver/x.h"\n'
                      '/* socket(), time() */\nstatic const char *s = "read(fd)";\n'
                      'int f(void) { return socket(2, 1, 0) + (int)time(0) + rand(); }\n'
                      'int g(struct o *p) { return p->read(p) + p->time(0); }\n',
}
SELF_TEST_EXPECT = [
    "include cycle: zones/base/a.h -> zones/base/b.h -> zones/base/c.h -> zones/base/a.h",
    "modules depend on each other in a circle: resolver/x -> resolver/y -> resolver/x",
    "zones/net/io.c:2: zones/ includes <uv.h>",
    "zones/net/io.c:3: zones/ includes resolver/x.h from resolver/",
    "zones/net/io.c:6: zones/ calls socket() (sockets",
    "zones/net/io.c:6: zones/ calls time() (clocks",
    "zones/net/io.c:6: zones/ calls rand() (random sources",
]


def self_test():
    import tempfile
    with tempfile.TemporaryDirectory() as root:
        for path, text in SELF_TEST_TREE.items():
            os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
            with open(os.path.join(root, path), "w") as fp:
                fp.write(text)
        _, problems, _ = check(root)
    missed = [e for e in SELF_TEST_EXPECT if not any(p.startswith(e) for p in problems)]
    extra = [p for p in problems if not any(p.startswith(e) for e in SELF_TEST_EXPECT)]
    for p in problems:
        print("layers: found: " + p)
    for m in missed:
        print("layers: self-test: not found: " + m, file=sys.stderr)
    for x in extra:
        print("layers: self-test: found but not planted: " + x, file=sys.stderr)
    return 1 if missed or extra else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    files, problems, notes = check(os.path.abspath(root))
    if not files:
        print(f"layers: no sources under {root}", file=sys.stderr)
        return 1
    for n in notes:
        print("layers: note: " + n)
    for p in problems:
        print("layers: " + p, file=sys.stderr)
    if problems:
        return 1
    print(f"layers: {len(files)} files in resolver/ and zones/ keep their layers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
