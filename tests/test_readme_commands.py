"""Every shell command in the ```bash blocks of README.md and of the guide pages that hold its details (`PAGES`: the
markdown cells of nbs/guide_*.ipynb), run as a user runs it, so the pages cannot drift from the code.

Each command runs as a process in a scratch copy of the project (`configs/`, `nbs/`, `examples/`, the Makefile, the
built-in demo dataset under `./data`) with `.venv/bin` first on PATH: the page's words unchanged, plus "short
settings" appended (a tiny random-init ResNet-18, few images, one epoch) and the pages' placeholders (`model.ckpt`,
`bars.csv`, `runs/x/.../epoch=...ckpt`) made real files. A command that cannot run here is in `NOT_RUNNABLE` with
the reason. A new command on any page that is in none of the tables, or a table entry that no page has, fails
`test_every_readme_command_is_accounted_for`; a guide page left out of `PAGES` fails `test_every_guide_page_is_read`.
Quick commands are in `FAST` (`make test`); training runs and papermill reports are in `SLOW` (`make test-slow`).
"""
import json, os, re, shlex, shutil, subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
import nbformat, pytest
from conftest import ROOT, BIN

VENV = ROOT / '.venv' if (ROOT / '.venv' / 'bin').is_dir() else BIN.parent


# ---------------------------------------------------------------- the README's commands

def _strip_comment(line: str) -> tuple[str, bool]:
    "`line` without a trailing shell comment (a `#` that starts a word, outside quotes); and whether it had one."
    quote, escaped = None, False
    for i, ch in enumerate(line):
        if escaped: escaped = False
        elif quote:
            if ch == quote: quote = None
            elif ch == '\\' and quote == '"': escaped = True
        elif ch == '\\': escaped = True
        elif ch in '\'"': quote = ch
        elif ch == '#' and (i == 0 or line[i - 1].isspace()): return line[:i], True
    return line, False


def normal(command: str) -> str:
    "One spelling per command: shell words, re-quoted only where needed."
    return shlex.join(shlex.split(command))


def shell_commands(markdown: str) -> list[str]:
    "The commands of the ```bash (sh, shell) blocks of `markdown`: `\\` continuations joined, comments dropped."
    commands, block, pending = [], False, ''
    for line in markdown.splitlines():
        if not block:
            block = re.fullmatch(r'\s*```\s*(bash|sh|shell)\s*', line) is not None
            continue
        if re.fullmatch(r'\s*```\s*', line):
            assert not pending.strip(), f"README: a command ends its block with a `\\` continuation: {pending!r}"
            block = False
            continue
        text, commented = _strip_comment(line)
        if not commented and text.rstrip().endswith('\\'):  # a backslash inside a comment continues nothing
            pending += text.rstrip()[:-1] + ' '
            continue
        command, pending = (pending + text).strip(), ''
        if command: commands.append(normal(command))
    return commands


# README.md (nbs/index.ipynb) and the guide pages that hold its details: every ```bash command of these is accounted for
PAGES = ['README.md', 'nbs/guide_data.ipynb', 'nbs/guide_training.ipynb', 'nbs/guide_predict.ipynb',
         'nbs/guide_analysis.ipynb', 'nbs/guide_operations.ipynb', 'nbs/guide_ucr.ipynb', 'nbs/guide_markets.ipynb',
         'nbs/guide_status.ipynb']


def page_markdown(page: str) -> str:
    "The markdown of `page`: a Markdown file as it is, a notebook's markdown cells joined."
    path = ROOT / page
    if path.suffix != '.ipynb': return path.read_text()
    return '\n\n'.join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == 'markdown')


def readme_commands() -> list[str]:
    "The commands of the ```bash blocks of README.md and the guide pages, in the order of `PAGES`."
    return [command for page in PAGES for command in shell_commands(page_markdown(page))]


# ---------------------------------------------------------------- how each one runs here

# papermill parameters that make a training run tiny (every config key is a parameter; sample_limit is the notebook's)
SHORT_TRAIN = ('-p', 'max_epochs', '1', '-p', 'image_size', '32', '-p', 'model_architecture_name', 'resnet18',
               '-p', 'pretrained', 'False', '-p', 'sample_limit', '60', '-p', 'batch_size', '16')


