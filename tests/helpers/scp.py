# -*- coding: utf-8 -*-
"""A real DICOM peer for tests: pynetdicom Verification + Storage SCP on loopback."""
from __future__ import absolute_import, division, print_function

import logging
import threading
import time

from .loopback import free_port


class StorageScp:
    def __init__(self, aet='TESTSCP'):
        from pynetdicom import AE, AllStoragePresentationContexts, evt
        from pynetdicom.sop_class import Verification

        logging.getLogger('pynetdicom').setLevel(logging.WARNING)
        self.aet = aet
        self.port = free_port()
        self.received = []
        self.echoes = []
        self._lock = threading.Lock()
        self.ae = AE(ae_title=aet)
        self.ae.supported_contexts = AllStoragePresentationContexts
        self.ae.add_supported_context(Verification)
        handlers = [(evt.EVT_C_STORE, self._on_store), (evt.EVT_C_ECHO, self._on_echo)]
        self.server = self.ae.start_server(('127.0.0.1', self.port), block=False, evt_handlers=handlers)

    def _on_store(self, event):
        dataset = event.dataset
        dataset.file_meta = event.file_meta
        with self._lock:
            self.received.append(dataset)
        return 0x0000

    def _on_echo(self, event):
        with self._lock:
            self.echoes.append(event.assoc.requestor.ae_title)
        return 0x0000

    def wait_for(self, predicate, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self._lock:
                if predicate(self):
                    return True
            time.sleep(0.1)
        return False

    def stop(self):
        self.server.shutdown()
