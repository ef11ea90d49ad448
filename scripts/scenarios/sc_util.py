"""Small helpers for lib.sh.

  sc_util.py now                 CLOCK_MONOTONIC in ns (the clock of dblat and the app's wait log)
  sc_util.py cpu UID PID         "ticks_of_UID's_processes ticks_of_PID" (utime+stime)
"""
import os
import sys
import time


def proc_ticks(pid):
    with open("/proc/%s/stat" % pid) as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def cpu(uid, app_pid):
    pg = app = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            owner = os.stat("/proc/" + name).st_uid
            ticks = proc_ticks(name)
        except (OSError, ValueError, IndexError):
            continue
        if owner == uid:
            pg += ticks
        if int(name) == app_pid:
            app = ticks
    return pg, app


def main(argv):
    if argv[:1] == ["now"]:
        print(time.monotonic_ns())
    elif argv[:1] == ["cpu"] and len(argv) == 3:
        print("%d %d" % cpu(int(argv[1]), int(argv[2])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
