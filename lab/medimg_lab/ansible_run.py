"""Run medimg.pacs modules and playbooks through real Ansible, as a user would.

From the repository root with the project's ``ansible.cfg`` (its ``collections_path`` finds the
checkout as ``medimg.pacs`` through the committed link ``.collections/ansible_collections/medimg/pacs``),
the virtualenv's ``ansible-playbook`` and the JSON callback, so every result comes back as a dict.
One runner for the integration tests, the durability test and the benchmarks.
"""
import json
import os
import subprocess
import sys
import tempfile

from medimg_lab import ROOT

BIN = os.path.dirname(sys.executable)


def executable(name):
    """``name`` from this virtualenv (next to the running Python), else from PATH."""
    candidate = os.path.join(BIN, name)
    return candidate if os.path.exists(candidate) else name


def ansible_env(extra=None):
    """The environment of an Ansible run: the project's ansible.cfg, JSON output, no colour or noise."""
    env = dict(os.environ)
    env.update({
        'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg'),
        'ANSIBLE_STDOUT_CALLBACK': 'json',
        'ANSIBLE_CALLBACK_RESULT_FORMAT': 'json',
        'ANSIBLE_LOAD_CALLBACK_PLUGINS': '1',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_FORCE_COLOR': '0',
        'ANSIBLE_RETRY_FILES_ENABLED': '0',
        'ANSIBLE_LOCALHOST_WARNING': '0',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': '0',
        'ANSIBLE_DEPRECATION_WARNINGS': '0',
        'PYTHONDONTWRITEBYTECODE': '1',
    })
    env['PATH'] = BIN + os.pathsep + env.get('PATH', '')
    env.update(extra or {})
    return env


def parse_json_output(raw):
    """The JSON callback's document from stdout (other callbacks, e.g. profile_tasks, may add lines)."""
    lines = raw.splitlines(True)
    for idx, line in enumerate(lines):
        if line.rstrip() == '{':
            try:
                doc, _end = json.JSONDecoder().raw_decode(''.join(lines[idx:]))
                return doc
            except ValueError:
                continue
    return {}


class Run:
    """One ansible-playbook run: rc, stdout, stderr, the JSON report and its task results."""

    def __init__(self, rc, stdout, stderr):
        self.rc, self.stdout, self.stderr = rc, stdout, stderr
        self.report = parse_json_output(stdout)

    @property
    def output(self):
        return self.stdout + self.stderr

    def tasks(self, host='localhost'):
        """{task name: that host's result} of the first play."""
        out = {}
        try:
            for task in self.report['plays'][0]['tasks']:
                out[task['task']['name']] = task['hosts'].get(host, {})
        except (KeyError, IndexError):
            pass
        return out

    @property
    def result(self):
        """The first task's result on localhost ({} when there is none)."""
        try:
            return self.report['plays'][0]['tasks'][0]['hosts']['localhost']
        except (KeyError, IndexError):
            return {}


def run_playbook(playbook, extra_vars=None, inventory='localhost,', check=False, diff=False, timeout=600,
                 extra_env=None, interpreter=None, extra_args=()):
    """``ansible-playbook`` from the repository root; returns :class:`Run`.

    ``interpreter``: the Python the modules run with on localhost (default: this virtualenv's).
    """
    cmd = [executable('ansible-playbook'), '-i', inventory, str(playbook),
           '-e', 'ansible_python_interpreter=%s' % (interpreter or sys.executable)]
    if extra_vars:
        cmd += ['-e', json.dumps(extra_vars)]
    if check:
        cmd.append('--check')
    if diff:
        cmd.append('--diff')
    cmd += list(extra_args)
    proc = subprocess.run(cmd, cwd=str(ROOT), env=ansible_env(extra_env), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, check=False)
    return Run(proc.returncode, proc.stdout.decode('utf-8', 'replace'), proc.stderr.decode('utf-8', 'replace'))


def run_module(module, args, check=False, diff=False, timeout=300, extra_env=None, interpreter=None,
               ignore_errors=True, check_mode=None, require_result=True):
    """Run one task ``medimg.pacs.<module>`` (or a full FQCN) with ``args`` on localhost; returns :class:`Run`.

    A failed module gives its result in ``Run.result`` either way; with ``ignore_errors`` (the
    default) ansible-playbook still exits 0, without it with 2. ``check_mode`` is ``check``.
    ``require_result``: raise AssertionError (with the output) when there is no task result.
    """
    check = check or bool(check_mode)
    fqcn = module if '.' in module else 'medimg.pacs.%s' % module
    task = {'name': 'run %s' % module, fqcn: args, 'ignore_errors': bool(ignore_errors)}
    play = [{'name': 'medimg.pacs module run', 'hosts': 'localhost', 'gather_facts': False,
             'connection': 'local', 'tasks': [task]}]
    with tempfile.NamedTemporaryFile('w', suffix='.yml', delete=False) as handle:
        json.dump(play, handle)  # JSON is YAML
        playbook = handle.name
    try:
        run = run_playbook(playbook, check=check, diff=diff, timeout=timeout, extra_env=extra_env,
                           interpreter=interpreter)
    finally:
        os.unlink(playbook)
    if require_result and not run.result:
        raise AssertionError('ansible-playbook gave no JSON result (rc=%s)\nstdout:\n%s\nstderr:\n%s'
                             % (run.rc, run.stdout, run.stderr))
    return run