@dataclass
class Case:
    "How one README command runs here: `extra` words appended; `prepare(workspace, request)` makes the files it names"
    " and returns {README word: real path} for placeholders; `check(workspace, proc)` looks at what it wrote."
    extra: tuple = ()
    prepare: Callable | None = None
    check: Callable | None = None
    timeout: int = 600


def _one(ws: Path, pattern: str) -> Path:
    "The one non-empty file matching `pattern` under the workspace."
    found = sorted(ws.glob(pattern))
    assert len(found) == 1, f"expected one {pattern} in {ws}, found {[str(p.relative_to(ws)) for p in found]}"
    assert found[0].stat().st_size > 0, f"{found[0]} is empty"
    return found[0]


def _rows(csv: Path) -> int:
    return len(csv.read_text().splitlines()) - 1


def _model_ckpt(ws, request):
    "`model.ckpt`: the best checkpoint of a tiny training run (conftest's `checkpoint`)."
    shutil.copy(request.getfixturevalue('checkpoint'), ws / 'model.ckpt')


def _spy_model_ckpt(ws, request):
    "`model.ckpt` for SPY minute bars: a tiny model trained on the charts of the README's `tsic build` command."
    shutil.copy(request.getfixturevalue('spy_checkpoint'), ws / 'model.ckpt')


def _model_ckpt_with_offsets(ws, request):
    "`model.ckpt` with decision offsets, as the evaluation report leaves it (`--thresholds` needs them)."
    shutil.copy(request.getfixturevalue('evaluated_checkpoint'), ws / 'model.ckpt')


def _run_checkpoint(ws, request):
    "The README's `runs/x/.../epoch=...ckpt`: the tiny run's best checkpoint, where training writes it."
    ckpt = Path(request.getfixturevalue('checkpoint'))
    dest = ws / 'runs' / 'x' / 'checkpoints' / 'single' / ckpt.parent.name / ckpt.name
    dest.parent.mkdir(parents=True)
    shutil.copy(ckpt, dest)
    return {'runs/x/checkpoints/single/efficientnet_lite0/epoch=...ckpt': str(dest.relative_to(ws))}


def _model_and_latest_bars(ws, request):
    "`model.ckpt` (conftest's `checkpoint`) and `latest.csv`: the newest 300 real MSFT daily bars."
    from tsic.bars import load_msft
    _model_ckpt(ws, request)
    load_msft().iloc[-300:].to_csv(ws / 'latest.csv')


def _predicted_one_printed(ws, proc):
    import io, pandas as pd
    table = pd.read_csv(io.StringIO(proc.stdout))
    assert len(table) == 1 and table.timestamp.iloc[0].startswith('2017-11-10'), proc.stdout  # the newest window


def _bars_csv(ws, request):
    "`bars.csv`: an OHLCV file in configs/config.yaml's CSV format (the last 1,500 real MSFT daily bars)."
    from tsic.bars import load_msft
    load_msft().iloc[-1500:].to_csv(ws / 'bars.csv')


def _short_config(ws, request):
    "`make train` takes its config from CONFIG: configs/demo.yaml with the short settings."
    import yaml
    cfg = yaml.safe_load((ws / 'configs' / 'demo.yaml').read_text())
    cfg.update(max_epochs=1, image_size=32, model_architecture_name='resnet18', pretrained=False, batch_size=64, check_data=False)
    (ws / 'short.yaml').write_text(yaml.safe_dump(cfg))


def _trained_by_cli(ws, proc):
    metrics = json.loads(_one(ws, 'runs/one/metrics.json').read_text())
    _one(ws, 'runs/one/checkpoints/single/resnet18/last.ckpt')
    assert len(metrics['epochs']) == 1 and f"validation macro F1 {metrics['best_val_f1']:.4f}" in proc.stdout


def _trained(mode: str) -> Callable:
    def check(ws, proc):
        _one(ws, 'out.ipynb')
        metrics = _one(ws, 'runs/*/metrics.json')
        _one(ws, f'runs/*/checkpoints/{mode}/resnet18/last.ckpt')
        assert '"test"' in metrics.read_text()
    return check


