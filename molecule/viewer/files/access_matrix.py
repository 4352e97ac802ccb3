"""Role x method x path checks against a deployed front door or Orthanc (standard library only).

Reads a JSON document on standard input (so no password is on a command line or in an
environment):

    {"base_url": "https://10.0.0.2", "timeout": 20,
     "checks": [{"who": "viewer", "user": "viewer", "password": "...", "method": "DELETE",
                 "path": "/dicom-web/studies/1.2.3", "expect": 403, "body": "", "content_type": ""}]}

``user`` null: anonymous. Prints one JSON list: for each check who, method, path, expect, status,
ok. Exits 0 when every check got its expected status, 1 otherwise. TLS certificates are not
verified (the lab front door is self-signed); every request is bounded by the timeout.
"""
import base64
import json
import ssl
import sys
import urllib.error
import urllib.request


def run(spec):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))
    results = []
    for check in spec['checks']:
        body = check.get('body')
        data = body.encode() if isinstance(body, str) and (body or check['method'] in ('POST', 'PUT')) else None
        req = urllib.request.Request(spec['base_url'].rstrip('/') + check['path'], data=data,
                                     method=check['method'])
        if check.get('user'):
            token = base64.b64encode(('%s:%s' % (check['user'], check['password'])).encode()).decode()
            req.add_header('Authorization', 'Basic ' + token)
        if check.get('content_type'):
            req.add_header('Content-Type', check['content_type'])
        for key, value in (check.get('headers') or {}).items():
            req.add_header(key, value)
        try:
            with opener.open(req, timeout=spec.get('timeout', 20)) as resp:
                status = resp.status
                resp.read()
        except urllib.error.HTTPError as err:
            status = err.code
        except (urllib.error.URLError, OSError) as err:
            status = 'error: %s' % err
        results.append({'who': check['who'], 'method': check['method'], 'path': check['path'],
                        'expect': check['expect'], 'status': status, 'ok': status == check['expect']})
    return results


def main():
    results = run(json.load(sys.stdin))
    print(json.dumps(results))
    return 0 if all(r['ok'] for r in results) else 1


if __name__ == '__main__':
    sys.exit(main())
