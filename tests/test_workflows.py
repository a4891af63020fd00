"""The GitHub Actions workflows cannot run here: they are validated against GitHub's workflow schema (the copy that
check-jsonschema ships), and the commands they call are checked to exist in this project."""
import re, subprocess
import pytest, yaml
from conftest import ROOT, BIN

WORKFLOWS = ROOT / '.github' / 'workflows'


def workflow(name: str) -> dict:
    spec = yaml.safe_load((WORKFLOWS / name).read_text())
    spec['on'] = spec.pop(True, spec.get('on'))  # YAML 1.1 reads the key `on` as true
    return spec


def run_lines(spec: dict) -> list[str]:
    return [step['run'] for job in spec['jobs'].values() for step in job['steps'] if 'run' in step]


def schema_check(*paths) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / 'check-jsonschema'), '--builtin-schema', 'vendor.github-workflows', *map(str, paths)],
                          capture_output=True, text=True)


def test_the_workflows_are_valid_github_workflows(tmp_path):
    files = sorted(WORKFLOWS.glob('*.yaml'))
    assert [f.name for f in files] == ['deploy.yaml', 'test.yaml']
    check = schema_check(*files)
    assert check.returncode == 0, check.stdout + check.stderr
    broken = tmp_path / 'broken.yaml'  # the check can fail: a job without runs-on
    broken.write_text((WORKFLOWS / 'test.yaml').read_text().replace('runs-on: ubuntu-latest', 'runs_on: ubuntu-latest'))
    assert schema_check(broken).returncode != 0


def python_version(spec: dict) -> str:
    return next(s['with']['python-version'] for job in spec['jobs'].values() for s in job['steps'] if 'setup-python' in s.get('uses', ''))


@pytest.mark.parametrize('name', ['test.yaml', 'deploy.yaml'])
def test_the_workflows_use_the_pinned_python_and_pinned_actions(name):
    spec = workflow(name)
    assert python_version(spec) == re.search(r'min_python = (\S+)', (ROOT / 'settings.ini').read_text())[1]
    uses = [s['uses'] for job in spec['jobs'].values() for s in job['steps'] if 'uses' in s]
    assert uses and all(re.search(r'@v\d+$', u) for u in uses), uses  # a major release tag, not a branch


def test_the_test_workflow_runs_the_readme_test_command_on_push_and_pull_request():
    spec = workflow('test.yaml')
    assert {'push', 'pull_request'} <= set(spec['on'])
    assert 'make test' in run_lines(spec) and re.search(r'^make test +#', (ROOT / 'README.md').read_text(), re.M)  # the README's command
    assert 'make test-slow' in run_lines(spec) and any('install -y -q chromium' in r for r in run_lines(spec))  # the docs-site test's browser
    assert subprocess.run(['make', '-n', 'test', 'test-slow'], cwd=ROOT, capture_output=True).returncode == 0


def test_the_deploy_workflow_builds_the_nbdev_site_into_doc_path_and_publishes_it():
    spec = workflow('deploy.yaml')
    assert spec['on']['push']['branches'] == ['main'] and spec['permissions']['contents'] == 'write'
    runs = run_lines(spec)
    assert runs[0] == 'make install' and '.venv/bin/nbdev_docs' in runs and (BIN / 'nbdev_docs').exists()
    execute = runs.index(next(r for r in runs if 'tools/docs.py --execute-in-place' in r))
    assert execute < runs.index('.venv/bin/nbdev_docs') and (ROOT / 'tools' / 'docs.py').exists()  # outputs first: Quarto does not run notebooks
    publish = next(s for s in spec['jobs']['deploy']['steps'] if 'actions-gh-pages' in s.get('uses', ''))
    doc_path = re.search(r'doc_path = (\S+)', (ROOT / 'settings.ini').read_text())[1]
    assert publish['with']['publish_dir'] == f'./{doc_path}'
