"""DICOMweb for the lab tools, the tests and the benchmarks: dicomweb-client and pydicom.

* :class:`DicomWeb` - dicomweb-client's ``DICOMwebClient`` with Basic credentials, a certificate
  choice that holds even with ``REQUESTS_CA_BUNDLE`` in the environment, and no retries by default
  (a check or a load counts every failure). STOW-RS (``store_instances``), QIDO-RS
  (``search_for_*``), WADO-RS (``retrieve_*``) are dicomweb-client's own methods; a few helpers
  on top: :meth:`DicomWeb.store`, :meth:`DicomWeb.instance_bytes`.
* :func:`stow_body` - one multipart/related STOW-RS body, for clients that post it themselves
  (the benchmarks' keep-alive clients).
* :func:`acknowledged` / :func:`failed` - the SOP Instance UIDs a STOW-RS answer lists in
  ReferencedSOPSequence (0008,1199) / FailedSOPSequence (0008,1198).
* :func:`stow_parallel` - the one STOW-RS worker pool (bench/httpbench.py, labkit.stow): prepared
  bodies over a few keep-alive clients, bounded in time, every failure recorded, none retried.
"""
import http.client
import io
import json
import threading
import time
import uuid

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient

STOW_PART = "application/dicom"
WADO_INSTANCE = 'multipart/related; type="application/dicom"; transfer-syntax=*'


class _Session(requests.Session):
    """A session whose ``verify`` goes on every request: requests lets REQUESTS_CA_BUNDLE in the
    environment win over a session-level ``verify`` (a CA path, or False for a self-signed lab)."""

    def __init__(self, verify=True):
        super().__init__()
        self.medimg_verify = verify

    def request(self, method, url, *args, **kwargs):  # pylint: disable=arguments-differ
        if kwargs.get("verify") is None:
            kwargs["verify"] = self.medimg_verify
        return super().request(method, url, *args, **kwargs)


def session(user=None, password=None, verify=True):
    """A requests session with Basic credentials and ``verify`` applied to every request."""
    s = _Session(verify)
    if user is not None:
        s.auth = (user, password or "")
    if verify is False:
        import urllib3

        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    return s


class DicomWeb(DICOMwebClient):
    """dicomweb-client for one DICOMweb root (``https://host/dicom-web``)."""

    def __init__(self, url, user=None, password=None, verify=True, timeout=30, retry=False, http=None):
        super().__init__(url.rstrip("/"), session=http or session(user, password, verify), timeout=timeout,
                         chunk_size=1 << 30)  # one body per request, never chunked transfer encoding
        if not retry:
            self.set_http_retry_params(retry=False)

    @property
    def http(self):
        """The requests session (for the server's own REST API next to DICOMweb)."""
        return self._session

    def store(self, instances):
        """STOW-RS ``instances`` (pydicom data sets or Part-10 bytes, sent as they are);
        returns (acknowledged SOP UIDs, failed SOP UIDs, the answer data set)."""
        datasets = [pydicom.dcmread(io.BytesIO(i)) if isinstance(i, bytes) else i for i in instances]
        answer = self.store_instances(datasets)
        return acknowledged(answer), failed(answer), answer

    def instance_bytes(self, study, series, sop):
        """WADO-RS of one instance, as the Part-10 bytes pydicom reads from the answer's part."""
        ds = self.retrieve_instance(study, series, sop, media_types=((STOW_PART, "*"),))
        buf = io.BytesIO()
        pydicom.dcmwrite(buf, ds)  # pydicom writes a file it read back unchanged
        return buf.getvalue()

    def find_instance(self, sop):
        """QIDO-RS by SOPInstanceUID: [DICOM JSON of each match]."""
        return self.search_for_instances(search_filters={"SOPInstanceUID": sop})


def stow_body(parts):
    """(content type, body): one multipart/related STOW-RS body of Part-10 ``parts`` (bytes),
    encoded by dicomweb-client (the encoder its ``store_instances`` uses; pinned in requirements.txt)."""
    content_type = 'multipart/related; type="%s"; boundary=medimg-%s' % (STOW_PART, uuid.uuid4().hex)
    # pylint: disable-next=protected-access
    return content_type, DICOMwebClient._encode_multipart_message(list(parts), content_type)


def _uids(answer, keyword):
    if isinstance(answer, (bytes, str)):
        answer = pydicom.Dataset.from_json(answer.decode() if isinstance(answer, bytes) else answer)
    elif isinstance(answer, dict):
        answer = pydicom.Dataset.from_json(answer)
    return [str(item.ReferencedSOPInstanceUID) for item in answer.get(keyword, [])
            if "ReferencedSOPInstanceUID" in item]


def acknowledged(answer):
    """SOP Instance UIDs of a STOW-RS answer's ReferencedSOPSequence (data set, DICOM JSON or its bytes)."""
    return _uids(answer, "ReferencedSOPSequence")


def failed(answer):
    """SOP Instance UIDs of a STOW-RS answer's FailedSOPSequence."""
    return _uids(answer, "FailedSOPSequence")


def stow_parallel(clients, bodies, time_limit=120.0, stop=None, pace=0.0, pause_after_error=0.0,
                  path="/dicom-web/studies"):
    """POST ``bodies`` [(content type, body)] (:func:`stow_body`) to ``path``, each of ``clients``
    (keep-alive clients with ``request()`` and ``close()``, :class:`medimg_lab.keepalive.Http`) in
    its own thread, until the bodies or ``time_limit`` run out or ``stop`` (an Event) is set.

    Returns (acknowledged SOP UIDs, elapsed seconds, errors). A SOP counts as acknowledged only when
    the answer lists it in ReferencedSOPSequence. Failures (a connection lost while the server is
    killed, an HTTP error) are recorded, never retried here. ``pace``: seconds each client waits
    between requests (spreads an import over a disruption).
    """
    queue = list(bodies)
    lock = threading.Lock()
    acked, errors = [], []
    deadline = time.time() + time_limit

    def error(text):
        with lock:
            errors.append(text)
        if pause_after_error:
            time.sleep(pause_after_error)

    def worker(client):
        while time.time() < deadline and not (stop and stop.is_set()):
            with lock:
                if not queue:
                    return
                content_type, body = queue.pop(0)
            try:
                status, payload = client.request("POST", path, body=body, attempts=1,
                                                 headers={"Content-Type": content_type,
                                                          "Accept": "application/dicom+json"})
            except (OSError, http.client.HTTPException) as exc:
                client.close()
                error(repr(exc))
                continue
            if status != 200:
                error("HTTP %d" % status)
                continue
            try:
                ok = acknowledged(json.loads(payload.decode()))
            except (ValueError, TypeError):
                error("unparseable STOW answer")
                continue
            with lock:
                acked.extend(ok)
            if pace:
                time.sleep(pace)

    started = time.time()
    threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(time_limit + 150)
    return acked, time.time() - started, errors
