#!/usr/bin/env python3
"""The module rules of README.md's layout section, checked on the real build.

  check_module_rules.py --source DIR [--cmake CMAKE]   configure DIR into a temporary build
                                                        with `cmake --graphviz` and check it
  check_module_rules.py --self-test                     show that every rule can fail

Rules (exit 1 and one line per violation when any is broken):
  1. picketd links no central module (collector, sync, cli, analysis) and no MariaDB client.
  2. Nothing links supervisor, worker, cli or a main, except the mains themselves.
  3. No module includes another module's private headers (src/<other>/...).
  4. No C handle type (pcap_t, CURL, zhandle_t, sqlite3, uv_*, MYSQL) and no C library header
     appears in include/.
  5. No doctest case or suite name holds ';': ctest's discovery would split it into entries
     that match no case and pass without running anything.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

CENTRAL_MODULES = {"picket_collector", "picket_sync", "picket_cli", "picket_analysis"}
CENTRAL_LIBRARIES = ("mariadb", "mysqlclient")
LEAF_MODULES = {"picket_supervisor", "picket_worker", "picket_cli"}  # only mains link these
MAINS = {"picketd", "picket"}
EDGE_MAIN = "picketd"

C_HANDLE_TYPES = re.compile(
    r"\b(pcap_t|pcap_if_t|CURL|CURLM|CURLcode|zhandle_t|sqlite3|sqlite3_stmt|MYSQL|MYSQL_RES|"
    r"uv_[a-z0-9_]+_[ts]|ndpi_[a-z0-9_]+_struct)\b")
C_LIBRARY_HEADERS = re.compile(
    r'#\s*include\s*[<"](pcap\.h|pcap/|curl/|zookeeper/|zookeeper\.h|sqlite3\.h|uv\.h|mysql\.h|'
    r'mariadb/|ndpi/|ndpi_[a-z_]+\.h)')
INCLUDE_LINE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)
TEST_NAME = re.compile(r'\b(?:TEST_CASE|TEST_SUITE|SUBCASE)\s*\(\s*"((?:[^"\\]|\\.)*)"')


# --- the link graph -------------------------------------------------------------------------

def read_graphviz(path):
    """Returns {target name: set of directly linked target names} from cmake's .dot file."""
    names, edges = {}, {}
    node = re.compile(r'^\s*"(node\d+)"\s*\[\s*label\s*=\s*"([^"]+)"')
    edge = re.compile(r'^\s*"(node\d+)"\s*->\s*"(node\d+)"')
    with open(path) as f:
        for line in f:
            m = node.match(line)
            if m:
                names[m.group(1)] = m.group(2).replace("\\n", " ")
                continue
            m = edge.match(line)
            if m:
                edges.setdefault(m.group(1), set()).add(m.group(2))
    graph = {name: set() for name in names.values()}
    for src, dsts in edges.items():
        graph[names[src]].update(names[d] for d in dsts)
    return graph


def closure(graph, start):
    seen, todo = set(), [start]
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def check_graph(graph):
    errors = []
    if EDGE_MAIN in graph:
        reach = closure(graph, EDGE_MAIN)
        for dep in sorted(reach):
            if dep in CENTRAL_MODULES:
                errors.append(f"link: {EDGE_MAIN} links the central module {dep}")
            elif any(lib in dep.lower() for lib in CENTRAL_LIBRARIES):
                errors.append(f"link: {EDGE_MAIN} links the central library {dep}")
    for target in sorted(graph):
        if target in MAINS:
            continue
        for dep in sorted(graph[target]):
            if dep in LEAF_MODULES or dep in MAINS:
                errors.append(f"link: {target} links {dep} (only a main may)")
    return errors


def configure_graph(source, cmake):
    with tempfile.TemporaryDirectory(prefix="picket-module-rules-") as build:
        dot = os.path.join(build, "links.dot")
        cmd = [cmake, "-S", source, "-B", build, f"--graphviz={dot}",
               "-DPICKET_BUILD_TESTS=OFF", "-DPICKET_BUILD_CENTRAL=ON", "-DPICKET_STATIC=OFF"]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0 or not os.path.exists(dot):
            sys.exit(f"module rules: cmake configure failed:\n{run.stdout}\n{run.stderr}")
        return read_graphviz(dot)


# --- the sources ----------------------------------------------------------------------------

def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def check_sources(files, modules):
    """files: {path relative to the source root: text}; modules: the folder names under src/."""
    errors = []
    for path, text in sorted(files.items()):
        parts = path.split("/")
        if parts[0] == "include":
            code = strip_comments(text)
            for m in C_HANDLE_TYPES.finditer(code):
                errors.append(f"include: {path} names the C handle type {m.group(1)}")
            for m in C_LIBRARY_HEADERS.finditer(code):
                errors.append(f"include: {path} includes the C library header {m.group(1)}")
        elif parts[0] == "src" and len(parts) > 2:
            own = parts[1]
            for inc in INCLUDE_LINE.findall(text):
                head = inc.split("/")[0]
                if ".." in inc.split("/"):
                    errors.append(f"private: {path} includes {inc} by a relative path")
                elif "/" in inc and head in modules and head != own:
                    errors.append(f"private: {path} includes {inc}, a private header of {head}")
    return errors