def _make_train(ws, proc):
    _one(ws, 'runs/demo-*/train.ipynb'), _one(ws, 'runs/demo-*/metrics.json')
    _one(ws, 'runs/demo-*/checkpoints/single/resnet18/epoch=*.ckpt')


def _evaluated(ws, proc):
    _one(ws, 'eval.ipynb')
    for name in ('metrics.json', 'predictions.csv', 'per_class.csv', 'confusion_matrix.png'):
        _one(ws, f'runs/x/evaluation-test/{name}')


def _walked(ws, proc):
    _one(ws, 'wf.ipynb'), _one(ws, 'runs/*/walk_forward.json')
    assert _rows(_one(ws, 'runs/*/walk_forward.csv')) == 4  # -p folds 4, as the README asks


def _analysed(ws, proc):
    _one(ws, 'fa.ipynb'), _one(ws, 'runs/features-*/holdout.json'), _one(ws, 'runs/features-*/importance.png')
    _one(ws, 'data/bars_1d_selected_features.csv')
    assert 'bars_1d_selected_features.csv' in (ws / 'configs' / 'config.yaml').read_text()  # the selection written in


def _tuned_report(ws, proc):
    import optuna
    _one(ws, 'tune.ipynb')
    db = _one(ws, 'checkpoints/tune/tsic/study.db')
    study = optuna.load_study(study_name='tsic', storage=f'sqlite:///{db}')
    assert [t.state.name for t in study.trials] == ['COMPLETE', 'COMPLETE']  # -p n_trials 2 of the short settings
    kept = study.best_trial.user_attrs.get('from_config', False)  # trial 0, the config's own values, can be the best
    assert len(list((ws / 'configs').glob('demo.yaml.*.bak'))) == (0 if kept else 1), kept  # the best written back into the config
    printed = json.dumps([c.get('outputs', []) for c in nbformat.read(_one(ws, 'tune.ipynb'), as_version=4).cells])
    assert ('already holds the best parameters' in printed) == kept


def _tuned_worker(ws, proc):
    import optuna
    from optuna.storages.journal import JournalFileBackend
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(_one(ws, 'study.log'))))
    trials = optuna.load_study(study_name='tsic', storage=storage).trials
    assert [t.state.name for t in trials] == ['COMPLETE', 'COMPLETE'] and 'best: trial' in proc.stdout


def _built(ws, proc):
    assert _rows(_one(ws, 'data/fix_labeled_data_spy_15m.csv')) > 100
    _one(ws, 'data/spy_15m_winsize40/manifest.json')
    assert len(list((ws / 'data' / 'spy_15m_winsize40').rglob('*.png'))) > 100


def _predicted_last_20(ws, proc):
    assert _rows(_one(ws, 'preds.csv')) == 20  # --last 20


def _predicted_folder(ws, proc):
    assert _rows(_one(ws, 'preds.csv')) == len(list((ws / 'data' / 'msft_1d_winsize40' / 'test').rglob('*.png'))) > 1000


