#!/usr/bin/env python3
"""What each library costs in a static picketd: relinks the binary of a static build tree with a
linker map (the same command CMake used, unstripped, into a temp dir) and sums the bytes of the
input sections the linker kept, per archive. Debug, note and zero-fill (.bss) sections are not
counted: the total is what the stripped file holds, give or take headers and alignment.

usage: cross/size_report.py BUILD_DIR [--top N]     e.g. cross/size_report.py build/static-aarch64
Prints a table (bytes, share, archive) and the stripped binary's size; exit 2 on a bad tree."""
import collections, os, re, shlex, subprocess, sys, tempfile

SKIPPED = (".debug", ".comment", ".note", ".bss", ".tbss", ".gnu.warning")
# One input section: " .text.name  0xADDR  0xSIZE  archive(member)" or the same on two lines
# when the section name is long.
ONE_LINE = re.compile(r"^ (\.\S+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S.*)$")
NAME_ONLY = re.compile(r"^ (\.\S+)$")
REST = re.compile(r"^\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S.*)$")


def owner(source):
    """The archive an input section came from (its file name), or the object's own name."""
    archive = re.sub(r"\(.*\)$", "", source.strip())
    name = os.path.basename(archive)
    return name if name.endswith(".a") else "objects: " + name


def kept_bytes(map_text):
    sizes = collections.Counter()
    body = map_text[map_text.index("Linker script and memory map"):]
    pending = None
    for line in body.splitlines():
        if pending:
            m = REST.match(line)
            section, pending = pending, None
            if not m:
                continue
            size, source = int(m.group(1), 16), m.group(2)
        else:
            m = ONE_LINE.match(line)
            if not m:
                n = NAME_ONLY.match(line)
                pending = n.group(1) if n else None
                continue
            section, size, source = m.group(1), int(m.group(2), 16), m.group(3)
        if size and not section.startswith(SKIPPED):
            sizes[owner(source)] += size
    return sizes


def main():
    args = sys.argv[1:]
    top = 25
    if "--top" in args:
        i = args.index("--top")
        top = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 1:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    build = os.path.abspath(args[0])
    link_dir = os.path.join(build, "src", "picketd")
    link_txt = os.path.join(link_dir, "CMakeFiles", "picketd.dir", "link.txt")
    binary = os.path.join(build, "bin", "picketd")
    if not os.path.exists(link_txt) or not os.path.exists(binary):
        print(f"size_report: {build} holds no built picketd (no {link_txt} or {binary})",
              file=sys.stderr)
        return 2
    argv = shlex.split(open(link_txt).read())
    out = argv.index("-o")
    with tempfile.TemporaryDirectory(prefix="picket-size-") as tmp:
        relinked, map_path = os.path.join(tmp, "picketd"), os.path.join(tmp, "picketd.map")
        argv[out + 1] = relinked
        argv = [a for a in argv if a != "-s"] + [f"-Wl,-Map={map_path}"]
        r = subprocess.run(argv, cwd=link_dir, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"size_report: relink failed:\n{r.stderr[-2000:]}", file=sys.stderr)
            return 1
        sizes = kept_bytes(open(map_path).read())
    total = sum(sizes.values())
    print(f"picketd in {build}: {os.path.getsize(binary):,} B on disk (stripped)")
    print(f"{'bytes':>11}  {'share':>6}  library")
    for name, size in sizes.most_common(top):
        print(f"{size:>11,}  {100 * size / total:5.1f}%  {name}")
    rest = total - sum(s for _, s in sizes.most_common(top))
    if rest:
        print(f"{rest:>11,}  {100 * rest / total:5.1f}%  ({len(sizes) - top} more)")
    print(f"{total:>11,}  100.0%  kept sections in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
