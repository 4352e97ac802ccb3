"""Run ansible-playbook on the scenario's inventory and report its recap (runs on the controller).

usage: run_playbook.py PLAYBOOK [ansible-playbook arguments...]

The inventory sources come from MEDIMG_INVENTORIES (os.pathsep-separated). Prints JSON:
{"rc", "seconds", "recap": {host: {"ok", "changed", "failed", "unreachable"}}, "tail": [last lines],
"changed_tasks": [names of the tasks that reported changed]}.
"""
import json
import os
import re
import subprocess
import sys
import time

RECAP = re.compile(r'^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)')


def main():
    playbook, extra = sys.argv[1], sys.argv[2:]
    argv = ["ansible-playbook", playbook]
    for source in os.environ["MEDIMG_INVENTORIES"].split(os.pathsep):
        argv += ["-i", source]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    start = time.monotonic()
    proc = subprocess.run(argv + extra, env=env, capture_output=True, text=True,
                          timeout=int(os.environ.get("MEDIMG_PLAYBOOK_TIMEOUT", "3000")), check=False)
    seconds = round(time.monotonic() - start, 1)
    lines = proc.stdout.splitlines()
    recap, changed, task = {}, [], None
    for line in lines:
        match = RECAP.match(line)
        if match:
            recap[match.group(1)] = {"ok": int(match.group(2)), "changed": int(match.group(3)),
                                     "unreachable": int(match.group(4)), "failed": int(match.group(5))}
        if line.startswith("TASK ["):
            task = line[6:].split("]")[0]
        if line.startswith("changed:") and task:
            changed.append(task)
    json.dump({"rc": proc.returncode, "seconds": seconds, "recap": recap, "changed_tasks": changed,
               "tail": lines[-60:] + proc.stderr.splitlines()[-20:]}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