NOT_RUNNABLE = {
    'make test': "`make test` runs this test (pytest tests): running it here would recurse",
    'make docs': "tests/test_docs_site.py (slow) runs its recipe, tools/docs.py, and opens every page in Chromium",
    'make tutorials': "tests/test_tutorials.py (slow) runs its recipe, tools/tutorials.py, on every tutorial (without writing them back)",
    'docker build -t tsic .': "no Docker engine here: tests/test_docker.py checks the Dockerfile statically",
    'docker compose up train': "no Docker engine here: tests/test_docker.py checks the compose file statically",
    'docker compose up tensorboard': "no Docker engine here: tests/test_docker.py checks the compose file statically",
    'torchrun --nproc-per-node 4 --no-python tsic train --config configs/config.yaml --run-dir runs/four':
        "four GPUs: tests/test_distributed.py runs the same command on two CPU processes (gloo)",
    'accelerate launch --multi_gpu --num_processes 4 --no_python tsic train --config configs/config.yaml --run-dir runs/four':
        "four GPUs: tests/test_distributed.py runs the same command on two CPU processes (gloo)",
    "torchrun --nproc-per-node 4 --no-python bash -c 'papermill nbs/train.ipynb runs/report-$RANK.ipynb -p config configs/config.yaml -p run_dir runs/four'":
        "four GPUs: tests/test_distributed.py runs the same report command on two CPU processes (gloo)",
    'torchrun --nnodes 2 --nproc-per-node 4 --rdzv-id job1 --rdzv-backend c10d --rdzv-endpoint node1:29500 --no-python tsic train --config configs/config.yaml --run-dir /shared/runs/big':
        "two machines with GPUs; the SLURM script's test checks the torchrun command it builds",
    'sbatch examples/slurm/train.sbatch': "no SLURM here: tests/test_distributed.py runs the script with srun, scontrol and torchrun stubbed",
    'tsic tune --config configs/config.yaml --storage postgresql://tsic@db-host/tsic --study-name big --n-trials 64':
        "a PostgreSQL server on db-host: tests/test_tune.py runs two workers on a throw-away server",
    'python bench/scale.py': "a benchmark of several minutes; its figures are in bench/results/scale.md",
    'tsic serve model.ckpt --port 8000 --runtime onnx':
        "a service that runs until stopped: tests/test_serve.py starts `tsic serve` on a free port and talks to it over HTTP",
}

BUILD_SPY = ("tsic build examples/market/spy_1m_2011-03.csv --dataset spy --sep ';' --names timestamp open high low close volume "
             "--time-format '%Y%m%d %H%M%S' --timeframe 15m --resample --window 40 --horizon 4 --label-rule quantile --volume --ma 5 20")

FAST = {
    BUILD_SPY:
        Case(check=_built),
    'tsic predict model.ckpt data/msft_1d_winsize40/test -o preds.csv --thresholds':
        Case(prepare=_model_ckpt_with_offsets, check=_predicted_folder),
    'tsic export model.ckpt model.onnx':
        Case(prepare=_model_ckpt, check=lambda ws, proc: _one(ws, 'model.onnx')),
    'tsic predict model.ckpt latest.csv --last 1 --runtime onnx':
        Case(prepare=_model_and_latest_bars, check=_predicted_one_printed),
    # one small notebook: `make test` runs all of them with nbdev_test right before pytest
    'nbdev_test':
        Case(extra=('--path', 'nbs/03_metrics.ipynb'), check=lambda ws, proc: None),
}

