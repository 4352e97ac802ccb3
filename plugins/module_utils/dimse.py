# -*- coding: utf-8 -*-
# Copyright: medimg.pacs maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DICOM network (DIMSE) helpers: C-ECHO through pynetdicom with classified failures."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import logging
import socket
import ssl
import time
import traceback

try:
    from pynetdicom import AE
    from pynetdicom import __version__ as PYNETDICOM_VERSION
    try:
        from pynetdicom.sop_class import Verification as VERIFICATION_SOP_CLASS
    except ImportError:  # pynetdicom < 2
        from pynetdicom.sop_class import VerificationSOPClass as VERIFICATION_SOP_CLASS
    HAS_PYNETDICOM = True
    PYNETDICOM_IMPORT_ERROR = None
except ImportError:
    AE = None
    PYNETDICOM_VERSION = None
    VERIFICATION_SOP_CLASS = None
    HAS_PYNETDICOM = False
    PYNETDICOM_IMPORT_ERROR = traceback.format_exc()

INSTALL_HINT = ('install it on the host that runs this task, for example with "python3 -m pip install pynetdicom" '
                'or the python3-pynetdicom distribution package, or delegate the task to a host that has it')


class DimseError(Exception):
    def __init__(self, kind, message):
        super(DimseError, self).__init__(message)
        self.kind = kind
        self.message = message


RETRYABLE = frozenset(['connection_refused', 'timeout', 'dns', 'connection'])


def quiet_pynetdicom():
    """Keep pynetdicom's log lines out of the module output."""
    logger = logging.getLogger('pynetdicom')
    logger.handlers = [logging.NullHandler()]
    logger.propagate = False
    logger.setLevel(logging.CRITICAL)


def check_tcp(host, port, timeout):
    """Open and close a TCP connection, raising a classified DimseError on failure."""
    where = '%s:%s' % (host, port)
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.close()
    except socket.gaierror as exc:
        raise DimseError('dns', 'Cannot resolve the host name %r (DNS lookup failed: %s)'
                         % (host, exc.strerror or exc))
    except ConnectionRefusedError:
        raise DimseError('connection_refused', 'Connection refused by %s: no DICOM service is listening on that '
                                               'port (is it running, are host and port right?)' % where)
    except (socket.timeout, TimeoutError):
        raise DimseError('timeout', 'No answer from %s within %s seconds (timeout); host down or port filtered'
                         % (where, timeout))
    except OSError as exc:
        raise DimseError('connection', 'Cannot connect to %s: %s' % (where, exc.strerror or exc))


def make_tls_context(ca_cert=None, client_cert=None, client_key=None, verify=True):
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_cert)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert:
        context.load_cert_chain(client_cert, client_key)
    return context


def c_echo_once(host, port, calling_aet, called_aet, timeout=10, tls_context=None, server_hostname=None):
    """One C-ECHO. Returns a result dict, raises DimseError on failure."""
    if not HAS_PYNETDICOM:
        raise DimseError('missing_library', 'pynetdicom is required for C-ECHO; ' + INSTALL_HINT)
    quiet_pynetdicom()
    check_tcp(host, port, timeout)
    ae = AE(ae_title=calling_aet)
    ae.add_requested_context(VERIFICATION_SOP_CLASS)
    ae.acse_timeout = timeout
    ae.dimse_timeout = timeout
    ae.network_timeout = timeout
    kwargs = {'ae_title': called_aet}
    if tls_context is not None:
        kwargs['tls_args'] = (tls_context, server_hostname or host)
    started = time.time()
    assoc = ae.associate(host, int(port), **kwargs)
    where = '%s:%s' % (host, port)
    try:
        if not assoc.is_established:
            if assoc.is_rejected:
                raise DimseError(
                    'association_rejected',
                    'The DICOM peer %s (%s) rejected the association from %s: check called_aet, and that the '
                    'peer knows calling_aet %r' % (called_aet, where, calling_aet, calling_aet))
            if assoc.is_aborted:
                raise DimseError('association_aborted', 'The DICOM peer at %s aborted the association%s'
                                 % (where, ' (TLS handshake failed?)' if tls_context is not None else
                                    ' (is it a DICOM TLS port?)'))
            raise DimseError('association_failed', 'No DICOM association could be established with %s%s'
                             % (where, ' over TLS: check ca_cert, the client certificate and the peer name'
                                if tls_context is not None else ': is it a DICOM port (TLS-only?)'))
        status = assoc.send_c_echo()
        rtt_ms = int(round((time.time() - started) * 1000))
        if status is None or 'Status' not in status:
            raise DimseError('no_response', 'The DICOM peer at %s sent no C-ECHO response (timeout %ss)'
                             % (where, timeout))
        code = int(status.Status)
        if code != 0x0000:
            raise DimseError('echo_failed', 'C-ECHO to %s answered with status 0x%04X' % (where, code))
        return {'status': 'Success', 'status_code': code, 'rtt_ms': rtt_ms}
    finally:
        if assoc.is_established:
            assoc.release()
        ae.shutdown()


def c_echo(host, port, calling_aet, called_aet, timeout=10, retries=0, delay=3, tls_context=None,
           server_hostname=None):
    attempts = 1 + max(0, retries)
    for attempt in range(1, attempts + 1):
        try:
            result = c_echo_once(host, port, calling_aet, called_aet, timeout, tls_context, server_hostname)
            result['attempts'] = attempt
            return result
        except DimseError as exc:
            if exc.kind not in RETRYABLE or attempt == attempts:
                if attempts > 1 and exc.kind in RETRYABLE:
                    exc.message = '%s (after %d attempts)' % (exc.message, attempts)
                raise
            time.sleep(delay)
    raise DimseError('internal', 'unreachable')  # pragma: no cover
