"""DIMSE clients (pynetdicom): C-STORE and C-ECHO, bounded in time."""
import time

from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # pylint: disable=no-name-in-module

SUCCESS_OR_WARNING = (0x0000, 0xB000, 0xB007, 0xB006)


def _ae(calling_aet, timeout):
    ae = AE(ae_title=calling_aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    return ae


def associate(ae, host, port, called_aet, timeout=0):
    """An established association, retried every 2 s until ``timeout`` (0: one attempt)."""
    deadline = time.time() + timeout
    while True:
        assoc = ae.associate(host, port, ae_title=called_aet)
        if assoc.is_established:
            return assoc
        if time.time() >= deadline:
            raise RuntimeError("no DICOM association with %s at %s:%d" % (called_aet, host, port))
        time.sleep(2)


def cstore(datasets, host, port, called_aet, calling_aet="MEDIMG_DEMO", timeout=30):
    """C-STORE datasets to host:port, retrying the association until ``timeout``; returns the count."""
    ae = _ae(calling_aet, 30)
    for sop_class in sorted({str(ds.SOPClassUID) for ds in datasets}):
        ae.add_requested_context(sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    assoc = associate(ae, host, port, called_aet, timeout)
    stored = 0
    try:
        for ds in datasets:
            status = assoc.send_c_store(ds)
            if not status or status.Status not in SUCCESS_OR_WARNING:
                raise RuntimeError("C-STORE of %s failed: %r" % (ds.SOPInstanceUID, status))
            stored += 1
    finally:
        assoc.release()
    return stored


def echo(host, port, called_aet, calling_aet="MEDIMG_VERIFY", timeout=30):
    """C-ECHO; returns the status (0x0000) or raises RuntimeError."""
    ae = _ae(calling_aet, timeout)
    ae.add_requested_context(Verification)
    assoc = associate(ae, host, port, called_aet)
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    if not status or status.Status != 0x0000:
        raise RuntimeError("C-ECHO to %s@%s:%s returned %s" % (called_aet, host, port, status))
    return status.Status
