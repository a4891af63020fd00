"""Tuning the classifier (`tsic tune`, nbs/tune.ipynb): real Optuna studies of real (tiny) training runs, a papermill
report, two worker processes sharing one study (in a journal file, and on a throw-away PostgreSQL server), and a
study killed mid-trial that resumes."""
import json, os, shutil, signal, subprocess, tempfile, time
from pathlib import Path
import nbformat, optuna, pytest, yaml
from conftest import ROOT, BIN

SPACE = {'lr_head': {'low': 1.0e-4, 'high': 1.0e-2, 'log': True}, 'weight_decay': {'low': 1.0e-4, 'high': 0.1, 'log': True}}


def write_config(path: Path, max_epochs=1, n_trials=3, pruner='none', **overrides) -> Path:
    "The demo config with a tiny model (ResNet-18 from random weights, 32 px) and a tuning section, comments kept."
    settings = dict(model_architecture_name='resnet18', pretrained=False, image_size=32, batch_size=16, num_threads=1,
                    use_progressive_unfreezing=False, tensorboard=False, data_dir=str(ROOT / 'data'),
                    checkpoint_dir=str(path.parent / 'checkpoints'), **overrides)
    text = (ROOT / 'configs' / 'demo.yaml').read_text()
    for key, value in settings.items():  # replace the demo's line for a key it has, else append
        line = f"{key}: {json.dumps(value)}"
        lines = text.splitlines()
        hit = [i for i, l in enumerate(lines) if l.startswith(f'{key}:')]
        if hit: lines[hit[0]] = line + '  # set by the test'
        else: lines.append(line)
        text = '\n'.join(lines) + '\n'
    text += yaml.safe_dump({'tuning': {'max_epochs': max_epochs, 'n_trials': n_trials, 'pruner': pruner, 'space': SPACE}})
    path.write_text(text)
    return path


def tsic_tune(config: Path, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / 'tsic'), 'tune', '--config', str(config), '--sample-limit', '40', *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def journal(path: Path, name: str = 'tsic') -> optuna.Study:
    from optuna.storages.journal import JournalFileBackend
    return optuna.load_study(study_name=name, storage=optuna.storages.JournalStorage(JournalFileBackend(str(path))))