def check_test_names(files):
    errors = []
    for path, text in sorted(files.items()):
        for name in TEST_NAME.findall(text):
            if ";" in name:
                errors.append(f"test name: {path}: \"{name}\" holds ';'")
    return errors


def read_tests(source):
    files = {}
    for root, _, names in os.walk(os.path.join(source, "tests")):
        for name in names:
            if name.endswith(".cc"):
                full = os.path.join(root, name)
                with open(full, errors="replace") as f:
                    files[os.path.relpath(full, source)] = f.read()
    return files


def read_sources(source):
    files = {}
    for top in ("include", "src"):
        for root, _, names in os.walk(os.path.join(source, top)):
            for name in names:
                if name.endswith((".h", ".cc", ".hpp", ".cpp")):
                    full = os.path.join(root, name)
                    with open(full, errors="replace") as f:
                        files[os.path.relpath(full, source)] = f.read()
    # "picket/..." is the public include root, not the central main's folder.
    modules = {d for d in os.listdir(os.path.join(source, "src"))
               if os.path.isdir(os.path.join(source, "src", d))} - {"picket"}
    return files, modules


# --- self-test: each rule fails on a violation ---------------------------------------------

def self_test():
    clean = {"picketd": {"picket_supervisor", "picket_worker"}, "picket": {"picket_cli"},
             "picket_supervisor": {"picket_zk"}, "picket_worker": {"picket_capture"},
             "picket_cli": {"picket_collector", "picket_sync"}, "picket_zk": set(),
             "picket_capture": set(), "picket_collector": set(), "picket_sync": {"dep::mariadb"},
             "dep::mariadb": set()}
    cases = {
        "picketd reaches a central module": (
            {**clean, "picket_zk": {"picket_collector"}}, "links the central module"),
        "picketd reaches the MariaDB client": (
            {**clean, "picket_worker": {"picket_capture", "dep::mariadb"}}, "central library"),
        "a module links the supervisor": (
            {**clean, "picket_sync": {"picket_supervisor"}}, "links picket_supervisor"),
        "a module links a main": ({**clean, "picket_cli": {"picketd"}}, "links picketd"),
    }
    failures = []
    if check_graph(clean):
        failures.append(f"clean graph flagged: {check_graph(clean)}")
    for name, (graph, expect) in cases.items():
        if not any(expect in e for e in check_graph(graph)):
            failures.append(f"not caught: {name}")
    modules = {"cli", "sync", "zk"}
    source_cases = {
        "a private header of another module": (
            {"src/cli/a.cc": '#include "sync/mariadb_connection.h"\n'}, "private header of sync"),
        "a relative include": ({"src/cli/a.cc": '#include "../sync/x.h"\n'}, "relative path"),
        "a C handle in include/": (
            {"include/picket/zk/a.h": "zhandle_t* handle_;\n"}, "C handle type zhandle_t"),
        "a libuv type in include/": (
            {"include/picket/upload/a.h": "void Run(uv_loop_t* loop);\n"}, "uv_loop_t"),
        "a C header in include/": ({"include/picket/x/a.h": "#include <sqlite3.h>\n"}, "sqlite3.h"),
        "an nDPI header in include/": (
            {"include/picket/analysis/a.h": "#include <ndpi/ndpi_api.h>\n"}, "ndpi/"),
        "an nDPI handle in include/": (
            {"include/picket/analysis/a.h": "ndpi_flow_struct* flow;\n"}, "ndpi_flow_struct"),
    }
    ok_sources = {"src/cli/a.cc": '#include "cli/b.h"\n#include "picket/sync/db_url.h"\n',
                  "include/picket/zk/a.h": "// wraps the zhandle_t of the C client\n"}
    if check_sources(ok_sources, modules):
        failures.append(f"clean sources flagged: {check_sources(ok_sources, modules)}")
    for name, (files, expect) in source_cases.items():
        if not any(expect in e for e in check_sources(files, modules)):
            failures.append(f"not caught: {name}")
    if not check_test_names({"t.cc": 'TEST_CASE("a; b") {}'}):
        failures.append("not caught: a test name with ';'")
    if check_test_names({"t.cc": 'TEST_CASE("a, b") {}'}):
        failures.append("clean test name flagged")
    for f in failures:
        print(f"module rules self-test: {f}")
    total = 4 + len(cases) + len(source_cases)
    print(f"{total - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", help="picket's source directory")
    ap.add_argument("--cmake", default="cmake")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    if not args.source:
        ap.error("--source is required")
    graph = configure_graph(args.source, args.cmake)
    files, modules = read_sources(args.source)
    errors = check_graph(graph) + check_sources(files, modules) + check_test_names(read_tests(args.source))
    for e in errors:
        print(f"module rule broken: {e}")
    if EDGE_MAIN not in graph or "picket" not in graph:
        errors.append("the link graph has no picketd or picket target")
        print("module rules: the link graph has no picketd or picket target")
    linked = sorted(d for d in closure(graph, EDGE_MAIN) if d.startswith("picket_"))
    print(f"picketd links: {' '.join(linked)}")
    print(f"checked {len(graph)} targets and {len(files)} source files: {len(errors)} violation(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
