"""Disk facts the benchmarks share: free space, and ext4's no-journal inode window."""
import os, time

# Without a journal, ext4 will not reuse an inode freed in the last 60 s (300 s while its table
# block is dirty, hence the sync) and looks each one up on every allocation in that group
# (perf: recently_deleted under openat). A run right after deleting ~10^4 files of an earlier
# run pays for it: ingest_bench measured ~30% of the collector's CPU there.
FREED_INODE_WINDOW_S = 62


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def ext4_without_journal(path):
    """True on an ext4 without a journal (/sys/fs/ext4/<dev>/journal_task reads "<none>")."""
    dev = os.stat(path).st_dev
    try:
        name = os.path.basename(os.path.realpath(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}"))
        with open(f"/sys/fs/ext4/{name}/journal_task") as f:
            return f.read().strip() == "<none>"
    except OSError:
        return False


def wait_out_freed_inodes(path, what="deleted the earlier run's files"):
    """After deleting many files under `path`: sync, and on an ext4 without a journal wait out
    the window above so that the next run does not pay for them."""
    os.sync()
    if ext4_without_journal(path):
        print(f"  {what}; waiting {FREED_INODE_WINDOW_S} s "
              "(ext4 without a journal: freed inodes cost allocations for 60 s)", flush=True)
        time.sleep(FREED_INODE_WINDOW_S)  # a kernel window with nothing to poll, not synchronisation