SLOW = {
    # int8: quantizes on the input's own windows first
    'tsic predict model.ckpt latest.csv --last 1 --runtime onnx-int8':
        Case(prepare=_model_and_latest_bars, check=_predicted_one_printed),
    # trains a small model on the SPY build first (about 20 s)
    "tsic predict model.ckpt examples/market/spy_1m_2011-03.csv --sep ';' --names timestamp open high low close volume "
    "--time-format '%Y%m%d %H%M%S' --last 20 -o preds.csv":
        Case(prepare=_spy_model_ckpt, check=_predicted_last_20),
    # the Makefile as written, its config from CONFIG; -o: never reinstall the shared .venv from a test
    'make train':
        Case(extra=('CONFIG=short.yaml', '-o', '.venv/.installed'), prepare=_short_config, check=_make_train),
    'papermill nbs/train.ipynb out.ipynb -p model_mode single':
        Case(extra=SHORT_TRAIN, check=_trained('single')),
    'papermill nbs/train.ipynb out.ipynb -p config configs/demo.yaml':
        Case(extra=SHORT_TRAIN, check=_trained('single')),
    'papermill nbs/train.ipynb out.ipynb -p max_epochs 2 -p image_size 64 -p model_architecture_name resnet18 -p pretrained False -p sample_limit 300':
        Case(extra=SHORT_TRAIN, check=_trained('single')),
    'papermill nbs/train.ipynb out.ipynb -p config configs/demo.yaml -p model_mode multi':
        Case(extra=SHORT_TRAIN, check=_trained('multi')),
    'papermill nbs/evaluate.ipynb eval.ipynb -p checkpoint runs/x/checkpoints/single/efficientnet_lite0/epoch=...ckpt':
        Case(extra=('-p', 'n_top_losses', '4', '-p', 'n_gradcam', '2'), prepare=_run_checkpoint, check=_evaluated),
    'papermill nbs/walk_forward.ipynb wf.ipynb -p config configs/demo.yaml -p folds 4':
        Case(extra=(*SHORT_TRAIN, '-p', 'sample_limit', '40'), check=_walked),  # 4 trainings: 40 charts per split
    'papermill nbs/tune.ipynb tune.ipynb -p config configs/demo.yaml -p n_trials 20':  # 2 trials of 1 epoch
        Case(extra=(*SHORT_TRAIN, '-p', 'sample_limit', '40', '-p', 'n_trials', '2', '-y', 'tuning: {max_epochs: 1}'), check=_tuned_report),
    'tsic train --config configs/demo.yaml --run-dir runs/one --set max_epochs=5':
        Case(extra=('--sample-limit', '60', '--set', 'max_epochs=1', '--set', 'image_size=32', '--set', 'model_architecture_name=resnet18',
                    '--set', 'pretrained=false', '--set', 'batch_size=16'), check=_trained_by_cli),
    'tsic tune --config configs/demo.yaml --storage study.log --n-trials 20':
        Case(extra=('--sample-limit', '40', '--n-trials', '2', '--max-epochs', '1'), check=_tuned_worker),
    'papermill nbs/feature_analysis.ipynb fa.ipynb -p config configs/config.yaml -p data_path bars.csv -p n_trials 50':
        Case(extra=('-p', 'n_trials', '2', '-p', 'folds', '2'), prepare=_bars_csv, check=_analysed),
}

FAST, SLOW, NOT_RUNNABLE = ({normal(k): v for k, v in table.items()} for table in (FAST, SLOW, NOT_RUNNABLE))


# ---------------------------------------------------------------- the tests

def test_shell_commands_parser():
    text = ("```bash\nmake train   # sets up; report in runs/demo-*/\n\n# a comment line\n"
            "tsic predict a.ckpt b.csv --sep ';' \\\n    --time-format '%Y %H#M' --last 2 -o p.csv   # raw bars \\\n"
            "echo 'a # b' x#y\n```\n\n```yaml\nnot: a command\n```\n```\nnor this\n```\n")
    assert shell_commands(text) == ['make train', "tsic predict a.ckpt b.csv --sep ';' --time-format '%Y %H#M' --last 2 -o p.csv",
                                    "echo 'a # b' 'x#y'"]


def test_every_guide_page_is_read():
    "A new guide page cannot hold commands this test never sees: every nbs/guide_*.ipynb is in `PAGES`, every page exists."
    guides = sorted(str(p.relative_to(ROOT)) for p in (ROOT / 'nbs').glob('guide_*.ipynb'))
    assert guides, "no nbs/guide_*.ipynb pages"
    assert not set(guides) - set(PAGES), f"guide pages missing from PAGES in tests/test_readme_commands.py: {sorted(set(guides) - set(PAGES))}"
    assert all((ROOT / page).is_file() for page in PAGES), [page for page in PAGES if not (ROOT / page).is_file()]
    assert all(shell_commands(page_markdown(page)) for page in ('README.md', 'nbs/guide_predict.ipynb'))  # the reader reads them


def test_every_readme_command_is_accounted_for():
    found = set(readme_commands())
    assert found, "no ```bash commands found in README.md or the guide pages"
    tables = {'FAST': FAST, 'SLOW': SLOW, 'NOT_RUNNABLE': NOT_RUNNABLE}
    listed = [c for t in tables.values() for c in t]
    assert len(listed) == len(set(listed)), "a command is in more than one table"
    new = sorted(found - set(listed))
    assert not new, ("README.md or a guide page has shell commands this test neither runs nor lists as not runnable here; add each to "
                     "FAST, SLOW or NOT_RUNNABLE in tests/test_readme_commands.py:\n" + '\n'.join(new))
    gone = {name: sorted(set(t) - found) for name, t in tables.items() if set(t) - found}
    assert not gone, f"commands listed in tests/test_readme_commands.py that neither README.md nor a guide page has: {gone}"


