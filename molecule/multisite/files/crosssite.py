"""Cross-site checks of the multisite scenario, from the controller against its own containers.

  1. store a new study on site A (node A1), send it to site B by AE title
     (POST /modalities/<site_b>/store on site A), find it at site B with QIDO-RS;
  2. the other way round: store on site B, send to site A, find it on site A's *other* node
     (A2: the two nodes share one PostgreSQL index and storage);
  3. site A knows site B as an Orthanc peer and as a DICOMweb server (QIDO-RS through it);
  4. site A sends studies to site B through the peer and through the DICOMweb server (STOW-RS):
     both are HTTPS to site B's front door, verified against the deployment CA, with site A's
     peering account there; that account may read and store but not administer (403).
Passwords come from SITE_A_PASSWORD / SITE_B_PASSWORD. Prints one JSON object; exits non-zero
with a message at the first failure. Every wait is bounded.
Runs on the controller; QIDO-RS with medimg_lab.dicomweb (dicomweb-client), studies made with
medimg_lab.samples (pydicom); Orthanc's own REST API (upload, modalities, peers) with requests.
"""
import argparse
import json
import os
import sys
import time

import requests

from medimg_lab.dicomweb import DicomWeb, session as dicomweb_session
from medimg_lab.samples import part10, testdata, with_new_uids

TIMEOUT = 30


def fail(message):
    sys.exit("crosssite: FAIL: " + message)


def session(user, env):
    return dicomweb_session(user, os.environ[env])


def new_study(tag):
    ds = with_new_uids(testdata("CT_small.dcm"), "MEDIMG-XSITE-" + tag)
    return ds.StudyInstanceUID, part10(ds)


def upload(s, url, payload):
    resp = s.post(url + "/instances", data=payload, headers={"Content-Type": "application/dicom"}, timeout=TIMEOUT)
    if resp.status_code != 200:
        fail("upload to %s -> HTTP %s %s" % (url, resp.status_code, resp.text[:300]))
    return resp.json()["ParentStudy"]


def send(s, url, modality, orthanc_study):
    resp = s.post(url + "/modalities/%s/store" % modality,
                  json={"Resources": [orthanc_study], "Synchronous": True}, timeout=120)
    if resp.status_code != 200:
        fail("POST %s/modalities/%s/store -> HTTP %s %s" % (url, modality, resp.status_code, resp.text[:300]))
    return resp.json()


