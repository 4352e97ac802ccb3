# -*- coding: utf-8 -*-
# Copyright: medimg.pacs maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """HTTP connection options of the modules that talk to a PACS over HTTP(S).

    The matching argument spec is ``http_argument_spec()`` in
    ``plugins/module_utils/http_client.py``: ``medimg.pacs.http_api`` documents
    ``http_argument_spec()``, ``medimg.pacs.http_api`` plus ``medimg.pacs.http_api.retry``
    document ``http_argument_spec(retry=True)``. A module overrides an option (for
    example to add aliases) by documenting it again; its keys win over the fragment's.
    """

    # Authentication and TLS: every module that speaks HTTP(S) to a PACS.
    DOCUMENTATION = r"""
options:
  url_username:
    description:
      - User name for HTTP basic authentication (for example an entry of the Orthanc C(RegisteredUsers)).
      - Mutually exclusive with O(bearer_token).
    type: str
  url_password:
    description:
      - Password for HTTP basic authentication.
    type: str
  bearer_token:
    description:
      - Bearer token, sent in an C(Authorization) header of type C(Bearer) (for example an OAuth2/Keycloak
        access token for DCM4CHEE, or a token for an Orthanc behind an authorising proxy or plugin).
      - Mutually exclusive with O(url_username).
    type: str
  validate_certs:
    description:
      - Verify the server's TLS certificate (and host name) for C(https) URLs. Only set to V(false) on test
        systems.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file with the CA certificate(s) used to verify the server's TLS certificate.
    type: path
"""

    # Timeout and retries of the REST modules (the same defaults in each of them).
    RETRY = r"""
options:
  timeout:
    description:
      - Timeout in seconds of each HTTP request.
    type: int
    default: 10
  retries:
    description:
      - How many times a request is repeated after a failure that may be temporary (connection refused or
        lost, DNS failure, timeout, HTTP 408, 429, 502, 503 or 504; a C(Retry-After) header of such an answer
        replaces O(delay)). Authentication, TLS and other HTTP errors are not retried.
    type: int
    default: 0
  delay:
    description:
      - Seconds to wait between two attempts.
    type: int
    default: 3
"""
