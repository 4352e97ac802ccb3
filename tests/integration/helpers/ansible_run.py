# -*- coding: utf-8 -*-
"""Run medimg.pacs modules through ansible-playbook (JSON callback) from the repository root."""
from __future__ import absolute_import, division, print_function

import json
import os
import subprocess
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _ansible_playbook():
    candidate = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
    return candidate if os.path.exists(candidate) else 'ansible-playbook'


class ModuleRun:
    def __init__(self, result, stdout, stderr, rc):
        self.result = result
        self.stdout = stdout
        self.stderr = stderr
        self.rc = rc

    @property
    def output(self):
        return self.stdout + self.stderr


def run_module(module, args, check_mode=False, diff=False, timeout=300):
    """Run one task ``medimg.pacs.<module>`` with ``args`` on localhost; returns ModuleRun."""
    task = {'name': 'run %s' % module, 'medimg.pacs.%s' % module: args,
            'check_mode': bool(check_mode), 'diff': bool(diff), 'ignore_errors': True}
    play = [{'name': 'medimg.pacs integration', 'hosts': 'localhost', 'gather_facts': False,
             'connection': 'local', 'tasks': [task]}]
    env = dict(os.environ)
    env.update({
        'ANSIBLE_STDOUT_CALLBACK': 'json',
        'ANSIBLE_CALLBACK_RESULT_FORMAT': 'json',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_FORCE_COLOR': '0',
        'ANSIBLE_RETRY_FILES_ENABLED': '0',
        'ANSIBLE_PYTHON_INTERPRETER': sys.executable,
        'ANSIBLE_LOCALHOST_WARNING': '0',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': '0',
        'ANSIBLE_DEPRECATION_WARNINGS': '0',
    })
    with tempfile.NamedTemporaryFile('w', suffix='.yml', delete=False) as handle:
        json.dump(play, handle)  # JSON is YAML
        playbook = handle.name
    try:
        proc = subprocess.run([_ansible_playbook(), '-i', 'localhost,', playbook], cwd=REPO_ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, check=False)
    finally:
        os.unlink(playbook)
    stdout = proc.stdout.decode('utf-8', 'replace')
    stderr = proc.stderr.decode('utf-8', 'replace')
    # the JSON report starts with a line "{"; other callbacks (profile_tasks) may print around it
    start = 0 if stdout.startswith('{') else stdout.find('\n{') + 1
    try:
        report, _end = json.JSONDecoder().raw_decode(stdout[start:])
        result = report['plays'][0]['tasks'][0]['hosts']['localhost']
    except (ValueError, KeyError, IndexError):
        raise AssertionError('ansible-playbook gave no JSON result (rc=%s)\nstdout:\n%s\nstderr:\n%s'
                             % (proc.returncode, stdout, stderr))
    return ModuleRun(result, stdout, stderr, proc.returncode)
