"""Patroni REST API from the controller, for molecule/ha's verify (bounded: short timeouts, no loops).

  patroni_probe.py primary --ca CA name=ip ...        names of the members answering 200 on /primary
  patroni_probe.py cluster --ca CA name=ip ...        /cluster (JSON) of the first member that answers
  patroni_probe.py switchover --ca CA --user U --password-file F --leader L --candidate C name=ip ...
                                                       POST /switchover on the leader (the login is read
                                                       from a file, never given on the command line)
Members are addressed by container IP, which their certificates (deployment CA) carry too.
"""
import argparse
import json
import ssl
import sys
import urllib.error
import urllib.request
import base64


def get(ctx, ip, path):
    with urllib.request.urlopen("https://%s:8008%s" % (ip, path), context=ctx, timeout=2) as answer:
        return answer.status, answer.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("action", choices=["primary", "cluster", "switchover"])
    ap.add_argument("--ca", required=True)
    ap.add_argument("--user")
    ap.add_argument("--password-file")
    ap.add_argument("--leader")
    ap.add_argument("--candidate")
    ap.add_argument("members", nargs="+")
    args = ap.parse_args()
    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.check_hostname = False  # the IP is in the certificate; the chain is still verified
    members = dict(m.split("=", 1) for m in args.members)
    if args.action == "primary":
        leaders = []
        for name, ip in members.items():
            try:
                get(ctx, ip, "/primary")
                leaders.append(name)
            except (urllib.error.URLError, OSError):
                pass
        print(",".join(leaders))
        return 0
    if args.action == "cluster":
        for name, ip in members.items():
            try:
                print(get(ctx, ip, "/cluster")[1].decode())
                return 0
            except (urllib.error.URLError, OSError):
                continue
        print("{}")
        return 1
    with open(args.password_file) as handle:
        password = handle.read().strip()
    body = json.dumps({"leader": args.leader, "candidate": args.candidate}).encode()
    request = urllib.request.Request("https://%s:8008/switchover" % members[args.leader], data=body, method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": "Basic "
                                              + base64.b64encode(("%s:%s" % (args.user, password)).encode()).decode()})
    try:
        with urllib.request.urlopen(request, context=ctx, timeout=60) as answer:
            print(answer.status, answer.read().decode())
            return 0
    except urllib.error.HTTPError as exc:
        print(exc.code, exc.read().decode())
        return 1


if __name__ == "__main__":
    sys.exit(main())