@pytest.fixture(scope='session')
def demo_data(tmp_path_factory) -> Path:
    "The built-in demo dataset (MSFT daily charts), built once, drawn as the `checkpoint` fixture's charts (48 px) so the README's predict commands can score it."
    from tsic.build import ensure_demo_dataset
    data = tmp_path_factory.mktemp('demo') / 'data'
    ensure_demo_dataset(data, image_size=48)
    return data


@pytest.fixture(scope='session')
def spy_checkpoint(tmp_path_factory) -> Path:
    "The best checkpoint of a tiny run (conftest's settings, 60 charts per split) on the README's SPY build, in-process."
    import warnings
    from conftest import config_for
    from tsic.cli import build_parser, build_command
    from tsic.train import train
    data = tmp_path_factory.mktemp('spy') / 'data'
    argv = [str(ROOT / w) if w.startswith('examples/') else w for w in shlex.split(BUILD_SPY)[1:]]
    [folder] = build_command(build_parser().parse_args([*argv, '--data-dir', str(data), '--image-size', '48']))
    cfg = config_for(folder, datasets=['spy'], dataset_spy_dir=str(folder), tensorboard=False)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return train(cfg, run_dir=data.parent / 'run', sample_limit=60).best_checkpoint


@pytest.fixture(scope='session')
def evaluated_checkpoint(checkpoint, tmp_path_factory) -> Path:
    "A copy of `checkpoint` with decision offsets fitted on validation and stored, as the evaluation report does."
    import warnings
    from tsic.evaluate import evaluate
    folder = tmp_path_factory.mktemp('evaluated')
    ckpt = Path(shutil.copy(checkpoint, folder / 'model.ckpt'))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        evaluate(ckpt, out_dir=folder / 'report', store_thresholds=True, n_top_losses=0, n_gradcam=0)
    return ckpt


@pytest.fixture
def workspace(tmp_path, demo_data) -> Path:
    "A scratch project: copies of configs/ and nbs/ (commands may write there), the Makefile and its inputs (mtimes"
    " kept), links to examples/ and .venv/, and ./data holding the demo dataset (new datasets land beside it)."
    ws = tmp_path / 'project'
    ws.mkdir()
    for name in ('configs', 'nbs'):
        shutil.copytree(ROOT / name, ws / name, ignore=shutil.ignore_patterns('.ipynb_checkpoints', '_proc', '*.bak'))
    for name in ('Makefile', 'settings.ini', 'setup.py'): shutil.copy2(ROOT / name, ws / name)
    (ws / 'examples').symlink_to(ROOT / 'examples')
    (ws / '.venv').symlink_to(VENV)
    (ws / 'data').mkdir()
    for entry in demo_data.iterdir():
        if not entry.name.startswith('.'): (ws / 'data' / entry.name).symlink_to(entry)
    return ws


def run_readme_command(command: str, case: Case, ws: Path, request) -> subprocess.CompletedProcess:
    assert command in readme_commands(), f"no longer in README.md or a guide page: {command}"
    substitutions = (case.prepare(ws, request) if case.prepare else None) or {}
    argv = [substitutions.get(word, word) for word in shlex.split(command)] + list(case.extra)
    env = {k: v for k, v in os.environ.items() if k not in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'MAKEOVERRIDES')}
    env['PATH'] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(argv, cwd=ws, env=env, capture_output=True, text=True, timeout=case.timeout)
    assert proc.returncode == 0, (f"README command failed (exit {proc.returncode}): {command}\nran: {shlex.join(argv)}\n"
                                  f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}")
    if case.check: case.check(ws, proc)
    return proc


@pytest.mark.parametrize('command', list(FAST), ids=list(FAST))
def test_readme_command(command, workspace, request):
    run_readme_command(command, FAST[command], workspace, request)


@pytest.mark.slow
@pytest.mark.parametrize('command', list(SLOW), ids=list(SLOW))
def test_readme_command_slow(command, workspace, request):
    run_readme_command(command, SLOW[command], workspace, request)