def qido(s, url, study_uid, attempts=15):
    client = DicomWeb(url + "/dicom-web", http=s, timeout=TIMEOUT)
    for attempt in range(attempts):
        if attempt:
            time.sleep(1)
        try:
            if len(client.search_for_studies(search_filters={"StudyInstanceUID": study_uid})) == 1:
                return True
        except requests.HTTPError:
            pass
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a-url", required=True, help="Orthanc REST root of site A node 1")
    ap.add_argument("--a2-url", required=True, help="Orthanc REST root of site A node 2")
    ap.add_argument("--a-user", required=True)
    ap.add_argument("--b-url", required=True)
    ap.add_argument("--b-user", required=True)
    ap.add_argument("--a-name", required=True, help="site A's name (its modality name at site B)")
    ap.add_argument("--b-name", required=True)
    ap.add_argument("--b-front-url", required=True, help="site B's front door (https://...)")
    ap.add_argument("--b-peer-user", required=True, help="site A's peering account at site B")
    ap.add_argument("--ca", required=True, help="the deployment CA (PEM) the front door's certificate chains to")
    args = ap.parse_args()
    sa, sb = session(args.a_user, "SITE_A_PASSWORD"), session(args.b_user, "SITE_B_PASSWORD")
    result = {}

    uid, payload = new_study("A")
    job = send(sa, args.a_url, args.b_name, upload(sa, args.a_url, payload))
    if not qido(sb, args.b_url, uid):
        fail("study %s sent from site A to %s (%s) is not found at site B" % (uid, args.b_name, job))
    result["a_to_b"] = {"study": uid, "found_at_b": True, "job": job}

    uid, payload = new_study("B")
    send(sb, args.b_url, args.a_name, upload(sb, args.b_url, payload))
    if not qido(sa, args.a2_url, uid):
        fail("study %s sent from site B to %s is not found on site A's second node" % (uid, args.a_name))
    result["b_to_a"] = {"study": uid, "found_at_a_second_node": True}

    peers = sa.get(args.a_url + "/peers", timeout=TIMEOUT).json()
    if args.b_name not in peers:
        fail("site A's peers %s do not include %s" % (peers, args.b_name))
    servers = sa.get(args.a_url + "/dicom-web/servers", timeout=TIMEOUT).json()
    if args.b_name not in servers:
        fail("site A's DICOMweb servers %s do not include %s" % (servers, args.b_name))
    resp = sa.post(args.a_url + "/dicom-web/servers/%s/qido" % args.b_name,
                   json={"Uri": "/studies", "Arguments": {"StudyInstanceUID": result["a_to_b"]["study"]}},
                   timeout=TIMEOUT)
    if resp.status_code != 200 or len(resp.json()) != 1:
        fail("QIDO-RS through DICOMweb server %s -> HTTP %s %s" % (args.b_name, resp.status_code, resp.text[:300]))
    result["peers"] = peers
    result["dicomweb_servers"] = servers
    result["qido_via_dicomweb_server"] = len(resp.json())

    # 4. HTTPS between the sites, with the peering account
    uid, payload = new_study("PEER")
    study = upload(sa, args.a_url, payload)
    resp = sa.post(args.a_url + "/peers/%s/store" % args.b_name, json={"Resources": [study], "Synchronous": True},
                   timeout=120)
    if resp.status_code != 200:
        fail("POST /peers/%s/store -> HTTP %s %s" % (args.b_name, resp.status_code, resp.text[:300]))
    if not qido(sb, args.b_url, uid):
        fail("study %s sent through the HTTPS peer %s is not found at site B" % (uid, args.b_name))
    result["peer_store_https"] = {"study": uid, "found_at_b": True}
    uid, payload = new_study("STOW")
    study = upload(sa, args.a_url, payload)
    resp = sa.post(args.a_url + "/dicom-web/servers/%s/stow" % args.b_name,
                   json={"Resources": [study], "Synchronous": True}, timeout=120)
    if resp.status_code != 200:
        fail("POST /dicom-web/servers/%s/stow -> HTTP %s %s" % (args.b_name, resp.status_code, resp.text[:300]))
    if not qido(sb, args.b_url, uid):
        fail("study %s sent with STOW-RS through DICOMweb server %s is not found at site B" % (uid, args.b_name))
    result["dicomweb_stow_https"] = {"study": uid, "found_at_b": True}
    peer = requests.Session()
    peer.auth = (args.b_peer_user, os.environ["SITE_A_PEER_PASSWORD"])
    front = args.b_front_url.rstrip("/")
    expected = [("GET", "/dicom-web/studies?StudyInstanceUID=" + uid, 200), ("GET", "/orthanc/system", 403),
                ("GET", "/orthanc/studies", 403), ("DELETE", "/orthanc/studies/" + study, 403),
                ("GET", "/dicom-web/servers", 403), ("PUT", "/orthanc/modalities/elsewhere", 403)]
    seen = []
    for method, path, status in expected:
        # verify= on the request itself: a session's verify loses to REQUESTS_CA_BUNDLE in the environment
        got = peer.request(method, front + path, timeout=TIMEOUT, verify=args.ca,
                           data=b"{}" if method == "PUT" else None).status_code
        seen.append("%s %s %d" % (method, path.split("?")[0], got))
        if got != status:
            fail("site A's peering account at site B: %s %s -> HTTP %d, expected %d" % (method, path, got, status))
    try:
        requests.get(front + "/dicom-web/studies", auth=peer.auth, timeout=TIMEOUT, verify=True)
        fail("site B's front door was trusted without the deployment CA")
    except requests.exceptions.SSLError:
        pass
    result["peer_account_at_b"] = seen
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    try:
        main()
    except (requests.RequestException, ValueError, KeyError) as exc:
        fail("%s: %s" % (type(exc).__name__, exc))