# slow: `make test` stays within 10 minutes; the fast set tunes through nbs/12_tuning.ipynb (real trials), and the slow
# set also runs the README's `papermill nbs/tune.ipynb` command
@pytest.mark.slow
def test_tune_report_through_papermill(tmp_path):
    "Three trials on the demo (the first: the config's own values in the space): trials table, Optuna's plots, the best trial's test scores beside the baselines, the config written back with its comments."
    config = write_config(tmp_path / 'demo.yaml', max_epochs=2, lr_head=0.05)  # above the space: every trial's lr_head differs from the file's
    before = config.read_text()
    proc = subprocess.run([str(BIN / 'papermill'), 'nbs/tune.ipynb', str(tmp_path / 'out.ipynb'), '-p', 'config', str(config),
                           '-p', 'sample_limit', '40', '-p', 'root', str(tmp_path / 'study')],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = optuna.load_study(study_name='tsic', storage=f"sqlite:///{tmp_path / 'study' / 'study.db'}")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 3
    first = study.trials[0]  # the config's weight decay; its lr_head lies outside the space, so sampled, and the trial is not the config's
    assert first.params['weight_decay'] == yaml.safe_load(before)['weight_decay'] and first.user_attrs['from_config'] is False
    for t in study.trials:  # each trial: two epochs, scored by its best one
        epochs = json.loads((Path(t.user_attrs['run_dir']) / 'metrics.json').read_text())['epochs']
        assert len(epochs) == 2 and t.value == pytest.approx(max(e['f1_score'] for e in epochs), abs=1e-12)
    for name in ('history', 'importances', 'parallel_coordinate', 'slice'):
        assert (tmp_path / 'study' / f'study_{name}.png').stat().st_size > 5000
    text = json.dumps([c.get('outputs', []) for c in nbformat.read(tmp_path / 'out.ipynb', as_version=4).cells])
    assert 'persistence' in text and 'majority' in text and 'optuna-dashboard sqlite:///' in text and 'image/png' in text
    after = config.read_text()
    best = study.best_params
    assert yaml.safe_load(after)['lr_head'] == pytest.approx(best['lr_head']) and after != before
    assert '# CPU-sized demo' in before and all(l in after for l in before.splitlines() if l.lstrip().startswith('#'))  # comments kept
    assert len(list(tmp_path.glob('demo.yaml.*.bak'))) == 1


@pytest.mark.slow  # make test stays under 10 minutes; .ci/run runs it after
def test_two_workers_share_one_study_with_a_global_cap(tmp_path):
    "Two `tsic tune` processes on one JournalStorage file finish exactly four trials together, numbered 0 to 3, each trial once."
    config = write_config(tmp_path / 'demo.yaml')
    store = tmp_path / 'study.log'
    workers = [tsic_tune(config, '--storage', str(store), '--n-trials', '4') for _ in range(2)]
    outs = [w.communicate(timeout=600)[0] for w in workers]
    assert all(w.returncode == 0 for w in workers), outs
    study = journal(store)
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    pids = {t.user_attrs['worker']['pid'] for t in study.trials}
    assert pids == {w.pid for w in workers}, (pids, outs)  # both worked on it
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 4  # workers seeded alike would draw the same start-up trials


@pytest.fixture(scope='module')
def postgres():
    """A throw-away PostgreSQL server from Debian's `postgresql` (the newest under /usr/lib/postgresql): its own data
    directory in a fresh temp dir, a Unix socket there and no TCP, trust auth; stopped and removed at the end. It gives
    a function that creates a database and returns its URL. As root, the server runs as the `postgres` user."""
    found = sorted(Path('/usr/lib/postgresql').glob('*/bin/initdb'), key=lambda p: [int(n) for n in p.parts[-3].split('.')])
    if not found: pytest.fail("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql")
    pg_bin, as_postgres = found[-1].parent, ['runuser', '-u', 'postgres', '--'] if os.geteuid() == 0 else []
    def run(*cmd):
        proc = subprocess.run(as_postgres + [str(c) for c in cmd], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{cmd}: {proc.stdout}{proc.stderr}"
    top = Path(tempfile.mkdtemp(prefix='tsic-pg-'))  # not in tmp_path: /tmp/pytest-of-root is 0700, closed to the postgres user
    if as_postgres: shutil.chown(top, 'postgres', 'postgres')
    data, started = top / 'data', False
    try:
        run(pg_bin / 'initdb', '-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8')
        with open(data / 'postgresql.conf', 'a') as f: f.write(f"listen_addresses = ''\nunix_socket_directories = '{top}'\nfsync = off\n")
        run(pg_bin / 'pg_ctl', '-D', data, '-l', top / 'server.log', '-w', '-t', '60', 'start')
        started = True
        def database(name: str) -> str:
            run(pg_bin / 'createdb', '-h', top, '-U', 'postgres', name)
            return f"postgresql://postgres@/{name}?host={top}"
        yield database
    finally:
        if started: run(pg_bin / 'pg_ctl', '-D', data, '-w', 'stop', '-m', 'fast')
        shutil.rmtree(top, ignore_errors=True)


@pytest.mark.slow
def test_the_postgresql_advisory_lock_excludes_other_sessions(postgres):
    "`study_lock` on a PostgreSQL storage holds the study's advisory lock: another session cannot take it, another study's is free, and it is released."
    import sqlalchemy
    from tsic.tune import AdvisoryLock, lock_key, storage_for, study_lock
    url = postgres('locks')
    _, lock = storage_for(url, 'sines')
    assert lock == AdvisoryLock(url, lock_key('sines'))
    probe = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    def free(key: int) -> bool:  # try it from another session, and give it back
        with probe.connect() as conn:
            got = conn.execute(sqlalchemy.text('SELECT pg_try_advisory_lock(:k)'), {'k': key}).scalar()
            if got: conn.execute(sqlalchemy.text('SELECT pg_advisory_unlock(:k)'), {'k': key})
            return got
    with study_lock(lock):
        assert not free(lock.key) and free(lock_key('tsic'))
    assert free(lock.key)


@pytest.mark.slow  # make test stays under 10 minutes; .ci/run runs it after
def test_two_workers_share_one_study_on_postgresql(tmp_path, postgres):
    "Two `tsic tune` processes on one PostgreSQL database finish exactly four trials together (the advisory lock makes the cap exact), numbered 0 to 3, each once."
    config = write_config(tmp_path / 'demo.yaml')
    url = postgres('study')
    workers = [tsic_tune(config, '--storage', url, '--n-trials', '4') for _ in range(2)]
    outs = [w.communicate(timeout=600)[0] for w in workers]
    assert all(w.returncode == 0 for w in workers), outs
    study = optuna.load_study(study_name='tsic', storage=url)
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3], outs
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert [t.user_attrs.get('from_config') for t in study.trials].count(True) == 1  # the config's trial queued once
    pids = {t.user_attrs['worker']['pid'] for t in study.trials}
    assert pids == {w.pid for w in workers}, (pids, outs)  # both worked on it
    fresh = [t for t in study.trials if 'retry_of' not in t.user_attrs]
    assert len({tuple(sorted(t.params.items())) for t in fresh}) == len(fresh)  # no two trials drew the same parameters
    assert all(out.count('best: trial') == 1 for out in outs), outs
    assert any(f'best: trial {study.best_trial.number},' in out for out in outs), outs  # the worker that ended last saw the study's best


@pytest.mark.slow  # make test stays under 10 minutes; .ci/run runs it after
def test_a_killed_study_resumes_and_retries_the_interrupted_trial(tmp_path):
    "SIGKILL during the first trial; the rerun marks it failed, retries its parameters, and ends with the two trials asked for."
    config = write_config(tmp_path / 'demo.yaml', max_epochs=4, n_trials=2, lr_head=0.05)  # outside the space: the best differs from the file
    store = tmp_path / 'study.db'
    worker = tsic_tune(config, '--storage', str(store))
    first = tmp_path / 'checkpoints' / 'tune' / 'tsic' / 'trial_0000'
    deadline = time.time() + 300
    while not list(first.rglob('last.ckpt')):  # killed mid-trial: after its first epoch, before its last
        assert worker.poll() is None and time.time() < deadline, worker.communicate()[0]
        time.sleep(0.2)
    worker.send_signal(signal.SIGKILL); worker.wait()
    killed = optuna.load_study(study_name='tsic', storage=f'sqlite:///{store}').trials
    assert [t.state for t in killed] == [optuna.trial.TrialState.RUNNING]
    rerun = tsic_tune(config, '--storage', str(store), '--update-config')
    out = rerun.communicate(timeout=600)[0]
    assert rerun.returncode == 0, out
    trials = optuna.load_study(study_name='tsic', storage=f'sqlite:///{store}').trials
    states = [t.state.name for t in trials]
    assert states == ['FAIL', 'COMPLETE', 'COMPLETE'], states
    assert trials[1].user_attrs['retry_of'] == 0 and trials[1].params == trials[0].params  # the same settings again
    assert 'died' in out and 'best: trial' in out
    assert len(list(tmp_path.glob('demo.yaml.*.bak'))) == 1  # --update-config wrote the best back


@pytest.mark.slow
def test_a_failing_trial_is_recorded_and_the_study_goes_on(tmp_path):
    "A trial that raises (here: a NaN loss from an absurd learning rate) is failed with its error; the cap still ends the study."
    config = write_config(tmp_path / 'demo.yaml', n_trials=2)
    data = yaml.safe_load(config.read_text())
    data['tuning']['space'] = {'lr_head': {'choices': [1.0e+30]}, 'lr_backbone': {'choices': [1.0e+30]}}
    config.write_text(yaml.safe_dump(data))
    proc = tsic_tune(config, '--storage', str(tmp_path / 'study.db'))
    out = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, out
    trials = optuna.load_study(study_name='tsic', storage=f"sqlite:///{tmp_path / 'study.db'}").trials
    assert [t.state.name for t in trials] == ['FAIL', 'FAIL'] and 'not finite' in trials[0].user_attrs['error'], out
    assert 'nothing to write back' in out


def test_bad_tuning_settings_are_refused_before_training(tmp_path):
    config = write_config(tmp_path / 'demo.yaml')
    data = yaml.safe_load(config.read_text())
    data['tuning']['space'] = {'lr_hed': {'low': 1.0e-4, 'high': 1.0e-2}}
    config.write_text(yaml.safe_dump(data))
    proc = tsic_tune(config)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 2 and "Did you mean 'lr_head'" in out, out
    assert not (tmp_path / 'checkpoints').exists()
