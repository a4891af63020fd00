"""Dockerfile, .dockerignore and docker-compose.yml, checked statically: no Docker engine or base image can be pulled
here. What is checked: the image installs with the Makefile's own command, runs as a non-root user, keeps tsic's
data/runs/checkpoints/logs in volumes and defaults to a command that works; the build context leaves out what is
built or written at run time but keeps what the image copies; the compose services point at files and notebook
parameters that exist."""
import fnmatch, re, shlex, subprocess
from pathlib import Path
import nbformat, yaml
from conftest import ROOT, BIN

APP = '/home/tsic/tsic'


def instructions() -> list[tuple[str, str]]:
    "The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined, comments dropped."
    text = re.sub(r'\\\n\s*', ' ', (ROOT / 'Dockerfile').read_text())
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.lstrip().startswith('#')]
    return [(l.split(None, 1)[0].upper(), l.split(None, 1)[1]) for l in lines]


def compose() -> dict:
    return yaml.safe_load((ROOT / 'docker-compose.yml').read_text())


def test_the_image_installs_with_make_install_as_a_non_root_user():
    steps = instructions()
    keys = [k for k, _ in steps]
    base = dict(steps)['FROM']
    min_python = re.search(r'min_python = (\S+)', (ROOT / 'settings.ini').read_text())[1]
    assert base.startswith(f'python:{min_python}'), base  # the Python the pins were verified on
    runs = [args for k, args in steps if k == 'RUN']
    assert sum('make install' in r for r in runs) == 1 and not any('pip install' in r for r in runs), runs  # one source of truth
    user = keys.index('USER')
    assert dict(steps)['USER'] not in ('root', '0') and user < next(i for i, (k, a) in enumerate(steps) if 'make install' in a)
    for k, args in steps:  # every file the image copies exists in the repository
        if k == 'COPY':
            sources = [a for a in args.split() if not a.startswith('--')][:-1]
            assert all(s == '.' or (ROOT / s).exists() for s in sources), args
    assert subprocess.run(['make', '-n', 'install'], cwd=ROOT, capture_output=True).returncode == 0  # the target exists


def test_volumes_and_a_default_command_that_works():
    steps = dict(instructions())
    volumes = yaml.safe_load(steps['VOLUME'])
    assert {f'{APP}/data', f'{APP}/runs'} <= set(volumes), volumes  # a run folder holds its checkpoints and logs
    cfg = yaml.safe_load((ROOT / 'configs' / 'config.yaml').read_text())
    assert not any(Path(cfg[k]).is_absolute() for k in ('checkpoint_dir', 'logs_dir'))  # so they land inside the run folder
    assert yaml.safe_load(steps['CMD']) == ['tsic', '--help']
    out = subprocess.run([str(BIN / 'tsic'), '--help'], capture_output=True, text=True)
    assert out.returncode == 0 and 'tune' in out.stdout, out.stderr  # what the container prints by default


def test_the_build_context_leaves_out_run_time_files_but_keeps_what_is_copied():
    patterns = [l.strip() for l in (ROOT / '.dockerignore').read_text().splitlines() if l.strip() and not l.startswith('#')]
    for folder in ('.venv', 'data', 'runs', 'checkpoints', 'logs'):
        assert folder in patterns, folder
    kept = ['settings.ini', 'setup.py', 'Makefile', 'README.md', 'tsic/__init__.py', 'nbs/train.ipynb', 'configs/config.yaml', 'tools/docs.py']
    for path in kept:
        assert not any(fnmatch.fnmatch(path, p) or path.startswith(p.rstrip('/') + '/') for p in patterns), path


def test_compose_services_point_at_existing_files_and_parameters():
    spec = compose()
    train, board = spec['services']['train'], spec['services']['tensorboard']
    assert train['image'] == board['image'] and train['build'] == board['build'] == '.'
    gpu = train['deploy']['resources']['reservations']['devices'][0]
    assert gpu['driver'] == 'nvidia' and 'gpu' in gpu['capabilities']
    named = set(spec['volumes'])
    for volume in train['volumes'] + board['volumes']:
        source, target = volume.split(':')[:2]
        assert target.startswith(APP + '/'), volume
        assert source in named or source.startswith('./'), volume
        if source == './configs': assert (ROOT / source).is_dir()
    script = train['command'][2].replace('$$', '$')  # compose turns $$ into $
    assert subprocess.run(['sh', '-n', '-c', script]).returncode == 0, script  # the shell can parse it
    words = shlex.split(script.split('&&')[-1])
    assert words[:2] == ['papermill', 'nbs/train.ipynb'] and (ROOT / words[1]).exists()
    params = dict(zip(words[4::3], words[5::3]))
    assert (ROOT / params['config']).exists()
    source = next(c.source for c in nbformat.read(ROOT / words[1], as_version=4).cells if 'parameters' in c.metadata.get('tags', []))
    assert all(re.search(rf'^{name} =', source, re.M) for name in params), (params, source)  # papermill's -p names exist
    assert re.search(r'run=runs/', script) and f'runs:{APP}/runs' in train['volumes']
    logdir = board['command'][board['command'].index('--logdir') + 1]
    assert logdir == 'runs' and f'runs:{APP}/runs:ro' in board['volumes']  # TensorBoard reads every run's logs_dir below it


def test_compose_serve_runs_the_cli_command_with_a_read_only_checkpoint():
    serve = compose()['services']['serve']
    assert serve['image'] == compose()['services']['train']['image'] and serve['ports'] == ['8000:8000']
    from tsic.cli import build_parser
    args = build_parser().parse_args(serve['command'][1:])  # what the container runs parses as the CLI's own command
    assert serve['command'][0] == 'tsic' and args.command == 'serve' and args.host == '0.0.0.0' and args.port == 8000
    (volume,) = serve['volumes']
    source, target, mode = volume.split(':')
    assert source == './' + args.checkpoint and target == f'{APP}/{args.checkpoint}' and mode == 'ro'
